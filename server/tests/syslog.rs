//! Syslog ingest as platforms send it: util-linux `logger` over TCP and
//! UDP, RFC 5424 and RFC 3164, and raw frames for what `logger` cannot
//! send (bad messages beside good ones, octet counting by hand).

use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{serve, TestServer, LOGS};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use vigie_app::model::{AppKind, LogKind};
use vigie_server::catalog::{App, Org, Permissions};
use vigie_server::store::TopicKey;

/// Sends one message with `logger` to 127.0.0.1:`port`, with the options
/// in `options` (space-separated) and then `args`; it must succeed.
fn logger(port: u16, options: &str, args: &[&str]) {
    let output = Command::new("logger")
        .args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .args(options.split_whitespace())
        .args(args)
        .output()
        .expect("util-linux `logger` is installed");
    assert!(output.status.success(), "logger {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// The app's records, oldest first, once there are at least `count` (or
/// what there is after 10 s).
async fn records_when(server: &TestServer, query: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, page) = server.get_json(&format!("{LOGS}?from=0&limit=1000{query}")).await;
        assert_eq!(status, 200, "{page}");
        let records = page["records"].as_array().unwrap().clone();
        if records.len() >= count || Instant::now() > deadline {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric(server: &TestServer, outcome: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
    let wanted = format!("vigie_syslog_messages_total{{{outcome}}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&wanted))
        .unwrap_or_else(|| panic!("no {wanted} in /metrics:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn logger_sends_rfc5424_over_tcp_with_the_token_in_structured_data() {
    let server = serve().await;
    let port = server.server.syslog_tcp.unwrap().port();
    let token_param = format!("token=\"{}\"", server.token);
    // Two runs of logger are two connections: wait for each line so their order is known.
    for (sent, (priority, text)) in
        [("user.err", "payment refused for order 42"), ("user.info", "order 43 paid")].into_iter().enumerate()
    {
        let priority = format!("--priority={priority}");
        logger(
            port,
            "--tcp --rfc5424 --tag api --id=4242 --sd-id vigie@53595",
            &["--sd-param", &token_param, "--sd-param", "instance=\"api-7\"", &priority, text],
        );
        assert_eq!(records_when(&server, "", sent + 1).await.len(), sent + 1);
    }
    let records = records_when(&server, "", 2).await;
    let messages: Vec<_> =
        records.iter().map(|r| (r["message"].as_str().unwrap(), r["level"].as_str().unwrap())).collect();
    assert_eq!(messages, [("payment refused for order 42", "error"), ("order 43 paid", "info")]);
    assert_eq!(records[0]["instance"], "api-7");
    assert_eq!(records[0]["fields"]["procid"], 4242, "PROCID is kept: {}", records[0]);
    assert!(records[0].to_string().find(&server.token).is_none(), "the token is not stored");
    server.server.stop().await;
}

#[tokio::test]
async fn logger_sends_rfc3164_over_udp_with_the_token_as_first_word() {
    let server = serve().await;
    let port = server.server.syslog_udp.unwrap().port();
    let text = format!("{} disk almost full", server.token);
    logger(port, "--udp --rfc3164 --tag api --priority daemon.warning", &[&text]);
    let records = records_when(&server, "", 1).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["message"], "disk almost full");
    assert_eq!(records[0]["level"], "warn");
    server.server.stop().await;
}

#[tokio::test]
async fn logger_octet_counting_keeps_multi_line_messages_whole() {
    let server = serve().await;
    let port = server.server.syslog_tcp.unwrap().port();
    let token_param = format!("token=\"{}\"", server.token);
    logger(
        port,
        "--tcp --octet-count --rfc5424 --tag api --sd-id vigie@53595 --priority user.crit",
        &["--sd-param", &token_param, "first line"],
    );
    let records = records_when(&server, "", 1).await;
    assert_eq!(records[0]["message"], "first line");
    assert_eq!(records[0]["level"], "fatal");

    // logger sends one line per message; a stack trace in one counted frame stays one record.
    let message = format!(
        "<11>1 2026-11-24T13:05:09Z web-1 api - - [vigie token=\"{}\"] panic: boom\n  at main.rs:3",
        server.token
    );
    let mut tcp = tokio::net::TcpStream::connect(server.server.syslog_tcp.unwrap()).await.unwrap();
    tcp.write_all(format!("{} {message}", message.len()).as_bytes()).await.unwrap();
    tcp.shutdown().await.unwrap();
    let records = records_when(&server, "", 2).await;
    assert_eq!(records[1]["message"], "panic: boom\n  at main.rs:3");
    server.server.stop().await;
}

#[tokio::test]
async fn bad_messages_are_dropped_and_counted_and_their_neighbours_are_kept() {
    let server = serve().await;
    let token = &server.token;
    let frames = [
        format!("<13>1 2026-11-24T13:05:09Z h api - - [vigie token=\"{token}\"] kept one"),
        "this is not syslog".to_string(),
        "<13>1 2026-11-24T13:05:09Z h api - - - no token here".to_string(),
        "<13>1 2026-11-24T13:05:09Z h api - - [vigie token=\"vgt_0000000000000000000000000000000000000000\"] forged"
            .to_string(),
        format!("<13>1 2026-11-24T13:05:09Z h nope - - [vigie token=\"{token}\"] no such app"),
        format!("<13>1 2026-11-24T13:05:09Z h api - - [vigie token=\"{token}\"] kept two"),
    ];
    let mut tcp = tokio::net::TcpStream::connect(server.server.syslog_tcp.unwrap()).await.unwrap();
    tcp.write_all((frames.join("\n") + "\n").as_bytes()).await.unwrap();
    tcp.shutdown().await.unwrap();
    let records = records_when(&server, "", 2).await;
    let messages: Vec<_> = records.iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["kept one", "kept two"]);
    assert_eq!(metric(&server, "outcome=\"stored\"").await, 2);
    for reason in ["unparsable", "no_token", "unknown_or_revoked_token", "unknown_app"] {
        assert_eq!(metric(&server, &format!("outcome=\"dropped\",reason=\"{reason}\"")).await, 1, "{reason}");
    }
    server.server.stop().await;
}

#[tokio::test]
async fn a_token_of_another_org_cannot_write_into_an_app_of_this_one() {
    let server = serve().await;
    let catalog = &server.server.catalog;
    catalog
        .put_org(&Org {
            slug: "rival".into(),
            name: "Rival".into(),
            apps: vec![App {
                slug: "web".into(),
                name: "Web".into(),
                kind: AppKind::Application,
                runtime: "Go".into(),
            }],
        })
        .unwrap();
    let (_, rival_token) = catalog.create_token("rival", "ship", Permissions::ALL, "tests").unwrap();
    let (_, read_only) = catalog.create_token("acme", "reader", Permissions::parse("read").unwrap(), "tests").unwrap();
    let frames = [
        format!("<13>1 2026-11-24T13:05:09Z h api - - [vigie token=\"{rival_token}\"] into acme"),
        format!("<13>1 2026-11-24T13:05:09Z h api - - [vigie token=\"{read_only}\"] read-only token"),
        format!("<13>1 2026-11-24T13:05:09Z h web - - [vigie token=\"{rival_token}\"] into rival"),
        format!("<13>1 2026-11-24T13:05:09Z h api - - [vigie token=\"{}\"] marker", server.token),
    ];
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for frame in &frames {
        udp.send_to(frame.as_bytes(), server.server.syslog_udp.unwrap()).await.unwrap();
    }
    let records = records_when(&server, "", 1).await;
    let messages: Vec<_> = records.iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["marker"], "acme's app holds only its own org's line");
    assert_eq!(metric(&server, "outcome=\"dropped\",reason=\"unknown_app\"").await, 1);
    assert_eq!(metric(&server, "outcome=\"dropped\",reason=\"token_may_not_ingest\"").await, 1);
    let rival = TopicKey::new("rival", "web", LogKind::Service);
    assert_eq!(server.server.store.read(&rival, 0, 10).records.len(), 1, "the rival's own line went to the rival");
    server.server.stop().await;
}

/// Reads until the server closes the connection; true when it did within 10 s.
async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

#[tokio::test]
async fn syslog_tcp_connections_past_the_cap_are_closed_and_idle_ones_are_closed_too() {
    let server = common::serve_with(|config| {
        config.ingest.syslog_tcp_connections = 2;
        config.ingest.syslog_tcp_idle = Duration::from_millis(300);
    })
    .await;
    let addr = server.server.syslog_tcp.unwrap();
    let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(closed_by_server(&mut third).await, "the third connection is closed at once");

    // The first two stay until they have been idle past the limit; a
    // message sent before is stored.
    let message =
        format!("<14>1 2026-11-24T10:00:00Z web api - - [vigie@53595 token=\"{}\"] before idle\n", server.token);
    first.write_all(message.as_bytes()).await.unwrap();
    assert_eq!(records_when(&server, "", 1).await.len(), 1);
    assert!(closed_by_server(&mut first).await, "idle past the limit");
    assert!(closed_by_server(&mut second).await, "idle past the limit");
    let text = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
    assert!(text.contains("vigie_syslog_tcp_connections_closed_total{reason=\"too_many\"} 1"), "{text}");
    assert!(text.contains("vigie_syslog_tcp_connections_closed_total{reason=\"idle\"} 2"), "{text}");
    // With both closed, a new connection is taken again.
    let mut fourth = tokio::net::TcpStream::connect(addr).await.unwrap();
    let again = format!("<14>1 2026-11-24T10:00:01Z web api - - [vigie@53595 token=\"{}\"] after\n", server.token);
    fourth.write_all(again.as_bytes()).await.unwrap();
    assert_eq!(records_when(&server, "", 2).await.len(), 2);
    server.server.stop().await;
}
