//! statsd over real UDP, sent by a statsd client library (cadence), and
//! read back through the Stats API.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use cadence::prelude::*;
use cadence::{BufferedUdpMetricSink, StatsdClient};
use common::{client_with, serve_with, TestServer};
use serde_json::Value;
use vigie_app::model::AppKind;
use vigie_server::catalog::{App, Org, Permissions};
use vigie_server::metrics::series::SeriesModel;
use vigie_server::StatsdConfig;

const METRICS: &str = "/api/v1/orgs/acme/apps/api/metrics";

/// A server whose statsd intervals last one second.
async fn serve_statsd() -> TestServer {
    serve_with(|config| {
        let mut statsd = StatsdConfig::on("127.0.0.1:0".parse().unwrap());
        statsd.sockets = 2;
        statsd.flush_interval = Duration::from_secs(1);
        config.statsd = Some(statsd);
    })
    .await
}

fn client(server: &TestServer, token: &str) -> StatsdClient {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink = BufferedUdpMetricSink::from(server.server.statsd.unwrap(), socket).unwrap();
    StatsdClient::builder("shop", sink).with_tag("vigie_app", "api").with_tag("vigie_token", token).build()
}

fn send_raw(server: &TestServer, datagram: &str) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(datagram.as_bytes(), server.server.statsd.unwrap()).unwrap();
}

/// Waits until the server ends an interval (its flush count moves), so
/// what is sent right after falls in one interval.
async fn at_interval_start(server: &TestServer) {
    let flushes = own_metric(server, "vigie_statsd_flushes_total").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while own_metric(server, "vigie_statsd_flushes_total").await == flushes {
        assert!(Instant::now() < deadline, "no interval ended in 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Value of one line of `/metrics`.
async fn own_metric(server: &TestServer, line_start: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

/// Waits until `/metrics` shows `want` lines aggregated, then for the flush after them.
async fn wait_aggregated(server: &TestServer, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while own_metric(server, "vigie_statsd_lines_total{outcome=\"aggregated\"}").await < want {
        assert!(Instant::now() < deadline, "the server did not read {want} lines");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let points = own_metric(server, "vigie_statsd_points_total").await;
    while own_metric(server, "vigie_statsd_points_total").await == points {
        assert!(Instant::now() < deadline, "no flush came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one value of a query over the last hour in one step.
async fn total(server: &TestServer, name: &str, query: &str) -> f64 {
    let (status, answer) = server.get_json(&format!("{METRICS}/{name}?from=1h&step=2h&{query}")).await;
    assert_eq!(status, 200, "{name}?{query}: {answer}");
    let points = answer["series"][0]["points"].as_array().unwrap_or_else(|| panic!("{answer}"));
    points.iter().map(|point| point[1].as_f64().unwrap()).sum()
}

#[tokio::test]
async fn every_metric_type_sent_by_a_statsd_library_is_queried_back() {
    let server = serve_statsd().await;
    let statsd = client(&server, &server.token);
    at_interval_start(&server).await;
    for _ in 0..100 {
        statsd.count_with_tags("orders", 1).with_tag("route", "/a").send();
    }
    // Sampled one in ten: each counts ten.
    for _ in 0..50 {
        statsd.count_with_tags("orders", 1).with_tag("route", "/b").with_sampling_rate(0.1).send();
    }
    statsd.gauge("level", 42).unwrap();
    for ms in 1..=1_000u64 {
        statsd.time("db.query", ms).unwrap();
    }
    statsd.histogram("payload", vec![100u64, 200, 300]).unwrap();
    statsd.distribution("latency", 7.5).unwrap();
    for user in [7i64, 8, 7, 9] {
        statsd.set("visitors", user).unwrap();
    }
    statsd.flush().unwrap();
    // Gauge deltas (which cadence does not send), in one datagram with the value they change
    // (datagrams from two sockets may be read in either order), and a malformed line beside a good one.
    let tags = format!("#vigie_app:api,vigie_token:{}", server.token);
    send_raw(&server, &format!("shop.queue:10|g|{tags}\nshop.queue:+5|g|{tags}\nshop.queue:-2|g|{tags}"));
    send_raw(&server, &format!("shop.broken:x|c|{tags}\nshop.orders:3|c|{tags},route:/a\nno value here"));
    wait_aggregated(&server, 100 + 50 + 1 + 1_000 + 1 + 1 + 4 + 3 + 1).await;

    assert_eq!(total(&server, "shop.orders", "aggregation=sum&filter=route:/a").await, 103.0);
    assert_eq!(total(&server, "shop.orders", "aggregation=sum&filter=route:/b").await, 500.0);
    assert_eq!(total(&server, "shop.orders", "").await, 603.0, "a counter sums by default");
    assert_eq!(total(&server, "shop.queue", "aggregation=last").await, 13.0);
    assert_eq!(total(&server, "shop.level", "aggregation=last").await, 42.0);
    assert_eq!(total(&server, "shop.visitors", "aggregation=max").await, 3.0);
    assert_eq!(total(&server, "shop.payload", "aggregation=sum").await, 600.0);
    assert_eq!(total(&server, "shop.payload", "aggregation=count").await, 3.0);
    assert_eq!(total(&server, "shop.latency", "aggregation=max").await, 7.5);
    assert_eq!(total(&server, "shop.db.query", "aggregation=count").await, 1_000.0);
    assert_eq!(total(&server, "shop.db.query", "aggregation=avg").await, 500.5);
    // DDSketch's relative error is 1%.
    for (aggregation, want) in [("p50", 500.0), ("p95", 950.0), ("p99", 990.0), ("min", 1.0), ("max", 1_000.0)] {
        let got = total(&server, "shop.db.query", &format!("aggregation={aggregation}")).await;
        assert!((got - want).abs() <= want * 0.01, "{aggregation}: {got}, want {want}");
    }

    // Grouped by route, one answer series each.
    let (_, grouped) = server.get_json(&format!("{METRICS}/shop.orders?from=1h&step=2h&group_by=route")).await;
    let routes: Vec<(&str, f64)> = grouped["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["tags"]["route"].as_str().unwrap(), s["points"][0][1].as_f64().unwrap()))
        .collect();
    assert_eq!(routes, vec![("/a", 103.0), ("/b", 500.0)]);

    // The listing names every metric with its type, tags and aggregations; never the token or app tags.
    let (status, listing) = server.get_json(METRICS).await;
    assert_eq!(status, 200);
    let names: Vec<(&str, &str)> = listing["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("shop.db.query", "timer"),
            ("shop.latency", "distribution"),
            ("shop.level", "gauge"),
            ("shop.orders", "counter"),
            ("shop.payload", "histogram"),
            ("shop.queue", "gauge"),
            ("shop.visitors", "set"),
        ]
    );
    assert_eq!(listing["metrics"][3]["tags"], serde_json::json!({"route": ["/a", "/b"]}));
    assert!(!listing.to_string().contains(&server.token));

    // The malformed lines were counted by reason; the good line beside them was kept (103 above).
    assert_eq!(own_metric(&server, "vigie_statsd_lines_total{outcome=\"dropped\",reason=\"bad_value\"}").await, 1);
    assert_eq!(
        own_metric(&server, "vigie_statsd_lines_total{outcome=\"dropped\",reason=\"no_type\"}").await
            + own_metric(&server, "vigie_statsd_lines_total{outcome=\"dropped\",reason=\"no_value\"}").await,
        1
    );
    assert_eq!(own_metric(&server, "vigie_statsd_socket_drops_total").await, 0);

    // Bad queries are named.
    for (query, words) in [
        ("shop.orders?aggregation=p99", "a counter gives sum, rate, not p99"),
        ("shop.orders?step=15s", "step must be a multiple of 10 s"),
        ("shop.orders?from=nonsense", "from: \\\"nonsense\\\" is not a time"),
        ("shop.orders?aggregation=median", "aggregation: \\\"median\\\" is none of"),
    ] {
        let (status, answer) = server.get_json(&format!("{METRICS}/{query}")).await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert!(answer.to_string().contains(words), "{query}: {answer}");
    }
    let (status, answer) = server.get_json(&format!("{METRICS}/shop.nothing")).await;
    assert_eq!(status, 404, "{answer}");
    server.server.stop().await;
}

#[tokio::test]
async fn lines_without_a_valid_token_of_the_apps_org_are_dropped_and_counted() {
    let server = serve_statsd().await;
    let web = App { slug: "web".into(), name: "Beta web".into(), kind: AppKind::Application, runtime: "Go".into() };
    server.server.catalog.put_org(&Org { slug: "beta".into(), name: "Beta".into(), apps: vec![web] }).unwrap();
    let (_, beta) = server.server.catalog.create_token("beta", "beta", Permissions::ALL, "t").unwrap();
    let (_, reader) =
        server.server.catalog.create_token("acme", "reader", Permissions::parse("read").unwrap(), "t").unwrap();

    // Beta's token naming acme's app, a read-only token, a made-up token, no token, no app.
    send_raw(&server, &format!("forged:1|c|#vigie_app:api,vigie_token:{beta}"));
    send_raw(&server, &format!("forged:1|c|#vigie_app:api,vigie_token:{reader}"));
    send_raw(&server, "forged:1|c|#vigie_app:api,vigie_token:vgt_made_up");
    send_raw(&server, "forged:1|c|#vigie_app:api");
    send_raw(&server, &format!("forged:1|c|#vigie_token:{}", server.token));
    // Beta's own app, with beta's token, is fine.
    send_raw(&server, &format!("real:1|c|#vigie_app:web,vigie_token:{beta}"));
    wait_aggregated(&server, 1).await;

    for (reason, count) in [
        ("unknown_app", 1),
        ("token_may_not_ingest", 1),
        ("unknown_or_revoked_token", 1),
        ("no_token_tag", 1),
        ("no_app_tag", 1),
    ] {
        let line = format!("vigie_statsd_lines_total{{outcome=\"dropped\",reason=\"{reason}\"}}");
        assert_eq!(own_metric(&server, &line).await, count, "{reason}");
    }
    let (_, acme) = server.get_json(METRICS).await;
    assert_eq!(acme["metrics"], serde_json::json!([]), "nothing planted in acme: {acme}");
    let beta_client = client_with(&beta);
    let listing: Value = beta_client
        .get(format!("{}/api/v1/orgs/beta/apps/web/metrics", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing["metrics"][0]["name"], "real");
    let status = beta_client.get(format!("{}{METRICS}", server.base)).send().await.unwrap().status();
    assert_eq!(status, 404, "beta cannot read acme's metrics");
    server.server.stop().await;
}

#[tokio::test]
async fn metric_series_are_rebuilt_from_the_topics_with_the_same_answers() {
    let server = serve_statsd().await;
    let statsd = client(&server, &server.token);
    for round in 0..3u64 {
        at_interval_start(&server).await;
        for i in 0..20u64 {
            statsd.count_with_tags("hits", round + i).with_tag("route", if i % 2 == 0 { "/a" } else { "/b" }).send();
            statsd.gauge("depth", round * 10 + i).unwrap();
            statsd.time("work", i * 7 + round).unwrap();
        }
        statsd.flush().unwrap();
        wait_aggregated(&server, (round + 1) * 60).await;
    }
    let queries = [
        "hits?from=1h&step=10s&group_by=route",
        "hits?from=1h&step=1m",
        "depth?from=1h&step=10s&aggregation=last",
        "work?from=1h&step=1h&aggregation=p95",
    ];
    let mut before = Vec::new();
    for query in queries {
        let (status, answer) = server.get_json(&format!("{METRICS}/shop.{query}")).await;
        assert_eq!(status, 200, "{answer}");
        assert!(!answer["series"][0]["points"].as_array().unwrap().is_empty(), "{query}: {answer}");
        before.push(answer);
    }
    // A fresh model that reads the same topics answers alike.
    let rebuilt = SeriesModel::default();
    rebuilt.catch_up_all(&server.server.store);
    assert_eq!(rebuilt.counts(), server.server.series.counts());
    assert!(rebuilt.counts().raw_points >= 3 * 4, "{:?}", rebuilt.counts());
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let query = vigie_server::metrics::series::SeriesQuery {
        org: "acme".into(),
        app: "api".into(),
        name: "shop.hits".into(),
        kind: None,
        from_ms: now_ms - 3_600_000,
        to_ms: now_ms + 1,
        step_ms: 10_000,
        aggregation: None,
        filter: Vec::new(),
        group_by: vec!["route".into()],
    };
    assert_eq!(rebuilt.query(&query), server.server.series.query(&query));
    server.server.stop().await;
}

#[tokio::test]
async fn a_second_server_on_the_same_statsd_port_is_refused() {
    let first = serve_statsd().await;
    let port = first.server.statsd.unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let config = vigie_server::ServeConfig {
        grafana: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_path_buf(),
        site_root: data_dir.path().join("site"),
        demo: None,
        store: Default::default(),
        geoip: vigie_server::GeoIpSource::None,
        ingest: Default::default(),
        syslog_tcp: None,
        syslog_udp: None,
        statsd: Some(StatsdConfig::on(port)),
        drains: Default::default(),
    };
    let error = vigie_server::start(config).await.err().expect("the port is taken");
    assert!(error.to_string().contains(&format!("cannot listen on {port}")), "{error}");
    first.server.stop().await;
}

#[tokio::test]
async fn an_app_past_its_series_cap_loses_only_the_lines_of_new_series() {
    let server = serve_with(|config| {
        let mut statsd = StatsdConfig::on("127.0.0.1:0".parse().unwrap());
        statsd.flush_interval = Duration::from_secs(1);
        statsd.max_series_per_app = 3;
        config.statsd = Some(statsd);
    })
    .await;
    let tags = format!("#vigie_app:api,vigie_token:{}", server.token);
    let lines: Vec<String> =
        ["m1", "m2", "m3", "m4", "m5", "m1"].iter().map(|name| format!("{name}:1|c|{tags}")).collect();
    send_raw(&server, &lines.join("\n"));
    wait_aggregated(&server, 4).await;
    assert_eq!(
        own_metric(&server, "vigie_statsd_lines_total{outcome=\"dropped\",reason=\"too_many_series\"}").await,
        2
    );
    let (_, listing) = server.get_json(METRICS).await;
    let names: Vec<&str> = listing["metrics"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["m1", "m2", "m3"]);
    assert_eq!(total(&server, "m1", "").await, 2.0, "a known series keeps counting");
    server.server.stop().await;
}
