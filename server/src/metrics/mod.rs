//! Metrics: points appended to each app's metric topic (the source of
//! truth, see [`point`]) and the time-series read model built from them
//! ([`series`], compressed with [`gorilla`]), which the Stats API reads.
//!
//! Points reach the topics from statsd (`crate::ingest::statsd`); the read
//! model follows the topics, so wiping it and starting again rebuilds it.

pub mod chunk_files;
pub mod gorilla;
pub mod http_stats;
pub mod instance;
pub mod point;
pub mod series;
