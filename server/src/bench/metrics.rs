//! `vigie bench metrics`: the metrics pipeline, measured where users feel
//! it and printed as a Markdown table:
//!
//! - statsd ingest: a `vigie serve` child process on loopback, datagrams of
//!   10 lines sent at rising paces for a few seconds each; for each pace,
//!   the lines the server aggregated per second, the datagrams the kernel
//!   dropped and the server's CPU;
//! - 100,000 active series: the same child's RSS once it holds them;
//! - storage: regular 10 s series of each type, a day of them, through the
//!   read model; bytes of compressed raw chunks per point;
//! - the Stats API: an in-process server whose read model holds 24 h of one
//!   series and 30 days of 100, queried over HTTP; latency percentiles.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::api::Server;
use super::{group, print_table, Row, Scratch};
use crate::ingest::statsd::aggregate::significant;
use crate::metrics::point::{MetricPoint, MetricType, PointsRecord};
use crate::metrics::series::{SeriesModel, SeriesRetention};

#[derive(clap::Args, Debug)]
pub struct MetricsBenchConfig {
    /// Where the server's scratch data directory goes.
    #[arg(long, default_value = "./data/bench")]
    pub dir: PathBuf,
    /// statsd paces to try, in lines per second.
    #[arg(long, default_value = "250000,500000,1000000,1500000,2000000", value_delimiter = ',')]
    pub paces: Vec<u64>,
    /// Seconds each pace lasts.
    #[arg(long, default_value_t = 4)]
    pub pace_secs: u64,
    /// Sending threads.
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// Distinct series the paced lines spread over.
    #[arg(long, default_value_t = 10_000)]
    pub series: usize,
    /// Active series for the memory case.
    #[arg(long, default_value_t = 100_000)]
    pub active_series: usize,
    /// Which cases to run: storage, api, statsd.
    #[arg(long, default_value = "storage,api,statsd", value_delimiter = ',')]
    pub cases: Vec<String>,
    /// Queries per Stats API case.
    #[arg(long, default_value_t = 2_000)]
    pub queries: usize,
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub async fn run(config: MetricsBenchConfig) -> BenchResult<()> {
    let mut rows = Vec::new();
    let case = |name: &str| config.cases.iter().any(|case| case == name);
    if case("storage") {
        storage(&config, &mut rows)?;
    }
    if case("api") {
        stats_api(&config, &mut rows).await?;
    }
    if case("statsd") {
        statsd(&config, &mut rows).await?;
    }
    print_table(&rows);
    Ok(())
}

/// A value generator per type, shaped like what apps send.
struct Shapes {
    seed: u64,
}

impl Shapes {
    fn next(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    /// 0..1
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Values of interval `i` of series `s` of a type.
    fn values(&mut self, kind: MetricType, s: usize, i: i64) -> Vec<f64> {
        let daily = ((i as f64 / 8_640.0) * std::f64::consts::TAU).sin();
        match kind {
            // Requests in 10 s: a daily wave and noise, whole numbers.
            MetricType::Counter => vec![(200.0 + 150.0 * daily + 40.0 * self.unit()).round()],
            // Memory in bytes that moves by pages now and then, or a CPU % to one decimal.
            MetricType::Gauge if s.is_multiple_of(2) => {
                let pages = if self.unit() < 0.2 { (self.unit() * 64.0) as i64 } else { 0 };
                vec![(512 * 1024 * 1024 + (s as i64 + pages + i / 360) * 4096) as f64]
            }
            MetricType::Gauge => vec![((35.0 + 20.0 * daily + 5.0 * self.unit()) * 10.0).round() / 10.0],
            // Timings in ms to a tenth: whole counts, a sum that is any float,
            // min and max as sent, percentiles as the aggregator keeps them.
            _ => {
                let count = (100.0 + 80.0 * daily + 10.0 * self.unit()).round();
                let p50 = 20.0 + 5.0 * self.unit();
                let tenth = |value: f64| (value * 10.0).round() / 10.0;
                let p = |value: f64| significant(value, 4);
                vec![
                    count,
                    count * p50 * 1.2,
                    tenth(1.0 + self.unit()),
                    tenth(300.0 + 200.0 * self.unit()),
                    p(p50),
                    p(p50 * 3.0 + self.unit()),
                    p(p50 * 6.0 + 10.0 * self.unit()),
                ]
            }
        }
    }
}

fn storage(config: &MetricsBenchConfig, rows: &mut Vec<Row>) -> BenchResult<()> {
    const SERIES: usize = 100;
    const DAY: i64 = 8_640;
    // A day ending now: retention counts back from now.
    let t0 = (crate::clock::now_ns() / 1_000_000 - DAY * 10_000) / 3_600_000 * 3_600_000;
    for kind in [MetricType::Counter, MetricType::Gauge, MetricType::Timer] {
        let model = SeriesModel::new(SeriesRetention::default());
        let mut shapes = Shapes { seed: 7 };
        // [series][interval] → values, kept to give Prometheus the same points.
        let mut sent: Vec<Vec<Vec<f64>>> = (0..SERIES).map(|_| Vec::with_capacity(DAY as usize)).collect();
        for i in 0..DAY {
            let points = (0..SERIES)
                .map(|s| {
                    let values = shapes.values(kind, s, i);
                    sent[s].push(values.clone());
                    MetricPoint { name: "m".into(), tags: [("host".to_string(), format!("h{s}"))].into(), kind, values }
                })
                .collect();
            model.apply("bench", "api", t0 + i * 10_000, PointsRecord { interval_s: 10.0, points });
        }
        let counts = model.counts();
        let per_point = counts.raw_bytes as f64 / counts.raw_points as f64;
        let fields = kind.fields().len();
        let prometheus = match prometheus_bytes_per_value(config, kind, t0, &sent) {
            Ok(Some(bytes)) => format!("; Prometheus's TSDB (promtool 2.42 blocks, chunks only): {bytes:.2} per value"),
            Ok(None) => "; promtool not found, no Prometheus figure".into(),
            Err(error) => format!("; promtool failed: {error}"),
        };
        rows.push(Row {
            what: format!(
                "storage of regular 10 s {} series ({SERIES} series × 1 day, {} value{} a point), raw chunks (Gorilla, or scaled decimals where smaller)",
                kind.as_str(),
                fields,
                if fields == 1 { "" } else { "s" }
            ),
            figure: format!("{per_point:.2} bytes/point ({:.2} per value){prometheus}", per_point / fields as f64),
            target: "≤ 1.5 bytes/point",
        });
    }
    Ok(())
}

/// The same points as OpenMetrics text, one series per value (as
/// Prometheus keeps a summary), made into TSDB blocks by `promtool`; the
/// bytes of the blocks' chunk files per value. `None` without promtool.
fn prometheus_bytes_per_value(
    config: &MetricsBenchConfig,
    kind: MetricType,
    t0_ms: i64,
    sent: &[Vec<Vec<f64>>],
) -> BenchResult<Option<f64>> {
    use std::fmt::Write as _;
    if std::process::Command::new("promtool").arg("--version").output().is_err() {
        return Ok(None);
    }
    let scratch = Scratch::new(&config.dir)?;
    let mut text = String::new();
    let mut values = 0u64;
    for (field_index, field) in kind.fields().iter().enumerate() {
        let family = format!("m_{field}");
        let _ = writeln!(text, "# TYPE {family} gauge");
        for (s, intervals) in sent.iter().enumerate() {
            for (i, point) in intervals.iter().enumerate() {
                let ts_ms = t0_ms + i as i64 * 10_000;
                let _ = writeln!(
                    text,
                    "{family}{{host=\"h{s}\"}} {:?} {}.{:03}",
                    point[field_index],
                    ts_ms / 1000,
                    ts_ms % 1000
                );
                values += 1;
            }
        }
    }
    text.push_str("# EOF\n");
    let input = scratch.0.join("points.om");
    std::fs::write(&input, text)?;
    let blocks = scratch.0.join("blocks");
    let output = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(&input)
        .arg(&blocks)
        .output()?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string().into());
    }
    let mut chunk_bytes = 0;
    for block in std::fs::read_dir(&blocks)? {
        chunk_bytes += dir_bytes(&block?.path().join("chunks"));
    }
    Ok(Some(chunk_bytes as f64 / values as f64))
}

async fn stats_api(config: &MetricsBenchConfig, rows: &mut Vec<Row>) -> BenchResult<()> {
    let scratch = Scratch::new(&config.dir).map_err(|error| format!("{}: {error}", config.dir.display()))?;
    let server = crate::start(crate::ServeConfig {
        grafana: None,
        listen: "127.0.0.1:0".parse()?,
        data_dir: scratch.0.clone(),
        site_root: scratch.0.join("site"),
        demo: None,
        store: Default::default(),
        geoip: crate::GeoIpSource::None,
        ingest: Default::default(),
        syslog_tcp: None,
        syslog_udp: None,
        statsd: None,
        drains: Default::default(),
    })
    .await?;
    let (_, token) = server.catalog.create_token(
        &server.welcome.admin.as_ref().ok_or("no admin org")?.org,
        "bench",
        crate::catalog::Permissions::ALL,
        "bench",
    )?;
    let org = server.welcome.admin.as_ref().ok_or("no admin org")?.org.clone();
    let now_ms = crate::clock::now_ns() / 1_000_000;
    let start_ms = (now_ms - 30 * 86_400_000) / 10_000 * 10_000;
    let mut shapes = Shapes { seed: 11 };
    let filled = Instant::now();
    let mut i = 0;
    let mut ts = start_ms;
    while ts < now_ms {
        let mut points: Vec<MetricPoint> = (0..100)
            .map(|s| MetricPoint {
                name: "cpu".into(),
                tags: [("host".to_string(), format!("h{s:03}"))].into(),
                kind: MetricType::Gauge,
                values: shapes.values(MetricType::Gauge, 1, i),
            })
            .collect();
        if now_ms - ts <= 86_400_000 {
            points.push(MetricPoint {
                name: "requests".into(),
                tags: Default::default(),
                kind: MetricType::Counter,
                values: shapes.values(MetricType::Counter, 0, i),
            });
        }
        server.series.apply(&org, "api", ts, PointsRecord { interval_s: 10.0, points });
        ts += 10_000;
        i += 1;
    }
    println!(
        "read model filled: {} raw points kept in {:.1} s",
        group(server.series.counts().raw_points as f64),
        filled.elapsed().as_secs_f64()
    );
    let app = crate::catalog::App {
        slug: "api".into(),
        name: "api".into(),
        kind: vigie_app::model::AppKind::Application,
        runtime: "bench".into(),
    };
    server.catalog.create_app(&org, &app)?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
    let http = reqwest::Client::builder().default_headers(headers).build()?;
    let base = format!("http://{}/api/v1/orgs/{org}/apps/api/metrics", server.addr);
    for (what, url, target) in [
        (
            "Stats API: 24 h of one series at 1 min step (1,440 points)",
            format!("{base}/requests?from=24h&step=1m&aggregation=rate"),
            "p99 < 5 ms",
        ),
        (
            "Stats API: 30 days of 100 series at 1 h step, one answer series per host (72,000 points)",
            format!("{base}/cpu?from=30d&step=1h&aggregation=avg&group_by=host"),
            "p99 < 50 ms",
        ),
    ] {
        let first: serde_json::Value = http.get(&url).send().await?.json().await?;
        let points: usize = first["series"]
            .as_array()
            .map_or(0, |series| series.iter().map(|s| s["points"].as_array().map_or(0, Vec::len)).sum());
        let mut latencies = Vec::with_capacity(config.queries);
        for _ in 0..config.queries {
            let started = Instant::now();
            let response = http.get(&url).send().await?;
            if !response.status().is_success() {
                return Err(format!("{url}: {}", response.text().await?).into());
            }
            response.bytes().await?;
            latencies.push(started.elapsed().as_secs_f64() * 1_000.0);
        }
        latencies.sort_by(f64::total_cmp);
        let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        rows.push(Row {
            what: format!("{what}, {} queries, one client", config.queries),
            figure: format!(
                "p50 {:.2} ms, p99 {:.2} ms ({points} points, {} resolution)",
                at(0.5),
                at(0.99),
                first["resolution_ms"]
            ),
            target,
        });
    }
    server.stop().await;
    Ok(())
}

/// Datagrams of 10 lines over `series` series, each line tagged as statsd
/// clients tag with constant tags.
fn datagrams(series: usize, token: &str, count: usize) -> Vec<Vec<u8>> {
    let kinds = ["c", "ms", "g", "c", "h", "c", "ms", "c", "g", "d"];
    let mut line = 0usize;
    (0..count)
        .map(|_| {
            let mut datagram = String::new();
            for _ in 0..10 {
                let s = line % series;
                let kind = kinds[line % kinds.len()];
                datagram.push_str(&format!(
                    "bench.m{}:{}|{kind}|#host:h{},vigie_app:statsd,vigie_token:{token}\n",
                    s % 100,
                    line % 997,
                    s / 100
                ));
                line += 1;
            }
            datagram.pop();
            datagram.into_bytes()
        })
        .collect()
}

async fn own_counter(server: &Server, line_start: &str) -> BenchResult<u64> {
    let text = server.http.get(format!("{}/metrics", server.base)).send().await?.text().await?;
    Ok(text.lines().find_map(|line| line.strip_prefix(line_start)?.trim().parse().ok()).unwrap_or(0))
}

async fn statsd(config: &MetricsBenchConfig, rows: &mut Vec<Row>) -> BenchResult<()> {
    let scratch = Scratch::new(&config.dir).map_err(|error| format!("{}: {error}", config.dir.display()))?;
    let server = Server::start_with(
        &scratch.0,
        &["--statsd", "127.0.0.1:0", "--statsd-flush-secs", "1", "--statsd-max-series-per-app", "1000000"],
    )
    .await?;
    let target = server.statsd.clone().ok_or("the server reads no statsd")?;
    server.create_app("statsd").await?;
    let rmem_max = std::fs::read_to_string("/proc/sys/net/core/rmem_max").unwrap_or_default();
    println!("vigie serve (pid {}), statsd at {target}; net.core.rmem_max = {}", server.pid, rmem_max.trim());
    const AGGREGATED: &str = "vigie_statsd_lines_total{outcome=\"aggregated\"}";
    let pool = std::sync::Arc::new(datagrams(config.series, &server.token, 20_000));
    for &pace in &config.paces {
        let (lines_before, drops_before) =
            (own_counter(&server, AGGREGATED).await?, own_counter(&server, "vigie_statsd_socket_drops_total").await?);
        let cpu_before = server.cpu_secs();
        let started = Instant::now();
        let senders: Vec<_> = (0..config.senders.max(1))
            .map(|_| {
                let (pool, target) = (pool.clone(), target.clone());
                let datagrams_per_sec = pace as f64 / 10.0 / config.senders.max(1) as f64;
                let secs = config.pace_secs;
                std::thread::spawn(move || send_paced(&pool, &target, datagrams_per_sec, secs))
            })
            .collect();
        let mut sent = 0;
        for sender in senders {
            sent += sender.join().map_err(|_| "a sender panicked")??;
        }
        let send_secs = started.elapsed().as_secs_f64();
        // Let the server read what is queued.
        let mut lines = own_counter(&server, AGGREGATED).await? - lines_before;
        let settle = Instant::now();
        while lines < sent * 10 && settle.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = own_counter(&server, AGGREGATED).await? - lines_before;
            if now == lines {
                break;
            }
            lines = now;
        }
        let secs = started.elapsed().as_secs_f64();
        let drops = own_counter(&server, "vigie_statsd_socket_drops_total").await? - drops_before;
        let cores = (server.cpu_secs() - cpu_before) / secs;
        rows.push(Row {
            what: format!(
                "statsd ingest, datagrams of 10 lines, {} lines/s asked for {} s ({} sent in {send_secs:.1} s)",
                group(pace as f64),
                config.pace_secs,
                group(sent as f64 * 10.0)
            ),
            figure: format!(
                "{} lines/s aggregated, {} of {} lines; {} datagrams dropped by the kernel; server busy {cores:.2} cores",
                group(lines as f64 / send_secs),
                group(lines as f64),
                group(sent as f64 * 10.0),
                group(drops as f64)
            ),
            target: "≥ 1,000,000 lines/s, 0 drops",
        });
    }

    // Active series: one gauge line each, for a few intervals.
    let rss_before = server.rss_mb();
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let token = server.token.clone();
    for round in 0..5 {
        let mut datagram = String::new();
        for s in 0..config.active_series {
            datagram.push_str(&format!(
                "active.g{}:{}|g|#host:h{},vigie_app:statsd,vigie_token:{token}\n",
                s % 100,
                round,
                s / 100
            ));
            if s % 10 == 9 {
                socket.send_to(datagram.as_bytes(), &target)?;
                datagram.clear();
                if s % 2_000 == 1_999 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    let series = own_counter(&server, "vigie_metrics_series").await?;
    rows.push(Row {
        what: format!(
            "{} active series (gauges, 5 intervals) on top of the ingest runs",
            group(config.active_series as f64)
        ),
        figure: format!(
            "RSS {} MB (was {rss_before} MB before them), {} series held",
            server.rss_mb(),
            group(series as f64)
        ),
        target: "RSS < 500 MB",
    });
    let topics_bytes = dir_bytes(&scratch.0.join("topics"));
    let points = own_counter(&server, "vigie_statsd_points_total").await?;
    rows.push(Row {
        what: "metric topics on disk (the source of truth: JSON points, zstd blocks)".into(),
        figure: format!(
            "{:.1} bytes/point ({} points)",
            topics_bytes as f64 / points.max(1) as f64,
            group(points as f64)
        ),
        target: "(none)",
    });
    server.stop().await;
    Ok(())
}

/// Sends datagrams from `pool` at `per_sec` for `secs`; returns how many.
fn send_paced(pool: &[Vec<u8>], target: &str, per_sec: f64, secs: u64) -> std::io::Result<u64> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(target)?;
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        let due = (started.elapsed().as_secs_f64() * per_sec) as u64;
        if sent >= due {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        let burst_end = due.min(sent + 1_000);
        while sent < burst_end {
            let datagram = &pool[sent as usize % pool.len()];
            // A full send buffer is the sender's limit: try again.
            while socket.send(datagram).is_err() {}
            sent += 1;
        }
    }
    Ok(sent)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
