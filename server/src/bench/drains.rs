//! `vigie bench drains`: what drains deliver and what they cost, against a
//! `vigie serve` child process on loopback, with recipients in this
//! process (an HTTP server that counts the NDJSON lines it un-gzips, a TCP
//! listener that counts octet-counted syslog frames):
//!
//! - delivery: `--lines` lines stored first, then one drain started at
//!   their beginning; lines per second until the recipient has them all,
//!   for `raw-http` and for `syslog-tcp`;
//! - ingest beside drains: HTTP NDJSON ingest of `--ingest-lines` into an
//!   app with 0, 1 and 10 raw-http drains, and how long the drains took to
//!   catch up once ingest ended;
//! - `--idle-drains` drains of idle apps: the server's RSS before and after
//!   they are created, and its CPU while they wait.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::json;
use tokio::io::AsyncReadExt;

use super::api::{http_ingest, BenchResult, Server};
use super::{group, print_table, Row, Scratch};

#[derive(clap::Args, Debug)]
pub struct DrainsBenchConfig {
    /// Where the server's scratch data directory goes.
    #[arg(long, default_value = "./data/bench")]
    pub dir: PathBuf,
    /// Lines each delivery measure sends.
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: usize,
    /// Lines ingested beside 0, 1 and 10 drains.
    #[arg(long, default_value_t = 500_000)]
    pub ingest_lines: usize,
    /// Concurrent HTTP ingest senders.
    #[arg(long, default_value_t = 4)]
    pub senders: usize,
    /// Drains of idle apps (100 per app).
    #[arg(long, default_value_t = 1_000)]
    pub idle_drains: usize,
    /// How long their CPU is measured, in seconds.
    #[arg(long, default_value_t = 10)]
    pub idle_secs: u64,
}

/// Lines received, per recipient name.
#[derive(Default)]
struct Counts(Mutex<HashMap<String, u64>>);

impl Counts {
    fn add(&self, name: &str, lines: u64) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).entry(name.to_string()).or_default() += lines;
    }

    fn get(&self, name: &str) -> u64 {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(name).copied().unwrap_or_default()
    }
}

async fn receive_ndjson(State(counts): State<Arc<Counts>>, Path(name): Path<String>, body: Bytes) -> &'static str {
    let mut plain = Vec::with_capacity(body.len() * 8);
    if std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain).is_err() {
        plain = body.to_vec();
    }
    counts.add(&name, memchr::memchr_iter(b'\n', &plain).count() as u64);
    "ok"
}

/// An HTTP recipient counting lines per path (`/NAME`); returns its address.
async fn http_recipient(counts: Arc<Counts>) -> BenchResult<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = axum::Router::new().route("/{name}", axum::routing::post(receive_ndjson)).with_state(counts);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(format!("http://{addr}"))
}

/// A syslog TCP recipient counting octet-counted frames under `name`.
async fn syslog_recipient(counts: Arc<Counts>, name: &'static str) -> BenchResult<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 1 << 20];
                let (mut filled, mut skip) = (0usize, 0usize);
                loop {
                    let Ok(read) = stream.read(&mut buffer[filled..]).await else { return };
                    if read == 0 {
                        return;
                    }
                    filled += read;
                    let mut at = 0;
                    let mut frames = 0;
                    loop {
                        if skip > 0 {
                            let take = skip.min(filled - at);
                            at += take;
                            skip -= take;
                            if skip > 0 {
                                break;
                            }
                        }
                        let Some(space) = buffer[at..filled].iter().position(|b| *b == b' ') else { break };
                        let length: usize =
                            std::str::from_utf8(&buffer[at..at + space]).ok().and_then(|n| n.parse().ok()).unwrap_or(0);
                        at += space + 1;
                        skip = length;
                        frames += 1;
                    }
                    counts.add(name, frames);
                    buffer.copy_within(at..filled, 0);
                    filled -= at;
                }
            });
        }
    });
    Ok(format!("tcp://{addr}"))
}

async fn create_drain(server: &Server, app: &str, recipient: serde_json::Value, start: &str) -> BenchResult<()> {
    let response = server
        .http
        .post(format!("{}/api/v1/orgs/{}/apps/{app}/drains", server.base, server.org))
        .json(&json!({"kind": "LOG", "recipient": recipient, "start": start}))
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!("creating a drain of {app}: {}", response.text().await?).into());
    }
    Ok(())
}

/// Waits until `counts` has `want` lines under `name`; the seconds it took from `since`.
async fn wait_for(counts: &Counts, name: &str, want: u64, since: Instant) -> BenchResult<f64> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while counts.get(name) < want {
        if Instant::now() > deadline {
            return Err(format!("{name}: {} of {want} lines delivered in 600 s", counts.get(name)).into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(since.elapsed().as_secs_f64())
}

pub async fn run(config: DrainsBenchConfig) -> BenchResult<()> {
    let scratch = Scratch::new(&config.dir).map_err(|error| format!("{}: {error}", config.dir.display()))?;
    let extra = [
        "--statsd",
        "off",
        "--drain-allow-private-targets",
        "--drain-batch-max-lines",
        "10000",
        "--drain-batch-wait-ms",
        "100",
    ];
    let server = Server::start_with(&scratch.0, &extra).await?;
    println!("vigie serve (pid {}) at {}", server.pid, server.base);
    let counts = Arc::new(Counts::default());
    let http = http_recipient(counts.clone()).await?;
    let syslog = syslog_recipient(counts.clone(), "syslog").await?;
    let mut rows = Vec::new();

    // Delivery: the lines are stored first, then a drain sends them all.
    let deliveries = [
        ("raw-http", json!({"type": "raw-http", "url": format!("{http}/deliver")}), "deliver"),
        ("syslog-tcp", json!({"type": "syslog-tcp", "url": syslog}), "syslog"),
    ];
    for (recipient_type, recipient, counted) in deliveries {
        let app = format!("deliver-{recipient_type}");
        server.create_app(&app).await?;
        http_ingest(&server, &app, config.lines, config.senders).await?;
        let cpu_before = server.cpu_secs();
        let started = Instant::now();
        create_drain(&server, &app, recipient, "1h").await?;
        let stored = server.records(&app).await?;
        let secs = wait_for(&counts, counted, stored, started).await?;
        let cores = (server.cpu_secs() - cpu_before) / secs;
        rows.push(Row {
            what: format!(
                "one {recipient_type} drain on loopback, {} stored lines delivered in {secs:.2} s",
                group(stored as f64)
            ),
            figure: format!("{} lines/s (server busy {cores:.2} cores)", group(stored as f64 / secs)),
            target: "≥ 200,000 lines/s",
        });
    }

    // Ingest beside 0, 1 and 10 drains of the same app.
    for drains in [0usize, 1, 10] {
        let app = format!("ingest-{drains}");
        server.create_app(&app).await?;
        for n in 0..drains {
            create_drain(&server, &app, json!({"type": "raw-http", "url": format!("{http}/{app}-{n}")}), "now").await?;
        }
        let (rate, elapsed, cores) = http_ingest(&server, &app, config.ingest_lines, config.senders).await?;
        let ended = Instant::now();
        let stored = server.records(&app).await?;
        let mut caught_up = 0.0;
        for n in 0..drains {
            caught_up = wait_for(&counts, &format!("{app}-{n}"), stored, ended).await?;
        }
        rows.push(Row {
            what: format!(
                "HTTP NDJSON ingest beside {drains} raw-http drain(s), {} senders, {} lines in {elapsed:.2} s",
                config.senders,
                group(stored as f64)
            ),
            figure: if drains == 0 {
                format!("{} lines/s (server busy {cores:.2} cores)", group(rate))
            } else {
                format!(
                    "{} lines/s (server busy {cores:.2} cores); drains caught up {caught_up:.2} s after",
                    group(rate)
                )
            },
            target: "not slowed by drains",
        });
    }

    // Idle drains: memory and CPU of drains waiting for lines.
    let rss_before = server.rss_mb();
    let apps = config.idle_drains.div_ceil(100);
    for a in 0..apps {
        let app = format!("idle-{a}");
        server.create_app(&app).await?;
        for n in 0..100.min(config.idle_drains - a * 100) {
            create_drain(&server, &app, json!({"type": "raw-http", "url": format!("{http}/{app}-{n}")}), "now").await?;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = server.rss_mb();
    let cpu_before = server.cpu_secs();
    tokio::time::sleep(Duration::from_secs(config.idle_secs)).await;
    let idle_cores = (server.cpu_secs() - cpu_before) / config.idle_secs as f64;
    rows.push(Row {
        what: format!("{} idle drains ({apps} apps without traffic)", group(config.idle_drains as f64)),
        figure: format!(
            "RSS {rss_before} MB before, {rss_after} MB after; CPU {:.3} cores over {} s",
            idle_cores, config.idle_secs
        ),
        target: "small, flat",
    });
    print_table(&rows);
    server.stop().await;
    Ok(())
}
