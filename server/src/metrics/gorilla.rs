//! Gorilla compression of a chunk of points (Pelkonen et al., VLDB 2015),
//! widened to several value columns per timestamp: timestamps as
//! delta-of-delta, each column as the XOR of its previous value.
//!
//! A chunk starts with its first timestamp and first values in 64 bits each.
//! After that, per point:
//! - the timestamp's delta-of-delta: `0` when the spacing did not change
//!   (every point of a regular 10 s series after the second), else `10`,
//!   `110`, `1110` with 7, 9 or 12 bits, or `1111` with all 64;
//! - per column, the value XOR the column's previous value: `0` when equal,
//!   `10` + the meaningful bits when they fit the previous window of
//!   leading and trailing zeros, else `11` + 5 bits of leading zeros + 6
//!   bits of length + the meaningful bits.
//!
//! Timestamps are milliseconds; a chunk is written once, in time order.
//! Deltas are computed and added back with wrapping arithmetic, so any
//! increasing times (even further apart than `i64` holds) come back
//! exactly, and damaged bytes never overflow.
//!
//! When a chunk is sealed it is also tried in a second encoding, and the
//! smaller is kept: each column whose values are all decimals of a few
//! digits (whole counts, a CPU % to one decimal, bytes) is stored as
//! integers scaled by a power of ten, each point as `0` when unchanged or
//! `1` + the change in a width fixed for the chunk. Noisy decimals cost
//! Gorilla's XOR most of their 64 bits; their changes cost a few bits here.
//! Other columns stay XOR-encoded. Both decode to the same bits.

/// Bits appended most significant first.
#[derive(Clone, Debug, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 means it is full, or there is none).
    used_in_last: u32,
}

impl BitWriter {
    /// Appends the low `count` bits of `value` (`count` ≤ 64).
    fn push(&mut self, value: u64, mut count: u32) {
        while count > 0 {
            if self.used_in_last == 0 {
                self.bytes.push(0);
            }
            let free = 8 - self.used_in_last;
            let take = free.min(count);
            let part = (value >> (count - take)) & ((1u64 << take) - 1);
            *self.bytes.last_mut().expect("a byte was pushed") |= (part as u8) << (free - take);
            self.used_in_last = (self.used_in_last + take) % 8;
            count -= take;
        }
    }

    fn bit(&mut self, set: bool) {
        self.push(set as u64, 1);
    }
}

/// Reads what a [`BitWriter`] wrote; `None` past the end.
struct BitReader<'a> {
    bytes: &'a [u8],
    at_bit: usize,
}

impl BitReader<'_> {
    fn read(&mut self, mut count: u32) -> Option<u64> {
        let mut value = 0u64;
        while count > 0 {
            let byte = *self.bytes.get(self.at_bit / 8)?;
            let offset = (self.at_bit % 8) as u32;
            let take = (8 - offset).min(count);
            let part = (byte >> (8 - offset - take)) & ((1u16 << take) - 1) as u8;
            value = (value << take) | part as u64;
            self.at_bit += take as usize;
            count -= take;
        }
        Some(value)
    }

    fn bit(&mut self) -> Option<bool> {
        self.read(1).map(|bit| bit == 1)
    }
}

/// Delta-of-delta buckets: prefix bits, prefix length, value bits.
const DOD_BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 7), (0b110, 3, 9), (0b1110, 4, 12)];

/// Per column: the previous value's bits and the last XOR window.
#[derive(Clone, Copy, Debug)]
struct Column {
    last: u64,
    /// `leading == u8::MAX` while no window is set.
    leading: u8,
    trailing: u8,
}

/// A chunk being written.
#[derive(Clone, Debug)]
pub struct ChunkWriter {
    bits: BitWriter,
    points: u32,
    first_ts_ms: i64,
    last_ts_ms: i64,
    last_delta_ms: i64,
    columns: Box<[Column]>,
}

impl ChunkWriter {
    pub fn new(columns: usize) -> ChunkWriter {
        ChunkWriter {
            bits: BitWriter::default(),
            points: 0,
            first_ts_ms: 0,
            last_ts_ms: 0,
            last_delta_ms: 0,
            columns: vec![Column { last: 0, leading: u8::MAX, trailing: 0 }; columns].into_boxed_slice(),
        }
    }

    pub fn points(&self) -> u32 {
        self.points
    }

    pub fn columns(&self) -> usize {
        self.columns.len()
    }

    /// The time of the newest point, if any.
    pub fn last_ts_ms(&self) -> Option<i64> {
        (self.points > 0).then_some(self.last_ts_ms)
    }

    pub fn first_ts_ms(&self) -> Option<i64> {
        (self.points > 0).then_some(self.first_ts_ms)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bits.bytes
    }

    /// Appends a point later than the last one, with one value per column.
    pub fn append(&mut self, ts_ms: i64, values: &[f64]) {
        debug_assert_eq!(values.len(), self.columns.len());
        debug_assert!(self.points == 0 || ts_ms > self.last_ts_ms);
        if self.points == 0 {
            self.bits.push(ts_ms as u64, 64);
            for (column, value) in self.columns.iter_mut().zip(values) {
                column.last = value.to_bits();
                self.bits.push(column.last, 64);
            }
            self.first_ts_ms = ts_ms;
            self.last_ts_ms = ts_ms;
            self.points = 1;
            return;
        }
        let delta = ts_ms.wrapping_sub(self.last_ts_ms);
        write_dod(&mut self.bits, delta.wrapping_sub(self.last_delta_ms));
        self.last_delta_ms = delta;
        self.last_ts_ms = ts_ms;
        for (column, value) in self.columns.iter_mut().zip(values) {
            write_xor(&mut self.bits, column, value.to_bits());
        }
        self.points += 1;
    }

    /// The finished chunk, in the smaller of the two encodings.
    pub fn seal(self) -> SealedChunk {
        let columns = self.columns.len();
        let mut sealed = SealedChunk {
            bytes: self.bits.bytes.into_boxed_slice(),
            points: self.points,
            columns: columns as u16,
            first_ts_ms: self.first_ts_ms,
            last_ts_ms: self.last_ts_ms,
            scaled: false,
        };
        let mut times = Vec::with_capacity(self.points as usize);
        let mut values: Vec<Vec<f64>> = vec![Vec::with_capacity(self.points as usize); columns];
        decode(&sealed.bytes, sealed.points, columns, |ts, point| {
            times.push(ts);
            for (column, value) in values.iter_mut().zip(point) {
                column.push(*value);
            }
            true
        });
        let scaled = encode_scaled(&times, &values);
        if scaled.len() < sealed.bytes.len() {
            sealed.bytes = scaled.into_boxed_slice();
            sealed.scaled = true;
        }
        sealed
    }
}

/// How a column of a scaled chunk is stored.
enum ColumnCode {
    Xor(Column),
    /// Values are `m / 10^exponent`; changes of `m` fit `width` bits (zigzag).
    Scaled {
        exponent: u32,
        width: u32,
        last: i64,
    },
}

/// Largest power of ten tried, and largest scaled magnitude (exact in f64).
const MAX_EXPONENT: u32 = 6;
const MAX_SCALED: f64 = (1u64 << 53) as f64;

/// The exponent that turns every value into an integer exactly, if any.
fn decimal_exponent(values: &[f64]) -> Option<u32> {
    (0..=MAX_EXPONENT).find(|&exponent| {
        let scale = 10f64.powi(exponent as i32);
        values.iter().all(|value| {
            // -0.0 would come back as 0.0.
            if *value == 0.0 && value.is_sign_negative() {
                return false;
            }
            let scaled = (value * scale).round();
            scaled.abs() < MAX_SCALED && (scaled / scale).to_bits() == value.to_bits()
        })
    })
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// The scaled encoding of a chunk's points (see the module's doc): the
/// first time, each column's header and first value, then per point the
/// time as in Gorilla and each column's change.
fn encode_scaled(times: &[i64], values: &[Vec<f64>]) -> Vec<u8> {
    let mut bits = BitWriter::default();
    bits.push(times[0] as u64, 64);
    let mut codes: Vec<ColumnCode> = Vec::with_capacity(values.len());
    for column in values {
        match decimal_exponent(column) {
            Some(exponent) => {
                let scale = 10f64.powi(exponent as i32);
                let scaled: Vec<i64> = column.iter().map(|value| (value * scale).round() as i64).collect();
                let width = scaled
                    .windows(2)
                    .map(|pair| 64 - zigzag(pair[1].wrapping_sub(pair[0])).leading_zeros())
                    .max()
                    .unwrap_or(0);
                bits.bit(true);
                bits.push(exponent as u64, 3);
                bits.push(width as u64, 7);
                bits.push(zigzag(scaled[0]), 64);
                codes.push(ColumnCode::Scaled { exponent, width, last: scaled[0] });
            }
            None => {
                bits.bit(false);
                bits.push(column[0].to_bits(), 64);
                codes.push(ColumnCode::Xor(Column { last: column[0].to_bits(), leading: u8::MAX, trailing: 0 }));
            }
        }
    }
    let (mut last_ts, mut last_delta) = (times[0], 0);
    for (index, &ts) in times.iter().enumerate().skip(1) {
        let delta = ts.wrapping_sub(last_ts);
        write_dod(&mut bits, delta.wrapping_sub(last_delta));
        (last_ts, last_delta) = (ts, delta);
        for (code, column) in codes.iter_mut().zip(values) {
            let value = column[index];
            match code {
                ColumnCode::Xor(state) => write_xor(&mut bits, state, value.to_bits()),
                ColumnCode::Scaled { exponent, width, last } => {
                    let scaled = (value * 10f64.powi(*exponent as i32)).round() as i64;
                    let change = zigzag(scaled.wrapping_sub(*last));
                    *last = scaled;
                    if change == 0 {
                        bits.bit(false);
                    } else {
                        bits.bit(true);
                        bits.push(change, *width);
                    }
                }
            }
        }
    }
    bits.bytes
}

fn write_dod(bits: &mut BitWriter, dod: i64) {
    if dod == 0 {
        bits.bit(false);
        return;
    }
    for (prefix, prefix_bits, value_bits) in DOD_BUCKETS {
        let half = 1i64 << (value_bits - 1);
        if (-half..half).contains(&dod) {
            bits.push(prefix, prefix_bits);
            bits.push(dod as u64 & ((1 << value_bits) - 1), value_bits);
            return;
        }
    }
    bits.push(0b1111, 4);
    bits.push(dod as u64, 64);
}

/// Writes a column's next value as its XOR with the previous one.
fn write_xor(bits: &mut BitWriter, column: &mut Column, value: u64) {
    let xor = value ^ column.last;
    column.last = value;
    if xor == 0 {
        bits.bit(false);
        return;
    }
    let leading = (xor.leading_zeros() as u8).min(31);
    let trailing = xor.trailing_zeros() as u8;
    if column.leading != u8::MAX && leading >= column.leading && trailing >= column.trailing {
        let meaningful = 64 - column.leading as u32 - column.trailing as u32;
        bits.push(0b10, 2);
        bits.push(xor >> column.trailing, meaningful);
    } else {
        let meaningful = 64 - leading as u32 - trailing as u32;
        bits.push(0b11, 2);
        bits.push(leading as u64, 5);
        // 64 meaningful bits are written as 0: 1..=63 fit 6 bits.
        bits.push(meaningful as u64 & 63, 6);
        bits.push(xor >> trailing, meaningful);
        column.leading = leading;
        column.trailing = trailing;
    }
}

/// Reads a scaled chunk (see [`encode_scaled`]); false when the bytes end early.
fn decode_scaled(bytes: &[u8], points: u32, columns: usize, mut visit: impl FnMut(i64, &[f64]) -> bool) -> bool {
    let mut reader = BitReader { bytes, at_bit: 0 };
    let Some(first_ts) = reader.read(64) else { return false };
    let mut codes = Vec::with_capacity(columns);
    let mut values = vec![0f64; columns];
    for value in values.iter_mut() {
        let Some(scaled) = reader.bit() else { return false };
        if scaled {
            let (Some(exponent), Some(width), Some(first)) = (reader.read(3), reader.read(7), reader.read(64)) else {
                return false;
            };
            let last = unzigzag(first);
            *value = last as f64 / 10f64.powi(exponent as i32);
            codes.push(ColumnCode::Scaled { exponent: exponent as u32, width: width as u32, last });
        } else {
            let Some(bits) = reader.read(64) else { return false };
            *value = f64::from_bits(bits);
            codes.push(ColumnCode::Xor(Column { last: bits, leading: 0, trailing: 0 }));
        }
    }
    let (mut ts, mut delta) = (first_ts as i64, 0i64);
    for point in 0..points {
        if point > 0 {
            let Some(dod) = read_dod(&mut reader) else { return false };
            delta = delta.wrapping_add(dod);
            ts = ts.wrapping_add(delta);
            for (code, value) in codes.iter_mut().zip(values.iter_mut()) {
                match code {
                    ColumnCode::Xor(column) => {
                        let Some(bits) = read_value(&mut reader, column) else { return false };
                        *value = f64::from_bits(bits);
                    }
                    ColumnCode::Scaled { exponent, width, last } => {
                        let Some(changed) = reader.bit() else { return false };
                        if changed {
                            let Some(change) = reader.read(*width) else { return false };
                            *last = last.wrapping_add(unzigzag(change));
                            *value = *last as f64 / 10f64.powi(*exponent as i32);
                        }
                    }
                }
            }
        }
        if !visit(ts, &values) {
            return true;
        }
    }
    true
}

/// A chunk no longer written to.
#[derive(Clone, Debug)]
pub struct SealedChunk {
    pub bytes: Box<[u8]>,
    pub points: u32,
    pub columns: u16,
    pub first_ts_ms: i64,
    pub last_ts_ms: i64,
    /// In the scaled encoding rather than plain Gorilla.
    pub scaled: bool,
}

impl SealedChunk {
    /// As [`decode`], whichever the encoding.
    pub fn decode(&self, visit: impl FnMut(i64, &[f64]) -> bool) -> bool {
        self.decode_bytes(&self.bytes, visit)
    }

    /// As [`SealedChunk::decode`], of this chunk's bytes kept elsewhere.
    pub fn decode_bytes(&self, bytes: &[u8], visit: impl FnMut(i64, &[f64]) -> bool) -> bool {
        if self.scaled {
            decode_scaled(bytes, self.points, self.columns as usize, visit)
        } else {
            decode(bytes, self.points, self.columns as usize, visit)
        }
    }
}

/// Calls `visit(ts_ms, values)` for each point of a chunk's bytes, in
/// order; stops early when `visit` returns false. Returns false when the
/// bytes end before `points` points were read (a damaged chunk).
pub fn decode(bytes: &[u8], points: u32, columns: usize, mut visit: impl FnMut(i64, &[f64]) -> bool) -> bool {
    let mut reader = BitReader { bytes, at_bit: 0 };
    let mut values = vec![0f64; columns];
    let mut state = vec![Column { last: 0, leading: 0, trailing: 0 }; columns];
    let (mut ts, mut delta) = (0i64, 0i64);
    for point in 0..points {
        if point == 0 {
            let Some(first) = reader.read(64) else { return false };
            ts = first as i64;
            for (column, value) in state.iter_mut().zip(values.iter_mut()) {
                let Some(bits) = reader.read(64) else { return false };
                column.last = bits;
                *value = f64::from_bits(bits);
            }
        } else {
            let Some(dod) = read_dod(&mut reader) else { return false };
            delta = delta.wrapping_add(dod);
            ts = ts.wrapping_add(delta);
            for (column, value) in state.iter_mut().zip(values.iter_mut()) {
                let Some(bits) = read_value(&mut reader, column) else { return false };
                *value = f64::from_bits(bits);
            }
        }
        if !visit(ts, &values) {
            return true;
        }
    }
    true
}

fn read_dod(reader: &mut BitReader<'_>) -> Option<i64> {
    if !reader.bit()? {
        return Some(0);
    }
    // Each bucket's prefix is the previous one's with one more `1`.
    for (_, _, value_bits) in DOD_BUCKETS {
        if !reader.bit()? {
            let raw = reader.read(value_bits)?;
            let shift = 64 - value_bits;
            return Some(((raw << shift) as i64) >> shift);
        }
    }
    Some(reader.read(64)? as i64)
}

fn read_value(reader: &mut BitReader<'_>, column: &mut Column) -> Option<u64> {
    if !reader.bit()? {
        return Some(column.last);
    }
    if reader.bit()? {
        column.leading = reader.read(5)? as u8;
        let meaningful = match reader.read(6)? as u8 {
            0 => 64,
            bits => bits,
        };
        // Damaged bytes may ask for more than 64 bits: refuse, never underflow.
        column.trailing = 64u8.checked_sub(column.leading)?.checked_sub(meaningful)?;
    }
    let meaningful = 64 - column.leading as u32 - column.trailing as u32;
    let xor = reader.read(meaningful)? << column.trailing;
    column.last ^= xor;
    Some(column.last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(points: &[(i64, Vec<f64>)]) -> Vec<(i64, Vec<f64>)> {
        let mut writer = ChunkWriter::new(points[0].1.len());
        for (ts, values) in points {
            writer.append(*ts, values);
        }
        let sealed = writer.seal();
        let mut back = Vec::new();
        assert!(sealed.decode(|ts, values| {
            back.push((ts, values.to_vec()));
            true
        }));
        back
    }

    /// A repeatable stream of any 64-bit patterns.
    fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    fn bits(points: &[(i64, Vec<f64>)]) -> Vec<(i64, Vec<u64>)> {
        points.iter().map(|(ts, values)| (*ts, values.iter().map(|v| v.to_bits()).collect())).collect()
    }

    #[test]
    fn decimal_columns_are_sealed_scaled_smaller_and_exact_beside_noisy_ones() {
        let mut next = xorshift(7);
        let points: Vec<(i64, Vec<f64>)> = (0..240)
            .map(|i| {
                let cpu = (350 + (next() % 200) as i64 - 100) as f64 / 10.0; // 25.0 .. 44.9
                let count = (200 + next() % 50) as f64;
                let bytes = 536_870_912.0 + ((i / 30) * 4096) as f64;
                let noisy = f64::from_bits(next() >> 2);
                let awkward = if i % 2 == 0 { 0.1 + 0.2 } else { -0.0 };
                let zeros = if i % 3 == 0 { -0.0 } else { 0.0 };
                (1_790_000_000_000 + i * 10_000, vec![cpu, count, bytes, noisy, awkward, zeros])
            })
            .collect();
        let mut gorilla_only = ChunkWriter::new(6);
        let mut single: Vec<ChunkWriter> = (0..3).map(|_| ChunkWriter::new(1)).collect();
        for (ts, values) in &points {
            gorilla_only.append(*ts, values);
            for (column, writer) in single.iter_mut().enumerate() {
                writer.append(*ts, &values[column..column + 1]);
            }
        }
        let plain = gorilla_only.bytes().len();
        let sealed = gorilla_only.seal();
        assert!(sealed.scaled && sealed.bytes.len() < plain, "{} vs {plain}", sealed.bytes.len());
        assert_eq!(bits(&round_trip(&points)), bits(&points));
        // Alone, each decimal column costs under 1.6 bytes a point; the noisy
        // ones only thanks to scaling (the steady one was smaller as it was).
        for (column, writer) in single.into_iter().enumerate() {
            let sealed = writer.seal();
            let per_point = sealed.bytes.len() as f64 / sealed.points as f64;
            assert!(per_point < 1.6, "column {column}: {per_point} bytes a point");
            assert_eq!(sealed.scaled, column < 2, "column {column}");
        }
    }

    #[test]
    fn any_timestamps_and_values_come_back_bit_for_bit() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut ts = -5_000i64;
        let mut points = Vec::new();
        for index in 0..2_000 {
            // Regular spacing, small jitter, huge jumps, and every kind of float.
            ts += match index % 7 {
                0 => 10_000,
                1 => 10_000 + (next() % 300) as i64,
                2 => 1 + (next() % 5_000) as i64,
                3 => 1 << 40,
                _ => 10_000,
            };
            let special = [0.0, -0.0, f64::MAX, f64::MIN_POSITIVE, f64::INFINITY, 1.5, 1e-300];
            let values = vec![
                f64::from_bits(next()),
                special[index % special.len()],
                (index / 10) as f64,
                if index % 3 == 0 { 42.0 } else { 42.5 },
            ];
            points.push((ts, values));
        }
        assert_eq!(bits(&round_trip(&points)), bits(&points));
    }

    #[test]
    fn a_regular_series_with_a_steady_value_costs_about_two_bits_a_point() {
        let points: Vec<_> = (0..1_000).map(|i| (i * 10_000, vec![7.0])).collect();
        let mut writer = ChunkWriter::new(1);
        for (ts, values) in &points {
            writer.append(*ts, values);
        }
        // 16 bytes of header, one byte-ish for the second delta, then 2 bits a point.
        assert!(writer.bytes().len() < 16 + 10 + 1_000 * 2 / 8 + 1, "{}", writer.bytes().len());
        assert_eq!(round_trip(&points), points);
    }

    #[test]
    fn truncated_bytes_are_reported_not_misread() {
        let mut writer = ChunkWriter::new(2);
        for i in 0..100 {
            writer.append(i * 1_000 + (i * i) % 7, &[i as f64 * 1.1, 3.0]);
        }
        let sealed = writer.seal();
        let cut = &sealed.bytes[..sealed.bytes.len() / 2];
        let mut seen = 0;
        assert!(!decode(cut, sealed.points, 2, |_, _| {
            seen += 1;
            true
        }));
        assert!(seen < 100);
    }

    #[test]
    fn times_further_apart_than_i64_holds_come_back_exactly() {
        // Found by tests/parsers_arbitrary_input.rs: the delta overflowed.
        let points = vec![(-8_750_983_826_656_238_613, vec![0.0]), (983_163_186_824_264_218, vec![0.0])];
        assert_eq!(round_trip(&points), points);
        let extremes = vec![(i64::MIN, vec![1.5]), (0, vec![2.5]), (i64::MAX, vec![3.5])];
        assert_eq!(round_trip(&extremes), extremes);
    }

    #[test]
    fn damaged_bytes_whose_times_overflow_decode_without_panicking() {
        // Found by tests/parsers_arbitrary_input.rs.
        let bytes = [0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 94, 0, 12, 0, 122, 0, 0, 0, 0, 0, 0, 0, 24, 0];
        let mut seen = 0;
        decode(&bytes, 15, 0, |_, _| {
            seen += 1;
            true
        });
        assert!(seen <= 15);
    }
}
