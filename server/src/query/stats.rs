//! Counting without reading records out: how many records of a range match
//! a filter, per time bucket split by level (service lines) or status class
//! (access lines), and the top values of some fields (named, or found in
//! the records). One pass over the range in place (`Store::scan_range`),
//! whatever the number of fields, no record copied or sent.

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
/// Fields one pass may count (named and found together).
pub const MAX_FIELDS: usize = 20;
/// Field names followed while looking for the most present ones, and the
/// distinct values each of those may count.
const MAX_CANDIDATES: usize = 64;
const MAX_CANDIDATE_VALUES: usize = 1_000;

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
    /// Fields whose `top` most frequent values are counted.
    pub by: &'a [&'a str],
    /// Besides `by`, this many more fields: the service lines' own JSON
    /// fields (`fields.*`) present in most matching records.
    pub discover: usize,
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

/// A field's most frequent values among the matching records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldTop {
    pub field: String,
    /// Most frequent first.
    pub top: Vec<TopValue>,
    /// Matching records without the field, or beyond the values listed.
    pub other: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    /// Records of the range that match.
    pub total: u64,
    /// Oldest first, only buckets with records.
    pub buckets: Vec<Bucket>,
    /// The fields of `by` in their order, then those found, most present first.
    pub fields: Vec<FieldTop>,
    pub gaps: Vec<Gap>,
}

/// The values of one field seen so far.
#[derive(Default)]
struct Tally {
    values: HashMap<String, u64>,
    /// Records with the field (values past the distinct ones kept count
    /// here, and as other).
    present: u64,
}

impl Tally {
    fn add(&mut self, value: String, most: usize) {
        self.present += 1;
        if let Some(count) = self.values.get_mut(&value) {
            *count += 1;
        } else if self.values.len() < most {
            self.values.insert(value, 1);
        }
    }

    fn into_top(self, field: String, total: u64, top: usize) -> FieldTop {
        let mut values: Vec<TopValue> =
            self.values.into_iter().map(|(value, count)| TopValue { value, count }).collect();
        values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        let kept = values.len().min(top);
        let listed: u64 = values[..kept].iter().map(|value| value.count).sum();
        values.truncate(kept);
        FieldTop { field, top: values, other: total - listed }
    }
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
    let named: Vec<&str> = request.by.iter().take(MAX_FIELDS).copied().collect();
    let discover = request.discover.min(MAX_FIELDS - named.len());
    let mut tallies: Vec<Tally> = named.iter().map(|_| Tally::default()).collect();
    // Service lines' own fields, by name, while looking for the most present.
    let mut candidates: HashMap<String, Tally> = HashMap::new();
    let parse = !named.is_empty() || discover > 0;
    let (_, gaps) = store.scan_range(request.key, range, |_, ts_ns, payload| {
        if !in_time(ts_ns) || !request.filter.matches(payload) {
            return true;
        }
        stats.total += 1;
        // With fields to count, the record is parsed once for all; without,
        // only the split's two fields are read.
        let record = parse.then(|| serde_json::from_slice::<Value>(payload).ok()).flatten();
        let record = match record {
            Some(Value::Object(record)) => Some(record),
            _ => None,
        };
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
        let Some(record) = record else { return true };
        for (field, tally) in named.iter().zip(tallies.iter_mut()) {
            if let Some(value) = field_value(&record, field) {
                tally.add(value, MAX_DISTINCT);
            }
        }
        if discover > 0 {
            if let Some(Value::Object(fields)) = record.get("fields") {
                for (name, value) in fields {
                    // Only names a filter can say back (`fields.NAME:value`).
                    if named.contains(&name.as_str()) || !filterable(name) {
                        continue;
                    }
                    if !candidates.contains_key(name) && candidates.len() >= MAX_CANDIDATES {
                        continue;
                    }
                    let tally = candidates.entry(name.clone()).or_default();
                    if let Some(value) = text_of(value) {
                        tally.add(value, MAX_CANDIDATE_VALUES);
                    }
                }
            }
        }
        true
    });
    stats.gaps = gaps;
    stats.buckets = buckets.into_values().collect();
    let total = stats.total;
    stats.fields =
        named.iter().zip(tallies).map(|(field, tally)| tally.into_top(field.to_string(), total, request.top)).collect();
    // Most present first, leaving out identifiers (nearly every value
    // different): their top values say nothing.
    let mut found: Vec<(String, Tally)> = candidates
        .into_iter()
        .filter(|(_, tally)| tally.present < 20 || (tally.values.len() as u64) * 10 < tally.present * 9)
        .collect();
    found.sort_by(|a, b| b.1.present.cmp(&a.1.present).then_with(|| a.0.cmp(&b.0)));
    stats.fields.extend(
        found
            .into_iter()
            .take(discover)
            .map(|(field, tally)| tally.into_top(format!("fields.{field}"), total, request.top)),
    );
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
/// service line's `fields` (named alone, or as `fields.NAME`).
fn field_value(record: &serde_json::Map<String, Value>, field: &str) -> Option<String> {
    let own = || match record.get("fields") {
        Some(Value::Object(fields)) => fields.get(field.strip_prefix("fields.").unwrap_or(field)),
        _ => None,
    };
    text_of(record.get(field).or_else(own)?)
}

/// Whether a field name can be written in a filter as it is.
fn filterable(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
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
            by: &["route"],
            discover: 0,
            top: 1,
        };
        let stats = count(&store, &request);
        assert_eq!(stats.total, 4);
        assert_eq!(stats.buckets.len(), 2);
        assert_eq!(stats.buckets[1].start_ns, 60_000_000_000);
        assert_eq!(stats.buckets[0].counts, BTreeMap::from([("error".into(), 1), ("info".into(), 1)]));
        assert_eq!(stats.fields[0].top, [TopValue { value: "/a".into(), count: 2 }]);
        assert_eq!(stats.fields[0].other, 2, "/b beyond the top 1, and a line without the field");

        let timeouts = CompiledFilter::parse("timeout").unwrap();
        let stats = count(&store, &StatsRequest { filter: &timeouts, by: &[], ..request });
        assert_eq!((stats.total, stats.buckets.len()), (2, 2));
        assert!(stats.buckets.iter().all(|bucket| bucket.counts == BTreeMap::from([("error".into(), 1)])));
    }

    #[test]
    fn counts_several_fields_and_finds_the_most_present_own_fields_in_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = TopicKey::new("acme", "api", LogKind::Service);
        let lines: Vec<(i64, String)> = (0..30)
            .map(|i| {
                let route = ["/a", "/b", "/c"][i % 3];
                let mut fields = serde_json::json!({ "route": route });
                if i % 2 == 0 {
                    let tenant = ["t1", "t2"][i % 4 / 2];
                    fields["tenant"] = serde_json::json!(tenant);
                }
                if i % 5 == 0 {
                    fields["retry"] = serde_json::json!(i / 5);
                }
                let level = if i % 10 == 0 { "error" } else { "info" };
                (i as i64, serde_json::json!({"level": level, "message": "m", "fields": fields}).to_string())
            })
            .collect();
        store.append_batch(&key, lines).unwrap();
        let everything = CompiledFilter::parse("").unwrap();
        let request = StatsRequest {
            key: &key,
            since_ns: None,
            until_ns: None,
            filter: &everything,
            step_ns: None,
            split: Split::Level,
            by: &["level", "route"],
            discover: 2,
            top: 2,
        };
        let stats = count(&store, &request);
        let names: Vec<&str> = stats.fields.iter().map(|field| field.field.as_str()).collect();
        // Named first, then the own fields most present: tenant (15), retry (6); route is named already.
        assert_eq!(names, ["level", "route", "fields.tenant", "fields.retry"]);
        assert_eq!(
            stats.fields[0].top,
            [TopValue { value: "info".into(), count: 27 }, TopValue { value: "error".into(), count: 3 }]
        );
        assert_eq!((stats.fields[1].top.len(), stats.fields[1].other), (2, 10), "three routes of 10, two listed");
        assert_eq!(
            stats.fields[2].top,
            [TopValue { value: "t1".into(), count: 8 }, TopValue { value: "t2".into(), count: 7 }]
        );
        assert_eq!(stats.fields[2].other, 15, "lines without a tenant");
        assert_eq!(stats.fields[3].other, 30 - 2, "retry: 6 distinct values, 2 listed");
        // The same counts as one field at a time.
        for field in &stats.fields {
            let by = [field.field.as_str()];
            let alone = count(&store, &StatsRequest { by: &by, discover: 0, ..request });
            assert_eq!(alone.fields[0], *field);
        }
    }
}
