//! One drain's loop: read from the cursor, batch, send, and move the
//! cursor only once the recipient acknowledged.
//!
//! - A batch is sent when it is full (the recipient's and the drain's line
//!   and byte limits) or when its first record has waited `batch_wait`.
//! - A failed send is retried, the same batch, after an exponential backoff
//!   with jitter (or the recipient's `Retry-After`), until it succeeds or the
//!   drain has been failing for `disable_after`: then the drain is disabled
//!   with the reason, and re-enabling resumes from the cursor.
//! - The cursor is written to the catalog after each acknowledged batch, so
//!   a crash resends at most the batch in flight. In a cluster it is also
//!   shared with the other nodes each second and when the drain caught up,
//!   so a node that takes the drain over resends at most about a second.
//! - Records retention removed before they were delivered are reported as
//!   gaps (offsets and count), kept with the drain, never skipped silently.
//! - The loop holds one batch at a time and reads the store itself: a slow
//!   recipient makes the backlog grow on disk, not memory.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;
use vigie_app::model::AuditLine;

use super::recipient::{Batch, BatchLimits, Recipient};
use super::record::DrainSource;
use super::{DrainGap, DrainSettings, Execution, LiveStatus};
use crate::catalog::Catalog;
use crate::clock::now_ns;
use crate::shutdown::ShutdownSignal;
use crate::store::{GapReason, ReadBatch, Store, StoredRecord, TopicKey, READ_CHUNK};

/// Gaps kept per drain (the oldest are forgotten; the lost count stays).
const KEPT_GAPS: usize = 20;
/// How often a drain under load shares its cursor with a cluster's other nodes.
const CURSOR_SHARE_EVERY: Duration = Duration::from_secs(1);

/// What one drain's loop needs.
pub struct DrainTask {
    pub id: i64,
    pub source: DrainSource,
    pub key: TopicKey,
    pub cursor: u64,
    pub recipient: Box<dyn Recipient>,
    pub store: Store,
    pub catalog: Catalog,
    pub settings: DrainSettings,
    pub status: Arc<Mutex<LiveStatus>>,
    pub gaps: Vec<DrainGap>,
    /// Set to stop this drain (disabled, removed).
    pub stop: watch::Receiver<bool>,
    pub shutdown: ShutdownSignal,
}

/// Why the loop ended.
enum Ended {
    Stopped,
    Failing(String),
}

impl DrainTask {
    pub async fn run(mut self) {
        let mut stop = self.stop.clone();
        let shutdown = self.shutdown.clone().fired();
        tokio::pin!(shutdown);
        let ended = tokio::select! {
            ended = self.deliver_forever() => ended,
            _ = stop.wait_for(|stop| *stop) => Ended::Stopped,
            _ = &mut shutdown => Ended::Stopped,
        };
        lock(&self.status).execution = Execution::Stopped;
        if let Ended::Failing(reason) = ended {
            self.disable(reason).await;
        }
    }

    async fn deliver_forever(&mut self) -> Ended {
        let (store, key) = (self.store.clone(), self.key.clone());
        let mut watcher = match tokio::task::spawn_blocking(move || store.watch_end(&key)).await {
            Ok(Ok(watcher)) => watcher,
            Ok(Err(error)) => return Ended::Failing(format!("cannot open the topic {}: {error}", self.key)),
            Err(error) => return Ended::Failing(format!("cannot open the topic {}: {error}", self.key)),
        };
        let limits = self.limits();
        let mut first_seen: Option<Instant> = None;
        // When the cursor was last shared with a cluster's other nodes.
        let mut shared_at = Instant::now();
        loop {
            let end = *watcher.borrow_and_update();
            lock(&self.status).end = end;
            if self.cursor >= end {
                first_seen = None;
                if watcher.changed().await.is_err() {
                    return Ended::Stopped;
                }
                continue;
            }
            // Not a full batch yet: wait for more, at most `batch_wait` from the first record seen.
            if end - self.cursor < limits.max_lines as u64 {
                let deadline = *first_seen.get_or_insert_with(Instant::now) + self.settings.batch_wait;
                if Instant::now() < deadline {
                    tokio::select! {
                        changed = watcher.changed() => if changed.is_err() { return Ended::Stopped },
                        _ = tokio::time::sleep_until(deadline.into()) => {}
                    }
                    continue;
                }
            }
            first_seen = None;
            let read = match self.read(limits).await {
                Ok(read) => read,
                Err(reason) => match self.retry_read(reason).await {
                    Some(ended) => return ended,
                    None => continue,
                },
            };
            if !read.gaps.is_empty() {
                self.report_gaps(&read).await;
            }
            if !read.records.is_empty() {
                if let Some(ended) = self.send_until_acknowledged(&read.records).await {
                    return ended;
                }
            }
            self.cursor = read.next_offset;
            lock(&self.status).cursor = self.cursor;
            let (catalog, id, cursor) = (self.catalog.clone(), self.id, self.cursor);
            // In a cluster, the cursor is shared once a second under load and
            // whenever the drain caught up, so the catalog stream does not
            // carry one event per batch.
            let share = shared_at.elapsed() >= CURSOR_SHARE_EVERY || cursor >= *watcher.borrow();
            match tokio::task::spawn_blocking(move || {
                let saved = catalog.advance_drain_cursor(id, cursor);
                if share && matches!(saved, Ok(true)) {
                    catalog.share_drain_cursor(id, cursor);
                }
                saved
            })
            .await
            {
                Ok(Ok(true)) => {
                    if share {
                        shared_at = Instant::now();
                    }
                }
                // Removed meanwhile.
                Ok(Ok(false)) => return Ended::Stopped,
                Ok(Err(error)) => {
                    tracing::error!(drain = self.id, %error, "could not save a drain's cursor; a restart may resend")
                }
                Err(error) => tracing::error!(drain = self.id, %error, "the cursor save task failed"),
            }
        }
    }

    fn limits(&self) -> BatchLimits {
        let own = self.recipient.limits();
        BatchLimits {
            max_lines: own.max_lines.min(self.settings.batch_max_lines).max(1),
            max_bytes: own.max_bytes.min(self.settings.batch_max_bytes).max(1),
        }
    }

    /// Up to a batch of records from the cursor: from the topic's memory
    /// when recent, else on a blocking thread.
    async fn read(&self, limits: BatchLimits) -> Result<ReadBatch, String> {
        let (store, key, from) = (self.store.clone(), self.key.clone(), self.cursor);
        if limits.max_lines <= READ_CHUNK {
            if let Some(recent) = store.read_recent(&key, from, limits.max_lines) {
                return Ok(cut_to_bytes(recent, limits.max_bytes));
            }
        }
        let read = tokio::task::spawn_blocking(move || read_batch(&store, &key, from, limits))
            .await
            .map_err(|error| format!("the read task failed: {error}"))?;
        if let Some(gap) = read.gaps.iter().find(|gap| gap.reason == GapReason::Unreadable) {
            return Err(format!("the store cannot read offsets {}..{} now", gap.offsets.start, gap.offsets.end));
        }
        Ok(read)
    }

    /// A read failed: wait a backoff, or give up past `disable_after`.
    async fn retry_read(&mut self, reason: String) -> Option<Ended> {
        let failing_since = self.note_failure(&reason);
        if failing_since.elapsed() >= self.settings.disable_after {
            return Some(Ended::Failing(reason));
        }
        tokio::time::sleep(self.settings.backoff_max).await;
        None
    }

    /// Sends one batch until the recipient acknowledges it; `Some` when the
    /// drain must stop instead.
    async fn send_until_acknowledged(&mut self, records: &[StoredRecord]) -> Option<Ended> {
        let mut attempt: u32 = 0;
        loop {
            let batch = Batch { source: &self.source, records };
            let sent = tokio::time::timeout(self.settings.request_timeout, self.recipient.send(batch)).await;
            let error = match sent {
                Ok(Ok(_)) => {
                    let mut status = lock(&self.status);
                    status.execution = Execution::Running;
                    status.last_success_at_ns = Some(now_ns());
                    status.failing_since = None;
                    status.delivered += records.len() as u64;
                    status.rate.add(records.len() as u64);
                    return None;
                }
                Ok(Err(error)) => error,
                Err(_) => super::recipient::SendError::new(format!(
                    "no answer within {} s",
                    self.settings.request_timeout.as_secs_f64()
                )),
            };
            let failing_since = self.note_failure(&error.message);
            if failing_since.elapsed() >= self.settings.disable_after {
                return Some(Ended::Failing(format!(
                    "failing for {} s; last error: {}",
                    failing_since.elapsed().as_secs(),
                    error.message
                )));
            }
            let wait = error.retry_after.unwrap_or_else(|| backoff(&self.settings, attempt));
            tracing::warn!(drain = self.id, error = %error.message, wait_ms = wait.as_millis() as u64, "a drain's batch was not delivered; retrying");
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(wait).await;
        }
    }

    /// Marks the drain as retrying; returns since when it has been failing.
    fn note_failure(&self, message: &str) -> Instant {
        let mut status = lock(&self.status);
        status.execution = Execution::Retrying;
        status.last_error = Some(message.to_string());
        status.last_error_at_ns = Some(now_ns());
        *status.failing_since.get_or_insert_with(Instant::now)
    }

    async fn report_gaps(&mut self, read: &ReadBatch) {
        for gap in &read.gaps {
            let lost = DrainGap {
                from_offset: gap.offsets.start,
                to_offset: gap.offsets.end,
                count: gap.offsets.end - gap.offsets.start,
                reason: gap.reason.as_str().to_string(),
                at_ns: now_ns(),
            };
            tracing::warn!(drain = self.id, from = lost.from_offset, to = lost.to_offset, reason = %lost.reason, "records a drain had not delivered are gone");
            self.gaps.push(lost);
        }
        let excess = self.gaps.len().saturating_sub(KEPT_GAPS);
        self.gaps.drain(..excess);
        lock(&self.status).gaps = self.gaps.clone();
        let gaps = serde_json::to_string(&self.gaps).expect("gaps serialise");
        let (catalog, id) = (self.catalog.clone(), self.id);
        let cursor = read.gaps.iter().map(|gap| gap.offsets.end).max().unwrap_or(self.cursor).min(read.next_offset);
        if let Ok(Err(error)) = tokio::task::spawn_blocking(move || catalog.record_drain_gaps(id, &gaps, cursor)).await
        {
            tracing::error!(drain = self.id, %error, "could not save a drain's gaps");
        }
    }

    /// Disables the drain after it failed too long, and audits it.
    async fn disable(&self, reason: String) {
        tracing::warn!(drain = self.id, %reason, "disabling a failing drain");
        let (catalog, id, why) = (self.catalog.clone(), self.id, reason.clone());
        let disabled = tokio::task::spawn_blocking(move || catalog.set_drain_enabled(id, false, Some(&why))).await;
        if !matches!(disabled, Ok(Ok(Some(_)))) {
            return;
        }
        let line = AuditLine {
            actor: "vigie".into(),
            action: "drain.disabled".into(),
            target: format!("drain {}", self.id),
            ip: "-".into(),
            before: Some(json!({ "status": "ENABLED" })),
            after: Some(json!({ "status": "DISABLED", "reason": reason })),
        };
        if let Err(error) = crate::audit::append(&self.store, &self.source.org, line).await {
            tracing::error!(drain = self.id, %error, "could not audit a drain's disabling");
        }
    }
}

/// The wait before retry `attempt` (0 first): doubling from `backoff_min`
/// up to `backoff_max`, each a random point in its upper half (jitter, so
/// drains failing together do not retry together).
pub fn backoff(settings: &DrainSettings, attempt: u32) -> Duration {
    let ceiling = settings.backoff_min.saturating_mul(1u32 << attempt.min(20)).min(settings.backoff_max);
    let half = ceiling / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// Reads up to `limits` from `from`. Blocks (store reads): call it from a blocking thread.
fn read_batch(store: &Store, key: &TopicKey, from: u64, limits: BatchLimits) -> ReadBatch {
    let mut batch = ReadBatch { next_offset: from, ..ReadBatch::default() };
    let mut bytes = 0;
    while batch.records.len() < limits.max_lines && bytes < limits.max_bytes {
        let want = (limits.max_lines - batch.records.len()).min(READ_CHUNK);
        let read = store.read(key, batch.next_offset, want);
        if read.next_offset <= batch.next_offset {
            break;
        }
        batch.gaps.extend(read.gaps);
        batch.next_offset = read.next_offset;
        for record in read.records {
            if bytes >= limits.max_bytes {
                // Over the byte limit: the rest waits for the next batch.
                batch.next_offset = record.offset;
                return batch;
            }
            bytes += record.payload.len();
            batch.records.push(record);
        }
    }
    batch
}

/// A batch cut after the record that reaches `max_bytes`.
fn cut_to_bytes(mut batch: ReadBatch, max_bytes: usize) -> ReadBatch {
    let mut bytes = 0;
    if let Some(at) = batch.records.iter().position(|record| {
        let over = bytes >= max_bytes;
        bytes += record.payload.len();
        over
    }) {
        batch.next_offset = batch.records[at].offset;
        batch.records.truncate(at);
    }
    batch
}

/// One poisoning policy: a panic while holding a status lock leaves
/// numbers, never a broken invariant, so go on.
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_bounds_with_jitter() {
        let settings = DrainSettings {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            ..DrainSettings::default()
        };
        for attempt in 0..30 {
            let ceiling = Duration::from_millis(100 * (1u64 << attempt.min(20))).min(Duration::from_secs(2));
            let wait = backoff(&settings, attempt);
            assert!(wait >= ceiling / 2 && wait <= ceiling, "attempt {attempt}: {wait:?}");
        }
    }

    #[test]
    fn a_batch_stops_at_its_byte_limit_and_resumes_there() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = TopicKey::new("acme", "api", vigie_app::model::LogKind::Service);
        store.append_batch(&key, (0..10).map(|n| (n, "x".repeat(100))).collect()).unwrap();
        let read = read_batch(&store, &key, 2, BatchLimits { max_lines: 100, max_bytes: 250 });
        assert_eq!(read.records.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(read.next_offset, 5);
        let recent = cut_to_bytes(store.read_recent(&key, 2, 100).unwrap(), 250);
        assert_eq!(recent.next_offset, 5);
        let all = read_batch(&store, &key, 0, BatchLimits { max_lines: 4, max_bytes: usize::MAX });
        assert_eq!((all.records.len(), all.next_offset), (4, 4));
    }
}
