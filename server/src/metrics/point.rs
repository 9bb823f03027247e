//! A metric point as the metric topics store it: one record per app and
//! flush, `{"interval_s": 10, "points": [...]}`, its time the start of the
//! interval the points describe. Each point names its metric, its tags, its
//! type and its values, laid out by type (see [`MetricType::fields`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One metric of one app with one set of tags (sorted by name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub org: String,
    pub app: String,
    pub name: String,
    pub tags: Vec<(String, String)>,
}

/// What one series did in one interval.
#[derive(Clone, Debug, PartialEq)]
pub enum PointValue {
    Counter { count: f64, per_second: f64 },
    Gauge(f64),
    Summary { count: f64, min: f64, max: f64, sum: f64, p50: f64, p95: f64, p99: f64 },
    Set { distinct: u64, saturated: bool },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub key: SeriesKey,
    pub kind: MetricType,
    /// The start of the interval, ns since the Unix epoch.
    pub ts_ns: i64,
    pub value: PointValue,
}

/// What a metric measures, which decides its values and how they combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Gauge,
    Timer,
    Histogram,
    Distribution,
    Set,
}

/// How a type's values are laid out and combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `[count]`: summed.
    Counter,
    /// `[value]`: sampled (gauges, and sets' distinct counts).
    Sampled,
    /// `[count, sum, min, max, p50, p95, p99]`: a distribution of values.
    Summary,
}

impl MetricType {
    pub fn shape(self) -> Shape {
        match self {
            MetricType::Counter => Shape::Counter,
            MetricType::Gauge | MetricType::Set => Shape::Sampled,
            MetricType::Timer | MetricType::Histogram | MetricType::Distribution => Shape::Summary,
        }
    }

    /// The names of a point's values, in order.
    pub fn fields(self) -> &'static [&'static str] {
        match self.shape() {
            Shape::Counter => &["count"],
            Shape::Sampled => &["value"],
            Shape::Summary => &["count", "sum", "min", "max", "p50", "p95", "p99"],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Timer => "timer",
            MetricType::Histogram => "histogram",
            MetricType::Distribution => "distribution",
            MetricType::Set => "set",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(rename = "type")]
    pub kind: MetricType,
    /// As [`MetricType::fields`] names them.
    pub values: Vec<f64>,
}

impl MetricPoint {
    /// The point of an aggregated statsd series; `None` for a summary of no
    /// value, which has no percentiles to store.
    pub fn from_statsd(point: &Point) -> Option<MetricPoint> {
        let values = match point.value {
            PointValue::Counter { count, .. } => vec![count],
            PointValue::Gauge(value) => vec![value],
            PointValue::Set { distinct, .. } => vec![distinct as f64],
            PointValue::Summary { count, sum, min, max, p50, p95, p99 } => vec![count, sum, min, max, p50, p95, p99],
        };
        values.iter().all(|value| value.is_finite()).then(|| MetricPoint {
            name: point.key.name.clone(),
            tags: point.key.tags.iter().cloned().collect(),
            kind: point.kind,
            values,
        })
    }

    /// Whether the values fit the type: as many as its fields, all finite.
    pub fn is_well_formed(&self) -> bool {
        self.values.len() == self.kind.fields().len() && self.values.iter().all(|value| value.is_finite())
    }
}

/// One record of a metric topic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointsRecord {
    /// How long the interval lasted; it started at the record's time.
    pub interval_s: f64,
    pub points: Vec<MetricPoint>,
}
