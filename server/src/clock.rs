//! The wall clock every floor reads: nanoseconds since the Unix epoch.
//!
//! A leaf module: it imports nothing of the crate, so the store, the
//! catalog and the read models can read the time without reaching up into
//! the HTTP layer.

/// Now, in nanoseconds since the Unix epoch (0 if the clock is set before it).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as i64)
        .unwrap_or_default()
}
