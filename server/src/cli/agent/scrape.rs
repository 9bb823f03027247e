//! `--scrape URL`: an app's Prometheus endpoint (text exposition format,
//! parsed by the `prometheus-parse` crate) read every 10 s into the app's
//! custom metrics, tagged with the instance:
//!
//! - gauges, and untyped samples, become gauges;
//! - counters (and untyped samples named `*_total`, `*_count`, `*_sum`,
//!   which is how a histogram's and a summary's count and sum arrive)
//!   become counters of what they grew by since the previous scrape (a
//!   counter that went down was reset: its new value is what it grew by);
//!   the first scrape only sets where they start;
//! - a summary's quantiles become gauges tagged `quantile`; histogram
//!   buckets are left out (their `_count` and `_sum` are kept).
//!
//! Labels become tags. The agent's Vigie token is never sent to the app.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::ingest::points::PointIn;
use crate::metrics::point::MetricType;

/// The largest body read from the endpoint.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Series kept from one scrape.
const MAX_SERIES: usize = 10_000;

pub struct Scraper {
    url: String,
    /// A client of its own: not the one that carries the Vigie token.
    http: reqwest::Client,
    /// Counters' last values, by name and tags.
    counters: HashMap<(String, BTreeMap<String, String>), f64>,
    failing: bool,
}

impl Scraper {
    pub fn new(url: String) -> Scraper {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Scraper { url, http, counters: HashMap::new(), failing: false }
    }

    /// The points of one scrape; none when the endpoint does not answer
    /// (said once until it answers again).
    pub async fn scrape(&mut self, instance: &str) -> Vec<PointIn> {
        match self.fetch().await {
            Ok(text) => {
                self.failing = false;
                self.points(&text, instance)
            }
            Err(error) => {
                if !self.failing {
                    tracing::warn!("vigie agent: cannot scrape {}: {error}", self.url);
                }
                self.failing = true;
                Vec::new()
            }
        }
    }

    async fn fetch(&self) -> Result<String, String> {
        let mut response = self.http.get(&self.url).send().await.map_err(|error| error.to_string())?;
        if !response.status().is_success() {
            return Err(format!("it answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| error.to_string())? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("its answer is over {} MiB", MAX_BODY_BYTES >> 20));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// The points of an exposition text; counters as what they grew by.
    pub fn points(&mut self, text: &str, instance: &str) -> Vec<PointIn> {
        let lines = text.lines().map(|line| Ok(line.to_string()));
        let Ok(scrape) = prometheus_parse::Scrape::parse(lines) else { return Vec::new() };
        let mut points = Vec::new();
        let mut seen = HashMap::new();
        for sample in scrape.samples.into_iter().take(MAX_SERIES) {
            let mut tags: BTreeMap<String, String> =
                sample.labels.iter().map(|(name, value)| (name.clone(), value.clone())).collect();
            tags.insert("instance".into(), instance.into());
            let name = sample.metric;
            let cumulative = |name: &str| ["_total", "_count", "_sum"].iter().any(|suffix| name.ends_with(suffix));
            match sample.value {
                prometheus_parse::Value::Counter(value) => {
                    points.extend(self.counter(&mut seen, name, tags, value));
                }
                prometheus_parse::Value::Untyped(value) if cumulative(&name) => {
                    points.extend(self.counter(&mut seen, name, tags, value));
                }
                prometheus_parse::Value::Gauge(value) | prometheus_parse::Value::Untyped(value) => {
                    points.push(PointIn { name, tags, kind: MetricType::Gauge, values: vec![value] });
                }
                prometheus_parse::Value::Summary(quantiles) => {
                    for quantile in quantiles {
                        let mut tags = tags.clone();
                        tags.insert("quantile".into(), quantile.quantile.to_string());
                        points.push(PointIn {
                            name: name.clone(),
                            tags,
                            kind: MetricType::Gauge,
                            values: vec![quantile.count],
                        });
                    }
                }
                prometheus_parse::Value::Histogram(_) => {}
            }
        }
        // Counters that went away are forgotten.
        self.counters.retain(|key, _| seen.contains_key(key));
        points.retain(|point| point.check().is_ok());
        points
    }

    fn counter(
        &mut self,
        seen: &mut HashMap<(String, BTreeMap<String, String>), ()>,
        name: String,
        tags: BTreeMap<String, String>,
        value: f64,
    ) -> Option<PointIn> {
        let key = (name, tags);
        seen.insert(key.clone(), ());
        let previous = self.counters.insert(key.clone(), value)?;
        let grew = if value >= previous { value - previous } else { value };
        let (name, tags) = key;
        Some(PointIn { name, tags, kind: MetricType::Counter, values: vec![grew] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &str = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n\
        http_requests_total{code=\"200\",method=\"get\"} 100\nhttp_requests_total{code=\"500\",method=\"get\"} 3\n\
        # TYPE temperature gauge\ntemperature 21.5\n\
        # TYPE rpc_seconds summary\nrpc_seconds{quantile=\"0.5\"} 0.2\nrpc_seconds{quantile=\"0.99\"} 1.5\n\
        rpc_seconds_sum 120\nrpc_seconds_count 400\n";

    #[test]
    fn counters_become_what_they_grew_by_and_gauges_stay() {
        let mut scraper = Scraper::new("http://127.0.0.1:1/metrics".into());
        let first = scraper.points(FIRST, "web-1");
        assert!(first.iter().all(|p| p.kind == MetricType::Gauge), "counters start: {first:?}");
        assert_eq!(first.iter().filter(|p| p.name == "rpc_seconds").count(), 2);
        let second = FIRST.replace("} 100", "} 130").replace("} 3\n", "} 1\n").replace("count 400", "count 410");
        let points = scraper.points(&second, "web-1");
        let find = |name: &str, code: Option<&str>| {
            points
                .iter()
                .find(|p| p.name == name && p.tags.get("code").map(String::as_str) == code)
                .unwrap_or_else(|| panic!("{name}: {points:?}"))
        };
        let ok = find("http_requests_total", Some("200"));
        assert_eq!((ok.kind, ok.values.as_slice()), (MetricType::Counter, [30.0].as_slice()));
        assert_eq!(ok.tags.get("instance").unwrap(), "web-1");
        assert_eq!(find("http_requests_total", Some("500")).values, [1.0], "a reset counter counts from zero");
        assert_eq!(find("rpc_seconds_count", None).values, [10.0]);
        assert_eq!(find("temperature", None).values, [21.5]);
    }
}
