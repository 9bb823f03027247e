//! `vigie bench prometheus`: the same PromQL range queries, over HTTP,
//! against Vigie's Prometheus-compatible API and against a real Prometheus
//! (Debian's `prometheus` 2.42) holding the same points, fed through
//! `promtool tsdb create-blocks-from openmetrics`. Prints each query's
//! latency percentiles on both and their ratio as a Markdown table.
//!
//! The points: `--hosts` series of the gauge `cpu{host}` and of the
//! counter `requests_total{host}`, every 10 s over `--hours`. Vigie gets
//! them as its read model stores them (the counter as the count of each
//! interval), Prometheus as OpenMetrics (the counter cumulative), so the
//! same query asks the same question of both.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{group, print_table, Row, Scratch};
use crate::metrics::point::{MetricPoint, MetricType, PointsRecord};

#[derive(clap::Args, Debug)]
pub struct PrometheusBenchConfig {
    /// Where the scratch data directories go.
    #[arg(long, default_value = "./data/bench")]
    pub dir: PathBuf,
    /// Series per metric.
    #[arg(long, default_value_t = 100)]
    pub hosts: usize,
    /// Hours of points, one every 10 s, ending now.
    #[arg(long, default_value_t = 24)]
    pub hours: i64,
    /// Times each query is asked of each side.
    #[arg(long, default_value_t = 100)]
    pub queries: usize,
    /// The Prometheus server binary.
    #[arg(long, default_value = "prometheus")]
    pub prometheus: PathBuf,
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The queries: PromQL, range back from now, step.
const QUERIES: [(&str, i64, i64); 5] = [
    ("cpu{host=\"h007\"}", 24 * 3_600, 60),
    ("avg by (host) (cpu)", 24 * 3_600, 300),
    ("sum(rate(requests_total[5m]))", 24 * 3_600, 60),
    ("max_over_time(cpu{host=~\"h00.\"}[1h])", 24 * 3_600, 3_600),
    ("topk(5, avg_over_time(cpu[10m]))", 6 * 3_600, 60),
];

/// The value of host `h`'s CPU at interval `i`, and its requests in it.
fn point(h: usize, i: i64) -> (f64, f64) {
    let phase = (i as f64 / 360.0 + h as f64).sin();
    let cpu = ((20.0 + 15.0 * phase + (h % 7) as f64) * 10.0).round() / 10.0;
    let requests = (50 + (i * 7 + h as i64 * 13) % 40) as f64;
    (cpu, requests)
}

/// A Prometheus started on a free port over `data`, stopped when dropped.
struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_prometheus(config: &PrometheusBenchConfig, scratch: &Scratch) -> BenchResult<Prometheus> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config_file = scratch.0.join("prometheus.yml");
    std::fs::write(&config_file, "global:\n  scrape_interval: 1h\nscrape_configs: []\n")?;
    let child = Command::new(&config.prometheus)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!("--storage.tsdb.path={}", scratch.0.join("tsdb").display()))
        .arg("--storage.tsdb.retention.time=30d")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| {
            format!("cannot run {}: {error} (install Debian's prometheus)", config.prometheus.display())
        })?;
    let prometheus = Prometheus { child, url: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(response) = reqwest::get(format!("{}/-/ready", prometheus.url)).await {
            if response.status().is_success() {
                return Ok(prometheus);
            }
        }
        if Instant::now() > deadline {
            return Err("Prometheus was not ready within 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn run(config: PrometheusBenchConfig) -> BenchResult<()> {
    let now_ms = crate::clock::now_ns() / 1_000_000;
    let end_ms = now_ms / 10_000 * 10_000 - 10_000;
    let intervals = config.hours * 360;
    let start_ms = end_ms - (intervals - 1) * 10_000;

    // Prometheus: OpenMetrics text, made into TSDB blocks by promtool.
    let prom_scratch = Scratch::new(&config.dir)?;
    let made = Instant::now();
    let mut text = String::with_capacity(config.hosts * intervals as usize * 60);
    let _ = writeln!(text, "# TYPE cpu gauge");
    for h in 0..config.hosts {
        for i in 0..intervals {
            let ts_ms = start_ms + i * 10_000;
            let _ = writeln!(text, "cpu{{host=\"h{h:03}\"}} {} {}", point(h, i).0, ts_ms / 1_000);
        }
    }
    let _ = writeln!(text, "# TYPE requests counter");
    for h in 0..config.hosts {
        let mut total = 0.0;
        for i in 0..intervals {
            total += point(h, i).1;
            // Cumulative at the interval's end: what a scrape would read.
            let ts_ms = start_ms + (i + 1) * 10_000;
            let _ = writeln!(text, "requests_total{{host=\"h{h:03}\"}} {total} {}", ts_ms / 1_000);
        }
    }
    text.push_str("# EOF\n");
    let input = prom_scratch.0.join("points.om");
    std::fs::write(&input, &text)?;
    drop(text);
    let output = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(&input)
        .arg(prom_scratch.0.join("tsdb"))
        .output()
        .map_err(|error| format!("cannot run promtool: {error} (install Debian's prometheus)"))?;
    if !output.status.success() {
        return Err(format!("promtool: {}", String::from_utf8_lossy(&output.stderr).trim()).into());
    }
    println!("Prometheus blocks made in {:.1} s", made.elapsed().as_secs_f64());
    let prometheus = start_prometheus(&config, &prom_scratch).await?;

    // Vigie: the same points in its read model, behind a real server.
    let scratch = Scratch::new(&config.dir)?;
    let server = crate::start(crate::ServeConfig {
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
        grafana: None,
        drains: Default::default(),
    })
    .await?;
    let org = server.welcome.admin.as_ref().ok_or("no admin org")?.org.clone();
    let app = crate::catalog::App {
        slug: "api".into(),
        name: "api".into(),
        kind: vigie_app::model::AppKind::Application,
        runtime: "bench".into(),
    };
    server.catalog.create_app(&org, &app)?;
    let (_, token) = server.catalog.create_token(&org, "bench", crate::catalog::Permissions::ALL, "bench")?;
    for i in 0..intervals {
        let points = (0..config.hosts)
            .flat_map(|h| {
                let (cpu, requests) = point(h, i);
                let tags: std::collections::BTreeMap<String, String> =
                    [("host".to_string(), format!("h{h:03}"))].into();
                [
                    MetricPoint { name: "cpu".into(), tags: tags.clone(), kind: MetricType::Gauge, values: vec![cpu] },
                    MetricPoint {
                        name: "requests_total".into(),
                        tags,
                        kind: MetricType::Counter,
                        values: vec![requests],
                    },
                ]
            })
            .collect();
        server.series.apply(&org, "api", start_ms + i * 10_000, PointsRecord { interval_s: 10.0, points });
    }
    println!(
        "{} points of {} series each side, over {} h",
        group((intervals as usize * config.hosts * 2) as f64),
        config.hosts * 2,
        config.hours
    );

    let http = reqwest::Client::new();
    let vigie_url = format!("http://{}/prometheus", server.addr);
    let mut rows = Vec::new();
    for (query, range_s, step_s) in QUERIES {
        let params = [
            ("query", query.to_string()),
            ("start", ((end_ms / 1_000) - range_s).to_string()),
            ("end", (end_ms / 1_000).to_string()),
            ("step", step_s.to_string()),
        ];
        let mut figures = Vec::new();
        for (side, base, bearer) in [("Vigie", &vigie_url, Some(&token)), ("Prometheus", &prometheus.url, None)] {
            let ask = || {
                let request = http.post(format!("{base}/api/v1/query_range")).form(&params);
                match bearer {
                    Some(token) => request.bearer_auth(token),
                    None => request,
                }
            };
            let first: serde_json::Value = ask().send().await?.json().await?;
            let result = first["data"]["result"].as_array().ok_or_else(|| format!("{side}: {query}: {first}"))?;
            let points: usize = result.iter().map(|s| s["values"].as_array().map_or(0, Vec::len)).sum();
            let mut latencies = Vec::with_capacity(config.queries);
            for _ in 0..config.queries {
                let started = Instant::now();
                let response = ask().send().await?;
                if !response.status().is_success() {
                    return Err(format!("{side}: {query}: {}", response.text().await?).into());
                }
                response.bytes().await?;
                latencies.push(started.elapsed().as_secs_f64() * 1_000.0);
            }
            latencies.sort_by(f64::total_cmp);
            let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
            figures.push((side, at(0.5), at(0.99), result.len(), points));
        }
        let (vigie, prom) = (figures[0], figures[1]);
        rows.push(Row {
            what: format!("`{query}` over {} h, step {step_s} s ({} series, {} points)", range_s / 3_600, vigie.3, vigie.4),
            figure: format!(
                "Vigie p50 {:.2} ms, p99 {:.2} ms; Prometheus p50 {:.2} ms, p99 {:.2} ms ({} series, {} points); p50 ratio {:.2}",
                vigie.1,
                vigie.2,
                prom.1,
                prom.2,
                prom.3,
                prom.4,
                vigie.1 / prom.1
            ),
            target: "ratio ≤ 2",
        });
    }
    server.stop().await;
    drop(prometheus);
    print_table(&rows);
    Ok(())
}
