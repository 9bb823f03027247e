//! A segment: one file of frames with consecutive offsets, and its index.
//!
//! `NNNNNNNNNNNNNNNNNNNN.seg` (the base offset, 20 digits) holds frames back
//! to back. `NNNNNNNNNNNNNNNNNNNN.idx` holds the frames' metas so opening a
//! segment reads a few bytes per frame instead of the whole file:
//!
//! ```text
//! "VGI2" | valid_len u64 | count u32 | count x 48-byte FrameMeta | crc32c u32
//! ```
//!
//! A FrameMeta is first_offset u64, count u32, min_ts_ns i64, max_ts_ns
//! i64, pos u64, len u32, raw_len u32, then (in "VGI2" only) index_len u32,
//! the bytes of the frame's token index. "VGI1" indexes, written before
//! frames had a token index, are read as frames without one.
//!
//! The index is written (to a temporary file, synced, renamed) when a
//! segment is sealed and when the store closes. It is only a shortcut: a
//! missing or damaged index is rebuilt by scanning the segment, and bytes
//! past `valid_len` (frames written after the index) are always scanned.

use std::fs::{self, File};
use std::io::{self, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::frame::{self, FrameError, FrameMeta, HEADER_LEN, MAGICS};

const INDEX_MAGIC: [u8; 4] = *b"VGI2";
const META_LEN: usize = 48;
/// Indexes written before frames had a token index.
const INDEX_MAGIC_V1: [u8; 4] = *b"VGI1";
const META_LEN_V1: usize = 44;

/// What a segment holds, in memory.
#[derive(Debug)]
pub struct Segment {
    pub base_offset: u64,
    pub path: PathBuf,
    /// Frames in offset order; consecutive unless a damaged stretch was
    /// quarantined between two of them.
    pub frames: Vec<FrameMeta>,
    /// `prefix_max_ts[i]` = the newest time in frames `0..=i`: monotonic,
    /// so the first frame that can hold a time is found by binary search
    /// even when records arrive out of time order.
    pub prefix_max_ts: Vec<i64>,
    /// The oldest time in any frame, kept so listings never walk the frames.
    min_ts: Option<i64>,
    /// Bytes of whole, checked frames; the next frame is written here.
    pub len: u64,
    pub sealed: bool,
}

/// What opening a segment found wrong and did about it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repairs {
    /// Bytes cut from the end (a torn last write).
    pub truncated_bytes: u64,
    /// Damaged stretches in the middle: their bytes and the offsets lost.
    pub quarantined: Vec<(Range<u64>, Range<u64>)>,
    /// The index was missing or did not check and was rebuilt.
    pub index_rebuilt: bool,
}

impl Segment {
    pub fn file_name(base_offset: u64) -> String {
        format!("{base_offset:020}.seg")
    }

    pub fn new(dir: &Path, base_offset: u64) -> Segment {
        Segment {
            base_offset,
            path: dir.join(Segment::file_name(base_offset)),
            frames: Vec::new(),
            prefix_max_ts: Vec::new(),
            min_ts: None,
            len: 0,
            sealed: false,
        }
    }

    pub fn index_path(&self) -> PathBuf {
        self.path.with_extension("idx")
    }

    /// One past the last offset held (the base offset when empty).
    pub fn end_offset(&self) -> u64 {
        self.frames.last().map_or(self.base_offset, FrameMeta::end_offset)
    }

    pub fn min_ts(&self) -> Option<i64> {
        self.min_ts
    }

    pub fn max_ts(&self) -> Option<i64> {
        self.prefix_max_ts.last().copied()
    }

    /// Whether background compaction would merge its frames: sealed, and
    /// made of frames much smaller than a compacted block.
    pub fn needs_compaction(&self, block_raw_bytes: usize) -> bool {
        let raw: u64 = self.frames.iter().map(|f| f.raw_len as u64).sum();
        self.sealed && self.frames.len() > 1 && raw / (self.frames.len() as u64) < (block_raw_bytes / 4) as u64
    }

    /// Takes the frames of a rewritten file of `len` bytes.
    pub fn replace_frames(&mut self, frames: Vec<FrameMeta>, len: u64) {
        self.frames.clear();
        self.prefix_max_ts.clear();
        self.min_ts = None;
        for meta in frames {
            self.push(meta);
        }
        self.len = len;
    }

    pub fn push(&mut self, meta: FrameMeta) {
        let max = self.prefix_max_ts.last().map_or(meta.max_ts_ns, |m| (*m).max(meta.max_ts_ns));
        self.prefix_max_ts.push(max);
        self.min_ts = Some(self.min_ts.map_or(meta.min_ts_ns, |min| min.min(meta.min_ts_ns)));
        self.len = meta.end_pos();
        self.frames.push(meta);
    }

    /// Index of the frame holding `offset`, or of the first frame after it.
    pub fn frame_at_offset(&self, offset: u64) -> usize {
        self.frames.partition_point(|f| f.end_offset() <= offset)
    }

    /// Index of the first frame that may hold a record at or after `ts_ns`.
    pub fn frame_at_time(&self, ts_ns: i64) -> usize {
        self.prefix_max_ts.partition_point(|max| *max < ts_ns)
    }

    /// Opens a segment file: reads its index when it checks, scans what the
    /// index does not cover, cuts a torn tail, and quarantines damaged
    /// stretches. `expected_first` is the offset the segment should start at.
    pub fn open(path: &Path, base_offset: u64) -> io::Result<(Segment, Repairs)> {
        let mut segment = Segment {
            base_offset,
            path: path.to_path_buf(),
            frames: Vec::new(),
            prefix_max_ts: Vec::new(),
            min_ts: None,
            len: 0,
            sealed: false,
        };
        let mut repairs = Repairs::default();
        let file_len = fs::metadata(path)?.len();
        match read_index(&segment.index_path(), file_len) {
            Some((frames, valid_len)) => {
                for meta in frames {
                    segment.push(meta);
                }
                segment.len = valid_len;
            }
            None => repairs.index_rebuilt = segment.index_path().exists() || file_len > 0,
        }
        if segment.len < file_len {
            let file = File::open(path)?;
            let mut tail = vec![0; (file_len - segment.len) as usize];
            file.read_exact_at(&mut tail, segment.len)?;
            scan(&tail, segment.len, &mut segment, &mut repairs);
        }
        if segment.len < file_len {
            repairs.truncated_bytes = file_len - segment.len;
            fs::OpenOptions::new().write(true).open(path)?.set_len(segment.len)?;
        }
        Ok((segment, repairs))
    }

    /// Writes the index of the frames so far: to a temporary file, synced,
    /// then renamed over the old one.
    pub fn write_index(&self) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(20 + self.frames.len() * META_LEN);
        bytes.extend_from_slice(&INDEX_MAGIC);
        bytes.extend_from_slice(&self.len.to_le_bytes());
        bytes.extend_from_slice(&(self.frames.len() as u32).to_le_bytes());
        for meta in &self.frames {
            bytes.extend_from_slice(&meta.first_offset.to_le_bytes());
            bytes.extend_from_slice(&meta.count.to_le_bytes());
            bytes.extend_from_slice(&meta.min_ts_ns.to_le_bytes());
            bytes.extend_from_slice(&meta.max_ts_ns.to_le_bytes());
            bytes.extend_from_slice(&meta.pos.to_le_bytes());
            bytes.extend_from_slice(&meta.len.to_le_bytes());
            bytes.extend_from_slice(&meta.raw_len.to_le_bytes());
            bytes.extend_from_slice(&meta.index_len.to_le_bytes());
        }
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        let path = self.index_path();
        let tmp = path.with_extension("idx.tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_data()?;
        fs::rename(&tmp, &path)
    }
}

/// Reads an index; `None` when it is missing, damaged, or claims bytes the
/// segment does not have.
fn read_index(path: &Path, segment_len: u64) -> Option<(Vec<FrameMeta>, u64)> {
    let bytes = fs::read(path).ok()?;
    if bytes.len() < 20 {
        return None;
    }
    let meta_len = match bytes[0..4].try_into().ok()? {
        INDEX_MAGIC => META_LEN,
        INDEX_MAGIC_V1 => META_LEN_V1,
        _ => return None,
    };
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let valid_len = u64::from_le_bytes(body[4..12].try_into().ok()?);
    let count = u32::from_le_bytes(body[12..16].try_into().ok()?) as usize;
    if body.len() != 16 + count * meta_len || valid_len > segment_len {
        return None;
    }
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let frames: Vec<FrameMeta> = body[16..]
        .chunks_exact(meta_len)
        .map(|m| FrameMeta {
            first_offset: u64_at(m, 0),
            count: u32_at(m, 8),
            min_ts_ns: u64_at(m, 12) as i64,
            max_ts_ns: u64_at(m, 20) as i64,
            pos: u64_at(m, 28),
            len: u32_at(m, 36),
            raw_len: u32_at(m, 40),
            index_len: if meta_len == META_LEN { u32_at(m, 44) } else { 0 },
        })
        .collect();
    let consistent = frames.last().is_none_or(|last| last.end_pos() <= valid_len);
    consistent.then_some((frames, valid_len))
}

/// Scans `bytes` (the file from `start`) for frames that follow the
/// segment's last one. A frame that does not check ends the scan unless a
/// later one does: then the stretch between is quarantined.
fn scan(bytes: &[u8], start: u64, segment: &mut Segment, repairs: &mut Repairs) {
    let mut at = 0usize;
    while at < bytes.len() {
        let expected = segment.end_offset();
        match check_at(bytes, at, expected, true) {
            Some(mut meta) => {
                meta.pos = start + at as u64;
                at += meta.len as usize;
                segment.push(meta);
            }
            None => {
                // Look for the next frame that checks and carries later offsets.
                let resume = (at + 1..bytes.len().saturating_sub(HEADER_LEN - 1))
                    .filter(|&i| MAGICS.iter().any(|magic| bytes[i..i + 4] == *magic))
                    .find_map(|i| check_at(bytes, i, expected, false).map(|meta| (i, meta)));
                let Some((next, mut meta)) = resume else { break };
                tracing::error!(
                    segment = %segment.path.display(),
                    bytes = ?(start + at as u64..start + next as u64),
                    offsets = ?(expected..meta.first_offset),
                    "damaged frames in the middle of a segment: quarantined, every other record stays readable"
                );
                repairs.quarantined.push((start + at as u64..start + next as u64, expected..meta.first_offset));
                meta.pos = start + next as u64;
                at = next + meta.len as usize;
                segment.push(meta);
            }
        }
    }
}

/// The frame at `at` if it checks and its first offset is `expected` (or,
/// after damage, any later offset).
fn check_at(bytes: &[u8], at: usize, expected: u64, exact: bool) -> Option<FrameMeta> {
    let meta = match frame::check(&bytes[at..]) {
        Ok(meta) => meta,
        Err(FrameError::Short | FrameError::Corrupt(_)) => return None,
    };
    let fits = if exact { meta.first_offset == expected } else { meta.first_offset > expected };
    fits.then_some(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::frame::{encode, Codec};

    /// Writes `frames` frames of 10 records each and returns the bytes.
    fn frames(count: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for f in 0..count {
            let payloads: Vec<String> = (0..10).map(|i| format!(r#"{{"n":{}}}"#, f * 10 + i)).collect();
            let records: Vec<(i64, &str)> = payloads.iter().enumerate().map(|(i, p)| (i as i64, p.as_str())).collect();
            encode(f * 10, &records, Codec::Lz4, &mut out);
        }
        out
    }

    #[test]
    fn a_torn_tail_is_cut_and_everything_before_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Segment::file_name(0));
        let mut bytes = frames(5);
        let whole = bytes.len() as u64;
        bytes.extend_from_slice(&frames(6)[whole as usize..whole as usize + 30]);
        fs::write(&path, &bytes).unwrap();
        let (segment, repairs) = Segment::open(&path, 0).unwrap();
        assert_eq!(segment.end_offset(), 50);
        assert_eq!(repairs.truncated_bytes, 30);
        assert_eq!(fs::metadata(&path).unwrap().len(), whole);
    }

    #[test]
    fn damage_in_the_middle_is_quarantined_and_later_frames_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Segment::file_name(0));
        let mut bytes = frames(5);
        let second = frame::check(&bytes).unwrap().len as usize;
        bytes[second + 60] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let (segment, repairs) = Segment::open(&path, 0).unwrap();
        let firsts: Vec<u64> = segment.frames.iter().map(|f| f.first_offset).collect();
        assert_eq!(firsts, [0, 20, 30, 40]);
        assert_eq!(repairs.quarantined.len(), 1);
        assert_eq!(repairs.quarantined[0].1, 10..20);
        assert_eq!(repairs.truncated_bytes, 0);
    }

    #[test]
    fn the_index_is_used_when_it_checks_and_rebuilt_when_it_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Segment::file_name(0));
        fs::write(&path, frames(4)).unwrap();
        let (segment, _) = Segment::open(&path, 0).unwrap();
        segment.write_index().unwrap();
        let (again, repairs) = Segment::open(&path, 0).unwrap();
        assert_eq!(again.frames, segment.frames);
        assert!(!repairs.index_rebuilt);

        let mut index = fs::read(segment.index_path()).unwrap();
        index[25] ^= 1;
        fs::write(segment.index_path(), index).unwrap();
        let (rebuilt, repairs) = Segment::open(&path, 0).unwrap();
        assert_eq!(rebuilt.frames, segment.frames);
        assert!(repairs.index_rebuilt);
    }

    #[test]
    fn an_index_written_before_token_indexes_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Segment::file_name(0));
        fs::write(&path, frames(3)).unwrap();
        let (segment, _) = Segment::open(&path, 0).unwrap();
        // "VGI1": 44-byte metas, no index_len.
        let mut old = b"VGI1".to_vec();
        old.extend_from_slice(&segment.len.to_le_bytes());
        old.extend_from_slice(&(segment.frames.len() as u32).to_le_bytes());
        for meta in &segment.frames {
            old.extend_from_slice(&meta.first_offset.to_le_bytes());
            old.extend_from_slice(&meta.count.to_le_bytes());
            old.extend_from_slice(&meta.min_ts_ns.to_le_bytes());
            old.extend_from_slice(&meta.max_ts_ns.to_le_bytes());
            old.extend_from_slice(&meta.pos.to_le_bytes());
            old.extend_from_slice(&meta.len.to_le_bytes());
            old.extend_from_slice(&meta.raw_len.to_le_bytes());
        }
        let crc = crc32c::crc32c(&old);
        old.extend_from_slice(&crc.to_le_bytes());
        fs::write(segment.index_path(), old).unwrap();
        let (again, repairs) = Segment::open(&path, 0).unwrap();
        assert!(!repairs.index_rebuilt);
        assert_eq!(again.frames, segment.frames);
    }

    #[test]
    fn time_lookup_finds_the_first_frame_that_can_hold_a_time_even_out_of_order() {
        let mut segment = Segment::new(Path::new("/nowhere"), 0);
        for (i, (min, max)) in [(10, 20), (5, 15), (30, 40), (25, 35)].into_iter().enumerate() {
            segment.push(FrameMeta {
                first_offset: i as u64,
                count: 1,
                min_ts_ns: min,
                max_ts_ns: max,
                pos: i as u64 * 100,
                len: 100,
                raw_len: 100,
                index_len: 0,
            });
        }
        assert_eq!(segment.frame_at_time(0), 0);
        assert_eq!(segment.frame_at_time(20), 0);
        assert_eq!(segment.frame_at_time(21), 2);
        assert_eq!(segment.frame_at_time(41), 4);
        assert_eq!(segment.frame_at_offset(2), 2);
    }
}
