//! The server as a client sees it: started on port 0, spoken to over HTTP.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use vigie_app::model::AppKind;
use vigie_server::catalog::{App, Org};
use vigie_server::{start, RunningServer, ServeConfig};

struct TestServer {
    server: RunningServer,
    base: String,
    http: reqwest::Client,
    _data_dir: tempfile::TempDir,
}

/// A server with one org, `acme`, holding the app `api`.
async fn serve() -> TestServer {
    let data_dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_path_buf(),
        site_root: data_dir.path().join("site"),
        demo: None,
        store: Default::default(),
    };
    let server = start(config).await.unwrap();
    server.catalog.put_org(Org {
        slug: "acme".into(),
        name: "Acme".into(),
        apps: vec![App {
            slug: "api".into(),
            name: "Acme API".into(),
            kind: AppKind::Application,
            runtime: "Rust".into(),
        }],
    });
    let base = format!("http://{}", server.addr);
    TestServer { server, base, http: reqwest::Client::new(), _data_dir: data_dir }
}

impl TestServer {
    async fn post(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

const LOGS: &str = "/api/v1/orgs/acme/apps/api/logs";

#[tokio::test]
async fn ndjson_lines_are_stored_in_order_and_read_back_with_their_fields() {
    let server = serve().await;
    let body = concat!(
        r#"{"message":"GET /orders 200","level":"info","instance":"api-1","ts":"2026-11-24T13:05:09Z","route":"/orders"}"#,
        "\n",
        r#"{"msg":"pool exhausted","level":"error"}"#,
        "\n"
    );
    let (status, reply) = server.post(LOGS, "application/x-ndjson", body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply, json!({"accepted": 2, "first_offset": 0, "last_offset": 1, "rejected": []}));

    let (status, page) = server.get_json(&format!("{LOGS}?from=0")).await;
    assert_eq!(status, 200);
    let records = page["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["offset"], 0);
    assert_eq!(records[0]["ts_ns"], 1_795_525_509_000_000_000_i64);
    assert_eq!(records[0]["instance"], "api-1");
    assert_eq!(records[0]["fields"]["route"], "/orders");
    assert_eq!(records[1]["message"], "pool exhausted");
    assert_eq!(records[1]["level"], "error");
    assert_eq!(records[1]["instance"], "default");
    assert_eq!(page["next_offset"], 2);
    server.server.stop().await;
}

#[tokio::test]
async fn bad_lines_are_named_with_their_reason_and_the_valid_ones_are_kept() {
    let server = serve().await;
    let body = "{\"message\":\"first\"}\n{\"message\": oops}\n{\"message\":\"third\"}\n";
    let (status, reply) = server.post(LOGS, "application/x-ndjson", body).await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["accepted"], 2);
    assert_eq!(reply["rejected"][0]["line"], 2);
    assert!(reply["rejected"][0]["error"].as_str().unwrap().contains("invalid JSON"), "{reply}");
    assert!(reply["error"].as_str().unwrap().contains("1 of 3 lines were rejected"), "{reply}");

    let (_, page) = server.get_json(&format!("{LOGS}?from=0")).await;
    let messages: Vec<&str> =
        page["records"].as_array().unwrap().iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["first", "third"]);
    server.server.stop().await;
}

#[tokio::test]
async fn an_unknown_app_or_format_gets_a_json_error_that_says_what_to_fix() {
    let server = serve().await;
    let (status, reply) = server.post("/api/v1/orgs/acme/apps/nope/logs", "text/plain", "hello").await;
    assert_eq!(status, 404);
    assert!(reply["error"].as_str().unwrap().contains("no app \"nope\""), "{reply}");

    let (status, reply) = server.post(LOGS, "application/xml", "<log/>").await;
    assert_eq!(status, 415);
    assert!(reply["error"].as_str().unwrap().contains("application/x-ndjson"), "{reply}");

    let (status, reply) = server.get_json(&format!("{LOGS}?kind=debug")).await;
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().unwrap().contains("use service, access or audit"), "{reply}");

    let (_, page) = server.get_json(LOGS).await;
    assert_eq!(page["records"], json!([]), "nothing was stored by the refused requests");
    server.server.stop().await;
}

/// Reads Server-Sent Events until `count` records have arrived; returns
/// their messages and the last event id.
async fn read_live(response: reqwest::Response, count: usize) -> (Vec<String>, Option<String>) {
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let (mut messages, mut last_id) = (Vec::new(), None);
    while messages.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next()).await.expect("an event in 5 s");
        buffer.push_str(std::str::from_utf8(&chunk.unwrap().unwrap()).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            for field in event.lines() {
                if let Some(id) = field.strip_prefix("id:") {
                    last_id = Some(id.trim().to_string());
                }
                if let Some(data) = field.strip_prefix("data:") {
                    let batch: Vec<Value> = serde_json::from_str(data.trim()).unwrap();
                    messages.extend(batch.iter().map(|r| r["message"].as_str().unwrap().to_string()));
                }
            }
        }
    }
    (messages, last_id)
}

#[tokio::test]
async fn the_live_stream_delivers_new_lines_and_resumes_after_last_event_id() {
    let server = serve().await;
    server.post(LOGS, "text/plain", "before 1\nbefore 2").await;

    let live = server.http.get(format!("{}{LOGS}/live", server.base)).send().await.unwrap();
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    server.post(LOGS, "text/plain", "live 3").await;
    let (messages, last_id) = read_live(live, 1).await;
    assert_eq!(messages, ["live 3"], "a stream from now skips history");
    assert_eq!(last_id.as_deref(), Some("2"));

    server.post(LOGS, "text/plain", "while away 4\nwhile away 5").await;
    let resumed =
        server.http.get(format!("{}{LOGS}/live", server.base)).header("last-event-id", "2").send().await.unwrap();
    let (messages, last_id) = read_live(resumed, 2).await;
    assert_eq!(messages, ["while away 4", "while away 5"]);
    assert_eq!(last_id.as_deref(), Some("4"));
    server.server.stop().await;
}

#[tokio::test]
async fn the_logs_page_is_server_rendered_with_the_latest_lines() {
    let server = serve().await;
    server.post(LOGS, "text/plain", "WARN disk 91% full").await;
    let html = server.http.get(format!("{}/orgs/acme/apps/api/logs", server.base)).send().await.unwrap();
    assert_eq!(html.status(), 200);
    let html = html.text().await.unwrap();
    assert!(html.contains("Acme API"), "the app's name is on the page");
    assert!(html.contains("disk 91% full"), "the line is in the first paint");
    assert!(html.contains("level-warn"));

    let missing = server.http.get(format!("{}/orgs/acme/apps/ghost/logs", server.base)).send().await.unwrap();
    assert!(missing.text().await.unwrap().contains("No such app"));
    server.server.stop().await;
}
