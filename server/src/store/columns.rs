//! The columns of a compacted frame: its records' times, and the top-level
//! fields that repeat (`status`, `method`, `path`, `country`, `level`…),
//! stored by field beside the lines so a count reads a field without the
//! lines. Written by compaction into `VGF3` frames (see `frame.rs`).
//!
//! A field is a column of a frame when every record of the frame is a JSON
//! object, and the field's values there are scalars (strings, numbers,
//! booleans, null) of at most [`MAX_DISTINCT`] distinct texts, each
//! repeated four times on average (an identifier, nearly every value
//! different, is left to the lines). A column is a dictionary of the JSON
//! texts of its values (as `serde_json` writes them, so they parse back to
//! the same value) and one id per record: `0` where the record has no such
//! key at its top level or holds an object or array there, `k` for the
//! dictionary's `k`-th text. So a reader can tell, for each record, the
//! field's exact value, or that only the record itself can say.
//!
//! Section layout, between the token index and the records block:
//!
//! ```text
//! size  field
//!    4  area_len   u32 LE, bytes that follow
//!    2  columns    u16 LE, the time column first, then fields
//!  per column:
//!    1  name_len   u8 (0 for the time column)
//!    n  name       UTF-8
//!    1  codec      0 raw, 2 zstd
//!    4  stored_len u32 LE
//!    4  raw_len    u32 LE
//!    s  bytes      the column, compressed on its own
//! ```
//!
//! Raw column bodies: the time column is each record's zigzag varint time
//! difference with the previous one (the first with the frame's
//! `min_ts_ns`); a field column is the dictionary's length (varint), each
//! text (varint length, bytes), the id width (1 or 2), then one id per
//! record (LE). Each column is compressed alone, so a count of `status`
//! decompresses the ids of `status` and nothing else. The frame's CRC
//! covers the section.

use std::collections::HashMap;

use serde_json::Value;

use super::frame::{get_varint, put_varint, unzigzag, zigzag, FrameError};

/// Distinct values a field may have in one frame to be a column (ids are
/// two bytes, 0 reserved).
pub const MAX_DISTINCT: usize = 65_535;
/// Field columns one frame may hold.
pub const MAX_COLUMNS: usize = 32;
const CODEC_RAW: u8 = 0;
const CODEC_ZSTD: u8 = 2;

/// Builds the columns section of the records of one frame.
pub fn encode(min_ts_ns: i64, records: &[(i64, &str)], zstd_level: Option<i32>) -> Vec<u8> {
    let mut times = Vec::with_capacity(records.len() * 4);
    let mut previous = min_ts_ns;
    for (ts_ns, _) in records {
        put_varint(&mut times, zigzag(ts_ns.wrapping_sub(previous)));
        previous = *ts_ns;
    }
    let fields = field_columns(records);
    let mut area = Vec::new();
    area.extend_from_slice(&((1 + fields.len()) as u16).to_le_bytes());
    put_column(&mut area, "", &times, zstd_level);
    for (name, raw) in &fields {
        put_column(&mut area, name, raw, zstd_level);
    }
    let mut out = Vec::with_capacity(4 + area.len());
    out.extend_from_slice(&(area.len() as u32).to_le_bytes());
    out.extend_from_slice(&area);
    out
}

/// Records after which a field with more than one value in two different
/// is taken for an identifier: no column, no more counting of its values.
const IDENTIFIER_AFTER: usize = 64;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The raw body of each field that makes a column of these records, by name.
fn field_columns(records: &[(i64, &str)]) -> Vec<(String, Vec<u8>)> {
    use std::fmt::Write;

    struct Building {
        texts: Vec<String>,
        ids: FastMap<String, u16>,
        of_record: Vec<u16>,
        dropped: bool,
    }
    let mut fields: Vec<(String, Building)> = Vec::new();
    let mut position: FastMap<String, usize> = FastMap::default();
    let mut text = String::new();
    for (at, (_, payload)) in records.iter().enumerate() {
        // A record that is not an object: no field is a column here.
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(payload) else { return Vec::new() };
        for (name, value) in &record {
            if matches!(value, Value::Object(_) | Value::Array(_)) || name.is_empty() || name.len() > 255 {
                continue;
            }
            let index = match position.get(name.as_str()) {
                Some(index) => *index,
                None if fields.len() < MAX_COLUMNS * 2 => {
                    position.insert(name.clone(), fields.len());
                    let building =
                        Building { texts: Vec::new(), ids: FastMap::default(), of_record: Vec::new(), dropped: false };
                    fields.push((name.clone(), building));
                    fields.len() - 1
                }
                None => continue,
            };
            let building = &mut fields[index].1;
            if building.dropped {
                continue;
            }
            if at >= IDENTIFIER_AFTER && building.texts.len() * 2 > at {
                *building =
                    Building { texts: Vec::new(), ids: FastMap::default(), of_record: Vec::new(), dropped: true };
                continue;
            }
            text.clear();
            write!(text, "{value}").expect("writing to a string");
            let id = match building.ids.get(text.as_str()) {
                Some(id) => *id,
                None if building.texts.len() < MAX_DISTINCT => {
                    building.texts.push(text.clone());
                    building.ids.insert(text.clone(), building.texts.len() as u16);
                    building.texts.len() as u16
                }
                None => {
                    building.dropped = true;
                    continue;
                }
            };
            building.of_record.resize(at, 0);
            building.of_record.push(id);
        }
    }
    let mut columns: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, mut building) in fields {
        // Worth a column only when values repeat.
        if building.dropped || building.texts.len() * 4 > records.len() || columns.len() == MAX_COLUMNS {
            continue;
        }
        building.of_record.resize(records.len(), 0);
        let mut raw = Vec::new();
        put_varint(&mut raw, building.texts.len() as u64);
        for text in &building.texts {
            put_varint(&mut raw, text.len() as u64);
            raw.extend_from_slice(text.as_bytes());
        }
        if building.texts.len() < 256 {
            raw.push(1);
            raw.extend(building.of_record.iter().map(|id| *id as u8));
        } else {
            raw.push(2);
            raw.extend(building.of_record.iter().flat_map(|id| id.to_le_bytes()));
        }
        columns.push((name, raw));
    }
    columns
}

fn put_column(area: &mut Vec<u8>, name: &str, raw: &[u8], zstd_level: Option<i32>) {
    let compressed = zstd_level.map(|level| zstd::bulk::compress(raw, level).expect("zstd compresses into memory"));
    let (codec, stored) = match &compressed {
        Some(bytes) if bytes.len() < raw.len() => (CODEC_ZSTD, bytes.as_slice()),
        _ => (CODEC_RAW, raw),
    };
    area.push(name.len() as u8);
    area.extend_from_slice(name.as_bytes());
    area.push(codec);
    area.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    area.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    area.extend_from_slice(stored);
}

/// The columns section of a checked frame, read in place: each column is
/// decompressed only when asked for.
pub struct ColumnsSection<'a> {
    count: usize,
    min_ts_ns: i64,
    /// (name, codec, raw_len, stored bytes), the time column first.
    columns: Vec<(&'a str, u8, usize, &'a [u8])>,
}

/// One field's values in one frame.
#[derive(Debug)]
pub struct Column {
    /// The JSON text of each distinct value; id `k` is `texts[k - 1]`.
    pub texts: Vec<String>,
    /// One id per record of the frame, `0` where only the record can say.
    pub ids: Vec<u16>,
}

impl<'a> ColumnsSection<'a> {
    /// Reads the section at the start of `bytes`; returns it and its length.
    pub fn parse(bytes: &'a [u8], count: usize, min_ts_ns: i64) -> Result<(ColumnsSection<'a>, usize), FrameError> {
        let bad = FrameError::Corrupt("bad columns section");
        let area_len = u32::from_le_bytes(bytes.get(0..4).ok_or(bad)?.try_into().unwrap()) as usize;
        let area = bytes.get(4..4 + area_len).ok_or(FrameError::Corrupt("bad columns section"))?;
        let mut at = 2;
        let how_many =
            u16::from_le_bytes(area.get(0..2).ok_or(FrameError::Corrupt("bad columns section"))?.try_into().unwrap());
        let mut columns = Vec::with_capacity(how_many as usize);
        for _ in 0..how_many {
            let take = |at: &mut usize, n: usize| {
                let slice = area.get(*at..*at + n).ok_or(FrameError::Corrupt("bad columns section"));
                *at += n;
                slice
            };
            let name_len = take(&mut at, 1)?[0] as usize;
            let name =
                std::str::from_utf8(take(&mut at, name_len)?).map_err(|_| FrameError::Corrupt("bad column name"))?;
            let codec = take(&mut at, 1)?[0];
            let stored_len = u32::from_le_bytes(take(&mut at, 4)?.try_into().unwrap()) as usize;
            let raw_len = u32::from_le_bytes(take(&mut at, 4)?.try_into().unwrap()) as usize;
            let stored = take(&mut at, stored_len)?;
            if codec != CODEC_RAW && codec != CODEC_ZSTD || raw_len > super::frame::MAX_BODY_BYTES {
                return Err(FrameError::Corrupt("bad column"));
            }
            columns.push((name, codec, raw_len, stored));
        }
        if columns.first().is_none_or(|(name, ..)| !name.is_empty()) {
            return Err(FrameError::Corrupt("no time column"));
        }
        Ok((ColumnsSection { count, min_ts_ns, columns }, 4 + area_len))
    }

    fn raw(&self, index: usize) -> Result<std::borrow::Cow<'a, [u8]>, FrameError> {
        let (_, codec, raw_len, stored) = self.columns[index];
        match codec {
            CODEC_RAW => Ok(stored.into()),
            _ => zstd::bulk::decompress(stored, raw_len)
                .map(Into::into)
                .map_err(|_| FrameError::Corrupt("a column does not decompress")),
        }
    }

    /// Each record's time, in order.
    pub fn times(&self) -> Result<Vec<i64>, FrameError> {
        let raw = self.raw(0)?;
        let (mut at, mut previous) = (0, self.min_ts_ns);
        let mut times = Vec::with_capacity(self.count);
        for _ in 0..self.count {
            let delta = get_varint(&raw, &mut at).ok_or(FrameError::Corrupt("bad time"))?;
            previous = previous.wrapping_add(unzigzag(delta));
            times.push(previous);
        }
        Ok(times)
    }

    /// Whether `name` is a column of this frame.
    pub fn has(&self, name: &str) -> bool {
        self.columns.iter().skip(1).any(|(own, ..)| *own == name)
    }

    /// The column `name`, if the frame has it.
    pub fn column(&self, name: &str) -> Result<Option<Column>, FrameError> {
        let Some(index) = self.columns.iter().skip(1).position(|(own, ..)| *own == name) else { return Ok(None) };
        let raw = self.raw(index + 1)?;
        let bad = || FrameError::Corrupt("bad column");
        let mut at = 0;
        let distinct = get_varint(&raw, &mut at).ok_or_else(bad)? as usize;
        if distinct > MAX_DISTINCT {
            return Err(bad());
        }
        let mut texts = Vec::with_capacity(distinct);
        for _ in 0..distinct {
            let len = get_varint(&raw, &mut at).ok_or_else(bad)? as usize;
            let text = raw.get(at..at.checked_add(len).ok_or_else(bad)?).ok_or_else(bad)?;
            texts.push(String::from_utf8(text.to_vec()).map_err(|_| bad())?);
            at += len;
        }
        let width = *raw.get(at).ok_or_else(bad)? as usize;
        at += 1;
        let ids_bytes = raw.get(at..).ok_or_else(bad)?;
        if !(1..=2).contains(&width) || ids_bytes.len() != self.count * width {
            return Err(bad());
        }
        let ids: Vec<u16> = match width {
            1 => ids_bytes.iter().map(|id| *id as u16).collect(),
            _ => ids_bytes.chunks_exact(2).map(|id| u16::from_le_bytes([id[0], id[1]])).collect(),
        };
        if ids.iter().any(|id| *id as usize > distinct) {
            return Err(bad());
        }
        Ok(Some(Column { texts, ids }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_scalar_fields_become_columns_with_their_exact_values() {
        let payloads: Vec<String> = (0..40)
            .map(|i| match i {
                7 => r#"{"status":"teapot","path":{"nested":1},"level":null}"#.to_string(),
                9 => r#"{"method":"GET"}"#.to_string(),
                _ => format!(r#"{{"status":{},"path":"/p{}","method":"GET","id":{i}}}"#, [200, 503][i % 2], i % 3),
            })
            .collect();
        let records: Vec<(i64, &str)> =
            payloads.iter().enumerate().map(|(i, p)| (1_000 + i as i64 * 7, p.as_str())).collect();
        let bytes = encode(1_000, &records, Some(3));
        let (section, len) = ColumnsSection::parse(&bytes, records.len(), 1_000).unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(section.times().unwrap(), records.iter().map(|(ts, _)| *ts).collect::<Vec<_>>());
        assert!(!section.has("id"), "nearly every value different: not a column");
        let status = section.column("status").unwrap().unwrap();
        let text_of = |column: &Column, at: usize| match column.ids[at] {
            0 => None,
            id => Some(column.texts[id as usize - 1].clone()),
        };
        assert_eq!(text_of(&status, 0).as_deref(), Some("200"));
        assert_eq!(text_of(&status, 1).as_deref(), Some("503"));
        assert_eq!(text_of(&status, 7).as_deref(), Some("\"teapot\""));
        assert_eq!(text_of(&status, 9), None, "absent: only the record can say");
        let path = section.column("path").unwrap().unwrap();
        assert_eq!(text_of(&path, 7), None, "an object is not in a column");
        assert_eq!(text_of(&path, 2).as_deref(), Some("\"/p2\""));
        assert!(section.column("nothing").unwrap().is_none());
    }

    #[test]
    fn a_record_that_is_not_an_object_leaves_only_the_time_column() {
        let records = [(5, r#"{"status":200}"#), (6, "plain text"), (7, r#"{"status":200}"#)];
        let bytes = encode(5, &records, None);
        let (section, _) = ColumnsSection::parse(&bytes, 3, 5).unwrap();
        assert!(!section.has("status"));
        assert_eq!(section.times().unwrap(), [5, 6, 7]);
    }

    #[test]
    fn a_damaged_section_is_refused_not_a_panic() {
        let payloads: Vec<String> = (0..20).map(|i| format!(r#"{{"status":{}}}"#, 200 + i % 2)).collect();
        let records: Vec<(i64, &str)> = payloads.iter().map(|p| (1, p.as_str())).collect();
        let bytes = encode(1, &records, None);
        for cut in 0..bytes.len() {
            let _ = ColumnsSection::parse(&bytes[..cut], 20, 1)
                .map(|(section, _)| (section.times(), section.column("status")));
        }
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0xff;
            let _ = ColumnsSection::parse(&bad, 20, 1).map(|(section, _)| (section.times(), section.column("status")));
        }
    }
}
