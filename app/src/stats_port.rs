//! The port the console's dashboards read statistics through (server side
//! only), beside [`ConsolePort`](crate::port::ConsolePort): an app's metrics
//! and their series over a range. `server` implements it in-process on the
//! read models; a client of a remote Vigie's Stats API can implement it too.
//! Server functions find it in the Leptos context as a [`SharedStatsPort`].

use futures::future::BoxFuture;
use std::sync::Arc;

use crate::port::PortError;

/// A metric of an app, as listed for a picker.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSummary {
    pub name: String,
    /// `counter`, `gauge`, `timer`, `histogram`, `distribution` or `set`.
    pub kind: String,
    /// How many series (tag combinations) it has.
    pub series: usize,
    /// Its tags' names.
    pub tags: Vec<String>,
    /// The aggregations its type answers, the default first.
    pub aggregations: Vec<String>,
}

/// One metric over a range, as the Stats API's `GET .../metrics/{name}` asks.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRequest {
    pub name: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// `None`: about 300 steps over the range, as the Stats API chooses.
    pub step_ms: Option<i64>,
    /// `None`: the type's first.
    pub aggregation: Option<String>,
    /// One line per distinct value of these tags; none: one line.
    pub group_by: Vec<String>,
}

/// The lines of a metric over a range.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesLines {
    pub name: String,
    pub kind: String,
    pub aggregation: String,
    pub step_ms: i64,
    /// The range asked, the first step aligned to the step.
    pub from_ms: i64,
    pub to_ms: i64,
    pub lines: Vec<SeriesLine>,
}

/// One group of a series answer.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesLine {
    /// The group's values of `group_by`, in its order.
    pub tags: Vec<(String, String)>,
    /// `(step start in ms, value)`, steps without points left out.
    pub points: Vec<(i64, f64)>,
}

/// Why a series could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatsRefusal {
    NoSuchApp,
    NoSuchMetric(String),
    /// A parameter is wrong: says which and why.
    BadQuery(String),
    Failed(PortError),
}

impl std::fmt::Display for StatsRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatsRefusal::NoSuchApp => f.write_str("no such app"),
            StatsRefusal::NoSuchMetric(name) => write!(f, "no metric \"{name}\" in this app"),
            StatsRefusal::BadQuery(message) => f.write_str(message),
            StatsRefusal::Failed(error) => error.fmt(f),
        }
    }
}

pub trait StatsPort: Send + Sync + 'static {
    /// The app's metrics by name; `None` when there is no such app.
    fn metrics(&self, org: String, app: String) -> BoxFuture<'_, Result<Option<Vec<MetricSummary>>, PortError>>;

    /// One metric's lines over a range, combined and grouped as asked.
    fn series(
        &self,
        org: String,
        app: String,
        request: SeriesRequest,
    ) -> BoxFuture<'_, Result<SeriesLines, StatsRefusal>>;

    /// The attribution (text, link) that the licence of the GeoIP data
    /// placing clients asks of pages showing places; `None` when none is asked.
    fn places_credit(&self) -> Option<(String, String)> {
        None
    }

    /// The app's HTTP statistics over a range, about 300 whole-minute steps.
    fn http(&self, org: String, app: String, request: HttpRequest) -> BoxFuture<'_, Result<HttpSummary, StatsRefusal>>;
}

pub type SharedStatsPort = Arc<dyn StatsPort>;

/// An app's HTTP statistics over a range, as the Stats API's `GET .../http` asks.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpRequest {
    pub from_ms: i64,
    pub to_ms: i64,
    /// `None`: about 300 whole-minute steps over the range, as the Stats API chooses.
    pub step_ms: Option<i64>,
    /// How many of the most requested paths to list.
    pub top: usize,
}

/// HTTP statistics from the access logs: per step and for the whole range.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSummary {
    pub step_ms: i64,
    /// The range asked, the first step aligned to the step.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Steps with requests, oldest first.
    pub steps: Vec<HttpStepStats>,
    pub total: HttpStepStats,
    /// The most requested paths, most first.
    pub top_paths: Vec<PathStats>,
    /// Requests per place over the range, most first.
    pub places: Vec<PlaceStats>,
}

/// Requests from one place: a country and a 1° cell, given by its centre.
#[derive(Clone, Debug, PartialEq)]
pub struct PlaceStats {
    /// ISO 3166-1 alpha-2, as the GeoIP lookup (or the producer) wrote it.
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    pub requests: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HttpStepStats {
    pub ts_ms: i64,
    pub requests: u64,
    /// Requests answered 1xx, 2xx, 3xx, 4xx, 5xx.
    pub status: [u64; 5],
    pub bytes_out: u64,
    /// Latency percentiles in ms (p50, p95, p99); `None` without requests.
    pub latency_ms: [Option<f64>; 3],
}

#[derive(Clone, Debug, PartialEq)]
pub struct PathStats {
    pub path: String,
    pub requests: u64,
    /// Of them, answered 5xx.
    pub server_errors: u64,
    /// The 99th percentile of their latency in ms; `None` when none was timed.
    pub p99_ms: Option<f64>,
}
