//! Custom metric points posted over HTTP (`POST .../apps/{app}/metrics`):
//! what `vigie agent` sends for the statsd it aggregated on the instance
//! and for the Prometheus endpoint it scraped. A report holds the points
//! of one 10 s interval, already folded as statsd folds them (a counter's
//! sum, a gauge's last value, a timer's summary), and is filed in the
//! interval its `ts_ms` falls in, like an instance report.
//!
//! Unlike statsd over UDP, a report is answered: a batch with a bad point
//! is refused whole with the point named, so the sender knows and nothing
//! half-stored is sent twice.

use serde::{Deserialize, Serialize};

use super::instances::{INTERVAL_MS, MAX_AHEAD_MS, MAX_BEHIND_MS};
use crate::metrics::point::{MetricPoint, MetricType, PointsRecord};

/// Most points one request may carry, over all its reports.
pub const MAX_POINTS_PER_REQUEST: usize = 10_000;
/// Longest metric name, tag name and tag value, in bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// Most tags one point may have.
pub const MAX_TAGS: usize = 32;

/// The points of one interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointsReport {
    /// A time inside the interval the points describe, ms since the epoch.
    pub ts_ms: i64,
    pub points: Vec<PointIn>,
}

/// One series' point: its values laid out by type, as statsd folds them:
/// counter `[count]`; gauge and set `[value]`; timer, histogram and
/// distribution `[count, sum, min, max, p50, p95, p99]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointIn {
    pub name: String,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    #[serde(rename = "type")]
    pub kind: MetricType,
    pub values: Vec<f64>,
}

impl PointIn {
    pub fn from_metric_point(point: MetricPoint) -> PointIn {
        PointIn { name: point.name, tags: point.tags, kind: point.kind, values: point.values }
    }

    fn into_metric_point(self) -> MetricPoint {
        MetricPoint { name: self.name, tags: self.tags, kind: self.kind, values: self.values }
    }

    /// What is wrong with it, named.
    pub fn check(&self) -> Result<(), String> {
        let name_ok = |text: &str| !text.is_empty() && text.len() <= MAX_NAME_BYTES && !text.contains(char::is_control);
        if !name_ok(&self.name) {
            return Err(format!("\"name\" must be 1 to {MAX_NAME_BYTES} bytes without control characters"));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(format!("{} tags; the limit is {MAX_TAGS}", self.tags.len()));
        }
        if let Some((tag, _)) = self
            .tags
            .iter()
            .find(|(tag, value)| !name_ok(tag) || value.len() > MAX_NAME_BYTES || value.contains(char::is_control))
        {
            return Err(format!(
                "tag \"{}\": names are 1 to {MAX_NAME_BYTES} bytes, values up to {MAX_NAME_BYTES}, without control characters",
                tag.chars().take(40).collect::<String>()
            ));
        }
        let fields = self.kind.fields();
        if self.values.len() != fields.len() || self.values.iter().any(|value| !value.is_finite()) {
            return Err(format!(
                "a {} point has {} finite values ({}), got {:?}",
                self.kind.as_str(),
                fields.len(),
                fields.join(", "),
                self.values
            ));
        }
        Ok(())
    }
}

impl PointsReport {
    /// What is wrong with it, named; `now_ms` bounds its time.
    pub fn check(&self, now_ms: i64) -> Result<(), String> {
        if self.ts_ms > now_ms + MAX_AHEAD_MS || self.ts_ms < now_ms - MAX_BEHIND_MS {
            return Err(format!(
                "\"ts_ms\" {} is more than 5 minutes ahead of this server's clock or 30 days behind it ({now_ms})",
                self.ts_ms
            ));
        }
        for (index, point) in self.points.iter().enumerate() {
            point.check().map_err(|error| format!("point {index}: {error}"))?;
        }
        Ok(())
    }
}

/// Reports grouped into one record per interval, oldest first: (interval
/// start in ns, record). Check them first.
pub fn records(reports: Vec<PointsReport>) -> Vec<(i64, String)> {
    let mut by_interval: std::collections::BTreeMap<i64, Vec<MetricPoint>> = Default::default();
    for report in reports {
        let start_ms = report.ts_ms.div_euclid(INTERVAL_MS) * INTERVAL_MS;
        by_interval.entry(start_ms).or_default().extend(report.points.into_iter().map(PointIn::into_metric_point));
    }
    by_interval
        .into_iter()
        .map(|(start_ms, points)| {
            let record = PointsRecord { interval_s: (INTERVAL_MS / 1_000) as f64, points };
            (start_ms * 1_000_000, serde_json::to_string(&record).expect("points serialise"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, kind: MetricType, values: Vec<f64>) -> PointIn {
        PointIn { name: name.into(), tags: [("instance".into(), "web-1".into())].into(), kind, values }
    }

    #[test]
    fn points_are_filed_in_their_interval_and_bad_ones_are_named() {
        let report = |ts_ms, points| PointsReport { ts_ms, points };
        let good = report(20_003, vec![point("orders", MetricType::Counter, vec![3.0])]);
        assert_eq!(good.check(30_000), Ok(()));
        let later = report(29_999, vec![point("queue", MetricType::Gauge, vec![7.0])]);
        let records = records(vec![good, later]);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].0, 20_000_000_000);
        let stored: PointsRecord = serde_json::from_str(&records[0].1).unwrap();
        assert_eq!(stored.points.len(), 2);
        assert!(stored.points.iter().all(MetricPoint::is_well_formed));

        let bad = report(0, vec![point("ok", MetricType::Gauge, vec![1.0]), point("t", MetricType::Timer, vec![1.0])]);
        let error = bad.check(0).unwrap_err();
        assert!(error.starts_with("point 1: a timer point has 7 finite values"), "{error}");
        assert!(report(0, vec![point("", MetricType::Gauge, vec![1.0])]).check(0).unwrap_err().contains("\"name\""));
        assert!(report(400_000, vec![]).check(0).unwrap_err().contains("ahead"));
        let mut tagged = point("x", MetricType::Gauge, vec![1.0]);
        tagged.tags.insert("bad\ntag".into(), "v".into());
        assert!(tagged.check().unwrap_err().starts_with("tag \"bad\ntag\""));
    }
}
