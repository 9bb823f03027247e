//! The server as a client sees it: started on port 0, spoken to over HTTP.

use std::time::Duration;

mod common;

use common::{hundred_lines, serve, LOGS};
use futures::StreamExt;
use serde_json::{json, Value};

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
    assert_eq!(page["next_cursor"], serde_json::Value::Null, "nothing more to read");
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
    assert!(reply["error"].as_str().unwrap().contains("use service or access"), "{reply}");

    let (_, page) = server.get_json(LOGS).await;
    assert_eq!(page["records"], json!([]), "nothing was stored by the refused requests");
    server.server.stop().await;
}

/// Reads Server-Sent Events until `count` records have arrived; returns
/// their messages and the last event id.
/// What axum's extractors refuse (a query parameter of the wrong type, a
/// body that is not the JSON asked for, no JSON content type) is an error
/// of the API like the others: a JSON body whose `error` names the mistake.
#[tokio::test]
async fn a_malformed_parameter_or_body_gets_a_json_error_too() {
    let server = serve().await;
    let (status, reply) = server.get_json(&format!("{LOGS}?limit=ten")).await;
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().unwrap().contains("limit: invalid digit"), "{reply}");

    let tokens = "/api/v1/orgs/acme/tokens";
    let (status, reply) = server.post(tokens, "application/json", "{\"name\": 3}").await;
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().unwrap().contains("name: invalid type"), "{reply}");

    let (status, reply) = server.post(tokens, "text/plain", "{}").await;
    assert_eq!(status, 415);
    assert!(reply["error"].as_str().unwrap().contains("Content-Type: application/json"), "{reply}");

    let response = server.http.delete(format!("{}{tokens}/first", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let reply: serde_json::Value = response.json().await.unwrap();
    assert!(reply["error"].as_str().unwrap().contains("Cannot parse"), "{reply}");
    server.server.stop().await;
}

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

fn messages(page: &Value) -> Vec<String> {
    page["records"].as_array().unwrap().iter().map(|r| r["message"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_query_narrows_by_time_and_filter_and_pages_with_a_cursor() {
    let server = serve().await;
    hundred_lines(&server).await;

    let (status, page) = server.get_json(&format!("{LOGS}?since=35s&q=level:error%20timeout")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(messages(&page), ["upstream timeout #70", "upstream timeout #80", "upstream timeout #90"]);

    // Newest first, two at a time, following the cursor.
    let mut seen = Vec::new();
    let mut path = format!("{LOGS}?q=timeout&limit=2&order=desc");
    loop {
        let (status, page) = server.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(messages(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{LOGS}?q=timeout&limit=2&order=desc&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..10).rev().map(|n| format!("upstream timeout #{}", n * 10)).collect();
    assert_eq!(seen, expected);
    server.server.stop().await;
}

#[tokio::test]
async fn a_bad_filter_or_time_is_a_400_that_points_at_the_mistake() {
    let server = serve().await;
    let (status, reply) = server.get_json(&format!("{LOGS}?q=status%3E%3D%20x")).await;
    assert_eq!(status, 400);
    assert_eq!(reply["position"], 8, "{reply}");
    assert!(reply["error"].as_str().unwrap().starts_with("q: at character 8: expected a value"), "{reply}");

    let (status, reply) = server.get_json(&format!("{LOGS}?since=yesterday")).await;
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().unwrap().contains("since: \"yesterday\" is not a time"), "{reply}");
    server.server.stop().await;
}

#[tokio::test]
async fn text_and_ndjson_formats_carry_the_same_records() {
    let server = serve().await;
    hundred_lines(&server).await;
    let text = server.http.get(format!("{}{LOGS}?q=%2399&format=text", server.base)).send().await.unwrap();
    assert_eq!(text.headers()["content-type"], "text/plain; charset=utf-8");
    let text = text.text().await.unwrap();
    assert!(text.ends_with(" default INFO request done #99\n"), "{text}");

    let ndjson = server.http.get(format!("{}{LOGS}?since=3s&format=ndjson", server.base)).send().await.unwrap();
    let lines: Vec<Value> =
        ndjson.text().await.unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert!(!lines.is_empty() && lines.len() <= 4, "{lines:?}");
    assert_eq!(lines.last().unwrap()["message"], "request done #99");
    server.server.stop().await;
}

#[tokio::test]
async fn follow_since_replays_the_range_then_continues_live_with_the_filter() {
    let server = serve().await;
    hundred_lines(&server).await;
    let live = server.http.get(format!("{}{LOGS}/live?since=25s&q=timeout", server.base)).send().await.unwrap();
    server.post(LOGS, "text/plain", "ERROR upstream timeout live\nINFO all good").await;
    let (messages, _) = read_live(live, 3).await;
    assert_eq!(messages, ["upstream timeout #80", "upstream timeout #90", "ERROR upstream timeout live"]);
    server.server.stop().await;
}

/// Reads WebSocket messages until `count` records came; returns their
/// messages and the last `last_offset`.
async fn read_ws<S>(socket: &mut S, count: usize) -> (Vec<String>, u64)
where
    S: futures::Stream<Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    let (mut messages, mut last_offset) = (Vec::new(), 0);
    while messages.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a message in 5 s");
        let text = message.unwrap().unwrap().into_text().unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        if value["type"] == "records" {
            last_offset = value["last_offset"].as_u64().unwrap();
            messages
                .extend(value["data"].as_array().unwrap().iter().map(|r| r["message"].as_str().unwrap().to_string()));
        }
    }
    (messages, last_offset)
}

#[tokio::test]
async fn the_websocket_follows_live_and_resumes_from_the_next_offset() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = serve().await;
    server.post(LOGS, "text/plain", "before 1").await;
    let url = |query: &str| {
        let mut request = format!("ws://{}{LOGS}/ws{query}", server.server.addr).into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {}", server.token).parse().unwrap());
        request
    };
    let (mut socket, _) = tokio_tungstenite::connect_async(url("")).await.unwrap();
    let opened: Value = serde_json::from_str(&socket.next().await.unwrap().unwrap().into_text().unwrap()).unwrap();
    assert_eq!(opened, json!({"type": "open", "next_offset": 1}));
    server.post(LOGS, "text/plain", "live 2").await;
    let (messages, last_offset) = read_ws(&mut socket, 1).await;
    assert_eq!((messages, last_offset), (vec!["live 2".to_string()], 1));
    drop(socket);

    server.post(LOGS, "text/plain", "while away 3\nwhile away 4").await;
    let (mut resumed, _) = tokio_tungstenite::connect_async(url(&format!("?from={}", last_offset + 1))).await.unwrap();
    let (messages, last_offset) = read_ws(&mut resumed, 2).await;
    assert_eq!(messages, ["while away 3", "while away 4"]);
    assert_eq!(last_offset, 3);

    // Without a token there is no upgrade, only the usual 401.
    let refused = tokio_tungstenite::connect_async(format!("ws://{}{LOGS}/ws", server.server.addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected a 401, got {other:?}"),
    }
    server.server.stop().await;
}
