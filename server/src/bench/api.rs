//! `vigie bench api`: the Logs API end to end, as clients see it. It starts
//! `vigie serve` as a child process on loopback (fresh data directory,
//! default durability: acknowledged after fsync) and measures from this
//! process, over real sockets:
//!
//! - HTTP NDJSON ingest: concurrent senders POSTing batches of 1,000 demo
//!   lines, until the last batch is acknowledged;
//! - syslog TCP ingest: connections writing RFC 5424 frames, until the
//!   last line can be read back through the API;
//! - followers: SSE clients of one app while a producer sends timestamped
//!   lines at a steady rate; the latency of a line is the time from its
//!   send (its `ts`) to its arrival at a client, and the server's RSS is
//!   sampled from `/proc` all along.
//!
//! The clients share the machine's cores with the server, as they would
//! on a one-machine set-up; the figures are for the pair.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use vigie_app::model::{LogKind, ServiceLine};

use super::{group, print_table, Row, Scratch};
use crate::clock::now_ns;
use crate::demo::sample_payloads;

/// What `vigie bench api` runs; each field is a flag of the same name.
#[derive(clap::Args, Debug)]
pub struct ApiBenchConfig {
    /// Where the server's scratch data directory goes.
    #[arg(long, default_value = "./data/bench")]
    pub dir: PathBuf,
    /// Lines sent over HTTP.
    #[arg(long, default_value_t = 2_000_000)]
    pub http_lines: usize,
    /// Concurrent HTTP senders.
    #[arg(long, default_value_t = 4)]
    pub http_senders: usize,
    /// Lines sent over syslog TCP.
    #[arg(long, default_value_t = 2_000_000)]
    pub syslog_lines: usize,
    /// Concurrent syslog connections.
    #[arg(long, default_value_t = 4)]
    pub syslog_connections: usize,
    /// SSE clients following one app.
    #[arg(long, default_value_t = 1_000)]
    pub followers: usize,
    /// Lines per second the producer sends while they follow.
    #[arg(long, default_value_t = 10_000)]
    pub follow_lines_per_sec: usize,
    /// How long the producer sends, in seconds.
    #[arg(long, default_value_t = 20)]
    pub follow_secs: u64,
    /// Batches per second the followed lines are sent in.
    #[arg(long, default_value_t = 100)]
    pub follow_batches_per_sec: usize,
}

pub(crate) type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub async fn run(config: ApiBenchConfig) -> BenchResult<()> {
    let scratch = Scratch::new(&config.dir).map_err(|error| format!("{}: {error}", config.dir.display()))?;
    let server = Server::start(&scratch.0).await?;
    println!("vigie serve (pid {}) at {}, syslog TCP at {}", server.pid, server.base, server.syslog_tcp);
    for app in ["http", "syslog", "follow"] {
        server.create_app(app).await?;
    }
    let mut rows = Vec::new();

    // `--http-lines 0 --syslog-lines 0` measures the followers alone.
    if config.http_lines > 0 {
        let (rate, elapsed, cores) = http_ingest(&server, "http", config.http_lines, config.http_senders).await?;
        rows.push(Row {
            what: format!(
                "HTTP NDJSON ingest, batches of 1,000, {} senders, {} lines in {elapsed:.2} s",
                config.http_senders,
                group(config.http_lines as f64)
            ),
            figure: format!("{} lines/s (server busy {cores:.2} cores)", group(rate)),
            target: "≥ 500,000 lines/s",
        });
    }

    if config.syslog_lines > 0 {
        let (rate, elapsed, cores) = syslog_ingest(&server, config.syslog_lines, config.syslog_connections).await?;
        rows.push(Row {
            what: format!(
                "syslog TCP ingest (RFC 5424, newline framing), {} connections, {} lines in {elapsed:.2} s",
                config.syslog_connections,
                group(config.syslog_lines as f64)
            ),
            figure: format!("{} lines/s (server busy {cores:.2} cores)", group(rate)),
            target: "≥ 300,000 lines/s",
        });
    }

    let load = FollowLoad {
        followers: config.followers,
        lines_per_sec: config.follow_lines_per_sec,
        batches_per_sec: config.follow_batches_per_sec,
        secs: config.follow_secs,
    };
    let followed = follow(&server, "follow", &load).await?;
    rows.push(Row {
        what: format!(
            "{} SSE followers of one app, {} lines/s asked ({} reached) in {} batches/s for {} s: ingest → client latency",
            load.followers,
            group(config.follow_lines_per_sec as f64),
            group(followed.lines_per_sec),
            config.follow_batches_per_sec,
            config.follow_secs
        ),
        figure: format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} of {} lines delivered ({} heartbeats skipped)",
            followed.p50_ms,
            followed.p99_ms,
            followed.max_ms,
            group(followed.delivered as f64),
            group(followed.expected as f64),
            group(followed.heartbeats as f64)
        ),
        target: "p99 < 50 ms",
    });
    rows.push(Row {
        what: format!("server RSS while {} followers read", load.followers),
        figure: format!(
            "{} MB before they connect, {} MB peak, {} MB at the end; CPU: server {:.2} cores, clients {:.2} cores",
            followed.rss_before_mb,
            followed.rss_peak_mb,
            followed.rss_after_mb,
            followed.server_cores,
            followed.client_cores
        ),
        target: "bounded",
    });
    print_table(&rows);
    server.stop().await;
    Ok(())
}

/// A `vigie serve` child process on loopback, with its admin token.
pub(crate) struct Server {
    child: Child,
    pub pid: u32,
    pub base: String,
    syslog_tcp: String,
    /// Where it reads statsd, when asked to.
    pub statsd: Option<String>,
    pub org: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Server {
    pub(crate) async fn start(data_dir: &std::path::Path) -> BenchResult<Server> {
        Server::start_with(data_dir, &["--statsd", "off"]).await
    }

    /// Starts it with `extra` arguments added to `serve`'s.
    pub async fn start_with(data_dir: &std::path::Path, extra: &[&str]) -> BenchResult<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--syslog-tcp", "127.0.0.1:0", "--syslog-udp", "off"])
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--ingest-lines-per-sec", "100000000", "--ingest-batch-lines", "10000"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("the server exited at once")?;
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let (mut base, mut syslog_tcp, mut org, mut token, mut statsd) = (None, None, None, None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while base.is_none() || syslog_tcp.is_none() || token.is_none() {
            let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
                .await
                .map_err(|_| "the server did not start in 30 s")??
                .ok_or("the server stopped before printing its address")?;
            if let Some(url) = line.strip_prefix("Vigie console: ") {
                base = Some(url.trim_end_matches('/').to_string());
            } else if let Some(addr) = line.strip_prefix("Syslog TCP: ") {
                syslog_tcp = Some(addr.trim().to_string());
            } else if let Some(addr) = line.strip_prefix("statsd UDP: ") {
                statsd = Some(addr.trim().to_string());
            } else if let Some(rest) = line.strip_prefix("Admin token of organisation \"") {
                let (name, secret) = rest.split_once("\" (shown once): ").ok_or("unexpected welcome line")?;
                org = Some(name.to_string());
                token = Some(secret.trim().to_string());
            }
        }
        // Keep reading its stdout so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let token = token.unwrap_or_default();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
        let http = reqwest::Client::builder().default_headers(headers).build()?;
        Ok(Server {
            child,
            pid,
            base: base.unwrap_or_default(),
            syslog_tcp: syslog_tcp.unwrap_or_default(),
            statsd,
            org: org.unwrap_or_default(),
            token,
            http,
        })
    }

    pub async fn create_app(&self, slug: &str) -> BenchResult<()> {
        let response = self
            .http
            .post(format!("{}/api/v1/orgs/{}/apps", self.base, self.org))
            .json(&json!({"slug": slug, "name": slug, "runtime": "bench"}))
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("creating app {slug}: {}", response.text().await?).into());
        }
        Ok(())
    }

    pub(crate) fn logs_url(&self, app: &str) -> String {
        format!("{}/api/v1/orgs/{}/apps/{app}/logs", self.base, self.org)
    }

    /// The number of records in the app's service topic.
    pub(crate) async fn records(&self, app: &str) -> BenchResult<u64> {
        let page: Value =
            self.http.get(format!("{}?order=desc&limit=1", self.logs_url(app))).send().await?.json().await?;
        Ok(page["records"][0]["offset"].as_u64().map_or(0, |last| last + 1))
    }

    /// CPU seconds the server has used so far.
    pub fn cpu_secs(&self) -> f64 {
        cpu_secs(&format!("/proc/{}/stat", self.pid))
    }

    pub fn rss_mb(&self) -> u64 {
        rss_mb(self.pid)
    }

    pub async fn stop(mut self) {
        // SIGTERM, so it checkpoints and exits as in production.
        let _ = Command::new("kill").arg(self.pid.to_string()).status().await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

/// Demo service lines as NDJSON bodies of 1,000 lines.
fn ndjson_bodies(count: usize) -> Vec<String> {
    let lines = sample_payloads(LogKind::Service, count.min(100_000), 7);
    lines
        .chunks(1_000)
        .map(|chunk| {
            let mut body = String::new();
            for (_, payload) in chunk {
                let line: ServiceLine = serde_json::from_str(payload).expect("demo lines are service lines");
                let mut object = json!({"message": line.message, "level": line.level, "instance": line.instance});
                for (key, value) in line.fields {
                    object[key] = value;
                }
                body.push_str(&object.to_string());
                body.push('\n');
            }
            body
        })
        .collect()
}

/// Sends `lines` demo lines to `app` over HTTP, batches of 1,000 from
/// `senders` concurrent clients; returns lines per second, seconds, and
/// the server's busy cores.
pub(crate) async fn http_ingest(
    server: &Server,
    app: &str,
    lines: usize,
    senders: usize,
) -> BenchResult<(f64, f64, f64)> {
    let bodies = Arc::new(ndjson_bodies(100_000));
    let batches = lines.div_ceil(1_000);
    let next = Arc::new(AtomicUsize::new(0));
    let url = server.logs_url(app);
    let cpu_before = server.cpu_secs();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (bodies, next, url, http) = (bodies.clone(), next.clone(), url.clone(), server.http.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let batch = next.fetch_add(1, Ordering::Relaxed);
                if batch >= batches {
                    return Ok::<(), String>(());
                }
                let body = bodies[batch % bodies.len()].clone();
                let response = http
                    .post(&url)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await
                    .map_err(|error| error.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("ingest answered {}", response.status()));
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let server_cores = (server.cpu_secs() - cpu_before) / elapsed;
    let stored = server.records(app).await?;
    if stored != (batches * 1_000) as u64 {
        return Err(format!("sent {} lines over HTTP to {app}, {stored} stored", batches * 1_000).into());
    }
    Ok((stored as f64 / elapsed, elapsed, server_cores))
}

/// Lines per second, seconds, and the server's busy cores.
async fn syslog_ingest(server: &Server, lines: usize, connections: usize) -> BenchResult<(f64, f64, f64)> {
    let sample = sample_payloads(LogKind::Service, 100_000, 11);
    let mut frames = Vec::new();
    for (i, (_, payload)) in sample.iter().enumerate() {
        let line: ServiceLine = serde_json::from_str(payload)?;
        frames.push(format!(
            "<14>1 2026-11-24T13:05:{:02}.{:03}Z {} syslog {} - [vigie@53595 token=\"{}\"] {}\n",
            i % 60,
            i % 1000,
            line.instance,
            1000 + i % 50,
            server.token,
            line.message.replace('\n', " ")
        ));
    }
    let per_connection = lines / connections;
    let total = per_connection * connections;
    let cpu_before = server.cpu_secs();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let mut stream = tokio::net::TcpStream::connect(&server.syslog_tcp).await?;
        // Each connection writes its share as large buffers of whole frames.
        let mut buffers = Vec::new();
        let mut buffer = String::new();
        for n in 0..per_connection {
            buffer.push_str(&frames[(c * per_connection + n) % frames.len()]);
            if buffer.len() > 1 << 20 {
                buffers.push(std::mem::take(&mut buffer));
            }
        }
        buffers.push(buffer);
        tasks.push(tokio::spawn(async move {
            for buffer in buffers {
                stream.write_all(buffer.as_bytes()).await?;
            }
            stream.shutdown().await
        }));
    }
    for task in tasks {
        task.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stored = server.records("syslog").await?;
        if stored >= total as u64 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("sent {total} syslog lines, {stored} stored after 2 minutes").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((total as f64 / elapsed, elapsed, (server.cpu_secs() - cpu_before) / elapsed))
}

/// SSE followers of one app and the steady producer they follow.
pub(crate) struct FollowLoad {
    pub followers: usize,
    pub lines_per_sec: usize,
    pub batches_per_sec: usize,
    /// How long the producer sends.
    pub secs: u64,
}

pub(crate) struct Followed {
    /// The rate the producer reached.
    pub lines_per_sec: f64,
    /// Cores busy on average while the producer sent: the server's, and
    /// this process's (the followers and the producer).
    pub server_cores: f64,
    pub client_cores: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub delivered: u64,
    pub expected: u64,
    /// `event: heartbeat`s the followers got (and did not count as records).
    pub heartbeats: u64,
    pub rss_before_mb: u64,
    pub rss_peak_mb: u64,
    pub rss_after_mb: u64,
}

/// Connects `load.followers` SSE clients to `app`'s live stream, sends
/// timestamped lines at a steady rate, and measures each event's latency
/// from send to arrival.
pub(crate) async fn follow(server: &Server, app: &str, load: &FollowLoad) -> BenchResult<Followed> {
    let rss_before_mb = server.rss_mb();
    let url = format!("{}/live", server.logs_url(app));
    let addr = server.base.trim_start_matches("http://").to_string();
    let path = url.trim_start_matches("http://").trim_start_matches(addr.as_str()).to_string();
    let latencies_us = Arc::new(Mutex::new(Vec::<u32>::new()));
    let delivered = Arc::new(AtomicU64::new(0));
    let heartbeats = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut clients = Vec::new();
    for _ in 0..load.followers {
        let (addr, path, token, http) = (addr.clone(), path.clone(), server.token.clone(), server.http.clone());
        let (latencies_us, delivered, heartbeats, connected, mut stop) =
            (latencies_us.clone(), delivered.clone(), heartbeats.clone(), connected.clone(), stop_rx.clone());
        clients.push(tokio::spawn(async move {
            // A plain HTTP/1.1 client on a raw socket, as light as curl:
            // events are found in the bytes as they come (the chunked
            // encoding's size lines fall between events and are skipped).
            let _ = &http;
            let mut socket = tokio::net::TcpStream::connect(&addr).await.map_err(|error| error.to_string())?;
            socket
                .write_all(
                    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .map_err(|error| error.to_string())?;
            let mut buffer: Vec<u8> = Vec::with_capacity(256 * 1024);
            let mut mine = Vec::new();
            let mut opened = false;
            // The last offset seen: each event must start right after it.
            let mut last: Option<u64> = None;
            loop {
                buffer.reserve(64 * 1024);
                let read = tokio::select! {
                    read = socket.read_buf(&mut buffer) => read.map_err(|error| error.to_string())?,
                    _ = stop.wait_for(|stopped| *stopped) => 0,
                };
                if read == 0 {
                    break;
                }
                if !opened && !buffer.starts_with(b"HTTP/1.1 200") {
                    return Err(format!("the live stream answered {}", String::from_utf8_lossy(&buffer[..buffer.len().min(80)])));
                }
                let arrived_ns = now_ns();
                let mut consumed = 0;
                while let Some(end) = memchr::memmem::find(&buffer[consumed..], b"\n\n") {
                    let event = &buffer[consumed..consumed + end];
                    consumed += end + 2;
                    if !opened {
                        opened = true;
                        connected.fetch_add(1, Ordering::Relaxed);
                    }
                    // The stream's own events carry no records: a heartbeat
                    // every 5 s is no line, and an end means the server cut
                    // the stream, which this bench never asks for.
                    if event_named(event, b"heartbeat") {
                        heartbeats.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if event_named(event, b"end") {
                        return Err(format!("the server ended a live stream: {}", String::from_utf8_lossy(event)));
                    }
                    let (Some(id), Some(first)) =
                        (number_after(event, b"id: "), number_after(event, b"data: [{\"offset\":"))
                    else {
                        continue;
                    };
                    if last.is_some_and(|last| first != last + 1) {
                        return Err(format!("an event starts at offset {first} after {last:?}: lost or repeated lines"));
                    }
                    delivered.fetch_add(id + 1 - first, Ordering::Relaxed);
                    last = Some(id);
                    // One sample per event: its first record is its oldest.
                    if let Some(ts_ns) = number_after(event, b"\"ts_ns\":") {
                        mine.push(((arrived_ns - ts_ns as i64).max(0) / 1_000).min(u32::MAX as i64) as u32);
                    }
                }
                buffer.drain(..consumed);
            }
            latencies_us.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
            Ok::<(), String>(())
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected.load(Ordering::Relaxed) < load.followers {
        if Instant::now() > deadline {
            return Err(format!(
                "{} of {} followers connected in 60 s",
                connected.load(Ordering::Relaxed),
                load.followers
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The producer: evenly spaced batches, each line stamped with its send time.
    let batches_per_sec = load.batches_per_sec.clamp(1, 1_000);
    let per_batch = load.lines_per_sec.div_ceil(batches_per_sec);
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / batches_per_sec as u64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let words = sample_payloads(LogKind::Service, per_batch, 5);
    let started = Instant::now();
    let (server_cpu_before, client_cpu_before) = (server.cpu_secs(), cpu_secs("/proc/self/stat"));
    let mut sent = 0u64;
    let mut rss_peak_mb = rss_before_mb;
    let mut last_rss = Instant::now();
    let url = server.logs_url(app);
    // Batches go out concurrently (at most 16 in flight), so a slow answer
    // never delays the next batch's send time.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(16));
    let mut posts = Vec::new();
    while started.elapsed() < Duration::from_secs(load.secs) {
        ticker.tick().await;
        let ts = now_ns();
        let mut body = String::with_capacity(per_batch * 160);
        for (_, payload) in &words {
            let line: ServiceLine = serde_json::from_str(payload)?;
            body.push_str(&json!({"ts": ts, "message": line.message, "level": line.level}).to_string());
            body.push('\n');
        }
        let permit = in_flight.clone().acquire_owned().await?;
        let (http, url) = (server.http.clone(), url.clone());
        posts.push(tokio::spawn(async move {
            let response = http.post(&url).header("content-type", "application/x-ndjson").body(body).send().await;
            drop(permit);
            match response {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("the producer's batch got {}", response.status())),
                Err(error) => Err(error.to_string()),
            }
        }));
        sent += per_batch as u64;
        if last_rss.elapsed() > Duration::from_millis(500) {
            rss_peak_mb = rss_peak_mb.max(server.rss_mb());
            last_rss = Instant::now();
        }
    }
    let produced_secs = started.elapsed().as_secs_f64();
    let server_cores = (server.cpu_secs() - server_cpu_before) / produced_secs;
    let client_cores = (cpu_secs("/proc/self/stat") - client_cpu_before) / produced_secs;
    for post in posts {
        post.await??;
    }
    // Let the last lines arrive.
    let expected = sent * load.followers as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rss_peak_mb = rss_peak_mb.max(server.rss_mb());
    let _ = stop_tx.send(true);
    for client in clients {
        client.await??;
    }
    let rss_after_mb = server.rss_mb();
    let mut latencies = std::mem::take(&mut *latencies_us.lock().unwrap_or_else(|p| p.into_inner()));
    latencies.sort_unstable();
    let at = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).map_or(0.0, |us| *us as f64 / 1e3);
    Ok(Followed {
        lines_per_sec: sent as f64 / produced_secs,
        server_cores,
        client_cores,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        delivered: delivered.load(Ordering::Relaxed),
        expected,
        heartbeats: heartbeats.load(Ordering::Relaxed),
        rss_before_mb,
        rss_peak_mb,
        rss_after_mb,
    })
}

/// Whether a Server-Sent Event (its bytes up to the blank line) is an
/// `event: NAME` one. The chunked encoding's size line may come before it.
fn event_named(event: &[u8], name: &[u8]) -> bool {
    // Vigie writes the `event:` line first (after a chunk's size, maybe):
    // only those first lines are read, not the records' data, which a split of
    // every event byte by byte would cost the clients more than the server
    // spends serving them.
    event.splitn(4, |b| *b == b'\n').take(3).any(|line| line.strip_prefix(b"event: ".as_slice()) == Some(name))
}

/// The number written right after the first `prefix` in `bytes`.
fn number_after(bytes: &[u8], prefix: &[u8]) -> Option<u64> {
    let at = memchr::memmem::find(bytes, prefix)? + prefix.len();
    let digits = bytes[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&bytes[at..at + digits]).ok()?.parse().ok()
}

/// Resident memory of a process in MB, from its `/proc/PID/status`.
pub(crate) fn rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// User plus system CPU seconds of a process, from its `/proc/PID/stat`.
pub(crate) fn cpu_secs(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
