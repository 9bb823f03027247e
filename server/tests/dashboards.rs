//! The console's metrics page over HTTP, as a signed-in browser reads it:
//! its tables say exactly what the Stats API answers for the same series
//! and range, and user text pushed over statsd reaches the page escaped.
//! (The same page in a real browser: end2end/tests/dashboards.test.mjs.)

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{serve_with, TestServer};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{json, Value};
use vigie_server::catalog::Role;
use vigie_server::StatsdConfig;

const PASSWORD: &str = "ana's long password";
const METRICS: &str = "/api/v1/orgs/acme/apps/api/metrics";
const PAGE: &str = "/orgs/acme/apps/api/metrics";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// A server reading statsd (1 s intervals), with `ana` a member of `acme`.
async fn server() -> TestServer {
    let server = serve_with(|config| {
        let mut statsd = StatsdConfig::on("127.0.0.1:0".parse().unwrap());
        statsd.flush_interval = Duration::from_secs(1);
        config.statsd = Some(statsd);
    })
    .await;
    server.server.catalog.create_user("ana", "Ana Lima", PASSWORD).unwrap();
    server.server.catalog.add_member("acme", "ana", Role::Member).unwrap();
    server
}

fn browser() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("sec-fetch-site", reqwest::header::HeaderValue::from_static("same-origin"));
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).default_headers(headers).build().unwrap()
}

/// Signs in as ana and returns the `Cookie` header to send.
async fn session_cookie(server: &TestServer) -> String {
    let response = browser()
        .post(format!("{}/signin", server.base))
        .form(&[("login", "ana"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string()
}

async fn page(server: &TestServer, cookie: &str, query: &str) -> String {
    let response = browser().get(format!("{}{PAGE}?{query}", server.base)).header(COOKIE, cookie).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Two instances' reports, 10 s apart over the last 10 minutes.
async fn report_instances(server: &TestServer) {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let start = now_ms - 600_000;
    let reports: Vec<Value> = (0..60)
        .flat_map(|i| {
            ["api-1", "api-2"].into_iter().enumerate().map(move |(n, instance)| {
                json!({"instance": instance, "ts_ms": start + i * 10_000, "cpu_percent": 10.0 + (i % 7) as f64 * 3.5 + n as f64,
                       "memory_used_bytes": 4.0e8 + (i * 1_000_003) as f64, "memory_limit_bytes": 1_073_741_824u64,
                       "net_in_bytes": 9_000 + i * 17, "net_out_bytes": 140_000 - i * 31,
                       "disk_read_bytes": i % 3 * 4096, "disk_write_bytes": 16_384})
            })
        })
        .collect();
    let (status, reply) = server
        .post("/api/v1/orgs/acme/apps/api/instances/metrics", "application/json", &json!(reports).to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
}

/// A row of a chart's table: its step's start in ms, and per column the exact value and the text shown.
type Row = (i64, Vec<(String, String)>);

/// A chart's table, read from the page: its columns and rows.
fn table(html: &str, chart: &str) -> (Vec<String>, Vec<Row>) {
    let start = html.find(&format!("data-chart=\"{chart}\"")).unwrap_or_else(|| panic!("no chart {chart}"));
    let section = &html[start..start + html[start..].find("</section>").unwrap()];
    let head = &section[section.find("<thead>").unwrap()..section.find("</thead>").unwrap()];
    let columns: Vec<String> =
        head.split("<th scope=\"col\">").skip(2).map(|cell| cell[..cell.find('<').unwrap()].to_string()).collect();
    let rows = section
        .split("<tr data-ts-ms=\"")
        .skip(1)
        .map(|row| {
            let ts: i64 = row[..row.find('"').unwrap()].parse().unwrap();
            let cells = row
                .split("data-value=\"")
                .skip(1)
                .map(|cell| {
                    let value = cell[..cell.find('"').unwrap()].to_string();
                    let text_start = cell.find('>').unwrap() + 1;
                    let text = cell[text_start..text_start + cell[text_start..].find('<').unwrap()].to_string();
                    (value, text)
                })
                .collect();
            (ts, cells)
        })
        .collect();
    (columns, rows)
}

/// Each table cell equals the API's point of its column and step, and is shown rounded from it.
fn assert_table_is_the_answer(html: &str, chart: &str, answer: &Value, tag: &str, divisor: f64) {
    let (columns, rows) = table(html, chart);
    let series = answer["series"].as_array().unwrap();
    assert_eq!(columns.len(), series.len(), "{chart}: {columns:?} against {answer}");
    let mut compared = 0;
    for (column, line) in columns.iter().zip(series) {
        assert_eq!(column, &escape(line["tags"][tag].as_str().unwrap()), "{chart}: columns in the API's order");
        let column_at = columns.iter().position(|c| c == column).unwrap();
        let points = line["points"].as_array().unwrap();
        assert_eq!(
            rows.iter().filter(|(_, cells)| !cells[column_at].0.is_empty()).count(),
            points.len(),
            "{chart} {column}"
        );
        for point in points {
            let (ts, value) = (point[0].as_i64().unwrap(), point[1].as_f64().unwrap());
            let (_, cells) =
                rows.iter().find(|(row_ts, _)| *row_ts == ts).unwrap_or_else(|| panic!("{chart}: no row {ts}"));
            let (exact, shown) = &cells[column_at];
            assert_eq!(exact.parse::<f64>().unwrap(), value, "{chart} {column} at {ts}");
            let shown: f64 = shown.parse().unwrap();
            assert!(
                (shown - value / divisor).abs() <= 0.05_f64.max(value.abs() / divisor * 1e-3),
                "{chart}: {shown} for {value}"
            );
            compared += 1;
        }
    }
    assert!(compared > 0, "{chart}: nothing compared");
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[tokio::test]
async fn the_metrics_page_tables_equal_the_stats_api_answers_for_the_same_range() {
    let server = server().await;
    report_instances(&server).await;
    let cookie = session_cookie(&server).await;
    let html = page(&server, &cookie, "range=1h").await;
    for (chart, aggregation, divisor) in [
        ("instance.cpu_percent", "avg", 1.0),
        ("instance.memory_used_bytes", "avg", 1e6),
        ("instance.net_out_bytes", "rate", 1e3),
        ("instance.disk_read_bytes", "rate", 1e3),
    ] {
        let (status, answer) =
            server.get_json(&format!("{METRICS}/{chart}?from=1h&aggregation={aggregation}&group_by=instance")).await;
        assert_eq!(status, 200, "{answer}");
        if chart == "instance.memory_used_bytes" {
            // The memory chart shows each instance's limit beside its use.
            let (columns, _) = table(&html, chart);
            assert_eq!(columns, ["api-1", "api-1 limit", "api-2", "api-2 limit"]);
            continue;
        }
        assert_table_is_the_answer(&html, chart, &answer, "instance", divisor);
    }
    assert!(html.contains("aria-label=\"CPU % (100 = one core) per instance, last 1 h: api-1 max "), "{html}");
}

#[tokio::test]
async fn a_custom_metric_is_charted_by_its_aggregation_and_tag_and_its_tag_values_are_escaped() {
    let server = server().await;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let token = &server.token;
    for (route, count) in [("/pay", 3), (HOSTILE, 2)] {
        for _ in 0..count {
            let line = format!("shop.orders:1|c|#vigie_app:api,vigie_token:{token},route:{route}");
            socket.send_to(line.as_bytes(), server.server.statsd.unwrap()).unwrap();
        }
    }
    // Until a flush has put the points in the read model.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, answer) = server.get_json(&format!("{METRICS}/shop.orders?from=1h&step=2h&aggregation=sum")).await;
        let total: f64 = answer["series"][0]["points"]
            .as_array()
            .map_or(0.0, |points| points.iter().map(|p| p[1].as_f64().unwrap()).sum());
        if total == 5.0 {
            break;
        }
        assert!(Instant::now() < deadline, "the 5 orders never reached the read model: {answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cookie = session_cookie(&server).await;

    let listing = page(&server, &cookie, "range=1h").await;
    assert!(listing.contains("No server metrics yet"), "an app without instance reports says so");
    assert!(listing.contains(r#"href="/orgs/acme/apps/api/metrics?range=1h&amp;metric=shop.orders""#), "{listing}");

    let html = page(&server, &cookie, "range=1h&metric=shop.orders&aggregation=sum&group_by=route").await;
    let (status, answer) =
        server.get_json(&format!("{METRICS}/shop.orders?from=1h&aggregation=sum&group_by=route")).await;
    assert_eq!(status, 200, "{answer}");
    assert_table_is_the_answer(&html, "shop.orders", &answer, "route", 1.0);
    // A counter answers sum and rate only: those are the choices.
    assert!(html.contains(r#"class="choice active">sum<"#), "{html}");
    assert!(html.contains(r#"class="choice">rate<"#) && !html.contains(">p99<"), "{html}");

    // The hostile tag value is text everywhere: legend, table, accessible name, serialised state.
    assert!(!html.to_lowercase().contains("<img"), "an element was injected");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "the value is shown, escaped");

    let wrong = page(&server, &cookie, "range=1h&metric=shop.orders&aggregation=p99").await;
    assert!(wrong.contains("aggregation: a counter gives sum, rate, not \"p99\""), "{wrong}");
    let wrong = page(&server, &cookie, "range=2h").await;
    assert!(wrong.contains("range: \"2h\" is none of 1h, 6h, 24h, 7d, 30d"), "{wrong}");
}

#[tokio::test]
async fn the_http_page_counts_what_the_stats_api_counts_and_links_each_class_and_path_to_its_access_logs() {
    let server = server().await;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    // 600 requests over the last 10 minutes: /a, /a, /b, and a hostile path; every tenth a 503, every seventh a 404.
    let lines: Vec<String> = (0..600)
        .map(|i: i64| {
            let path = ["/a", "/a", "/b", "/<img src=x onerror=alert(1)>"][i as usize % 4];
            let status = if i % 10 == 0 {
                503
            } else if i % 7 == 0 {
                404
            } else {
                200
            };
            json!({"ts": common::rfc3339(now_ms - 600_000 + i * 1_000), "method": "GET", "path": path, "status": status,
                   "duration_ms": (i % 50 + 1) as f64, "bytes_sent": 1_000 + i, "client_ip": "10.0.0.7"})
            .to_string()
        })
        .collect();
    let (status, reply) =
        server.post("/api/v1/orgs/acme/apps/api/logs?kind=access", "application/x-ndjson", &lines.join("\n")).await;
    assert_eq!(status, 200, "{reply}");
    let cookie = session_cookie(&server).await;
    let response = browser()
        .get(format!("{}/orgs/acme/apps/api/http?range=1h", server.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    let (status, stats) = server.get_json("/api/v1/orgs/acme/apps/api/http?from=1h&top=20").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["total"]["requests"], 600);

    // The requests chart's table: each class's requests per second, as the API's steps say.
    let (columns, rows) = table(&html, "http.requests");
    assert_eq!(columns, ["2xx", "3xx", "4xx", "5xx"]);
    let steps = stats["steps"].as_array().unwrap();
    assert_eq!(rows.len(), steps.len());
    let step_s = stats["step_ms"].as_f64().unwrap() / 1_000.0;
    for step in steps {
        let (_, cells) = rows.iter().find(|(ts, _)| *ts == step["ts_ms"].as_i64().unwrap()).unwrap();
        for (cell, class) in cells.iter().zip(["2xx", "3xx", "4xx", "5xx"]) {
            assert_eq!(cell.0.parse::<f64>().unwrap(), step["status"][class].as_f64().unwrap() / step_s, "{class}");
        }
    }
    let (_, rows) = table(&html, "http.latency");
    for step in steps {
        let (_, cells) = rows.iter().find(|(ts, _)| *ts == step["ts_ms"].as_i64().unwrap()).unwrap();
        assert_eq!(cells[2].0.parse::<f64>().unwrap(), step["latency_ms"]["p99"].as_f64().unwrap());
    }

    // Status classes and paths link to the access logs filtered by them, over the same range.
    let fives = stats["total"]["status"]["5xx"].as_u64().unwrap();
    assert_eq!(fives, 60);
    assert!(
        html.contains(
            r#"href="/orgs/acme/apps/api/logs?kind=access&amp;q=status%3A5xx&amp;since=1h" data-status="5xx">5xx"#
        ),
        "{html}"
    );
    assert!(
        html.contains(r#"href="/orgs/acme/apps/api/logs?kind=access&amp;q=path%3A%22%2Fa%22&amp;since=1h">/a<"#),
        "{html}"
    );
    let top = &stats["top_paths"][0];
    assert_eq!((top["path"].as_str(), top["requests"].as_u64()), (Some("/a"), Some(300)));
    let rate = top["server_errors"].as_f64().unwrap() * 100.0 / 300.0;
    assert!(html.contains(&format!("{rate:.1} %")), "the 5xx rate of /a: {rate}");
    assert!(!html.to_lowercase().contains("<img"), "a path is text, never an element");
    assert!(html.contains("/&lt;img src=x onerror=alert(1)&gt;"));

    let wrong = browser()
        .get(format!("{}/orgs/acme/apps/api/http?range=7d", server.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(wrong.contains("range: \"7d\" is none of 1h, 6h, 24h, 2d (HTTP statistics are kept 2 days)"), "{wrong}");
}

async fn get_page(server: &TestServer, cookie: &str, path: &str) -> String {
    let response = browser().get(format!("{}{path}", server.base)).header(COOKIE, cookie).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    // Without the markers hydration places between texts.
    response.text().await.unwrap().replace("<!>", "")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A City database (MaxMind DB) placing 2.0.0.0/16 in Paris, 3.0.0.0/16
/// in New York and 1.120.0.0/16 in Sydney, with a country code there a
/// hostile database wrote.
fn hostile_geoip_database(dir: &std::path::Path) -> std::path::PathBuf {
    use maxminddb_writer::paths::IpAddrWithMask;
    let mut db = maxminddb_writer::Database::default();
    db.metadata.database_type = "Test-City".into();
    db.metadata.languages = vec!["en".into()];
    db.metadata.binary_format_major_version = 2;
    for (first, second, country, lat, lon) in
        [(2u8, 0u8, "FR", 48.85, 2.35), (3, 0, "US", 40.71, -74.0), (1, 120, HOSTILE, -33.9, 151.2)]
    {
        let record = json!({"country": {"iso_code": country}, "location": {"latitude": lat, "longitude": lon}});
        let data = db.insert_value(record).unwrap();
        db.insert_node(IpAddrWithMask::new(std::net::IpAddr::from([first, second, 0, 0]), 16), data);
    }
    let path = dir.join("city.mmdb");
    std::fs::write(&path, db.write_to(Vec::new()).unwrap()).unwrap();
    path
}

/// As [`server`], locating clients with [`hostile_geoip_database`].
async fn server_with_places() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let database = hostile_geoip_database(dir.path());
    let server = serve_with(move |config| {
        config.geoip = vigie_server::GeoIpSource::File(database);
    })
    .await;
    server.server.catalog.create_user("ana", "Ana Lima", PASSWORD).unwrap();
    server.server.catalog.add_member("acme", "ana", Role::Member).unwrap();
    (server, dir)
}

/// 600 requests over the last 10 minutes from the three places (half from
/// Paris); every tenth a 503.
async fn post_placed_requests(server: &TestServer) {
    let now_ms = now_ms();
    let clients = ["2.0.1.1", "2.0.9.9", "2.0.3.3", "3.0.1.1", "3.0.2.2", "1.120.4.4"];
    let lines: Vec<String> = (0..600)
        .map(|i: i64| {
            json!({"ts": common::rfc3339(now_ms - 600_000 + i * 1_000), "method": "GET", "path": "/a",
                   "status": if i % 10 == 0 { 503 } else { 200 }, "duration_ms": (i % 50 + 1) as f64,
                   "bytes_sent": 1_000, "client_ip": clients[i as usize % clients.len()]})
            .to_string()
        })
        .collect();
    let (status, reply) =
        server.post("/api/v1/orgs/acme/apps/api/logs?kind=access", "application/x-ndjson", &lines.join("\n")).await;
    assert_eq!(status, 200, "{reply}");
}

/// The map's cells as the page draws them: country, lat, lon, requests.
fn map_cells(html: &str) -> Vec<(String, f64, f64, u64)> {
    html.split("<a href=\"/orgs/acme/apps/api/logs?kind=access&amp;q=country")
        .skip(1)
        .map(|cell| &cell[..cell.find('>').unwrap()])
        .filter(|cell| cell.contains("data-lat="))
        .map(|cell| {
            let attr = |name: &str| {
                let start = cell.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                cell[start..start + cell[start..].find('"').unwrap()].to_string()
            };
            (
                attr("data-country"),
                attr("data-lat").parse().unwrap(),
                attr("data-lon").parse().unwrap(),
                attr("data-requests").parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_overview_and_the_map_count_what_the_stats_api_counts_and_escape_what_producers_wrote() {
    let (server, _dir) = server_with_places().await;
    post_placed_requests(&server).await;
    report_instances(&server).await;
    let errors = [
        json!({"level": "error", "message": format!("payment failed {HOSTILE}"), "instance": "api-1"}),
        json!({"level": "info", "message": "all good", "instance": "api-1"}),
        json!({"level": "fatal", "message": "out of memory\nat main.rs:1", "instance": "api-2"}),
    ];
    let body: Vec<String> = errors.iter().map(Value::to_string).collect();
    let (status, reply) =
        server.post("/api/v1/orgs/acme/apps/api/logs", "application/x-ndjson", &body.join("\n")).await;
    assert_eq!(status, 200, "{reply}");
    let cookie = session_cookie(&server).await;

    let html = get_page(&server, &cookie, "/orgs/acme/apps/api").await;
    let (status, day) = server.get_json("/api/v1/orgs/acme/apps/api/http?from=24h&step=1h&top=5").await;
    assert_eq!(status, 200, "{day}");
    assert_eq!(day["total"]["requests"], 600);
    assert!(html.contains(r#"data-testid="total-requests" class="big-number">600<"#), "{html}");
    assert!(html.contains(r#"href="/orgs/acme/apps/api/logs?kind=access&amp;q=status%3A5xx&amp;since=24h" data-key="5xx" data-kind="status">5xx</a> <span class="mono">60<"#), "{html}");
    for percentile in ["p50", "p95", "p99"] {
        let ms = day["total"]["latency_ms"][percentile].as_f64().unwrap();
        let shown = if ms >= 100.0 { format!("{ms:.1}") } else { format!("{ms:.2}") };
        assert!(
            html.contains(&format!(
                r#"data-key="{percentile}" data-kind="percentile">{percentile}</a> <span class="mono">{shown} ms<"#
            )),
            "{percentile} {shown}"
        );
    }
    // The requests per hour: its table is the API's hourly steps.
    let (columns, rows) = table(&html, "http.requests");
    assert_eq!(columns, ["2xx", "3xx", "4xx", "5xx"]);
    let steps = day["steps"].as_array().unwrap();
    assert_eq!(rows.len(), steps.len());
    for step in steps {
        let (_, cells) = rows.iter().find(|(ts, _)| *ts == step["ts_ms"].as_i64().unwrap()).unwrap();
        assert_eq!(cells[3].0.parse::<f64>().unwrap(), step["status"]["5xx"].as_f64().unwrap() / 3_600.0);
    }
    assert!(
        html.contains("data-chart=\"instance.cpu_percent\"")
            && html.contains("data-chart=\"instance.memory_used_bytes\"")
    );
    // The error lines of the last hour, newest first, each a link to its instance's logs at its time.
    assert!(html.contains(r#"data-testid="error-count" class="muted">2<"#), "{html}");
    let fatal = html.find("out of memory").expect("the fatal line");
    let error = html.find("payment failed &lt;img src=x onerror=alert(1)&gt;").expect("the error line, escaped");
    assert!(fatal < error, "newest first");
    assert!(!html.contains("all good"));
    assert!(html.contains("href=\"/orgs/acme/apps/api/logs?q=instance%3A%22api-2%22&amp;since=20"), "{html}");

    // The small map, and the map page: every cell is a place the API counts, escaped.
    let places = day["places"].as_array().unwrap();
    assert_eq!(places.len(), 3);
    for html in [html, get_page(&server, &cookie, "/orgs/acme/apps/api/map").await] {
        let cells = map_cells(&html);
        assert_eq!(cells.len(), 3, "{html}");
        for place in places {
            let country = escape(place["country"].as_str().unwrap()).replace('"', "&quot;");
            let found = cells.iter().find(|cell| cell.0 == country).unwrap_or_else(|| panic!("{country} in {cells:?}"));
            assert_eq!(
                (found.1, found.2, found.3),
                (place["lat"].as_f64().unwrap(), place["lon"].as_f64().unwrap(), place["requests"].as_u64().unwrap())
            );
        }
        assert!(!html.to_lowercase().contains("<img"), "a country is text, never an element");
        assert!(html.contains(
            r#"href="/orgs/acme/apps/api/logs?kind=access&amp;q=country%3AFR&amp;since=24h" data-country="FR""#
        ));
        // Each country with requests is an outline of its own, its total as
        // its tooltip, a link to its access logs; a code no outline knows
        // (the hostile one) draws none.
        let mut totals: Vec<(String, u64)> = Vec::new();
        for place in places {
            let (country, requests) = (place["country"].as_str().unwrap(), place["requests"].as_u64().unwrap());
            match totals.iter_mut().find(|(known, _)| known == country) {
                Some((_, total)) => *total += requests,
                None => totals.push((country.to_string(), requests)),
            }
        }
        let outlined: Vec<&(String, u64)> = totals
            .iter()
            .filter(|(country, _)| country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase()))
            .collect();
        assert!(!outlined.is_empty() && outlined.len() < totals.len(), "{totals:?}");
        assert_eq!(html.matches("class=\"map-country-link\"").count(), outlined.len());
        for (country, total) in outlined {
            assert!(
                html.contains(&format!(
                    r#"&amp;q=country%3A{country}&amp;since=24h" class="map-country-link" data-country="{country}"><title>{country}: {total} requests</title><path class="map-country" d="M"#
                )),
                "{country}"
            );
        }
    }
    let wrong = get_page(&server, &cookie, "/orgs/acme/apps/api/map?mode=yesterday").await;
    assert!(wrong.contains("mode: \"yesterday\" is none of 24h, realtime"), "{wrong}");

    // The org page: the app's card sums up its day.
    let org = get_page(&server, &cookie, "/orgs/acme").await;
    assert!(org.contains("aria-label=\"600 requests, 60 errors (5xx) in the last 24 h\""), "{org}");
}

#[tokio::test]
async fn a_custom_range_draws_that_range_and_says_what_is_wrong_with_a_bad_one() {
    let server = server().await;
    report_instances(&server).await;
    let cookie = session_cookie(&server).await;
    let to_ms = now_ms().div_euclid(60_000) * 60_000;
    let from_ms = to_ms - 300_000;
    let query = format!("from={}&to={}", common::rfc3339(from_ms), common::rfc3339(to_ms));
    let html = page(&server, &cookie, &query).await;
    assert!(html.contains(r#"data-testid="custom-range""#), "{html}");
    let (status, answer) =
        server.get_json(&format!("{METRICS}/instance.cpu_percent?{query}&aggregation=avg&group_by=instance")).await;
    assert_eq!(status, 200, "{answer}");
    assert_table_is_the_answer(&html, "instance.cpu_percent", &answer, "instance", 1.0);
    let (_, rows) = table(&html, "instance.cpu_percent");
    assert!(rows.iter().all(|(ts, _)| (from_ms - 60_000..to_ms).contains(ts)), "only the range asked");

    for (query, problem) in [
        ("from=yesterday", "from: \"yesterday\" is not an RFC 3339 time such as 2026-11-25T14:00:00Z"),
        (
            "from=2026-11-25T14:00:00Z&to=2026-11-25T13:00:00Z",
            "from: the range must be at least a minute long, from before to",
        ),
        ("from=2026-01-01T00:00:00Z&to=2026-11-25T13:00:00Z", "from: a range is at most 31 days long"),
    ] {
        let html = get_page(&server, &cookie, &format!("{PAGE}?{query}")).await;
        assert!(
            html.contains(&format!("data-testid=\"problem\" class=\"dashboard-problem\">{problem}<")),
            "{query}: {html}"
        );
    }
}
