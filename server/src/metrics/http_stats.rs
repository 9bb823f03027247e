//! HTTP statistics: a read model of the access-log topics. Per app and per
//! minute it keeps the requests, their status classes, the bytes sent, a
//! DDSketch of their latency (mergeable, so steps, instances and minutes
//! combine into exact-within-1% percentiles), the most requested paths and
//! the requests per place (country and 1° latitude/longitude cell) for the
//! heatmap. Like every read model it follows its topics and is rebuilt
//! from them at each start.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use sketches_ddsketch::{Config, DDSketch};
use vigie_app::model::{AccessLine, LogKind};

use crate::store::{Store, TopicKey, TopicKind};

/// The finest step kept.
pub const BUCKET_MS: i64 = 60_000;
/// How long minutes are kept.
pub const KEEP_MS: i64 = 2 * 86_400_000;
/// Distinct paths counted per minute; the rest count as [`OTHER_PATHS`].
pub const PATHS_PER_BUCKET: usize = 500;
/// Distinct places counted per minute; the rest are not placed.
pub const PLACES_PER_BUCKET: usize = 5_000;
pub const OTHER_PATHS: &str = "(other paths)";
/// Most steps one query returns.
pub const MAX_STEPS: i64 = 5_000;

/// Steps a query gets when it names none: about this many over its range.
pub const DEFAULT_STEPS: i64 = 300;

/// About [`DEFAULT_STEPS`] whole-minute steps over `range_ms`; the Stats
/// API and the console's HTTP page both use it, so they answer the same steps.
pub fn default_step_ms(range_ms: i64) -> i64 {
    let wanted = (range_ms / DEFAULT_STEPS).max(1);
    (wanted + BUCKET_MS - 1) / BUCKET_MS * BUCKET_MS
}

/// The read model; cloning it is shallow.
#[derive(Clone, Default)]
pub struct HttpStatsModel {
    inner: Arc<RwLock<Inner>>,
    catching_up: Arc<Mutex<()>>,
}

#[derive(Default)]
struct Inner {
    apps: HashMap<(String, String), BTreeMap<i64, Bucket>>,
    consumed: HashMap<TopicKey, u64>,
    /// Access records that could not be read.
    unreadable: u64,
}

#[derive(Clone)]
struct Bucket {
    requests: u64,
    /// 1xx to 5xx; other codes are counted in `requests` only.
    status: [u64; 5],
    bytes_out: u64,
    latency_ms: DDSketch,
    paths: HashMap<String, PathTally>,
    places: HashMap<Place, u64>,
}

impl Default for Bucket {
    fn default() -> Bucket {
        Bucket {
            requests: 0,
            status: [0; 5],
            bytes_out: 0,
            latency_ms: DDSketch::new(Config::defaults()),
            paths: HashMap::new(),
            places: HashMap::new(),
        }
    }
}

/// One path's minute: its requests, of them 5xx answers, and a sketch of
/// their latency, so the top paths carry an exact-within-1% p99 too.
#[derive(Clone)]
struct PathTally {
    requests: u64,
    server_errors: u64,
    latency_ms: DDSketch,
}

impl Default for PathTally {
    fn default() -> PathTally {
        PathTally { requests: 0, server_errors: 0, latency_ms: DDSketch::new(Config::defaults()) }
    }
}

impl PathTally {
    fn merge(&mut self, other: &PathTally) {
        self.requests += other.requests;
        self.server_errors += other.server_errors;
        // Sketches of one configuration always merge.
        let _ = self.latency_ms.merge(&other.latency_ms);
    }
}

/// A country and a 1° cell, by its south-west corner.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Place {
    country: String,
    lat: i16,
    lon: i16,
}

impl Bucket {
    fn add(&mut self, line: &AccessLine) {
        self.requests += 1;
        if (100..600).contains(&line.status) {
            self.status[(line.status / 100 - 1) as usize] += 1;
        }
        self.bytes_out += line.bytes_sent;
        let timed = line.duration_ms.is_finite() && line.duration_ms >= 0.0;
        if timed {
            self.latency_ms.add(line.duration_ms);
        }
        let path = if self.paths.len() < PATHS_PER_BUCKET || self.paths.contains_key(&line.path) {
            line.path.as_str()
        } else {
            OTHER_PATHS
        };
        let tally = self.paths.entry(path.to_string()).or_default();
        tally.requests += 1;
        tally.server_errors += u64::from((500..600).contains(&line.status));
        if timed {
            tally.latency_ms.add(line.duration_ms);
        }
        if let (Some(country), Some(lat), Some(lon)) = (&line.country, line.lat, line.lon) {
            let place = Place { country: country.clone(), lat: lat.floor() as i16, lon: lon.floor() as i16 };
            if self.places.len() < PLACES_PER_BUCKET || self.places.contains_key(&place) {
                *self.places.entry(place).or_default() += 1;
            }
        }
    }

    /// Adds `other`'s counts and latency (a query counts paths and places
    /// apart, by reference).
    fn merge(&mut self, other: &Bucket) {
        self.requests += other.requests;
        for (mine, theirs) in self.status.iter_mut().zip(other.status) {
            *mine += theirs;
        }
        self.bytes_out += other.bytes_out;
        // Sketches of one configuration always merge.
        let _ = self.latency_ms.merge(&other.latency_ms);
    }

    fn summary(&self, ts_ms: i64, step_ms: i64) -> HttpStep {
        let quantile = |q: f64| self.latency_ms.quantile(q).ok().flatten();
        HttpStep {
            ts_ms,
            requests: self.requests,
            per_second: self.requests as f64 / (step_ms as f64 / 1_000.0),
            status: StatusClasses {
                informational: self.status[0],
                success: self.status[1],
                redirect: self.status[2],
                client_error: self.status[3],
                server_error: self.status[4],
            },
            bytes_out: self.bytes_out,
            latency_ms: Latency { p50: quantile(0.5), p95: quantile(0.95), p99: quantile(0.99) },
        }
    }
}

/// Requests by status class.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusClasses {
    #[serde(rename = "1xx")]
    pub informational: u64,
    #[serde(rename = "2xx")]
    pub success: u64,
    #[serde(rename = "3xx")]
    pub redirect: u64,
    #[serde(rename = "4xx")]
    pub client_error: u64,
    #[serde(rename = "5xx")]
    pub server_error: u64,
}

/// Latency percentiles in ms (DDSketch: within 1%); absent without requests.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One step of HTTP statistics.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HttpStep {
    /// The step's start, ms since the epoch.
    pub ts_ms: i64,
    pub requests: u64,
    pub per_second: f64,
    pub status: StatusClasses,
    pub bytes_out: u64,
    pub latency_ms: Latency,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PathCount {
    pub path: String,
    pub requests: u64,
    /// Of them, answered 5xx.
    pub server_errors: u64,
    /// The 99th percentile of their latency in ms; `None` when none was timed.
    pub p99_ms: Option<f64>,
}

/// Requests from one place: a country and a 1° cell (its centre given).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlaceCount {
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    pub requests: u64,
}

/// HTTP statistics of an app over a range.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HttpStats {
    pub step_ms: i64,
    /// Steps with requests, oldest first.
    pub steps: Vec<HttpStep>,
    /// The whole range as one step.
    pub total: HttpStep,
    /// The most requested paths, most first.
    pub top_paths: Vec<PathCount>,
    /// Requests per place, most first.
    pub places: Vec<PlaceCount>,
}

/// One minute of an app's HTTP statistics, as [`HttpStatsModel::minutes`] gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Minute {
    pub ts_ms: i64,
    pub requests: u64,
    /// 1xx to 5xx.
    pub status: [u64; 5],
    pub bytes_out: u64,
    pub latency_ms: Latency,
    /// Path, requests, of them 5xx.
    pub paths: Vec<(String, u64, u64)>,
    pub places: Vec<PlaceCount>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HttpStatsError {
    #[error("step must be a multiple of 1 min (60000 ms), got {0} ms")]
    Step(i64),
    #[error("from must be before to")]
    Range,
    #[error("{0} steps asked; at most {MAX_STEPS}: pick a larger step or a shorter range")]
    TooManySteps(i64),
}

impl HttpStatsModel {
    /// Reads every access topic from where this model stopped.
    pub fn catch_up_all(&self, store: &Store) {
        for info in store.topics() {
            if info.key.kind == TopicKind::Log(LogKind::Access) {
                self.catch_up(store, &info.key);
            }
        }
    }

    /// Applies what the access topic `key` holds past what was applied.
    pub fn catch_up(&self, store: &Store, key: &TopicKey) -> u64 {
        let _one_at_a_time = self.catching_up.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let from = self.inner.read().expect("http stats lock").consumed.get(key).copied().unwrap_or(0);
        let app = (key.org.clone(), key.app.clone());
        let mut read = 0;
        self.inner.write().expect("http stats lock").apps.entry(app.clone()).or_default();
        // The lock is taken per record, so queries are not held up by a long catch-up.
        let next = super::follow(store, key, from, |_, ts_ns, payload| {
            read += 1;
            let mut inner = self.inner.write().expect("http stats lock");
            match serde_json::from_slice::<AccessLine>(payload) {
                Ok(line) => {
                    let ts_ms = ts_ns.div_euclid(1_000_000);
                    let buckets = inner.apps.get_mut(&app).expect("made before the records");
                    buckets.entry(ts_ms.div_euclid(BUCKET_MS) * BUCKET_MS).or_default().add(&line);
                }
                Err(_) => inner.unreadable += 1,
            }
        });
        let mut inner = self.inner.write().expect("http stats lock");
        if let Some(buckets) = inner.apps.get_mut(&app) {
            // Minutes past the kept window go, counted back from now (not from
            // the newest line: one line dated years ahead must not empty it).
            let keep_from = crate::clock::now_ns() / 1_000_000 - KEEP_MS;
            while buckets.first_key_value().is_some_and(|(&oldest, _)| oldest < keep_from) {
                buckets.pop_first();
            }
        }
        inner.consumed.insert(key.clone(), next);
        read
    }

    /// The app's statistics over `[from_ms, to_ms)` by `step_ms`, with the
    /// `top` most requested paths.
    pub fn query(
        &self,
        org: &str,
        app: &str,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
        top: usize,
    ) -> Result<HttpStats, HttpStatsError> {
        if step_ms < BUCKET_MS || step_ms % BUCKET_MS != 0 {
            return Err(HttpStatsError::Step(step_ms));
        }
        if from_ms >= to_ms {
            return Err(HttpStatsError::Range);
        }
        let steps = (to_ms - from_ms + step_ms - 1) / step_ms;
        if steps > MAX_STEPS {
            return Err(HttpStatsError::TooManySteps(steps));
        }
        let from_ms = from_ms.div_euclid(step_ms) * step_ms;
        let inner = self.inner.read().expect("http stats lock");
        let mut by_step: BTreeMap<i64, Bucket> = BTreeMap::new();
        let mut total = Bucket::default();
        // Paths and places are counted by reference: nothing is copied
        // per minute, only what the answer lists.
        let mut paths: HashMap<&str, (u64, u64)> = HashMap::new();
        let mut placed: HashMap<&Place, u64> = HashMap::new();
        let minutes = inner.apps.get(&(org.to_string(), app.to_string()));
        for (&ts, bucket) in minutes.into_iter().flat_map(|buckets| buckets.range(from_ms..to_ms)) {
            by_step.entry(ts.div_euclid(step_ms) * step_ms).or_default().merge(bucket);
            total.merge(bucket);
            // No top paths asked (the overview's tiles): none counted.
            for (path, tally) in bucket.paths.iter().filter(|_| top > 0) {
                let counts = paths.entry(path.as_str()).or_default();
                counts.0 += tally.requests;
                counts.1 += tally.server_errors;
            }
            for (place, count) in &bucket.places {
                *placed.entry(place).or_default() += count;
            }
        }
        let mut top_paths: Vec<PathCount> = paths
            .into_iter()
            .map(|(path, (requests, server_errors))| PathCount {
                path: path.to_string(),
                requests,
                server_errors,
                p99_ms: None,
            })
            .collect();
        top_paths.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.path.cmp(&b.path)));
        top_paths.truncate(top);
        // Only the paths listed get their latency: their minutes' sketches merged.
        for listed in &mut top_paths {
            let mut latency = PathTally::default();
            for (_, bucket) in minutes.into_iter().flat_map(|buckets| buckets.range(from_ms..to_ms)) {
                if let Some(tally) = bucket.paths.get(&listed.path) {
                    latency.merge(tally);
                }
            }
            listed.p99_ms = latency.latency_ms.quantile(0.99).ok().flatten();
        }
        let mut places: Vec<PlaceCount> = placed
            .into_iter()
            .map(|(place, requests)| PlaceCount {
                country: place.country.clone(),
                lat: place.lat as f64 + 0.5,
                lon: place.lon as f64 + 0.5,
                requests,
            })
            .collect();
        places.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.country.cmp(&b.country)));
        Ok(HttpStats {
            step_ms,
            steps: by_step.iter().map(|(&ts, bucket)| bucket.summary(ts, step_ms)).collect(),
            total: total.summary(from_ms, to_ms - from_ms),
            top_paths,
            places,
        })
    }

    /// Each minute of `org`'s `app` in `[from_ms, to_ms)` with requests,
    /// oldest first, for the Prometheus-compatible API. Cheap per minute
    /// but for `detail`: paths and places are copied only when asked.
    pub fn minutes(&self, org: &str, app: &str, from_ms: i64, to_ms: i64, detail: bool) -> Vec<Minute> {
        let inner = self.inner.read().expect("http stats lock");
        let Some(buckets) = inner.apps.get(&(org.to_string(), app.to_string())) else { return Vec::new() };
        if from_ms >= to_ms {
            return Vec::new();
        }
        buckets
            .range(from_ms..to_ms)
            .map(|(&ts_ms, bucket)| {
                let step = bucket.summary(ts_ms, BUCKET_MS);
                Minute {
                    ts_ms,
                    requests: bucket.requests,
                    status: bucket.status,
                    bytes_out: bucket.bytes_out,
                    latency_ms: step.latency_ms,
                    paths: if detail {
                        bucket
                            .paths
                            .iter()
                            .map(|(path, tally)| (path.clone(), tally.requests, tally.server_errors))
                            .collect()
                    } else {
                        Vec::new()
                    },
                    places: if detail {
                        bucket
                            .places
                            .iter()
                            .map(|(place, &requests)| PlaceCount {
                                country: place.country.clone(),
                                lat: place.lat as f64 + 0.5,
                                lon: place.lon as f64 + 0.5,
                                requests,
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect()
    }

    /// The apps of `org` the model holds statistics of.
    pub fn apps_of(&self, org: &str) -> Vec<String> {
        let inner = self.inner.read().expect("http stats lock");
        let mut apps: Vec<String> = inner.apps.keys().filter(|(o, _)| o == org).map(|(_, app)| app.clone()).collect();
        apps.sort();
        apps
    }

    /// Access records that could not be read, since start.
    pub fn unreadable(&self) -> u64 {
        self.inner.read().expect("http stats lock").unreadable
    }
}
