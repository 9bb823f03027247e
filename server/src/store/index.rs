//! The token index of a frame: a compact summary of the text a frame holds,
//! read before the frame is decompressed so a search skips the frames that
//! cannot hold a match.
//!
//! What goes in, from each record's payload (a JSON object), after ASCII
//! lowercasing, for each string value and each key, as it reads (escapes
//! decoded):
//!
//! - every **token**: a maximal run of word bytes (ASCII letters and digits,
//!   and every byte of a non-ASCII character); `GET /v1/orders/42` holds
//!   `get`, `v1`, `orders`, `42`;
//! - every **trigram**: each run of three consecutive bytes, so a word can
//!   be looked for inside longer words (`imeou` needs `ime`, `meo`, `eou`);
//!
//! and the tokens `true`, `false` and `null` where they are values. Numbers
//! are left out: filters compare them by value, never by their text. A
//! payload without `\` is read in place (its strings are the bytes between
//! quotes); one with an escape is parsed.
//!
//! Each one is hashed (XXH3-64, seed [`TOKEN_SEED`] for tokens and
//! [`TRIGRAM_SEED`] for trigrams) into a split-block Bloom filter, the
//! layout Apache Parquet specifies: blocks of eight 32-bit words; a hash
//! picks a block with its high 32 bits and sets one bit in each word with
//! its low 32 bits times eight odd salts. About 10 bits per distinct key
//! (about 1 % false positives). A Bloom filter may say "maybe" for a key
//! that is absent (the frame is then read for nothing) but never "no" for a
//! key that is present, so skipping on it never loses a match.
//!
//! Section layout, stored in the frame between its header and its records
//! (see `frame.rs`):
//!
//! ```text
//! offset size field
//!      0    1 kind         1: split-block Bloom filter of tokens and trigrams
//!      1    3 reserved     zero
//!      4    4 blocks       u32 LE, n >= 1
//!      8 32*n filter       n blocks of eight u32 LE words
//!   8+32n   4 crc32c       u32 LE, of bytes 0..8+32n
//! ```
//!
//! The section has its own CRC so it can be trusted without reading the
//! records after it; a section that does not check (or of an unknown kind)
//! skips nothing.

use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// XXH3 seed of tokens.
pub const TOKEN_SEED: u64 = 0x746f_6b65_6e73;
/// XXH3 seed of trigrams.
pub const TRIGRAM_SEED: u64 = 0x7472_6967_7261;
const KIND_BLOOM: u8 = 1;
/// Bits of filter per distinct key.
const BITS_PER_KEY: usize = 10;
const BLOCK_BYTES: usize = 32;
/// Fixed bytes of a section around its blocks.
pub const SECTION_OVERHEAD: usize = 12;
/// The salts of Parquet's split-block Bloom filter.
const SALT: [u32; 8] = [0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31];

/// Whether a byte belongs to a token.
pub const fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte >= 0x80
}

/// [`is_word`] and ASCII lowercasing as tables: one load per byte.
const WORD: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = is_word(byte as u8);
        byte += 1;
    }
    table
};
const LOWER: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = (byte as u8).to_ascii_lowercase();
        byte += 1;
    }
    table
};

/// The key of a token (already ASCII-lowercased).
pub fn token_key(token: &[u8]) -> u64 {
    xxh3_64_with_seed(token, TOKEN_SEED)
}

/// The key of a trigram (already ASCII-lowercased).
pub fn trigram_key(trigram: &[u8]) -> u64 {
    xxh3_64_with_seed(trigram, TRIGRAM_SEED)
}

/// Keys a frame must hold for a record of it to match: a frame whose index
/// lacks any of them is skipped. Empty: every frame is read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Required {
    keys: Vec<u64>,
}

impl Required {
    /// No requirement: nothing is skipped.
    pub fn none() -> Required {
        Required::default()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Requires a token (lowercased here).
    pub fn token(&mut self, token: &[u8]) {
        self.push(token_key(&token.to_ascii_lowercase()));
    }

    /// Requires every trigram of `text` (lowercased here).
    pub fn trigrams_of(&mut self, text: &[u8]) {
        let lower = text.to_ascii_lowercase();
        for trigram in lower.windows(3) {
            self.push(trigram_key(trigram));
        }
    }

    fn push(&mut self, key: u64) {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }
}

/// Collects the keys of a frame's records, then writes its section.
pub struct IndexBuilder {
    keys: Vec<u64>,
    lower: Vec<u8>,
    /// Recently seen trigrams (3 bytes and a marker bit), so the frequent
    /// ones are hashed once, not once per occurrence.
    seen_trigrams: Vec<u32>,
    /// Recently seen tokens of up to 7 bytes, packed with their length.
    seen_short: Vec<u64>,
    /// Recently seen keys of longer tokens.
    seen_tokens: Vec<u64>,
}

const SEEN_SLOTS: usize = 1 << 13;

impl Default for IndexBuilder {
    fn default() -> IndexBuilder {
        IndexBuilder {
            keys: Vec::new(),
            lower: Vec::new(),
            seen_trigrams: vec![0; SEEN_SLOTS],
            seen_short: vec![0; SEEN_SLOTS],
            // A slot starts with a value that cannot be a key of that slot.
            seen_tokens: (0..SEEN_SLOTS as u64).map(|slot| (slot ^ 1) << 51).collect(),
        }
    }
}

impl IndexBuilder {
    /// Adds one record's payload.
    pub fn add_payload(&mut self, payload: &[u8]) {
        if memchr::memchr(b'\\', payload).is_none() {
            self.add_unescaped(payload);
        } else if let Ok(value) = serde_json::from_slice::<Value>(payload) {
            // Escapes hide text from the raw bytes: add each string as it reads.
            self.add_value(&value);
        }
        // A payload that is not JSON matches no filter: nothing to add.
    }

    /// A payload without escapes: each string is the bytes between two
    /// quotes; between strings, only numbers and literals.
    fn add_unescaped(&mut self, payload: &[u8]) {
        let mut at = 0;
        while at < payload.len() {
            // Strings are short: a plain loop finds their quotes faster than memchr.
            let Some(open) = payload[at..].iter().position(|b| *b == b'"').map(|q| at + q) else {
                self.add_literals(&payload[at..]);
                return;
            };
            self.add_literals(&payload[at..open]);
            let close = payload[open + 1..].iter().position(|b| *b == b'"').map_or(payload.len(), |q| open + 1 + q);
            self.add_text(&payload[open + 1..close]);
            at = close + 1;
        }
    }

    /// The words between strings that are not numbers: `true`, `false`, `null`.
    fn add_literals(&mut self, between: &[u8]) {
        // Mostly `":"`, `","` and numbers: look closer only at a t, f or n.
        if !between.iter().any(|b| matches!(b, b't' | b'f' | b'n')) {
            return;
        }
        for word in between.split(|b| !is_word(*b)) {
            if word.iter().any(|b| !b.is_ascii_digit() && !matches!(b, b'e' | b'E')) {
                self.add_token(&word.to_ascii_lowercase());
            }
        }
    }

    fn add_value(&mut self, value: &Value) {
        match value {
            Value::String(text) => self.add_text(text.as_bytes()),
            Value::Array(items) => items.iter().for_each(|item| self.add_value(item)),
            Value::Object(map) => {
                for (key, item) in map {
                    self.add_text(key.as_bytes());
                    self.add_value(item);
                }
            }
            Value::Bool(true) => self.add_token(b"true"),
            Value::Bool(false) => self.add_token(b"false"),
            Value::Null => self.add_token(b"null"),
            Value::Number(_) => {}
        }
    }

    fn add_token(&mut self, lower: &[u8]) {
        add_token(&mut self.keys, &mut self.seen_short, &mut self.seen_tokens, lower);
    }

    /// The trigrams and tokens of one string.
    fn add_text(&mut self, text: &[u8]) {
        let seen = &mut self.seen_trigrams;
        let mut trigram = 0u32;
        for (at, byte) in text.iter().enumerate() {
            trigram = (trigram << 8 | LOWER[*byte as usize] as u32) & 0x00ff_ffff;
            // The marker bit keeps an empty slot (0) from matching.
            let id = trigram | 0x0100_0000;
            let slot = (id.wrapping_mul(0x9E37_79B1) >> 19) as usize & (SEEN_SLOTS - 1);
            if at >= 2 && seen[slot] != id {
                seen[slot] = id;
                self.keys.push(trigram_key(&trigram.to_be_bytes()[1..]));
            }
        }
        for token in text.split(|byte| !WORD[*byte as usize]).filter(|token| !token.is_empty()) {
            if token.len() <= 7 {
                // The length, then the bytes: a different number for each token.
                let id = token.iter().fold(token.len() as u64, |id, byte| id << 8 | LOWER[*byte as usize] as u64);
                let slot = (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 51) as usize;
                if self.seen_short[slot] != id {
                    self.seen_short[slot] = id;
                    let mut lower = [0u8; 7];
                    lower[..token.len()].copy_from_slice(token);
                    lower.make_ascii_lowercase();
                    self.keys.push(token_key(&lower[..token.len()]));
                }
            } else {
                self.lower.clear();
                self.lower.extend(token.iter().map(u8::to_ascii_lowercase));
                add_token(&mut self.keys, &mut self.seen_short, &mut self.seen_tokens, &self.lower);
            }
        }
    }

    /// The section (see the module's layout) for every key added.
    pub fn finish(mut self) -> Vec<u8> {
        self.keys.sort_unstable();
        self.keys.dedup();
        let blocks = (self.keys.len() * BITS_PER_KEY).div_ceil(BLOCK_BYTES * 8).max(1);
        let mut words = vec![0u32; blocks * 8];
        for key in &self.keys {
            let block = block_of(*key, blocks as u32) * 8;
            for (i, mask) in masks(*key).into_iter().enumerate() {
                words[block + i] |= mask;
            }
        }
        let mut section = Vec::with_capacity(SECTION_OVERHEAD + blocks * BLOCK_BYTES);
        section.extend_from_slice(&[KIND_BLOOM, 0, 0, 0]);
        section.extend_from_slice(&(blocks as u32).to_le_bytes());
        for word in words {
            section.extend_from_slice(&word.to_le_bytes());
        }
        let crc = crc32c::crc32c(&section);
        section.extend_from_slice(&crc.to_le_bytes());
        section
    }
}

/// Adds a token's key unless it was just added: a short token is known by
/// its bytes (no hash needed), a longer one by its key.
#[inline]
fn add_token(keys: &mut Vec<u64>, seen_short: &mut [u64], seen_long: &mut [u64], lower: &[u8]) {
    if lower.len() <= 7 {
        // The length, then the bytes: a different number for each token.
        let id = lower.iter().fold(lower.len() as u64, |id, byte| id << 8 | *byte as u64);
        let slot = (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 51) as usize;
        if seen_short[slot] != id {
            seen_short[slot] = id;
            keys.push(token_key(lower));
        }
        return;
    }
    let key = token_key(lower);
    let slot = (key >> 51) as usize;
    if seen_long[slot] != key {
        seen_long[slot] = key;
        keys.push(key);
    }
}

fn block_of(key: u64, blocks: u32) -> usize {
    (((key >> 32) * blocks as u64) >> 32) as usize
}

fn masks(key: u64) -> [u32; 8] {
    let low = key as u32;
    SALT.map(|salt| 1u32 << (low.wrapping_mul(salt) >> 27))
}

/// Whether a frame whose index section is `section` may hold a record with
/// every key of `required`. `None` when the section does not check or is of
/// an unknown kind: the frame must be read.
pub fn may_hold(section: &[u8], required: &Required) -> Option<bool> {
    if section.len() < SECTION_OVERHEAD || section[0] != KIND_BLOOM {
        return None;
    }
    let (body, crc) = section.split_at(section.len() - 4);
    let blocks = u32::from_le_bytes(body[4..8].try_into().ok()?) as usize;
    if blocks == 0 || body.len() != 8 + blocks * BLOCK_BYTES {
        return None;
    }
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let filter = &body[8..];
    let word = |at: usize| u32::from_le_bytes(filter[at * 4..at * 4 + 4].try_into().unwrap());
    Some(required.keys.iter().all(|key| {
        let block = block_of(*key, blocks as u32) * 8;
        masks(*key).into_iter().enumerate().all(|(i, mask)| word(block + i) & mask != 0)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(payloads: &[&str]) -> Vec<u8> {
        let mut builder = IndexBuilder::default();
        for payload in payloads {
            builder.add_payload(payload.as_bytes());
        }
        builder.finish()
    }

    fn requires(tokens: &[&str], trigrams_of: &[&str]) -> Required {
        let mut required = Required::none();
        tokens.iter().for_each(|t| required.token(t.as_bytes()));
        trigrams_of.iter().for_each(|t| required.trigrams_of(t.as_bytes()));
        required
    }

    #[test]
    fn every_token_and_trigram_added_is_found_whatever_its_case() {
        let section = section(&[r#"{"message":"Upstream TIMEOUT after 30 s","path":"/v1/orders/54321"}"#]);
        for token in ["upstream", "Timeout", "after", "30", "s", "v1", "orders", "54321", "message"] {
            assert_eq!(may_hold(&section, &requires(&[token], &[])), Some(true), "{token}");
        }
        assert_eq!(may_hold(&section, &requires(&[], &["imeou", "/orders/543", "eam ti"])), Some(true));
        assert_eq!(may_hold(&section, &Required::none()), Some(true));
    }

    #[test]
    fn escaped_text_is_indexed_as_it_reads() {
        let section = section(&[r#"{"message":"caf\u00e9 \"quoted\"\nnext\/line"}"#]);
        assert_eq!(may_hold(&section, &requires(&["café", "quoted", "next", "line"], &["next/line"])), Some(true));
    }

    #[test]
    fn strings_keys_and_literals_are_indexed_numbers_are_not() {
        let section = section(&[r#"{"n":12345,"ok":true,"none":null,"tags":["alpha",false]}"#]);
        assert_eq!(
            may_hold(&section, &requires(&["n", "ok", "none", "true", "null", "false", "alpha"], &[])),
            Some(true)
        );
        assert_eq!(may_hold(&section, &requires(&["12345"], &[])), Some(false));
        assert_eq!(may_hold(&section, &requires(&[], &["234"])), Some(false));
    }

    #[test]
    fn absent_keys_are_mostly_ruled_out_and_a_damaged_section_rules_out_nothing() {
        let payloads: Vec<String> = (0..1_000).map(|n| format!(r#"{{"message":"request {n} done"}}"#)).collect();
        let borrowed: Vec<&str> = payloads.iter().map(String::as_str).collect();
        let mut section = section(&borrowed);
        let absent = (0..1_000).filter(|n| may_hold(&section, &requires(&[&format!("zq{n}x")], &[])) == Some(true));
        assert!(absent.count() < 50, "about 1 % false positives");
        assert_eq!(may_hold(&section, &requires(&["zanzibar"], &["zanzibar"])), Some(false));
        section[20] ^= 1;
        assert_eq!(may_hold(&section, &requires(&["zanzibar"], &[])), None);
        assert_eq!(may_hold(&[], &requires(&["zanzibar"], &[])), None);
    }
}
