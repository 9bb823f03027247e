//! statsd ingest over UDP: the line protocol ([`parse`]), the
//! per-interval aggregation of its samples into points ([`aggregate`]), and
//! the sockets ([`listener`]).
//!
//! A line is tied to an app by two DogStatsD tags, which clients send as
//! constant tags on every line: `vigie_app:SLUG` names the app and
//! `vigie_token:vgt_…` carries an ingest token of the app's org. A line
//! without them, with an unknown or revoked token, a token without the
//! ingest permission, or an app its org does not have is dropped, so no
//! one can write into another org's metrics. Neither tag becomes part of a
//! series. statsd has no answer channel: each dropped line is counted by
//! reason at `/metrics` and logged at most every few seconds, and never
//! costs the valid lines of its datagram.
//!
//! Every flush interval (10 s by default, aligned to the clock) the
//! interval's points are appended to each app's metric topic, one record
//! per app, then the time-series read model catches up with those topics.

pub mod aggregate;
pub mod listener;
pub mod parse;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use self::aggregate::Aggregator;
use self::parse::{lines, parse_line, Malformed};
use crate::catalog::Catalog;
use crate::ingest::routes::{IngestRoutes, Refusal, Verdict};
use crate::metrics::point::{MetricPoint, PointsRecord};
use crate::metrics::series::SeriesModel;
use crate::store::{Store, StoreError, TopicKey};

/// Picks a series' aggregator from its name; the same for every process.
const SHARD_HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x5eed);

/// The tag naming a line's app.
pub const APP_TAG: &str = "vigie_app";
/// The tag carrying a line's ingest token.
pub const TOKEN_TAG: &str = "vigie_token";

/// Why a line was not aggregated, besides being malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Malformed(Malformed),
    NoApp,
    NoToken,
    Route(Refusal),
    /// The app has as many series as it may.
    TooManySeries,
}

const REFUSED: [(&str, &str); 4] = [
    ("no_app_tag", "tag every line with vigie_app:SLUG (a constant tag of the client)"),
    ("no_token_tag", "tag every line with vigie_token:vgt_… (an ingest token of the app's org)"),
    ("unknown_or_revoked_token", "the token is unknown or revoked: create one with `vigie tokens create`"),
    ("token_may_not_ingest", "use a token with the ingest permission"),
];

impl Refused {
    /// The label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Malformed(malformed) => malformed.as_str(),
            Refused::NoApp => REFUSED[0].0,
            Refused::NoToken => REFUSED[1].0,
            Refused::Route(Refusal::BadToken) => REFUSED[2].0,
            Refused::Route(Refusal::NotAllowed) => REFUSED[3].0,
            Refused::Route(Refusal::UnknownApp) => "unknown_app",
            Refused::TooManySeries => "too_many_series",
        }
    }

    fn advice(self) -> &'static str {
        match self {
            Refused::Malformed(_) => "send NAME:VALUE|TYPE[|@RATE][|#TAGS], TYPE one of c, g, ms, h, d, s",
            Refused::NoApp => REFUSED[0].1,
            Refused::NoToken => REFUSED[1].1,
            Refused::Route(Refusal::BadToken) => REFUSED[2].1,
            Refused::Route(Refusal::NotAllowed) => REFUSED[3].1,
            Refused::Route(Refusal::UnknownApp) => "the token's org has no app by that vigie_app slug",
            Refused::TooManySeries => {
                "the app has as many series as it may (--statsd-max-series-per-app): fewer tag values, or wait for idle series to go"
            }
        }
    }

    /// Every reason, in the order of `/metrics`.
    fn all() -> impl Iterator<Item = Refused> {
        Malformed::ALL.into_iter().map(Refused::Malformed).chain([
            Refused::NoApp,
            Refused::NoToken,
            Refused::Route(Refusal::BadToken),
            Refused::Route(Refusal::NotAllowed),
            Refused::Route(Refusal::UnknownApp),
            Refused::TooManySeries,
        ])
    }
}

/// What statsd ingest did since start.
#[derive(Debug, Default)]
pub struct StatsdCounters {
    pub datagrams: AtomicU64,
    /// Lines aggregated.
    pub samples: AtomicU64,
    /// Points appended to metric topics.
    pub points: AtomicU64,
    /// Intervals ended (flushed), with points or not.
    pub flushes: AtomicU64,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    last_warned: Mutex<Option<Instant>>,
    /// Where `/proc/net/udp` counts the sockets' drops (their port).
    pub port: AtomicU64,
}

impl StatsdCounters {
    pub fn refused(&self, label: &str) -> u64 {
        self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(label).copied().unwrap_or(0)
    }

    fn count_refused(&self, reason: Refused, count: u64) {
        let total = {
            let mut refused = self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let total = refused.entry(reason.as_str()).or_default();
            *total += count;
            *total
        };
        let mut last = self.last_warned.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_none_or(|at| at.elapsed() > Duration::from_secs(5)) {
            *last = Some(Instant::now());
            tracing::warn!(reason = reason.as_str(), total, "statsd line dropped: {}", reason.advice());
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let port = self.port.load(Ordering::Relaxed);
        if port == 0 {
            return; // no statsd listener
        }
        let _ = writeln!(out, "# HELP vigie_statsd_datagrams_total statsd datagrams read.");
        let _ = writeln!(out, "# TYPE vigie_statsd_datagrams_total counter");
        let _ = writeln!(out, "vigie_statsd_datagrams_total {}", self.datagrams.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP vigie_statsd_lines_total statsd lines, by outcome.");
        let _ = writeln!(out, "# TYPE vigie_statsd_lines_total counter");
        let _ = writeln!(
            out,
            "vigie_statsd_lines_total{{outcome=\"aggregated\"}} {}",
            self.samples.load(Ordering::Relaxed)
        );
        for reason in Refused::all() {
            let label = reason.as_str();
            let _ = writeln!(
                out,
                "vigie_statsd_lines_total{{outcome=\"dropped\",reason=\"{label}\"}} {}",
                self.refused(label)
            );
        }
        let _ = writeln!(out, "# HELP vigie_statsd_points_total Points appended to metric topics.");
        let _ = writeln!(out, "# TYPE vigie_statsd_points_total counter");
        let _ = writeln!(out, "vigie_statsd_points_total {}", self.points.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP vigie_statsd_flushes_total Intervals ended, with points or not.");
        let _ = writeln!(out, "# TYPE vigie_statsd_flushes_total counter");
        let _ = writeln!(out, "vigie_statsd_flushes_total {}", self.flushes.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "# HELP vigie_statsd_socket_drops_total Datagrams the kernel dropped, its receive buffer full."
        );
        let _ = writeln!(out, "# TYPE vigie_statsd_socket_drops_total counter");
        let _ = writeln!(out, "vigie_statsd_socket_drops_total {}", listener::socket_drops(port as u16));
    }
}

/// Shared by the statsd sockets and the flush task.
pub struct StatsdIngest {
    pub store: Store,
    pub series: SeriesModel,
    pub counters: Arc<StatsdCounters>,
    /// In a cluster, where points go instead of the local store.
    pub cluster: Option<crate::cluster::Cluster>,
    routes: IngestRoutes,
    /// Series spread by name over several aggregators, so the sockets'
    /// threads seldom wait for one another.
    shards: Box<[Mutex<Aggregator>]>,
    /// Series an app may have at once: one app's tag values cannot take
    /// every other app's memory.
    max_series_per_app: usize,
    /// Series per (org, app), over every shard; locked after a shard, never before.
    series_per_app: Mutex<HashMap<(String, String), usize>>,
}

/// Aggregators per ingest: a few per core.
const SHARDS: usize = 16;

impl StatsdIngest {
    pub fn new(
        store: Store,
        catalog: Catalog,
        series: SeriesModel,
        counters: Arc<StatsdCounters>,
        max_series_per_app: usize,
    ) -> StatsdIngest {
        StatsdIngest {
            store,
            series,
            counters,
            cluster: None,
            routes: IngestRoutes::new(catalog),
            shards: (0..SHARDS).map(|_| Mutex::new(Aggregator::default())).collect(),
            max_series_per_app,
            series_per_app: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a new series of `org`'s `app`, if it may have one more.
    fn admit_series(&self, org: &str, app: &str) -> bool {
        let mut counts = self.series_per_app.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry((org.to_string(), app.to_string())).or_default();
        if *count >= self.max_series_per_app {
            return false;
        }
        *count += 1;
        true
    }

    /// Reads one datagram's lines into the current interval. `recent` keeps
    /// the last verdicts of the calling socket, so the shared cache is asked
    /// once per sender and app, not once per line.
    pub fn add_datagram(&self, datagram: &[u8], recent: &mut RecentRoutes) {
        self.counters.datagrams.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut aggregated = 0;
        for line in lines(datagram) {
            let sample = match parse_line(line) {
                Ok(sample) => sample,
                Err(malformed) => {
                    self.counters.count_refused(Refused::Malformed(malformed), 1);
                    continue;
                }
            };
            let (org, app) = match self.route(&sample, recent, now) {
                Ok(route) => route,
                Err(refused) => {
                    self.counters.count_refused(refused, 1);
                    continue;
                }
            };
            let shard = SHARD_HASH.hash_one(sample.name) as usize % SHARDS;
            let mut aggregator = self.shards[shard].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if !aggregator.add_if(org, app, &sample, &[APP_TAG, TOKEN_TAG], || self.admit_series(org, app)) {
                self.counters.count_refused(Refused::TooManySeries, 1);
                continue;
            }
            aggregated += 1;
        }
        self.counters.samples.fetch_add(aggregated, Ordering::Relaxed);
    }

    /// The org and app of a line, or why it may not be stored.
    fn route<'r, 's>(
        &self,
        sample: &parse::Sample<'s>,
        recent: &'r mut RecentRoutes,
        now: Instant,
    ) -> Result<(&'r str, &'s str), Refused> {
        let (mut app, mut token) = ("", "");
        for (name, value) in sample.tags.iter() {
            match name {
                APP_TAG => app = value,
                TOKEN_TAG => token = value,
                _ => {}
            }
        }
        if app.is_empty() {
            return Err(Refused::NoApp);
        }
        if token.is_empty() {
            return Err(Refused::NoToken);
        }
        let fresh = |asked: &Instant| now.saturating_duration_since(*asked) < RECENT_TTL;
        let index = match recent.0.iter().position(|(t, a, _, asked)| t == token && a == app && fresh(asked)) {
            Some(index) => index,
            None => {
                if recent.0.len() >= 64 {
                    recent.0.clear();
                }
                recent.0.retain(|(t, a, _, _)| !(t == token && a == app));
                recent.0.push((token.to_string(), app.to_string(), self.routes.route(token, app), now));
                recent.0.len() - 1
            }
        };
        match &recent.0[index].2 {
            Ok(org) => Ok((org.as_str(), app)),
            Err(refusal) => Err(Refused::Route(*refusal)),
        }
    }

    /// Ends the interval that started at `start_ns` and lasted `interval`:
    /// appends its points to the apps' metric topics, then brings the read
    /// model up to date with them. Blocking.
    pub fn flush(&self, start_ns: i64, interval: Duration) -> Result<usize, StoreError> {
        // Shard by shard, and at most RECORD_POINTS points a record, so a
        // flush of many series never holds them all at once in any form.
        let mut appended = 0;
        let mut touched = std::collections::BTreeSet::new();
        for shard in &self.shards {
            let (points, forgotten) = {
                let mut aggregator = shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                (aggregator.flush(start_ns, interval.as_secs_f64()), aggregator.take_forgotten())
            };
            if !forgotten.is_empty() {
                let mut counts = self.series_per_app.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                for app in forgotten {
                    if let Some(count) = counts.get_mut(&app) {
                        *count = count.saturating_sub(1);
                    }
                }
            }
            let mut by_app: BTreeMap<(&str, &str), Vec<MetricPoint>> = BTreeMap::new();
            for point in &points {
                if let Some(metric_point) = MetricPoint::from_statsd(point) {
                    by_app.entry((&point.key.org, &point.key.app)).or_default().push(metric_point);
                }
            }
            for ((org, app), mut points) in by_app {
                let key = TopicKey::metrics(org, app);
                while !points.is_empty() {
                    let rest = points.split_off(points.len().min(RECORD_POINTS));
                    let count = points.len();
                    let record = PointsRecord { interval_s: interval.as_secs_f64(), points };
                    let payload = serde_json::to_string(&record).expect("points serialise");
                    match &self.cluster {
                        None => {
                            self.store.append_batch(&key, vec![(start_ns, payload)])?;
                        }
                        Some(cluster) => {
                            cluster.append_blocking(&key, vec![(start_ns, payload)])?;
                        }
                    }
                    self.counters.points.fetch_add(count as u64, Ordering::Relaxed);
                    appended += count;
                    points = rest;
                }
                touched.insert(key);
            }
        }
        for key in touched {
            self.series.catch_up(&self.store, &key);
        }
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(appended)
    }
}

/// Most points one metric-topic record holds.
const RECORD_POINTS: usize = 2_000;

/// How long a socket believes the verdicts it saw.
const RECENT_TTL: Duration = Duration::from_secs(1);

/// The last verdicts one socket saw, believed for [`RECENT_TTL`]: (token,
/// app, verdict, when asked).
#[derive(Default)]
pub struct RecentRoutes(Vec<(String, String, Verdict, Instant)>);
