//! Counting without reading records out: how many records of a range match
//! a filter, per time bucket split by level (service lines) or status class
//! (access lines), and the top values of a field. One pass over the range
//! in place (`Store::scan_where`), no record copied or sent, skipping the
//! frames whose token index rules out the filter.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use super::CompiledFilter;
use crate::store::{Gap, Store, TopicKey};

/// Buckets one answer may hold.
pub const MAX_BUCKETS: i64 = 10_000;
/// Top values one answer may list.
pub const MAX_TOP: usize = 1_000;
/// Distinct values of a field counted before the rest are counted as other.
const MAX_DISTINCT: usize = 100_000;

/// How each bucket's count is split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// By the line's `level`.
    Level,
    /// By the line's status class (`2xx`, `5xx`, …).
    StatusClass,
}

pub struct StatsRequest<'a> {
    pub key: &'a TopicKey,
    pub since_ns: Option<i64>,
    pub until_ns: Option<i64>,
    pub filter: &'a CompiledFilter,
    /// Bucket width; `None` for no buckets. Buckets start on whole steps
    /// since the Unix epoch.
    pub step_ns: Option<i64>,
    pub split: Split,
    /// A field whose `top` most frequent values are counted.
    pub by: Option<&'a str>,
    pub top: usize,
}

/// One bucket: its start and its counts by level or status class.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Bucket {
    pub start_ns: i64,
    pub total: u64,
    pub counts: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TopValue {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    /// Records of the range that match.
    pub total: u64,
    /// Oldest first, only buckets with records.
    pub buckets: Vec<Bucket>,
    /// Most frequent first.
    pub top: Vec<TopValue>,
    /// Matching records without the field, or beyond the distinct values counted.
    pub top_other: u64,
    pub gaps: Vec<Gap>,
}

/// The fields a split or a top list reads, taken from a payload without
/// building the whole value.
#[derive(Deserialize)]
struct Splitting {
    level: Option<String>,
    status: Option<u16>,
}

/// Counts the records of `request`'s range that match its filter.
///
/// Blocks (reads and decompresses segments): call it from a blocking thread.
pub fn count(store: &Store, request: &StatsRequest) -> Stats {
    let range = store.offsets_for_times(request.key, request.since_ns, request.until_ns);
    let in_time = |ts_ns: i64| {
        request.since_ns.is_none_or(|since| ts_ns >= since) && request.until_ns.is_none_or(|until| ts_ns <= until)
    };
    let mut stats = Stats::default();
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    let mut values: HashMap<String, u64> = HashMap::new();
    let required = request.filter.required();
    let (_, gaps) = store.scan_where(request.key, range, required, |_, ts_ns, payload| {
        if !in_time(ts_ns) || !request.filter.matches(payload) {
            return true;
        }
        stats.total += 1;
        // With `by`, the record is parsed once for both; without, only the
        // split's two fields are read.
        let record = request.by.and_then(|_| match serde_json::from_slice::<Value>(payload) {
            Ok(Value::Object(record)) => Some(record),
            _ => None,
        });
        if let Some(step) = request.step_ns {
            let start_ns = ts_ns.div_euclid(step) * step;
            let bucket = buckets.entry(start_ns).or_insert_with(|| Bucket { start_ns, ..Bucket::default() });
            bucket.total += 1;
            let split = match &record {
                Some(record) => split_of_record(record, request.split),
                None => split_of(payload, request.split),
            };
            *bucket.counts.entry(split).or_default() += 1;
        }
        if let Some(field) = request.by {
            match record.and_then(|record| field_value(record, field)) {
                Some(value) if values.len() < MAX_DISTINCT || values.contains_key(&value) => {
                    *values.entry(value).or_default() += 1
                }
                _ => stats.top_other += 1,
            }
        }
        true
    });
    stats.gaps = gaps;
    stats.buckets = buckets.into_values().collect();
    let mut top: Vec<TopValue> = values.into_iter().map(|(value, count)| TopValue { value, count }).collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    let kept = top.len().min(request.top);
    stats.top_other += top[kept..].iter().map(|value| value.count).sum::<u64>();
    top.truncate(kept);
    stats.top = top;
    stats
}

fn split_of(payload: &[u8], split: Split) -> String {
    let Ok(fields) = serde_json::from_slice::<Splitting>(payload) else { return "unreadable".into() };
    match split {
        Split::Level => fields.level.unwrap_or_else(|| "none".into()),
        Split::StatusClass => fields.status.map_or_else(|| "none".into(), |status| format!("{}xx", status / 100)),
    }
}

/// [`split_of`] for a record already parsed.
fn split_of_record(record: &serde_json::Map<String, Value>, split: Split) -> String {
    match split {
        Split::Level => record.get("level").and_then(Value::as_str).unwrap_or("none").to_string(),
        Split::StatusClass => match record.get("status").and_then(Value::as_u64) {
            Some(status) => format!("{}xx", status / 100),
            None => "none".into(),
        },
    }
}

/// A field's value as text: a top-level key of the record, or one of a
/// service line's `fields`.
fn field_value(mut record: serde_json::Map<String, Value>, field: &str) -> Option<String> {
    let value = match record.remove(field) {
        Some(value) => value,
        None => match record.remove("fields") {
            Some(Value::Object(mut fields)) => fields.remove(field)?,
            _ => return None,
        },
    };
    match value {
        Value::Null => None,
        Value::String(text) => Some(text),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use vigie_app::model::LogKind;

    use super::*;

    #[test]
    fn counts_split_by_level_in_buckets_and_the_top_values_of_a_field() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = TopicKey::new("acme", "api", LogKind::Service);
        let lines = [
            (0_i64, r#"{"level":"info","message":"a","fields":{"route":"/a"}}"#),
            (10, r#"{"level":"error","message":"b timeout","fields":{"route":"/b"}}"#),
            (60_000_000_000, r#"{"level":"info","message":"c","fields":{"route":"/a"}}"#),
            (61_000_000_000, r#"{"level":"error","message":"d timeout"}"#),
        ];
        store.append_batch(&key, lines.iter().map(|(ts, line)| (*ts, line.to_string())).collect()).unwrap();
        let everything = CompiledFilter::parse("").unwrap();
        let request = StatsRequest {
            key: &key,
            since_ns: None,
            until_ns: None,
            filter: &everything,
            step_ns: Some(60_000_000_000),
            split: Split::Level,
            by: Some("route"),
            top: 1,
        };
        let stats = count(&store, &request);
        assert_eq!(stats.total, 4);
        assert_eq!(stats.buckets.len(), 2);
        assert_eq!(stats.buckets[1].start_ns, 60_000_000_000);
        assert_eq!(stats.buckets[0].counts, BTreeMap::from([("error".into(), 1), ("info".into(), 1)]));
        assert_eq!(stats.top, [TopValue { value: "/a".into(), count: 2 }]);
        assert_eq!(stats.top_other, 2, "/b beyond the top 1, and a line without the field");

        let timeouts = CompiledFilter::parse("timeout").unwrap();
        let stats = count(&store, &StatsRequest { filter: &timeouts, by: None, ..request });
        assert_eq!((stats.total, stats.buckets.len()), (2, 2));
        assert!(stats.buckets.iter().all(|bucket| bucket.counts == BTreeMap::from([("error".into(), 1)])));
    }
}
