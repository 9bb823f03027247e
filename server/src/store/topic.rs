//! One topic: its segments, its group-committing writer, its recent records
//! for live subscribers, and its retention.
//!
//! Writers never wait on each other's disk writes one by one: an appender
//! queues its batch, and whoever finds no commit in progress becomes the
//! leader, writes every queued batch as one frame, syncs once, and hands
//! each appender its offsets (group commit). Readers take a read lock on
//! the segment list only long enough to copy the frame metas they need.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use tokio::sync::watch;

use super::files::FileCache;
use super::frame::{self, FrameMeta, HEADER_LEN};
use super::index::{self, Required};
use super::segment::{Repairs, Segment};
use super::{
    ColumnsAt, Durability, Gap, GapReason, ReadBatch, Retention, StoreConfig, StoreError, StoredRecord, TokenIndex,
    TopicKey,
};

/// Largest uncompressed frame a commit writes; a bigger group is split.
const MAX_FRAME_RAW_BYTES: usize = 1 << 20;

pub struct Topic {
    pub key: TopicKey,
    pub dir: PathBuf,
    config: Arc<StoreConfig>,
    files: Arc<FileCache>,
    state: RwLock<TopicState>,
    queue: Mutex<CommitQueue>,
    /// Woken after every commit round.
    committed: Condvar,
    /// The offset the next record will get; live subscribers wait on it.
    pub next_offset: watch::Sender<u64>,
    /// Written but not yet synced (interval durability).
    dirty: AtomicBool,
    /// Bumped when compaction rewrites a segment: a reader whose frame plan
    /// predates it plans again instead of reporting damage.
    generation: AtomicU64,
}

pub struct TopicState {
    /// In offset order; the last one takes the appends.
    pub segments: Vec<Segment>,
    /// The newest records, for live subscribers and first paints.
    recent: VecDeque<StoredRecord>,
    recent_bytes: usize,
    pub next_offset: u64,
    /// Offsets below this were removed by retention.
    pub first_offset: u64,
    /// Offset ranges lost to damage on disk, in order.
    pub damaged: Vec<Range<u64>>,
    pub retention: Retention,
}

/// A batch waiting for a commit, and who waits for it.
type Queued = (Arc<Waiter>, Vec<(i64, String)>);
type AppendResult = Result<Range<u64>, StoreError>;

#[derive(Default)]
struct CommitQueue {
    /// Batches waiting for the next commit, with who waits for each.
    pending: Vec<Queued>,
    /// A leader is writing (or about to: the lead was handed on).
    writing: bool,
}

/// Where one appender sleeps until its result, or the lead, is handed over.
#[derive(Default)]
struct Waiter {
    handed: Mutex<Option<Handed>>,
    wake: Condvar,
}

enum Handed {
    Result(AppendResult),
    /// Lead the next commit round.
    Lead,
}

impl Waiter {
    fn hand(&self, handed: Handed) {
        *self.handed.lock().expect("waiter lock") = Some(handed);
        self.wake.notify_one();
    }

    fn wait(&self) -> Handed {
        let mut handed = self.handed.lock().expect("waiter lock");
        loop {
            if let Some(handed) = handed.take() {
                return handed;
            }
            handed = self.wake.wait(handed).expect("waiter lock");
        }
    }
}

/// What a reader copies out of the state before touching the disk.
struct FramePlan {
    path: PathBuf,
    meta: FrameMeta,
}

impl Topic {
    /// Opens (or creates, when it has no segment yet) the topic in `dir`.
    pub fn open(
        key: TopicKey,
        dir: PathBuf,
        config: Arc<StoreConfig>,
        files: Arc<FileCache>,
    ) -> Result<Topic, StoreError> {
        let io_error = |source| StoreError::Io { path: dir.clone(), source };
        let mut bases: Vec<u64> = Vec::new();
        if dir.is_dir() {
            for entry in fs::read_dir(&dir).map_err(io_error)? {
                let path = entry.map_err(io_error)?.path();
                // Leftovers of a compaction or index write cut short.
                if matches!(path.extension().and_then(|e| e.to_str()), Some("compact" | "tmp")) {
                    let _ = fs::remove_file(&path);
                    continue;
                }
                if path.extension().and_then(|e| e.to_str()) == Some("seg") {
                    if let Some(base) = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()) {
                        bases.push(base);
                    }
                }
            }
        }
        bases.sort_unstable();
        let mut segments = Vec::with_capacity(bases.len());
        let mut damaged = Vec::new();
        for (i, base) in bases.iter().enumerate() {
            let path = dir.join(Segment::file_name(*base));
            let (mut segment, repairs) =
                Segment::open(&path, *base).map_err(|source| StoreError::Io { path: path.clone(), source })?;
            report(&key, &path, &repairs);
            damaged.extend(repairs.quarantined.into_iter().map(|(_, offsets)| offsets));
            segment.sealed = i + 1 < bases.len();
            // A sealed segment cut short leaves a hole before the next one.
            if let Some(next) = bases.get(i + 1) {
                if segment.end_offset() < *next {
                    damaged.push(segment.end_offset()..*next);
                }
            }
            segments.push(segment);
        }
        let first_offset = segments.first().map_or(0, |s| s.base_offset);
        let next_offset = segments.last().map_or(0, Segment::end_offset);
        let retention = read_retention(&dir).unwrap_or(config.default_retention);
        let state = TopicState {
            segments,
            recent: VecDeque::new(),
            recent_bytes: 0,
            next_offset,
            first_offset,
            damaged,
            retention,
        };
        let (next_offset, _) = watch::channel(next_offset);
        Ok(Topic {
            key,
            dir,
            config,
            files,
            state: RwLock::new(state),
            queue: Mutex::new(CommitQueue::default()),
            committed: Condvar::new(),
            next_offset,
            dirty: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        })
    }

    pub fn state(&self) -> std::sync::RwLockReadGuard<'_, TopicState> {
        self.state.read().expect("topic state lock")
    }

    /// Appends a batch and returns its offsets once it is durable under the
    /// configured policy. Concurrent appenders share one write and one sync:
    /// an appender that finds no commit running leads one for everything
    /// queued; the others sleep until their own result (or the lead) is
    /// handed to them, so a commit wakes only the appenders it served.
    pub fn append(&self, batch: Vec<(i64, String)>) -> Result<Range<u64>, StoreError> {
        if batch.is_empty() {
            let next = self.state().next_offset;
            return Ok(next..next);
        }
        let waiter = Arc::new(Waiter::default());
        let leads = {
            let mut queue = self.queue.lock().expect("commit queue lock");
            queue.pending.push((waiter.clone(), batch));
            !std::mem::replace(&mut queue.writing, true)
        };
        if !leads {
            match waiter.wait() {
                Handed::Result(result) => return result,
                Handed::Lead => {}
            }
        }
        let mut own = None;
        loop {
            let group = std::mem::take(&mut self.queue.lock().expect("commit queue lock").pending);
            for (served, result) in self.commit(group) {
                if Arc::ptr_eq(&served, &waiter) {
                    own = Some(result);
                } else {
                    served.hand(Handed::Result(result));
                }
            }
            let mut queue = self.queue.lock().expect("commit queue lock");
            if queue.pending.is_empty() {
                queue.writing = false;
                self.committed.notify_all();
                break;
            }
            if own.is_some() {
                // Others queued meanwhile: the first of them leads the next round.
                queue.pending[0].0.hand(Handed::Lead);
                break;
            }
        }
        own.expect("the leader's batch was in a group it committed")
    }

    /// Runs `work` as the only writer (used to seal a segment outside a commit).
    fn as_writer<T>(&self, work: impl FnOnce() -> T) -> T {
        let mut queue = self.queue.lock().expect("commit queue lock");
        while queue.writing {
            queue = self.committed.wait(queue).expect("commit queue lock");
        }
        queue.writing = true;
        drop(queue);
        let result = work();
        let mut queue = self.queue.lock().expect("commit queue lock");
        match queue.pending.first() {
            // Appenders queued while this ran: hand the lead to the first.
            Some((first, _)) => first.hand(Handed::Lead),
            None => {
                queue.writing = false;
                self.committed.notify_all();
            }
        }
        result
    }

    /// Writes a group of batches; only the leader calls it.
    fn commit(&self, group: Vec<Queued>) -> Vec<(Arc<Waiter>, AppendResult)> {
        let first = self.state().next_offset;
        let mut ranges = Vec::with_capacity(group.len());
        let mut next = first;
        for (waiter, batch) in &group {
            ranges.push((waiter.clone(), next..next + batch.len() as u64));
            next += batch.len() as u64;
        }
        match self.write_group(first, &group) {
            Ok(()) => ranges.into_iter().map(|(waiter, range)| (waiter, Ok(range))).collect(),
            Err(error) => {
                let message = error.to_string();
                tracing::error!(topic = %self.key, %message, "append failed; nothing of it is acknowledged");
                ranges.into_iter().map(|(waiter, _)| (waiter, Err(StoreError::Append(message.clone())))).collect()
            }
        }
    }

    fn write_group(&self, first: u64, group: &[Queued]) -> Result<(), StoreError> {
        // Frames of at most MAX_FRAME_RAW_BYTES each.
        let records: Vec<(i64, &str)> =
            group.iter().flat_map(|(_, batch)| batch.iter().map(|(ts, p)| (*ts, p.as_str()))).collect();
        let mut bytes = Vec::new();
        let mut metas = Vec::new();
        let mut start = 0;
        while start < records.len() {
            let mut end = start;
            let mut raw = 0;
            while end < records.len() && (end == start || raw + records[end].1.len() + 12 <= MAX_FRAME_RAW_BYTES) {
                raw += records[end].1.len() + 12;
                end += 1;
            }
            let at = bytes.len() as u64;
            let mut meta = frame::encode_with(
                first + start as u64,
                &records[start..end],
                self.config.codec,
                frame::Parts {
                    index: self.config.token_index == TokenIndex::Always && raw >= self.config.token_index_min_bytes,
                    columns: self.config.columns == ColumnsAt::Always && raw >= self.config.token_index_min_bytes,
                },
                &mut bytes,
            );
            meta.pos = at;
            metas.push(meta);
            start = end;
        }

        self.roll_if_full()?;
        let (path, pos) = {
            let state = self.state();
            let active = state.segments.last().expect("roll_if_full leaves an active segment");
            (active.path.clone(), active.len)
        };
        let io_error = |source| StoreError::Io { path: path.clone(), source };
        let file = self.files.get(&path, true).map_err(io_error)?;
        let written = file.write_all_at(&bytes, pos).and_then(|()| match self.config.durability {
            Durability::EveryCommit => file.sync_data(),
            Durability::Interval(_) => {
                self.dirty.store(true, Ordering::Release);
                Ok(())
            }
        });
        if let Err(source) = written {
            // Leave the file ending on the last acknowledged frame.
            let _ = file.set_len(pos);
            return Err(io_error(source));
        }

        let mut state = self.state.write().expect("topic state lock");
        let active = state.segments.last_mut().expect("active segment");
        for mut meta in metas {
            meta.pos += pos;
            active.push(meta);
        }
        let end = first + records.len() as u64;
        state.next_offset = end;
        // Only the newest records that fit the ring are copied into it.
        let mut kept_bytes = 0;
        let newest = records
            .iter()
            .rposition(|(_, payload)| {
                kept_bytes += payload.len();
                kept_bytes > self.config.recent_bytes
            })
            .map_or(0, |i| (i + 1).min(records.len() - 1));
        if newest > 0 {
            state.forget_recent();
        }
        for (i, (ts_ns, payload)) in records.iter().enumerate().skip(newest) {
            state.remember(
                StoredRecord { offset: first + i as u64, ts_ns: *ts_ns, payload: Arc::from(*payload) },
                self.config.recent_bytes,
            );
        }
        drop(state);
        self.next_offset.send_replace(end);
        Ok(())
    }

    /// Seals the active segment when it is full, and makes sure there is an
    /// active one to write to.
    fn roll_if_full(&self) -> Result<(), StoreError> {
        let needs_new = {
            let state = self.state();
            match state.segments.last() {
                None => true,
                Some(active) => active.sealed || active.len >= self.config.segment_max_bytes,
            }
        };
        if !needs_new {
            return Ok(());
        }
        let mut state = self.state.write().expect("topic state lock");
        if let Some(active) = state.segments.last_mut() {
            if !active.sealed {
                active.write_index().map_err(|source| StoreError::Io { path: active.index_path(), source })?;
                active.sealed = true;
            }
        }
        let base = state.next_offset;
        let io_error = |source| StoreError::Io { path: self.dir.clone(), source };
        fs::create_dir_all(&self.dir).map_err(io_error)?;
        let segment = Segment::new(&self.dir, base);
        self.files.get(&segment.path, true).map_err(io_error)?;
        // The new file's name must survive a crash before its records do.
        sync_dir(&self.dir).map_err(io_error)?;
        if state.segments.is_empty() {
            state.first_offset = base;
        }
        state.segments.push(segment);
        Ok(())
    }

    /// Syncs writes not yet synced (interval durability).
    pub fn sync_if_dirty(&self) -> Result<(), StoreError> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let path = match self.state().segments.last() {
            Some(active) => active.path.clone(),
            None => return Ok(()),
        };
        let io_error = |source| StoreError::Io { path: path.clone(), source };
        self.files.get(&path, false).and_then(|file| file.sync_data()).map_err(io_error)
    }

    /// Up to `max` records from `from_offset` on, with what is missing
    /// before or among them.
    pub fn read(&self, from_offset: u64, max: usize) -> ReadBatch {
        for _ in 0..3 {
            let generation = self.generation.load(Ordering::Acquire);
            let batch = self.read_once(from_offset, max);
            let damaged = batch.gaps.iter().any(|gap| gap.reason != GapReason::Retention);
            if !damaged || self.generation.load(Ordering::Acquire) == generation {
                return batch;
            }
        }
        self.read_once(from_offset, max)
    }

    /// [`Topic::read`] when the records from `from_offset` on are all still
    /// in memory (the newest ones, where live followers read), else `None`.
    /// Takes the state's read lock for a copy of shared pointers, touches
    /// no file: it does not block.
    pub fn read_recent(&self, from_offset: u64, max: usize) -> Option<ReadBatch> {
        let state = self.state();
        let oldest_recent = state.recent.front()?;
        if from_offset < oldest_recent.offset || from_offset < state.first_offset {
            return None;
        }
        let skip = (from_offset - oldest_recent.offset) as usize;
        let records: Vec<_> = state.recent.iter().skip(skip).take(max).cloned().collect();
        let next_offset = records.last().map_or(from_offset.max(state.next_offset), |r| r.offset + 1);
        Some(ReadBatch { records, next_offset, gaps: Vec::new() })
    }

    fn read_once(&self, from_offset: u64, max: usize) -> ReadBatch {
        let mut batch = ReadBatch::default();
        let mut from = from_offset;
        let plans = {
            let state = self.state();
            if from < state.first_offset {
                batch.gaps.push(Gap { offsets: from..state.first_offset, reason: GapReason::Retention });
                from = state.first_offset;
            }
            if let Some(oldest_recent) = state.recent.front() {
                if from >= oldest_recent.offset {
                    let skip = (from - oldest_recent.offset) as usize;
                    batch.records.extend(state.recent.iter().skip(skip).take(max).cloned());
                    batch.next_offset = batch.records.last().map_or(from.max(state.next_offset), |r| r.offset + 1);
                    return batch;
                }
            }
            state.plan(from, max)
        };
        batch.next_offset = from;
        for plan in plans {
            if batch.records.len() >= max {
                break;
            }
            match self.read_frame(&plan) {
                Ok(records) => {
                    if plan.meta.first_offset > batch.next_offset {
                        batch.gaps.push(Gap {
                            offsets: batch.next_offset..plan.meta.first_offset,
                            reason: self.gap_reason(batch.next_offset),
                        });
                    }
                    let wanted = records.into_iter().filter(|r| r.offset >= from);
                    batch.records.extend(wanted.take(max - batch.records.len()));
                    batch.next_offset = batch.records.last().map_or(plan.meta.end_offset(), |r| r.offset + 1);
                }
                Err(reason) => {
                    batch.gaps.push(Gap { offsets: plan.meta.first_offset.max(from)..plan.meta.end_offset(), reason });
                    batch.next_offset = plan.meta.end_offset();
                }
            }
        }
        let end = self.state().next_offset;
        if batch.records.is_empty() && batch.next_offset < end && batch.gaps.is_empty() {
            // Everything between was lost to damage (no frame left to read).
            batch.gaps.push(Gap { offsets: batch.next_offset..end, reason: GapReason::Damaged });
            batch.next_offset = end;
        }
        batch
    }

    /// Whether the frame of `plan` is ruled out by its token index: it
    /// lacks a key of `required`. False whenever that cannot be told (no
    /// index, a read error, a file rewritten meanwhile, a damaged index).
    fn ruled_out(&self, plan: &FramePlan, required: &Required, buffer: &mut Vec<u8>) -> bool {
        if required.is_empty() || plan.meta.index_len == 0 {
            return false;
        }
        buffer.resize(HEADER_LEN + plan.meta.index_len as usize, 0);
        let read = self.files.get(&plan.path, false).and_then(|file| file.read_exact_at(buffer, plan.meta.pos));
        read.is_ok()
            && frame::index_section(buffer, &plan.meta)
                .and_then(|section| index::may_hold(section, required))
                .is_some_and(|may| !may)
    }

    /// The parts of `offsets` that may hold a record with every key of
    /// `required`: all of it, less the frames whose token index rules them
    /// out. In order; offsets past the frames planned (appended meanwhile)
    /// are kept.
    pub fn candidate_ranges(&self, offsets: Range<u64>, required: &Required) -> Vec<Range<u64>> {
        if required.is_empty() || offsets.is_empty() {
            return vec![offsets];
        }
        let plans = self.state().plan(offsets.start, usize::MAX);
        let mut buffer = Vec::new();
        let mut ranges: Vec<Range<u64>> = Vec::new();
        let mut at = offsets.start;
        for plan in plans {
            if plan.meta.first_offset >= offsets.end {
                break;
            }
            if self.ruled_out(&plan, required, &mut buffer) {
                if plan.meta.first_offset > at {
                    ranges.push(at..plan.meta.first_offset);
                }
                at = at.max(plan.meta.end_offset());
            }
        }
        if at < offsets.end {
            ranges.push(at..offsets.end);
        }
        ranges
    }

    /// Visits every record of `offsets` without copying it: the path of
    /// searches. Frames whose token index lacks a key of `required` are
    /// skipped unread (none of their records could match). Returns the
    /// uncompressed bytes scanned and the stretches that could not be read.
    pub fn scan(
        &self,
        offsets: Range<u64>,
        required: &Required,
        mut visit: impl FnMut(u64, i64, &[u8]) -> bool,
    ) -> (u64, Vec<Gap>) {
        self.scan_frames(offsets, required, |frame, part| {
            let mut going = true;
            frame.for_each(|offset, ts_ns, payload| {
                if going && part.contains(&offset) {
                    going = visit(offset, ts_ns, payload);
                }
            })?;
            Ok(going)
        })
    }

    /// Visits each frame that holds offsets of `offsets`, with the part of
    /// them to visit (each offset once, even across a compaction meanwhile),
    /// checked and opened but not decompressed: the visitor reads its
    /// columns or its records. It returns whether to go on; an error is a
    /// damaged frame, reported as a gap. Frames whose token index lacks a
    /// key of `required` are skipped unread.
    pub fn scan_frames(
        &self,
        offsets: Range<u64>,
        required: &Required,
        mut visit: impl FnMut(&frame::FrameView, Range<u64>) -> Result<bool, frame::FrameError>,
    ) -> (u64, Vec<Gap>) {
        let (from_offset, end) = (offsets.start, offsets.end);
        let mut generation = self.generation.load(Ordering::Acquire);
        let mut plans = self.state().plan(from_offset, usize::MAX).into_iter();
        let mut buffer = Vec::new();
        let (mut scanned, mut gaps) = (0, Vec::new());
        // The next offset to visit: a frame checks whole before any of it is
        // visited, so nothing is visited twice even across a re-plan.
        let mut next = from_offset;
        let mut stopped = false;
        while let Some(plan) = plans.next() {
            if stopped || plan.meta.first_offset >= end {
                break;
            }
            if self.ruled_out(&plan, required, &mut buffer) {
                next = next.max(plan.meta.end_offset());
                continue;
            }
            buffer.resize(plan.meta.len as usize, 0);
            let read =
                self.files.get(&plan.path, false).and_then(|file| file.read_exact_at(&mut buffer, plan.meta.pos));
            let view = read.ok().and_then(|()| frame::view(&buffer).ok());
            let visited = match view {
                Some(view) => {
                    let part = next.max(view.meta.first_offset)..end.min(view.meta.end_offset());
                    let outcome = if part.is_empty() { Ok(true) } else { visit(&view, part.clone()) };
                    match outcome {
                        Ok(going) => {
                            stopped = !going;
                            next = next.max(part.end);
                        }
                        Err(_) => {
                            gaps.push(Gap { offsets: part.clone(), reason: GapReason::Damaged });
                            next = next.max(part.end);
                        }
                    }
                    true
                }
                None => false,
            };
            if visited {
                scanned += plan.meta.raw_len as u64;
            } else if self.generation.load(Ordering::Acquire) != generation {
                // A compaction rewrote the segment under this plan: plan again.
                generation = self.generation.load(Ordering::Acquire);
                let mut fresh = self.state().plan(next, usize::MAX);
                fresh.retain(|frame| frame.meta.end_offset() > next);
                plans = fresh.into_iter();
            } else {
                gaps.push(Gap { offsets: plan.meta.first_offset..plan.meta.end_offset(), reason: GapReason::Damaged });
                next = next.max(plan.meta.end_offset());
            }
        }
        (scanned, gaps)
    }

    /// Rewrites each sealed segment made of small frames into blocks of up
    /// to `compact_block_bytes`, compressed with `sealed_codec`: the append
    /// path stays fast and old data takes less room. Returns bytes saved.
    pub fn compact_sealed(&self) -> Result<u64, StoreError> {
        let Some(codec) = self.config.sealed_codec else { return Ok(0) };
        let candidates: Vec<(u64, PathBuf, Vec<FrameMeta>, u64)> = self
            .state()
            .segments
            .iter()
            .filter(|segment| segment.needs_compaction(self.config.compact_block_bytes))
            .map(|segment| (segment.base_offset, segment.path.clone(), segment.frames.clone(), segment.len))
            .collect();
        let mut saved = 0;
        for (base, path, frames, old_len) in candidates {
            saved += self.compact_one(base, &path, &frames, old_len, codec)?;
        }
        Ok(saved)
    }

    fn compact_one(
        &self,
        base: u64,
        path: &Path,
        frames: &[FrameMeta],
        old_len: u64,
        codec: frame::Codec,
    ) -> Result<u64, StoreError> {
        let io_error = |source| StoreError::Io { path: path.to_path_buf(), source };
        let tmp = path.with_extension("seg.compact");
        let mut out = Vec::new();
        let mut metas = Vec::new();
        let mut block: Vec<StoredRecord> = Vec::new();
        let mut block_bytes = 0;
        let (token_index, min_bytes) = (self.config.token_index != TokenIndex::Off, self.config.token_index_min_bytes);
        let columns = self.config.columns != ColumnsAt::Off;
        let flush = |block: &mut Vec<StoredRecord>, out: &mut Vec<u8>, metas: &mut Vec<FrameMeta>| {
            if let Some(first) = block.first() {
                let records: Vec<(i64, &str)> = block.iter().map(|r| (r.ts_ns, &*r.payload)).collect();
                let raw: usize = records.iter().map(|(_, payload)| payload.len() + 12).sum();
                let at = out.len() as u64;
                let parts = frame::Parts { index: token_index && raw >= min_bytes, columns };
                let mut meta = frame::encode_with(first.offset, &records, codec, parts, out);
                meta.pos = at;
                metas.push(meta);
                block.clear();
            }
        };
        let file = self.files.get(path, false).map_err(io_error)?;
        for meta in frames {
            let mut bytes = vec![0; meta.len as usize];
            file.read_exact_at(&mut bytes, meta.pos).map_err(io_error)?;
            let Ok(records) = frame::decode(&bytes) else {
                // Damaged: leave this segment as it is, its damage reported on read.
                return Ok(0);
            };
            let follows = block.last().is_none_or(|last| last.offset + 1 == meta.first_offset);
            if !follows || block_bytes + meta.raw_len as usize > self.config.compact_block_bytes {
                flush(&mut block, &mut out, &mut metas);
                block_bytes = 0;
            }
            block_bytes += meta.raw_len as usize;
            block.extend(records);
        }
        flush(&mut block, &mut out, &mut metas);
        let mut written = fs::File::create(&tmp).map_err(io_error)?;
        io::Write::write_all(&mut written, &out).and_then(|()| written.sync_data()).map_err(io_error)?;
        drop(written);

        // Swap under the write lock, unless retention removed it meanwhile.
        // Order for crashes: old index gone, then the new file renamed in,
        // then its index: any cut leaves a segment that opens correctly.
        let mut state = self.state.write().expect("topic state lock");
        let Some(segment) = state.segments.iter_mut().find(|s| s.base_offset == base && s.len == old_len) else {
            let _ = fs::remove_file(&tmp);
            return Ok(0);
        };
        match fs::remove_file(segment.index_path()) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(io_error(error)),
            _ => {}
        }
        fs::rename(&tmp, path).map_err(io_error)?;
        self.files.forget(path);
        self.generation.fetch_add(1, Ordering::AcqRel);
        segment.replace_frames(metas, out.len() as u64);
        segment.write_index().map_err(io_error)?;
        drop(state);
        sync_dir(&self.dir).map_err(io_error)?;
        tracing::info!(
            topic = %self.key,
            segment = base,
            before_bytes = old_len,
            after_bytes = out.len(),
            "compacted a sealed segment"
        );
        Ok(old_len.saturating_sub(out.len() as u64))
    }

    fn gap_reason(&self, offset: u64) -> GapReason {
        if offset < self.state().first_offset {
            GapReason::Retention
        } else {
            GapReason::Damaged
        }
    }

    fn read_frame(&self, plan: &FramePlan) -> Result<Vec<StoredRecord>, GapReason> {
        let file = match self.files.get(&plan.path, false) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(GapReason::Retention),
            Err(error) => {
                tracing::error!(path = %plan.path.display(), %error, "cannot open a segment");
                return Err(GapReason::Unreadable);
            }
        };
        let mut bytes = vec![0; plan.meta.len as usize];
        if let Err(error) = file.read_exact_at(&mut bytes, plan.meta.pos) {
            tracing::error!(path = %plan.path.display(), %error, pos = plan.meta.pos, "cannot read a frame");
            return Err(GapReason::Unreadable);
        }
        frame::decode(&bytes).map_err(|error| {
            tracing::error!(
                topic = %self.key,
                path = %plan.path.display(),
                offsets = ?(plan.meta.first_offset..plan.meta.end_offset()),
                ?error,
                "a frame on disk is damaged: its records are skipped, the others stay readable"
            );
            GapReason::Damaged
        })
    }

    /// The first offset that may hold a record at or after `ts_ns`.
    pub fn offset_at_time(&self, ts_ns: i64) -> u64 {
        let state = self.state();
        for segment in &state.segments {
            if segment.max_ts().is_some_and(|max| max >= ts_ns) {
                let index = segment.frame_at_time(ts_ns);
                return segment.frames[index].first_offset;
            }
        }
        state.next_offset
    }

    /// One past the last offset whose frame may hold a record at or before
    /// `ts_ns`.
    pub fn end_offset_at_time(&self, ts_ns: i64) -> u64 {
        let state = self.state();
        for segment in state.segments.iter().rev() {
            if segment.min_ts().is_some_and(|min| min <= ts_ns) {
                let last = segment.frames.iter().rposition(|f| f.min_ts_ns <= ts_ns).expect("min_ts came from a frame");
                return segment.frames[last].end_offset();
            }
        }
        state.first_offset
    }

    /// Drops whole sealed segments that retention no longer keeps; seals the
    /// active one first when all of it has expired. Returns bytes freed.
    pub fn enforce_retention(&self, now_ns: i64) -> Result<u64, StoreError> {
        let retention = self.state().retention;
        let expired_before = retention.max_age.map(|age| now_ns - age.as_nanos() as i64);
        let active_expired = {
            let state = self.state();
            state.segments.last().is_some_and(|active| {
                !active.sealed && expired_before.zip(active.max_ts()).is_some_and(|(before, max)| max < before)
            })
        };
        if active_expired {
            self.as_writer(|| self.seal_active())?;
        }
        let removed: Vec<Segment> = {
            let mut state = self.state.write().expect("topic state lock");
            let mut total: u64 = state.segments.iter().map(|s| s.len).sum();
            let mut keep_from = 0;
            for segment in &state.segments {
                let too_old = expired_before.zip(segment.max_ts()).is_some_and(|(before, max)| max < before);
                let too_big = retention.max_bytes.is_some_and(|max| total > max);
                if !segment.sealed || !(too_old || too_big) {
                    break;
                }
                total -= segment.len;
                keep_from += 1;
            }
            let removed: Vec<Segment> = state.segments.drain(..keep_from).collect();
            if let Some(last) = removed.last() {
                state.first_offset = last.end_offset();
                let first = state.first_offset;
                state.damaged.retain(|range| range.end > first);
            }
            removed
        };
        let mut freed = 0;
        for segment in removed {
            self.files.forget(&segment.path);
            for path in [segment.path.clone(), segment.index_path()] {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => return Err(StoreError::Io { path, source }),
                }
            }
            freed += segment.len;
            tracing::info!(topic = %self.key, segment = segment.base_offset, bytes = segment.len, "retention removed a segment");
        }
        Ok(freed)
    }

    fn seal_active(&self) -> Result<(), StoreError> {
        let mut state = self.state.write().expect("topic state lock");
        if let Some(active) = state.segments.last_mut() {
            if !active.sealed && !active.frames.is_empty() {
                active.write_index().map_err(|source| StoreError::Io { path: active.index_path(), source })?;
                active.sealed = true;
            }
        }
        Ok(())
    }

    /// Writes the index of the active segment, so the next start scans
    /// nothing; called when the store closes.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.sync_if_dirty()?;
        self.as_writer(|| {
            let state = self.state();
            match state.segments.last() {
                Some(active) if !active.sealed && !active.frames.is_empty() => {
                    active.write_index().map_err(|source| StoreError::Io { path: active.index_path(), source })
                }
                _ => Ok(()),
            }
        })
    }

    pub fn set_retention(&self, retention: Retention) -> Result<(), StoreError> {
        let io_error = |source| StoreError::Io { path: self.dir.clone(), source };
        fs::create_dir_all(&self.dir).map_err(io_error)?;
        let tmp = self.dir.join("retention.json.tmp");
        let json = serde_json::json!({
            "max_age_secs": retention.max_age.map(|age| age.as_secs()),
            "max_bytes": retention.max_bytes,
        });
        fs::write(&tmp, json.to_string()).map_err(io_error)?;
        fs::rename(&tmp, self.dir.join("retention.json")).map_err(io_error)?;
        self.state.write().expect("topic state lock").retention = retention;
        Ok(())
    }
}

impl TopicState {
    fn forget_recent(&mut self) {
        self.recent.clear();
        self.recent_bytes = 0;
    }

    fn remember(&mut self, record: StoredRecord, max_bytes: usize) {
        self.recent_bytes += record.payload.len();
        self.recent.push_back(record);
        while self.recent_bytes > max_bytes && self.recent.len() > 1 {
            let old = self.recent.pop_front().expect("not empty");
            self.recent_bytes -= old.payload.len();
        }
    }

    /// The frames to read for `max` records from `from`, in order.
    fn plan(&self, from: u64, max: usize) -> Vec<FramePlan> {
        let mut plans = Vec::new();
        let mut records = 0usize;
        let first_segment = self.segments.partition_point(|s| s.end_offset() <= from);
        for segment in &self.segments[first_segment..] {
            for meta in &segment.frames[segment.frame_at_offset(from)..] {
                plans.push(FramePlan { path: segment.path.clone(), meta: *meta });
                records += meta.count as usize;
                if records >= max.saturating_add(from.saturating_sub(plans[0].meta.first_offset) as usize) {
                    return plans;
                }
            }
        }
        plans
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    pub fn records(&self) -> u64 {
        let lost: u64 = self.damaged.iter().map(|r| r.end - r.start).sum();
        (self.next_offset - self.first_offset).saturating_sub(lost)
    }

    pub fn first_ts(&self) -> Option<i64> {
        self.segments.iter().filter_map(Segment::min_ts).min()
    }

    pub fn last_ts(&self) -> Option<i64> {
        self.segments.iter().filter_map(Segment::max_ts).max()
    }
}

fn read_retention(dir: &Path) -> Option<Retention> {
    let text = fs::read_to_string(dir.join("retention.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(Retention {
        max_age: json["max_age_secs"].as_u64().map(std::time::Duration::from_secs),
        max_bytes: json["max_bytes"].as_u64(),
    })
}

fn report(key: &TopicKey, path: &Path, repairs: &Repairs) {
    if repairs.truncated_bytes > 0 {
        tracing::warn!(topic = %key, segment = %path.display(), bytes = repairs.truncated_bytes, "cut a torn last write");
    }
    if repairs.index_rebuilt {
        tracing::info!(topic = %key, segment = %path.display(), "rebuilt a segment index by scanning the segment");
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}
