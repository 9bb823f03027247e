//! The time-series read model: every series of every app, built by
//! following the metric topics, and the queries the Stats API runs on it.
//!
//! A series is one metric (name and type) of one app with one set of tags.
//! It is kept at three resolutions: the points as stored (10 s apart with
//! the default flush), and rollups per minute and per hour. Each resolution
//! is a list of Gorilla chunks ([`super::gorilla`]) of [`CHUNK_POINTS`]
//! points, the newest one open; a rollup bucket is written once the next
//! one starts, and read from memory until then. A resolution forgets
//! chunks older than its retention, counted back from now.
//!
//! Rollups keep what lets any aggregation be answered from them
//! ([`Shape`]): counters their sum; gauges and sets the last, min, max and
//! sum of their values and how many there were; timers, histograms and
//! distributions their count, sum, min and max, and percentiles as the
//! count-weighted mean of the intervals' percentiles (an approximation: the
//! intervals' sketches are not kept).
//!
//! A point's time is the start of the interval it describes, so a point
//! falls in exactly one bucket of any coarser step.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use super::chunk_files::{ChunkFiles, DiskChunk};
use super::gorilla::{self, ChunkWriter, SealedChunk};
use super::point::{MetricPoint, MetricType, PointsRecord, Shape};
use crate::store::{Store, TopicKey, TopicKind};

/// The resolutions kept, finest first: raw points, 1 min and 1 h rollups.
pub const RESOLUTIONS_MS: [i64; 3] = [10_000, 60_000, 3_600_000];

/// Points per chunk before it is sealed (as Prometheus: 120; twice that
/// halves the cost of chunk headers).
pub const CHUNK_POINTS: u32 = 240;

/// Most points one query returns per series.
pub const MAX_STEPS: i64 = 11_000;

/// How long each resolution keeps its points.
#[derive(Clone, Copy, Debug)]
pub struct SeriesRetention {
    /// Per entry of [`RESOLUTIONS_MS`].
    pub keep_ms: [i64; 3],
}

impl Default for SeriesRetention {
    fn default() -> SeriesRetention {
        const DAY_MS: i64 = 86_400_000;
        SeriesRetention { keep_ms: [3 * DAY_MS, 35 * DAY_MS, 400 * DAY_MS] }
    }
}

/// The read model; cloning it is shallow.
#[derive(Clone, Default)]
pub struct SeriesModel {
    inner: Arc<RwLock<Inner>>,
    /// One catch-up at a time, so no record is applied twice.
    catching_up: Arc<Mutex<()>>,
    retention: SeriesRetention,
    /// Where sealed chunks go; none: they stay in memory.
    files: Option<Arc<ChunkFiles>>,
}

#[derive(Default)]
struct Inner {
    /// (org, app) → (name, type) → series by tags.
    apps: HashMap<(String, String), BTreeMap<(String, MetricType), Metric>>,
    /// Where each metric topic has been read up to.
    consumed: HashMap<TopicKey, u64>,
    counts: ModelCounts,
}

/// Totals, for `/metrics` and the benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelCounts {
    pub series: u64,
    /// Raw points held (rollups not counted).
    pub raw_points: u64,
    /// Bytes of raw chunks, sealed and open.
    pub raw_bytes: u64,
    /// Points refused: older than their series' newest, or malformed.
    pub refused_points: u64,
    /// Records of metric topics that could not be read as points.
    pub unreadable_records: u64,
}

#[derive(Default)]
struct Metric {
    /// Boxed: a map's spare room then costs a pointer, not a series.
    series: HashMap<Vec<(String, String)>, Box<Series>>,
}

struct Series {
    levels: [Level; 3],
}

/// A sealed chunk, its bytes in memory or on disk.
struct Stored {
    /// With no bytes when they are on disk.
    chunk: SealedChunk,
    on_disk: Option<DiskChunk>,
}

impl Stored {
    fn len(&self) -> usize {
        self.on_disk.map_or(self.chunk.bytes.len(), |disk| disk.bytes())
    }
}

struct Level {
    sealed: Vec<Stored>,
    open: ChunkWriter,
    /// The rollup bucket being filled: its start and its aggregate.
    pending: Option<(i64, Box<[f64]>)>,
}

impl Level {
    fn new(columns: usize) -> Level {
        Level { sealed: Vec::new(), open: ChunkWriter::new(columns), pending: None }
    }

    /// Appends a point; a full chunk is sealed and, with `files`, written
    /// to disk (kept in memory if the disk refuses).
    fn write(&mut self, ts_ms: i64, values: &[f64], files: Option<(&ChunkFiles, usize)>) {
        if self.open.points() >= CHUNK_POINTS {
            let full = std::mem::replace(&mut self.open, ChunkWriter::new(values.len()));
            let mut chunk = full.seal();
            let on_disk = files.and_then(|(files, level)| match files.write(level, chunk.last_ts_ms, &chunk.bytes) {
                Ok(disk) => Some(disk),
                Err(error) => {
                    tracing::warn!(%error, "a metric chunk stays in memory: it could not be written");
                    None
                }
            });
            if on_disk.is_some() {
                chunk.bytes = Box::default();
            }
            self.sealed.push(Stored { chunk, on_disk });
        }
        self.open.append(ts_ms, values);
    }

    fn forget_before(&mut self, oldest_ms: i64) {
        let old = self.sealed.iter().take_while(|stored| stored.chunk.last_ts_ms < oldest_ms).count();
        self.sealed.drain(..old);
    }

    /// Every stored point in `[from_ms, to_ms)`, oldest first, then the pending bucket.
    fn visit(&self, from_ms: i64, to_ms: i64, files: Option<&ChunkFiles>, mut visit: impl FnMut(i64, &[f64])) {
        let columns = self.open.columns();
        let mut in_range = |ts: i64, values: &[f64]| {
            if ts >= to_ms {
                return false;
            }
            if ts >= from_ms {
                visit(ts, values);
            }
            true
        };
        for Stored { chunk, on_disk } in &self.sealed {
            if chunk.last_ts_ms < from_ms || chunk.first_ts_ms >= to_ms {
                continue;
            }
            match (on_disk, files) {
                (None, _) => {
                    chunk.decode(&mut in_range);
                }
                (Some(disk), Some(files)) => match files.read(disk) {
                    Ok(Some(bytes)) => {
                        chunk.decode_bytes(&bytes, &mut in_range);
                    }
                    Ok(None) => {} // its file is past retention
                    Err(error) => tracing::warn!(%error, "a metric chunk could not be read; its points are left out"),
                },
                (Some(_), None) => {}
            }
        }
        if self.open.last_ts_ms().is_some_and(|last| last >= from_ms) {
            gorilla::decode(self.open.bytes(), self.open.points(), columns, &mut in_range);
        }
        if let Some((start, aggregate)) = &self.pending {
            in_range(*start, aggregate);
        }
    }
}

/// The values a rollup keeps for a shape, from one raw point.
fn aggregate_of(shape: Shape, raw: &[f64]) -> Vec<f64> {
    match shape {
        Shape::Counter | Shape::Summary => raw.to_vec(),
        Shape::Sampled => vec![raw[0], raw[0], raw[0], raw[0], 1.0],
    }
}

/// Folds `later` (an aggregate of later points) into `into`.
fn merge(shape: Shape, into: &mut [f64], later: &[f64]) {
    match shape {
        Shape::Counter => into[0] += later[0],
        Shape::Sampled => {
            into[0] = later[0];
            into[1] = into[1].min(later[1]);
            into[2] = into[2].max(later[2]);
            into[3] += later[3];
            into[4] += later[4];
        }
        Shape::Summary => {
            let (count, more) = (into[0], later[0]);
            let total = count + more;
            for p in 4..7 {
                into[p] = if total > 0.0 { (into[p] * count + later[p] * more) / total } else { into[p].max(later[p]) };
            }
            into[0] = total;
            into[1] += later[1];
            into[2] = into[2].min(later[2]);
            into[3] = into[3].max(later[3]);
        }
    }
}

impl Series {
    fn new(kind: MetricType) -> Series {
        let raw = kind.fields().len();
        let rolled = aggregate_of(kind.shape(), &vec![0.0; raw]).len();
        Series { levels: [Level::new(raw), Level::new(rolled), Level::new(rolled)] }
    }

    /// Adds a point; false when it is not newer than the series' newest.
    fn add(
        &mut self,
        shape: Shape,
        ts_ms: i64,
        values: &[f64],
        retention: &SeriesRetention,
        files: Option<&ChunkFiles>,
        now_ms: i64,
    ) -> bool {
        let raw = &mut self.levels[0];
        if raw.open.last_ts_ms().is_some_and(|last| ts_ms <= last) {
            return false;
        }
        raw.write(ts_ms, values, files.map(|files| (files, 0)));
        let aggregate = aggregate_of(shape, values);
        for (index, (level, step)) in self.levels.iter_mut().zip(RESOLUTIONS_MS).enumerate().skip(1) {
            let bucket = ts_ms.div_euclid(step) * step;
            match &mut level.pending {
                Some((start, into)) if *start == bucket => merge(shape, into, &aggregate),
                _ => {
                    if let Some((start, done)) = level.pending.take() {
                        level.write(start, &done, files.map(|files| (files, index)));
                    }
                    level.pending = Some((bucket, aggregate.clone().into_boxed_slice()));
                }
            }
        }
        for (level, keep) in self.levels.iter_mut().zip(retention.keep_ms) {
            level.forget_before(now_ms - keep);
        }
        true
    }

    fn raw_points_and_bytes(&self) -> (u64, u64) {
        let raw = &self.levels[0];
        let sealed = raw.sealed.iter().map(|stored| (stored.chunk.points as u64, stored.len() as u64));
        sealed
            .chain([(raw.open.points() as u64, raw.open.bytes().len() as u64)])
            .fold((0, 0), |(points, bytes), (p, b)| (points + p, bytes + b))
    }
}

/// Points a query returns when it names no step.
pub const DEFAULT_POINTS: i64 = 300;

/// About [`DEFAULT_POINTS`] steps over `range_ms`, each a whole number of
/// the coarsest resolution it spans (10 s, 1 min, 1 h), so the query reads
/// rollups where they exist: raw points are kept for 3 days only. The Stats
/// API and the console's charts both use it, so they answer the same steps.
pub fn default_step_ms(range_ms: i64) -> i64 {
    let wanted = (range_ms / DEFAULT_POINTS).max(1);
    let unit = [3_600_000, 60_000, 10_000].into_iter().find(|unit| wanted >= *unit).unwrap_or(10_000);
    (wanted + unit - 1) / unit * unit
}

/// How a query combines points within a step and across the series of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    Avg,
    Min,
    Max,
    Sum,
    Count,
    Rate,
    Last,
    P50,
    P95,
    P99,
}

impl Aggregation {
    pub const ALL: [Aggregation; 10] = [
        Aggregation::Avg,
        Aggregation::Min,
        Aggregation::Max,
        Aggregation::Sum,
        Aggregation::Count,
        Aggregation::Rate,
        Aggregation::Last,
        Aggregation::P50,
        Aggregation::P95,
        Aggregation::P99,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Avg => "avg",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Sum => "sum",
            Aggregation::Count => "count",
            Aggregation::Rate => "rate",
            Aggregation::Last => "last",
            Aggregation::P50 => "p50",
            Aggregation::P95 => "p95",
            Aggregation::P99 => "p99",
        }
    }

    pub fn parse(text: &str) -> Option<Aggregation> {
        Aggregation::ALL.into_iter().find(|aggregation| aggregation.as_str() == text)
    }

    /// The aggregations a type answers.
    pub fn for_type(kind: MetricType) -> &'static [Aggregation] {
        use Aggregation::*;
        match kind.shape() {
            Shape::Counter => &[Sum, Rate],
            Shape::Sampled => &[Avg, Min, Max, Last, Sum, Count],
            Shape::Summary => &[P50, P95, P99, Avg, Min, Max, Sum, Count, Rate],
        }
    }

    /// The value of a step from its aggregate.
    fn extract(self, shape: Shape, aggregate: &[f64], step_ms: i64) -> f64 {
        let step_s = step_ms as f64 / 1_000.0;
        match (shape, self) {
            (Shape::Counter, Aggregation::Rate) => aggregate[0] / step_s,
            (Shape::Counter, _) => aggregate[0],
            (Shape::Sampled, Aggregation::Last) => aggregate[0],
            (Shape::Sampled, Aggregation::Min) => aggregate[1],
            (Shape::Sampled, Aggregation::Max) => aggregate[2],
            (Shape::Sampled, Aggregation::Count) => aggregate[4],
            (Shape::Sampled, _) => aggregate[3] / aggregate[4],
            (Shape::Summary, Aggregation::Count) => aggregate[0],
            (Shape::Summary, Aggregation::Rate) => aggregate[0] / step_s,
            (Shape::Summary, Aggregation::Sum) => aggregate[1],
            (Shape::Summary, Aggregation::Avg) => aggregate[1] / aggregate[0],
            (Shape::Summary, Aggregation::Min) => aggregate[2],
            (Shape::Summary, Aggregation::Max) => aggregate[3],
            (Shape::Summary, Aggregation::P50) => aggregate[4],
            (Shape::Summary, Aggregation::P95) => aggregate[5],
            (Shape::Summary, _) => aggregate[6],
        }
    }
}

/// A query of one metric of one app.
#[derive(Clone, Debug)]
pub struct SeriesQuery {
    pub org: String,
    pub app: String,
    pub name: String,
    /// Needed only when the name is used by several types.
    pub kind: Option<MetricType>,
    pub from_ms: i64,
    pub to_ms: i64,
    pub step_ms: i64,
    /// Default: the type's first in [`Aggregation::for_type`].
    pub aggregation: Option<Aggregation>,
    /// Only series with these tag values.
    pub filter: Vec<(String, String)>,
    /// One answer series per distinct value of these tags; none: one for all.
    pub group_by: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueryAnswer {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: MetricType,
    pub aggregation: Aggregation,
    pub step_ms: i64,
    /// The resolution read: 10 s points, or 1 min or 1 h rollups.
    pub resolution_ms: i64,
    /// How many stored series the answer combines.
    pub series_matched: usize,
    pub series: Vec<AnswerSeries>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AnswerSeries {
    /// The group's values of `group_by` (empty without it).
    pub tags: BTreeMap<String, String>,
    /// `[time in ms at the step's start, value]`, steps without points left out.
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QueryError {
    #[error("no metric \"{0}\" in this app: list them at .../metrics")]
    NoSuchMetric(String),
    #[error("\"{name}\" is used by several types ({types}): say which with type=")]
    AmbiguousType { name: String, types: String },
    #[error("a {kind} gives {allowed}, not {asked}")]
    Aggregation { kind: &'static str, allowed: String, asked: &'static str },
    #[error("step must be a multiple of 10 s (10000 ms), got {0} ms")]
    Step(i64),
    #[error("from must be before to")]
    Range,
    #[error("{0} steps asked; at most {MAX_STEPS}: pick a larger step or a shorter range")]
    TooManySteps(i64),
}

impl ModelCounts {
    /// Prometheus text exposition.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let rows = [
            ("series", "Series in the metric read model.", "gauge", self.series),
            ("raw_points", "Raw points the read model holds.", "gauge", self.raw_points),
            ("raw_bytes", "Bytes of the read model's raw chunks.", "gauge", self.raw_bytes),
            (
                "refused_points_total",
                "Points refused: not newer than their series' newest, or malformed.",
                "counter",
                self.refused_points,
            ),
            (
                "unreadable_records_total",
                "Metric topic records that could not be read.",
                "counter",
                self.unreadable_records,
            ),
        ];
        for (name, help, kind, value) in rows {
            let _ = writeln!(
                out,
                "# HELP vigie_metrics_{name} {help}\n# TYPE vigie_metrics_{name} {kind}\nvigie_metrics_{name} {value}"
            );
        }
    }
}

/// A metric of an app, for listings.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MetricInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: MetricType,
    pub series: usize,
    /// Each tag's values (at most [`MAX_TAG_VALUES`] listed per tag).
    pub tags: BTreeMap<String, Vec<String>>,
    pub aggregations: Vec<Aggregation>,
}

pub const MAX_TAG_VALUES: usize = 100;

/// One stored series and its points, as [`SeriesModel::read_series`] reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadSeries {
    pub name: String,
    pub kind: MetricType,
    pub tags: Vec<(String, String)>,
    /// `(ms, values)`, oldest first.
    pub points: Vec<(i64, Vec<f64>)>,
}

impl SeriesModel {
    pub fn new(retention: SeriesRetention) -> SeriesModel {
        SeriesModel { retention, ..SeriesModel::default() }
    }

    /// A model that writes sealed chunks to `files`.
    pub fn on_disk(retention: SeriesRetention, files: ChunkFiles) -> SeriesModel {
        SeriesModel { retention, files: Some(Arc::new(files)), ..SeriesModel::default() }
    }

    /// Reads every metric topic from where this model stopped (from the
    /// start, for a new model) and applies the points.
    pub fn catch_up_all(&self, store: &Store) {
        for info in store.topics() {
            if info.key.kind == TopicKind::Metrics {
                self.catch_up(store, &info.key);
            }
        }
    }

    /// Applies what `key` (a metric topic) holds past what was applied;
    /// returns the records read.
    pub fn catch_up(&self, store: &Store, key: &TopicKey) -> u64 {
        let _one_at_a_time = self.catching_up.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let from = self.read().consumed.get(key).copied().unwrap_or(0);
        let mut read = 0;
        // The lock is taken per record, so queries are not held up by a long catch-up.
        let next = super::follow(store, key, from, |offset, ts_ns, payload| {
            read += 1;
            let mut inner = self.inner.write().expect("series lock");
            match serde_json::from_slice::<PointsRecord>(payload) {
                Ok(points) => {
                    inner.apply(&key.org, &key.app, ts_ns / 1_000_000, points, &self.retention, self.files.as_deref())
                }
                Err(error) => {
                    inner.counts.unreadable_records += 1;
                    tracing::warn!(topic = %key, offset, %error, "metric record skipped");
                }
            }
        });
        self.inner.write().expect("series lock").consumed.insert(key.clone(), next);
        if let Some(files) = &self.files {
            // By the clock, not by the newest point: a point from the future
            // must not make every file look old.
            let now_ms = crate::clock::now_ns() / 1_000_000;
            for (level, keep) in self.retention.keep_ms.into_iter().enumerate() {
                files.forget_before(level, now_ms - keep);
            }
        }
        read
    }

    /// Applies one record of `org`'s `app` directly, as if read from its
    /// metric topic (for benchmarks; the server only follows topics).
    pub fn apply(&self, org: &str, app: &str, ts_ms: i64, record: PointsRecord) {
        self.inner.write().expect("series lock").apply(org, app, ts_ms, record, &self.retention, self.files.as_deref());
    }

    pub fn counts(&self) -> ModelCounts {
        let inner = self.read();
        let mut counts = inner.counts;
        counts.series = 0;
        counts.raw_points = 0;
        counts.raw_bytes = 0;
        for series in inner.apps.values().flat_map(|metrics| metrics.values()).flat_map(|m| m.series.values()) {
            let (points, bytes) = series.raw_points_and_bytes();
            counts.series += 1;
            counts.raw_points += points;
            counts.raw_bytes += bytes;
        }
        counts
    }

    /// The app's metrics, by name.
    pub fn list(&self, org: &str, app: &str) -> Vec<MetricInfo> {
        let inner = self.read();
        let Some(metrics) = inner.apps.get(&(org.to_string(), app.to_string())) else { return Vec::new() };
        metrics
            .iter()
            .map(|((name, kind), metric)| {
                let mut tags: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
                for series_tags in metric.series.keys() {
                    for (tag, value) in series_tags {
                        let values = tags.entry(tag.clone()).or_default();
                        if values.len() < MAX_TAG_VALUES {
                            values.insert(value);
                        }
                    }
                }
                MetricInfo {
                    name: name.clone(),
                    kind: *kind,
                    series: metric.series.len(),
                    tags: tags
                        .into_iter()
                        .map(|(tag, values)| (tag, values.into_iter().map(str::to_string).collect()))
                        .collect(),
                    aggregations: Aggregation::for_type(*kind).to_vec(),
                }
            })
            .collect()
    }

    /// Runs a query (see [`SeriesQuery`]).
    pub fn query(&self, query: &SeriesQuery) -> Result<QueryAnswer, QueryError> {
        if query.step_ms < RESOLUTIONS_MS[0] || query.step_ms % RESOLUTIONS_MS[0] != 0 {
            return Err(QueryError::Step(query.step_ms));
        }
        if query.from_ms >= query.to_ms {
            return Err(QueryError::Range);
        }
        let steps = (query.to_ms - query.from_ms + query.step_ms - 1) / query.step_ms;
        if steps > MAX_STEPS {
            return Err(QueryError::TooManySteps(steps));
        }
        let inner = self.read();
        let no_metric = || QueryError::NoSuchMetric(query.name.clone());
        let metrics = inner.apps.get(&(query.org.clone(), query.app.clone())).ok_or_else(no_metric)?;
        let named: Vec<_> = metrics
            .range((query.name.clone(), MetricType::Counter)..)
            .take_while(|((name, _), _)| *name == query.name)
            .collect();
        let (kind, metric) = match (named.as_slice(), query.kind) {
            ([], _) => return Err(no_metric()),
            (_, Some(kind)) => {
                named.iter().find(|((_, k), _)| *k == kind).map(|((_, k), m)| (*k, *m)).ok_or_else(no_metric)?
            }
            ([((_, kind), metric)], None) => (*kind, *metric),
            (several, None) => {
                let types: Vec<&str> = several.iter().map(|((_, kind), _)| kind.as_str()).collect();
                return Err(QueryError::AmbiguousType { name: query.name.clone(), types: types.join(", ") });
            }
        };
        let allowed = Aggregation::for_type(kind);
        let aggregation = query.aggregation.unwrap_or(allowed[0]);
        if !allowed.contains(&aggregation) {
            let allowed: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
            return Err(QueryError::Aggregation {
                kind: kind.as_str(),
                allowed: allowed.join(", "),
                asked: aggregation.as_str(),
            });
        }
        let level = RESOLUTIONS_MS.iter().rposition(|resolution| query.step_ms % resolution == 0).unwrap_or(0);
        let shape = kind.shape();
        // Aligned to the step, so the same chart asked twice gets the same buckets.
        let from_ms = query.from_ms.div_euclid(query.step_ms) * query.step_ms;
        let bucket_of = |ts: i64| ((ts - from_ms) / query.step_ms) as usize;
        let buckets = ((query.to_ms - from_ms + query.step_ms - 1) / query.step_ms) as usize;

        let mut groups: BTreeMap<Vec<(String, String)>, Group> = BTreeMap::new();
        let mut matched = 0;
        for (tags, series) in &metric.series {
            let tag = |name: &str| tags.iter().find(|(tag, _)| tag == name).map(|(_, value)| value.as_str());
            if !query.filter.iter().all(|(name, value)| tag(name) == Some(value)) {
                continue;
            }
            matched += 1;
            let mut steps: Vec<Option<Vec<f64>>> = vec![None; buckets];
            series.levels[level].visit(from_ms, query.to_ms, self.files.as_deref(), |ts, values| {
                let aggregate = if level == 0 { aggregate_of(shape, values) } else { values.to_vec() };
                match &mut steps[bucket_of(ts)] {
                    Some(into) => merge(shape, into, &aggregate),
                    empty => *empty = Some(aggregate),
                }
            });
            let group_key: Vec<(String, String)> =
                query.group_by.iter().map(|name| (name.clone(), tag(name).unwrap_or("").to_string())).collect();
            groups.entry(group_key).or_insert_with(|| Group::new(buckets)).add(
                shape,
                aggregation,
                query.step_ms,
                steps,
            );
        }
        let series = groups
            .into_iter()
            .map(|(tags, group)| AnswerSeries {
                tags: tags.into_iter().collect(),
                points: group.finish(shape, aggregation, query.step_ms, from_ms),
            })
            .collect();
        Ok(QueryAnswer {
            name: query.name.clone(),
            kind,
            aggregation,
            step_ms: query.step_ms,
            resolution_ms: RESOLUTIONS_MS[level],
            series_matched: matched,
            series,
        })
    }

    /// Every series of `org`'s `app` that `wanted(name, type, tags)` keeps,
    /// with its points in `[from_ms, to_ms)` at the resolution
    /// `RESOLUTIONS_MS[level]`, oldest first; `points` false: the series
    /// only. Raw points come as stored ([`MetricType::fields`]); rollups as
    /// raw points would be (gauges and sets: the bucket's last value), so a
    /// caller reads every level alike. For the Prometheus-compatible API.
    ///
    /// Blocks (may read chunk files): call it from a blocking thread.
    pub fn read_series(
        &self,
        org: &str,
        app: &str,
        level: usize,
        range_ms: Option<(i64, i64)>,
        mut wanted: impl FnMut(&str, MetricType, &[(String, String)]) -> bool,
    ) -> Vec<ReadSeries> {
        let inner = self.read();
        let Some(metrics) = inner.apps.get(&(org.to_string(), app.to_string())) else { return Vec::new() };
        let level = level.min(RESOLUTIONS_MS.len() - 1);
        let mut found = Vec::new();
        for ((name, kind), metric) in metrics {
            for (tags, series) in &metric.series {
                if !wanted(name, *kind, tags) {
                    continue;
                }
                let mut points = Vec::new();
                if let Some((from_ms, to_ms)) = range_ms {
                    series.levels[level].visit(from_ms, to_ms, self.files.as_deref(), |ts, values| {
                        let values = match (level, kind.shape()) {
                            (0, _) | (_, Shape::Counter) | (_, Shape::Summary) => values.to_vec(),
                            (_, Shape::Sampled) => vec![values[0]],
                        };
                        points.push((ts, values));
                    });
                }
                found.push(ReadSeries { name: name.clone(), kind: *kind, tags: tags.clone(), points });
            }
        }
        found
    }

    /// How long each resolution keeps its points.
    pub fn retention(&self) -> SeriesRetention {
        self.retention
    }

    /// The apps of `org` the model holds series of.
    pub fn apps_of(&self, org: &str) -> Vec<String> {
        let mut apps: Vec<String> =
            self.read().apps.keys().filter(|(o, _)| o == org).map(|(_, app)| app.clone()).collect();
        apps.sort();
        apps
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().expect("series lock")
    }
}

/// The series of one answer group, combined step by step: counters and
/// summaries merge their aggregates (sums add, percentiles weigh by
/// count); gauges and sets combine each series' value of the step (min,
/// max, avg as such; the others add up).
struct Group {
    merged: Vec<Option<Vec<f64>>>,
    /// Sampled shapes: the combined value and how many series gave one.
    values: Vec<Option<(f64, u32)>>,
}

impl Group {
    fn new(buckets: usize) -> Group {
        Group { merged: vec![None; buckets], values: vec![None; buckets] }
    }

    fn add(&mut self, shape: Shape, aggregation: Aggregation, step_ms: i64, steps: Vec<Option<Vec<f64>>>) {
        for (index, step) in steps.into_iter().enumerate() {
            let Some(aggregate) = step else { continue };
            if shape != Shape::Sampled {
                match &mut self.merged[index] {
                    Some(into) => merge(shape, into, &aggregate),
                    empty => *empty = Some(aggregate),
                }
                continue;
            }
            let value = aggregation.extract(shape, &aggregate, step_ms);
            self.values[index] = Some(match self.values[index] {
                None => (value, 1),
                Some((so_far, n)) => match aggregation {
                    Aggregation::Min => (so_far.min(value), n + 1),
                    Aggregation::Max => (so_far.max(value), n + 1),
                    _ => (so_far + value, n + 1),
                },
            });
        }
    }

    fn finish(self, shape: Shape, aggregation: Aggregation, step_ms: i64, from_ms: i64) -> Vec<(i64, f64)> {
        let at = |index: usize| from_ms + index as i64 * step_ms;
        if shape != Shape::Sampled {
            return self
                .merged
                .iter()
                .enumerate()
                .filter_map(|(index, step)| Some((at(index), aggregation.extract(shape, step.as_ref()?, step_ms))))
                .collect();
        }
        self.values
            .iter()
            .enumerate()
            .filter_map(|(index, value)| {
                let (value, n) = (*value)?;
                Some((at(index), if aggregation == Aggregation::Avg { value / n as f64 } else { value }))
            })
            .collect()
    }
}

impl Inner {
    fn apply(
        &mut self,
        org: &str,
        app: &str,
        ts_ms: i64,
        record: PointsRecord,
        retention: &SeriesRetention,
        files: Option<&ChunkFiles>,
    ) {
        // Retention goes by the clock, as the store's does.
        let now_ms = crate::clock::now_ns() / 1_000_000;
        let metrics = self.apps.entry((org.to_string(), app.to_string())).or_default();
        for point in record.points {
            if !point.is_well_formed() {
                self.counts.refused_points += 1;
                continue;
            }
            let MetricPoint { name, tags, kind, values } = point;
            let metric = metrics.entry((name, kind)).or_default();
            let tags: Vec<(String, String)> = tags.into_iter().collect();
            let series = metric.series.entry(tags).or_insert_with(|| Box::new(Series::new(kind)));
            if !series.add(kind.shape(), ts_ms, &values, retention, files, now_ms) {
                self.counts.refused_points += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests;
