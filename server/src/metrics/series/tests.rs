use super::*;
use crate::store::Store;

/// A day ago, on the hour: within every resolution's retention, which counts back from now.
fn t0() -> i64 {
    (crate::clock::now_ns() / 1_000_000 - 86_400_000) / 3_600_000 * 3_600_000
}

fn point(name: &str, kind: MetricType, tags: &[(&str, &str)], values: Vec<f64>) -> MetricPoint {
    MetricPoint {
        name: name.into(),
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        kind,
        values,
    }
}

/// A model fed `points(i)` for intervals `0..intervals`, 10 s apart from t0().
fn model_with(intervals: i64, points: impl Fn(i64) -> Vec<MetricPoint>) -> SeriesModel {
    let model = SeriesModel::default();
    {
        let mut inner = model.inner.write().unwrap();
        for i in 0..intervals {
            let record = PointsRecord { interval_s: 10.0, points: points(i) };
            inner.apply("acme", "api", t0() + i * 10_000, record, &SeriesRetention::default(), None);
        }
    }
    model
}

fn query(name: &str, from_ms: i64, to_ms: i64, step_ms: i64, aggregation: Option<Aggregation>) -> SeriesQuery {
    SeriesQuery {
        org: "acme".into(),
        app: "api".into(),
        name: name.into(),
        kind: None,
        from_ms,
        to_ms,
        step_ms,
        aggregation,
        filter: Vec::new(),
        group_by: Vec::new(),
    }
}

#[test]
fn counters_sum_per_step_from_raw_points_and_from_each_rollup_alike() {
    // Two hours of a counter counting i in interval i.
    let model = model_with(720, |i| vec![point("hits", MetricType::Counter, &[], vec![i as f64])]);
    for (step, resolution) in [(10_000, 10_000), (60_000, 60_000), (120_000, 60_000), (3_600_000, 3_600_000)] {
        let answer = model.query(&query("hits", t0(), t0() + 7_200_000, step, Some(Aggregation::Sum))).unwrap();
        assert_eq!(answer.resolution_ms, resolution, "step {step}");
        let per_step = step / 10_000;
        let want: Vec<(i64, f64)> = (0..720 / per_step)
            .map(|s| (t0() + s * step, (s * per_step..(s + 1) * per_step).sum::<i64>() as f64))
            .collect();
        assert_eq!(answer.series[0].points, want, "step {step}");
    }
    let rate = model.query(&query("hits", t0(), t0() + 60_000, 60_000, Some(Aggregation::Rate))).unwrap();
    assert_eq!(rate.series[0].points, vec![(t0(), 15.0 / 60.0)]);
}

#[test]
fn gauges_give_avg_min_max_last_per_step_and_groups_add_their_series() {
    let model = model_with(360, |i| {
        vec![
            point("memory", MetricType::Gauge, &[("instance", "a")], vec![(i % 6) as f64]),
            point("memory", MetricType::Gauge, &[("instance", "b")], vec![100.0]),
        ]
    });
    let ask = |aggregation, step| {
        let mut q = query("memory", t0(), t0() + 3_600_000, step, Some(aggregation));
        q.filter = vec![("instance".into(), "a".into())];
        model.query(&q).unwrap().series[0].points[0].1
    };
    for step in [60_000, 3_600_000] {
        assert_eq!(ask(Aggregation::Avg, step), 2.5);
        assert_eq!(ask(Aggregation::Min, step), 0.0);
        assert_eq!(ask(Aggregation::Max, step), 5.0);
        assert_eq!(ask(Aggregation::Last, step), 5.0);
        assert_eq!(ask(Aggregation::Count, step), (step / 10_000) as f64);
    }
    let mut total = query("memory", t0(), t0() + 60_000, 60_000, Some(Aggregation::Sum));
    assert_eq!(model.query(&total).unwrap().series[0].points, vec![(t0(), 102.5)], "the series' averages add up");
    total.group_by = vec!["instance".into()];
    let grouped = model.query(&total).unwrap();
    assert_eq!(grouped.series_matched, 2);
    let by_instance: Vec<_> = grouped.series.iter().map(|s| (s.tags["instance"].clone(), s.points[0].1)).collect();
    assert_eq!(by_instance, vec![("a".to_string(), 2.5), ("b".to_string(), 100.0)]);
}

#[test]
fn summaries_add_counts_and_sums_and_weigh_percentiles_by_count() {
    let model = model_with(6, |i| {
        let count = if i == 0 { 30.0 } else { 10.0 };
        let p = if i == 0 { 100.0 } else { 200.0 };
        vec![point("db", MetricType::Timer, &[], vec![count, count * 2.0, i as f64, 50.0 + i as f64, p, p, p])]
    });
    let ask = |aggregation| {
        model.query(&query("db", t0(), t0() + 60_000, 60_000, Some(aggregation))).unwrap().series[0].points[0].1
    };
    assert_eq!(ask(Aggregation::Count), 80.0);
    assert_eq!(ask(Aggregation::Sum), 160.0);
    assert_eq!(ask(Aggregation::Avg), 2.0);
    assert_eq!(ask(Aggregation::Min), 0.0);
    assert_eq!(ask(Aggregation::Max), 55.0);
    assert_eq!(ask(Aggregation::P99), (30.0 * 100.0 + 50.0 * 200.0) / 80.0);
    assert_eq!(ask(Aggregation::Rate), 80.0 / 60.0);
}

#[test]
fn mistakes_are_named() {
    let model = model_with(3, |_| {
        vec![point("hits", MetricType::Counter, &[], vec![1.0]), point("hits", MetricType::Gauge, &[], vec![1.0])]
    });
    let mut q = query("hits", t0(), t0() + 60_000, 60_000, None);
    assert!(matches!(model.query(&q), Err(QueryError::AmbiguousType { .. })));
    q.kind = Some(MetricType::Counter);
    assert_eq!(model.query(&q).unwrap().aggregation, Aggregation::Sum);
    q.aggregation = Some(Aggregation::P99);
    let error = model.query(&q).unwrap_err().to_string();
    assert_eq!(error, "a counter gives sum, rate, not p99");
    q.aggregation = None;
    q.step_ms = 15_000;
    assert_eq!(model.query(&q), Err(QueryError::Step(15_000)));
    q.step_ms = 10_000;
    q.to_ms = t0() + 10_000 * (MAX_STEPS + 1);
    assert!(matches!(model.query(&q), Err(QueryError::TooManySteps(_))));
    q.to_ms = t0() + 60_000;
    q.name = "nope".into();
    assert!(matches!(model.query(&q), Err(QueryError::NoSuchMetric(_))));
}

#[test]
fn points_older_than_their_series_newest_are_refused_and_counted() {
    let model = model_with(3, |_| vec![point("hits", MetricType::Counter, &[], vec![1.0])]);
    {
        let mut inner = model.inner.write().unwrap();
        let late = PointsRecord { interval_s: 10.0, points: vec![point("hits", MetricType::Counter, &[], vec![5.0])] };
        inner.apply("acme", "api", t0(), late, &SeriesRetention::default(), None);
    }
    assert_eq!(model.counts().refused_points, 1);
    let answer = model.query(&query("hits", t0(), t0() + 60_000, 60_000, None)).unwrap();
    assert_eq!(answer.series[0].points, vec![(t0(), 3.0)]);
}

#[test]
fn a_new_model_rebuilt_from_the_topics_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let key = TopicKey::metrics("acme", "api");
    let records: Vec<(i64, String)> = (0..1_000i64)
        .map(|i| {
            let points = vec![
                point("hits", MetricType::Counter, &[("route", if i % 2 == 0 { "/a" } else { "/b" })], vec![i as f64]),
                point("depth", MetricType::Gauge, &[], vec![(i % 17) as f64 * 0.5]),
            ];
            (
                (t0() + i * 10_000) * 1_000_000,
                serde_json::to_string(&PointsRecord { interval_s: 10.0, points }).unwrap(),
            )
        })
        .collect();
    store.append_batch(&key, records[..600].to_vec()).unwrap();
    let first = SeriesModel::default();
    first.catch_up_all(&store);
    store.append_batch(&key, records[600..].to_vec()).unwrap();
    assert_eq!(first.catch_up(&store, &key), 400, "a catch-up reads only what is new");
    assert_eq!(first.catch_up(&store, &key), 0);

    let rebuilt = SeriesModel::default();
    rebuilt.catch_up_all(&store);
    assert_eq!(rebuilt.counts(), first.counts());
    for (name, step) in [("hits", 60_000), ("hits", 3_600_000), ("depth", 10_000), ("depth", 60_000)] {
        let mut q = query(name, t0() - 3_600_000, t0() + 20_000_000, step, None);
        q.group_by = vec!["route".into()];
        assert_eq!(rebuilt.query(&q), first.query(&q), "{name} at {step}");
        assert!(!first.query(&q).unwrap().series[0].points.is_empty());
    }
    // Sealed chunks on disk answer alike.
    let on_disk = SeriesModel::on_disk(
        SeriesRetention::default(),
        crate::metrics::chunk_files::ChunkFiles::open(dir.path().join("series")).unwrap(),
    );
    on_disk.catch_up_all(&store);
    assert_eq!(on_disk.counts(), first.counts());
    for step in [10_000, 60_000, 3_600_000] {
        let mut q = query("hits", t0(), t0() + 20_000_000, step, None);
        q.group_by = vec!["route".into()];
        assert_eq!(on_disk.query(&q), first.query(&q), "hits at {step}");
    }
    let files: Vec<_> = std::fs::read_dir(dir.path().join("series")).unwrap().collect();
    assert!(!files.is_empty(), "sealed chunks were written");

    let listed = rebuilt.list("acme", "api");
    assert_eq!(listed.iter().map(|m| (m.name.as_str(), m.series)).collect::<Vec<_>>(), vec![("depth", 1), ("hits", 2)]);
    assert_eq!(listed[1].tags["route"], vec!["/a".to_string(), "/b".to_string()]);
    assert!(rebuilt.list("acme", "web").is_empty(), "another app sees nothing");
}

#[test]
fn default_steps_are_whole_units_of_the_coarsest_resolution_they_span() {
    assert_eq!(default_step_ms(3_600_000), 20_000, "an hour: 10 s points");
    assert_eq!(default_step_ms(7 * 86_400_000), 2_040_000, "a week: whole minutes");
    assert_eq!(default_step_ms(30 * 86_400_000), 10_800_000, "a month: whole hours");
    assert_eq!(default_step_ms(1_000), 10_000);
}
