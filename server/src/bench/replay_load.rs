//! `vigie bench replay-load`: what long filtered replays cost the live
//! side. One app's topic is filled with demo lines (10 M by default) and
//! compacted, in this process, before `vigie serve` starts as a child on
//! the same data directory, as a server that has held the topic a while.
//! Then, over loopback, twice:
//!
//! 1. alone: HTTP NDJSON ingest at full speed (as `vigie bench api`), then
//!    SSE followers of another app while a producer sends at a steady
//!    rate (latency from send to arrival);
//! 2. the same on fresh apps while replay clients page, over and over,
//!    through the filled topic with `GET .../logs?since=…&q=…&limit=…`, a
//!    filter that matches one line in 10,000 (so each page scans far).
//!
//! It prints both rows and the ratios (with replays / alone). The replays
//! are read on the server's blocking threads, the live tails and ingest on
//! its runtime: the ratios say how well the two are kept apart on this
//! machine, where the clients share the cores with the server.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use vigie_app::model::{LogKind, ServiceLine};

use super::api::{follow, http_ingest, BenchResult, FollowLoad, Followed, Server};
use super::{group, print_table, Row, Scratch};
use crate::bootstrap::FIRST_ORG;
use crate::clock::now_ns;
use crate::demo::sample_payloads;
use crate::store::{Store, TopicKey};

/// What `vigie bench replay-load` runs; each field is a flag of the same name.
#[derive(clap::Args, Debug)]
pub struct ReplayLoadConfig {
    /// Where the server's scratch data directory goes.
    #[arg(long, default_value = "./data/bench")]
    pub dir: PathBuf,
    /// Lines in the replayed topic (filled before the server starts).
    #[arg(long, default_value_t = 10_000_000)]
    pub replay_lines: usize,
    /// Replay clients paging through it at once.
    #[arg(long, default_value_t = 2)]
    pub replays: usize,
    /// `limit` of each replay page.
    #[arg(long, default_value_t = 100)]
    pub replay_page: usize,
    /// Lines sent over HTTP in each ingest case.
    #[arg(long, default_value_t = 1_000_000)]
    pub http_lines: usize,
    /// Concurrent HTTP senders.
    #[arg(long, default_value_t = 4)]
    pub http_senders: usize,
    /// SSE clients following one app.
    #[arg(long, default_value_t = 100)]
    pub followers: usize,
    /// Lines per second the producer sends while they follow.
    #[arg(long, default_value_t = 10_000)]
    pub follow_lines_per_sec: usize,
    /// Batches per second the followed lines are sent in.
    #[arg(long, default_value_t = 100)]
    pub follow_batches_per_sec: usize,
    /// How long the producer sends, in seconds.
    #[arg(long, default_value_t = 15)]
    pub follow_secs: u64,
}

/// The replayed app, and the word only its marked lines hold.
const REPLAYED_APP: &str = "replayed";
const NEEDLE: &str = "zanzibar";
/// One line in this many holds the needle.
const NEEDLE_EVERY: usize = 10_000;
/// The filled topic's lines span the two hours before the bench starts,
/// so `since=3h` takes them all.
const FILL_SPAN_NS: i64 = 2 * 3_600_000_000_000;
const SINCE: &str = "3h";

pub async fn run(config: ReplayLoadConfig) -> BenchResult<()> {
    let scratch = Scratch::new(&config.dir).map_err(|error| format!("{}: {error}", config.dir.display()))?;
    let key = TopicKey::new(FIRST_ORG, REPLAYED_APP, LogKind::Service);
    let (dir, lines) = (scratch.0.clone(), config.replay_lines);
    let filled = tokio::task::spawn_blocking(move || fill(&dir, &key, lines)).await??;
    println!(
        "filled {} lines ({:.2} GB of log text, {} with \"{NEEDLE}\") in {:.1} s, compacted in {:.1} s",
        group(lines as f64),
        filled.text_bytes as f64 / 1e9,
        group(filled.matches as f64),
        filled.fill_secs,
        filled.compact_secs
    );

    let server = Server::start(&scratch.0).await?;
    println!("vigie serve (pid {}) at {}", server.pid, server.base);
    for app in [REPLAYED_APP, "ingest-alone", "ingest-replays", "follow-alone", "follow-replays"] {
        server.create_app(app).await?;
    }
    let stored = server.records(REPLAYED_APP).await?;
    if stored != lines as u64 {
        return Err(format!("filled {lines} lines, the server reads {stored}").into());
    }

    let mut rows = Vec::new();
    // One pass alone: what a replay costs by itself (and the page cache warm).
    let mut alone = Replays::start(&server, 1, config.replay_page, lines as u64, filled.matches);
    let pass_started = Instant::now();
    while alone.passes() < 1 {
        alone.check().await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pass_secs = pass_started.elapsed().as_secs_f64();
    alone.stop().await?;
    rows.push(Row {
        what: format!(
            "one filtered replay alone: {} lines, `q={NEEDLE}` ({} matches), pages of {}",
            group(lines as f64),
            group(filled.matches as f64),
            config.replay_page
        ),
        figure: format!("{pass_secs:.2} s ({:.1} M lines/s)", lines as f64 / pass_secs / 1e6),
        target: "",
    });

    let load = FollowLoad {
        followers: config.followers,
        lines_per_sec: config.follow_lines_per_sec,
        batches_per_sec: config.follow_batches_per_sec,
        secs: config.follow_secs,
    };
    let mut measured = Vec::new();
    for (case, replays) in [("alone", 0), ("replays", config.replays)] {
        let mut running = Replays::start(&server, replays, config.replay_page, lines as u64, filled.matches);
        if replays > 0 {
            // Let them get going before measuring.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let replay_started = Instant::now();
        let ingest = http_ingest(&server, &format!("ingest-{case}"), config.http_lines, config.http_senders).await?;
        running.check().await?;
        let followed = follow(&server, &format!("follow-{case}"), &load).await?;
        let replay_secs = replay_started.elapsed().as_secs_f64();
        let scanned = running.lines_scanned();
        let passes = running.passes();
        running.stop().await?;
        let during = if replays == 0 {
            "alone".to_string()
        } else {
            format!(
                "while {replays} replays run ({passes} passes, {:.1} M lines/s scanned by them)",
                scanned as f64 / replay_secs / 1e6
            )
        };
        rows.push(ingest_row(&config, &during, ingest));
        rows.push(follow_row(&config, &during, &followed));
        measured.push((ingest.0, followed));
    }
    let [(ingest_alone, followed_alone), (ingest_replays, followed_replays)] = &measured[..] else {
        unreachable!("two cases")
    };
    rows.push(Row {
        what: format!("with {} replays / alone", config.replays),
        figure: format!(
            "ingest ×{:.2}; live tail p50 ×{:.2}, p99 ×{:.2}",
            ingest_replays / ingest_alone,
            followed_replays.p50_ms / followed_alone.p50_ms,
            followed_replays.p99_ms / followed_alone.p99_ms
        ),
        target: "",
    });
    print_table(&rows);
    server.stop().await;
    Ok(())
}

fn ingest_row(config: &ReplayLoadConfig, during: &str, (rate, elapsed, cores): (f64, f64, f64)) -> Row {
    Row {
        what: format!(
            "HTTP NDJSON ingest, batches of 1,000, {} senders, {} lines in {elapsed:.2} s, {during}",
            config.http_senders,
            group(config.http_lines as f64)
        ),
        figure: format!("{} lines/s (server busy {cores:.2} cores)", group(rate)),
        target: "≥ 500,000 lines/s",
    }
}

fn follow_row(config: &ReplayLoadConfig, during: &str, followed: &Followed) -> Row {
    Row {
        what: format!(
            "{} SSE followers of one app, {} lines/s in {} batches/s for {} s, {during}: send → client latency",
            config.followers,
            group(config.follow_lines_per_sec as f64),
            config.follow_batches_per_sec,
            config.follow_secs
        ),
        figure: format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} of {} lines delivered; server busy {:.2} cores",
            followed.p50_ms,
            followed.p99_ms,
            followed.max_ms,
            group(followed.delivered as f64),
            group(followed.expected as f64),
            followed.server_cores
        ),
        target: "p99 < 50 ms",
    }
}

struct Filled {
    text_bytes: u64,
    /// Lines that hold the needle.
    matches: u64,
    fill_secs: f64,
    compact_secs: f64,
}

/// Appends `lines` demo service lines to `key` in a store at `dir`, one in
/// [`NEEDLE_EVERY`] holding [`NEEDLE`], spread over the two hours before
/// now, then compacts the sealed segments as the server's upkeep would (so
/// the server starts with nothing to compact). Blocks: call it from a
/// blocking thread.
fn fill(dir: &std::path::Path, key: &TopicKey, lines: usize) -> BenchResult<Filled> {
    let mut sample = sample_payloads(LogKind::Service, 100_000, 13);
    for (_, payload) in sample.iter_mut().step_by(NEEDLE_EVERY) {
        let mut line: ServiceLine = serde_json::from_str(payload)?;
        line.message = format!("replica {NEEDLE} is lagging behind: {}", line.message);
        *payload = serde_json::to_string(&line)?;
    }
    let store = Store::open(dir)?;
    let first_ts = now_ns() - FILL_SPAN_NS;
    let step_ns = (FILL_SPAN_NS / lines.max(1) as i64).max(1);
    let (mut text_bytes, mut matches) = (0u64, 0u64);
    let started = Instant::now();
    let mut n = 0usize;
    while n < lines {
        let count = (lines - n).min(10_000);
        let batch: Vec<(i64, String)> = (n..n + count)
            .map(|i| {
                let payload = &sample[i % sample.len()].1;
                text_bytes += payload.len() as u64;
                matches += u64::from((i % sample.len()).is_multiple_of(NEEDLE_EVERY));
                (first_ts + i as i64 * step_ns, payload.clone())
            })
            .collect();
        store.append_batch(key, batch)?;
        n += count;
    }
    let fill_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    store.compact()?;
    let compact_secs = started.elapsed().as_secs_f64();
    Ok(Filled { text_bytes, matches, fill_secs, compact_secs })
}

/// Replay clients paging through the filled topic from its start to its
/// end, over and over, until stopped. Each pass must find every marked
/// line, so a replay that skips or repeats fails the bench.
struct Replays {
    stop: Arc<AtomicBool>,
    passes: Arc<AtomicU64>,
    /// Offsets covered by the pages of passes not yet complete, and of
    /// completed passes (counted as whole topics).
    scanned: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), String>>>,
}

impl Replays {
    fn start(server: &Server, clients: usize, page: usize, lines: u64, matches: u64) -> Replays {
        let (stop, passes, scanned) = (Arc::default(), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let url = server.logs_url(REPLAYED_APP);
        let tasks = (0..clients)
            .map(|_| {
                let (stop, passes, scanned): (Arc<AtomicBool>, _, _) =
                    (Arc::clone(&stop), passes.clone(), scanned.clone());
                let (http, url) = (server.http.clone(), url.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let (mut cursor, mut found) = (None::<u64>, 0u64);
                        loop {
                            let mut query = vec![
                                ("since", SINCE.to_string()),
                                ("q", NEEDLE.to_string()),
                                ("limit", page.to_string()),
                            ];
                            query.extend(cursor.map(|c| ("cursor", c.to_string())));
                            let response = http.get(&url).query(&query).send().await.map_err(|e| e.to_string())?;
                            if !response.status().is_success() {
                                return Err(format!("a replay page got {}", response.status()));
                            }
                            let body: Value = response.json().await.map_err(|e| e.to_string())?;
                            found += body["records"].as_array().map_or(0, |records| records.len() as u64);
                            let next = body["next_cursor"].as_str().and_then(|c| c.parse::<u64>().ok());
                            let from = cursor.unwrap_or(0);
                            match next {
                                Some(next) => {
                                    scanned.fetch_add(next.saturating_sub(from), Ordering::Relaxed);
                                    cursor = Some(next);
                                }
                                None => {
                                    scanned.fetch_add(lines.saturating_sub(from), Ordering::Relaxed);
                                    if found != matches {
                                        return Err(format!(
                                            "a replay pass found {found} lines, {matches} hold the word"
                                        ));
                                    }
                                    passes.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                            }
                            if stop.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        Replays { stop, passes, scanned, tasks }
    }

    fn passes(&self) -> u64 {
        self.passes.load(Ordering::Relaxed)
    }

    fn lines_scanned(&self) -> u64 {
        self.scanned.load(Ordering::Relaxed)
    }

    /// The error of a client that already stopped, if one did.
    async fn check(&mut self) -> BenchResult<()> {
        match self.tasks.iter_mut().find(|task| task.is_finished()) {
            Some(task) => {
                task.await??;
                Err("a replay client stopped early".into())
            }
            None => Ok(()),
        }
    }

    async fn stop(self) -> BenchResult<()> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await??;
        }
        Ok(())
    }
}
