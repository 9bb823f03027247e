//! `vigie agent`: runs next to an app and sends Vigie what the app says
//! and how the instance is doing, through the public APIs only.
//!
//! ```text
//! command stdout/stderr ─> records ─┐
//! --tail files ─────────> records ─┤
//! statsd UDP ─> aggregate per 10 s ─┼─> outbox ─> writer thread ─> spool (disk) ─> sender ─> Vigie
//! /proc every --interval ───────────┤
//! --scrape every 10 s ──────────────┘
//! ```
//!
//! Nothing that reads the app's output waits on Vigie or on the disk: the
//! outbox is a bounded queue that is never waited on (a full one drops the
//! entry and counts it), so a full pipe never stalls the app. The spool
//! keeps everything in order on disk until Vigie has acknowledged it
//! ([`spool`]), and the sender retries for as long as it takes ([`sender`]).
//!
//! With a command, the agent is its parent: it forwards the signals it
//! gets, logs each exit (and restart, with `--restart`), and when the
//! command is done for good, sends what is left (for `--flush-timeout` at
//! most; the rest stays in the buffer for the next start) and exits with
//! the command's status, as a container's entry point must.
//!
//! The rooms: [`command`] (the command, its signals and streams), [`tail`]
//! (followed files), [`records`] (lines into records), [`statsd`] (the
//! relay), [`proc`] (server metrics), [`scrape`] (a Prometheus endpoint),
//! [`spool`] (the buffer on disk), [`sender`] (to Vigie); this file wires
//! them and runs the 10 s clock.

pub mod command;
pub mod proc;
pub mod records;
pub mod scrape;
pub mod sender;
pub mod spool;
pub mod statsd;
pub mod tail;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use vigie_app::model::Level;

use self::records::{text_record, Source};
use self::sender::{SenderCounts, Target};
use self::spool::{EntryKind, Spool};
use self::statsd::StatsdRelay;
use super::CliError;
use crate::clock::now_ns;
use crate::ingest::instances::INTERVAL_MS;
use crate::ingest::points::PointsReport;

/// Entries the outbox holds before it drops (about 100 ms of a very busy app).
const OUTBOX_ENTRIES: usize = 65_536;
/// Points one report carries at most.
const POINTS_PER_REPORT: usize = 2_000;

/// What the agent runs or follows.
#[derive(Clone, Debug)]
pub enum Workload {
    /// A command and its arguments.
    Command(Vec<String>),
    /// Log files to follow.
    Tail(Vec<PathBuf>),
}

/// When a command that exited is started again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    Never,
    OnFailure,
    Always,
}

impl Restart {
    pub fn parse(text: &str) -> Result<Restart, String> {
        match text {
            "never" | "no" => Ok(Restart::Never),
            "on-failure" => Ok(Restart::OnFailure),
            "always" => Ok(Restart::Always),
            other => Err(format!("\"{other}\" is not a restart policy: use never, on-failure or always")),
        }
    }

    fn applies(self, code: i32) -> bool {
        match self {
            Restart::Never => false,
            Restart::OnFailure => code != 0,
            Restart::Always => true,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub target: Target,
    pub token: String,
    pub workload: Workload,
    /// Where plain statsd is read; `None` for nowhere.
    pub statsd: Option<SocketAddr>,
    /// Series the statsd relay keeps at once; lines of more are dropped.
    pub statsd_max_series: usize,
    /// Between two reports of server metrics: a multiple of 10 s.
    pub interval: Duration,
    /// A Prometheus text endpoint read every 10 s into custom metrics.
    pub scrape: Option<String>,
    pub buffer_dir: PathBuf,
    pub buffer_max_bytes: u64,
    pub restart: Restart,
    /// How long the agent keeps sending after the command is done.
    pub flush_timeout: Duration,
    /// Copy the command's output to the agent's own stdout and stderr.
    pub echo: bool,
}

/// What producers hand the spool's writer thread. Cloning it is shallow;
/// [`Outbox::push`] never waits.
#[derive(Clone)]
pub struct Outbox {
    queue: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

enum Message {
    Entry(EntryKind, Vec<u8>),
    /// Everything before this is in the spool: the writer stops.
    Close,
}

impl Outbox {
    /// Queues an entry for the spool, or drops and counts it when the
    /// queue is full (the disk is far behind): the caller never waits.
    pub fn push(&self, kind: EntryKind, payload: Vec<u8>) {
        match self.queue.try_send(Message::Entry(kind, payload)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn log(&self, record: String) {
        self.push(EntryKind::Log, record.into_bytes());
    }

    /// A line from the agent itself.
    fn say(&self, level: Level, message: &str) {
        match level {
            Level::Error | Level::Fatal => tracing::error!("vigie agent: {message}"),
            Level::Warn => tracing::warn!("vigie agent: {message}"),
            _ => tracing::info!("vigie agent: {message}"),
        }
        self.log(text_record(message, now_ns(), &Source::Agent, Some(level)));
    }
}

/// Moves queued entries to the spool, many per write, until told to close.
/// Blocks: run it on its own thread.
fn write_spool(queue: Receiver<Message>, spool: Arc<Spool>, wake: Arc<Notify>) {
    let mut entries = Vec::new();
    let mut closing = false;
    while !closing {
        match queue.recv() {
            Ok(Message::Entry(kind, payload)) => entries.push((kind, payload)),
            Ok(Message::Close) | Err(_) => closing = true,
        }
        while entries.len() < 4_096 && !closing {
            match queue.try_recv() {
                Ok(Message::Entry(kind, payload)) => entries.push((kind, payload)),
                Ok(Message::Close) => closing = true,
                Err(_) => break,
            }
        }
        if !entries.is_empty() {
            if let Err(error) = spool.append(&entries) {
                tracing::error!("vigie agent: cannot write the buffer ({} entries lost): {error}", entries.len());
            }
            entries.clear();
            wake.notify_one();
        }
    }
}

/// Runs the agent; returns the exit code it should exit with.
pub async fn run(config: AgentConfig) -> Result<i32, CliError> {
    let spool = {
        let (dir, max_bytes) = (config.buffer_dir.clone(), config.buffer_max_bytes);
        tokio::task::spawn_blocking(move || Spool::open(&dir, max_bytes))
            .await
            .map_err(|error| CliError::Config(error.to_string()))?
            .map_err(|error| {
                CliError::Config(format!("cannot open the buffer in {}: {error}", config.buffer_dir.display()))
            })?
    };
    let spool = Arc::new(spool);
    let statsd_socket = match config.statsd {
        Some(addr) => Some(
            statsd::bind(addr)
                .map_err(|error| CliError::Config(format!("cannot read statsd on {addr}: {error} (see --statsd)")))?,
        ),
        None => None,
    };
    let http =
        super::remote::Remote { url: config.target.url.clone(), token: Some(config.token.clone()), org: String::new() }
            .client()?;

    let wake = Arc::new(Notify::new());
    let (queue, queued) = std::sync::mpsc::sync_channel(OUTBOX_ENTRIES);
    let outbox = Outbox { queue, dropped: Arc::new(AtomicU64::new(0)) };
    let writer = {
        let (spool, wake) = (spool.clone(), wake.clone());
        std::thread::Builder::new()
            .name("vigie-agent-spool".into())
            .spawn(move || write_spool(queued, spool, wake))
            .map_err(CliError::Output)?
    };
    let (closing, closing_seen) = watch::channel(false);
    let counts = Arc::new(SenderCounts::default());
    let sender =
        tokio::spawn(sender::run(spool.clone(), http, config.target.clone(), wake, closing_seen, counts.clone()));

    let relay = statsd_socket.map(|socket| {
        let relay = Arc::new(StatsdRelay::new(config.statsd_max_series));
        let receiving = relay.clone();
        let _ = std::thread::Builder::new()
            .name("vigie-agent-statsd".into())
            .spawn(move || statsd::receive(socket, receiving));
        relay
    });
    let root_pid = Arc::new(AtomicU32::new(0));
    let (stop_periodic, periodic_stop) = watch::channel(false);
    let periodic =
        tokio::spawn(periodic(config.clone(), relay, spool.clone(), outbox.clone(), root_pid.clone(), periodic_stop));

    let code = match &config.workload {
        Workload::Command(argv) => {
            let echo = config.echo.then(|| (command::Echo::new(false), command::Echo::new(true)));
            command::supervise(argv, config.restart, &outbox, &root_pid, echo.as_ref()).await?
        }
        Workload::Tail(files) => tail::run(files, &outbox).await?,
    };

    let _ = stop_periodic.send(true);
    let _ = periodic.await;
    // Everything queued goes to the spool first (the send waits while the queue is full).
    let _ = tokio::task::spawn_blocking(move || {
        let _ = outbox.queue.send(Message::Close);
        writer.join()
    })
    .await;
    let _ = closing.send(true);
    let sent_all = tokio::time::timeout(config.flush_timeout, sender).await.is_ok();
    let (sent, refused) = (counts.sent_entries.load(Ordering::Relaxed), counts.refused_entries.load(Ordering::Relaxed));
    if sent_all {
        tracing::info!("vigie agent: done: {sent} entries sent to Vigie ({refused} refused by it)");
    } else {
        tracing::warn!(
            "vigie agent: Vigie did not take everything within {} s: {} entries wait in {} and go at the next start",
            config.flush_timeout.as_secs(),
            spool.stats().waiting_entries,
            config.buffer_dir.display()
        );
    }
    Ok(code)
}

/// Every 10 s on the clock: the interval's statsd points, a scrape, and
/// (every `--interval`) a report of the server metrics; drops are said. On
/// stop, the interval begun is flushed too.
#[allow(clippy::too_many_arguments)]
async fn periodic(
    config: AgentConfig,
    relay: Option<Arc<StatsdRelay>>,
    spool: Arc<Spool>,
    outbox: Outbox,
    root_pid: Arc<AtomicU32>,
    mut stop: watch::Receiver<bool>,
) {
    let instance = config.target.instance.clone();
    let interval_ms = (config.interval.as_millis() as i64).max(INTERVAL_MS) / INTERVAL_MS * INTERVAL_MS;
    let mut sampler = proc::Sampler::new(None);
    let mut scraper = config.scrape.clone().map(scrape::Scraper::new);
    let mut said_drops = (0, 0, 0);
    let mut stopping = false;
    // Primes the sampler, so the first report has something to compare with.
    sampler = sample(sampler, &root_pid, &instance, 0).await.0;
    while !stopping {
        let now_ms = now_ns() / 1_000_000;
        let boundary_ms = (now_ms / INTERVAL_MS + 1) * INTERVAL_MS;
        let wait = Duration::from_millis((boundary_ms - now_ms) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stop| *stop) => stopping = true,
        }
        let start_ms =
            if stopping { now_ns() / 1_000_000 / INTERVAL_MS * INTERVAL_MS } else { boundary_ms - INTERVAL_MS };
        let mut points = Vec::new();
        if let Some(relay) = &relay {
            points.extend(relay.flush(start_ms, (INTERVAL_MS / 1_000) as f64, &instance));
        }
        if let Some(scraper) = scraper.as_mut().filter(|_| !stopping) {
            points.extend(scraper.scrape(&instance).await);
        }
        for points in statsd::chunk(points, POINTS_PER_REPORT) {
            let report = PointsReport { ts_ms: start_ms, points };
            outbox.push(EntryKind::Points, serde_json::to_vec(&report).expect("points serialise"));
        }
        if !stopping && boundary_ms % interval_ms == 0 {
            let (back, report) = sample(sampler, &root_pid, &instance, start_ms).await;
            sampler = back;
            if let Some(report) = report {
                outbox.push(EntryKind::Report, serde_json::to_vec(&report).expect("a report serialises"));
            }
        }
        let statsd_dropped = relay.as_ref().map_or(0, |relay| relay.dropped_lines.load(Ordering::Relaxed));
        let drops = (outbox.dropped.load(Ordering::Relaxed), spool.stats().dropped, statsd_dropped);
        if drops.0 > said_drops.0 {
            let message =
                format!("the app wrote faster than the disk took its lines: {} lines dropped since the start", drops.0);
            outbox.say(Level::Warn, &message);
        }
        if drops.1 > said_drops.1 {
            let message = format!(
                "the buffer is full (Vigie unreachable for long): {} oldest entries dropped since the start (--buffer-max-mb)",
                drops.1
            );
            outbox.say(Level::Warn, &message);
        }
        if drops.2 > said_drops.2 {
            let message = format!("{} statsd lines dropped since the start (malformed, or too many series)", drops.2);
            outbox.say(Level::Warn, &message);
        }
        said_drops = drops;
    }
}

/// One report of the server metrics, read on a blocking thread.
async fn sample(
    mut sampler: proc::Sampler,
    root_pid: &AtomicU32,
    instance: &str,
    ts_ms: i64,
) -> (proc::Sampler, Option<crate::ingest::instances::InstanceReport>) {
    let root = root_pid.load(Ordering::Relaxed);
    sampler.root = (root != 0).then_some(root);
    let instance = instance.to_string();
    let blocking = tokio::task::spawn_blocking(move || {
        let report = sampler.report(&instance, ts_ms);
        (sampler, report)
    });
    match blocking.await {
        Ok(done) => done,
        Err(_) => (proc::Sampler::new(None), None),
    }
}
