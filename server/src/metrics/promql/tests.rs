use std::collections::BTreeMap;

use serde_json::json;

use super::eval::Grid;
use super::source::Source;
use super::*;
use crate::metrics::http_stats::HttpStatsModel;
use crate::metrics::point::{MetricPoint, MetricType, PointsRecord};
use crate::metrics::series::{SeriesModel, SeriesRetention};
use crate::store::Store;

/// Two apps of `acme` and one of `other`; gauges `cpu` per instance and a
/// counter `orders` (3 a 10 s interval), every 10 s for 10 minutes from `start`.
struct Fixture {
    series: SeriesModel,
    http: HttpStatsModel,
    store: Store,
    _dir: tempfile::TempDir,
    start: i64,
    apps: Vec<String>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let series = SeriesModel::new(SeriesRetention::default());
    let now_ms = crate::clock::now_ns() / 1_000_000;
    let start = (now_ms - 3_600_000) / 60_000 * 60_000;
    for i in 0..60 {
        let ts = start + i * 10_000;
        for (org, app) in [("acme", "api"), ("acme", "web"), ("other", "api")] {
            let point = |name: &str, tags: &[(&str, &str)], kind, values| MetricPoint {
                name: name.into(),
                tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
                kind,
                values,
            };
            let mut points = vec![
                point("instance.cpu", &[("instance", "a")], MetricType::Gauge, vec![i as f64]),
                point("instance.cpu", &[("instance", "b")], MetricType::Gauge, vec![100.0]),
                point("shop.orders", &[], MetricType::Counter, vec![3.0]),
            ];
            if org == "other" {
                points.push(point("secret", &[], MetricType::Gauge, vec![42.0]));
            }
            series.apply(org, app, ts, PointsRecord { interval_s: 10.0, points });
        }
    }
    Fixture { series, http: HttpStatsModel::default(), store, _dir: dir, start, apps: vec!["api".into(), "web".into()] }
}

impl Fixture {
    fn source(&self) -> Source<'_> {
        Source {
            org: "acme",
            apps: &self.apps,
            series: &self.series,
            http: &self.http,
            store: &self.store,
            now_ms: crate::clock::now_ns() / 1_000_000,
        }
    }

    fn instant(&self, text: &str, at_ms: i64) -> Result<serde_json::Value, EvalError> {
        query(&self.source(), &parse(text)?, Grid::instant(at_ms), MAX_QUERY_TIME)
    }
}

#[test]
fn one_plus_one_is_a_scalar_as_grafana_s_health_check_expects() {
    let f = fixture();
    let data = f.instant("1+1", 1_700_000_000_000).unwrap();
    assert_eq!(data, json!({"resultType": "scalar", "result": [1_700_000_000, "2"]}));
}

#[test]
fn selectors_read_the_newest_sample_with_prometheus_names_and_labels() {
    let f = fixture();
    let at = f.start + 100_000;
    let data = f.instant(r#"instance_cpu{app="api",instance=~"a|b"}"#, at).unwrap();
    assert_eq!(
        data["result"],
        json!([
            {"metric": {"__name__": "instance_cpu", "app": "api", "instance": "a"}, "value": [at / 1000, "10"]},
            {"metric": {"__name__": "instance_cpu", "app": "api", "instance": "b"}, "value": [at / 1000, "100"]},
        ])
    );
    let data = f.instant(r#"instance_cpu{instance!="b", app!~"web"}"#, at + 5_000).unwrap();
    assert_eq!(data["result"].as_array().unwrap().len(), 1, "{data}");
    // Another org's series are never read.
    assert_eq!(f.instant("secret", at).unwrap()["result"], json!([]));
}

#[test]
fn rate_and_increase_sum_delta_counters_exactly() {
    let f = fixture();
    let at = f.start + 300_000;
    // (at-60 s, at]: six intervals of 3 orders.
    let data = f.instant(r#"increase(shop_orders{app="api"}[1m])"#, at).unwrap();
    assert_eq!(data["result"][0]["value"][1], "18", "{data}");
    assert_eq!(data["result"][0]["metric"], json!({"app": "api"}));
    let data = f.instant(r#"sum(rate(shop_orders[1m]))"#, at).unwrap();
    assert_eq!(data["result"][0]["value"][1], "0.6", "{data}");
}

#[test]
fn aggregations_group_by_and_without() {
    let f = fixture();
    let at = f.start + 100_000;
    let data = f.instant("sum by (app) (instance_cpu)", at).unwrap();
    assert_eq!(data["result"][0], json!({"metric": {"app": "api"}, "value": [at / 1000, "110"]}));
    let data = f.instant("max without (instance) (instance_cpu)", at).unwrap();
    assert_eq!(data["result"][1], json!({"metric": {"app": "web"}, "value": [at / 1000, "100"]}));
    let data = f.instant("count(instance_cpu)", at).unwrap();
    assert_eq!(data["result"][0]["value"][1], "4");
    let data = f.instant(r#"topk(1, instance_cpu{app="api"})"#, at).unwrap();
    assert_eq!(data["result"][0]["metric"]["instance"], "b");
}

#[test]
fn arithmetic_and_comparisons_between_vectors_and_scalars() {
    let f = fixture();
    let at = f.start + 100_000;
    let data = f.instant(r#"instance_cpu{instance="a"} / on(app) instance_cpu{instance="b"} * 100"#, at).unwrap();
    assert_eq!(data["result"][0], json!({"metric": {"app": "api"}, "value": [at / 1000, "10"]}));
    let data = f.instant("instance_cpu > 50", at).unwrap();
    assert_eq!(data["result"].as_array().unwrap().len(), 2, "only instance b: {data}");
    let data = f.instant(r#"instance_cpu{instance="a"} > bool 5"#, at).unwrap();
    assert_eq!(data["result"][0]["value"][1], "1");
}

#[test]
fn a_range_query_answers_a_matrix_step_by_step() {
    let f = fixture();
    let grid = Grid { start_ms: f.start, end_ms: f.start + 30_000, step_ms: 10_000, ranged: true };
    let data =
        query(&f.source(), &parse(r#"instance_cpu{app="web",instance="a"}"#).unwrap(), grid, MAX_QUERY_TIME).unwrap();
    let s = f.start / 1000;
    assert_eq!(data["result"][0]["values"], json!([[s, "0"], [s + 10, "1"], [s + 20, "2"], [s + 30, "3"]]));
}

#[test]
fn predict_linear_extends_the_trend() {
    let f = fixture();
    let at = f.start + 590_000;
    // cpu of instance a grows 1 per 10 s: in 100 s, 10 more than now (59).
    let data = f.instant(r#"predict_linear(instance_cpu{app="api",instance="a"}[5m], 100)"#, at).unwrap();
    let value: f64 = data["result"][0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((value - 69.0).abs() < 1e-6, "{value}");
}

#[test]
fn what_is_not_supported_is_named() {
    let f = fixture();
    for (text, named) in [
        ("histogram_quantile(0.9, instance_cpu)", "histogram_quantile"),
        ("stddev(instance_cpu)", "stddev"),
        ("instance_cpu[5m:1m]", "subqueries"),
        ("label_replace(instance_cpu, \"a\", \"b\", \"c\", \"d\")", "label_replace"),
    ] {
        let error = f.instant(text, f.start).unwrap_err();
        assert!(matches!(&error, EvalError::BadData(m) if m.contains(named)), "{text}: {error:?}");
    }
    assert!(matches!(f.instant("sum(", f.start), Err(EvalError::BadData(_))));
}

#[test]
fn numbers_are_written_as_prometheus_writes_them() {
    assert_eq!(number(1.0), "1");
    assert_eq!(number(0.1 + 0.2), "0.30000000000000004");
    assert_eq!(number(f64::NAN), "NaN");
    assert_eq!(number(f64::NEG_INFINITY), "-Inf");
    assert_eq!(timestamp(1_500), json!(1.5));
}

#[test]
fn names_and_tags_become_what_prometheus_allows() {
    use super::source::{label_name, metric_name};
    assert_eq!(metric_name("instance.cpu_percent"), "instance_cpu_percent");
    assert_eq!(metric_name("9lives-sent"), "_9lives_sent");
    assert_eq!(label_name("route.name"), "route_name");
    assert_eq!(label_name("app"), "exported_app");
    assert_eq!(label_name("__name__"), "exported_name__");
    assert_eq!(label_name("instance"), "instance");
}

#[test]
fn an_expression_too_large_to_hold_is_refused() {
    let f = fixture();
    // Four series over a million steps: more values than one expression may hold.
    let grid = Grid { start_ms: f.start, end_ms: f.start + 1_000_000, step_ms: 1, ranged: true };
    let error = query(&f.source(), &parse("instance_cpu").unwrap(), grid, MAX_QUERY_TIME).unwrap_err();
    assert!(matches!(&error, EvalError::Execution(m) if m.contains("4 series")), "{error:?}");
}

#[test]
fn a_query_past_its_time_limit_stops() {
    let f = fixture();
    let grid = Grid { start_ms: f.start, end_ms: f.start + 60_000, step_ms: 10_000, ranged: true };
    let error = query(&f.source(), &parse("rate(instance_cpu[1m])").unwrap(), grid, std::time::Duration::ZERO);
    assert_eq!(error.unwrap_err(), EvalError::Timeout(0));
}
