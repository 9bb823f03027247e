//! Drains end to end over the API, against a local HTTP recipient
//! (`common::receiver`) that checks the raw-http format and answers as
//! scripted: delivery of every line, start times, a recipient down then
//! back, 429 with Retry-After, 5xx and slow answers, disabling after
//! failing too long and resuming from the cursor, retention gaps, the org's
//! audit-log drain, scopes and permissions.

mod common;

use std::time::{Duration, Instant};

use common::receiver::{Answer, Received, Receiver};
use common::{serve_with, TestServer, LOGS};
use serde_json::{json, Value};
use vigie_server::catalog::Permissions;
use vigie_server::drains::DrainSettings;

const DRAINS: &str = "/api/v1/orgs/acme/apps/api/drains";

fn quick_settings() -> DrainSettings {
    DrainSettings {
        allow_private_targets: true,
        batch_wait: Duration::from_millis(50),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        disable_after: Duration::from_secs(60),
        request_timeout: Duration::from_secs(1),
        batch_max_lines: 100,
        ..DrainSettings::default()
    }
}

async fn serve_drains(settings: DrainSettings) -> TestServer {
    serve_with(|config| config.drains = settings).await
}

/// Service lines `message #N` for N in `range`, ingested in one request.
async fn ingest(server: &TestServer, range: std::ops::Range<usize>) {
    let body: String = range.map(|n| format!("{{\"level\":\"info\",\"message\":\"line #{n}\"}}\n")).collect();
    let (status, reply) = server.post(LOGS, "application/x-ndjson", &body).await;
    assert_eq!(status, 200, "{reply}");
}

async fn create(server: &TestServer, path: &str, body: Value) -> Value {
    let (status, drain) = server.post(path, "application/json", &body.to_string()).await;
    assert_eq!(status, 201, "{drain}");
    drain
}

/// Every NDJSON record the recipient received and acknowledged, in order.
fn records(requests: &[Received]) -> Vec<Value> {
    requests
        .iter()
        .filter(|request| request.method == "POST" && request.answered < 300)
        .flat_map(|request| {
            request.text().lines().map(|line| serde_json::from_str(line).unwrap()).collect::<Vec<Value>>()
        })
        .collect()
}

fn offsets(requests: &[Received]) -> Vec<u64> {
    records(requests).iter().map(|record| record["offset"].as_u64().unwrap()).collect()
}

/// True once every offset below `n` was received.
fn has_all(requests: &[Received], n: u64) -> bool {
    let mut seen = offsets(requests);
    seen.sort_unstable();
    seen.dedup();
    seen.len() as u64 >= n && seen.iter().copied().eq(0..seen.len() as u64)
}

async fn drain_state(server: &TestServer, path: &str) -> Value {
    let (status, drain) = server.get_json(path).await;
    assert_eq!(status, 200, "{drain}");
    drain
}

async fn wait_drain(server: &TestServer, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let drain = drain_state(server, path).await;
        if done(&drain) {
            return drain;
        }
        assert!(Instant::now() < deadline, "waited for {what}: {drain}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn audit_actions(server: &TestServer) -> Vec<Value> {
    let (status, audit) = server.get_json("/api/v1/orgs/acme/audit?limit=1000").await;
    assert_eq!(status, 200, "{audit}");
    audit["records"].as_array().cloned().unwrap_or_else(|| audit.as_array().cloned().unwrap_or_default())
}

#[tokio::test]
async fn a_raw_http_drain_delivers_every_line_once_as_gzip_ndjson_with_basic_auth() {
    let server = serve_drains(quick_settings()).await;
    ingest(&server, 0..5).await; // before the drain: not sent (it starts now)
    let receiver = Receiver::start().await;
    let drain = create(
        &server,
        DRAINS,
        json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": receiver.url("/in"), "username": "vigie", "password": "s3cret"}}),
    )
    .await;
    assert_eq!(drain["status"], "ENABLED");
    assert_eq!(drain["recipient"]["password"], "********", "a secret is never shown back: {drain}");
    assert_eq!(drain["cursor"], 5);
    ingest(&server, 5..255).await;
    let requests = receiver.wait_for(Duration::from_secs(20), "250 lines", |r| offsets(r).len() >= 250).await;
    let got = records(&requests);
    assert_eq!(got.len(), 250, "each line once");
    for (n, record) in got.iter().enumerate() {
        assert_eq!(record["offset"], 5 + n as u64);
        assert_eq!(record["message"], format!("line #{}", 5 + n));
        assert_eq!(record["app"], "api");
        assert_eq!(record["kind"], "LOG");
        assert_eq!(record["level"], "info");
        assert!(record["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    for request in &requests {
        assert_eq!(request.path, "/in");
        assert_eq!(request.header("content-type"), "application/x-ndjson");
        assert_eq!(request.header("content-encoding"), "gzip");
        // "vigie:s3cret" in base64.
        assert_eq!(request.header("authorization"), "Basic dmlnaWU6czNjcmV0");
        assert!(request.text().lines().count() <= 100, "batches keep the batch limit");
    }
    let id = drain["id"].as_i64().unwrap();
    let state = wait_drain(&server, &format!("{DRAINS}/{id}"), "the cursor saved", |d| d["cursor"] == 255).await;
    assert_eq!(state["backlog"], 0);
    assert_eq!(state["execution"], "RUNNING");
    assert!(state["last_success_at_ns"].as_i64().is_some());
    assert!(state["delivered"].as_u64().unwrap() >= 250);
    let (_, listed) = server.get_json(DRAINS).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let audit = audit_actions(&server).await;
    let created = audit.iter().find(|r| r["action"] == "drain.created").expect("the creation is audited");
    assert!(!created.to_string().contains("s3cret"), "the audit log shows no secret: {created}");
}

#[tokio::test]
async fn a_drain_started_at_a_time_first_sends_what_is_stored_since() {
    let server = serve_drains(quick_settings()).await;
    common::hundred_lines(&server).await;
    let receiver = Receiver::start().await;
    create(
        &server,
        DRAINS,
        json!({"kind": "LOG", "start": "1h", "recipient": {"type": "raw-http", "url": receiver.url("/")}}),
    )
    .await;
    let requests = receiver.wait_for(Duration::from_secs(20), "100 lines", |r| has_all(r, 100)).await;
    assert_eq!(offsets(&requests), (0..100).collect::<Vec<u64>>());
    assert_eq!(records(&requests)[99]["message"], "request done #99");
}

#[tokio::test]
async fn a_recipient_down_then_back_loses_nothing() {
    let server = serve_drains(quick_settings()).await;
    let mut receiver = Receiver::start().await;
    let drain =
        create(&server, DRAINS, json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": receiver.url("/")}}))
            .await;
    let path = format!("{DRAINS}/{}", drain["id"]);
    ingest(&server, 0..50).await;
    receiver.wait_for(Duration::from_secs(20), "the first 50", |r| has_all(r, 50)).await;
    receiver.go_down().await;
    ingest(&server, 50..300).await;
    let retrying = wait_drain(&server, &path, "retrying", |d| d["execution"] == "RETRYING").await;
    assert!(retrying["last_error"].as_str().unwrap().contains("connect"), "{retrying}");
    assert_eq!(retrying["status"], "ENABLED");
    assert!(retrying["backlog"].as_u64().unwrap() >= 150, "{retrying}");
    // Down a few seconds, through several retries.
    tokio::time::sleep(Duration::from_secs(3)).await;
    receiver.come_back().await;
    let requests = receiver.wait_for(Duration::from_secs(20), "all 300", |r| has_all(r, 300)).await;
    assert_eq!(offsets(&requests), (0..300).collect::<Vec<u64>>(), "every line, in order, once");
    let recovered =
        wait_drain(&server, &path, "running again", |d| d["execution"] == "RUNNING" && d["backlog"] == 0).await;
    assert!(recovered["last_error"].as_str().is_some(), "the last error stays visible");
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_and_5xx_and_slow_answers_are_retried() {
    let server = serve_drains(quick_settings()).await;
    let receiver = Receiver::start().await;
    receiver.answer_next(Answer::TooMany(1));
    receiver.answer_next(Answer::Status(503, "busy".into()));
    // Slower than the drain's 1 s timeout: the batch is sent again.
    receiver.answer_next(Answer::Slow(Duration::from_millis(1_500), 200, String::new()));
    let drain =
        create(&server, DRAINS, json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": receiver.url("/")}}))
            .await;
    ingest(&server, 0..10).await;
    // The slow answer is abandoned by the drain (and so never kept by the receiver).
    let requests = receiver.wait_for(Duration::from_secs(20), "a delivery after the faults", |r| has_all(r, 10)).await;
    assert_eq!(requests.len(), 3, "429, 503, then the retry after the timeout");
    let after_429 = requests[1].at - requests[0].at;
    assert!(
        after_429 >= Duration::from_millis(900),
        "Retry-After: 1 is honoured, not the 50 ms backoff: {after_429:?}"
    );
    let after_503 = requests[2].at - requests[1].at;
    assert!(after_503 >= Duration::from_secs(1), "the slow answer was waited for: {after_503:?}");
    assert_eq!(offsets(&requests[2..]), (0..10).collect::<Vec<u64>>());
    let state = drain_state(&server, &format!("{DRAINS}/{}", drain["id"])).await;
    assert!(state["last_error"].as_str().unwrap().contains("no answer within 1 s"), "{state}");
}

#[tokio::test]
async fn a_drain_failing_too_long_is_disabled_with_its_reason_and_resumes_from_its_cursor() {
    let server = serve_drains(DrainSettings { disable_after: Duration::from_secs(1), ..quick_settings() }).await;
    let receiver = Receiver::start().await;
    receiver.answer_usually(Answer::Status(503, "maintenance".into()));
    let drain =
        create(&server, DRAINS, json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": receiver.url("/")}}))
            .await;
    let path = format!("{DRAINS}/{}", drain["id"]);
    ingest(&server, 0..20).await;
    let disabled = wait_drain(&server, &path, "disabled", |d| d["status"] == "DISABLED").await;
    assert_eq!(disabled["execution"], "STOPPED");
    let reason = disabled["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("503") && reason.contains("maintenance"), "{reason}");
    assert_eq!(disabled["cursor"], 0);
    assert_eq!(disabled["backlog"], 20);
    let audit = audit_actions(&server).await;
    assert!(audit.iter().any(|r| r["action"] == "drain.disabled" && r["actor"] == "vigie"), "{audit:?}");

    receiver.answer_usually(Answer::Status(200, String::new()));
    let failed_requests = receiver.requests().len();
    let (status, enabled) = server.post(&format!("{path}/enable"), "application/json", "").await;
    assert_eq!(status, 200, "{enabled}");
    assert_eq!(enabled["status"], "ENABLED");
    let requests =
        receiver.wait_for(Duration::from_secs(20), "the backlog", |r| has_all(&r[failed_requests..], 20)).await;
    assert_eq!(offsets(&requests[failed_requests..]), (0..20).collect::<Vec<u64>>());
    wait_drain(&server, &path, "caught up", |d| d["backlog"] == 0 && d["cursor"] == 20).await;

    let (status, disabled) = server.post(&format!("{path}/disable"), "application/json", "").await;
    assert_eq!((status, disabled["status"].as_str()), (200, Some("DISABLED")));
    assert!(disabled["disabled_reason"].as_str().unwrap().contains("disabled by token"), "{disabled}");
    ingest(&server, 20..30).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(offsets(&receiver.requests()).iter().all(|offset| *offset < 20), "a disabled drain sends nothing");
}

#[tokio::test]
async fn lines_retention_removed_before_delivery_are_reported_as_a_gap() {
    let server = serve_with(|config| {
        config.drains = quick_settings();
        config.store.segment_max_bytes = 2_048;
        config.store.codec = vigie_server::store::Codec::Raw;
    })
    .await;
    let receiver = Receiver::start().await;
    let drain =
        create(&server, DRAINS, json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": receiver.url("/")}}))
            .await;
    let path = format!("{DRAINS}/{}", drain["id"]);
    server.post(&format!("{path}/disable"), "application/json", "").await;
    for chunk in 0..10 {
        ingest(&server, chunk * 50..chunk * 50 + 50).await;
    }
    let (status, body) = server
        .http
        .put(format!("{}/api/v1/orgs/acme/apps/api/retention", server.base))
        .json(&json!({"kind": "service", "max_age_secs": null, "max_bytes": 4096}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 200, "{:?}", body.text().await);
    let store = server.server.store.clone();
    tokio::task::spawn_blocking(move || store.enforce_retention(vigie_server::clock::now_ns())).await.unwrap().unwrap();
    let first_kept = server.server.store.first_offset(&vigie_server::store::TopicKey::new(
        "acme",
        "api",
        vigie_app::model::LogKind::Service,
    ));
    assert!(first_kept > 0, "retention removed the oldest lines");
    server.post(&format!("{path}/enable"), "application/json", "").await;
    let requests = receiver.wait_for(Duration::from_secs(20), "what is left", |r| offsets(r).contains(&499)).await;
    assert_eq!(offsets(&requests), (first_kept..500).collect::<Vec<u64>>());
    let state = wait_drain(&server, &path, "the gap", |d| d["lost_records"] == first_kept).await;
    let gap = &state["gaps"][0];
    assert_eq!((gap["from_offset"].as_u64(), gap["to_offset"].as_u64()), (Some(0), Some(first_kept)));
    assert_eq!(gap["count"], first_kept);
    assert_eq!(gap["reason"], "removed by retention");
}

#[tokio::test]
async fn an_org_drain_forwards_the_audit_log() {
    let server = serve_drains(quick_settings()).await;
    let receiver = Receiver::start().await;
    create(
        &server,
        "/api/v1/orgs/acme/drains",
        json!({"kind": "AUDITLOG", "recipient": {"type": "raw-http", "url": receiver.url("/audit")}}),
    )
    .await;
    let (status, _) =
        server.post("/api/v1/orgs/acme/tokens", "application/json", r#"{"name":"ci","permissions":"read"}"#).await;
    assert_eq!(status, 201);
    let requests = receiver
        .wait_for(Duration::from_secs(20), "the token's audit record", |r| {
            records(r).iter().any(|record| record["action"] == "token.created")
        })
        .await;
    let got = records(&requests);
    assert!(got.iter().any(|record| record["action"] == "drain.created"), "the drain's own creation too: {got:?}");
    assert!(got.iter().all(|record| record["kind"] == "AUDITLOG" && record["app"].is_null()));
    let (_, listed) = server.get_json("/api/v1/orgs/acme/drains").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (_, app_drains) = server.get_json(DRAINS).await;
    assert_eq!(app_drains.as_array().unwrap().len(), 0, "org drains are not an app's");
}

#[tokio::test]
async fn check_reports_what_the_recipient_answered() {
    let server = serve_drains(quick_settings()).await;
    let receiver = Receiver::start().await;
    let drain = create(
        &server,
        DRAINS,
        json!({"kind": "ACCESSLOG", "recipient": {"type": "raw-http", "url": receiver.url("/")}}),
    )
    .await;
    let check = format!("{DRAINS}/{}/check", drain["id"]);
    let (status, report) = server.post(&check, "application/json", "").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true);
    assert!(report["answer"].as_str().unwrap().starts_with("HTTP 200"), "{report}");
    let sent = records(&receiver.requests());
    assert_eq!(sent[0]["user_agent"], "vigie-drain-check");
    assert_eq!(sent[0]["kind"], "ACCESSLOG");
    receiver.answer_next(Answer::Status(401, "{\"error\":\"bad credentials\"}".into()));
    let (_, report) = server.post(&check, "application/json", "").await;
    assert_eq!(report["ok"], false);
    assert!(
        report["answer"].as_str().unwrap().contains("401")
            && report["answer"].as_str().unwrap().contains("bad credentials"),
        "{report}"
    );
}

#[tokio::test]
async fn drains_need_admin_to_change_keep_to_their_scope_and_refuse_private_targets_by_default() {
    let server = serve_with(|_| {}).await; // default settings: private targets refused
    let receiver = Receiver::start().await;
    let body = json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": receiver.url("/")}}).to_string();
    let (status, refused) = server.post(DRAINS, "application/json", &body).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("private or local"), "{refused}");

    let bad = [
        (
            DRAINS,
            json!({"kind": "AUDITLOG", "recipient": {"type": "raw-http", "url": "https://logs.example.com/"}}),
            "AUDITLOG",
        ),
        (
            "/api/v1/orgs/acme/drains",
            json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": "https://logs.example.com/"}}),
            "AUDITLOG",
        ),
        (
            DRAINS,
            json!({"kind": "LOG", "recipient": {"type": "syslog-udp", "url": "tcp://logs.example.com:514"}}),
            "udp://",
        ),
        (
            DRAINS,
            json!({"kind": "LOG", "start": "yesterday-ish", "recipient": {"type": "raw-http", "url": "https://logs.example.com/"}}),
            "start",
        ),
        (
            DRAINS,
            json!({"kind": "LOG", "recipient": {"type": "carrier-pigeon", "url": "https://logs.example.com/"}}),
            "carrier-pigeon",
        ),
    ];
    for (path, body, says) in bad {
        let (status, error) = server.post(path, "application/json", &body.to_string()).await;
        assert_eq!(status, 400, "{body}: {error}");
        assert!(error["error"].as_str().unwrap().contains(says), "{body}: {error}");
    }

    let drain = create(&server, DRAINS, json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": "https://logs.example.com/in", "username": "u", "password": "dd-secret"}})).await;
    let path = format!("{DRAINS}/{}", drain["id"]);
    let (_, reader_token) = server
        .server
        .catalog
        .create_token("acme", "reader", Permissions { read: true, ..Default::default() }, "tests")
        .unwrap();
    let reader = common::client_with(&reader_token);
    let shown = reader.get(format!("{}{path}", server.base)).send().await.unwrap();
    assert_eq!(shown.status(), 200);
    assert!(!shown.text().await.unwrap().contains("dd-secret"));
    for (method, rest) in [("POST", "/disable"), ("POST", "/enable"), ("POST", "/check"), ("DELETE", "")] {
        let response =
            reader.request(method.parse().unwrap(), format!("{}{path}{rest}", server.base)).send().await.unwrap();
        assert_eq!(response.status(), 403, "{method} {rest} needs admin");
    }
    let created = reader
        .post(format!("{}{DRAINS}", server.base))
        .json(&json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": "https://logs.example.com/"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 403);

    server
        .server
        .catalog
        .put_org(&vigie_server::catalog::Org { slug: "other".into(), name: "Other".into(), apps: Vec::new() })
        .unwrap();
    let (_, other_token) = server.server.catalog.create_token("other", "theirs", Permissions::ALL, "tests").unwrap();
    let other = common::client_with(&other_token);
    let response = other.get(format!("{}{path}", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 404, "another org's token learns nothing");
    let (status, _) = server.get_json("/api/v1/orgs/acme/drains/999").await;
    assert_eq!(status, 404);

    let removed = server.http.delete(format!("{}{path}", server.base)).send().await.unwrap();
    assert_eq!(removed.status(), 200);
    let (status, _) = server.get_json(&path).await;
    assert_eq!(status, 404);
    let audit = audit_actions(&server).await;
    for action in ["drain.created", "drain.removed"] {
        assert!(audit.iter().any(|r| r["action"] == action), "{action} is audited");
    }
}
