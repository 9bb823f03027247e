//! HTTP statistics over real HTTP: access logs sent to the ingest API are
//! counted, timed and placed, and the Stats API gives the same numbers as a
//! count by hand.

mod common;

use common::{rfc3339, serve, LOGS};
use serde_json::{json, Value};

const HTTP: &str = "/api/v1/orgs/acme/apps/api/http";

struct Request {
    ts: String,
    path: &'static str,
    status: u16,
    duration_ms: f64,
    bytes: u64,
    ip: &'static str,
}

/// What request `i` of the test was.
/// Three hours ago, on the minute: HTTP statistics keep the last 2 days.
fn base_ms() -> i64 {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    (now_ms - 3 * 3_600_000) / 3_600_000 * 3_600_000
}

fn request(i: usize) -> Request {
    // 0.3 s apart from 10:00:00: three whole minutes for 600 requests.
    let ts = rfc3339(base_ms() + i as i64 * 300);
    let path = ["/a", "/a", "/a", "/b", "/b", "/c"][i % 6];
    let status = match i % 20 {
        0 => 503,
        1 | 2 => 404,
        3 => 301,
        _ => 200,
    };
    let ip = ["2.3.4.5", "126.1.2.3", "10.0.0.7"][i % 3];
    Request { ts, path, status, duration_ms: (i + 1) as f64, bytes: i as u64, ip }
}

#[tokio::test]
async fn http_statistics_equal_a_count_by_hand_over_the_access_logs() {
    let server = serve().await;
    let lines: Vec<String> = (0..600)
        .map(|i| {
            let Request { ts, path, status, duration_ms, bytes, ip } = request(i);
            json!({"ts": ts, "method": "GET", "path": path, "status": status, "duration_ms": duration_ms,
                   "bytes_sent": bytes, "client_ip": ip})
            .to_string()
        })
        .collect();
    let (status, reply) = server.post(&format!("{LOGS}?kind=access"), "application/x-ndjson", &lines.join("\n")).await;
    assert_eq!(status, 200, "{reply}");

    let base = base_ms();
    let range = format!("from={}&to={}", rfc3339(base), rfc3339(base + 180_000));
    let (status, stats) = server.get_json(&format!("{HTTP}?{range}&step=1m&top=2")).await;
    assert_eq!(status, 200, "{stats}");

    // By hand.
    let requests: Vec<_> = (0..600).map(request).collect();
    let count = |status: u16| requests.iter().filter(|r| r.status == status).count() as u64;
    let total = &stats["total"];
    assert_eq!(total["requests"], 600);
    assert_eq!(total["status"]["2xx"], count(200));
    assert_eq!(total["status"]["3xx"], count(301));
    assert_eq!(total["status"]["4xx"], count(404));
    assert_eq!(total["status"]["5xx"], count(503));
    assert_eq!(total["bytes_out"], (0..600u64).sum::<u64>());
    assert_eq!(total["per_second"], 600.0 / 180.0);
    // Durations are 1..=600 ms: the exact percentiles are 300, 570 and 594; DDSketch is within 1%.
    for (p, exact) in [("p50", 300.0), ("p95", 570.0), ("p99", 594.0)] {
        let got = total["latency_ms"][p].as_f64().unwrap();
        assert!((got - exact).abs() <= exact * 0.01, "{p}: {got}, exact {exact}");
    }

    let steps = stats["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{stats}");
    for (minute, step) in steps.iter().enumerate() {
        assert_eq!(step["requests"], 200, "minute {minute}");
        let ids = minute * 200..(minute + 1) * 200;
        let server_errors = ids.clone().filter(|i| request(*i).status == 503).count();
        assert_eq!(step["status"]["5xx"], server_errors as u64);
        // The minute's own percentiles: durations minute*200+1 ..= minute*200+200.
        let p99 = (minute * 200 + 198) as f64;
        let got = step["latency_ms"]["p99"].as_f64().unwrap();
        assert!((got - p99).abs() <= p99 * 0.01, "minute {minute} p99 {got}, exact {p99}");
    }
    let top_paths: Vec<_> = stats["top_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["path"].as_str().unwrap(), p["requests"].as_u64().unwrap(), p["server_errors"].as_u64().unwrap()))
        .collect();
    assert_eq!(top_paths, vec![("/a", 300, 20), ("/b", 200, 10)]);
    // Each path's own p99, by hand over its durations, within DDSketch's 1%.
    for (at, path) in ["/a", "/b"].iter().enumerate() {
        let mut durations: Vec<f64> = requests.iter().filter(|r| r.path == *path).map(|r| r.duration_ms).collect();
        durations.sort_by(f64::total_cmp);
        let exact = durations[(0.99 * (durations.len() - 1) as f64) as usize];
        let got = stats["top_paths"][at]["p99_ms"].as_f64().unwrap();
        assert!((got - exact).abs() <= exact * 0.01, "{path} p99 {got}, exact {exact}");
    }

    // Places: Paris and Tokyo get their own 1° cells; private addresses none.
    let places: Vec<(String, u64)> = stats["places"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["country"].as_str().unwrap().to_string(), p["requests"].as_u64().unwrap()))
        .collect();
    assert_eq!(places, vec![("FR".to_string(), 200), ("JP".to_string(), 200)]);
    let paris = &stats["places"][0];
    assert!(
        (paris["lat"].as_f64().unwrap() - 48.5).abs() < 1.0 && (paris["lon"].as_f64().unwrap() - 2.5).abs() < 1.0,
        "{paris}"
    );

    // Two minutes as one step merge their sketches and counts.
    let (_, wide) = server.get_json(&format!("{HTTP}?{range}&step=2m")).await;
    assert_eq!(wide["steps"][0]["requests"], 400, "{wide}");
    let p50 = wide["steps"][0]["latency_ms"]["p50"].as_f64().unwrap();
    assert!((p50 - 200.0).abs() <= 2.0, "{p50}");

    // More lines later are counted at the next query.
    let late =
        json!({"ts": rfc3339(base + 179_000), "method": "GET", "path": "/late", "status": 500, "duration_ms": 1})
            .to_string();
    server.post(&format!("{LOGS}?kind=access"), "application/x-ndjson", &late).await;
    let (_, again) = server.get_json(&format!("{HTTP}?{range}&step=1m")).await;
    assert_eq!(again["total"]["requests"], 601);

    // An empty range is an answer, not an error; a bad step is named.
    let (status, empty) =
        server.get_json(&format!("{HTTP}?from={}&to={}", rfc3339(base - 86_400_000), rfc3339(base - 82_800_000))).await;
    assert_eq!(status, 200);
    assert_eq!((empty["total"]["requests"].clone(), empty["steps"].clone()), (json!(0), json!([])));
    assert_eq!(empty["total"]["latency_ms"]["p99"], Value::Null);
    let (status, error) = server.get_json(&format!("{HTTP}?{range}&step=30s")).await;
    assert_eq!(status, 400);
    assert!(error["error"].as_str().unwrap().contains("multiple of 1 min"), "{error}");
    server.server.stop().await;
}

#[tokio::test]
async fn a_line_dated_years_ahead_does_not_empty_the_statistics() {
    let server = serve().await;
    let now = rfc3339(base_ms() + 3 * 3_600_000 - 60_000);
    let lines = [
        json!({"ts": now, "method": "GET", "path": "/", "status": 200, "duration_ms": 5}).to_string(),
        json!({"ts": "2099-01-01T00:00:00Z", "method": "GET", "path": "/", "status": 200, "duration_ms": 5})
            .to_string(),
    ];
    for line in lines {
        let (status, reply) = server.post(&format!("{LOGS}?kind=access"), "application/x-ndjson", &line).await;
        assert_eq!(status, 200, "{reply}");
        server.get_json(&format!("{HTTP}?from=1h")).await; // a query between, so each line is read on its own
    }
    let (_, stats) = server.get_json(&format!("{HTTP}?from=1h")).await;
    assert_eq!(stats["total"]["requests"], 1, "{stats}");
    server.server.stop().await;
}
