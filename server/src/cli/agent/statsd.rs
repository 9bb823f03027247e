//! Plain statsd from any client on the instance: lines with or without
//! DogStatsD tags, no Vigie tags needed. They are folded per 10 s interval
//! by the very aggregator `vigie serve` uses (`ingest::statsd`), then each
//! interval's points, tagged with the instance, go through the buffer to
//! `POST .../metrics` like everything else the agent sends, so statsd
//! survives an outage of Vigie as log lines do (forwarding the lines over
//! UDP could not: UDP has no answer to wait for). Tags `vigie_app`,
//! `vigie_token` and `instance` that a client sends are left out: the
//! agent says which app and instance.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::ingest::points::PointIn;
use crate::ingest::statsd::aggregate::Aggregator;
use crate::ingest::statsd::parse::{lines, parse_line};
use crate::ingest::statsd::{APP_TAG, TOKEN_TAG};
use crate::metrics::point::MetricPoint;

/// Tags a client may send that the agent sets itself.
const SKIPPED_TAGS: [&str; 3] = [APP_TAG, TOKEN_TAG, "instance"];

/// The statsd the agent received in the current interval; share it in an `Arc`.
pub struct StatsdRelay {
    /// A std mutex: held for one datagram or one flush, never across `.await`.
    aggregator: Mutex<Aggregator>,
    max_series: usize,
    pub lines: AtomicU64,
    /// Lines dropped: malformed, or a series past `max_series`.
    pub dropped_lines: AtomicU64,
}

impl StatsdRelay {
    pub fn new(max_series: usize) -> StatsdRelay {
        StatsdRelay {
            aggregator: Mutex::new(Aggregator::default()),
            max_series,
            lines: AtomicU64::new(0),
            dropped_lines: AtomicU64::new(0),
        }
    }

    /// Folds one datagram's lines in.
    pub fn add_datagram(&self, datagram: &[u8]) {
        let mut aggregator = self.aggregator.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (mut read, mut dropped) = (0, 0);
        for line in lines(datagram) {
            read += 1;
            let Ok(sample) = parse_line(line) else {
                dropped += 1;
                continue;
            };
            let series = aggregator.series();
            if !aggregator.add_if("", "", &sample, &SKIPPED_TAGS, || series < self.max_series) {
                dropped += 1;
            }
        }
        self.lines.fetch_add(read, Ordering::Relaxed);
        self.dropped_lines.fetch_add(dropped, Ordering::Relaxed);
    }

    /// The points of the interval that started at `start_ms`, tagged with
    /// `instance`; points Vigie would refuse (a name too long) are left out.
    pub fn flush(&self, start_ms: i64, interval_s: f64, instance: &str) -> Vec<PointIn> {
        let points = {
            let mut aggregator = self.aggregator.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let points = aggregator.flush(start_ms * 1_000_000, interval_s);
            aggregator.take_forgotten();
            points
        };
        points
            .iter()
            .filter_map(MetricPoint::from_statsd)
            .map(|point| {
                let mut point = PointIn::from_metric_point(point);
                point.tags.insert("instance".into(), instance.into());
                point
            })
            .filter(|point| point.check().is_ok())
            .collect()
    }
}

/// Binds the statsd socket, with a receive buffer large enough for bursts.
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, None)?;
    let _ = socket.set_recv_buffer_size(8 * 1024 * 1024); // capped by net.core.rmem_max; best effort
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Reads datagrams into `relay` until the process ends. Blocks: run it on
/// its own thread.
pub fn receive(socket: UdpSocket, relay: Arc<StatsdRelay>) {
    let mut buffer = vec![0u8; 65_536];
    loop {
        match socket.recv_from(&mut buffer) {
            Ok((size, _)) => relay.add_datagram(&buffer[..size]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::error!("vigie agent: statsd socket failed: {error}");
                return;
            }
        }
    }
}

/// Points in reports of at most `per_report` points each.
pub fn chunk(points: Vec<PointIn>, per_report: usize) -> Vec<Vec<PointIn>> {
    let mut chunks = Vec::new();
    let mut points = points.into_iter().peekable();
    while points.peek().is_some() {
        chunks.push(points.by_ref().take(per_report).collect());
    }
    chunks
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::metrics::point::MetricType;

    #[test]
    fn tagged_and_untagged_lines_become_points_of_the_instance() {
        let relay = StatsdRelay::new(100);
        relay.add_datagram(b"orders:1|c\norders:2|c\nlatency:10|ms\nlatency:30|ms|#route:/pay,vigie_token:x");
        relay.add_datagram(b"queue:7|g|#instance:other\nbroken line\nqueue:+1|g");
        let points = relay.flush(20_000, 10.0, "web-1");
        let by_name = |name: &str, tags: &[(&str, &str)]| {
            let tags: BTreeMap<String, String> = tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .chain([("instance".into(), "web-1".into())])
                .collect();
            points.iter().find(|p| p.name == name && p.tags == tags).unwrap_or_else(|| panic!("{name} {points:?}"))
        };
        assert_eq!(by_name("orders", &[]).values, [3.0]);
        assert_eq!(by_name("queue", &[]).values, [8.0]);
        assert_eq!(by_name("latency", &[]).kind, MetricType::Timer);
        assert_eq!(by_name("latency", &[("route", "/pay")]).values[0], 1.0);
        assert_eq!(points.len(), 4);
        assert_eq!(relay.lines.load(Ordering::Relaxed), 7);
        assert_eq!(relay.dropped_lines.load(Ordering::Relaxed), 1);
        assert!(relay.flush(30_000, 10.0, "web-1").is_empty(), "an interval starts empty");
    }

    #[test]
    fn series_past_the_bound_are_dropped() {
        let relay = StatsdRelay::new(2);
        relay.add_datagram(b"a:1|c\nb:1|c\nc:1|c\na:1|c");
        assert_eq!(relay.flush(0, 10.0, "i").len(), 2);
        assert_eq!(relay.dropped_lines.load(Ordering::Relaxed), 1);
    }
}
