//! statsd samples folded into one point per series and flush interval, as
//! statsd servers do:
//!
//! - counters: the sum of the interval (each value divided by its sample
//!   rate, so `1|c|@0.1` counts 10) and that sum per second;
//! - gauges: the last value; `+N` / `-N` change the value the gauge had,
//!   across intervals;
//! - timers, histograms and distributions: count (scaled by sample rate),
//!   min, max, sum, and p50 / p95 / p99 from a DDSketch (relative error
//!   within 1%), which merges across instances and intervals;
//! - sets: the number of distinct members, counted exactly up to
//!   [`SET_BOUND`] per interval.
//!
//! A series is one metric of one app with one set of tags, tags in any order.

use std::collections::{HashMap, HashSet};

use sketches_ddsketch::{Config, DDSketch};

use super::parse::{MetricKind, Reading, Sample};

/// Distinct members a set counts exactly per interval; beyond, the count
/// stops there and the point says so.
pub const SET_BOUND: usize = 100_000;

/// One metric of one app with one set of tags (sorted by name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub org: String,
    pub app: String,
    pub name: String,
    pub tags: Vec<(String, String)>,
}

/// What one series did in one interval.
#[derive(Clone, Debug, PartialEq)]
pub enum PointValue {
    Counter { count: f64, per_second: f64 },
    Gauge(f64),
    Summary { count: f64, min: f64, max: f64, sum: f64, p50: f64, p95: f64, p99: f64 },
    Set { distinct: u64, saturated: bool },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub key: SeriesKey,
    pub kind: MetricKind,
    /// The start of the interval, ns since the Unix epoch.
    pub ts_ns: i64,
    pub value: PointValue,
}

enum State {
    Counter(f64),
    Gauge(f64),
    Summary { sketch: Box<DDSketch>, count: f64 },
    Set(HashSet<String>),
}

/// Samples of the current interval, by series.
#[derive(Default)]
pub struct Aggregator {
    current: HashMap<(SeriesKey, MetricKind), State>,
    /// Every gauge's last value, kept across intervals for `+N` / `-N`.
    gauges: HashMap<SeriesKey, f64>,
}

impl Aggregator {
    /// Adds one sample of `org`'s `app`, leaving out the tags named in
    /// `skip_tags` (those that say who sent it, not what it measures).
    pub fn add(&mut self, org: &str, app: &str, sample: &Sample<'_>, skip_tags: &[&str]) {
        let mut tags: Vec<(String, String)> = sample
            .tags
            .iter()
            .filter(|(name, _)| !skip_tags.contains(name))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        tags.sort();
        let key = SeriesKey { org: org.to_string(), app: app.to_string(), name: sample.name.to_string(), tags };
        let weight = 1.0 / sample.sample_rate;
        match sample.reading {
            Reading::GaugeSet(value) => {
                self.gauges.insert(key.clone(), value);
                self.current.insert((key, MetricKind::Gauge), State::Gauge(value));
            }
            Reading::GaugeDelta(delta) => {
                let value = self.gauges.get(&key).copied().unwrap_or(0.0) + delta;
                self.gauges.insert(key.clone(), value);
                self.current.insert((key, MetricKind::Gauge), State::Gauge(value));
            }
            Reading::SetMember(member) => {
                let state = self.current.entry((key, MetricKind::Set)).or_insert_with(|| State::Set(HashSet::new()));
                if let State::Set(members) = state {
                    if members.len() < SET_BOUND {
                        members.insert(member.to_string());
                    }
                }
            }
            Reading::Numbers(_) if sample.kind == MetricKind::Counter => {
                let state = self.current.entry((key, MetricKind::Counter)).or_insert(State::Counter(0.0));
                if let State::Counter(sum) = state {
                    *sum += sample.numbers().map(|value| value * weight).sum::<f64>();
                }
            }
            Reading::Numbers(_) => {
                let state = self.current.entry((key, sample.kind)).or_insert_with(|| State::Summary {
                    sketch: Box::new(DDSketch::new(Config::defaults())),
                    count: 0.0,
                });
                if let State::Summary { sketch, count } = state {
                    for value in sample.numbers() {
                        sketch.add(value);
                        *count += weight;
                    }
                }
            }
        }
    }

    /// The points of the interval that started at `ts_ns` and lasted
    /// `interval_secs`; the next interval starts empty.
    pub fn flush(&mut self, ts_ns: i64, interval_secs: f64) -> Vec<Point> {
        let mut points: Vec<Point> = self
            .current
            .drain()
            .map(|((key, kind), state)| {
                let value = match state {
                    State::Counter(count) => PointValue::Counter { count, per_second: count / interval_secs },
                    State::Gauge(value) => PointValue::Gauge(value),
                    State::Set(members) => {
                        PointValue::Set { distinct: members.len() as u64, saturated: members.len() >= SET_BOUND }
                    }
                    State::Summary { sketch, count } => {
                        let quantile = |q: f64| sketch.quantile(q).ok().flatten().unwrap_or(f64::NAN);
                        PointValue::Summary {
                            count,
                            min: sketch.min().unwrap_or(f64::NAN),
                            max: sketch.max().unwrap_or(f64::NAN),
                            sum: sketch.sum().unwrap_or(0.0),
                            p50: quantile(0.5),
                            p95: quantile(0.95),
                            p99: quantile(0.99),
                        }
                    }
                };
                Point { key, kind, ts_ns, value }
            })
            .collect();
        points.sort_by(|a, b| (&a.key, a.kind.as_str()).cmp(&(&b.key, b.kind.as_str())));
        points
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::{lines, parse_line};
    use super::*;

    fn aggregate(datagram: &str) -> Aggregator {
        let mut aggregator = Aggregator::default();
        for line in lines(datagram.as_bytes()) {
            aggregator.add("acme", "api", &parse_line(line).unwrap(), &["vigie_token"]);
        }
        aggregator
    }

    fn value_of<'a>(points: &'a [Point], name: &str) -> &'a PointValue {
        &points.iter().find(|point| point.key.name == name).unwrap_or_else(|| panic!("no {name} in {points:?}")).value
    }

    #[test]
    fn counters_add_up_with_sampled_values_scaled() {
        let mut aggregator = aggregate("hits:1|c\nhits:2|c\nhits:1|c|@0.1\nhits:-1|c\n");
        let points = aggregator.flush(10_000_000_000, 10.0);
        assert_eq!(value_of(&points, "hits"), &PointValue::Counter { count: 12.0, per_second: 1.2 });
        assert!(aggregator.flush(20_000_000_000, 10.0).is_empty(), "the next interval starts empty");
    }

    #[test]
    fn gauges_keep_their_last_value_and_deltas_change_it_across_intervals() {
        let mut aggregator = aggregate("depth:10|g\ndepth:+5|g\ndepth:-2|g\n");
        assert_eq!(value_of(&aggregator.flush(1, 10.0), "depth"), &PointValue::Gauge(13.0));
        let sample = parse_line(b"depth:+1|g").unwrap();
        aggregator.add("acme", "api", &sample, &[]);
        assert_eq!(value_of(&aggregator.flush(2, 10.0), "depth"), &PointValue::Gauge(14.0));
    }

    #[test]
    fn timers_give_count_extremes_and_percentiles_within_the_sketchs_error() {
        let datagram: String = (1..=1_000).map(|ms| format!("db.query:{ms}|ms\n")).collect();
        let points = aggregate(&datagram).flush(1, 10.0);
        let PointValue::Summary { count, min, max, sum, p50, p95, p99 } = value_of(&points, "db.query").clone() else {
            panic!("{points:?}")
        };
        assert_eq!((count, sum), (1_000.0, 500_500.0));
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.01 + 1e-9;
        assert!(near(min, 1.0) && near(max, 1_000.0), "{min} {max}");
        assert!(near(p50, 500.0) && near(p95, 950.0) && near(p99, 990.0), "{p50} {p95} {p99}");

        let sampled = aggregate("size:100:200|h|@0.5\n").flush(1, 10.0);
        assert!(matches!(value_of(&sampled, "size"), PointValue::Summary { count, .. } if *count == 4.0));
    }

    #[test]
    fn sets_count_distinct_members() {
        let points = aggregate("users:ada|s\nusers:bob|s\nusers:ada|s\n").flush(1, 10.0);
        assert_eq!(value_of(&points, "users"), &PointValue::Set { distinct: 2, saturated: false });
    }

    #[test]
    fn a_series_is_its_name_and_tags_in_any_order_without_the_senders_token() {
        let points =
            aggregate("hits:1|c|#b:2,a:1,vigie_token:secret\nhits:1|c|#a:1,b:2\nhits:1|c|#a:9\n").flush(1, 1.0);
        assert_eq!(points.len(), 2);
        let tags: Vec<_> = points.iter().map(|point| (point.key.tags.clone(), point.value.clone())).collect();
        assert!(tags.contains(&(
            vec![("a".into(), "1".into()), ("b".into(), "2".into())],
            PointValue::Counter { count: 2.0, per_second: 2.0 }
        )));
    }
}
