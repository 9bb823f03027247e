//! Metrics: points appended to each app's metric topic (the source of
//! truth, see [`point`]) and the time-series read model built from them
//! ([`series`], compressed with [`gorilla`]), which the Stats API reads.
//!
//! Points reach the topics from statsd (`crate::ingest::statsd`); the read
//! model follows the topics, so wiping it and starting again rebuilds it.

use crate::store::{Store, TopicKey};

pub mod chunk_files;
pub mod gorilla;
pub mod http_stats;
pub mod point;
pub mod promql;
pub mod series;

/// Calls `apply(offset, ts_ns, payload)` for every record of `key` from
/// `from` on, without copying them (see `Store::scan`); returns the offset
/// the next call starts from. How the read models follow their topics.
pub fn follow(store: &Store, key: &TopicKey, from: u64, mut apply: impl FnMut(u64, i64, &[u8])) -> u64 {
    let mut next = from;
    store.scan(key, from, |offset, ts_ns, payload| {
        next = offset + 1;
        apply(offset, ts_ns, payload);
    });
    next
}
