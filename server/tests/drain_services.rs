//! The service recipients, each against a local receiver that checks every
//! request against the service's documented format and answers as the
//! service does (Elasticsearch's bulk items, Datadog's and New Relic's
//! `202`, Better Stack's `202`, an OTLP collector's `200`), including their
//! refusals: a bulk item rejected with `429`, `403`, `5xx`, `503` with
//! `Retry-After`. The real services cannot run here; the OTLP body is
//! decoded with the `opentelemetry-proto` types, and the NATS recipient
//! talks to a real `nats-server -js` and is read back with a JetStream
//! consumer.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::receiver::{Answer, Received, Receiver};
use common::{serve_with, TestServer, LOGS};
use futures::StreamExt;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message;
use serde_json::{json, Value};
use vigie_server::drains::DrainSettings;

const DRAINS: &str = "/api/v1/orgs/acme/apps/api/drains";

async fn server() -> TestServer {
    serve_with(|config| {
        config.drains = DrainSettings {
            allow_private_targets: true,
            batch_wait: Duration::from_millis(50),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(300),
            ..DrainSettings::default()
        }
    })
    .await
}

async fn create(server: &TestServer, body: Value) -> Value {
    let (status, drain) = server.post(DRAINS, "application/json", &body.to_string()).await;
    assert_eq!(status, 201, "{drain}");
    drain
}

/// Three service lines: info from web-1, an error with two lines from web-2, a warning in UTF-8.
async fn three_lines(server: &TestServer) {
    let body = [
        json!({"instance": "web-1", "level": "info", "message": "started", "ts": "2026-11-25T10:00:00Z", "port": 8080}),
        json!({"instance": "web-2", "level": "error", "message": "boom\n  at main.rs:3", "ts": "2026-11-25T10:00:01Z"}),
        json!({"instance": "web-1", "level": "warn", "message": "café ☕", "ts": "2026-11-26T00:00:02Z"}),
    ]
    .iter()
    .map(|line| format!("{line}\n"))
    .collect::<String>();
    let (status, reply) = server.post(LOGS, "application/x-ndjson", &body).await;
    assert_eq!(status, 200, "{reply}");
}

fn acknowledged(requests: &[Received]) -> Vec<&Received> {
    requests.iter().filter(|request| request.answered < 300).collect()
}

#[tokio::test]
async fn elasticsearch_gets_bulk_creates_into_daily_indexes_and_a_rejected_item_resends_the_batch() {
    let server = server().await;
    let receiver = Receiver::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counting = calls.clone();
    // First answer: the bulk went through but its last item was rejected
    // (the cluster's queue was full); then every item is created, or
    // already there (409) for those the first request indexed.
    receiver.answer_usually(Answer::With(Arc::new(move |body: &[u8]| {
        let n = std::str::from_utf8(body).unwrap().lines().count() / 2;
        let first = counting.fetch_add(1, Ordering::SeqCst) == 0;
        let items: Vec<Value> = (0..n)
            .map(|i| match (first, i + 1 == n) {
                (true, true) => json!({"create": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "rejected execution"}}}),
                (true, false) => json!({"create": {"status": 201, "result": "created"}}),
                (false, last) if !last => json!({"create": {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "document already exists"}}}),
                _ => json!({"create": {"status": 201, "result": "created"}}),
            })
            .collect();
        (200, json!({"took": 3, "errors": true, "items": items}).to_string())
    })));
    let drain = create(&server, json!({"kind": "LOG", "recipient": {"type": "elasticsearch", "url": receiver.url("/"), "index_prefix": "acme-logs", "username": "elastic", "password": "changeme"}})).await;
    three_lines(&server).await;
    let requests = receiver.wait_for(Duration::from_secs(20), "the resend", |r| r.len() >= 2).await;
    let (first, second) = (&requests[0], &requests[1]);
    for request in [first, second] {
        assert_eq!(request.path, "/_bulk");
        assert_eq!(request.header("content-type"), "application/x-ndjson");
        assert_eq!(request.header("authorization"), "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
        assert!(request.text().ends_with('\n'), "a bulk body ends with a newline");
    }
    assert_eq!(first.body, second.body, "the same batch, the same ids: a resend creates nothing twice");
    let lines: Vec<Value> = first.text().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0], json!({"create": {"_index": "acme-logs-2026.11.25", "_id": "acme-api-LOG-0"}}));
    assert_eq!(lines[1]["@timestamp"], "2026-11-25T10:00:00.000000000Z");
    assert_eq!((lines[1]["message"].as_str(), lines[1]["instance"].as_str()), (Some("started"), Some("web-1")));
    assert_eq!(lines[1]["fields"]["port"], 8080);
    assert_eq!(lines[4]["create"]["_index"], "acme-logs-2026.11.26", "each record in its own day's index");
    let path = format!("{DRAINS}/{}", drain["id"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, state) = server.get_json(&path).await;
        if state["cursor"] == 3 {
            let error = state["last_error"].as_str().unwrap();
            assert!(
                error.contains("1 of 3 documents refused") && error.contains("es_rejected_execution_exception"),
                "{error}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{state}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn datadog_gets_the_v2_intake_format_with_its_api_key_and_check_shows_a_refused_key() {
    let server = server().await;
    let receiver = Receiver::start().await;
    receiver.answer_next(Answer::Status(
        403,
        r#"{"errors":[{"status":"403","title":"Forbidden","detail":"Forbidden"}]}"#.into(),
    ));
    receiver.answer_usually(Answer::Status(202, "{}".into()));
    let drain = create(&server, json!({"kind": "LOG", "recipient": {"type": "datadog", "url": receiver.url("/api/v2/logs"), "api_key": "dd-key-123", "tags": "env:prod,team:web"}})).await;
    let (_, report) = server.post(&format!("{DRAINS}/{}/check", drain["id"]), "application/json", "").await;
    assert_eq!(report["ok"], false);
    assert!(report["answer"].as_str().unwrap().starts_with("HTTP 403 Forbidden: {\"errors\""), "{report}");
    three_lines(&server).await;
    let requests = receiver.wait_for(Duration::from_secs(20), "the logs", |r| !acknowledged(r).is_empty()).await;
    let request = acknowledged(&requests)[0];
    assert_eq!(request.path, "/api/v2/logs");
    assert_eq!(request.header("dd-api-key"), "dd-key-123");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("content-encoding"), "gzip");
    let entries: Vec<Value> = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(entries.len(), 3);
    let error = &entries[1];
    assert_eq!(error["ddsource"], "vigie");
    assert_eq!(error["ddtags"], "org:acme,app:api,kind:log,instance:web-2,env:prod,team:web");
    assert_eq!((error["hostname"].as_str(), error["service"].as_str()), (Some("web-2"), Some("api")));
    assert_eq!(error["message"], "boom\n  at main.rs:3");
    assert_eq!(error["status"], "error");
    assert_eq!(error["timestamp"], 1_795_600_801_000i64);
    assert_eq!(error["vigie"]["offset"], 1);
}

#[tokio::test]
async fn new_relic_gets_the_detailed_log_api_format_gzipped_after_a_5xx() {
    let server = server().await;
    let receiver = Receiver::start().await;
    receiver.answer_next(Answer::Status(500, "internal error".into()));
    receiver.answer_usually(Answer::Status(202, r#"{"requestId":"0c4f-..."}"#.into()));
    create(&server, json!({"kind": "LOG", "recipient": {"type": "newrelic", "url": receiver.url("/log/v1"), "api_key": "NRAK-123"}})).await;
    three_lines(&server).await;
    let requests = receiver.wait_for(Duration::from_secs(20), "the logs", |r| !acknowledged(r).is_empty()).await;
    assert_eq!(requests[0].answered, 500);
    let request = acknowledged(&requests)[0];
    assert_eq!(request.body, requests[0].body, "the same batch again after the 5xx");
    assert_eq!(request.header("api-key"), "NRAK-123");
    assert_eq!(request.header("content-encoding"), "gzip");
    assert_eq!(request.header("content-type"), "application/json");
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body[0]["common"]["attributes"]["service.name"], "api");
    let logs = body[0]["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 3);
    assert_eq!(logs[2]["message"], "café ☕");
    assert_eq!(logs[2]["timestamp"], 1_795_651_202_000i64);
    assert_eq!(
        (logs[2]["attributes"]["level"].as_str(), logs[2]["attributes"]["hostname"].as_str()),
        (Some("warning"), Some("web-1"))
    );
}

#[tokio::test]
async fn better_stack_gets_events_with_the_bearer_source_token_and_its_retry_after_is_honoured() {
    let server = server().await;
    let receiver = Receiver::start().await;
    receiver.answer_next(Answer::TooMany(1));
    receiver.answer_usually(Answer::Status(202, String::new()));
    create(&server, json!({"kind": "LOG", "recipient": {"type": "betterstack", "url": receiver.url("/"), "source_token": "bs-token"}})).await;
    three_lines(&server).await;
    let requests = receiver.wait_for(Duration::from_secs(20), "the logs", |r| !acknowledged(r).is_empty()).await;
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(900), "Retry-After: 1 honoured");
    let request = acknowledged(&requests)[0];
    assert_eq!(request.header("authorization"), "Bearer bs-token");
    assert_eq!(request.header("content-type"), "application/json");
    let events: Vec<Value> = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(events[0]["dt"], "2026-11-25T10:00:00.000000Z");
    assert_eq!(events[0]["message"], "started");
    assert_eq!(events[1]["level"], "error");
    assert_eq!(events[1]["vigie"]["instance"], "web-2");
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()
}

fn text_of(value: Option<&AnyValue>) -> &str {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text,
        other => panic!("not a string: {other:?}"),
    }
}

#[tokio::test]
async fn an_otlp_collector_decodes_service_and_access_logs_with_resources_severities_and_attributes() {
    let server = server().await;
    let receiver = Receiver::start().await;
    create(&server, json!({"kind": "LOG", "recipient": {"type": "otlp", "url": receiver.url("/v1/logs"), "headers": {"x-api-key": "otel-secret"}}})).await;
    create(&server, json!({"kind": "ACCESSLOG", "recipient": {"type": "otlp", "url": receiver.url("/v1/logs")}})).await;
    three_lines(&server).await;
    let access = r#"{"instance":"web-1","method":"POST","path":"/v1/pay","query":"x=1","status":503,"client_ip":"2.3.4.5","duration_ms":41.5,"user_agent":"k6"}"#;
    let (status, reply) =
        server.post(&format!("{LOGS}?kind=access&host=shop.example"), "application/x-ndjson", access).await;
    assert_eq!(status, 200, "{reply}");
    let requests = receiver.wait_for(Duration::from_secs(20), "both drains", |r| r.len() >= 2).await;
    let mut service = None;
    let mut access = None;
    for request in &requests {
        assert_eq!(request.path, "/v1/logs");
        assert_eq!(request.header("content-type"), "application/x-protobuf");
        assert_eq!(request.header("content-encoding"), "gzip");
        let export = ExportLogsServiceRequest::decode(&request.body[..]).expect("an OTLP logs request");
        if request.header("x-api-key") == "otel-secret" {
            service = Some(export);
        } else {
            access = Some(export);
        }
    }
    let service = service.expect("the LOG drain's request, with its header");
    assert_eq!(service.resource_logs.len(), 2, "one resource per instance");
    let web1 = &service.resource_logs[0];
    let resource = &web1.resource.as_ref().unwrap().attributes;
    assert_eq!(attribute(resource, "service.name"), Some(&any_value::Value::StringValue("api".into())));
    assert_eq!(attribute(resource, "service.instance.id"), Some(&any_value::Value::StringValue("web-1".into())));
    let records = &web1.scope_logs[0].log_records;
    assert_eq!(web1.scope_logs[0].scope.as_ref().unwrap().name, "vigie");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].time_unix_nano, 1_795_600_800_000_000_000);
    assert_eq!((records[0].severity_number, records[0].severity_text.as_str()), (9, "INFO"));
    assert_eq!(text_of(records[0].body.as_ref()), "started");
    assert_eq!(attribute(&records[0].attributes, "port"), Some(&any_value::Value::IntValue(8080)));
    assert_eq!((records[1].severity_number, text_of(records[1].body.as_ref())), (13, "café ☕"));
    let web2 = &service.resource_logs[1].scope_logs[0].log_records[0];
    assert_eq!((web2.severity_number, web2.severity_text.as_str()), (17, "ERROR"));

    let access = access.expect("the ACCESSLOG drain's request");
    let record = &access.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(record.severity_number, 17, "a 503 is an error");
    let attributes = &record.attributes;
    assert_eq!(attribute(attributes, "http.request.method"), Some(&any_value::Value::StringValue("POST".into())));
    assert_eq!(attribute(attributes, "url.path"), Some(&any_value::Value::StringValue("/v1/pay".into())));
    assert_eq!(attribute(attributes, "url.query"), Some(&any_value::Value::StringValue("x=1".into())));
    assert_eq!(attribute(attributes, "http.response.status_code"), Some(&any_value::Value::IntValue(503)));
    assert_eq!(attribute(attributes, "server.address"), Some(&any_value::Value::StringValue("shop.example".into())));
    assert_eq!(attribute(attributes, "client.address"), Some(&any_value::Value::StringValue("2.3.4.5".into())));
    assert_eq!(attribute(attributes, "vigie.duration_ms"), Some(&any_value::Value::DoubleValue(41.5)));
}

struct NatsServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    fn start() -> NatsServer {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let program = if std::path::Path::new("/usr/sbin/nats-server").exists() {
            "/usr/sbin/nats-server"
        } else {
            "nats-server"
        };
        let child = Command::new(program)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (scripts/setup test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        NatsServer { child, port, _dir: dir }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_nats_drain_publishes_to_jetstream_and_a_consumer_reads_every_record_back() {
    let nats = NatsServer::start();
    let client = async_nats::connect(format!("nats://127.0.0.1:{}", nats.port)).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let stream = jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: "LOGS".into(),
            subjects: vec!["logs.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let server = server().await;
    let drain = create(&server, json!({"kind": "LOG", "recipient": {"type": "nats", "url": format!("nats://127.0.0.1:{}", nats.port), "subject": "logs.acme.api"}})).await;
    let (_, report) = server.post(&format!("{DRAINS}/{}/check", drain["id"]), "application/json", "").await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["answer"].as_str().unwrap().contains("acknowledged by JetStream: stream LOGS"), "{report}");
    three_lines(&server).await;

    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("reader".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        let Ok(message) = tokio::time::timeout(Duration::from_secs(20), messages.next()).await else {
            let (_, state) = server.get_json(&format!("{DRAINS}/{}", drain["id"])).await;
            panic!("waited 20 s for message {} of 4: {got:?}; the drain: {state}", got.len() + 1);
        };
        let message = message.unwrap().unwrap();
        assert_eq!(message.subject.as_str(), "logs.acme.api");
        let id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.to_string()).unwrap_or_default();
        let record: Value = serde_json::from_slice(&message.payload).unwrap();
        message.ack().await.unwrap();
        got.push((id, record));
    }
    assert!(got[0].1["message"].as_str().unwrap().starts_with("Vigie drain check"));
    assert!(got[0].0.starts_with("acme-api-LOG-check-"), "a check has an id of its own: {}", got[0].0);
    assert_eq!(got[1].0, "acme-api-LOG-0", "a stable id: JetStream drops a resend");
    assert_eq!(got[2].1["message"], "boom\n  at main.rs:3");
    assert_eq!(got[3].1["instance"], "web-1");
    assert_eq!(got[3].1["offset"], 2);
}
