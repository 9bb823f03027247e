//! `vigie bench cluster`: the price of scale-out (docs/SCALING.md), on this
//! machine. It starts 3 `nats-server` with JetStream, clustered on
//! loopback (Debian's package, streams of 3 replicas), and Vigie nodes in
//! this process, then measures over real HTTP:
//!
//! - ingest throughput: concurrent senders POSTing batches of NDJSON lines
//!   to one node, embedded (its own store) and clustered (acknowledged by
//!   JetStream), the same batches;
//! - ingest → readable latency: one line at a time, from before its POST
//!   to its arrival on a live tail, of the same node (embedded) or of the
//!   other node (clustered);
//! - catch-up: a fresh node joining after the load, until its store holds
//!   every line of the stream.
//!
//! Everything shares the machine's cores; the ratio is the figure to quote.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use vigie_app::model::AppKind;

use super::api::BenchResult;
use super::{group, print_table, Row, Scratch};
use crate::catalog::{App, Org, Permissions};
use crate::cluster::ClusterConfig;
use crate::store::TopicKey;
use crate::{start_node, GeoIpSource, RunningServer, ServeConfig};

/// What `vigie bench cluster` runs; each field is a flag of the same name.
#[derive(clap::Args, Debug)]
pub struct ClusterBenchConfig {
    /// Where the scratch data directories (NATS and Vigie) go.
    #[arg(long, default_value = "./data/bench")]
    pub dir: PathBuf,
    /// Lines sent in each throughput run (also what the joining node catches up).
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: usize,
    /// Lines per POST.
    #[arg(long, default_value_t = 1_000)]
    pub batch_lines: usize,
    /// Concurrent senders.
    #[arg(long, default_value_t = 4)]
    pub senders: usize,
    /// Lines timed one by one for the latency.
    #[arg(long, default_value_t = 300)]
    pub latency_samples: usize,
}

const ORG: &str = "bench";
const APP: &str = "load";

pub async fn run(config: ClusterBenchConfig) -> BenchResult<()> {
    let scratch = Scratch::new(&config.dir).map_err(|error| format!("{}: {error}", config.dir.display()))?;
    let mut rows = Vec::new();

    let embedded = Node::start(&scratch.0.join("embedded"), None).await?;
    let (rate_embedded, _) = ingest(&embedded, &config).await?;
    let latency_embedded = latency(&embedded, &embedded, config.latency_samples).await?;
    embedded.server.stop().await;

    let nats = NatsCluster::start(&scratch.0)?;
    let cluster = ClusterConfig { urls: nats.urls(), replicas: 3 };
    let a = Node::start(&scratch.0.join("a"), Some(cluster.clone())).await?;
    let b = Node::start(&scratch.0.join("b"), Some(cluster.clone())).await?;
    let (rate_cluster, ingested) = ingest(&a, &config).await?;
    let latency_cluster = latency(&a, &b, config.latency_samples).await?;

    let batches = format!("{} senders, batches of {}", config.senders, group(config.batch_lines as f64));
    rows.push(Row {
        what: format!("HTTP ingest, {batches}, {} lines: embedded", group(config.lines as f64)),
        figure: format!("{} lines/s", group(rate_embedded)),
        target: "baseline",
    });
    rows.push(Row {
        what: "same, through JetStream (3 replicas, acknowledged by a quorum)".into(),
        figure: format!("{} lines/s ({:.2} × embedded)", group(rate_cluster), rate_cluster / rate_embedded.max(1.0)),
        target: "≥ 0.5 × embedded",
    });
    rows.push(Row {
        what: "ingest → readable on a live tail, one line at a time: embedded (same node)".into(),
        figure: latency_embedded.to_string(),
        target: "baseline",
    });
    rows.push(Row {
        what: "same, posted on node A, read on node B's tail".into(),
        figure: latency_cluster.to_string(),
        target: "p99 < 100 ms",
    });

    // A node that joins after the load rebuilds its store from the stream.
    let joined_at = Instant::now();
    let c = Node::start(&scratch.0.join("c"), Some(cluster)).await?;
    let key = TopicKey::new(ORG, APP, vigie_app::model::LogKind::Service);
    let target = a.server.store.next_offset(&key).max(ingested as u64);
    loop {
        let store = c.server.store.clone();
        let key = key.clone();
        let end = tokio::task::spawn_blocking(move || store.next_offset(&key)).await?;
        if end >= target {
            break;
        }
        if joined_at.elapsed() > Duration::from_secs(3_600) {
            return Err("the joining node did not catch up within an hour".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = joined_at.elapsed().as_secs_f64();
    rows.push(Row {
        what: format!(
            "a fresh node joining: catch-up of {} lines from the stream (start included)",
            group(target as f64)
        ),
        figure: format!("{} lines/s ({elapsed:.1} s)", group(target as f64 / elapsed)),
        target: "≥ 100,000 lines/s",
    });
    print_table(&rows);
    for node in [a, b, c] {
        node.server.stop().await;
    }
    drop(nats);
    Ok(())
}

/// A Vigie node in this process, with the bench's org, app and token.
struct Node {
    server: RunningServer,
    base: String,
    http: reqwest::Client,
}

impl Node {
    async fn start(dir: &Path, cluster: Option<ClusterConfig>) -> BenchResult<Node> {
        let config = ServeConfig {
            grafana: None,
            listen: "127.0.0.1:0".parse()?,
            data_dir: dir.to_path_buf(),
            site_root: dir.join("site"),
            demo: None,
            store: Default::default(),
            geoip: GeoIpSource::None,
            ingest: crate::ingest::limits::IngestLimits {
                lines_per_sec: 1e9,
                batch_lines: 100_000,
                ..Default::default()
            },
            syslog_tcp: None,
            syslog_udp: None,
            statsd: None,
            drains: Default::default(),
        };
        let server = start_node(config, cluster).await?;
        let catalog = server.catalog.clone();
        let token = tokio::task::spawn_blocking(move || {
            let app =
                App { slug: APP.into(), name: "Load".into(), kind: AppKind::Application, runtime: "bench".into() };
            catalog.put_org(&Org { slug: ORG.into(), name: "Bench".into(), apps: vec![app] })?;
            catalog.create_token(ORG, "bench", Permissions::ALL, "vigie bench cluster").map(|(_, secret)| secret)
        })
        .await??;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
        let http = reqwest::Client::builder().default_headers(headers).build()?;
        let base = format!("http://{}", server.addr);
        // In a cluster, this node's token reaches the others through the
        // catalog stream; wait until this node serves its own app.
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{base}/api/v1/orgs/{ORG}/apps/{APP}/logs?limit=1")).send().await?.status() != 200 {
            if Instant::now() > deadline {
                return Err("the node did not serve its app within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Node { server, base, http })
    }

    fn logs_url(&self) -> String {
        format!("{}/api/v1/orgs/{ORG}/apps/{APP}/logs", self.base)
    }
}

/// Sends `config.lines` lines; returns lines per second and lines acknowledged.
async fn ingest(node: &Node, config: &ClusterBenchConfig) -> BenchResult<(f64, usize)> {
    let batch_lines = config.batch_lines.max(1);
    let batches = config.lines.div_ceil(batch_lines);
    let body: bytes::Bytes = (0..batch_lines)
        .map(|n| format!("{}\n", json!({"message": format!("GET /orders/{n} 200 in 12 ms"), "level": "info"})))
        .collect::<String>()
        .into();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..config.senders.max(1) {
        let (http, url, body, next) = (node.http.clone(), node.logs_url(), body.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            let mut sent = 0;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < batches {
                let response =
                    http.post(&url).header("content-type", "application/x-ndjson").body(body.clone()).send().await?;
                if response.status() != 200 {
                    return Err(format!("a batch was refused: {}", response.status()).into());
                }
                sent += batch_lines;
            }
            BenchResult::Ok(sent)
        }));
    }
    let mut sent = 0;
    for sender in senders {
        sent += sender.await??;
    }
    Ok((sent as f64 / started.elapsed().as_secs_f64(), sent))
}

struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", self.p50_ms, self.p99_ms, self.max_ms)
    }
}

/// Posts `samples` lines one at a time on `writer` and times each until a
/// live tail of `reader` carries it.
async fn latency(writer: &Node, reader: &Node, samples: usize) -> BenchResult<Latency> {
    let tail = reader.http.get(format!("{}/live", reader.logs_url())).send().await?;
    let mut body = tail.bytes_stream();
    let mut text = String::new();
    let mut times = Vec::with_capacity(samples);
    for sample in 0..samples {
        let marker = format!("latency sample {sample}");
        let line = format!("{}\n", json!({ "message": marker }));
        let sent = Instant::now();
        let response = writer
            .http
            .post(writer.logs_url())
            .header("content-type", "application/x-ndjson")
            .body(line)
            .send()
            .await?;
        if response.status() != 200 {
            return Err(format!("a line was refused: {}", response.status()).into());
        }
        let quoted = format!("\"{marker}\"");
        while !text.contains(&quoted) {
            let chunk = tokio::time::timeout(Duration::from_secs(30), body.next())
                .await
                .map_err(|_| "a line did not reach the tail within 30 s")?
                .ok_or("the tail ended")??;
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        times.push(sent.elapsed().as_secs_f64() * 1e3);
        text.clear();
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Ok(Latency { p50_ms: at(0.5), p99_ms: at(0.99), max_ms: *times.last().unwrap_or(&0.0) })
}

/// Three `nats-server -js` clustered on loopback, killed when dropped.
struct NatsCluster {
    children: Vec<Child>,
    ports: Vec<u16>,
}

impl NatsCluster {
    fn start(dir: &Path) -> BenchResult<NatsCluster> {
        let free = || -> BenchResult<u16> { Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()) };
        let ports: Vec<(u16, u16)> = (0..3).map(|_| Ok((free()?, free()?))).collect::<BenchResult<_>>()?;
        let routes = ports.iter().map(|(_, route)| format!("nats://127.0.0.1:{route}")).collect::<Vec<_>>().join(",");
        let mut children = Vec::new();
        for (i, (port, route)) in ports.iter().enumerate() {
            let child = Command::new("nats-server")
                .args(["-js", "-a", "127.0.0.1", "-n", &format!("bench-{i}"), "--cluster_name", "vigie-bench"])
                .arg("-sd")
                .arg(dir.join(format!("nats-{i}")))
                .args(["-p", &port.to_string(), "--cluster", &format!("nats://127.0.0.1:{route}"), "--routes", &routes])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|error| format!("cannot start nats-server ({error}): install Debian's nats-server"))?;
            children.push(child);
        }
        Ok(NatsCluster { children, ports: ports.iter().map(|(port, _)| *port).collect() })
    }

    fn urls(&self) -> String {
        self.ports.iter().map(|port| format!("nats://127.0.0.1:{port}")).collect::<Vec<_>>().join(",")
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
