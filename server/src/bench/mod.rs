//! `vigie bench store`: measures the topic store on this machine and prints
//! a Markdown table, the figures `docs/PERFORMANCE.md` quotes. Every case
//! uses the demo's realistic records (service lines and access logs) and a
//! fresh store in a scratch directory that is removed afterwards.

pub mod agent;
pub mod analytics;
pub mod api;
pub mod cluster;
pub mod drains;
pub mod metrics;
pub mod prometheus;
pub mod replay_load;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use vigie_app::model::LogKind;

use crate::demo::sample_payloads;
use crate::store::{Codec, Position, Store, StoreConfig, TopicKey};

pub struct BenchConfig {
    /// Where the scratch stores go (the disk being measured).
    pub dir: PathBuf,
    /// Records for the single-writer append and the scan.
    pub records: usize,
    pub codecs: Vec<Codec>,
    /// Size of the topic the seek case builds, in GB of log text (0: skip).
    pub seek_topic_gb: f64,
}

/// One row of the table.
pub(crate) struct Row {
    pub what: String,
    pub figure: String,
    pub target: &'static str,
}

pub fn run(config: &BenchConfig) -> Result<(), Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    // First, while the process is small: its RSS is what the topics cost.
    let scratch = Scratch::new(&config.dir)?;
    let (rss_mb, open_files) = many_topics(&scratch.0, &sample_payloads(LogKind::Service, 1_000, 3), 10_000)?;
    drop(scratch);
    rows.push(Row {
        what: "10,000 topics with 20 records each (whole process)".into(),
        figure: format!("RSS {rss_mb} MB, {open_files} open files"),
        target: "RSS < 200 MB, < 1,024 open files",
    });

    let service = sample_payloads(LogKind::Service, config.records, 1);
    let access = sample_payloads(LogKind::Access, config.records, 2);
    let mean_bytes = service.iter().map(|(_, p)| p.len()).sum::<usize>() / service.len().max(1);
    println!(
        "{} service records (mean {mean_bytes} bytes) and {} access records, in {}",
        service.len(),
        access.len(),
        config.dir.display()
    );
    for codec in &config.codecs {
        let name = codec_name(*codec);
        let scratch = Scratch::new(&config.dir)?;
        let store = Store::open_with(&scratch.0, StoreConfig { codec: *codec, ..StoreConfig::default() })?;
        let key = TopicKey::new("bench", "api", LogKind::Service);

        let rate = append_rate(&store, &key, &service)?;
        rows.push(Row {
            what: format!("durable append of service logs, batches of 1,000, one writer ({name})"),
            figure: format!("{} records/s", group(rate)),
            target: "≥ 1,000,000 records/s",
        });

        let needle = b"slow query";
        let finder = memchr::memmem::Finder::new(needle);
        let started = Instant::now();
        let mut matches = 0u64;
        let (scanned, _) = store.scan(&key, 0, |_, _, payload| {
            if finder.find(payload).is_some() {
                matches += 1;
            }
        });
        let elapsed = started.elapsed().as_secs_f64();
        rows.push(Row {
            what: format!("replay scan, substring filter, one core ({name}; {matches} matches)"),
            figure: format!("{:.2} GB/s", scanned as f64 / elapsed / 1e9),
            target: "≥ 1 GB/s per core",
        });

        let seek_ns = time_seeks(&store, &key, service.first().map_or(0, |r| r.0), service.last().map_or(0, |r| r.0));
        let info = store.info(&key).expect("the topic exists");
        rows.push(Row {
            what: format!("seek to a timestamp, {} MB on disk ({name})", info.bytes >> 20),
            figure: format!("{:.1} µs median", seek_ns / 1e3),
            target: "< 1 ms in 10 GB",
        });

        let access_key = TopicKey::new("bench", "api", LogKind::Access);
        let rate = append_rate(&store, &access_key, &access)?;
        rows.push(Row {
            what: format!("durable append of access logs, batches of 1,000, one writer ({name})"),
            figure: format!("{} records/s", group(rate)),
            target: "≥ 1,000,000 records/s",
        });
        let raw: usize = access.iter().map(|(_, p)| p.len() + 1).sum();
        let stored = store.info(&access_key).expect("the topic exists").bytes;
        rows.push(Row {
            what: format!("on-disk size of access logs ({name})"),
            figure: format!("1/{:.1} of raw NDJSON ({} → {} KB)", raw as f64 / stored as f64, raw >> 10, stored >> 10),
            target: "≤ 1/10",
        });
    }

    // Sealed segments are compacted in the background; small segments here
    // so nearly all of the data is sealed.
    let scratch = Scratch::new(&config.dir)?;
    let store = Store::open_with(&scratch.0, StoreConfig { segment_max_bytes: 4 << 20, ..StoreConfig::default() })?;
    let access_key = TopicKey::new("bench", "api", LogKind::Access);
    for chunk in access.chunks(1_000) {
        store.append_batch(&access_key, chunk.to_vec())?;
    }
    let raw: usize = access.iter().map(|(_, p)| p.len() + 1).sum();
    let started = Instant::now();
    store.compact()?;
    let compact_secs = started.elapsed().as_secs_f64();
    let stored = store.info(&access_key).expect("the topic exists").bytes;
    rows.push(Row {
        what: "on-disk size of access logs once sealed segments are compacted (zstd 9, 4 MiB blocks)".into(),
        figure: format!(
            "1/{:.1} of raw NDJSON ({} → {} KB; compaction {:.0} MB/s of log text)",
            raw as f64 / stored as f64,
            raw >> 10,
            stored >> 10,
            raw as f64 / compact_secs / 1e6
        ),
        target: "≤ 1/10",
    });
    drop(store);
    drop(scratch);

    let scratch = Scratch::new(&config.dir)?;
    let store = Store::open(&scratch.0)?;
    let rate = concurrent_appends(&store, &service, 64, 2_000)?;
    rows.push(Row {
        what: "durable append, batches of 1, 64 concurrent writers (group commit)".into(),
        figure: format!("{} records/s", group(rate)),
        target: "≥ 100,000 records/s",
    });

    let (p50, p99) = live_latency(&store, &service, 5_000)?;
    rows.push(Row {
        what: "durable append acknowledged → live subscriber, in process".into(),
        figure: format!("p50 {:.0} µs, p99 {:.0} µs", p50 * 1e6, p99 * 1e6),
        target: "p99 < 1 ms",
    });

    // A search for a word that is in no line: every record is examined.
    {
        let scratch = Scratch::new(&config.dir)?;
        let store = Store::open(&scratch.0)?;
        let key = TopicKey::new("bench", "search", LogKind::Service);
        fill_topic(&store, &key, &service, |records, _| records >= 10_000_000)?;
        let written = store.info(&key).expect("the topic exists").records;
        let filter = crate::query::CompiledFilter::parse("zanzibar")?;
        let mut samples = Vec::new();
        for _ in 0..5 {
            let request = crate::query::search::SearchRequest {
                key: &key,
                since_ns: None,
                until_ns: None,
                filter: &filter,
                order: crate::query::search::Order::OldestFirst,
                cursor: None,
                limit: 100,
            };
            let started = Instant::now();
            let page = crate::query::search::search(&store, &request);
            samples.push(started.elapsed().as_secs_f64());
            assert!(page.records.is_empty());
        }
        samples.sort_by(f64::total_cmp);
        rows.push(Row {
            what: format!("search a {}-line topic for a word in none of them, one core", group(written as f64)),
            figure: format!("{:.2} s median of 5", samples[2]),
            target: "< 1 s for 10 M lines",
        });
    }

    if config.seek_topic_gb > 0.0 {
        let scratch = Scratch::new(&config.dir)?;
        let store = Store::open(&scratch.0)?;
        let key = TopicKey::new("bench", "big", LogKind::Service);
        let target_bytes = (config.seek_topic_gb * 1e9) as u64;
        let (last_ts, raw) = fill_topic(&store, &key, &service, |_, bytes| bytes >= target_bytes)?;
        let first_ts = service.first().map_or(0, |r| r.0);
        let seek_ns = time_seeks(&store, &key, first_ts, last_ts);
        let info = store.info(&key).expect("the topic exists");
        rows.push(Row {
            what: format!(
                "seek to a timestamp, {:.1} GB of log text ({} MB on disk, {} records)",
                raw as f64 / 1e9,
                info.bytes >> 20,
                group(info.records as f64)
            ),
            figure: format!("{:.1} µs median", seek_ns / 1e3),
            target: "< 1 ms in 10 GB",
        });
    }

    print_table(&rows);
    Ok(())
}

/// Prints the rows as the Markdown table PERFORMANCE.md quotes.
pub(crate) fn print_table(rows: &[Row]) {
    println!();
    println!("| what | measured | target |");
    println!("| --- | --- | --- |");
    for row in rows {
        println!("| {} | {} | {} |", row.what, row.figure, row.target);
    }
}

fn codec_name(codec: Codec) -> String {
    match codec {
        Codec::Raw => "raw".into(),
        Codec::Lz4 => "lz4".into(),
        Codec::Zstd { level } => format!("zstd {level}"),
    }
}

/// Median time of a seek to a time spread over the topic.
fn time_seeks(store: &Store, key: &TopicKey, first_ts: i64, last_ts: i64) -> f64 {
    let mut samples: Vec<f64> = (0..1_000)
        .map(|i| {
            let ts = first_ts + (last_ts - first_ts) / 1_000 * i;
            let started = Instant::now();
            let replay = store.replay(key, Position::Time(ts), None);
            let elapsed = started.elapsed().as_nanos() as f64;
            drop(replay);
            elapsed
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn concurrent_appends(
    store: &Store,
    records: &[(i64, String)],
    writers: usize,
    per_writer: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let key = TopicKey::new("bench", "group", LogKind::Service);
    let records = Arc::new(records.to_vec());
    let started = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (store, key, records) = (store.clone(), key.clone(), records.clone());
            std::thread::spawn(move || {
                for n in 0..per_writer {
                    let record = records[(w * per_writer + n) % records.len()].clone();
                    store.append_batch(&key, vec![record]).map(|_| ())?;
                }
                Ok::<_, crate::store::StoreError>(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "a writer thread panicked")??;
    }
    Ok((writers * per_writer) as f64 / started.elapsed().as_secs_f64())
}

/// p50 and p99, in seconds, from an append's acknowledgement to a live
/// subscriber holding the record.
fn live_latency(
    store: &Store,
    records: &[(i64, String)],
    samples: usize,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let key = TopicKey::new("bench", "live", LogKind::Service);
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<(u64, Instant)>();
    let tail = store.tail(&key, None)?;
    runtime.spawn(async move {
        let mut tail = Box::pin(tail);
        while let Some(batch) = tail.next().await {
            let now = Instant::now();
            for record in batch.records {
                let _ = seen_tx.send((record.offset, now));
            }
        }
    });
    let mut latencies = Vec::with_capacity(samples);
    for n in 0..samples {
        let record = records[n % records.len()].clone();
        let offsets = store.append_batch(&key, vec![record])?;
        let acked = Instant::now();
        loop {
            let (offset, seen) = seen_rx.recv_timeout(Duration::from_secs(5))?;
            if offset == offsets.start {
                latencies.push(seen.saturating_duration_since(acked).as_secs_f64());
                break;
            }
        }
    }
    runtime.shutdown_background();
    latencies.sort_by(f64::total_cmp);
    Ok((latencies[latencies.len() / 2], latencies[latencies.len() * 99 / 100]))
}

/// RSS in MB and open files after writing to and reading from `count` topics.
fn many_topics(
    dir: &Path,
    records: &[(i64, String)],
    count: usize,
) -> Result<(u64, usize), Box<dyn std::error::Error>> {
    let store = Store::open(dir)?;
    for n in 0..count {
        let key = TopicKey::new("bench", &format!("app-{n:05}"), LogKind::Service);
        let start = (n * 20) % records.len().saturating_sub(20).max(1);
        store.append_batch(&key, records[start..start + 20].to_vec())?;
    }
    for n in (0..count).step_by(7) {
        let key = TopicKey::new("bench", &format!("app-{n:05}"), LogKind::Service);
        store.read(&key, 0, 20);
    }
    let status = std::fs::read_to_string("/proc/self/status")?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or_default();
    let open_files = std::fs::read_dir("/proc/self/fd")?.count();
    Ok((rss_kb >> 10, open_files))
}

/// A directory removed when the case ends.
pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    pub(crate) fn new(parent: &Path) -> std::io::Result<Scratch> {
        std::fs::create_dir_all(parent)?;
        let dir = parent.join(format!("vigie-bench-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `1234567.8` → `1,234,568`.
pub(crate) fn group(n: f64) -> String {
    vigie_app::model::group_thousands(n.round().max(0.0) as u64)
}

/// Appends `records` in batches of 1,000; returns records per second.
fn append_rate(store: &Store, key: &TopicKey, records: &[(i64, String)]) -> Result<f64, crate::store::StoreError> {
    let started = Instant::now();
    for chunk in records.chunks(1_000) {
        store.append_batch(key, chunk.to_vec())?;
    }
    Ok(records.len() as f64 / started.elapsed().as_secs_f64())
}

/// Appends `sample` over and over, shifted in time so times keep growing,
/// until `enough(records, log_text_bytes)`; returns the last time written
/// and the bytes of log text.
fn fill_topic(
    store: &Store,
    key: &TopicKey,
    sample: &[(i64, String)],
    enough: impl Fn(usize, u64) -> bool,
) -> Result<(i64, u64), crate::store::StoreError> {
    let span = sample.last().map_or(1, |r| r.0) - sample.first().map_or(0, |r| r.0) + 1;
    let (mut records, mut bytes, mut last_ts) = (0usize, 0u64, 0i64);
    for round in 0.. {
        for chunk in sample.chunks(1_000) {
            if enough(records, bytes) {
                return Ok((last_ts, bytes));
            }
            let batch: Vec<(i64, String)> = chunk.iter().map(|(ts, p)| (ts + round * span, p.clone())).collect();
            records += batch.len();
            bytes += batch.iter().map(|(_, p)| p.len() as u64).sum::<u64>();
            last_ts = batch.last().map_or(last_ts, |r| r.0);
            store.append_batch(key, batch)?;
        }
    }
    unreachable!("the rounds go on until enough")
}
