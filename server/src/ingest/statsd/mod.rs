//! statsd ingest: the line protocol ([`parse`]) and the per-interval
//! aggregation of its samples into points ([`aggregate`]).

pub mod aggregate;
pub mod parse;
