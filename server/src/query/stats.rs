//! Counting without reading records out: how many records of a range match
//! a filter, per time bucket split by level (service lines) or status class
//! (access lines), and the top values of some fields (named, or found in
//! the records). One pass over the range in place (`Store::scan_where`),
//! whatever the number of fields, no record copied or sent, skipping the
//! frames whose token index rules out the filter.

use std::collections::{BTreeMap, HashMap};

use std::ops::Range;

use serde_json::Value;

use super::{CompiledFilter, Verdict};
use crate::store::columns::{Column, ColumnsSection};
use crate::store::frame::{FrameError, FrameMeta};
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
    /// Records read out of their lines (the others were counted from their
    /// frame's columns, or ruled out by its token index).
    pub records_read: u64,
}

/// The values of one field seen so far.
#[derive(Default)]
struct Tally {
    values: HashMap<String, u64, foldhash::fast::RandomState>,
    /// Records with the field (values past the distinct ones kept count
    /// here, and as other).
    present: u64,
}

impl Tally {
    /// Adds `times` records holding `value`.
    fn add(&mut self, value: &str, times: u64, most: usize) {
        self.present += times;
        if let Some(count) = self.values.get_mut(value) {
            *count += times;
        } else if self.values.len() < most {
            self.values.insert(value.to_string(), times);
        }
    }

    fn into_top(self, field: String, total: u64, top: usize) -> FieldTop {
        let mut values: Vec<TopValue> =
            self.values.into_iter().map(|(value, count)| TopValue { value, count }).collect();
        let order = |a: &TopValue, b: &TopValue| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value));
        // The first `top` found among many values, then only they sorted.
        if top == 0 {
            values.clear();
        } else if top < values.len() {
            values.select_nth_unstable_by(top - 1, order);
            values.truncate(top);
        }
        values.sort_by(order);
        let kept = values.len().min(top);
        let listed: u64 = values[..kept].iter().map(|value| value.count).sum();
        values.truncate(kept);
        FieldTop { field, top: values, other: total - listed }
    }
}

/// Counts the records of `request`'s range that match its filter.
///
/// A frame with columns (sealed data, compacted) is counted from them when
/// they hold every field the count reads: the filter's, the split's, the
/// named fields'. Only the records the columns cannot decide (a field
/// absent at the top, or not a scalar) are read, as every record of the
/// other frames is.
///
/// Blocks (reads and decompresses segments): call it from a blocking thread.
pub fn count(store: &Store, request: &StatsRequest) -> Stats {
    let range = store.offsets_for_times(request.key, request.since_ns, request.until_ns);
    let named: Vec<&str> = request.by.iter().take(MAX_FIELDS).copied().collect();
    let discover = request.discover.min(MAX_FIELDS - named.len());
    let mut counter = Counter {
        request,
        tallies: named.iter().map(|_| Tally::default()).collect(),
        named,
        discover,
        total: 0,
        records_read: 0,
        buckets: BTreeMap::new(),
        candidates: HashMap::new(),
    };
    // Own fields are found in the records only.
    let filter_columns = (discover == 0).then(|| request.filter.column_names()).flatten();
    let mut rows = Vec::new();
    let (_, gaps) = store.scan_frames(request.key, range, request.filter.required(), |frame, part| {
        if let (Some(filter_columns), Some(section)) = (&filter_columns, frame.columns()) {
            rows.clear();
            if counter.count_columns(section, &frame.meta, part.clone(), filter_columns, &mut rows)? {
                if !rows.is_empty() {
                    frame.for_each(|offset, ts_ns, payload| {
                        if rows.binary_search(&offset).is_ok() {
                            counter.count_record(ts_ns, payload);
                        }
                    })?;
                }
                return Ok(true);
            }
        }
        frame.for_each(|offset, ts_ns, payload| {
            if part.contains(&offset) {
                counter.count_record(ts_ns, payload);
            }
        })?;
        Ok(true)
    });
    counter.finish(gaps)
}

/// A named field's values in one frame's column, counted.
struct FrameTally<'a> {
    ids: &'a [u16],
    /// The JSON text of each id's value (id `k` is `texts[k - 1]`).
    texts: &'a [String],
    counts: Vec<u64>,
    /// Ids in the order they first came.
    order: Vec<usize>,
}

/// What one count has seen so far.
struct Counter<'a> {
    request: &'a StatsRequest<'a>,
    named: Vec<&'a str>,
    discover: usize,
    total: u64,
    records_read: u64,
    buckets: BTreeMap<i64, Bucket>,
    tallies: Vec<Tally>,
    /// Service lines' own fields, by name, while looking for the most present.
    candidates: HashMap<String, Tally>,
}

impl Counter<'_> {
    fn in_time(&self, ts_ns: i64) -> bool {
        self.request.since_ns.is_none_or(|since| ts_ns >= since)
            && self.request.until_ns.is_none_or(|until| ts_ns <= until)
    }

    /// Counts one record read out of its frame.
    fn count_record(&mut self, ts_ns: i64, payload: &[u8]) {
        self.records_read += 1;
        let request = self.request;
        if !self.in_time(ts_ns) || !request.filter.matches(payload) {
            return;
        }
        self.total += 1;
        // With fields to count, the record is parsed once for all; without,
        // only the split's two fields are read.
        let parse = !self.named.is_empty() || self.discover > 0;
        let record = parse.then(|| serde_json::from_slice::<Value>(payload).ok()).flatten();
        let record = match record {
            Some(Value::Object(record)) => Some(record),
            _ => None,
        };
        if let Some(step) = request.step_ns {
            let start_ns = ts_ns.div_euclid(step) * step;
            let split = match &record {
                Some(record) => split_of_record(record, request.split),
                None => split_of(payload, request.split),
            };
            let bucket = self.buckets.entry(start_ns).or_insert_with(|| Bucket { start_ns, ..Bucket::default() });
            bucket.total += 1;
            *bucket.counts.entry(split).or_default() += 1;
        }
        let Some(record) = record else { return };
        for (field, tally) in self.named.iter().zip(self.tallies.iter_mut()) {
            if let Some(value) = field_value(&record, field) {
                tally.add(&value, 1, MAX_DISTINCT);
            }
        }
        if self.discover > 0 {
            if let Some(Value::Object(fields)) = record.get("fields") {
                for (name, value) in fields {
                    // Only names a filter can say back (`fields.NAME:value`).
                    if self.named.contains(&name.as_str()) || !filterable(name) {
                        continue;
                    }
                    if !self.candidates.contains_key(name) && self.candidates.len() >= MAX_CANDIDATES {
                        continue;
                    }
                    let tally = self.candidates.entry(name.clone()).or_default();
                    if let Some(value) = text_of(value) {
                        tally.add(&value, 1, MAX_CANDIDATE_VALUES);
                    }
                }
            }
        }
    }

    /// Counts the records of `part` from the frame's columns, if they hold
    /// every field this count reads (else false, nothing counted). The
    /// offsets of the records the columns cannot decide are put in `rows`,
    /// in order, for [`Counter::count_record`].
    fn count_columns(
        &mut self,
        section: &ColumnsSection,
        meta: &FrameMeta,
        part: Range<u64>,
        filter_columns: &[&str],
        rows: &mut Vec<u64>,
    ) -> Result<bool, FrameError> {
        let request = self.request;
        let split_name = request.step_ns.map(|_| match request.split {
            Split::Level => "level",
            Split::StatusClass => "status",
        });
        let wanted = filter_columns.iter().chain(&split_name).chain(&self.named);
        if !wanted.clone().all(|name| section.has(name)) {
            return Ok(false);
        }
        let mut columns: HashMap<String, Column> = HashMap::new();
        for name in wanted {
            if !columns.contains_key(*name) {
                columns.insert(name.to_string(), section.column(name)?.expect("the section has it"));
            }
        }
        let texts: Vec<&[String]> = filter_columns.iter().map(|name| columns[*name].texts.as_slice()).collect();
        let Some(filter) = request.filter.for_columns(&texts) else { return Ok(false) };
        let filter_ids: Vec<&[u16]> = filter.names().map(|name| columns[name].ids.as_slice()).collect();
        // The split's label of each value (id 0: the field is absent or not a scalar).
        let labels: Option<(&[u16], Vec<String>)> = split_name.map(|name| {
            let column = &columns[name];
            let mut labels = vec!["none".to_string()];
            labels.extend(column.texts.iter().map(|text| {
                let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                let record = serde_json::Map::from_iter([(name.to_string(), value)]);
                split_of_record(&record, request.split)
            }));
            (column.ids.as_slice(), labels)
        });
        // Each named field's text of each value, and the count of each in this frame.
        let mut named: Vec<FrameTally> = self
            .named
            .iter()
            .map(|name| {
                let column = &columns[*name];
                FrameTally {
                    ids: &column.ids,
                    texts: &column.texts,
                    counts: vec![0; column.texts.len() + 1],
                    order: Vec::new(),
                }
            })
            .collect();
        let whole_in_time = self.in_time(meta.min_ts_ns) && self.in_time(meta.max_ts_ns);
        let times = (request.step_ns.is_some() || !whole_in_time).then(|| section.times()).transpose()?;
        let mut bucket: Option<(i64, Vec<u64>)> = None;
        for offset in part {
            let at = (offset - meta.first_offset) as usize;
            let ts_ns = times.as_ref().map(|times| times[at]);
            if ts_ns.is_some_and(|ts_ns| !self.in_time(ts_ns)) {
                continue;
            }
            match filter.verdict(filter_ids.iter().map(|ids| ids[at])) {
                Verdict::Fails => continue,
                Verdict::AskTheRecord => {
                    rows.push(offset);
                    continue;
                }
                Verdict::Passes => {}
            }
            // A named field absent at the top may be among the record's `fields`.
            if named.iter().any(|tally| tally.ids[at] == 0) {
                rows.push(offset);
                continue;
            }
            self.total += 1;
            for tally in named.iter_mut() {
                let id = tally.ids[at] as usize;
                if tally.counts[id] == 0 {
                    tally.order.push(id);
                }
                tally.counts[id] += 1;
            }
            if let (Some(step), Some(ts_ns), Some((ids, labels))) = (request.step_ns, ts_ns, &labels) {
                let start_ns = ts_ns.div_euclid(step) * step;
                if bucket.as_ref().is_none_or(|(start, _)| *start != start_ns) {
                    self.add_bucket(bucket.take(), labels);
                    bucket = Some((start_ns, vec![0; labels.len()]));
                }
                if let Some((_, counts)) = bucket.as_mut() {
                    counts[ids[at] as usize] += 1;
                }
            }
        }
        if let Some((_, labels)) = &labels {
            self.add_bucket(bucket, labels);
        }
        // In the order values first came, as one record at a time would.
        for (frame, tally) in named.iter().zip(self.tallies.iter_mut()) {
            for id in &frame.order {
                if let Some(text) = text_of_json(&frame.texts[*id - 1]) {
                    tally.add(&text, frame.counts[*id], MAX_DISTINCT);
                }
            }
        }
        Ok(true)
    }

    fn add_bucket(&mut self, bucket: Option<(i64, Vec<u64>)>, labels: &[String]) {
        let Some((start_ns, counts)) = bucket else { return };
        let bucket = self.buckets.entry(start_ns).or_insert_with(|| Bucket { start_ns, ..Bucket::default() });
        for (label, count) in labels.iter().zip(counts).filter(|(_, count)| *count > 0) {
            bucket.total += count;
            *bucket.counts.entry(label.clone()).or_default() += count;
        }
    }

    fn finish(self, gaps: Vec<Gap>) -> Stats {
        let total = self.total;
        let top = self.request.top;
        let mut fields: Vec<FieldTop> = self
            .named
            .iter()
            .zip(self.tallies)
            .map(|(field, tally)| tally.into_top(field.to_string(), total, top))
            .collect();
        // Most present first, leaving out identifiers (nearly every value
        // different): their top values say nothing.
        let mut found: Vec<(String, Tally)> = self
            .candidates
            .into_iter()
            .filter(|(_, tally)| tally.present < 20 || (tally.values.len() as u64) * 10 < tally.present * 9)
            .collect();
        found.sort_by(|a, b| b.1.present.cmp(&a.1.present).then_with(|| a.0.cmp(&b.0)));
        fields.extend(
            found
                .into_iter()
                .take(self.discover)
                .map(|(field, tally)| tally.into_top(format!("fields.{field}"), total, top)),
        );
        Stats { total, buckets: self.buckets.into_values().collect(), fields, gaps, records_read: self.records_read }
    }
}

/// The split of a record not parsed whole: the same as [`split_of_record`].
fn split_of(payload: &[u8], split: Split) -> String {
    match serde_json::from_slice::<serde_json::Map<String, Value>>(payload) {
        Ok(record) => split_of_record(&record, split),
        Err(_) => "unreadable".into(),
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

/// [`text_of`] the value a column's JSON text holds; a plain string read in place.
fn text_of_json(json: &str) -> Option<std::borrow::Cow<'_, str>> {
    let inner = json.strip_prefix('"').and_then(|rest| rest.strip_suffix('"'));
    match inner {
        Some(inner) if !inner.contains('\\') => Some(inner.into()),
        _ => serde_json::from_str::<Value>(json).ok().as_ref().and_then(text_of).map(Into::into),
    }
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
