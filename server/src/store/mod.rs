//! The topic store, first version: one append-only file per topic, every
//! record also held in memory. The full engine (segments, sparse time index,
//! compression, retention, group commit) replaces the inside of this module
//! behind the same methods.
//!
//! On disk: `DATA_DIR/topics/ORG/APP/KIND.log`, one record per line:
//! `OFFSET \t TS_NS \t PAYLOAD_JSON \n`. Payloads are single-line JSON
//! (serde escapes newlines), so a line is a record. Offsets start at 0 and
//! grow by one per record. An append writes the whole batch, then
//! `fdatasync`s, then publishes the new end to subscribers: a record a
//! subscriber or a reader sees is durable.
//!
//! Recovery reads every line; a torn last line (no `\n`, or unparsable) is
//! cut off and reported, so the file again ends on a whole record.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use futures::Stream;
use tokio::sync::watch;
use vigie_app::model::LogKind;

/// Most records one read or one live batch returns.
pub const READ_CHUNK: usize = 1_000;

/// Which topic: one per (org, app, kind).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicKey {
    pub org: String,
    pub app: String,
    pub kind: LogKind,
}

impl TopicKey {
    pub fn new(org: &str, app: &str, kind: LogKind) -> TopicKey {
        TopicKey { org: org.to_string(), app: app.to_string(), kind }
    }

    fn path(&self, dir: &Path) -> PathBuf {
        dir.join("topics").join(&self.org).join(&self.app).join(format!("{}.log", self.kind.as_str()))
    }
}

/// A record as stored: its place, its time, and its JSON payload.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRecord {
    pub offset: u64,
    pub ts_ns: i64,
    /// Single-line JSON; shared, so readers and subscribers never copy it.
    pub payload: Arc<str>,
}

/// A glance at a topic, for listings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TopicStats {
    pub records: u64,
    pub last_ts_ns: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use the data directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("a record payload must be single-line JSON; got a line break at byte {0}")]
    MultiLinePayload(usize),
}

/// A handle to the store; cloning it is shallow.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    dir: PathBuf,
    /// Topics are created on first use and never removed in this version.
    topics: RwLock<HashMap<TopicKey, Arc<Topic>>>,
}

struct Topic {
    path: PathBuf,
    /// A std `Mutex`: no `.await` happens while it is held.
    state: Mutex<TopicState>,
    /// The offset the next append will get; subscribers wait on it.
    next_offset: watch::Sender<u64>,
}

struct TopicState {
    /// `records[i].offset == i`.
    records: Vec<StoredRecord>,
    /// Opened on first append, so reading a topic never creates a file.
    file: Option<File>,
}

impl Store {
    /// Opens the store in `dir`, creating it if needed, and loads every topic.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let dir = dir.into();
        let topics_dir = dir.join("topics");
        fs::create_dir_all(&topics_dir).map_err(|source| StoreError::Io { path: topics_dir.clone(), source })?;
        let mut topics = HashMap::new();
        for (key, path) in list_topic_files(&topics_dir)? {
            let records = load_topic_file(&path)?;
            topics.insert(key, Arc::new(Topic::new(path, records)));
        }
        tracing::info!(dir = %dir.display(), topics = topics.len(), "store opened");
        Ok(Store { inner: Arc::new(StoreInner { dir, topics: RwLock::new(topics) }) })
    }

    fn topic(&self, key: &TopicKey) -> Arc<Topic> {
        if let Some(topic) = self.inner.topics.read().expect("topic map lock").get(key) {
            return topic.clone();
        }
        let mut topics = self.inner.topics.write().expect("topic map lock");
        topics.entry(key.clone()).or_insert_with(|| Arc::new(Topic::new(key.path(&self.inner.dir), Vec::new()))).clone()
    }

    fn existing_topic(&self, key: &TopicKey) -> Option<Arc<Topic>> {
        self.inner.topics.read().expect("topic map lock").get(key).cloned()
    }

    /// Appends `(ts_ns, payload)` records in order and returns the offsets
    /// they got. Returns once the batch is on disk.
    pub fn append_batch(&self, key: &TopicKey, batch: Vec<(i64, String)>) -> Result<Range<u64>, StoreError> {
        if let Some(at) = batch.iter().find_map(|(_, payload)| payload.find('\n')) {
            return Err(StoreError::MultiLinePayload(at));
        }
        let topic = self.topic(key);
        let mut state = topic.state.lock().expect("topic lock");
        let first = state.records.len() as u64;
        let mut text = String::with_capacity(batch.iter().map(|(_, p)| p.len() + 32).sum());
        for (i, (ts_ns, payload)) in batch.iter().enumerate() {
            use std::fmt::Write as _;
            let _ = writeln!(text, "{}\t{}\t{}", first + i as u64, ts_ns, payload);
        }
        let io_error = |source| StoreError::Io { path: topic.path.clone(), source };
        if state.file.is_none() {
            if let Some(parent) = topic.path.parent() {
                fs::create_dir_all(parent).map_err(io_error)?;
            }
            let file = OpenOptions::new().create(true).append(true).open(&topic.path).map_err(io_error)?;
            state.file = Some(file);
        }
        let file = state.file.as_mut().expect("file opened above");
        file.write_all(text.as_bytes()).map_err(io_error)?;
        file.sync_data().map_err(io_error)?;
        for (i, (ts_ns, payload)) in batch.into_iter().enumerate() {
            state.records.push(StoredRecord { offset: first + i as u64, ts_ns, payload: payload.into() });
        }
        let end = state.records.len() as u64;
        drop(state);
        topic.next_offset.send_replace(end);
        Ok(first..end)
    }

    /// Up to `max` records from `from_offset` on, oldest first.
    pub fn read(&self, key: &TopicKey, from_offset: u64, max: usize) -> Vec<StoredRecord> {
        self.existing_topic(key).map(|topic| topic.read(from_offset, max)).unwrap_or_default()
    }

    /// The newest `max` records, oldest first.
    pub fn latest(&self, key: &TopicKey, max: usize) -> Vec<StoredRecord> {
        let Some(topic) = self.existing_topic(key) else { return Vec::new() };
        let state = topic.state.lock().expect("topic lock");
        let start = state.records.len().saturating_sub(max);
        state.records[start..].to_vec()
    }

    /// The offset the next record appended to `key` will get.
    pub fn next_offset(&self, key: &TopicKey) -> u64 {
        self.existing_topic(key).map(|topic| *topic.next_offset.borrow()).unwrap_or(0)
    }

    pub fn stats(&self, key: &TopicKey) -> TopicStats {
        let Some(topic) = self.existing_topic(key) else { return TopicStats::default() };
        let state = topic.state.lock().expect("topic lock");
        TopicStats { records: state.records.len() as u64, last_ts_ns: state.records.last().map(|r| r.ts_ns) }
    }

    /// Every record from `from_offset` (or from the end, when `None`) on, as
    /// it is appended, in batches of at most [`READ_CHUNK`]. A subscriber
    /// holds no buffer of its own: it reads what it has not seen from the
    /// store, then waits for the end to move, so a slow reader costs nothing
    /// and never misses or repeats a record.
    pub fn tail(
        &self,
        key: &TopicKey,
        from_offset: Option<u64>,
    ) -> impl Stream<Item = Vec<StoredRecord>> + Send + 'static {
        let topic = self.topic(key);
        let watcher = topic.next_offset.subscribe();
        let start = from_offset.unwrap_or_else(|| *watcher.borrow());
        futures::stream::unfold((topic, watcher, start), |(topic, mut watcher, next)| async move {
            loop {
                let batch = topic.read(next, READ_CHUNK);
                if let Some(last) = batch.last() {
                    let next = last.offset + 1;
                    return Some((batch, (topic, watcher, next)));
                }
                watcher.changed().await.ok()?;
            }
        })
    }
}

impl Topic {
    fn new(path: PathBuf, records: Vec<StoredRecord>) -> Topic {
        let (next_offset, _) = watch::channel(records.len() as u64);
        Topic { path, state: Mutex::new(TopicState { records, file: None }), next_offset }
    }

    fn read(&self, from_offset: u64, max: usize) -> Vec<StoredRecord> {
        let state = self.state.lock().expect("topic lock");
        let start = (from_offset as usize).min(state.records.len());
        let end = start.saturating_add(max).min(state.records.len());
        state.records[start..end].to_vec()
    }
}

fn list_topic_files(topics_dir: &Path) -> Result<Vec<(TopicKey, PathBuf)>, StoreError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    let mut found = Vec::new();
    for org in fs::read_dir(topics_dir).map_err(io_error(topics_dir))? {
        let org = org.map_err(io_error(topics_dir))?.path();
        if !org.is_dir() {
            continue;
        }
        for app in fs::read_dir(&org).map_err(io_error(&org))? {
            let app = app.map_err(io_error(&org))?.path();
            if !app.is_dir() {
                continue;
            }
            for file in fs::read_dir(&app).map_err(io_error(&app))? {
                let path = file.map_err(io_error(&app))?.path();
                let kind = path.file_stem().and_then(|s| s.to_str()).and_then(LogKind::parse);
                let (Some(kind), Some("log")) = (kind, path.extension().and_then(|e| e.to_str())) else { continue };
                let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
                found.push((TopicKey { org: name(&org), app: name(&app), kind }, path));
            }
        }
    }
    Ok(found)
}

/// Reads a topic file; cuts a torn or unreadable tail so the file ends on
/// the last whole record.
fn load_topic_file(path: &Path) -> Result<Vec<StoredRecord>, StoreError> {
    let io_error = |source| StoreError::Io { path: path.to_path_buf(), source };
    let mut reader = BufReader::new(File::open(path).map_err(io_error)?);
    let mut records = Vec::new();
    let mut good_bytes = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(io_error)?;
        if read == 0 {
            break;
        }
        let expected_offset = records.len() as u64;
        match parse_line(&line).filter(|record| record.offset == expected_offset) {
            Some(record) => {
                records.push(record);
                good_bytes += read as u64;
            }
            None => break,
        }
    }
    let file_len = fs::metadata(path).map_err(io_error)?.len();
    if file_len > good_bytes {
        tracing::warn!(
            path = %path.display(),
            kept_records = records.len(),
            cut_bytes = file_len - good_bytes,
            "topic file ended in a torn or unreadable record; cut it off"
        );
        OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(good_bytes)).map_err(io_error)?;
    }
    Ok(records)
}

fn parse_line(line: &[u8]) -> Option<StoredRecord> {
    let line = std::str::from_utf8(line.strip_suffix(b"\n")?).ok()?;
    let mut parts = line.splitn(3, '\t');
    let offset = parts.next()?.parse().ok()?;
    let ts_ns = parts.next()?.parse().ok()?;
    let payload = parts.next()?;
    serde_json::from_str::<serde::de::IgnoredAny>(payload).ok()?;
    Some(StoredRecord { offset, ts_ns, payload: payload.into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn key() -> TopicKey {
        TopicKey::new("acme", "api", LogKind::Service)
    }

    fn payload(n: u32) -> String {
        format!(r#"{{"message":"line {n}"}}"#)
    }

    #[test]
    fn append_returns_consecutive_offsets_and_read_returns_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.append_batch(&key(), vec![(1, payload(0)), (2, payload(1))]).unwrap(), 0..2);
        assert_eq!(store.append_batch(&key(), vec![(3, payload(2))]).unwrap(), 2..3);
        let read = store.read(&key(), 1, 10);
        assert_eq!(read.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(&*read[1].payload, payload(2));
        assert_eq!(store.latest(&key(), 1)[0].offset, 2);
        assert_eq!(store.stats(&key()), TopicStats { records: 3, last_ts_ns: Some(3) });
    }

    #[test]
    fn reopen_keeps_every_record_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.append_batch(&key(), (0..5).map(|n| (n as i64, payload(n))).collect()).unwrap();
        }
        let path = key().path(dir.path());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"5\t5\t{\"message\":\"torn").unwrap();
        drop(file);

        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.next_offset(&key()), 5);
        assert_eq!(store.read(&key(), 0, 100).len(), 5);
        assert_eq!(store.append_batch(&key(), vec![(6, payload(5))]).unwrap(), 5..6);
        let reopened = Store::open(dir.path()).unwrap();
        assert_eq!(reopened.read(&key(), 5, 1)[0].payload.as_ref(), payload(5));
    }

    #[test]
    fn multi_line_payload_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let error = store.append_batch(&key(), vec![(1, payload(0)), (2, "{\n}".into())]).unwrap_err();
        assert!(matches!(error, StoreError::MultiLinePayload(1)));
        assert_eq!(store.next_offset(&key()), 0);
    }

    #[tokio::test]
    async fn tail_from_an_offset_sees_history_then_live_records_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.append_batch(&key(), (0..3).map(|n| (n as i64, payload(n))).collect()).unwrap();
        let mut tail = Box::pin(store.tail(&key(), Some(1)));
        let writer = store.clone();
        let appends = tokio::spawn(async move {
            for n in 3..2_503 {
                writer.append_batch(&key(), vec![(n as i64, payload(n))]).unwrap();
                if n % 500 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let mut seen = Vec::new();
        while seen.len() < 2_502 {
            let batch = tokio::time::timeout(std::time::Duration::from_secs(10), tail.next()).await.unwrap().unwrap();
            assert!(batch.len() <= READ_CHUNK);
            seen.extend(batch.into_iter().map(|r| r.offset));
        }
        appends.await.unwrap();
        assert_eq!(seen, (1..2_503).collect::<Vec<u64>>());
    }

    #[tokio::test]
    async fn tail_from_the_end_skips_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.append_batch(&key(), vec![(0, payload(0))]).unwrap();
        let mut tail = Box::pin(store.tail(&key(), None));
        store.append_batch(&key(), vec![(1, payload(1))]).unwrap();
        let batch = tail.next().await.unwrap();
        assert_eq!(batch.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![1]);
    }
}
