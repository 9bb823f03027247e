//! The topic store: every log record of every kind, and every metric
//! point, goes through it.
//!
//! On disk, one directory per topic, `DATA_DIR/topics/ORG/APP/KIND/` (KIND
//! is a log kind or `metrics`):
//! segment files `BASE.seg` of frames (see `frame.rs`: a header with the
//! offsets, time range and CRC32C, the frame's token index (see `index.rs`:
//! what a search needs to skip the frame unread), in compacted frames its
//! columns (see `columns.rs`: repeated fields stored by field, for counts),
//! then a compressed block of records), the segment's index `BASE.idx` (see `segment.rs`), and
//! `retention.json`.
//!
//! Invariants recovery relies on:
//! - Offsets are consecutive inside a segment and across segments; a frame
//!   is appended at the end of the newest (active) segment only, with one
//!   positional write, then synced (per commit, or every N ms) before any
//!   reader, subscriber or appender learns of it.
//! - So after a crash only the end of the active segment can be torn: on
//!   open, each segment's index is trusted up to the length it records,
//!   the bytes after it are scanned frame by frame, and the first frame that
//!   does not check ends the segment, unless a later frame checks, in which
//!   case the stretch between is quarantined and reported. No byte sequence
//!   on disk makes recovery panic.
//! - Retention deletes whole sealed segments, oldest first, never rewrites.
//! - Compaction may replace a sealed segment by one holding the same records
//!   in fewer, larger frames: written aside, synced, renamed over it after
//!   its old index is removed, so a crash at any step leaves a segment that
//!   opens (the index is rebuilt by a scan when missing).

pub mod columns;
mod files;
pub mod frame;
pub mod index;
mod segment;
mod topic;

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::Stream;
use vigie_app::model::LogKind;

use files::FileCache;
pub use frame::Codec;
pub use index::Required;
use topic::Topic;

/// Most records one read or one live batch returns.
pub const READ_CHUNK: usize = 1_000;

/// What a topic holds: one kind of log, or an app's metric points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicKind {
    Log(LogKind),
    /// Points of every metric of the app, one record per flush (see
    /// `crate::metrics::point`).
    Metrics,
}

impl TopicKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TopicKind::Log(kind) => kind.as_str(),
            TopicKind::Metrics => "metrics",
        }
    }

    pub fn parse(text: &str) -> Option<TopicKind> {
        match text {
            "metrics" => Some(TopicKind::Metrics),
            _ => LogKind::parse(text).map(TopicKind::Log),
        }
    }
}

impl From<LogKind> for TopicKind {
    fn from(kind: LogKind) -> TopicKind {
        TopicKind::Log(kind)
    }
}

impl PartialEq<LogKind> for TopicKind {
    fn eq(&self, other: &LogKind) -> bool {
        *self == TopicKind::Log(*other)
    }
}

/// Which topic: one per (org, app, kind).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicKey {
    pub org: String,
    pub app: String,
    pub kind: TopicKind,
}

impl TopicKey {
    pub fn new(org: &str, app: &str, kind: impl Into<TopicKind>) -> TopicKey {
        TopicKey { org: org.to_string(), app: app.to_string(), kind: kind.into() }
    }

    /// The topic of an app's metric points.
    pub fn metrics(org: &str, app: &str) -> TopicKey {
        TopicKey::new(org, app, TopicKind::Metrics)
    }

    fn dir(&self, root: &Path) -> PathBuf {
        root.join("topics").join(&self.org).join(&self.app).join(self.kind.as_str())
    }
}

impl fmt::Display for TopicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.org, self.app, self.kind.as_str())
    }
}

/// A stored record: its place, its time, and its JSON payload.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRecord {
    pub offset: u64,
    pub ts_ns: i64,
    /// Shared, so readers and subscribers never copy it.
    pub payload: Arc<str>,
}

/// When an append is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// After `fdatasync`, once per commit; concurrent appenders to a topic
    /// share one commit (group commit). Nothing acknowledged is ever lost.
    EveryCommit,
    /// After the write reaches the OS; a background task syncs every
    /// interval. A power loss may lose the last interval of acknowledged
    /// records (a process crash loses nothing).
    Interval(Duration),
}

/// How long a topic keeps its records; `None` keeps forever.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub codec: Codec,
    pub durability: Durability,
    /// A segment is sealed and a new one started past this size.
    pub segment_max_bytes: u64,
    /// Open segment files, over all topics.
    pub max_open_files: usize,
    /// Newest records kept in memory per topic for live subscribers.
    pub recent_bytes: usize,
    /// For topics that set none.
    pub default_retention: Retention,
    /// Codec of sealed segments once compacted; `None` leaves them as written.
    pub sealed_codec: Option<Codec>,
    /// Uncompressed size of the blocks compaction writes.
    pub compact_block_bytes: usize,
    /// Which frames get a token index (see `index.rs`), so searches skip
    /// the frames that cannot match. Frames without one read the same.
    pub token_index: TokenIndex,
    /// Frames of fewer uncompressed bytes get no token index: reading a
    /// small frame costs little, and its index would weigh as much as its
    /// records (a one-line commit).
    pub token_index_min_bytes: usize,
    /// Which frames get columns (see `columns.rs`), so counts read the
    /// fields they need without the lines. Frames of fewer uncompressed
    /// bytes than `token_index_min_bytes` get none at append.
    pub columns: ColumnsAt,
}

/// Which frames are written with columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnsAt {
    /// Every frame large enough, at append and at compaction: counts skip
    /// the lines from the first second; appends parse each line once more.
    Always,
    /// Only the blocks compaction writes.
    Compacted,
    /// None.
    Off,
}

impl ColumnsAt {
    pub fn parse(text: &str) -> Option<ColumnsAt> {
        match text {
            "always" => Some(ColumnsAt::Always),
            "compacted" => Some(ColumnsAt::Compacted),
            "off" => Some(ColumnsAt::Off),
            _ => None,
        }
    }
}

/// Which frames are written with a token index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenIndex {
    /// Every frame, at append and at compaction: searches skip from the
    /// first second, appends pay for building it (two to three times the CPU
    /// of zstd level 1 on access logs).
    Always,
    /// Only the blocks compaction writes: appends cost what they did, and
    /// a segment is skipped by once it is sealed and compacted.
    Compacted,
    /// None.
    Off,
}

impl TokenIndex {
    pub fn parse(text: &str) -> Option<TokenIndex> {
        match text {
            "always" => Some(TokenIndex::Always),
            "compacted" => Some(TokenIndex::Compacted),
            "off" => Some(TokenIndex::Off),
            _ => None,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            codec: Codec::Zstd { level: 1 },
            durability: Durability::EveryCommit,
            segment_max_bytes: 64 << 20,
            max_open_files: 512,
            recent_bytes: 32 << 10,
            default_retention: Retention { max_age: Some(Duration::from_secs(30 * 86_400)), max_bytes: None },
            sealed_codec: Some(Codec::Zstd { level: 9 }),
            compact_block_bytes: 4 << 20,
            token_index: TokenIndex::Always,
            token_index_min_bytes: 16 << 10,
            columns: ColumnsAt::Always,
        }
    }
}

/// Records missing from a read, and why: a reader is told, never handed
/// silently less.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub offsets: Range<u64>,
    pub reason: GapReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapReason {
    /// Removed by the topic's retention.
    Retention,
    /// Lost to damage on disk (reported when found).
    Damaged,
    /// The disk refused to read them now; they may come back.
    Unreadable,
}

impl GapReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::Retention => "removed by retention",
            GapReason::Damaged => "lost to damage on disk",
            GapReason::Unreadable => "unreadable now",
        }
    }
}

/// What one read returns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadBatch {
    /// In offset order.
    pub records: Vec<StoredRecord>,
    /// Where the next read continues.
    pub next_offset: u64,
    pub gaps: Vec<Gap>,
}

/// Where a replay starts or ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    Offset(u64),
    /// Nanoseconds since the epoch.
    Time(i64),
}

/// A glance at a topic, for listings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicInfo {
    pub key: TopicKey,
    pub records: u64,
    pub bytes: u64,
    pub first_offset: u64,
    pub next_offset: u64,
    pub first_ts_ns: Option<i64>,
    pub last_ts_ns: Option<i64>,
    pub retention: Retention,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the append was not stored: {0} (nothing of it was acknowledged; retry once the cause is fixed)")]
    Append(String),
}

/// A handle to the store; cloning it is shallow.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    dir: PathBuf,
    config: Arc<StoreConfig>,
    files: Arc<FileCache>,
    /// Topics are created on first write and opened at start.
    topics: RwLock<HashMap<TopicKey, Arc<Topic>>>,
    /// Where [`Store::submit`] sends new records instead, once set.
    upstream: std::sync::OnceLock<Arc<dyn Upstream>>,
}

/// Where new records go before this store, when they do not come straight
/// here: in a cluster, the replicated stream whose messages every node's
/// store applies in order (`cluster`), so offsets are the same everywhere.
pub trait Upstream: Send + Sync {
    /// Appends records and returns once they are kept upstream, with the
    /// offsets they got here when known. Blocks.
    fn submit(&self, key: &TopicKey, records: Vec<(i64, String)>) -> Result<Option<Range<u64>>, StoreError>;
}

impl Store {
    /// Opens the store in `dir` with the default configuration.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreConfig::default())
    }

    /// Opens the store in `dir`, creating it if needed, and recovers every
    /// topic (see the module's invariants).
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn open_with(dir: impl Into<PathBuf>, config: StoreConfig) -> Result<Store, StoreError> {
        let dir = dir.into();
        let topics_dir = dir.join("topics");
        fs::create_dir_all(&topics_dir).map_err(|source| StoreError::Io { path: topics_dir.clone(), source })?;
        let config = Arc::new(config);
        let files = Arc::new(FileCache::new(config.max_open_files));
        let mut topics = HashMap::new();
        for key in list_topics(&topics_dir)? {
            let topic = Topic::open(key.clone(), key.dir(&dir), config.clone(), files.clone())?;
            topics.insert(key, Arc::new(topic));
        }
        tracing::info!(dir = %dir.display(), topics = topics.len(), "store opened");
        let upstream = std::sync::OnceLock::new();
        Ok(Store { inner: Arc::new(StoreInner { dir, config, files, topics: RwLock::new(topics), upstream }) })
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    fn topic(&self, key: &TopicKey) -> Result<Arc<Topic>, StoreError> {
        if let Some(topic) = self.existing(key) {
            return Ok(topic);
        }
        let mut topics = self.inner.topics.write().expect("topic map lock");
        if let Some(topic) = topics.get(key) {
            return Ok(topic.clone());
        }
        let topic = Arc::new(Topic::open(
            key.clone(),
            key.dir(&self.inner.dir),
            self.inner.config.clone(),
            self.inner.files.clone(),
        )?);
        topics.insert(key.clone(), topic.clone());
        Ok(topic)
    }

    fn existing(&self, key: &TopicKey) -> Option<Arc<Topic>> {
        self.inner.topics.read().expect("topic map lock").get(key).cloned()
    }

    /// Appends `(ts_ns, payload)` records in order and returns the offsets
    /// they got, once they are durable (see [`Durability`]). Blocks: call it
    /// from a blocking thread in async code.
    pub fn append_batch(&self, key: &TopicKey, batch: Vec<(i64, String)>) -> Result<Range<u64>, StoreError> {
        self.topic(key)?.append(batch)
    }

    /// From now on, [`Store::submit`] sends records to `upstream` (set once,
    /// by a node joining a cluster); a second call changes nothing.
    pub fn set_upstream(&self, upstream: Arc<dyn Upstream>) {
        let _ = self.inner.upstream.set(upstream);
    }

    /// Appends new records the way this node stores them: here (as
    /// [`Store::append_batch`]), or through the upstream when there is one.
    /// `None` when the upstream did not say which offsets they got. Blocks.
    pub fn submit(&self, key: &TopicKey, batch: Vec<(i64, String)>) -> Result<Option<Range<u64>>, StoreError> {
        match self.inner.upstream.get() {
            None => self.append_batch(key, batch).map(Some),
            Some(upstream) => upstream.submit(key, batch),
        }
    }

    /// Up to `max` records from `from_offset` on, oldest first, and what is
    /// missing among them.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn read(&self, key: &TopicKey, from_offset: u64, max: usize) -> ReadBatch {
        match self.existing(key) {
            Some(topic) => topic.read(from_offset, max),
            None => ReadBatch { next_offset: 0, ..ReadBatch::default() },
        }
    }

    /// [`Store::read`] when the records from `from_offset` on are all still
    /// in the topic's memory of its newest records (where live followers
    /// read); `None` when the read needs the disk. Does not block: no file
    /// is touched, a lock is held for a copy of shared pointers.
    pub fn read_recent(&self, key: &TopicKey, from_offset: u64, max: usize) -> Option<ReadBatch> {
        self.existing(key)?.read_recent(from_offset, max)
    }

    /// The newest `max` records, oldest first.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn latest(&self, key: &TopicKey, max: usize) -> Vec<StoredRecord> {
        let Some(topic) = self.existing(key) else { return Vec::new() };
        let (first, next) = {
            let state = topic.state();
            (state.first_offset, state.next_offset)
        };
        let from = next.saturating_sub(max as u64).max(first);
        let mut records = Vec::new();
        let mut at = from;
        while at < next && records.len() < max {
            let batch = topic.read(at, max - records.len());
            if batch.next_offset <= at {
                break;
            }
            at = batch.next_offset;
            records.extend(batch.records);
        }
        records
    }

    /// The offset the next record appended to `key` will get.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn next_offset(&self, key: &TopicKey) -> u64 {
        self.existing(key).map_or(0, |topic| *topic.next_offset.borrow())
    }

    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn info(&self, key: &TopicKey) -> Option<TopicInfo> {
        let topic = self.existing(key)?;
        let state = topic.state();
        Some(TopicInfo {
            key: key.clone(),
            records: state.records(),
            bytes: state.bytes(),
            first_offset: state.first_offset,
            next_offset: state.next_offset,
            first_ts_ns: state.first_ts(),
            last_ts_ns: state.last_ts(),
            retention: state.retention,
        })
    }

    /// Every topic, with its size, record count and time span.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn topics(&self) -> Vec<TopicInfo> {
        let mut keys: Vec<TopicKey> = self.inner.topics.read().expect("topic map lock").keys().cloned().collect();
        keys.sort();
        keys.iter().filter_map(|key| self.info(key)).collect()
    }

    /// Reads forward from `from` to `until` (both included when times; the
    /// end offset excluded), in chunks of at most [`READ_CHUNK`] records.
    /// Records out of time order are found: a time bound selects frames by
    /// their min/max time, then records by their own time.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn replay(&self, key: &TopicKey, from: Position, until: Option<Position>) -> Replay {
        let Some(topic) = self.existing(key) else {
            return Replay { topic: None, next: 0, end: 0, from_ts: None, until_ts: None, pending_gaps: Vec::new() };
        };
        let mut pending_gaps = Vec::new();
        let (start, from_ts) = match from {
            Position::Offset(offset) => (offset, None),
            Position::Time(ts_ns) => {
                let state = topic.state();
                let (first_offset, first_ts) = (state.first_offset, state.first_ts());
                drop(state);
                // Asked for time that retention has already removed: say so.
                if first_offset > 0 && first_ts.is_none_or(|first| ts_ns < first) {
                    pending_gaps.push(Gap { offsets: 0..first_offset, reason: GapReason::Retention });
                }
                (topic.offset_at_time(ts_ns).max(first_offset), Some(ts_ns))
            }
        };
        let next_offset = topic.state().next_offset;
        let (end, until_ts) = match until {
            None => (next_offset, None),
            Some(Position::Offset(offset)) => (offset.min(next_offset), None),
            Some(Position::Time(ts_ns)) => (topic.end_offset_at_time(ts_ns), Some(ts_ns)),
        };
        Replay { topic: Some(topic), next: start, end, from_ts, until_ts, pending_gaps }
    }

    /// The topic's end (its next offset), watched: it changes after every
    /// append. For readers that follow a topic with their own reads.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn watch_end(&self, key: &TopicKey) -> Result<tokio::sync::watch::Receiver<u64>, StoreError> {
        Ok(self.topic(key)?.next_offset.subscribe())
    }

    /// Every record from `from_offset` (or from the end, when `None`) on, as
    /// it is appended, in batches of at most [`READ_CHUNK`]. A subscriber
    /// holds no buffer of its own: it reads what it has not seen (from
    /// memory when recent, from disk when it fell behind), then waits for
    /// the end to move. A slow subscriber costs the store nothing and never
    /// misses or repeats a record; what retention removed before it read it
    /// comes as a gap.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn tail(
        &self,
        key: &TopicKey,
        from_offset: Option<u64>,
    ) -> Result<impl Stream<Item = ReadBatch> + Send + 'static, StoreError> {
        let topic = self.topic(key)?;
        let watcher = topic.next_offset.subscribe();
        let start = from_offset.unwrap_or_else(|| *watcher.borrow());
        Ok(futures::stream::unfold((topic, watcher, start), |(topic, mut watcher, next)| async move {
            loop {
                if next < *watcher.borrow_and_update() {
                    let batch = topic.read(next, READ_CHUNK);
                    if batch.next_offset > next {
                        let after = batch.next_offset;
                        return Some((batch, (topic, watcher, after)));
                    }
                }
                watcher.changed().await.ok()?;
            }
        }))
    }

    /// Calls `visit(offset, ts_ns, payload)` for every record from
    /// `from_offset` on, without copying records: for searches and
    /// benchmarks. Returns the uncompressed bytes scanned and what could not
    /// be read.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn scan(&self, key: &TopicKey, from_offset: u64, mut visit: impl FnMut(u64, i64, &[u8])) -> (u64, Vec<Gap>) {
        self.scan_range(key, from_offset..u64::MAX, |offset, ts_ns, payload| {
            visit(offset, ts_ns, payload);
            true
        })
    }

    /// Like [`Store::scan`] over `offsets`, stopping early when `visit`
    /// returns false.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn scan_range(
        &self,
        key: &TopicKey,
        offsets: Range<u64>,
        visit: impl FnMut(u64, i64, &[u8]) -> bool,
    ) -> (u64, Vec<Gap>) {
        self.scan_where(key, offsets, &Required::none(), visit)
    }

    /// Like [`Store::scan_range`], skipping unread the frames whose token
    /// index lacks a key of `required` (none of their records could match
    /// a filter that requires them).
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn scan_where(
        &self,
        key: &TopicKey,
        offsets: Range<u64>,
        required: &Required,
        visit: impl FnMut(u64, i64, &[u8]) -> bool,
    ) -> (u64, Vec<Gap>) {
        match self.existing(key) {
            Some(topic) => topic.scan(offsets, required, visit),
            None => (0, Vec::new()),
        }
    }

    /// Like [`Store::scan_where`], a frame at a time: `visit` gets each
    /// frame checked but not decompressed, with the part of `offsets` it
    /// holds, and reads its columns (see `columns.rs`) or its records.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn scan_frames(
        &self,
        key: &TopicKey,
        offsets: Range<u64>,
        required: &Required,
        visit: impl FnMut(&frame::FrameView, Range<u64>) -> Result<bool, frame::FrameError>,
    ) -> (u64, Vec<Gap>) {
        match self.existing(key) {
            Some(topic) => topic.scan_frames(offsets, required, visit),
            None => (0, Vec::new()),
        }
    }

    /// The parts of `offsets` that may hold a record with every key of
    /// `required`, in order: `offsets` less the frames whose token index
    /// rules them out. Reads only the indexes. For readers that read
    /// backwards (newest first) and so cannot use [`Store::scan_where`].
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn candidate_ranges(&self, key: &TopicKey, offsets: Range<u64>, required: &Required) -> Vec<Range<u64>> {
        match self.existing(key) {
            Some(topic) => topic.candidate_ranges(offsets, required),
            None => vec![offsets],
        }
    }

    /// The first offset that may hold a record at or after `ts_ns`, and one
    /// past the last that may hold one at or before `until_ns`.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn offsets_for_times(&self, key: &TopicKey, since_ns: Option<i64>, until_ns: Option<i64>) -> Range<u64> {
        let Some(topic) = self.existing(key) else { return 0..0 };
        let (first, next) = {
            let state = topic.state();
            (state.first_offset, state.next_offset)
        };
        let start = since_ns.map_or(first, |since| topic.offset_at_time(since).max(first));
        let end = until_ns.map_or(next, |until| topic.end_offset_at_time(until));
        start..end.max(start)
    }

    /// The oldest offset still kept (older ones were removed by retention).
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn first_offset(&self, key: &TopicKey) -> u64 {
        self.existing(key).map_or(0, |topic| topic.state().first_offset)
    }

    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn set_retention(&self, key: &TopicKey, retention: Retention) -> Result<(), StoreError> {
        self.topic(key)?.set_retention(retention)
    }

    /// Applies retention to every topic; returns the bytes freed.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn enforce_retention(&self, now_ns: i64) -> Result<u64, StoreError> {
        let topics: Vec<Arc<Topic>> = self.inner.topics.read().expect("topic map lock").values().cloned().collect();
        let mut freed = 0;
        for topic in topics {
            freed += topic.enforce_retention(now_ns)?;
        }
        Ok(freed)
    }

    /// Compacts the sealed segments of every topic (see
    /// `Topic::compact_sealed`); returns the bytes saved.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn compact(&self) -> Result<u64, StoreError> {
        let topics: Vec<Arc<Topic>> = self.inner.topics.read().expect("topic map lock").values().cloned().collect();
        let mut saved = 0;
        for topic in topics {
            saved += topic.compact_sealed()?;
        }
        Ok(saved)
    }

    /// Syncs what interval durability has not synced yet.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn sync(&self) -> Result<(), StoreError> {
        let topics: Vec<Arc<Topic>> = self.inner.topics.read().expect("topic map lock").values().cloned().collect();
        topics.iter().try_for_each(|topic| topic.sync_if_dirty())
    }

    /// Syncs everything and writes the active segments' indexes, so the
    /// next start scans nothing. The store stays usable.
    ///
    /// Blocks (file I/O and locks): call it from a blocking thread, not the async runtime.
    pub fn close(&self) -> Result<(), StoreError> {
        let topics: Vec<Arc<Topic>> = self.inner.topics.read().expect("topic map lock").values().cloned().collect();
        topics.iter().try_for_each(|topic| topic.checkpoint())
    }

    /// Open segment files right now (bounded by `max_open_files`).
    pub fn open_files(&self) -> usize {
        self.inner.files.open_count()
    }
}

/// A replay in progress: call [`Iterator::next`] for each chunk.
pub struct Replay {
    topic: Option<Arc<Topic>>,
    next: u64,
    end: u64,
    from_ts: Option<i64>,
    until_ts: Option<i64>,
    pending_gaps: Vec<Gap>,
}

impl Iterator for Replay {
    type Item = ReadBatch;

    fn next(&mut self) -> Option<ReadBatch> {
        let topic = self.topic.as_ref()?;
        if self.next >= self.end {
            if self.pending_gaps.is_empty() {
                return None;
            }
            return Some(ReadBatch {
                records: Vec::new(),
                next_offset: self.next,
                gaps: std::mem::take(&mut self.pending_gaps),
            });
        }
        let want = ((self.end - self.next) as usize).min(READ_CHUNK);
        let mut batch = topic.read(self.next, want);
        if batch.next_offset <= self.next {
            self.next = self.end;
        } else {
            self.next = batch.next_offset.min(self.end);
        }
        let end = self.end;
        let (from_ts, until_ts) = (self.from_ts, self.until_ts);
        batch.records.retain(|r| {
            r.offset < end
                && from_ts.is_none_or(|from| r.ts_ns >= from)
                && until_ts.is_none_or(|until| r.ts_ns <= until)
        });
        batch.next_offset = self.next;
        if !self.pending_gaps.is_empty() {
            let mut gaps = std::mem::take(&mut self.pending_gaps);
            gaps.append(&mut batch.gaps);
            batch.gaps = gaps;
        }
        Some(batch)
    }
}

fn list_topics(topics_dir: &Path) -> Result<Vec<TopicKey>, StoreError> {
    let subdirs = |path: &Path| -> Result<Vec<PathBuf>, StoreError> {
        let io_error = |source| StoreError::Io { path: path.to_path_buf(), source };
        let mut dirs = Vec::new();
        for entry in fs::read_dir(path).map_err(io_error)? {
            let entry = entry.map_err(io_error)?.path();
            if entry.is_dir() {
                dirs.push(entry);
            }
        }
        Ok(dirs)
    };
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let mut keys = Vec::new();
    for org in subdirs(topics_dir)? {
        for app in subdirs(&org)? {
            for kind_dir in subdirs(&app)? {
                if let Some(kind) = TopicKind::parse(&name(&kind_dir)) {
                    keys.push(TopicKey { org: name(&org), app: name(&app), kind });
                }
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests;
