//! The live stream behind `.../logs/live` (SSE) and `.../logs/ws`
//! (WebSocket): every record of a topic from an offset on, as it is
//! appended, in batches.
//!
//! Each follower reads the topic itself, from its own next offset, when
//! the topic's end moves: it holds no queue, so a slow follower costs the
//! server one batch in flight and never loses or repeats a record (what
//! retention removed before it read comes as a gap). Followers that take
//! everything (no filter, no time bounds) and stand at the same offset
//! are served the same encoded batch: the first to read it encodes it
//! into [`SharedBatches`] and the others reuse it, so a thousand
//! followers of one app cost one encoding per batch, not a thousand.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use futures::{stream, Stream, StreamExt};

use super::encode::{gaps_json, records_json};
use crate::query::CompiledFilter;
use crate::store::{ReadBatch, Store, StoreError, StoredRecord, TopicKey, READ_CHUNK};

/// What a live stream sends, whatever carries it (SSE or WebSocket):
/// records, or offsets the store could not return (a gap), as a JSON
/// array, encoded once as the Server-Sent Event that carries it.
#[derive(Clone, Debug)]
pub struct LiveItem {
    pub gap: bool,
    /// The last offset the client has now been told about (records the
    /// filter left out count).
    pub last_offset: u64,
    /// `[event: gap\n]id: N\ndata: JSON\n\n`, shared by every follower
    /// that is sent the same batch.
    pub sse: Bytes,
    /// Where the JSON starts in `sse`.
    json_at: usize,
}

impl LiveItem {
    fn new(gap: bool, last_offset: u64, json: &str) -> LiveItem {
        // JSON as written by serde and `records_json` holds no raw newline,
        // so the whole array is one `data:` line.
        debug_assert!(!json.contains('\n'));
        let head = format!("{}id: {last_offset}\ndata: ", if gap { "event: gap\n" } else { "" });
        let mut sse = Vec::with_capacity(head.len() + json.len() + 2);
        sse.extend_from_slice(head.as_bytes());
        sse.extend_from_slice(json.as_bytes());
        sse.extend_from_slice(b"\n\n");
        LiveItem { gap, last_offset, sse: sse.into(), json_at: head.len() }
    }

    /// The JSON array.
    pub fn json(&self) -> &str {
        std::str::from_utf8(&self.sse[self.json_at..self.sse.len() - 2]).expect("built from a str")
    }
}

/// Bytes of encoded batches kept per topic for followers to share: at
/// 10,000 lines/s, several seconds, so followers a little behind still
/// share.
const SHARED_BYTES_PER_TOPIC: usize = 16 << 20;
/// Topics with shared batches before the cache is emptied.
const SHARED_TOPICS: usize = 4_096;

/// Recently encoded whole batches (no filter applied, no gap), per topic,
/// by the offset they start at. Bounded in bytes; forgetting one only
/// costs an encoding.
#[derive(Default)]
pub struct SharedBatches {
    /// A std `Mutex`: held for a lookup or an insert, never across an `.await`.
    topics: Mutex<HashMap<TopicKey, TopicBatches>>,
}

#[derive(Default)]
struct TopicBatches {
    /// `(from, next_offset, item)`, oldest first.
    batches: VecDeque<(u64, u64, LiveItem)>,
    bytes: usize,
}

impl SharedBatches {
    fn get(&self, key: &TopicKey, from: u64) -> Option<(u64, LiveItem)> {
        let topics = self.topics.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let batches = &topics.get(key)?.batches;
        // Sorted by `from`: followers are mostly near the end.
        let at = batches.partition_point(|(start, ..)| *start < from);
        batches.get(at).filter(|(start, ..)| *start == from).map(|(_, next, item)| (*next, item.clone()))
    }

    fn put(&self, key: &TopicKey, from: u64, next: u64, item: LiveItem) {
        let mut topics = self.topics.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if topics.len() >= SHARED_TOPICS && !topics.contains_key(key) {
            topics.clear();
        }
        let topic = topics.entry(key.clone()).or_default();
        // Only batches past the newest kept: a follower far behind reads
        // alone, and the order by `from` holds.
        if topic.batches.back().is_some_and(|(_, last_next, _)| from < *last_next) {
            return;
        }
        topic.bytes += item.sse.len();
        topic.batches.push_back((from, next, item));
        while topic.bytes > SHARED_BYTES_PER_TOPIC {
            let Some((_, _, dropped)) = topic.batches.pop_front() else { break };
            topic.bytes -= dropped.sse.len();
        }
    }
}

/// Which records a follower wants.
pub struct LiveSelection {
    pub filter: CompiledFilter,
    pub since_ns: Option<i64>,
    pub until_ns: Option<i64>,
}

impl LiveSelection {
    fn keeps_all(&self) -> bool {
        self.filter.keeps_all() && self.since_ns.is_none() && self.until_ns.is_none()
    }

    fn keeps(&self, record: &StoredRecord) -> bool {
        self.since_ns.is_none_or(|since| record.ts_ns >= since)
            && self.until_ns.is_none_or(|until| record.ts_ns <= until)
            && self.filter.matches(record.payload.as_bytes())
    }
}

/// Follows `key` from offset `from` (or from its end) on. A batch another
/// follower already encoded is taken from [`SharedBatches`]; the newest
/// records are read from the topic's memory; reads that need the disk run
/// on blocking threads.
pub fn follow(
    store: Store,
    shared: Arc<SharedBatches>,
    key: TopicKey,
    from: Option<u64>,
    selection: LiveSelection,
) -> Result<impl Stream<Item = LiveItem> + Send + 'static, StoreError> {
    let watcher = store.watch_end(&key)?;
    let start = from.unwrap_or_else(|| *watcher.borrow());
    let follower = Follower { store, shared, key, selection: Arc::new(selection), watcher };
    Ok(stream::unfold((follower, start), |(mut follower, next)| async move {
        loop {
            if next < *follower.watcher.borrow_and_update() {
                let (after, items) = follower.next_items(next).await;
                if after > next {
                    return Some((stream::iter(items), (follower, after)));
                }
            }
            follower.watcher.changed().await.ok()?;
        }
    })
    .flatten())
}

struct Follower {
    store: Store,
    shared: Arc<SharedBatches>,
    key: TopicKey,
    selection: Arc<LiveSelection>,
    watcher: tokio::sync::watch::Receiver<u64>,
}

impl Follower {
    /// The items of the next batch from `next`, and where the one after
    /// starts: shared if another follower encoded it; read from the
    /// topic's memory of its newest records on the runtime (no file, no
    /// wait: where followers at the end read, a thousand of them woken by
    /// one append each finding the batch the first encoded); else read on
    /// a blocking thread.
    async fn next_items(&self, next: u64) -> (u64, Vec<LiveItem>) {
        if self.selection.keeps_all() {
            if let Some((after, item)) = self.shared.get(&self.key, next) {
                return (after, vec![item]);
            }
        }
        if let Some(recent) = self.store.read_recent(&self.key, next, READ_CHUNK) {
            return encode_batch(&self.shared, &self.key, &self.selection, next, recent);
        }
        let (store, shared, key, selection) =
            (self.store.clone(), self.shared.clone(), self.key.clone(), self.selection.clone());
        match tokio::task::spawn_blocking(move || read_batch(&store, &shared, &key, &selection, next)).await {
            Ok(read) => read,
            Err(error) => {
                tracing::error!(%error, "a live read failed; the follower waits for the next append");
                (next, Vec::new())
            }
        }
    }
}

/// Reads and encodes the batch from `next`; first, frames whose token
/// index rules the filter out are passed over unread (nothing to send for
/// them). Blocks: call it from a blocking thread.
fn read_batch(
    store: &Store,
    shared: &SharedBatches,
    key: &TopicKey,
    selection: &LiveSelection,
    next: u64,
) -> (u64, Vec<LiveItem>) {
    let required = selection.filter.required();
    if !required.is_empty() {
        let end = store.next_offset(key);
        let stretch = next..end.min(next.saturating_add(SKIP_STRETCH));
        match store.candidate_ranges(key, stretch.clone(), required).first() {
            Some(first) if first.start > next => return (first.start, Vec::new()),
            None if stretch.end > next => return (stretch.end, Vec::new()),
            _ => {}
        }
    }
    encode_batch(shared, key, selection, next, store.read(key, next, READ_CHUNK))
}

/// Offsets whose token indexes one read looks at before reading records.
const SKIP_STRETCH: u64 = 64 * READ_CHUNK as u64;

/// Filters and encodes a batch read from `next`, sharing it when whole.
fn encode_batch(
    shared: &SharedBatches,
    key: &TopicKey,
    selection: &LiveSelection,
    next: u64,
    read: ReadBatch,
) -> (u64, Vec<LiveItem>) {
    let sharing = selection.keeps_all();
    let ReadBatch { records, next_offset, gaps } = read;
    let last_offset = next_offset.saturating_sub(1);
    let mut items = Vec::with_capacity(2);
    if !gaps.is_empty() {
        items.push(LiveItem::new(true, last_offset, &gaps_json(&gaps)));
    }
    let kept: Vec<StoredRecord> =
        if sharing { records } else { records.into_iter().filter(|record| selection.keeps(record)).collect() };
    if !kept.is_empty() {
        let item = LiveItem::new(false, last_offset, &records_json(&kept));
        if sharing && gaps.is_empty() {
            shared.put(key, next, next_offset, item.clone());
        }
        items.push(item);
    }
    (next_offset, items)
}

#[cfg(test)]
mod tests {
    use vigie_app::model::LogKind;

    use super::*;

    fn selection(filter: &str) -> LiveSelection {
        LiveSelection { filter: CompiledFilter::parse(filter).unwrap(), since_ns: None, until_ns: None }
    }

    fn store_with(lines: &[&str]) -> (tempfile::TempDir, Store, TopicKey) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = TopicKey::new("acme", "api", LogKind::Service);
        let batch = lines.iter().enumerate().map(|(i, m)| (i as i64, format!("{{\"message\":\"{m}\"}}"))).collect();
        store.append_batch(&key, batch).unwrap();
        (dir, store, key)
    }

    async fn first_item(store: &Store, shared: &Arc<SharedBatches>, key: &TopicKey, filter: &str) -> LiveItem {
        let stream = follow(store.clone(), shared.clone(), key.clone(), Some(0), selection(filter)).unwrap();
        let mut stream = std::pin::pin!(stream);
        stream.next().await.unwrap()
    }

    #[tokio::test]
    async fn followers_at_the_same_offset_are_sent_one_shared_encoding() {
        let (_dir, store, key) = store_with(&["a", "b timeout", "c"]);
        let shared = Arc::new(SharedBatches::default());
        let first = first_item(&store, &shared, &key, "").await;
        let second = first_item(&store, &shared, &key, "").await;
        assert_eq!(first.sse.as_ptr(), second.sse.as_ptr(), "the same bytes, not a copy");
        assert_eq!(first.last_offset, 2);
        assert!(first.sse.starts_with(b"id: 2\ndata: [{\"offset\":0,"), "{:?}", first.sse);
        assert!(first.sse.ends_with(b"}]\n\n"));
        let records: serde_json::Value = serde_json::from_str(first.json()).unwrap();
        assert_eq!(records.as_array().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_filtered_follower_never_gets_the_shared_whole_batch() {
        let (_dir, store, key) = store_with(&["a", "b timeout", "c"]);
        let shared = Arc::new(SharedBatches::default());
        first_item(&store, &shared, &key, "").await;
        let filtered = first_item(&store, &shared, &key, "timeout").await;
        let records: serde_json::Value = serde_json::from_str(filtered.json()).unwrap();
        assert_eq!(records.as_array().unwrap().len(), 1);
        assert_eq!(records[0]["message"], "b timeout");
        assert_eq!(filtered.last_offset, 2, "the id still covers what the filter left out");
    }

    #[tokio::test]
    async fn a_filtered_follower_far_behind_passes_over_frames_that_cannot_match() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::store::StoreConfig { token_index_min_bytes: 0, ..Default::default() };
        let store = Store::open_with(dir.path(), config).unwrap();
        let key = TopicKey::new("acme", "api", LogKind::Service);
        for frame in 0..100 {
            let batch = (0..100)
                .map(|n| {
                    let word = if (frame, n) == (20, 5) || (frame, n) == (97, 7) { "zanzibar" } else { "ordinary" };
                    (frame * 100 + n, format!("{{\"message\":\"line {n} {word}\"}}"))
                })
                .collect();
            store.append_batch(&key, batch).unwrap();
        }
        let shared = Arc::new(SharedBatches::default());
        let stream = follow(store.clone(), shared, key, Some(0), selection("zanzibar")).unwrap();
        let mut stream = std::pin::pin!(stream);
        let mut offsets = Vec::new();
        while offsets.len() < 2 {
            let item = stream.next().await.unwrap();
            let records: serde_json::Value = serde_json::from_str(item.json()).unwrap();
            offsets.extend(records.as_array().unwrap().iter().map(|r| r["offset"].as_u64().unwrap()));
        }
        assert_eq!(offsets, [2_005, 9_707]);
    }

    #[test]
    fn the_shared_batches_of_a_topic_are_bounded_in_bytes_and_keep_the_newest() {
        let shared = SharedBatches::default();
        let key = TopicKey::new("acme", "api", LogKind::Service);
        let big = "x".repeat(1 << 20);
        for n in 0..40u64 {
            shared.put(&key, n * 10, n * 10 + 10, LiveItem::new(false, n * 10 + 9, &big));
        }
        let topics = shared.topics.lock().unwrap();
        assert!(topics[&key].bytes <= SHARED_BYTES_PER_TOPIC);
        drop(topics);
        assert!(shared.get(&key, 0).is_none(), "the oldest went first");
        assert_eq!(shared.get(&key, 390).map(|(next, _)| next), Some(400));
        // An older batch than the newest kept is not added (a follower far behind reads alone).
        shared.put(&key, 5, 15, LiveItem::new(false, 14, "[]"));
        assert!(shared.get(&key, 5).is_none());
    }
}
