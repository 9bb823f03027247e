//! The Prometheus-compatible API driven by a real Prometheus client:
//! Debian's `promtool query` (installed by `scripts/setup test`), with the
//! org's token as the basic-auth password in the URL, gets the same
//! numbers the Stats API gives for the same series and range. Then, over
//! plain HTTP: errors in Prometheus's shape, form-encoded POSTs, and one
//! org's token never seeing another's series.

mod common;

use tokio::process::Command;

use common::{client_with, rfc3339, serve, TestServer, LOGS};
use serde_json::{json, Value};
use vigie_app::model::AppKind;
use vigie_server::catalog::{App, Org, Permissions};

const REPORTS: &str = "/api/v1/orgs/acme/apps/api/instances/metrics";
const METRICS: &str = "/api/v1/orgs/acme/apps/api/metrics";

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Runs `promtool query -o json ARGS` and reads its JSON output.
async fn promtool(args: &[&str]) -> Value {
    let output = Command::new("promtool")
        .args(["query", "-o", "json"])
        .args(args)
        .output()
        .await
        .expect("promtool is installed by `scripts/setup test` (Debian's prometheus package)");
    assert!(output.status.success(), "promtool {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("promtool {args:?} printed no JSON ({error}): {}", String::from_utf8_lossy(&output.stdout))
    })
}

/// `(ms, value)` pairs of a Prometheus matrix or vector row.
fn prom_points(values: &Value) -> Vec<(i64, f64)> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| ((pair[0].as_f64().unwrap() * 1000.0).round() as i64, pair[1].as_str().unwrap().parse().unwrap()))
        .collect()
}

fn stats_points(series: &Value) -> Vec<(i64, f64)> {
    series["points"].as_array().unwrap().iter().map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap())).collect()
}

/// Ten minutes of reports of two instances, 10 s apart, ending `end` (a whole minute).
async fn report_instances(server: &TestServer, end: i64) {
    let reports: Vec<Value> = (0..60)
        .flat_map(|i| {
            ["web-1", "web-2"].map(|instance| {
                let cpu = if instance == "web-1" { 10.0 + (i % 7) as f64 } else { 50.0 + (i % 3) as f64 };
                json!({"instance": instance, "ts_ms": end - 590_000 + i * 10_000, "cpu_percent": cpu,
                       "memory_used_bytes": 1e8 + 1e6 * i as f64, "memory_limit_bytes": 1e9,
                       "net_in_bytes": 1000 + i, "net_out_bytes": 5000 * (1 + i % 4)})
            })
        })
        .collect();
    let (status, reply) = server.post(REPORTS, "application/json", &Value::Array(reports).to_string()).await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn promtool_gets_the_stats_api_s_numbers_with_the_token_as_password() {
    let server = serve().await;
    let end = (now_ms() - 1_200_000) / 60_000 * 60_000;
    let start = end - 590_000;
    report_instances(&server, end).await;
    // Access logs: 5 minutes, 6 requests a minute, one a 5xx.
    let lines: Vec<String> = (0..30)
        .map(|i| {
            let status = if i % 6 == 0 { 503 } else { 200 };
            let path = ["/a", "/b"][i as usize % 2];
            json!({"ts": rfc3339(end - 300_000 + i * 10_000), "method": "GET", "path": path,
                   "status": status, "duration_ms": 10 + i, "client_ip": "2.3.4.5"})
            .to_string()
        })
        .collect();
    let (status, reply) = server.post(&format!("{LOGS}?kind=access"), "application/x-ndjson", &lines.join("\n")).await;
    assert_eq!(status, 200, "{reply}");
    let url = format!("http://grafana:{}@{}/prometheus", server.token, server.server.addr);

    // A range of a gauge, step by step, per instance.
    let (s, e) = ((start / 1000).to_string(), (end / 1000).to_string());
    let matrix =
        promtool(&["range", "--start", &s, "--end", &e, "--step", "10s", &url, r#"instance_cpu_percent{app="api"}"#])
            .await;
    let (status, stats) = server
        .get_json(&format!(
            "{METRICS}/instance.cpu_percent?from={}&to={}&step=10s&aggregation=last&group_by=instance",
            rfc3339(start),
            rfc3339(end + 10_000)
        ))
        .await;
    assert_eq!(status, 200, "{stats}");
    let rows = matrix.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{matrix}");
    for (row, series) in rows.iter().zip(stats["series"].as_array().unwrap()) {
        assert_eq!(row["metric"]["instance"], series["tags"]["instance"]);
        assert_eq!(row["metric"]["__name__"], "instance_cpu_percent");
        assert_eq!(prom_points(&row["values"]), stats_points(series));
        assert_eq!(stats_points(series).len(), 60);
    }

    // An instant sum over instances.
    let at = end - 100_000;
    let vector =
        promtool(&["instant", "--time", &(at / 1000).to_string(), &url, r#"sum(instance_cpu_percent{app="api"})"#])
            .await;
    let (_, summed) = server
        .get_json(&format!(
            "{METRICS}/instance.cpu_percent?from={}&to={}&step=10s&aggregation=sum",
            rfc3339(at),
            rfc3339(at + 10_000)
        ))
        .await;
    assert_eq!(prom_points(&json!([vector[0]["value"]])), stats_points(&summed["series"][0]), "{vector} {summed}");

    // A counter's increase over a minute: the sum of its intervals in (at-60 s, at].
    let vector = promtool(&[
        "instant",
        "--time",
        &(at / 1000).to_string(),
        &url,
        r#"sum by (instance) (increase(instance_net_out_bytes{app="api"}[1m]))"#,
    ])
    .await;
    let (_, net) = server
        .get_json(&format!(
            "{METRICS}/instance.net_out_bytes?from={}&to={}&step=10s&aggregation=sum&group_by=instance",
            rfc3339(at - 50_000),
            rfc3339(at + 10_000)
        ))
        .await;
    for (row, series) in vector.as_array().unwrap().iter().zip(net["series"].as_array().unwrap()) {
        assert_eq!(row["metric"]["instance"], series["tags"]["instance"]);
        let by_hand: f64 = stats_points(series).iter().map(|(_, v)| v).sum();
        assert_eq!(row["value"][1].as_str().unwrap().parse::<f64>().unwrap(), by_hand, "{vector} {net}");
    }

    // HTTP statistics: 5xx answers over the five minutes, as the Stats API counts them.
    let last_minute = end - 60_000;
    let vector = promtool(&[
        "instant",
        "--time",
        &(last_minute / 1000).to_string(),
        &url,
        r#"sum(increase(http_requests{app="api",status_class="5xx"}[5m]))"#,
    ])
    .await;
    let (_, http) = server
        .get_json(&format!(
            "/api/v1/orgs/acme/apps/api/http?from={}&to={}&step=1m",
            rfc3339(last_minute - 240_000),
            rfc3339(last_minute + 60_000)
        ))
        .await;
    assert_eq!(http["total"]["status"]["5xx"], 5, "{http}");
    assert_eq!(vector[0]["value"][1], "5", "{vector}");

    // Label values and series: only this org's.
    let values = promtool(&["labels", "--start", &s, "--end", &e, &url, "instance"]).await;
    assert_eq!(values, json!(["web-1", "web-2"]));
    let series =
        promtool(&["series", "--match", r#"instance_memory_used_bytes"#, "--start", &s, "--end", &e, &url]).await;
    assert_eq!(
        series,
        json!([
            {"__name__": "instance_memory_used_bytes", "app": "api", "instance": "web-1"},
            {"__name__": "instance_memory_used_bytes", "app": "api", "instance": "web-2"},
        ])
    );
    server.server.stop().await;
}

#[tokio::test]
async fn errors_forms_and_tenants_over_http() {
    let server = serve().await;
    let end = (now_ms() - 1_200_000) / 60_000 * 60_000;
    report_instances(&server, end).await;
    common::hundred_lines(&server).await;
    // A second org with a metric of its own.
    server
        .server
        .catalog
        .put_org(&Org {
            slug: "globex".into(),
            name: "Globex".into(),
            apps: vec![App {
                slug: "api".into(),
                name: "Globex API".into(),
                kind: AppKind::Application,
                runtime: "Go".into(),
            }],
        })
        .unwrap();
    let (_, globex) = server.server.catalog.create_token("globex", "theirs", Permissions::ALL, "t").unwrap();
    let theirs = client_with(&globex);
    let response = theirs
        .post(format!("{}/api/v1/orgs/globex/apps/api/instances/metrics", server.base))
        .header("content-type", "application/json")
        .body(
            json!({"instance": "globex-secret-1", "cpu_percent": 1, "memory_used_bytes": 1, "memory_limit_bytes": 2})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let prom =
        |client: &reqwest::Client, path: &str| client.get(format!("{}/prometheus/api/v1/{path}", server.base)).send();
    let read = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str::<Value>(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")))
    };

    // Grafana's health check.
    let (status, body) = read(prom(&server.http, "query?query=1%2B1").await.unwrap()).await;
    assert_eq!(
        (status, body["status"].clone(), body["data"]["resultType"].clone()),
        (200, json!("success"), json!("scalar"))
    );
    assert_eq!(body["data"]["result"][1], "2");

    // Each org sees its own series only.
    let all = r#"series?match[]={__name__=~".%2B"}&start=0"#;
    let (_, mine) = read(prom(&server.http, all).await.unwrap()).await;
    assert!(!mine.to_string().contains("globex"), "{mine}");
    assert!(mine.to_string().contains("web-1"), "{mine}");
    let (_, seen) = read(prom(&theirs, all).await.unwrap()).await;
    assert!(seen.to_string().contains("globex-secret-1") && !seen.to_string().contains("web-1"), "{seen}");
    let (_, values) = read(prom(&server.http, "label/instance/values").await.unwrap()).await;
    assert!(!values.to_string().contains("globex"), "{values}");

    // Log lines by level, from the service logs.
    let (_, logs) =
        read(prom(&server.http, "query?query=sum%20by%20(level)%20(increase(log_lines%5B10m%5D))").await.unwrap())
            .await;
    let levels: Vec<(String, String)> = logs["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metric"]["level"].as_str().unwrap().to_string(), r["value"][1].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(levels, vec![("error".into(), "10".into()), ("info".into(), "90".into())], "{logs}");

    // A form-encoded POST answers as the GET does.
    let form = format!(
        "query={}&start={}&end={}&step=60",
        "sum%20by%20(instance)%20(avg_over_time(instance_cpu_percent%5B1m%5D))",
        (end - 300_000) / 1000,
        end / 1000
    );
    let posted = server
        .http
        .post(format!("{}/prometheus/api/v1/query_range", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    let (status, posted) = read(posted).await;
    assert_eq!(status, 200, "{posted}");
    let (_, got) = read(prom(&server.http, &format!("query_range?{form}")).await.unwrap()).await;
    assert_eq!(posted, got);
    assert_eq!(posted["data"]["result"].as_array().unwrap().len(), 2, "{posted}");

    // Errors: Prometheus's shape, and what was wrong named.
    for (path, status, kind, says) in [
        ("query?query=sum(", 400, "bad_data", "invalid parameter \"query\""),
        ("query?query=histogram_quantile(0.9,x)", 400, "bad_data", "histogram_quantile"),
        ("query", 400, "bad_data", "query"),
        ("query_range?query=up&start=10&end=0&step=1", 400, "bad_data", "end timestamp must not be before start time"),
        ("query_range?query=up&start=0&end=100000&step=1", 400, "bad_data", "11,000 points"),
        ("query?query=up&time=tomorrow", 400, "bad_data", "time"),
        ("series", 400, "bad_data", "match[]"),
        (
            "query?query=increase(log_lines%5B10m%5D)%20%2B%20on()%20increase(log_lines%5B10m%5D)",
            422,
            "execution",
            "many-to-many",
        ),
        ("nowhere", 404, "not_found", "query_range"),
    ] {
        let (got, body) = read(prom(&server.http, path).await.unwrap()).await;
        assert_eq!(
            (got, body["status"].as_str(), body["errorType"].as_str()),
            (status, Some("error"), Some(kind)),
            "{path}: {body}"
        );
        assert!(body["error"].as_str().unwrap().contains(says), "{path}: {body}");
    }

    // No token, an unknown one, a revoked one: 401 in Prometheus's shape.
    let anonymous = reqwest::Client::new();
    let (status, body) = read(prom(&anonymous, "query?query=1").await.unwrap()).await;
    assert_eq!((status, body["errorType"].as_str()), (401, Some("unauthorized")), "{body}");
    let (info, secret) =
        server.server.catalog.create_token("acme", "grafana", Permissions::parse("read").unwrap(), "t").unwrap();
    let grafana = client_with(&secret);
    assert_eq!(prom(&grafana, "query?query=1").await.unwrap().status(), 200);
    server.server.catalog.revoke_token("acme", info.id).unwrap();
    let (status, body) = read(prom(&grafana, "query?query=1").await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().starts_with("invalid token"), "{body}");
    let (status, body) = read(prom(&client_with("vgt_not_a_real_one"), "query?query=1").await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().starts_with("invalid token"), "{body}");

    // Build info and metadata, as Grafana reads them.
    let (_, info) = read(prom(&server.http, "status/buildinfo").await.unwrap()).await;
    assert!(info["data"]["version"].as_str().unwrap().starts_with('2'), "{info}");
    let (_, metadata) = read(prom(&server.http, "metadata").await.unwrap()).await;
    assert_eq!(metadata["data"]["instance_net_out_bytes"][0]["type"], "counter", "{metadata}");
    assert_eq!(metadata["data"]["instance_cpu_percent"][0]["type"], "gauge", "{metadata}");
    server.server.stop().await;
}
