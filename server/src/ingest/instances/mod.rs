//! Server metrics of an app's instances: CPU, memory, network and disk,
//! reported over HTTP by an agent (`POST .../instances/metrics`), made up
//! by the demo for its apps, and read from `/proc` for Vigie's own process.
//! A report becomes points of the app's metric topic, in the 10 s interval
//! it falls in, tagged with its instance:
//!
//! | report field | metric | type |
//! | --- | --- | --- |
//! | `cpu_percent` | `instance.cpu_percent` (100 = one core) | gauge |
//! | `memory_used_bytes`, `memory_limit_bytes` | `instance.memory_used_bytes`, `instance.memory_limit_bytes` | gauge |
//! | `net_in_bytes`, `net_out_bytes` | `instance.net_in_bytes`, `instance.net_out_bytes` | counter |
//! | `disk_read_bytes`, `disk_write_bytes` | `instance.disk_read_bytes`, `instance.disk_write_bytes` | counter |
//! | `host_cpu_percent` (optional) | `instance.host_cpu_percent` (the whole machine; 100 = one core) | gauge |
//!
//! Network and disk figures are the bytes since the instance's previous
//! report, so they add up over any step.

use serde::{Deserialize, Serialize};

use crate::metrics::point::{MetricPoint, MetricType, PointsRecord};

/// The interval reports are filed in.
pub const INTERVAL_MS: i64 = 10_000;
/// How far a report's time may be ahead of the server's clock, and behind it.
pub const MAX_AHEAD_MS: i64 = 5 * 60_000;
pub const MAX_BEHIND_MS: i64 = 30 * 86_400_000;

/// What an agent reports about one instance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstanceReport {
    /// The instance's name, such as `web-1`.
    pub instance: String,
    /// When it was measured, ms since the epoch; default: when received.
    #[serde(default)]
    pub ts_ms: Option<i64>,
    pub cpu_percent: f64,
    pub memory_used_bytes: f64,
    pub memory_limit_bytes: f64,
    #[serde(default)]
    pub net_in_bytes: f64,
    #[serde(default)]
    pub net_out_bytes: f64,
    #[serde(default)]
    pub disk_read_bytes: f64,
    #[serde(default)]
    pub disk_write_bytes: f64,
    /// CPU of the whole machine (or container) the instance runs on, 100 = one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_cpu_percent: Option<f64>,
}

impl InstanceReport {
    /// What is wrong with it, named; `now_ms` bounds its time.
    pub fn check(&self, now_ms: i64) -> Result<(), String> {
        if self.instance.is_empty() || self.instance.len() > 200 {
            return Err("\"instance\" must name the instance (1 to 200 characters)".into());
        }
        if let Some(ts_ms) = self.ts_ms {
            if ts_ms > now_ms + MAX_AHEAD_MS || ts_ms < now_ms - MAX_BEHIND_MS {
                return Err(format!(
                    "\"ts_ms\" {ts_ms} is more than 5 minutes ahead of this server's clock or 30 days behind it ({now_ms})"
                ));
            }
        }
        for (field, value) in self.fields() {
            if !value.is_finite() || value < 0.0 {
                return Err(format!("\"{field}\" must be a number ≥ 0, got {value}"));
            }
        }
        Ok(())
    }

    fn fields(&self) -> Vec<(&'static str, f64)> {
        let mut fields = vec![
            ("cpu_percent", self.cpu_percent),
            ("memory_used_bytes", self.memory_used_bytes),
            ("memory_limit_bytes", self.memory_limit_bytes),
            ("net_in_bytes", self.net_in_bytes),
            ("net_out_bytes", self.net_out_bytes),
            ("disk_read_bytes", self.disk_read_bytes),
            ("disk_write_bytes", self.disk_write_bytes),
        ];
        fields.extend(self.host_cpu_percent.map(|value| ("host_cpu_percent", value)));
        fields
    }

    /// The points of the report.
    pub fn points(&self) -> Vec<MetricPoint> {
        self.fields()
            .into_iter()
            .map(|(field, value)| MetricPoint {
                name: format!("instance.{field}"),
                tags: [("instance".to_string(), self.instance.clone())].into(),
                kind: if field.starts_with("net_") || field.starts_with("disk_") {
                    MetricType::Counter
                } else {
                    MetricType::Gauge
                },
                values: vec![value],
            })
            .collect()
    }
}

/// Reports grouped into one record per interval, oldest first: (interval
/// start in ns, record).
pub fn records(reports: &[InstanceReport], now_ms: i64) -> Vec<(i64, String)> {
    let mut by_interval: std::collections::BTreeMap<i64, Vec<MetricPoint>> = Default::default();
    for report in reports {
        let ts = report.ts_ms.unwrap_or(now_ms);
        by_interval.entry(ts.div_euclid(INTERVAL_MS) * INTERVAL_MS).or_default().extend(report.points());
    }
    by_interval
        .into_iter()
        .map(|(start_ms, points)| {
            let record = PointsRecord { interval_s: (INTERVAL_MS / 1_000) as f64, points };
            (start_ms * 1_000_000, serde_json::to_string(&record).expect("points serialise"))
        })
        .collect()
}

/// Vigie's own process, measured from `/proc` between two calls.
#[derive(Default)]
pub struct OwnProcess {
    previous: Option<ProcSample>,
}

#[derive(Clone, Copy)]
struct ProcSample {
    at: std::time::Instant,
    cpu_ticks: u64,
    net_in: u64,
    net_out: u64,
    disk_read: u64,
    disk_write: u64,
}

impl OwnProcess {
    /// A report of this process since the previous call (since the process
    /// started, for CPU, on the first); `None` where `/proc` is missing.
    pub fn report(&mut self, instance: &str) -> Option<InstanceReport> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        let (net_in, net_out) = net_bytes();
        let (disk_read, disk_write) = io_bytes();
        let now = ProcSample {
            at: std::time::Instant::now(),
            cpu_ticks: ticks(11) + ticks(12),
            net_in,
            net_out,
            disk_read,
            disk_write,
        };
        // Ticks are 1/100 s on Linux.
        let ticks_per_sec = 100.0;
        let report = match self.previous {
            Some(before) => {
                let secs = now.at.duration_since(before.at).as_secs_f64().max(1e-3);
                InstanceReport {
                    cpu_percent: (now.cpu_ticks.saturating_sub(before.cpu_ticks)) as f64 / ticks_per_sec / secs * 100.0,
                    net_in_bytes: now.net_in.saturating_sub(before.net_in) as f64,
                    net_out_bytes: now.net_out.saturating_sub(before.net_out) as f64,
                    disk_read_bytes: now.disk_read.saturating_sub(before.disk_read) as f64,
                    disk_write_bytes: now.disk_write.saturating_sub(before.disk_write) as f64,
                    ..Default::default()
                }
            }
            None => {
                let started_ticks = ticks(19) as f64;
                let uptime: f64 = std::fs::read_to_string("/proc/uptime")
                    .ok()
                    .and_then(|text| text.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0.0);
                let alive_secs = (uptime - started_ticks / ticks_per_sec).max(1e-3);
                InstanceReport {
                    cpu_percent: now.cpu_ticks as f64 / ticks_per_sec / alive_secs * 100.0,
                    ..Default::default()
                }
            }
        };
        self.previous = Some(now);
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kb = |text: &str, key: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kb| kb * 1024.0)
        };
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Some(InstanceReport {
            instance: instance.to_string(),
            ts_ms: None,
            memory_used_bytes: kb(&status, "VmRSS:"),
            memory_limit_bytes: kb(&meminfo, "MemTotal:"),
            ..report
        })
    }
}

/// Bytes received and sent on every interface but loopback.
fn net_bytes() -> (u64, u64) {
    let table = std::fs::read_to_string("/proc/self/net/dev").unwrap_or_default();
    table
        .lines()
        .skip(2)
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            if name.trim() == "lo" {
                return None;
            }
            let numbers: Vec<u64> = counters.split_whitespace().filter_map(|n| n.parse().ok()).collect();
            Some((*numbers.first()?, *numbers.get(8)?))
        })
        .fold((0, 0), |(rx, tx), (r, t)| (rx + r, tx + t))
}

/// Bytes this process read from and wrote to storage.
fn io_bytes() -> (u64, u64) {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field =
        |key: &str| io.lines().find_map(|line| line.strip_prefix(key)).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    (field("read_bytes:"), field("write_bytes:"))
}

/// The host's name, for the instance Vigie reports itself as.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "vigie".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_reports_its_memory_and_cpu() {
        let mut own = OwnProcess::default();
        let first = own.report("here").expect("/proc is there");
        assert!(first.memory_used_bytes > 1e6 && first.memory_limit_bytes >= first.memory_used_bytes, "{first:?}");
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < std::time::Duration::from_millis(300) {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let second = own.report("here").unwrap();
        assert!(second.cpu_percent > 30.0 && second.cpu_percent < 250.0, "{second:?}");
        assert_eq!(second.check(0), Ok(()));
    }

    #[test]
    fn reports_fall_in_their_interval_and_bad_ones_are_named() {
        let report = |instance: &str, ts_ms| InstanceReport {
            instance: instance.into(),
            ts_ms: Some(ts_ms),
            cpu_percent: 12.5,
            memory_used_bytes: 1e9,
            memory_limit_bytes: 2e9,
            net_in_bytes: 100.0,
            ..Default::default()
        };
        let records = records(&[report("a", 20_003), report("b", 29_999), report("a", 30_000)], 0);
        let ahead = report("a", 400_000).check(0);
        assert_eq!(
            ahead,
            Err("\"ts_ms\" 400000 is more than 5 minutes ahead of this server's clock or 30 days behind it (0)".into())
        );
        assert_eq!(report("a", 20_003).check(0), Ok(()));
        assert!(report("a", 0).check(MAX_BEHIND_MS + 1).is_err(), "too old");
        assert_eq!(records.iter().map(|(ts, _)| *ts).collect::<Vec<_>>(), vec![20_000_000_000, 30_000_000_000]);
        let first: PointsRecord = serde_json::from_str(&records[0].1).unwrap();
        assert_eq!(first.points.len(), 14);
        let mut bad = report("a", 0);
        bad.cpu_percent = -1.0;
        assert_eq!(bad.check(0), Err("\"cpu_percent\" must be a number ≥ 0, got -1".into()));
        assert!(report("", 0).check(0).unwrap_err().contains("instance"));
    }
}
