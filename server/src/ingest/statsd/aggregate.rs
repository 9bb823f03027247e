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
use std::hash::BuildHasher;

use sketches_ddsketch::{Config, DDSketch};

use super::parse::{Reading, Sample};
use crate::metrics::point::{MetricType, Point, PointValue, SeriesKey};

/// Distinct members a set counts exactly per interval; beyond, the count
/// stops there and the point says so.
pub const SET_BOUND: usize = 100_000;

enum State {
    Counter(f64),
    Gauge(f64),
    /// `count` and `sum` weigh each value by its sample rate, as the sketch cannot.
    Summary {
        sketch: Box<DDSketch>,
        count: f64,
        sum: f64,
    },
    Set(HashSet<String>),
}

/// Intervals a series may go without a sample before it is forgotten
/// (with a 10 s interval: an hour). A gauge forgotten forgets its value.
pub const IDLE_INTERVALS: u32 = 360;

/// One series and what it did in the current interval.
struct Slot {
    key: SeriesKey,
    kind: MetricType,
    /// `None` when no sample came this interval.
    state: Option<State>,
    /// A gauge's value, kept across intervals for `+N` / `-N`.
    gauge: f64,
    idle_intervals: u32,
}

/// Samples of the current interval, by series.
///
/// Most lines of a series arrive spelled the same way, so a series is
/// found by its line's raw identity (org, app, name, type and the tags as
/// written) without allocating; a new spelling is resolved once through
/// the series' canonical key (tags sorted, the sender's tags left out).
#[derive(Default)]
pub struct Aggregator {
    slots: Vec<Slot>,
    /// The hash of a canonical key → its slot; a hash taken by another
    /// key goes to the next free hash (so the keys are not stored twice).
    by_key: HashMap<u64, usize, foldhash::fast::RandomState>,
    by_identity: HashMap<Box<[u8]>, usize, foldhash::fast::RandomState>,
    /// Reused to build identities.
    identity: Vec<u8>,
    /// (org, app) of the series forgotten, until taken.
    forgotten: Vec<(String, String)>,
}

impl Aggregator {
    /// Adds one sample of `org`'s `app`, leaving out the tags named in
    /// `skip_tags` (those that say who sent it, not what it measures).
    pub fn add(&mut self, org: &str, app: &str, sample: &Sample<'_>, skip_tags: &[&str]) {
        self.add_if(org, app, sample, skip_tags, || true);
    }

    /// As [`Aggregator::add`], but a sample of a series not known yet is
    /// added only if `admit` says so; false when it was not added.
    pub fn add_if(
        &mut self,
        org: &str,
        app: &str,
        sample: &Sample<'_>,
        skip_tags: &[&str],
        admit: impl FnOnce() -> bool,
    ) -> bool {
        self.identity.clear();
        // Each part after its length, so no name or tag can pass for another split.
        for part in [org, app, sample.name, sample.kind.as_str(), sample.tags.as_str()] {
            self.identity.extend_from_slice(&(part.len() as u32).to_le_bytes());
            self.identity.extend_from_slice(part.as_bytes());
        }
        let index = match self.by_identity.get(self.identity.as_slice()) {
            Some(index) => *index,
            None => {
                let Some(index) = self.slot_for(org, app, sample, skip_tags, admit) else { return false };
                if self.by_identity.len() >= 4 * self.slots.len() + 1_024 {
                    self.by_identity.clear(); // many spellings: start over, they come back once each
                }
                self.by_identity.insert(self.identity.as_slice().into(), index);
                index
            }
        };
        let slot = &mut self.slots[index];
        slot.idle_intervals = 0;
        let weight = 1.0 / sample.sample_rate;
        match sample.reading {
            Reading::GaugeSet(value) => {
                slot.gauge = value;
                slot.state = Some(State::Gauge(value));
            }
            Reading::GaugeDelta(delta) => {
                slot.gauge += delta;
                slot.state = Some(State::Gauge(slot.gauge));
            }
            Reading::SetMember(member) => {
                if let State::Set(members) = slot.state.get_or_insert_with(|| State::Set(HashSet::new())) {
                    if members.len() < SET_BOUND && !members.contains(member) {
                        members.insert(member.to_string());
                    }
                }
            }
            Reading::Numbers(_) if sample.kind == MetricType::Counter => {
                if let State::Counter(sum) = slot.state.get_or_insert(State::Counter(0.0)) {
                    *sum += sample.numbers().map(|value| value * weight).sum::<f64>();
                }
            }
            Reading::Numbers(_) => {
                let state = slot.state.get_or_insert_with(|| State::Summary {
                    sketch: Box::new(DDSketch::new(Config::defaults())),
                    count: 0.0,
                    sum: 0.0,
                });
                if let State::Summary { sketch, count, sum } = state {
                    for value in sample.numbers() {
                        sketch.add(value);
                        *count += weight;
                        *sum += value * weight;
                    }
                }
            }
        }
        true
    }

    /// The slot of a sample's series, made when new if `admit` says so.
    fn slot_for(
        &mut self,
        org: &str,
        app: &str,
        sample: &Sample<'_>,
        skip_tags: &[&str],
        admit: impl FnOnce() -> bool,
    ) -> Option<usize> {
        let mut tags: Vec<(String, String)> = sample
            .tags
            .iter()
            .filter(|(name, _)| !skip_tags.contains(name))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        tags.sort();
        let key = SeriesKey { org: org.to_string(), app: app.to_string(), name: sample.name.to_string(), tags };
        let mut hash = self.by_key.hasher().hash_one((&key, sample.kind));
        loop {
            match self.by_key.get(&hash) {
                Some(&index) if self.slots[index].key == key && self.slots[index].kind == sample.kind => {
                    return Some(index)
                }
                Some(_) => hash = hash.wrapping_add(1),
                None => break,
            }
        }
        if !admit() {
            return None;
        }
        self.slots.push(Slot { key, kind: sample.kind, state: None, gauge: 0.0, idle_intervals: 0 });
        self.by_key.insert(hash, self.slots.len() - 1);
        Some(self.slots.len() - 1)
    }

    /// The (org, app) of each series forgotten since the last call.
    pub fn take_forgotten(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.forgotten)
    }

    /// Series known, active or idle.
    pub fn series(&self) -> usize {
        self.slots.len()
    }

    /// The points of the interval that started at `ts_ns` and lasted
    /// `interval_secs`; the next interval starts empty. Series idle for
    /// [`IDLE_INTERVALS`] are forgotten.
    pub fn flush(&mut self, ts_ns: i64, interval_secs: f64) -> Vec<Point> {
        let mut points = Vec::new();
        for slot in &mut self.slots {
            let Some(state) = slot.state.take() else {
                slot.idle_intervals += 1;
                continue;
            };
            let value = match state {
                State::Counter(count) => PointValue::Counter { count, per_second: count / interval_secs },
                State::Gauge(value) => PointValue::Gauge(value),
                State::Set(members) => {
                    PointValue::Set { distinct: members.len() as u64, saturated: members.len() >= SET_BOUND }
                }
                State::Summary { sketch, count, sum } => {
                    let quantile =
                        |q: f64| sketch.quantile(q).ok().flatten().map_or(f64::NAN, |value| significant(value, 4));
                    PointValue::Summary {
                        count,
                        min: sketch.min().unwrap_or(f64::NAN),
                        max: sketch.max().unwrap_or(f64::NAN),
                        sum,
                        p50: quantile(0.5),
                        p95: quantile(0.95),
                        p99: quantile(0.99),
                    }
                }
            };
            points.push(Point { key: slot.key.clone(), kind: slot.kind, ts_ns, value });
        }
        if self.slots.iter().any(|slot| slot.idle_intervals > IDLE_INTERVALS) {
            for slot in self.slots.iter().filter(|slot| slot.idle_intervals > IDLE_INTERVALS) {
                self.forgotten.push((slot.key.org.clone(), slot.key.app.clone()));
            }
            self.slots.retain(|slot| slot.idle_intervals <= IDLE_INTERVALS);
            self.by_identity.clear();
            self.by_key.clear();
            for (index, slot) in self.slots.iter().enumerate() {
                let mut hash = self.by_key.hasher().hash_one((&slot.key, slot.kind));
                while self.by_key.contains_key(&hash) {
                    hash = hash.wrapping_add(1);
                }
                self.by_key.insert(hash, index);
            }
        }
        points.sort_by(|a, b| (&a.key, a.kind.as_str()).cmp(&(&b.key, b.kind.as_str())));
        points
    }
}

/// `value` rounded to `digits` significant digits. Percentiles are kept so:
/// the sketch is only within 1% anyway, and round decimals compress to a
/// few bits where their noise would cost most of 64 (see
/// `metrics::gorilla`).
pub fn significant(value: f64, digits: i32) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let magnitude = value.abs().log10().floor() as i32;
    let shift = digits - 1 - magnitude;
    if shift >= 0 {
        let scale = 10f64.powi(shift);
        (value * scale).round() / scale
    } else {
        let scale = 10f64.powi(-shift);
        (value / scale).round() * scale
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

    fn aggregate_into<'a>(aggregator: &'a mut Aggregator, datagram: &str) -> &'a mut Aggregator {
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
        assert!(
            matches!(value_of(&sampled, "size"), PointValue::Summary { count, sum, .. } if *count == 4.0 && *sum == 600.0),
            "the sum is scaled like the count, so their mean is the values' mean"
        );
    }

    #[test]
    fn idle_series_are_forgotten_and_come_back_as_new() {
        let mut aggregator = aggregate("depth:10|g\nhits:1|c\n");
        aggregator.flush(0, 10.0);
        for interval in 1..=IDLE_INTERVALS as i64 {
            aggregator.add("acme", "api", &parse_line(b"hits:1|c").unwrap(), &[]);
            aggregator.flush(interval, 10.0);
        }
        assert_eq!(aggregator.series(), 2);
        aggregator.add("acme", "api", &parse_line(b"hits:1|c").unwrap(), &[]);
        aggregator.flush(IDLE_INTERVALS as i64 + 1, 10.0);
        assert_eq!(aggregator.series(), 1, "the gauge was idle too long");
        let points = aggregate_into(&mut aggregator, "depth:+1|g\nhits:2|c|#a:1\n").flush(0, 10.0);
        assert_eq!(value_of(&points, "depth"), &PointValue::Gauge(1.0), "a forgotten gauge starts from 0");
        assert_eq!(points.len(), 2);
    }

    #[test]
    fn percentiles_keep_four_significant_digits() {
        assert_eq!(significant(123.456, 4), 123.5);
        assert_eq!(significant(0.001_234_56, 4), 0.001_235);
        assert_eq!(significant(98_765_432.0, 4), 98_770_000.0);
        assert_eq!(significant(-2.5, 4), -2.5);
        assert_eq!(significant(0.0, 4), 0.0);
    }

    #[test]
    fn a_new_series_waits_for_admission_and_forgotten_ones_are_told() {
        let mut aggregator = Aggregator::default();
        let line = |text: &'static str| parse_line(text.as_bytes()).unwrap();
        assert!(aggregator.add_if("acme", "api", &line("a:1|c"), &[], || true));
        assert!(!aggregator.add_if("acme", "api", &line("b:1|c"), &[], || false), "refused");
        assert!(aggregator.add_if("acme", "api", &line("a:1|c"), &[], || false), "a known series needs no admission");
        assert_eq!(aggregator.series(), 1);
        for interval in 0..=IDLE_INTERVALS as i64 + 1 {
            aggregator.flush(interval, 10.0);
        }
        assert_eq!(aggregator.take_forgotten(), vec![("acme".to_string(), "api".to_string())]);
        assert!(aggregator.take_forgotten().is_empty());
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
