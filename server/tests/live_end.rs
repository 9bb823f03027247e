//! Live streams outlive no right: a token revoked, a member removed, a
//! session ended, and each open stream (SSE, WebSocket, the console's)
//! says why with an end event and closes within a re-check (5 s).

mod common;

use std::time::Duration;

use common::{client_with, serve, TestServer, LOGS};
use futures::StreamExt;
use serde_json::Value;
use vigie_server::catalog::{Permissions, Role};

/// Reads an SSE body until its `event: end`, and returns that event's data;
/// heartbeats seen on the way are counted.
async fn end_event(response: reqwest::Response) -> (Value, usize) {
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if let Some(at) = text.find("event: end\ndata: ") {
                let data = &text[at + "event: end\ndata: ".len()..];
                if let Some(line) = data.split_once('\n').map(|(line, _)| line) {
                    return Some(serde_json::from_str::<Value>(line).unwrap());
                }
            }
        }
        None
    };
    let end = tokio::time::timeout(Duration::from_secs(20), read).await.expect("an end within 20 s");
    let end = end.expect("an end event before the stream closed");
    // After the end, the server closes the stream.
    let rest = tokio::time::timeout(Duration::from_secs(10), body.next()).await.expect("closed after the end");
    assert!(rest.is_none(), "nothing after the end event");
    (end, text.matches("event: heartbeat\n").count())
}

async fn session_cookie(server: &TestServer, login: &str) -> String {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/signin", server.base))
        .header("origin", &server.base)
        .form(&[("login", login), ("password", "a long enough password"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn every_kind_of_stream_ends_with_its_reason_when_its_right_is_lost() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let server = serve().await;
    let catalog = &server.server.catalog;
    let (reader, secret) = catalog.create_token("acme", "reader", Permissions::parse("read").unwrap(), "t").unwrap();
    for login in ["ana", "bob"] {
        catalog.create_user(login, login, "a long enough password").unwrap();
        catalog.add_member("acme", login, Role::Member).unwrap();
    }
    let (ana, bob) = (session_cookie(&server, "ana").await, session_cookie(&server, "bob").await);

    // A token's SSE and WebSocket streams, and two console streams.
    let sse = client_with(&secret).get(format!("{}{LOGS}/live", server.base)).send().await.unwrap();
    let mut request = format!("ws://{}{LOGS}/ws", server.server.addr).into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {secret}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let console = |cookie: &str| {
        reqwest::Client::new()
            .get(format!("{}/bff/orgs/acme/apps/api/live", server.base))
            .header("cookie", cookie)
            .send()
    };
    let (ana_stream, bob_stream) = (console(&ana).await.unwrap(), console(&bob).await.unwrap());
    // The streams carry lines until the rights go.
    server.post(LOGS, "text/plain", "still allowed").await;

    catalog.revoke_token("acme", reader.id).unwrap();
    let signed_out = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/signout", server.base))
        .header("origin", &server.base)
        .header("cookie", &ana)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    assert!(catalog.remove_member("acme", "bob").unwrap());

    let ((sse_end, _), (ana_end, _), (bob_end, _)) =
        tokio::join!(end_event(sse), end_event(ana_stream), end_event(bob_stream));
    assert_eq!(sse_end["reason"], "token_revoked", "{sse_end}");
    assert!(sse_end["message"].as_str().unwrap().contains("\"reader\""), "{sse_end}");
    assert_eq!(ana_end["reason"], "session_ended", "{ana_end}");
    assert_eq!(bob_end["reason"], "access_removed", "{bob_end}");

    let mut ws_end = None;
    let mut close = None;
    let read = async {
        while let Some(message) = socket.next().await {
            match message.unwrap() {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "end" {
                        ws_end = Some(value);
                    }
                }
                Message::Close(frame) => {
                    close = frame;
                    break;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read).await.expect("the WebSocket ends within 20 s");
    let ws_end = ws_end.expect("an end message");
    assert_eq!(ws_end["reason"], "token_revoked", "{ws_end}");
    assert_eq!(u16::from(close.expect("a close frame").code), 1008);
    server.server.stop().await;
}

#[tokio::test]
async fn a_stream_whose_caller_keeps_its_right_gets_heartbeats_and_its_lines() {
    let server = serve().await;
    let response = server.http.get(format!("{}{LOGS}/live", server.base)).send().await.unwrap();
    let mut body = response.bytes_stream();
    server.post(LOGS, "text/plain", "a line").await;
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if text.contains("event: heartbeat\ndata: {}\n\n") && text.contains("a line") {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read).await.expect("a heartbeat within 20 s");
    assert!(!text.contains("event: end"));
    server.server.stop().await;
}
