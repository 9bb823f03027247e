//! Drain faults against a real `vigie serve` process: killed with SIGKILL
//! mid-delivery and restarted, the drain resumes from its saved cursor
//! (nothing lost, at most one batch twice); and a recipient slower than
//! ingest makes the backlog grow in the store, not in Vigie's memory.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::receiver::{Answer, Received, Receiver};
use serde_json::{json, Value};
use vigie_app::model::AppKind;
use vigie_server::catalog::{App, Catalog, Org, Permissions};

const BATCH_LINES: usize = 100;

/// A data directory with the org `acme`, its app `api`, and an admin token.
fn prepare(dir: &Path) -> String {
    let catalog = Catalog::open(dir).unwrap();
    let app = App { slug: "api".into(), name: "API".into(), kind: AppKind::Application, runtime: "Rust".into() };
    catalog.put_org(&Org { slug: "acme".into(), name: "Acme".into(), apps: vec![app] }).unwrap();
    catalog.create_token("acme", "tests", Permissions::ALL, "tests").unwrap().1
}

struct Vigie {
    child: Child,
    base: String,
}

impl Vigie {
    fn start(dir: &Path) -> Vigie {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(["serve", "--listen", "127.0.0.1:0", "--syslog-tcp", "off", "--syslog-udp", "off", "--statsd", "off"])
            .arg("--data-dir")
            .arg(dir)
            .args(["--drain-allow-private-targets", "--drain-batch-wait-ms", "20", "--drain-backoff-max-ms", "200"])
            .args(["--drain-batch-max-lines", &BATCH_LINES.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Read to the end, so the server never writes to a closed pipe.
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Vigie console: ") {
                    let _ = addr_tx.send(addr.trim_end_matches('/').to_string());
                }
            }
        });
        let base = addr_rx.recv_timeout(Duration::from_secs(30)).expect("vigie serve printed its address");
        Vigie { child, base }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for Vigie {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn acknowledged_offsets(requests: &[Received]) -> Vec<u64> {
    requests
        .iter()
        .filter(|request| request.answered < 300)
        .flat_map(|request| {
            request
                .text()
                .lines()
                .map(|line| serde_json::from_str::<Value>(line).unwrap()["offset"].as_u64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn distinct(offsets: &[u64]) -> usize {
    let mut sorted = offsets.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.len()
}

async fn create_drain(client: &reqwest::Client, base: &str, receiver: &Receiver) -> Value {
    let response = client
        .post(format!("{base}/api/v1/orgs/acme/apps/api/drains"))
        .json(&json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": receiver.url("/")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn ingest(client: &reqwest::Client, base: &str, lines: std::ops::Range<usize>, pad: usize) {
    let padding = "p".repeat(pad);
    let body: String = lines.map(|n| format!("{{\"message\":\"line #{n} {padding}\"}}\n")).collect();
    let response = client
        .post(format!("{base}/api/v1/orgs/acme/apps/api/logs"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

#[tokio::test]
async fn a_vigie_killed_mid_delivery_resumes_from_the_cursor_losing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let token = prepare(dir.path());
    let client = common::client_with(&token);
    let receiver = Receiver::start().await;
    // Each batch takes a while, so the kill lands mid-delivery.
    receiver.answer_usually(Answer::Slow(Duration::from_millis(20), 200, String::new()));
    let mut vigie = Vigie::start(dir.path());
    create_drain(&client, &vigie.base, &receiver).await;
    for chunk in 0..10 {
        ingest(&client, &vigie.base, chunk * 500..chunk * 500 + 500, 0).await;
    }
    receiver
        .wait_for(Duration::from_secs(30), "a part delivered", |r| distinct(&acknowledged_offsets(r)) >= 1_000)
        .await;
    vigie.kill();
    let before_restart = distinct(&acknowledged_offsets(&receiver.requests()));
    assert!(before_restart < 5_000, "killed mid-delivery ({before_restart} delivered)");

    let _vigie = Vigie::start(dir.path());
    let requests =
        receiver.wait_for(Duration::from_secs(60), "everything", |r| distinct(&acknowledged_offsets(r)) >= 5_000).await;
    let offsets = acknowledged_offsets(&requests);
    assert_eq!(distinct(&offsets), 5_000, "0 lost");
    assert!(offsets.iter().all(|offset| *offset < 5_000));
    let duplicates = offsets.len() - 5_000;
    assert!(duplicates <= BATCH_LINES, "at most the batch in flight is sent twice: {duplicates} duplicates");
}

#[tokio::test]
async fn a_slow_recipient_grows_the_backlog_not_the_memory() {
    let dir = tempfile::tempdir().unwrap();
    let token = prepare(dir.path());
    let client = common::client_with(&token);
    let receiver = Receiver::start().await;
    receiver.answer_usually(Answer::Slow(Duration::from_secs(2), 200, String::new()));
    let vigie = Vigie::start(dir.path());
    let drain = create_drain(&client, &vigie.base, &receiver).await;
    // Warm up: a first request and batch, so allocations of the first use are counted before.
    ingest(&client, &vigie.base, 0..500, 2_000).await;
    receiver.wait_for(Duration::from_secs(30), "a first batch", |r| !r.is_empty()).await;
    let rss_before = vigie.rss_kib();
    // About 40 MB of lines the recipient is far too slow to take.
    for chunk in 1..41 {
        ingest(&client, &vigie.base, chunk * 500..chunk * 500 + 500, 2_000).await;
    }
    let path = format!("{}/api/v1/orgs/acme/apps/api/drains/{}", vigie.base, drain["id"]);
    let state: Value = client.get(&path).send().await.unwrap().json().await.unwrap();
    let backlog = state["backlog"].as_u64().unwrap();
    assert!(backlog >= 19_000, "the backlog grows: {state}");
    let grown_kib = vigie.rss_kib().saturating_sub(rss_before);
    assert!(
        grown_kib < 20 * 1024,
        "a backlog of {backlog} lines (about 40 MB) is kept in the store, not memory: RSS grew {grown_kib} KiB"
    );
}
