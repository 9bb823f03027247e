//! `vigie bench analytics`: the same access lines in Vigie's store and in
//! ClickHouse, side by side: bytes on disk, a rare term searched in every
//! text field, a count of 5xx, the top 10 paths, a per-minute histogram of
//! the day. Prints the median of `--runs` runs of each and the ratio.
//!
//! Vigie answers through its query layer, in process, as the Logs API's
//! handlers call it (`query::search::search` for `GET .../logs`,
//! `query::stats::count` for `GET .../logs/stats`), so HTTP is not timed.
//! ClickHouse runs in process too, in Python through the `chdb` package
//! (`scripts/analytics-clickhouse.py`, installed by `scripts/setup test`):
//! a MergeTree table ordered by time, every column `CODEC(ZSTD(1))`, loaded
//! from the same lines written as NDJSON. Without chdb the ClickHouse
//! column says "not available" and Vigie's figures are still printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use vigie_app::model::LogKind;

use super::{group, Scratch};
use crate::query::search::{search, Order, SearchRequest};
use crate::query::stats::{count, Split, Stats, StatsRequest};
use crate::query::CompiledFilter;
use crate::store::{ColumnsAt, Store, StoreConfig, TokenIndex, TopicKey};

#[derive(clap::Args, Debug)]
pub struct AnalyticsBenchConfig {
    /// Where the scratch store, NDJSON file and ClickHouse database go.
    #[arg(long, default_value = "./data/bench")]
    pub dir: PathBuf,
    /// Access lines, spread evenly over 24 hours.
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: usize,
    /// Runs of each question on each side; the median is shown.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// A Python with the `chdb` package.
    #[arg(long, default_value = "scripts/tools/venv/bin/python")]
    pub python: PathBuf,
    /// ClickHouse's side of the bench.
    #[arg(long, default_value = "scripts/analytics-clickhouse.py")]
    pub script: PathBuf,
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The rare term: a scanner's user agent, on [`RARE_LINES`] lines.
const RARE: &str = "zgrab";
const RARE_LINES: usize = 10;
const DAY_NS: i64 = 86_400_000_000_000;
const MINUTE_NS: i64 = 60_000_000_000;

/// The bench's lines: `(ts_ns, payload)`, oldest first, over 24 h.
fn lines(count: usize) -> Vec<(i64, String)> {
    let mut rng = SmallRng::seed_from_u64(16);
    let start = 1_795_478_400_000_000_000; // 2026-11-24T00:00:00Z
    let rare: Vec<usize> = (0..RARE_LINES).map(|_| rng.random_range(0..count.max(1))).collect();
    (0..count)
        .map(|i| {
            let app = if i % 2 == 0 { "api" } else { "shop" };
            let mut line = crate::demo::access::request(&mut rng, app);
            if rare.contains(&i) {
                line.user_agent = format!("Mozilla/5.0 (compatible; {RARE}/0.x)");
            }
            let ts_ns = start + (i as i128 * DAY_NS as i128 / count as i128) as i64;
            (ts_ns, serde_json::to_string(&line).expect("access lines serialise"))
        })
        .collect()
}

/// Median milliseconds of `runs` calls of `work`, and its last answer.
fn timed<T>(runs: usize, mut work: impl FnMut() -> T) -> (f64, T) {
    let mut samples = Vec::with_capacity(runs);
    let mut answer = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        answer = Some(work());
        samples.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], answer.expect("at least one run"))
}

/// Vigie's answers, comparable with ClickHouse's.
#[derive(Debug, Default)]
struct Answers {
    rare: usize,
    errors: u64,
    top_paths: Vec<(String, u64)>,
    buckets: usize,
    bucketed: u64,
}

/// ClickHouse's side: its JSON answer, or why there is none.
fn clickhouse(
    config: &AnalyticsBenchConfig,
    ndjson: &Path,
    dir: &Path,
    range: (i64, i64),
) -> Result<serde_json::Value, String> {
    let output = Command::new(&config.python)
        .arg(&config.script)
        .arg("--ndjson")
        .arg(ndjson)
        .arg("--dir")
        .arg(dir)
        .args(["--rare", RARE, "--since-ns", &range.0.to_string(), "--until-ns", &range.1.to_string()])
        .args(["--runs", &config.runs.to_string()])
        .output()
        .map_err(|error| {
            format!("{} cannot run: {error} (install it with scripts/setup test)", config.python.display())
        })?;
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|_| {
        format!("{} failed: {}", config.script.display(), String::from_utf8_lossy(&output.stderr).trim())
    })?;
    match answer["error"].as_str() {
        Some(error) => Err(error.to_string()),
        None if output.status.success() => Ok(answer),
        None => Err(format!("{} failed: {}", config.script.display(), String::from_utf8_lossy(&output.stderr).trim())),
    }
}

pub fn run(config: &AnalyticsBenchConfig) -> BenchResult<()> {
    let scratch = Scratch::new(&config.dir).map_err(|error| format!("{}: {error}", config.dir.display()))?;
    let dir = scratch.0.canonicalize()?;
    let records = lines(config.lines);
    let range = (records.first().map_or(0, |r| r.0), records.last().map_or(0, |r| r.0));

    // The same lines as NDJSON, each with its time, for ClickHouse.
    let ndjson = dir.join("access.ndjson");
    let mut text = String::with_capacity(records.iter().map(|(_, p)| p.len() + 32).sum());
    for (ts_ns, payload) in &records {
        text.push_str(&format!("{{\"ts_ns\":{ts_ns},"));
        text.push_str(&payload[1..]);
        text.push('\n');
    }
    std::fs::write(&ndjson, &text)?;
    let ndjson_bytes = text.len() as u64;
    drop(text);
    println!(
        "{} access lines over 24 h, {} MB of NDJSON, in {}",
        group(records.len() as f64),
        ndjson_bytes >> 20,
        dir.display()
    );

    // Vigie: appended in batches of 1,000 into 4 MiB segments, so nearly
    // all of the day is sealed, then compacted as the background task does.
    let store =
        Store::open_with(dir.join("vigie"), StoreConfig { segment_max_bytes: 4 << 20, ..StoreConfig::default() })?;
    let key = TopicKey::new("bench", "web", LogKind::Access);
    let started = Instant::now();
    for chunk in records.chunks(1_000) {
        store.append_batch(&key, chunk.to_vec())?;
    }
    let append_s = started.elapsed().as_secs_f64();
    let appended_bytes = store.info(&key).ok_or("no topic")?.bytes;
    let rare_filter = CompiledFilter::parse(RARE)?;
    let rare_search = |filter: &CompiledFilter| {
        let request = SearchRequest {
            key: &key,
            since_ns: Some(range.0),
            until_ns: Some(range.1),
            filter,
            order: Order::OldestFirst,
            cursor: None,
            limit: 100,
        };
        search(&store, &request).records.len()
    };
    let (rare_appended_ms, _) = timed(config.runs, || rare_search(&rare_filter));
    let started = Instant::now();
    store.compact()?;
    let compact_s = started.elapsed().as_secs_f64();
    let compacted_bytes = store.info(&key).ok_or("no topic")?.bytes;
    println!("Vigie: appended in {append_s:.1} s, compacted in {compact_s:.1} s");

    // What the token index and the columns cost: the same lines without one.
    let without = |name: &str, config: StoreConfig| -> BenchResult<(f64, u64, u64)> {
        let plain = Store::open_with(dir.join(name), config)?;
        let started = Instant::now();
        for chunk in records.chunks(1_000) {
            plain.append_batch(&key, chunk.to_vec())?;
        }
        let append_s = started.elapsed().as_secs_f64();
        let appended = plain.info(&key).ok_or("no topic")?.bytes;
        plain.compact()?;
        let compacted = plain.info(&key).ok_or("no topic")?.bytes;
        drop(plain);
        let _ = std::fs::remove_dir_all(dir.join(name));
        Ok((append_s, appended, compacted))
    };
    let sized = StoreConfig { segment_max_bytes: 4 << 20, ..StoreConfig::default() };
    let (plain_append_s, plain_appended, plain_compacted) =
        without("vigie-without-index", StoreConfig { token_index: TokenIndex::Off, ..sized.clone() })?;
    let (flat_append_s, flat_appended, flat_compacted) =
        without("vigie-without-columns", StoreConfig { columns: ColumnsAt::Off, ..sized })?;

    let mut answers = Answers::default();
    let (rare_ms, rare) = timed(config.runs, || rare_search(&rare_filter));
    answers.rare = rare;
    let unindexed = CompiledFilter::parse(RARE)?.without_index();
    let (rare_unindexed_ms, _) = timed(config.runs, || rare_search(&unindexed));
    let stats = |filter: &CompiledFilter, step_ns: Option<i64>, by: Option<&str>| -> Stats {
        let by: Vec<&str> = by.into_iter().collect();
        let request = StatsRequest {
            key: &key,
            since_ns: Some(range.0),
            until_ns: Some(range.1),
            filter,
            step_ns,
            split: Split::StatusClass,
            by: by.as_slice(),
            discover: 0,
            top: 10,
        };
        count(&store, &request)
    };
    let errors_filter = CompiledFilter::parse("status>=500")?;
    let (errors_ms, errors) = timed(config.runs, || stats(&errors_filter, None, None));
    answers.errors = errors.total;
    let everything = CompiledFilter::parse("")?;
    let (top_ms, top) = timed(config.runs, || stats(&everything, None, Some("path")));
    answers.top_paths = top.fields.into_iter().flat_map(|field| field.top).map(|top| (top.value, top.count)).collect();
    let (histogram_ms, histogram) = timed(config.runs, || stats(&everything, Some(MINUTE_NS), None));
    answers.buckets = histogram.buckets.len();
    answers.bucketed = histogram.buckets.iter().map(|bucket| bucket.total).sum();
    drop(store);

    let clickhouse = clickhouse(config, &ndjson, &dir.join("clickhouse"), range);
    let ch_ms = |name: &str| clickhouse.as_ref().ok().and_then(|answer| answer["median_ms"][name].as_f64());
    let ch_figure = |name: &str| match (&clickhouse, ch_ms(name)) {
        (Ok(_), Some(ms)) => format!("{ms:.1} ms"),
        (Err(_), _) => "not available".to_string(),
        (Ok(_), None) => "no answer".to_string(),
    };
    let ratio =
        |vigie: f64, theirs: Option<f64>| theirs.map_or("–".to_string(), |theirs| format!("{:.2}", vigie / theirs));
    let of_ndjson = |bytes: u64| {
        format!("{:.1} MB (1/{:.1} of the NDJSON)", bytes as f64 / 1e6, ndjson_bytes as f64 / bytes as f64)
    };
    let ch_bytes = clickhouse.as_ref().ok().and_then(|answer| answer["bytes"].as_u64());

    let mut rows: Vec<[String; 4]> = Vec::new();
    rows.push([
        format!("bytes on disk (NDJSON: {:.1} MB)", ndjson_bytes as f64 / 1e6),
        ch_bytes.map_or_else(|| ch_figure("bytes"), of_ndjson),
        format!("{} compacted; {} as appended", of_ndjson(compacted_bytes), of_ndjson(appended_bytes)),
        ratio(compacted_bytes as f64, ch_bytes.map(|b| b as f64)),
    ]);
    // What Vigie pays for a part of its frames: bytes and append rate against the same lines without it.
    let cost = |what: &str, them: &str, (without_append_s, without_appended, without_compacted): (f64, u64, u64)| {
        [
            what.to_string(),
            "–".to_string(),
            format!(
                "{:+.1} % bytes compacted, {:+.1} % as appended; appends {:.0} k lines/s with {them}, {:.0} k/s without",
                (compacted_bytes as f64 / without_compacted as f64 - 1.0) * 100.0,
                (appended_bytes as f64 / without_appended as f64 - 1.0) * 100.0,
                records.len() as f64 / append_s / 1e3,
                records.len() as f64 / without_append_s / 1e3
            ),
            "–".to_string(),
        ]
    };
    rows.push(cost("what the token index costs Vigie", "it", (plain_append_s, plain_appended, plain_compacted)));
    rows.push(cost("what the columns cost Vigie", "them", (flat_append_s, flat_appended, flat_compacted)));
    rows.push([
        format!("`{RARE}` in any text, a page of up to 100 ({} lines)", answers.rare),
        ch_figure("rare"),
        format!("{rare_ms:.1} ms (as appended: {rare_appended_ms:.1} ms; without the token index: {rare_unindexed_ms:.1} ms)"),
        ratio(rare_ms, ch_ms("rare")),
    ]);
    rows.push([
        format!("count of `status>=500` ({})", group(answers.errors as f64)),
        ch_figure("errors"),
        format!("{errors_ms:.1} ms"),
        ratio(errors_ms, ch_ms("errors")),
    ]);
    rows.push([
        "top 10 paths".into(),
        ch_figure("top_paths"),
        format!("{top_ms:.1} ms"),
        ratio(top_ms, ch_ms("top_paths")),
    ]);
    rows.push([
        format!("1-minute histogram of 24 h by status class ({} buckets)", group(answers.buckets as f64)),
        ch_figure("histogram"),
        format!("{histogram_ms:.1} ms"),
        ratio(histogram_ms, ch_ms("histogram")),
    ]);

    println!();
    println!("| what | ClickHouse (chdb) | Vigie | Vigie / ClickHouse |");
    println!("| --- | --- | --- | --- |");
    for row in &rows {
        println!("| {} | {} | {} | {} |", row[0], row[1], row[2], row[3]);
    }
    println!();
    match &clickhouse {
        Err(reason) => println!("ClickHouse: not available ({reason})"),
        Ok(answer) => {
            let theirs = &answer["answers"];
            let top: Vec<(String, u64)> = theirs["top_paths"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .map(|row| (row[0].as_str().unwrap_or("").to_string(), row[1].as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default();
            let agree = [
                ("rare lines", theirs["rare"].as_u64() == Some(answers.rare as u64)),
                ("5xx count", theirs["errors"].as_u64() == Some(answers.errors)),
                ("top paths", top == answers.top_paths),
                ("histogram buckets", theirs["histogram"]["buckets"].as_u64() == Some(answers.buckets as u64)),
                ("histogram total", theirs["histogram"]["total"].as_u64() == Some(answers.bucketed)),
            ];
            let differ: Vec<&str> = agree.iter().filter(|(_, same)| !same).map(|(what, _)| *what).collect();
            if differ.is_empty() {
                println!(
                    "Both sides gave the same answers (ClickHouse loaded in {:.1} s).",
                    answer["load_s"].as_f64().unwrap_or(0.0)
                );
            } else {
                println!("The answers differ on: {} (ClickHouse: {theirs}; Vigie: {answers:?})", differ.join(", "));
            }
        }
    }
    Ok(())
}
