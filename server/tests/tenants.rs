//! Tenants over real HTTP: every route of the OpenAPI document checks its
//! token; admin actions are audited; access logs are located; limits hold.

mod common;

use std::io::Write;

use common::{client_with, hundred_lines, serve, serve_with, TestServer, LOGS};
use serde_json::{json, Value};
use vigie_app::model::AppKind;
use vigie_server::catalog::{App, Org, Permissions};
use vigie_server::ingest::limits::IngestLimits;

/// `acme` (from [`serve`]) and a second org, `beta`, with an admin token.
async fn two_orgs() -> (TestServer, String) {
    let server = serve().await;
    let web = App { slug: "web".into(), name: "Beta web".into(), kind: AppKind::Application, runtime: "Go".into() };
    server.server.catalog.put_org(&Org { slug: "beta".into(), name: "Beta".into(), apps: vec![web] }).unwrap();
    let (_, beta) = server.server.catalog.create_token("beta", "beta admin", Permissions::ALL, "tests").unwrap();
    (server, beta)
}

/// A valid request body for each route that takes one, so that what is
/// tested is the token check and not the body's.
fn body_for(method: &str, path: &str) -> Option<(&'static str, String)> {
    let json_body = |value: Value| Some(("application/json", value.to_string()));
    match (method, path) {
        ("post", "/api/v1/orgs/{org}/apps/{app}/logs") => Some(("text/plain", "from an intruder".into())),
        ("post", "/api/v1/orgs/{org}/apps/{app}/instances/metrics") => {
            json_body(json!({"instance": "planted", "cpu_percent": 1, "memory_used_bytes": 1, "memory_limit_bytes": 2}))
        }
        ("post", "/api/v1/orgs/{org}/tokens") => json_body(json!({"name": "stolen", "permissions": "admin"})),
        ("post", "/api/v1/orgs/{org}/apps") => json_body(json!({"slug": "planted", "name": "Planted"})),
        ("post", "/api/v1/orgs/{org}/members") => json_body(json!({"login": "mallory", "role": "admin"})),
        ("post", "/api/v1/orgs/{org}/apps/{app}/drains") => {
            json_body(json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": "https://planted.example.com/"}}))
        }
        ("post", "/api/v1/orgs/{org}/drains") => json_body(
            json!({"kind": "AUDITLOG", "recipient": {"type": "raw-http", "url": "https://planted.example.com/"}}),
        ),
        ("put", "/api/v1/orgs/{org}/apps/{app}/retention") => {
            json_body(json!({"kind": "service", "max_age_secs": 60, "max_bytes": null}))
        }
        _ => None,
    }
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    body: Option<(&str, String)>,
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn operations(document: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                found.push((method.clone(), path.clone()));
            }
        }
    }
    found
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_each_behind_a_token() {
    let server = serve().await;
    let document: Value =
        reqwest::get(format!("{}/api/v1/openapi.json", server.base)).await.unwrap().json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."), "{}", document["openapi"]);
    let mut listed: Vec<String> = operations(&document).into_iter().map(|(m, p)| format!("{m} {p}")).collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "delete /api/v1/orgs/{org}/apps/{app}/drains/{id}",
            "delete /api/v1/orgs/{org}/drains/{id}",
            "delete /api/v1/orgs/{org}/tokens/{id}",
            "get /api/v1/orgs/{org}/apps",
            "get /api/v1/orgs/{org}/apps/{app}/drains",
            "get /api/v1/orgs/{org}/apps/{app}/drains/{id}",
            "get /api/v1/orgs/{org}/apps/{app}/http",
            "get /api/v1/orgs/{org}/apps/{app}/logs",
            "get /api/v1/orgs/{org}/apps/{app}/logs/context",
            "get /api/v1/orgs/{org}/apps/{app}/logs/live",
            "get /api/v1/orgs/{org}/apps/{app}/logs/stats",
            "get /api/v1/orgs/{org}/apps/{app}/logs/ws",
            "get /api/v1/orgs/{org}/apps/{app}/metrics",
            "get /api/v1/orgs/{org}/apps/{app}/metrics/{name}",
            "get /api/v1/orgs/{org}/apps/{app}/retention",
            "get /api/v1/orgs/{org}/audit",
            "get /api/v1/orgs/{org}/drains",
            "get /api/v1/orgs/{org}/drains/{id}",
            "get /api/v1/orgs/{org}/grafana",
            "get /api/v1/orgs/{org}/grafana/export",
            "get /api/v1/orgs/{org}/members",
            "get /api/v1/orgs/{org}/tokens",
            "get /prometheus/api/v1/label/{name}/values",
            "get /prometheus/api/v1/labels",
            "get /prometheus/api/v1/metadata",
            "get /prometheus/api/v1/query",
            "get /prometheus/api/v1/query_exemplars",
            "get /prometheus/api/v1/query_range",
            "get /prometheus/api/v1/series",
            "get /prometheus/api/v1/status/buildinfo",
            "post /api/v1/orgs/{org}/apps",
            "post /api/v1/orgs/{org}/apps/{app}/drains",
            "post /api/v1/orgs/{org}/apps/{app}/drains/{id}/check",
            "post /api/v1/orgs/{org}/apps/{app}/drains/{id}/disable",
            "post /api/v1/orgs/{org}/apps/{app}/drains/{id}/enable",
            "post /api/v1/orgs/{org}/apps/{app}/instances/metrics",
            "post /api/v1/orgs/{org}/apps/{app}/logs",
            "post /api/v1/orgs/{org}/apps/{app}/metrics",
            "post /api/v1/orgs/{org}/drains",
            "post /api/v1/orgs/{org}/drains/{id}/check",
            "post /api/v1/orgs/{org}/drains/{id}/disable",
            "post /api/v1/orgs/{org}/drains/{id}/enable",
            "post /api/v1/orgs/{org}/grafana/disable",
            "post /api/v1/orgs/{org}/grafana/enable",
            "post /api/v1/orgs/{org}/grafana/reset",
            "post /api/v1/orgs/{org}/members",
            "post /api/v1/orgs/{org}/tokens",
            "post /prometheus/api/v1/labels",
            "post /prometheus/api/v1/query",
            "post /prometheus/api/v1/query_exemplars",
            "post /prometheus/api/v1/query_range",
            "post /prometheus/api/v1/series",
            "put /api/v1/orgs/{org}/apps/{app}/retention",
        ]
    );
    for (method, path) in operations(&document) {
        // Prometheus clients may also send the token as basic auth's password.
        let security = if path.starts_with("/prometheus/") {
            json!([{"token": []}, {"basic": []}])
        } else {
            json!([{"token": []}])
        };
        assert_eq!(document["paths"][&path][&method]["security"], security, "{method} {path}");
    }
    assert_eq!(document["components"]["securitySchemes"]["token"]["scheme"], "bearer");
    server.server.stop().await;
}

#[tokio::test]
async fn every_route_gives_another_org_the_answer_of_a_missing_one_and_changes_nothing() {
    let (server, beta) = two_orgs().await;
    hundred_lines(&server).await;
    let (reader, _) =
        server.server.catalog.create_token("acme", "reader", Permissions::parse("read").unwrap(), "t").unwrap();
    let document: Value =
        reqwest::get(format!("{}/api/v1/openapi.json", server.base)).await.unwrap().json().await.unwrap();
    let anonymous = reqwest::Client::new();
    let intruder = client_with(&beta);
    let acme_before =
        server.get_json(&format!("{LOGS}?from=0&limit=1000")).await.1["records"].as_array().unwrap().len();

    for (method, template) in operations(&document) {
        let route = format!("{method} {template}");
        let path = |org: &str, app: &str| {
            template
                .replace("{org}", org)
                .replace("{app}", app)
                .replace("{id}", &reader.id.to_string())
                .replace("{name}", "hits")
        };
        let acme = path("acme", "api");

        let (status, text) = call(&anonymous, &server.base, &method, &acme, body_for(&method, &template)).await;
        assert_eq!(status, 401, "{route} without a token: {text}");
        assert!(text.contains("Authorization: Bearer"), "{route}: {text}");

        if template.starts_with("/prometheus/") {
            // No org in the path: the token's org is what is read, so
            // another org's token reads its own series, never acme's.
            let query = "?query=instance_cpu_percent&match[]=instance_cpu_percent&start=0&end=1e10&step=1000000";
            let (status, text) = call(&intruder, &server.base, &method, &format!("{acme}{query}"), None).await;
            assert!(status < 500 && status != 401, "{route} with beta's token: {text}");
            assert!(!text.contains("acme") && !text.contains("\"api\""), "{route}: {text}");
            continue;
        }
        let (status, text) = call(&intruder, &server.base, &method, &acme, body_for(&method, &template)).await;
        let (ghost_status, ghost_text) =
            call(&intruder, &server.base, &method, &path("ghost", "api"), body_for(&method, &template)).await;
        assert_eq!(status, 404, "{route} with another org's token: {text}");
        assert_eq!(
            (status, text.replace("acme", "ghost")),
            (ghost_status, ghost_text),
            "{route}: not yours = not there"
        );

        let (status, text) =
            call(&intruder, &server.base, &method, &path("beta", "api"), body_for(&method, &template)).await;
        if template.contains("{app}") {
            assert_eq!(status, 404, "{route}: beta has no app api: {text}");
        }
    }

    // Nothing of acme's changed: no line, token, app, member or audit record was planted.
    let records = server.get_json(&format!("{LOGS}?from=0&limit=1000")).await.1["records"].as_array().unwrap().len();
    assert_eq!(records, acme_before);
    let tokens = server.server.catalog.tokens("acme").unwrap();
    assert!(tokens.iter().all(|token| token.name != "stolen" && token.revoked_at_ns.is_none()), "{tokens:?}");
    assert!(server.server.catalog.app("acme", "planted").unwrap().is_none());
    assert!(server.server.catalog.members("acme").unwrap().is_empty());
    let (_, audit) = server.get_json("/api/v1/orgs/acme/audit").await;
    assert_eq!(audit["records"], json!([]), "{audit}");
    let (_, metrics) = server.get_json("/api/v1/orgs/acme/apps/api/metrics").await;
    assert_eq!(metrics["metrics"], json!([]), "no instance report planted: {metrics}");
    let catalog = &server.server.catalog;
    assert!(
        catalog.drains("acme", None).unwrap().is_empty() && catalog.drains("acme", Some("api")).unwrap().is_empty()
    );
    let (_, retention) = server.get_json("/api/v1/orgs/acme/apps/api/retention").await;
    assert_eq!(retention[0]["max_age_secs"], json!(30 * 86_400), "{retention}");
    server.server.stop().await;
}

#[tokio::test]
async fn a_token_without_the_permission_gets_a_403_that_names_it() {
    let server = serve().await;
    let (_, read) =
        server.server.catalog.create_token("acme", "dashboards", Permissions::parse("read").unwrap(), "t").unwrap();
    let (_, ingest) =
        server.server.catalog.create_token("acme", "shipper", Permissions::parse("ingest").unwrap(), "t").unwrap();
    let (read, ingest) = (client_with(&read), client_with(&ingest));

    let (status, text) = call(&read, &server.base, "post", LOGS, Some(("text/plain", "hello".into()))).await;
    assert_eq!(status, 403);
    assert!(text.contains("the token \\\"dashboards\\\" may read but not ingest"), "{text}");
    let (status, _) = call(&ingest, &server.base, "post", LOGS, Some(("text/plain", "hello".into()))).await;
    assert_eq!(status, 200);
    let (status, _) = call(&read, &server.base, "get", LOGS, None).await;
    assert_eq!(status, 200);
    let (status, text) = call(&ingest, &server.base, "get", LOGS, None).await;
    assert_eq!(status, 403, "{text}");
    let (status, text) = call(&read, &server.base, "get", "/api/v1/orgs/acme/tokens", None).await;
    assert_eq!(status, 403);
    assert!(text.contains("not admin"), "{text}");
    server.server.stop().await;
}

#[tokio::test]
async fn admin_actions_land_in_the_audit_log_with_who_what_where_before_and_after() {
    let server = serve().await;
    let post = |path: &'static str, body: Value| {
        let request = server.http.post(format!("{}{path}", server.base)).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, created) = post("/api/v1/orgs/acme/tokens", json!({"name": "ci", "permissions": "ingest"})).await;
    assert_eq!(status, 201, "{created}");
    let id = created["token"]["id"].as_i64().unwrap();
    let response = server.http.delete(format!("{}/api/v1/orgs/acme/tokens/{id}", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = server
        .http
        .put(format!("{}/api/v1/orgs/acme/apps/api/retention", server.base))
        .json(&json!({"kind": "access", "max_age_secs": 86_400, "max_bytes": 1_000_000_000u64}))
        .send()
        .await
        .unwrap();
    let retention: Value = response.json().await.unwrap();
    assert_eq!((retention["kind"].as_str(), retention["max_age_secs"].as_u64()), (Some("access"), Some(86_400)));
    let (status, added) = post("/api/v1/orgs/acme/members", json!({"login": "ada", "name": "Ada"})).await;
    assert_eq!(status, 201);
    assert_eq!(added["password"].as_str().unwrap().len(), 20, "a new user gets a first password: {added}");
    let (status, _) =
        post("/api/v1/orgs/acme/apps", json!({"slug": "worker", "name": "Worker", "runtime": "Python"})).await;
    assert_eq!(status, 201);
    let (status, again) = post("/api/v1/orgs/acme/apps", json!({"slug": "worker", "name": "Worker"})).await;
    assert_eq!(status, 409, "{again}");

    let (_, audit) = server.get_json("/api/v1/orgs/acme/audit?order=asc").await;
    let records = audit["records"].as_array().unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["token.created", "token.revoked", "retention.changed", "member.added", "app.created"]);
    for record in records {
        assert_eq!(record["actor"].as_str().unwrap(), "token 2 \"tests\"", "{record}");
        assert_eq!(record["ip"], "127.0.0.1");
        assert!(record["ts_ns"].as_i64().unwrap() > 0);
    }
    assert_eq!(records[1]["before"]["revoked_at_ns"], Value::Null);
    assert!(records[1]["after"]["revoked_at_ns"].as_i64().is_some(), "{}", records[1]);
    assert_eq!(records[2]["target"], "app api access logs");
    assert_eq!(records[2]["before"]["max_age_secs"], json!(30 * 86_400));
    assert_eq!(records[2]["after"], json!({"max_age_secs": 86_400, "max_bytes": 1_000_000_000u64}));
    let text = server.http.get(format!("{}/api/v1/orgs/acme/audit?format=text&q=action:token.*", server.base));
    let text = text.send().await.unwrap().text().await.unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("token 2 \"tests\" token.revoked token "), "{text}");
    server.server.stop().await;
}

#[tokio::test]
async fn access_logs_in_combined_log_format_and_ndjson_are_stored_with_the_clients_place() {
    let server = serve().await;
    let clf = concat!(
        "2.3.4.5 - - [25/Nov/2026:10:00:00 +0000] \"GET /v1/orders?page=2 HTTP/1.1\" 200 512 \"-\" \"curl/8.5\" 0.012\n",
        "10.0.0.7 - - [25/Nov/2026:10:00:01 +0000] \"POST /v1/pay HTTP/1.1\" 502 0 \"-\" \"k6\"\n",
        "garbage\n",
    );
    let (status, reply) = server.post(&format!("{LOGS}?kind=access&host=shop.example"), "text/plain", clf).await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["accepted"], 2);
    assert_eq!(reply["rejected"][0]["line"], 3);
    let ndjson = r#"{"ts":"2026-11-25T10:00:02Z","method":"GET","path":"/","status":404,"client_ip":"126.1.2.3","duration_ms":3.5}"#;
    let (status, reply) = server.post(&format!("{LOGS}?kind=access"), "application/x-ndjson", ndjson).await;
    assert_eq!(status, 200, "{reply}");

    let (_, page) = server.get_json(&format!("{LOGS}?kind=access&order=asc")).await;
    let records = page["records"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{page}");
    let paris = &records[0];
    assert_eq!((paris["country"].as_str(), paris["city"].as_str()), (Some("FR"), Some("Paris")), "{paris}");
    assert_eq!(
        (paris["path"].as_str(), paris["query"].as_str(), paris["host"].as_str()),
        (Some("/v1/orders"), Some("page=2"), Some("shop.example"))
    );
    assert_eq!((paris["status"].as_u64(), paris["duration_ms"].as_f64()), (Some(200), Some(12.0)));
    assert!(paris["lat"].as_f64().is_some() && paris["lon"].as_f64().is_some());
    assert!(records[1].get("country").is_none(), "a private address has no place: {}", records[1]);
    assert_eq!(records[2]["country"], "JP");

    let (_, found) = server.get_json(&format!("{LOGS}?kind=access&q=country:JP")).await;
    assert_eq!(found["records"].as_array().unwrap().len(), 1, "{found}");
    let (_, found) = server.get_json(&format!("{LOGS}?kind=access&q=status:5xx")).await;
    assert_eq!(found["records"][0]["path"], "/v1/pay");
    let (status, reply) = server.get_json(&format!("{LOGS}?kind=audit")).await;
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().unwrap().contains("/api/v1/orgs/acme/audit"), "{reply}");
    server.server.stop().await;
}

#[tokio::test]
async fn gzip_bodies_are_read_and_limits_refuse_whole_batches_that_can_be_sent_again() {
    let server = serve_with(|config| {
        config.ingest = IngestLimits { lines_per_sec: 100.0, batch_lines: 80, ..Default::default() }
    })
    .await;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for n in 0..50 {
        writeln!(gzip, "{{\"message\":\"zipped {n}\"}}").unwrap();
    }
    let response = server
        .http
        .post(format!("{}{LOGS}", server.base))
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(gzip.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["accepted"], 50);

    let lines = |n: usize| (0..n).map(|i| format!("line {i}\n")).collect::<String>();
    let (status, reply) = server.post(LOGS, "text/plain", &lines(81)).await;
    assert_eq!(status, 413);
    assert!(reply["error"].as_str().unwrap().contains("81 lines; the limit is 80"), "{reply}");

    // 50 taken of a bucket of 100: 60 more is over the rate, refused whole.
    let response = server
        .http
        .post(format!("{}{LOGS}", server.base))
        .header("content-type", "text/plain")
        .body(lines(60))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let reply: Value = response.json().await.unwrap();
    assert!(reply["error"].as_str().unwrap().contains("nothing of this batch was stored"), "{reply}");
    let (_, page) = server.get_json(&format!("{LOGS}?from=0&limit=1000")).await;
    assert_eq!(page["records"].as_array().unwrap().len(), 50);

    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    let (status, reply) = server.post(LOGS, "text/plain", &lines(60)).await;
    assert_eq!(status, 200, "sent again after retry-after, it is taken: {reply}");
    server.server.stop().await;
}
