//! The agent's buffer: everything waiting to be sent to Vigie, on disk,
//! in the order it came.
//!
//! A directory of segment files named by a growing number
//! (`00000000000000000007.spool`), each a run of frames:
//!
//! ```text
//! [len: u32 LE][crc32c(kind, payload): u32 LE][kind: u8][payload: len bytes]
//! ```
//!
//! Entries are appended to the newest segment, which is closed past
//! `segment_bytes` and a new one begun. The sender reads from the oldest;
//! the file `cursor` holds `SEGMENT OFFSET`, the first byte not yet
//! acknowledged, replaced (write then rename) after each acknowledged
//! batch, so a restarted agent sends what was left and at most the last
//! batch twice. Recovery lists the segments, cuts each at its first torn
//! or corrupt frame, and reads from the cursor (from the oldest segment
//! when the cursor's segment is gone).
//!
//! The buffer is bounded: when the segments pass `max_bytes` in all, the
//! oldest segment is deleted, sent or not, and its unsent entries are
//! counted as dropped. Nothing is dropped before that.
//!
//! Every method blocks (file I/O under a lock): call them from a blocking
//! thread.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

const HEADER_BYTES: usize = 9;

/// What an entry holds, which decides where it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A service-log record: one NDJSON line.
    Log = 1,
    /// An instance report (JSON).
    Report = 2,
    /// A report of custom metric points (JSON).
    Points = 3,
}

impl EntryKind {
    fn from_byte(byte: u8) -> Option<EntryKind> {
        Some(match byte {
            1 => EntryKind::Log,
            2 => EntryKind::Report,
            3 => EntryKind::Points,
            _ => return None,
        })
    }
}

/// Where the sender is: a segment and a byte offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    segment: u64,
    offset: u64,
}

/// Consecutive entries of one kind, from the oldest unsent.
#[derive(Debug)]
pub struct Batch {
    pub kind: EntryKind,
    pub payloads: Vec<Vec<u8>>,
    /// Where the next batch starts, once this one is acknowledged.
    pub end: Position,
}

struct Segment {
    id: u64,
    bytes: u64,
    entries: u64,
}

struct Inner {
    dir: PathBuf,
    /// Oldest first; the last one is being written.
    segments: VecDeque<Segment>,
    writer: BufWriter<File>,
    /// A handle on the segment being read, by id.
    reading: Option<(u64, File)>,
    read: Position,
    /// Entries of the oldest segment already acknowledged.
    read_entries: u64,
    total_bytes: u64,
    dropped: u64,
    /// Held while the spool is open: one agent a directory.
    _lock: File,
}

/// The on-disk buffer; share it in an `Arc`. A std mutex: no `.await`
/// happens while it is held.
pub struct Spool {
    inner: Mutex<Inner>,
    max_bytes: u64,
    segment_bytes: u64,
}

/// The buffer's state, for the agent's own messages and the bench.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    pub waiting_entries: u64,
    pub waiting_bytes: u64,
    /// Entries deleted unsent because the buffer was full, since it was opened.
    pub dropped: u64,
}

/// Takes the directory's lock file, or says that another agent has it.
fn lock_dir(dir: &Path) -> std::io::Result<File> {
    use std::os::fd::AsRawFd;
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("lock"))?;
    // SAFETY: flock(2) on a descriptor this function owns; the lock goes with the file.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(std::io::Error::other(
            "another agent is using this buffer directory: give each agent its own (--buffer-dir, or another --instance)",
        ));
    }
    Ok(file)
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.spool"))
}

/// The frames of a segment's bytes: (end offset of each whole frame).
fn whole_frames(bytes: &[u8]) -> Vec<u64> {
    let mut ends = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= HEADER_BYTES {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        let end = at + HEADER_BYTES + len;
        if end > bytes.len()
            || crc32c::crc32c(&bytes[at + 8..end]) != crc
            || EntryKind::from_byte(bytes[at + 8]).is_none()
        {
            break;
        }
        at = end;
        ends.push(at as u64);
    }
    ends
}

impl Spool {
    /// Opens (or makes) the buffer in `dir`, keeping what a previous run left.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let lock = lock_dir(dir)?;
        let segment_bytes = (max_bytes / 8).clamp(64 * 1024, 16 * 1024 * 1024);
        let mut ids: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.strip_suffix(".spool")?.parse().ok())
            .collect();
        ids.sort_unstable();
        let cursor: Option<Position> = std::fs::read_to_string(dir.join("cursor")).ok().and_then(|text| {
            let (segment, offset) = text.trim().split_once(' ')?;
            Some(Position { segment: segment.parse().ok()?, offset: offset.parse().ok()? })
        });
        let mut segments = VecDeque::new();
        let mut read = None;
        let mut read_entries = 0;
        for id in ids {
            let path = segment_path(dir, id);
            if cursor.is_some_and(|cursor| id < cursor.segment) {
                std::fs::remove_file(&path)?; // acknowledged before the last stop
                continue;
            }
            let bytes = std::fs::read(&path)?;
            let ends = whole_frames(&bytes);
            let kept = ends.last().copied().unwrap_or(0);
            if kept < bytes.len() as u64 {
                OpenOptions::new().write(true).open(&path)?.set_len(kept)?; // a torn tail
            }
            if read.is_none() {
                let offset = match cursor {
                    Some(cursor) if cursor.segment == id => {
                        // The cursor, or the frame boundary before it.
                        let done = ends.iter().take_while(|end| **end <= cursor.offset).count();
                        read_entries = done as u64;
                        if done == 0 {
                            0
                        } else {
                            ends[done - 1]
                        }
                    }
                    _ => 0,
                };
                read = Some(Position { segment: id, offset });
            }
            segments.push_back(Segment { id, bytes: kept, entries: ends.len() as u64 });
        }
        let next_id = segments.back().map_or(1, |last| last.id + 1);
        let writer = BufWriter::with_capacity(256 * 1024, File::create(segment_path(dir, next_id))?);
        segments.push_back(Segment { id: next_id, bytes: 0, entries: 0 });
        let read = read.unwrap_or(Position { segment: next_id, offset: 0 });
        let total_bytes = segments.iter().map(|segment| segment.bytes).sum();
        let inner = Inner {
            dir: dir.to_path_buf(),
            segments,
            writer,
            reading: None,
            read,
            read_entries,
            total_bytes,
            dropped: 0,
            _lock: lock,
        };
        let spool = Spool { inner: Mutex::new(inner), max_bytes, segment_bytes };
        spool.lock().save_cursor()?;
        Ok(spool)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends entries in order and makes them readable; drops the oldest
    /// segments past the bound. Blocks.
    pub fn append(&self, entries: &[(EntryKind, Vec<u8>)]) -> std::io::Result<()> {
        let mut inner = self.lock();
        for (kind, payload) in entries {
            if inner.segments.back().is_some_and(|last| last.bytes >= self.segment_bytes) {
                inner.roll()?;
            }
            let mut header = [0u8; HEADER_BYTES];
            header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
            let crc = crc32c::crc32c_append(crc32c::crc32c(&[*kind as u8]), payload);
            header[4..8].copy_from_slice(&crc.to_le_bytes());
            header[8] = *kind as u8;
            inner.writer.write_all(&header)?;
            inner.writer.write_all(payload)?;
            let size = (HEADER_BYTES + payload.len()) as u64;
            let last = inner.segments.back_mut().expect("a segment is always open");
            last.bytes += size;
            last.entries += 1;
            inner.total_bytes += size;
            while inner.total_bytes > self.max_bytes && inner.segments.len() > 1 {
                inner.drop_oldest()?;
            }
        }
        inner.writer.flush()
    }

    /// Up to `max_entries` (and about `max_bytes`) consecutive entries of
    /// one kind from the oldest unsent; `None` when all were sent. Blocks.
    pub fn peek(&self, max_entries: usize, max_bytes: usize) -> std::io::Result<Option<Batch>> {
        let mut inner = self.lock();
        loop {
            let read = inner.read;
            let Some(segment) = inner.segments.iter().find(|segment| segment.id == read.segment) else {
                return Ok(None);
            };
            let (segment_end, is_last) =
                (segment.bytes, inner.segments.back().is_some_and(|last| last.id == read.segment));
            if read.offset >= segment_end {
                if is_last {
                    return Ok(None);
                }
                inner.next_segment()?;
                continue;
            }
            if inner.reading.as_ref().is_none_or(|(id, _)| *id != read.segment) {
                let file = File::open(segment_path(&inner.dir, read.segment))?;
                inner.reading = Some((read.segment, file));
            }
            let file = &inner.reading.as_ref().expect("opened above").1;
            let want = (segment_end - read.offset).min(max_bytes.max(HEADER_BYTES) as u64) as usize;
            let mut bytes = vec![0u8; want];
            file.read_exact_at(&mut bytes, read.offset)?;
            let first_len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
            if HEADER_BYTES + first_len > bytes.len() {
                // One entry bigger than max_bytes: read it whole.
                bytes = vec![0u8; HEADER_BYTES + first_len];
                file.read_exact_at(&mut bytes, read.offset)?;
            }
            let mut payloads = Vec::new();
            let mut at = 0usize;
            let mut kind = None;
            while payloads.len() < max_entries && bytes.len() - at >= HEADER_BYTES {
                let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
                let end = at + HEADER_BYTES + len;
                if end > bytes.len() {
                    break;
                }
                let this = EntryKind::from_byte(bytes[at + 8])
                    .ok_or_else(|| std::io::Error::other("a buffer segment holds an unknown entry kind"))?;
                if kind.is_some_and(|kind| kind != this) {
                    break;
                }
                kind = Some(this);
                payloads.push(bytes[at + HEADER_BYTES..end].to_vec());
                at = end;
            }
            let end = Position { segment: read.segment, offset: read.offset + at as u64 };
            return Ok(kind.map(|kind| Batch { kind, payloads, end }));
        }
    }

    /// Marks everything before `end` as sent. Blocks.
    pub fn acknowledge(&self, batch: &Batch) -> std::io::Result<()> {
        let mut inner = self.lock();
        if batch.end.segment != inner.read.segment || batch.end.offset < inner.read.offset {
            return Ok(()); // its segment was dropped meanwhile: already counted
        }
        inner.read = batch.end;
        inner.read_entries += batch.payloads.len() as u64;
        let (segment_end, is_last) = {
            let segment = inner.segments.front().expect("the read segment is the oldest");
            (segment.bytes, inner.segments.len() == 1)
        };
        if inner.read.offset >= segment_end && !is_last {
            inner.next_segment()?;
        }
        inner.save_cursor()
    }

    pub fn stats(&self) -> SpoolStats {
        let inner = self.lock();
        let entries: u64 = inner.segments.iter().map(|segment| segment.entries).sum();
        let bytes_before_read: u64 = inner.read.offset;
        SpoolStats {
            waiting_entries: entries - inner.read_entries,
            waiting_bytes: inner.total_bytes - bytes_before_read,
            dropped: inner.dropped,
        }
    }
}

impl Inner {
    fn roll(&mut self) -> std::io::Result<()> {
        self.writer.flush()?;
        let id = self.segments.back().map_or(1, |last| last.id + 1);
        self.writer = BufWriter::with_capacity(256 * 1024, File::create(segment_path(&self.dir, id))?);
        self.segments.push_back(Segment { id, bytes: 0, entries: 0 });
        Ok(())
    }

    /// Deletes the oldest segment; what it held unsent is dropped.
    fn drop_oldest(&mut self) -> std::io::Result<()> {
        let oldest = self.segments.pop_front().expect("more than one segment");
        self.total_bytes -= oldest.bytes;
        if self.read.segment == oldest.id {
            self.dropped += oldest.entries - self.read_entries;
            self.read = Position { segment: self.segments.front().expect("more than one segment").id, offset: 0 };
            self.read_entries = 0;
        } else if self.read.segment < oldest.id {
            self.dropped += oldest.entries;
        }
        if self.reading.as_ref().is_some_and(|(id, _)| *id == oldest.id) {
            self.reading = None;
        }
        std::fs::remove_file(segment_path(&self.dir, oldest.id))?;
        self.save_cursor()
    }

    /// The oldest segment was read to its end: delete it and read the next.
    fn next_segment(&mut self) -> std::io::Result<()> {
        let done = self.segments.pop_front().expect("the read segment exists");
        self.total_bytes -= done.bytes;
        self.reading = None;
        std::fs::remove_file(segment_path(&self.dir, done.id))?;
        let next = self.segments.front().expect("the written segment is never read past").id;
        self.read = Position { segment: next, offset: 0 };
        self.read_entries = 0;
        self.save_cursor()
    }

    fn save_cursor(&self) -> std::io::Result<()> {
        let temporary = self.dir.join("cursor.new");
        std::fs::write(&temporary, format!("{} {}\n", self.read.segment, self.read.offset))?;
        std::fs::rename(temporary, self.dir.join("cursor"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: usize) -> (EntryKind, Vec<u8>) {
        (EntryKind::Log, format!("{{\"message\":\"line {n}\"}}").into_bytes())
    }

    fn drain(spool: &Spool) -> Vec<(EntryKind, String)> {
        let mut out = Vec::new();
        while let Some(batch) = spool.peek(7, 4096).unwrap() {
            out.extend(batch.payloads.iter().map(|p| (batch.kind, String::from_utf8(p.clone()).unwrap())));
            spool.acknowledge(&batch).unwrap();
        }
        out
    }

    #[test]
    fn entries_come_back_in_order_in_batches_of_one_kind_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 30).unwrap();
        let mut entries: Vec<_> = (0..5_000).map(log).collect();
        entries.insert(10, (EntryKind::Report, b"{\"instance\":\"a\"}".to_vec()));
        spool.append(&entries).unwrap();
        assert_eq!(spool.stats().waiting_entries, 5_001);
        let first = spool.peek(100, 1 << 20).unwrap().unwrap();
        assert_eq!((first.kind, first.payloads.len()), (EntryKind::Log, 10), "a batch stops where the kind changes");
        let got = drain(&spool);
        assert_eq!(got.len(), 5_001);
        assert_eq!(got[10], (EntryKind::Report, "{\"instance\":\"a\"}".to_string()));
        let logs: Vec<&String> = got.iter().filter(|(kind, _)| *kind == EntryKind::Log).map(|(_, p)| p).collect();
        assert!(logs.iter().enumerate().all(|(n, p)| **p == format!("{{\"message\":\"line {n}\"}}")));
        assert_eq!(spool.stats(), SpoolStats::default());
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 3, "sent segments are deleted: the one being written, the cursor and the lock are left");
    }

    #[test]
    fn a_restarted_agent_sends_what_was_left_after_a_torn_write() {
        let dir = tempfile::tempdir().unwrap();
        {
            let spool = Spool::open(dir.path(), 1 << 30).unwrap();
            spool.append(&(0..20).map(log).collect::<Vec<_>>()).unwrap();
            let batch = spool.peek(5, 1 << 20).unwrap().unwrap();
            spool.acknowledge(&batch).unwrap();
        }
        // A frame cut in the middle, as a crash leaves it.
        let segment = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "spool"))
            .find(|p| std::fs::metadata(p).unwrap().len() > 0)
            .unwrap();
        let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
        file.write_all(&[40, 0, 0, 0, 1, 2]).unwrap();
        drop(file);
        let spool = Spool::open(dir.path(), 1 << 30).unwrap();
        spool.append(&[log(20)]).unwrap();
        let got: Vec<String> = drain(&spool).into_iter().map(|(_, p)| p).collect();
        let expected: Vec<String> = (5..21).map(|n| format!("{{\"message\":\"line {n}\"}}")).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn two_agents_cannot_share_a_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let first = Spool::open(dir.path(), 1 << 20).unwrap();
        let error = Spool::open(dir.path(), 1 << 20).err().expect("the directory is taken");
        assert!(error.to_string().contains("another agent is using this buffer directory"), "{error}");
        drop(first);
        Spool::open(dir.path(), 1 << 20).expect("free again once the first is closed");
    }

    #[test]
    fn past_its_bound_the_oldest_entries_are_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let entries: Vec<_> = (0..100_000).map(log).collect();
        spool.append(&entries).unwrap();
        let stats = spool.stats();
        assert!(stats.dropped > 0 && stats.waiting_bytes <= 1 << 20, "{stats:?}");
        let got = drain(&spool);
        assert_eq!(got.len() as u64 + stats.dropped, 100_000);
        assert_eq!(got.last().unwrap().1, "{\"message\":\"line 99999\"}", "the newest are kept");
        let first_kept: usize = got[0].1["{\"message\":\"line ".len()..].trim_end_matches("\"}").parse().unwrap();
        assert_eq!(first_kept as u64, stats.dropped, "only the oldest are dropped");
    }
}
