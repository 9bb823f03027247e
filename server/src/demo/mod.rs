//! Demo traffic: an organisation with a web API, a frontend, a background
//! worker and a PostgreSQL add-on, all logging as real ones do (JSON lines,
//! plain text, multi-line stack traces, the odd burst), and HTTP access logs
//! with a realistic status mix, long-tailed latencies and clients from many
//! countries. The same seed gives the same sequence of lines.

mod access;
mod service;

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use vigie_app::model::{AppKind, LogKind};

use crate::catalog::{App, Catalog, CatalogError, Org};
use crate::clock::now_ns;
use crate::ingest::instances::{self, InstanceReport};
use crate::shutdown::ShutdownSignal;
use crate::store::{Store, StoreError, TopicKey};

pub const DEMO_ORG: &str = "demo";

/// How much demo traffic to make.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    pub seed: u64,
    /// Service log lines per second, over all apps.
    pub lines_per_sec: f64,
    /// HTTP requests per second, over the apps that serve HTTP.
    pub requests_per_sec: f64,
    /// History written at start, so the console is not empty.
    pub backfill: Duration,
}

impl Default for DemoConfig {
    fn default() -> DemoConfig {
        DemoConfig { seed: 42, lines_per_sec: 20.0, requests_per_sec: 30.0, backfill: Duration::from_secs(600) }
    }
}

/// The apps of the demo org and what each one logs like.
fn demo_apps() -> Vec<(App, service::Voice, bool)> {
    let app = |slug: &str, name: &str, kind, runtime: &str| App {
        slug: slug.into(),
        name: name.into(),
        kind,
        runtime: runtime.into(),
    };
    vec![
        (app("api", "Orders API", AppKind::Application, "Rust"), service::Voice::RustApi, true),
        (app("web", "Storefront", AppKind::Application, "Node.js"), service::Voice::NodeWeb, true),
        (app("worker", "Billing worker", AppKind::Application, "Python"), service::Voice::PythonWorker, false),
        (app("pg-main", "Main database", AppKind::Addon, "PostgreSQL 16"), service::Voice::Postgres, false),
    ]
}

/// Registers the demo org in the catalog.
pub fn install_org(catalog: &Catalog) -> Result<(), CatalogError> {
    catalog.put_org(&Org {
        slug: DEMO_ORG.into(),
        name: "Acme Demo".into(),
        apps: demo_apps().into_iter().map(|(app, _, _)| app).collect(),
    })
}

/// Writes the backfill, then keeps producing traffic until shutdown.
pub async fn run(store: Store, config: DemoConfig, shutdown: ShutdownSignal) -> Result<(), StoreError> {
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let apps = demo_apps();
    let tick = Duration::from_millis(100);

    let now = now_ns();
    let backfill_ns = config.backfill.as_nanos() as i64;
    let ticks = (config.backfill.as_millis() / tick.as_millis()) as i64;
    if store.next_offset(&TopicKey::new(DEMO_ORG, &apps[0].0.slug, LogKind::Service)) == 0 {
        let mut batches = Batches::default();
        for step in 0..ticks {
            let at = now - backfill_ns + step * tick.as_nanos() as i64;
            produce_tick(&mut rng, &apps, &config, tick, at, &mut batches);
        }
        let mut instances = Instances::new(config.seed, &apps);
        let mut at_ms = (now - backfill_ns) / 1_000_000;
        while at_ms < now / 1_000_000 {
            instances.report(at_ms, &mut batches);
            at_ms += INSTANCE_REPORT.as_millis() as i64;
        }
        batches.flush(&store)?;
        tracing::info!(seconds = config.backfill.as_secs(), "demo history written");
    }
    let mut instances = Instances::new(config.seed.wrapping_add(1), &apps);
    let every_ms = INSTANCE_REPORT.as_millis() as i64;
    let mut next_report_ms = (now / 1_000_000).div_euclid(every_ms) * every_ms + every_ms;

    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = shutdown.fired();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = interval.tick() => {}
        }
        let mut batches = Batches::default();
        let at = now_ns();
        produce_tick(&mut rng, &apps, &config, tick, at, &mut batches);
        if at / 1_000_000 >= next_report_ms {
            instances.report(at / 1_000_000, &mut batches);
            next_report_ms = (at / 1_000_000).div_euclid(every_ms) * every_ms + every_ms;
        }
        let store = store.clone();
        tokio::task::spawn_blocking(move || batches.flush(&store)).await.expect("demo flush task")?;
    }
}

/// How often the demo's instances report their server metrics.
const INSTANCE_REPORT: Duration = Duration::from_secs(10);

/// The demo apps' instances (two each) and their server metrics: CPU and
/// memory wander, network follows a daily wave, disk is mostly quiet.
struct Instances {
    rng: SmallRng,
    /// (app, instance, cpu %, memory used bytes, memory limit bytes)
    running: Vec<(String, String, f64, f64, f64)>,
}

impl Instances {
    fn new(seed: u64, apps: &[(App, service::Voice, bool)]) -> Instances {
        let mut running = Vec::new();
        for (app, _, _) in apps {
            for n in 1..=2 {
                let limit = if app.kind == AppKind::Addon { 4.0 } else { 1.0 } * 1024.0 * 1024.0 * 1024.0;
                running.push((app.slug.clone(), format!("{}-{n}", app.slug), 20.0, limit * 0.4, limit));
            }
        }
        Instances { rng: SmallRng::seed_from_u64(seed ^ 0x006d_6574_7269_6373), running }
    }

    fn report(&mut self, at_ms: i64, batches: &mut Batches) {
        let daily = ((at_ms as f64 / 86_400_000.0) * std::f64::consts::TAU).sin();
        let mut by_app: Vec<(String, Vec<InstanceReport>)> = Vec::new();
        for (app, instance, cpu, memory, limit) in &mut self.running {
            *cpu = (*cpu + self.rng.random_range(-4.0..4.0) + (25.0 + 15.0 * daily - *cpu) * 0.1).clamp(1.0, 95.0);
            *memory = (*memory + self.rng.random_range(-1.0..1.0) * 4e6).clamp(*limit * 0.2, *limit * 0.9);
            let requests = (40.0 + 30.0 * daily) * self.rng.random_range(0.8..1.2);
            let report = InstanceReport {
                instance: instance.clone(),
                ts_ms: Some(at_ms),
                cpu_percent: (*cpu * 10.0).round() / 10.0,
                memory_used_bytes: (*memory / 4096.0).round() * 4096.0,
                memory_limit_bytes: *limit,
                net_in_bytes: (requests * 900.0).round(),
                net_out_bytes: (requests * 14_000.0).round(),
                disk_read_bytes: if self.rng.random_bool(0.1) {
                    4096.0 * self.rng.random_range(1..64) as f64
                } else {
                    0.0
                },
                disk_write_bytes: 4096.0 * self.rng.random_range(0..8) as f64,
                host_cpu_percent: None,
            };
            match by_app.iter_mut().find(|(slug, _)| slug == app) {
                Some((_, reports)) => reports.push(report),
                None => by_app.push((app.clone(), vec![report])),
            }
        }
        for (app, reports) in by_app {
            for (ts_ns, payload) in instances::records(&reports, at_ms) {
                batches.push(TopicKey::metrics(DEMO_ORG, &app), ts_ns, payload);
            }
        }
    }
}

/// Records waiting to be appended, per topic.
#[derive(Default)]
struct Batches(Vec<(TopicKey, Vec<(i64, String)>)>);

impl Batches {
    fn push(&mut self, key: TopicKey, ts_ns: i64, payload: String) {
        match self.0.iter_mut().find(|(known, _)| *known == key) {
            Some((_, records)) => records.push((ts_ns, payload)),
            None => self.0.push((key, vec![(ts_ns, payload)])),
        }
    }

    fn flush(self, store: &Store) -> Result<(), StoreError> {
        for (key, mut records) in self.0 {
            records.sort_by_key(|(ts_ns, _)| *ts_ns);
            store.append_batch(&key, records)?;
        }
        Ok(())
    }
}

/// One tick's worth of lines and requests, spread over `[at, at + tick)`.
fn produce_tick(
    rng: &mut SmallRng,
    apps: &[(App, service::Voice, bool)],
    config: &DemoConfig,
    tick: Duration,
    at: i64,
    batches: &mut Batches,
) {
    let tick_ns = tick.as_nanos() as i64;
    let seconds = tick.as_secs_f64();
    // About once a minute an app has a burst: ten times its usual rate.
    let burst = rng.random_bool((seconds / 60.0).min(1.0)).then(|| rng.random_range(0..apps.len()));
    for (index, (app, voice, serves_http)) in apps.iter().enumerate() {
        let mut expected = config.lines_per_sec * seconds * voice.share();
        if burst == Some(index) {
            expected *= 10.0;
        }
        for _ in 0..poisson(rng, expected) {
            let line = voice.line(rng);
            let ts_ns = at + rng.random_range(0..tick_ns);
            let payload = serde_json::to_string(&line).expect("service line serialises");
            batches.push(TopicKey::new(DEMO_ORG, &app.slug, LogKind::Service), ts_ns, payload);
        }
        if *serves_http {
            let expected = config.requests_per_sec * seconds / 2.0;
            for _ in 0..poisson(rng, expected) {
                let request = access::request(rng, &app.slug);
                let ts_ns = at + rng.random_range(0..tick_ns);
                let payload = serde_json::to_string(&request).expect("access line serialises");
                batches.push(TopicKey::new(DEMO_ORG, &app.slug, LogKind::Access), ts_ns, payload);
            }
        }
    }
}

/// `count` demo records of one kind as stored payloads (JSON), with their
/// times one millisecond apart: realistic input for benchmarks.
pub fn sample_payloads(kind: LogKind, count: usize, seed: u64) -> Vec<(i64, String)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let apps = demo_apps();
    let start = 1_795_525_509_000_000_000;
    (0..count)
        .map(|i| {
            let (app, voice, _) = &apps[i % 2];
            let payload = match kind {
                LogKind::Access => serde_json::to_string(&access::request(&mut rng, &app.slug)),
                _ => serde_json::to_string(&voice.line(&mut rng)),
            };
            (start + i as i64 * 1_000_000, payload.expect("demo records serialise"))
        })
        .collect()
}

/// A Poisson-distributed count with mean `mean` (Knuth's method; means here
/// are small).
fn poisson(rng: &mut SmallRng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 50.0 {
        let normal: f64 = rand_distr::Distribution::sample(&rand_distr::Normal::new(mean, mean.sqrt()).unwrap(), rng);
        return normal.max(0.0).round() as u32;
    }
    let limit = (-mean).exp();
    let (mut count, mut product) = (0, rng.random::<f64>());
    while product > limit {
        count += 1;
        product *= rng.random::<f64>();
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_lines() {
        let config = DemoConfig::default();
        let render = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut batches = Batches::default();
            for step in 0..50 {
                produce_tick(
                    &mut rng,
                    &demo_apps(),
                    &config,
                    Duration::from_millis(100),
                    step * 100_000_000,
                    &mut batches,
                );
            }
            batches.0
        };
        assert_eq!(render(7), render(7));
        assert_ne!(render(7), render(8));
    }

    #[test]
    fn a_minute_of_demo_has_every_app_logging_and_some_errors() {
        let config = DemoConfig::default();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut batches = Batches::default();
        for step in 0..600 {
            produce_tick(&mut rng, &demo_apps(), &config, Duration::from_millis(100), step * 100_000_000, &mut batches);
        }
        let service: Vec<_> = batches.0.iter().filter(|(key, _)| key.kind == LogKind::Service).collect();
        assert_eq!(service.len(), 4, "every app logs");
        let lines: usize = service.iter().map(|(_, records)| records.len()).sum();
        assert!((600..2_400).contains(&lines), "about 20 lines/s for 60 s, got {lines}");
        let all: String = service.iter().flat_map(|(_, records)| records.iter().map(|(_, p)| p.as_str())).collect();
        assert!(all.contains("\"level\":\"error\""));
        assert!(all.contains("\\n"), "some messages span several lines");
        let access: Vec<_> = batches.0.iter().filter(|(key, _)| key.kind == LogKind::Access).collect();
        assert_eq!(access.len(), 2, "the API and the storefront serve HTTP");
    }
}
