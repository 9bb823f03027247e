//! Server metrics of instances over real HTTP: reported by an agent,
//! queried back through the Stats API; and Vigie's own process.

mod common;

use std::time::{Duration, Instant};

use common::{client_with, rfc3339, serve};
use serde_json::{json, Value};
use vigie_server::catalog::Permissions;

const REPORTS: &str = "/api/v1/orgs/acme/apps/api/instances/metrics";
const METRICS: &str = "/api/v1/orgs/acme/apps/api/metrics";

#[tokio::test]
async fn reported_instance_metrics_are_queried_back_per_instance() {
    let server = serve().await;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let start = (now_ms - 600_000) / 60_000 * 60_000;
    let reports: Vec<Value> = (0..6)
        .flat_map(|i| {
            ["web-1", "web-2"].map(|instance| {
                let cpu = if instance == "web-1" { 10.0 + i as f64 } else { 50.0 };
                json!({"instance": instance, "ts_ms": start + i * 10_000, "cpu_percent": cpu,
                       "memory_used_bytes": 1e8 * (i + 1) as f64, "memory_limit_bytes": 1e9,
                       "net_in_bytes": 1000, "net_out_bytes": 5000})
            })
        })
        .collect();
    let (status, reply) = server.post(REPORTS, "application/json", &Value::Array(reports).to_string()).await;
    assert_eq!((status, reply["accepted"].clone()), (200, json!(12)), "{reply}");

    let range = format!("from={}&to={}", rfc3339(start), rfc3339(start + 60_000));
    let (status, cpu) = server
        .get_json(&format!("{METRICS}/instance.cpu_percent?{range}&step=1m&aggregation=avg&group_by=instance"))
        .await;
    assert_eq!(status, 200, "{cpu}");
    let per_instance: Vec<(&str, f64)> = cpu["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["tags"]["instance"].as_str().unwrap(), s["points"][0][1].as_f64().unwrap()))
        .collect();
    assert_eq!(per_instance, vec![("web-1", 12.5), ("web-2", 50.0)]);
    let (_, memory) =
        server.get_json(&format!("{METRICS}/instance.memory_used_bytes?{range}&step=1m&aggregation=max")).await;
    assert_eq!(memory["series"][0]["points"][0][1], 6e8, "{memory}");
    let (_, net) = server.get_json(&format!("{METRICS}/instance.net_out_bytes?{range}&step=1m&aggregation=sum")).await;
    assert_eq!(net["series"][0]["points"][0][1], 12.0 * 5000.0, "{net}");

    // A bad report is named, and nothing of its batch is stored.
    let bad = json!([{"instance": "web-3", "cpu_percent": 5, "memory_used_bytes": 1, "memory_limit_bytes": 2},
                     {"instance": "web-3", "cpu_percent": "lots", "memory_used_bytes": 1, "memory_limit_bytes": 2}]);
    let (status, reply) = server.post(REPORTS, "application/json", &bad.to_string()).await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply["error"].as_str().unwrap().starts_with("report 1: "), "{reply}");
    let (_, listing) = server.get_json(METRICS).await;
    assert!(!listing.to_string().contains("web-3"), "{listing}");

    // Reading is not enough to report.
    let (_, reader) =
        server.server.catalog.create_token("acme", "reader", Permissions::parse("read").unwrap(), "t").unwrap();
    let refused = client_with(&reader)
        .post(format!("{}{REPORTS}", server.base))
        .body(json!({"instance": "x", "cpu_percent": 1, "memory_used_bytes": 1, "memory_limit_bytes": 2}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    server.server.stop().await;
}

#[tokio::test]
async fn vigie_reports_its_own_process_as_an_instance_of_the_first_org() {
    let server = serve().await;
    let admin = server.server.welcome.admin.clone().expect("a first start");
    let client = client_with(&admin.token);
    let url = format!(
        "{}/api/v1/orgs/{}/apps/{}/metrics/instance.memory_used_bytes?step=10s&aggregation=last",
        server.base,
        admin.org,
        vigie_server::SELF_APP
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let response = client.get(&url).send().await.unwrap();
        if response.status() == 200 {
            break response.json::<Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "no report of Vigie's own process: {}", response.text().await.unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rss = answer["series"][0]["points"][0][1].as_f64().unwrap();
    assert!(rss > 1e6 && rss < 1e11, "{answer}");
    assert_eq!(answer["series_matched"], 1);
    server.server.stop().await;
}

#[tokio::test]
async fn custom_points_are_stored_in_their_interval_and_a_bad_one_is_named() {
    let server = serve().await;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let start = (now_ms - 120_000) / 10_000 * 10_000;
    let report = |ts_ms: i64, orders: f64| {
        json!({"ts_ms": ts_ms, "points": [
            {"name": "orders", "type": "counter", "tags": {"instance": "web-1", "route": "/pay"}, "values": [orders]},
            {"name": "latency", "type": "timer", "tags": {"instance": "web-1"}, "values": [2, 240, 100, 140, 100, 140, 140]},
        ]})
    };
    let body = json!([report(start + 3_000, 3.0), report(start + 10_000, 4.0)]);
    let (status, reply) = server.post(METRICS, "application/json", &body.to_string()).await;
    assert_eq!((status, reply["accepted"].clone()), (200, json!(4)), "{reply}");

    let range = format!("from={}&to={}", rfc3339(start), rfc3339(start + 20_000));
    let (_, orders) =
        server.get_json(&format!("{METRICS}/orders?{range}&step=10s&aggregation=sum&group_by=instance,route")).await;
    assert_eq!(orders["series"][0]["tags"], json!({"instance": "web-1", "route": "/pay"}), "{orders}");
    assert_eq!(orders["series"][0]["points"], json!([[start, 3.0], [start + 10_000, 4.0]]), "{orders}");
    let (_, latency) = server.get_json(&format!("{METRICS}/latency?{range}&step=20s&aggregation=max")).await;
    assert_eq!(latency["series"][0]["points"][0][1], 140.0, "{latency}");

    // A point of the wrong shape is named, and nothing of its request is stored.
    let bad = json!([{"ts_ms": now_ms, "points": [
        {"name": "fine", "type": "gauge", "values": [1]},
        {"name": "broken", "type": "gauge", "values": [1, 2]},
    ]}]);
    let (status, reply) = server.post(METRICS, "application/json", &bad.to_string()).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().starts_with("report 0: point 1: a gauge point has 1 finite values"),
        "{reply}"
    );
    let (_, listing) = server.get_json(METRICS).await;
    assert!(!listing.to_string().contains("fine"), "{listing}");

    // Reading is not enough to send points.
    let (_, reader) =
        server.server.catalog.create_token("acme", "reader", Permissions::parse("read").unwrap(), "t").unwrap();
    let refused = client_with(&reader)
        .post(format!("{}{METRICS}", server.base))
        .body(report(now_ms, 1.0).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    server.server.stop().await;
}
