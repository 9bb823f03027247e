//! How much one app may send: a token bucket of lines per second per app,
//! so one noisy app cannot starve the others. A batch over the limit is
//! refused whole (nothing of it is stored) with the time to wait, so a
//! client that retries loses nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The ingest limits, set with `vigie serve` flags.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IngestLimits {
    /// Lines per second per app, sustained.
    pub lines_per_sec: f64,
    /// Lines one request may carry.
    pub batch_lines: usize,
    /// Syslog TCP connections open at once; one more is closed at once.
    pub syslog_tcp_connections: usize,
    /// A syslog TCP connection that sends nothing for this long is closed.
    pub syslog_tcp_idle: Duration,
}

impl Default for IngestLimits {
    fn default() -> IngestLimits {
        IngestLimits {
            lines_per_sec: 200_000.0,
            batch_lines: 10_000,
            syslog_tcp_connections: 1_024,
            syslog_tcp_idle: Duration::from_secs(300),
        }
    }
}

/// One bucket per app; a bucket holds up to one second of lines.
pub struct RateLimiter {
    per_sec: f64,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(lines_per_sec: f64) -> RateLimiter {
        RateLimiter { per_sec: lines_per_sec, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes `lines` from the app's bucket, or says how long until they
    /// would fit. A batch larger than a second's worth waits for a full
    /// bucket and then goes through, so any batch is eventually accepted.
    pub fn take(&self, org: &str, app: &str, lines: usize) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = match buckets.get_mut(&(org.to_string(), app.to_string())) {
            Some(bucket) => bucket,
            None => {
                buckets.entry((org.to_string(), app.to_string())).or_insert(Bucket { tokens: self.per_sec, at: now })
            }
        };
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * self.per_sec).min(self.per_sec);
        bucket.at = now;
        let needed = (lines as f64).min(self.per_sec);
        if bucket.tokens >= needed {
            bucket.tokens -= lines as f64;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((needed - bucket.tokens) / self.per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_a_second_of_lines_then_asks_to_wait_and_apps_are_apart() {
        let limiter = RateLimiter::new(1_000.0);
        assert!(limiter.take("a", "web", 600).is_ok());
        assert!(limiter.take("a", "web", 400).is_ok());
        let wait = limiter.take("a", "web", 500).unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500), "{wait:?}");
        assert!(limiter.take("a", "api", 1_000).is_ok(), "another app has its own bucket");
        assert!(limiter.take("b", "web", 1_000).is_ok(), "another org has its own bucket");
    }
}
