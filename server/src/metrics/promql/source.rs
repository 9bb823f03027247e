//! What the Prometheus-compatible API exposes, read from Vigie's own read
//! models, with Prometheus names and labels (docs/PROMETHEUS.md holds the
//! table a user reads):
//!
//! | family | from | kind |
//! | --- | --- | --- |
//! | `NAME` (dots and other characters become `_`) | statsd and instance series | counters: delta, gauges and sets: sampled |
//! | `NAME{quantile="0.5"|"0.95"|"0.99"}`, `NAME_min`, `NAME_max`, `NAME_sum`, `NAME_count` | statsd timers, histograms, distributions | quantiles, min, max: sampled; sum, count: delta |
//! | `http_requests{status_class}`, `http_bytes_out`, `http_latency_ms{quantile}`, `http_path_requests{path}`, `http_path_server_errors{path}`, `http_place_requests{country,lat,lon}` | HTTP statistics, per minute | delta, but latency: sampled |
//! | `log_lines{level}` | the app's service logs, counted per minute | delta |
//!
//! Every series has the label `app`; statsd tags become labels (named as
//! Prometheus allows; a tag that would take `app`, `quantile` or another
//! label Vigie sets is called `exported_TAG`).
//!
//! A **delta** series' sample is what happened in the interval that starts
//! at its time (10 s for statsd, 1 min for HTTP statistics and log lines):
//! Vigie's counters are stored that way, and `rate`/`increase` sum them
//! exactly instead of extrapolating a cumulative counter.

use std::collections::BTreeMap;

use promql_parser::label::{MatchOp, Matcher, Matchers};
use vigie_app::model::LogKind;

use super::EvalError;
use crate::metrics::http_stats::{HttpStatsModel, Minute, BUCKET_MS};
use crate::metrics::point::{MetricType, Shape};
use crate::metrics::series::{SeriesModel, RESOLUTIONS_MS};
use crate::query::stats::{count, Split, StatsRequest};
use crate::query::CompiledFilter;
use crate::store::{Store, TopicKey};

/// A series' labels, `__name__` among them, sorted by name.
pub type Labels = BTreeMap<String, String>;

pub const NAME: &str = "__name__";

/// Most series one selector may read.
pub const MAX_SERIES: usize = 20_000;

/// One series as Prometheus sees it, with its samples in the range read.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    pub labels: Labels,
    /// A sample is the count of its interval, not a level (see the module's doc).
    pub delta: bool,
    /// How long a sample's interval lasts, ms: what `irate` divides by.
    pub interval_ms: i64,
    /// `(ms, value)`, oldest first.
    pub points: Vec<(i64, f64)>,
}

/// What a metric family is, for `/metadata`.
#[derive(Clone, Debug, PartialEq)]
pub struct FamilyInfo {
    pub name: String,
    /// `counter`, `gauge` or `summary`.
    pub kind: &'static str,
    pub help: String,
}

/// The read models of one org, as the evaluator reads them.
pub struct Source<'a> {
    pub org: &'a str,
    /// The org's apps (and add-ons): nothing else is read.
    pub apps: &'a [String],
    pub series: &'a SeriesModel,
    pub http: &'a HttpStatsModel,
    pub store: &'a Store,
    pub now_ms: i64,
}

/// A selector's matchers, with its name folded in.
#[derive(Clone, Debug)]
pub struct Selector {
    pub matchers: Vec<Matcher>,
    /// Alternatives (`{a="1" or b="2"}`): one of them must match too.
    pub or_matchers: Vec<Vec<Matcher>>,
}

impl Selector {
    pub fn new(name: Option<&str>, matchers: &Matchers) -> Selector {
        let mut all = matchers.matchers.clone();
        if let Some(name) = name {
            all.push(Matcher::new(MatchOp::Equal, NAME, name));
        }
        Selector { matchers: all, or_matchers: matchers.or_matchers.clone() }
    }

    /// Whether `labels` match (a missing label reads as "").
    pub fn matches(&self, labels: &Labels) -> bool {
        let one = |m: &Matcher| m.is_match(labels.get(&m.name).map_or("", String::as_str));
        self.matchers.iter().all(one)
            && (self.or_matchers.is_empty() || self.or_matchers.iter().any(|group| group.iter().all(one)))
    }

    /// Whether `labels` may match once the labels named `later` are known:
    /// the matchers on those are left out.
    fn may_match(&self, labels: &Labels, later: &[&str]) -> bool {
        let one = |m: &Matcher| {
            later.contains(&m.name.as_str()) || m.is_match(labels.get(&m.name).map_or("", String::as_str))
        };
        self.matchers.iter().all(one)
            && (self.or_matchers.is_empty() || self.or_matchers.iter().any(|group| group.iter().all(one)))
    }

    /// A selector that matches every series (for listings without `match[]`).
    pub fn everything() -> Selector {
        Selector { matchers: Vec::new(), or_matchers: Vec::new() }
    }
}

/// A metric name as Prometheus allows it: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn metric_name(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A label name as Prometheus allows it: `[a-zA-Z_][a-zA-Z0-9_]*`, never
/// one Vigie sets itself.
pub fn label_name(tag: &str) -> String {
    let mut out: String = tag.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if ["app", "quantile", "__name__"].contains(&out.as_str()) || out.starts_with("__") {
        out = format!("exported_{}", out.trim_start_matches('_'));
    }
    out
}

/// The Prometheus series one stored statsd series gives: labels, the
/// column of the stored values it reads, and whether it is a delta.
fn statsd_families(name: &str, kind: MetricType, base: &Labels) -> Vec<(Labels, usize, bool)> {
    let name = metric_name(name);
    let with = |metric: String, extra: Option<(&str, &str)>| {
        let mut labels = base.clone();
        labels.insert(NAME.into(), metric);
        if let Some((label, value)) = extra {
            labels.insert(label.into(), value.into());
        }
        labels
    };
    match kind.shape() {
        Shape::Counter => vec![(with(name, None), 0, true)],
        Shape::Sampled => vec![(with(name, None), 0, false)],
        Shape::Summary => vec![
            (with(name.clone(), Some(("quantile", "0.5"))), 4, false),
            (with(name.clone(), Some(("quantile", "0.95"))), 5, false),
            (with(name.clone(), Some(("quantile", "0.99"))), 6, false),
            (with(format!("{name}_count"), None), 0, true),
            (with(format!("{name}_sum"), None), 1, true),
            (with(format!("{name}_min"), None), 2, false),
            (with(format!("{name}_max"), None), 3, false),
        ],
    }
}

/// The HTTP statistics families: name, the label filled per series, delta.
const HTTP_FAMILIES: [(&str, &[&str], bool); 6] = [
    ("http_requests", &["status_class"], true),
    ("http_bytes_out", &[], true),
    ("http_latency_ms", &["quantile"], false),
    ("http_path_requests", &["path"], true),
    ("http_path_server_errors", &["path"], true),
    ("http_place_requests", &["country", "lat", "lon"], true),
];

pub const LOG_LINES: &str = "log_lines";

impl Source<'_> {
    /// The resolution (an index of [`RESOLUTIONS_MS`]) a read from
    /// `from_ms` on should use: the coarsest that `precision_ms` allows (a
    /// divisor of it), but one that still holds points that old.
    pub fn level_for(&self, from_ms: i64, precision_ms: i64) -> usize {
        let precise = RESOLUTIONS_MS.iter().rposition(|r| precision_ms >= *r && precision_ms % r == 0).unwrap_or(0);
        let keep = self.series.retention().keep_ms;
        let kept = (0..RESOLUTIONS_MS.len()).find(|level| self.now_ms - keep[*level] <= from_ms).unwrap_or(2);
        precise.max(kept)
    }

    /// The series `selector` matches, with their samples in
    /// `[from_ms, to_ms]`. Without a range, statsd series come without
    /// samples (listings: a series is listed while it is kept), HTTP
    /// statistics read the 2 days they keep and log lines the last hour.
    ///
    /// Blocks (chunk files, log scans): call it from a blocking thread.
    pub fn select(
        &self,
        selector: &Selector,
        range_ms: Option<(i64, i64)>,
        level: usize,
    ) -> Result<Vec<Samples>, EvalError> {
        self.select_in(selector, range_ms, range_ms, level)
    }

    /// The series listings show: statsd series while they are kept, HTTP
    /// statistics and log lines with a sample in the range.
    pub fn list(&self, selector: &Selector, range_ms: (i64, i64)) -> Result<Vec<Samples>, EvalError> {
        self.select_in(selector, None, Some(range_ms), 0)
    }

    /// [`Source::select`], the statsd range apart from the others'.
    fn select_in(
        &self,
        selector: &Selector,
        statsd_range_ms: Option<(i64, i64)>,
        range_ms: Option<(i64, i64)>,
        level: usize,
    ) -> Result<Vec<Samples>, EvalError> {
        let mut found = Vec::new();
        let too_many = || {
            EvalError::Execution(format!(
                "the query reads more than {MAX_SERIES} series: narrow its selectors (app=\"…\", a name)"
            ))
        };
        let end_exclusive = statsd_range_ms.map(|(from, to)| (from, to + 1));
        for app in self.apps {
            let mut base = Labels::new();
            base.insert("app".into(), app.clone());

            // statsd and instance series.
            let mut picked: Vec<Vec<(Labels, usize, bool)>> = Vec::new();
            let stored = self.series.read_series(self.org, app, level, end_exclusive, |name, kind, tags| {
                let mut labels = base.clone();
                for (tag, value) in tags {
                    labels.insert(label_name(tag), value.clone());
                }
                let families: Vec<_> = statsd_families(name, kind, &labels)
                    .into_iter()
                    .filter(|(labels, _, _)| selector.matches(labels))
                    .collect();
                let keep = !families.is_empty();
                if keep {
                    picked.push(families);
                }
                keep
            });
            for (series, families) in stored.into_iter().zip(picked) {
                let interval_ms = RESOLUTIONS_MS[level];
                for (labels, column, delta) in families {
                    let points = series.points.iter().map(|(ts, values)| (*ts, values[column])).collect();
                    found.push(Samples { labels, delta, interval_ms, points });
                }
                if found.len() > MAX_SERIES {
                    return Err(too_many());
                }
            }

            // HTTP statistics.
            let wanted: Vec<_> = HTTP_FAMILIES
                .iter()
                .filter(|(name, later, _)| {
                    let mut labels = base.clone();
                    labels.insert(NAME.into(), name.to_string());
                    selector.may_match(&labels, later)
                })
                .collect();
            if !wanted.is_empty() {
                let (from, to) = range_ms.unwrap_or((i64::MIN, i64::MAX - 1));
                let detail = wanted.iter().any(|(name, _, _)| name.starts_with("http_p"));
                // Listings read the last 2 days: all HTTP statistics keep.
                let minutes = self.http.minutes(self.org, app, from, to.saturating_add(1), detail);
                for (name, _, delta) in wanted {
                    let mut by_labels: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
                    for minute in &minutes {
                        http_samples(name, minute, |extra, value| {
                            let mut labels = base.clone();
                            labels.insert(NAME.into(), name.to_string());
                            labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
                            by_labels.entry(labels).or_default().push((minute.ts_ms, value));
                        });
                    }
                    for (labels, points) in by_labels {
                        if selector.matches(&labels) {
                            found.push(Samples { labels, delta: *delta, interval_ms: BUCKET_MS, points });
                        }
                    }
                    if found.len() > MAX_SERIES {
                        return Err(too_many());
                    }
                }
            }

            // Log lines by level.
            let mut labels = base.clone();
            labels.insert(NAME.into(), LOG_LINES.into());
            if selector.may_match(&labels, &["level"]) {
                for (level, points) in self.log_lines(app, range_ms) {
                    let mut labels = labels.clone();
                    labels.insert("level".into(), level);
                    if selector.matches(&labels) {
                        found.push(Samples { labels, delta: true, interval_ms: BUCKET_MS, points });
                    }
                }
            }
        }
        Ok(found)
    }

    /// Lines of the app's service logs per minute and level in the range
    /// (the last hour for listings).
    fn log_lines(&self, app: &str, range_ms: Option<(i64, i64)>) -> BTreeMap<String, Vec<(i64, f64)>> {
        let (from_ms, to_ms) = range_ms.unwrap_or((self.now_ms - 3_600_000, self.now_ms));
        let key = TopicKey::new(self.org, app, LogKind::Service);
        let everything = CompiledFilter::parse("").expect("the empty filter");
        let request = StatsRequest {
            key: &key,
            since_ns: Some(from_ms.saturating_mul(1_000_000)),
            until_ns: Some(to_ms.saturating_mul(1_000_000)),
            filter: &everything,
            step_ns: Some(BUCKET_MS * 1_000_000),
            split: Split::Level,
            by: &[],
            discover: 0,
            top: 0,
        };
        let mut by_level: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        for bucket in count(self.store, &request).buckets {
            for (level, lines) in bucket.counts {
                by_level.entry(level).or_default().push((bucket.start_ns / 1_000_000, lines as f64));
            }
        }
        by_level
    }

    /// The metric families with a series in the org, for `/metadata`.
    pub fn families(&self) -> Result<Vec<FamilyInfo>, EvalError> {
        let mut families: BTreeMap<String, FamilyInfo> = BTreeMap::new();
        for series in self.select(&Selector::everything(), None, 0)? {
            let name = series.labels[NAME].clone();
            families
                .entry(name.clone())
                .or_insert_with(|| describe(&name, series.delta, series.labels.contains_key("quantile")));
        }
        Ok(families.into_values().collect())
    }
}

fn describe(name: &str, delta: bool, quantiles: bool) -> FamilyInfo {
    let help = match name {
        "http_requests" => "Requests of the app's access logs per minute, by status class.".to_string(),
        "http_bytes_out" => "Bytes the app sent per minute, from its access logs.".to_string(),
        "http_latency_ms" => "Latency quantiles of each minute, in ms, from the access logs.".to_string(),
        "http_path_requests" => "Requests per path and minute (the 500 most requested of each minute).".to_string(),
        "http_path_server_errors" => "5xx answers per path and minute.".to_string(),
        "http_place_requests" => "Requests per place (country and 1° cell, its centre) and minute.".to_string(),
        LOG_LINES => "Service log lines per minute, by level.".to_string(),
        _ if delta => "A statsd or instance counter: each sample is the count of its interval.".to_string(),
        _ => "A statsd or instance gauge, or a statsd distribution's figure.".to_string(),
    };
    let kind = match (delta, quantiles) {
        (true, _) => "counter",
        (false, true) => "summary",
        _ => "gauge",
    };
    FamilyInfo { name: name.to_string(), kind, help }
}

/// The samples one minute of HTTP statistics gives a family: extra labels and value.
fn http_samples(family: &str, minute: &Minute, mut emit: impl FnMut(&[(&str, String)], f64)) {
    match family {
        "http_requests" => {
            for (index, count) in minute.status.iter().enumerate() {
                if *count > 0 {
                    emit(&[("status_class", format!("{}xx", index + 1))], *count as f64);
                }
            }
        }
        "http_bytes_out" => emit(&[], minute.bytes_out as f64),
        "http_latency_ms" => {
            let latency = &minute.latency_ms;
            for (quantile, value) in [("0.5", latency.p50), ("0.95", latency.p95), ("0.99", latency.p99)] {
                if let Some(value) = value {
                    emit(&[("quantile", quantile.to_string())], value);
                }
            }
        }
        "http_path_requests" => {
            for (path, requests, _) in &minute.paths {
                emit(&[("path", path.clone())], *requests as f64);
            }
        }
        "http_path_server_errors" => {
            for (path, _, errors) in &minute.paths {
                if *errors > 0 {
                    emit(&[("path", path.clone())], *errors as f64);
                }
            }
        }
        "http_place_requests" => {
            for place in &minute.places {
                let labels = [
                    ("country", place.country.clone()),
                    ("lat", place.lat.to_string()),
                    ("lon", place.lon.to_string()),
                ];
                emit(&labels, place.requests as f64);
            }
        }
        _ => {}
    }
}
