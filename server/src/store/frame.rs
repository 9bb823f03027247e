//! One frame: a block of consecutive records of one topic, as written to a
//! segment file by one commit. A frame is the unit of compression, of CRC
//! checking, of the sparse index, and of skipping by token index.
//!
//! ```text
//! offset size field
//!      0    4 magic        "VGF1", "VGF2" with a token index, "VGF3"
//!                          with columns
//!      4    4 body_len     u32 LE, bytes of body after the header
//!      8    4 crc32c       u32 LE, of header bytes 12..48 and the body
//!     12    8 first_offset u64 LE
//!     20    4 count        u32 LE, records in the frame (>= 1)
//!     24    8 min_ts_ns    i64 LE
//!     32    8 max_ts_ns    i64 LE
//!     40    1 codec        0 raw, 1 lz4, 2 zstd
//!     41    3 reserved     zero ("VGF1"); index_len u24 LE ("VGF2",
//!                          "VGF3": 0 when it has no token index)
//!     44    4 raw_len      u32 LE, records block length once decompressed
//!     48      body         "VGF1": the records block;
//!                          "VGF2": index_len bytes of token index (see
//!                          `index.rs`), then the records block;
//!                          "VGF3": the token index, the columns section
//!                          (see `columns.rs`), then the records block
//! ```
//!
//! The records block is `count` times: ts delta, len varint, payload; in a
//! "VGF3" frame, len varint and payload only, the times being its first
//! column. Compaction writes "VGF3" frames, so a count over sealed data
//! reads the fields it needs without decompressing the lines.
//! Frames written with the token index ("VGF2") and without ("VGF1", every
//! frame written before the index existed) sit side by side in a segment
//! and read the same; only the first can be skipped by a search.
//!
//! A record's time is stored as the zigzag varint of its difference with the
//! previous record's time (the first one's with `min_ts_ns`): records of a
//! frame are close in time, so this is one to three bytes instead of eight.
//!
//! A frame is valid only if its magic, lengths and CRC all check; anything
//! else (a torn write, a flipped bit) is refused whole, never half-read.

use std::sync::Arc;

use super::columns::{self, ColumnsSection};
use super::index::{IndexBuilder, SECTION_OVERHEAD};
use super::StoredRecord;

/// A frame without a token index.
pub const MAGIC: [u8; 4] = *b"VGF1";
/// A frame with a token index between its header and its records.
pub const MAGIC_INDEXED: [u8; 4] = *b"VGF2";
/// A frame with (maybe) a token index, then columns, then its records.
pub const MAGIC_COLUMNS: [u8; 4] = *b"VGF3";
/// Every magic a frame may start with.
pub const MAGICS: [[u8; 4]; 3] = [MAGIC, MAGIC_INDEXED, MAGIC_COLUMNS];
pub const HEADER_LEN: usize = 48;
/// Largest body accepted when reading, so a corrupt length never makes a
/// reader allocate gigabytes.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// How frame bodies are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Raw,
    Lz4,
    Zstd { level: i32 },
}

impl Codec {
    fn id(self) -> u8 {
        match self {
            Codec::Raw => 0,
            Codec::Lz4 => 1,
            Codec::Zstd { .. } => 2,
        }
    }

    pub fn parse(text: &str) -> Option<Codec> {
        match text {
            "raw" | "none" => Some(Codec::Raw),
            "lz4" => Some(Codec::Lz4),
            "zstd" => Some(Codec::Zstd { level: 1 }),
            _ => {
                let level = text.strip_prefix("zstd:")?.parse().ok()?;
                (1..=19).contains(&level).then_some(Codec::Zstd { level })
            }
        }
    }
}

/// What the index keeps of a frame: enough to find it, skip it by time or
/// offset, and read it without looking at anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameMeta {
    pub first_offset: u64,
    pub count: u32,
    pub min_ts_ns: i64,
    pub max_ts_ns: i64,
    /// Where the frame starts in its segment file.
    pub pos: u64,
    /// Header and body.
    pub len: u32,
    /// Uncompressed body bytes: what a scan reads.
    pub raw_len: u32,
    /// Bytes of the token index right after the header (0: none).
    pub index_len: u32,
}

impl FrameMeta {
    pub fn end_offset(&self) -> u64 {
        self.first_offset + self.count as u64
    }

    pub fn end_pos(&self) -> u64 {
        self.pos + self.len as u64
    }
}

/// Encodes `records` (consecutive offsets from `first_offset`) into one
/// frame without a token index.
pub fn encode(first_offset: u64, records: &[(i64, &str)], codec: Codec, out: &mut Vec<u8>) -> FrameMeta {
    encode_with(first_offset, records, codec, Parts::default(), out)
}

/// What a frame holds besides its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    /// A token index, for searches to skip it.
    pub index: bool,
    /// Columns ("VGF3"), for counts to read fields without the lines.
    pub columns: bool,
}

/// Encodes `records` into one frame, with the `parts` asked for.
pub fn encode_with(
    first_offset: u64,
    records: &[(i64, &str)],
    codec: Codec,
    parts: Parts,
    out: &mut Vec<u8>,
) -> FrameMeta {
    let indexed = parts.index;
    assert!(!records.is_empty(), "a frame holds at least one record");
    let index = indexed.then(|| {
        let mut builder = IndexBuilder::default();
        for (_, payload) in records {
            builder.add_payload(payload.as_bytes());
        }
        builder.finish()
    });
    let index_len = index.as_ref().map_or(0, Vec::len);
    let mut raw = Vec::with_capacity(records.iter().map(|(_, p)| p.len() + 12).sum());
    let (mut min_ts, mut max_ts) = (i64::MAX, i64::MIN);
    for (ts_ns, _) in records {
        min_ts = min_ts.min(*ts_ns);
        max_ts = max_ts.max(*ts_ns);
    }
    let columns = parts.columns.then(|| {
        let level = match codec {
            Codec::Zstd { level } => Some(level),
            Codec::Lz4 | Codec::Raw => None,
        };
        columns::encode(min_ts, records, level)
    });
    let mut previous = min_ts;
    for (ts_ns, payload) in records {
        if columns.is_none() {
            put_varint(&mut raw, zigzag(ts_ns.wrapping_sub(previous)));
            previous = *ts_ns;
        }
        put_varint(&mut raw, payload.len() as u64);
        raw.extend_from_slice(payload.as_bytes());
    }
    let (codec, body) = match codec {
        Codec::Raw => (Codec::Raw, raw.clone()),
        Codec::Lz4 => (codec, lz4_flex::block::compress(&raw)),
        Codec::Zstd { level } => (codec, zstd::bulk::compress(&raw, level).expect("zstd compresses into memory")),
    };
    // Keep whichever is smaller: tiny frames do not compress.
    let (codec, body) = if body.len() >= raw.len() { (Codec::Raw, raw.clone()) } else { (codec, body) };

    let start = out.len();
    let magic = match (&index, &columns) {
        (_, Some(_)) => &MAGIC_COLUMNS,
        (Some(_), None) => &MAGIC_INDEXED,
        (None, None) => &MAGIC,
    };
    let columns_len = columns.as_ref().map_or(0, Vec::len);
    out.extend_from_slice(magic);
    out.extend_from_slice(&((index_len + columns_len + body.len()) as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // CRC, filled below
    out.extend_from_slice(&first_offset.to_le_bytes());
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    out.extend_from_slice(&min_ts.to_le_bytes());
    out.extend_from_slice(&max_ts.to_le_bytes());
    let index_len_bytes = (index_len as u32).to_le_bytes();
    out.extend_from_slice(&[codec.id(), index_len_bytes[0], index_len_bytes[1], index_len_bytes[2]]);
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    if let Some(index) = &index {
        out.extend_from_slice(index);
    }
    if let Some(columns) = &columns {
        out.extend_from_slice(columns);
    }
    out.extend_from_slice(&body);
    let crc = crc32c::crc32c(&out[start + 12..]);
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
    FrameMeta {
        first_offset,
        count: records.len() as u32,
        min_ts_ns: min_ts,
        max_ts_ns: max_ts,
        pos: 0,
        len: (out.len() - start) as u32,
        raw_len: raw.len() as u32,
        index_len: index_len as u32,
    }
}

/// Why a frame could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header says: a torn write, or the end of data.
    Short,
    /// The bytes are there but do not check.
    Corrupt(&'static str),
}

/// Reads the fixed header at the start of `bytes`: the frame's meta (with
/// `pos` 0) once the magic and lengths are plausible. The CRC is checked by
/// [`check`].
pub fn parse_header(bytes: &[u8]) -> Result<(FrameMeta, u32, u8), FrameError> {
    if bytes.len() < HEADER_LEN {
        return Err(FrameError::Short);
    }
    let (indexed, with_columns) = match bytes[0..4].try_into().unwrap() {
        MAGIC => (false, false),
        MAGIC_INDEXED => (true, false),
        MAGIC_COLUMNS => (true, true),
        _ => return Err(FrameError::Corrupt("bad magic")),
    };
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let body_len = u32_at(4) as usize;
    let count = u32_at(20);
    let raw_len = u32_at(44);
    let codec = bytes[40];
    let index_len = if indexed { u32::from_le_bytes([bytes[41], bytes[42], bytes[43], 0]) } else { 0 };
    // Offsets past u64::MAX cannot be: such a header is damaged.
    let offsets_fit = u64_at(12).checked_add(count as u64).is_some();
    // A "VGF3" frame may have no index (0), and has at least its columns' length.
    let index_fits = !indexed
        || (with_columns && index_len == 0)
        || (index_len as usize >= SECTION_OVERHEAD && index_len as usize <= body_len);
    let index_fits = index_fits && (!with_columns || index_len as usize + 4 <= body_len);
    if body_len > MAX_BODY_BYTES
        || raw_len as usize > MAX_BODY_BYTES
        || count == 0
        || codec > 2
        || !offsets_fit
        || !index_fits
    {
        return Err(FrameError::Corrupt("impossible header"));
    }
    let meta = FrameMeta {
        first_offset: u64_at(12),
        count,
        min_ts_ns: u64_at(24) as i64,
        max_ts_ns: u64_at(32) as i64,
        pos: 0,
        len: (HEADER_LEN + body_len) as u32,
        raw_len,
        index_len,
    };
    Ok((meta, u32_at(8), codec))
}

/// Checks a whole frame (header and body) and returns its meta.
pub fn check(frame: &[u8]) -> Result<FrameMeta, FrameError> {
    let (meta, crc, _) = parse_header(frame)?;
    if frame.len() < meta.len as usize {
        return Err(FrameError::Short);
    }
    if crc32c::crc32c(&frame[12..meta.len as usize]) != crc {
        return Err(FrameError::Corrupt("CRC mismatch"));
    }
    Ok(meta)
}

/// Decodes a checked frame into its records.
pub fn decode(frame: &[u8]) -> Result<Vec<StoredRecord>, FrameError> {
    let mut records = Vec::new();
    let mut valid_utf8 = true;
    for_each_raw(frame, |offset, ts_ns, payload| match std::str::from_utf8(payload) {
        Ok(payload) => records.push(StoredRecord { offset, ts_ns, payload: Arc::from(payload) }),
        Err(_) => valid_utf8 = false,
    })?;
    if !valid_utf8 {
        return Err(FrameError::Corrupt("payload is not UTF-8"));
    }
    Ok(records)
}

/// Calls `visit(ts_ns, payload)` for each record of a checked frame without
/// allocating per record: the scan path of searches.
pub fn for_each_raw(frame: &[u8], visit: impl FnMut(u64, i64, &[u8])) -> Result<(), FrameError> {
    view(frame)?.for_each(visit)
}

/// A checked frame, read in place: its columns (if it has them) without its
/// records, or its records.
pub struct FrameView<'a> {
    pub meta: FrameMeta,
    codec: u8,
    columns: Option<ColumnsSection<'a>>,
    /// The records block as stored (compressed by `codec`).
    records: &'a [u8],
}

/// Checks `frame` whole and opens it for reading.
pub fn view(frame: &[u8]) -> Result<FrameView<'_>, FrameError> {
    let meta = check(frame)?;
    let after_index = &frame[HEADER_LEN + meta.index_len as usize..meta.len as usize];
    let (columns, records) = if frame[0..4] == MAGIC_COLUMNS {
        let (section, len) = ColumnsSection::parse(after_index, meta.count as usize, meta.min_ts_ns)?;
        (Some(section), &after_index[len..])
    } else {
        (None, after_index)
    };
    Ok(FrameView { meta, codec: frame[40], columns, records })
}

impl FrameView<'_> {
    /// The frame's columns, for a frame compaction wrote.
    pub fn columns(&self) -> Option<&ColumnsSection<'_>> {
        self.columns.as_ref()
    }

    /// Calls `visit(offset, ts_ns, payload)` for each record, in order.
    pub fn for_each(&self, mut visit: impl FnMut(u64, i64, &[u8])) -> Result<(), FrameError> {
        let raw = match self.codec {
            0 => std::borrow::Cow::Borrowed(self.records),
            1 => lz4_flex::block::decompress(self.records, self.meta.raw_len as usize)
                .map_err(|_| FrameError::Corrupt("lz4 body does not decompress"))?
                .into(),
            _ => zstd::bulk::decompress(self.records, self.meta.raw_len as usize)
                .map_err(|_| FrameError::Corrupt("zstd body does not decompress"))?
                .into(),
        };
        let times = self.columns.as_ref().map(ColumnsSection::times).transpose()?;
        let (mut at, mut previous) = (0, self.meta.min_ts_ns);
        for i in 0..self.meta.count as usize {
            let ts_ns = match &times {
                Some(times) => times[i],
                None => {
                    let delta = get_varint(&raw, &mut at).ok_or(FrameError::Corrupt("bad time"))?;
                    previous = previous.wrapping_add(unzigzag(delta));
                    previous
                }
            };
            let len = get_varint(&raw, &mut at).ok_or(FrameError::Corrupt("bad length"))? as usize;
            let end = at.checked_add(len).ok_or(FrameError::Corrupt("bad length"))?;
            let payload = raw.get(at..end).ok_or(FrameError::Corrupt("body ends early"))?;
            at = end;
            visit(self.meta.first_offset + i as u64, ts_ns, payload);
        }
        Ok(())
    }
}

/// The token index of the frame `meta` describes, from `bytes`: its first
/// `HEADER_LEN + meta.index_len` bytes as read from disk now. `None` when
/// the frame has no index or those bytes are not that frame's header (the
/// file was rewritten meanwhile): then it must be read whole.
pub fn index_section<'a>(bytes: &'a [u8], meta: &FrameMeta) -> Option<&'a [u8]> {
    if meta.index_len == 0 {
        return None;
    }
    let (found, _, _) = parse_header(bytes).ok()?;
    let same = found.first_offset == meta.first_offset
        && found.count == meta.count
        && found.len == meta.len
        && found.index_len == meta.index_len;
    same.then(|| bytes.get(HEADER_LEN..HEADER_LEN + meta.index_len as usize)).flatten()
}

pub(super) fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

pub(super) fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(super) fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        n |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(i64, String)> {
        (0..50)
            .map(|i| (1_000 + (i * 7919) % 97, format!(r#"{{"message":"request {i} done","status":200}}"#)))
            .collect()
    }

    #[test]
    fn every_codec_round_trips_records_and_their_times() {
        let parts = [(false, false), (true, false), (false, true), (true, true)]
            .map(|(index, columns)| Parts { index, columns });
        let cases = [Codec::Raw, Codec::Lz4, Codec::Zstd { level: 1 }].into_iter().flat_map(|c| parts.map(|p| (c, p)));
        for (codec, parts) in cases {
            let indexed = parts.index;
            let records = sample();
            let borrowed: Vec<(i64, &str)> = records.iter().map(|(t, p)| (*t, p.as_str())).collect();
            let mut out = Vec::new();
            let meta = encode_with(40, &borrowed, codec, parts, &mut out);
            assert_eq!(view(&out).unwrap().columns().is_some(), parts.columns);
            assert_eq!(meta.index_len > 0, indexed);
            assert_eq!(index_section(&out, &meta).is_some(), indexed);
            assert_eq!(meta.len as usize, out.len());
            let times = records.iter().map(|(t, _)| *t);
            assert_eq!((meta.min_ts_ns, meta.max_ts_ns), (times.clone().min().unwrap(), times.max().unwrap()));
            let decoded = decode(&out).unwrap();
            assert_eq!(decoded.len(), 50);
            for (i, record) in decoded.iter().enumerate() {
                assert_eq!(record.offset, 40 + i as u64);
                assert_eq!((record.ts_ns, &*record.payload), (records[i].0, records[i].1.as_str()));
            }
            if codec != Codec::Raw {
                assert!(out.len() < meta.raw_len as usize, "{codec:?} compresses repetitive lines");
            }
        }
    }

    #[test]
    fn any_flipped_bit_or_missing_byte_is_detected() {
        let records = sample();
        let borrowed: Vec<(i64, &str)> = records.iter().map(|(t, p)| (*t, p.as_str())).collect();
        for (index, columns) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut frame = Vec::new();
            encode_with(0, &borrowed, Codec::Lz4, Parts { index, columns }, &mut frame);
            flips_and_cuts_are_detected(&frame);
        }
    }

    fn flips_and_cuts_are_detected(frame: &[u8]) {
        for at in 0..frame.len() {
            for bit in [0x01, 0x80] {
                let mut bad = frame.to_vec();
                bad[at] ^= bit;
                assert!(decode(&bad).is_err(), "flip at byte {at} went unnoticed");
            }
        }
        for cut in 0..frame.len() {
            assert!(decode(&frame[..cut]).is_err(), "a frame cut at {cut} was accepted");
        }
    }

    /// A frame with a good CRC around `body` (raw), `count` records from `first_offset`.
    fn checked(first_offset: u64, count: u32, body: &[u8]) -> Vec<u8> {
        let mut frame = MAGIC.to_vec();
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&first_offset.to_le_bytes());
        frame.extend_from_slice(&count.to_le_bytes());
        frame.extend_from_slice(&[0; 16]); // min and max times
        frame.extend_from_slice(&[0; 4]); // raw codec
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(body);
        let crc = crc32c::crc32c(&frame[12..]);
        frame[8..12].copy_from_slice(&crc.to_le_bytes());
        frame
    }

    #[test]
    fn a_checked_frame_with_an_impossible_length_or_offset_is_refused_not_a_panic() {
        // Found by tests/parsers_arbitrary_input.rs: a record length near
        // u64::MAX overflowed the end of the record.
        let huge_len = [0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1];
        assert_eq!(decode(&checked(0, 1, &huge_len)), Err(FrameError::Corrupt("bad length")));
        // Two empty records from the last offset there is.
        assert_eq!(decode(&checked(u64::MAX, 2, &[0, 0, 0, 0])), Err(FrameError::Corrupt("impossible header")));
    }
}
