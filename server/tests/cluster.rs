//! Scale-out, driven the way an operator runs it (docs/SCALING.md): three
//! real `nats-server` with JetStream, clustered on loopback, and two real
//! `vigie serve --nats` processes, A and B, each with its own data
//! directory. One cluster for the whole file (its start is the slow part),
//! so the scenarios run in order in one test, each a function named for
//! what it proves; every wait polls with a deadline.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::receiver::{Received, Receiver};
use futures::StreamExt;
use serde_json::{json, Value};

const LOGS: &str = "/api/v1/orgs/main/apps/api/logs";

/// A child process killed (SIGKILL) and reaped when dropped, and killed by
/// the kernel if the test process dies first.
struct Process(Child);

impl Process {
    fn spawn(command: &mut Command) -> Process {
        // SAFETY: prctl is async-signal-safe; it only sets this child's
        // parent-death signal.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Process(command.spawn().unwrap_or_else(|error| panic!("cannot start {command:?}: {error}")))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `check` every 50 ms until it gives a value, or fails after `limit`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct NatsServer {
    name: String,
    dir: PathBuf,
    port: u16,
    cluster_port: u16,
    routes: String,
    process: Option<Process>,
}

impl NatsServer {
    fn start(&mut self) {
        let log = std::fs::File::create(self.dir.join(format!("{}.log", self.name))).unwrap();
        self.process = Some(Process::spawn(
            Command::new("nats-server")
                .args(["-js", "-a", "127.0.0.1", "-n", &self.name, "--cluster_name", "vigie-test"])
                .arg("-sd")
                .arg(self.dir.join(&self.name))
                .args(["-p", &self.port.to_string()])
                .args(["--cluster", &format!("nats://127.0.0.1:{}", self.cluster_port)])
                .args(["--routes", &self.routes])
                .stdout(Stdio::null())
                .stderr(log),
        ));
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

struct Node {
    name: &'static str,
    dir: PathBuf,
    nats: String,
    base: String,
    /// The admin token printed at a first start.
    first_token: Option<String>,
    process: Option<Process>,
}

impl Node {
    /// Starts the node and waits for it to print its address (and, on the
    /// cluster's first start, its admin token).
    fn start(&mut self, first_start: bool) {
        std::fs::create_dir_all(&self.dir).unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("vigie.log")).unwrap();
        let mut process = Process::spawn(
            Command::new(env!("CARGO_BIN_EXE_vigie"))
                .args(["serve", "--nats", &self.nats, "--nats-replicas", "3", "--listen", "127.0.0.1:0"])
                .arg("--data-dir")
                .arg(self.dir.join("data"))
                .arg("--site-root")
                .arg(self.dir.join("site"))
                .args(["--syslog-tcp", "off", "--syslog-udp", "off", "--statsd", "off"])
                .args(["--durability", "100ms"])
                .args(["--drain-allow-private-targets", "--drain-batch-wait-ms", "100"])
                .env("RUST_LOG", "info")
                .stdout(Stdio::piped())
                .stderr(log),
        );
        let stdout = process.0.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut printed = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = received.recv_timeout(left) else {
                panic!("node {} did not start within 60 s; it printed:\n{}", self.name, printed.join("\n"));
            };
            printed.push(line.clone());
            if let Some(addr) = line.strip_prefix("Vigie console: ") {
                self.base = addr.trim_end_matches('/').to_string();
                break;
            }
        }
        // The welcome, if any, comes right after the address line and
        // ends with a "Try:" line.
        if first_start {
            while self.first_token.is_none() {
                let left = deadline.saturating_duration_since(Instant::now());
                let line = received.recv_timeout(left).expect("node A's first start prints an admin token");
                if let Some(token) = line.split("(shown once): ").nth(1) {
                    self.first_token = Some(token.trim().to_string());
                }
            }
        } else {
            let quiet_until = Instant::now() + Duration::from_secs(1);
            while let Ok(line) = received.recv_timeout(quiet_until.saturating_duration_since(Instant::now())) {
                assert!(!line.contains("(shown once)"), "node {} joined a cluster: no first start", self.name);
            }
        }
        // Keep its stdout (its log) read into a file, so the pipe never fills.
        let mut out = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("stdout.log")).unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            for line in printed.into_iter().chain(received) {
                let _ = writeln!(out, "{line}");
            }
        });
        self.process = Some(process);
    }
}

struct Cluster {
    nats: Vec<NatsServer>,
    a: Node,
    b: Node,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::env::var_os("VIGIE_KEEP_CLUSTER_DIR").is_some() {
            let _ = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap()).keep();
        }
    }
}

async fn start_cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    if std::env::var_os("VIGIE_KEEP_CLUSTER_DIR").is_some() {
        eprintln!("the cluster's files are in {}", dir.path().display());
    }
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let routes = ports.iter().map(|(_, cluster)| format!("nats://127.0.0.1:{cluster}")).collect::<Vec<_>>().join(",");
    let mut nats: Vec<NatsServer> = ports
        .iter()
        .enumerate()
        .map(|(i, (port, cluster_port))| NatsServer {
            name: format!("nats-{i}"),
            dir: dir.path().to_path_buf(),
            port: *port,
            cluster_port: *cluster_port,
            routes: routes.clone(),
            process: None,
        })
        .collect();
    for server in &mut nats {
        server.start();
    }
    let urls = nats.iter().map(NatsServer::url).collect::<Vec<_>>().join(",");
    let node = |name| Node {
        name,
        dir: dir.path().join(name),
        nats: urls.clone(),
        base: String::new(),
        first_token: None,
        process: None,
    };
    let (mut a, mut b) = (node("a"), node("b"));
    a.start(true);
    let token = a.first_token.clone().expect("node A's first start prints an admin token");
    b.start(false);
    let http = client_with(&token);
    Cluster { nats, a, b, http, _dir: dir }
}

fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

impl Cluster {
    async fn post_lines(&self, base: &str, messages: &[String]) -> (u16, Value) {
        let body: String = messages.iter().map(|message| format!("{}\n", json!({ "message": message }))).collect();
        let response = self
            .http
            .post(format!("{base}{LOGS}"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Every record of the topic on a node, as (offset, message), or `None`
    /// when the node does not answer.
    async fn records(&self, base: &str) -> Option<Vec<(u64, String)>> {
        let mut records = Vec::new();
        let mut from = 0;
        loop {
            let response = self.http.get(format!("{base}{LOGS}?from={from}&limit=1000")).send().await.ok()?;
            if response.status() != 200 {
                return None;
            }
            let page: Value = response.json().await.ok()?;
            let batch = page["records"].as_array()?;
            if batch.is_empty() {
                return Some(records);
            }
            for record in batch {
                let offset = record["offset"].as_u64()?;
                records.push((offset, record["message"].as_str()?.to_string()));
                from = offset + 1;
            }
        }
    }

    /// Waits until node `base` holds exactly the records node A holds,
    /// and that they include `expected`.
    async fn same_records_on(&self, base: &str, expected: &[String], limit: Duration) -> Vec<(u64, String)> {
        let last_seen = Mutex::new(String::new());
        let what = format!("{base} holds every acknowledged line, at A's offsets");
        let found = tokio::time::timeout(
            limit,
            eventually(&what, limit + Duration::from_secs(1), || async {
                let (on_a, on_other) = (self.records(&self.a.base).await?, self.records(base).await?);
                let messages: std::collections::HashSet<&str> = on_other.iter().map(|(_, m)| m.as_str()).collect();
                let missing = expected.iter().filter(|m| !messages.contains(m.as_str())).count();
                *last_seen.lock().unwrap() = format!(
                    "A holds {} records, {base} {}; {missing} of {} acknowledged lines missing; first difference at {:?}",
                    on_a.len(),
                    on_other.len(),
                    expected.len(),
                    on_a.iter().zip(&on_other).position(|(a, other)| a != other),
                );
                (on_a == on_other && missing == 0).then_some(on_other)
            }),
        )
        .await;
        found.unwrap_or_else(|_| panic!("{what}: not within {limit:?}: {}", last_seen.lock().unwrap()))
    }
}

#[tokio::test]
async fn a_cluster_of_two_nodes_on_three_nats_servers() {
    let mut cluster = start_cluster().await;
    create_the_app_on_a_and_find_it_on_b(&cluster).await;
    a_line_acknowledged_by_a_is_read_on_b_at_the_same_offset(&cluster).await;
    a_live_tail_on_b_sees_lines_posted_on_a_and_resumes_on_a_exactly(&cluster).await;
    killing_a_nats_server_under_ingest_loses_no_acknowledged_line(&mut cluster).await;
    node_b_killed_and_restarted_catches_up_and_serves_every_line(&mut cluster).await;
    a_token_revoked_on_a_is_refused_by_b_within_5_s(&cluster).await;
    a_retention_set_on_a_holds_on_b(&cluster).await;
    an_audit_record_made_on_a_is_read_on_b(&cluster).await;
    a_drain_runs_on_one_node_and_moves_on_when_that_node_dies(&mut cluster).await;
}

async fn an_audit_record_made_on_a_is_read_on_b(cluster: &Cluster) {
    // The retention change just made on A was audited there.
    eventually("A's audit record of the retention is on B", Duration::from_secs(5), || async {
        let url = format!("{}/api/v1/orgs/main/audit?limit=100", cluster.b.base);
        let page: Value = cluster.http.get(url).send().await.ok()?.json().await.ok()?;
        let records = page["records"].as_array()?;
        records.iter().any(|record| record.to_string().contains("retention.changed")).then_some(())
    })
    .await;
}

/// The messages a raw-http recipient was sent, each once per time it came.
fn drained_messages(requests: &[Received]) -> Vec<String> {
    requests
        .iter()
        .filter(|request| request.answered == 200)
        .flat_map(|request| {
            request
                .text()
                .lines()
                .filter_map(|line| Some(serde_json::from_str::<Value>(line).ok()?["message"].as_str()?.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A gauge of a node's `/metrics`, or `None` when it does not answer.
async fn gauge(cluster: &Cluster, base: &str, name: &str) -> Option<u64> {
    let text = cluster.http.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A node's `vigie_drains_running` (drain loops running on it).
async fn drains_running(cluster: &Cluster, base: &str) -> Option<u64> {
    gauge(cluster, base, "vigie_drains_running").await
}

/// Whether a node holds the drains' lease (`vigie_drains_lease_held`):
/// without it, a node runs no drain.
async fn lease_held(cluster: &Cluster, base: &str) -> Option<u64> {
    gauge(cluster, base, "vigie_drains_lease_held").await
}

async fn a_drain_runs_on_one_node_and_moves_on_when_that_node_dies(cluster: &mut Cluster) {
    let receiver = Receiver::start().await;
    let response = cluster
        .http
        .post(format!("{}/api/v1/orgs/main/apps/api/drains", cluster.b.base))
        .json(&json!({"kind": "LOG", "recipient": {"type": "raw-http", "url": receiver.url("/")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let drain: Value = response.json().await.unwrap();
    let id = drain["id"].as_i64().unwrap();

    // Lines through both nodes reach the recipient once each: one node runs the drain.
    let first: Vec<String> = (0..20).map(|n| format!("drained through A {n}")).collect();
    let (status, reply) = cluster.post_lines(&cluster.a.base, &first).await;
    assert_eq!(status, 200, "{reply}");
    let second: Vec<String> = (0..20).map(|n| format!("drained through B {n}")).collect();
    let (status, reply) = cluster.post_lines(&cluster.b.base, &second).await;
    assert_eq!(status, 200, "{reply}");
    let sent: Vec<String> = first.iter().chain(&second).cloned().collect();
    receiver
        .wait_for(Duration::from_secs(20), "the lines posted on A and B drained", |requests| {
            let drained = drained_messages(requests);
            sent.iter().all(|line| drained.contains(line))
        })
        .await;
    let on_a = eventually("one node holds the lease and runs the drain", Duration::from_secs(10), || async {
        let (a, b) = (&cluster.a.base, &cluster.b.base);
        let held = (lease_held(cluster, a).await?, lease_held(cluster, b).await?);
        let running = (drains_running(cluster, a).await?, drains_running(cluster, b).await?);
        (held == running && matches!(held, (1, 0) | (0, 1))).then_some(held.0)
    })
    .await;
    let (runner_is_a, other_base) =
        if on_a == 1 { (true, cluster.b.base.clone()) } else { (false, cluster.a.base.clone()) };
    // The cursor the runner saved is the other node's too.
    eventually("the drain's cursor reaches the other node", Duration::from_secs(10), || async {
        let url = format!("{other_base}/api/v1/orgs/main/apps/api/drains/{id}");
        let view: Value = cluster.http.get(url).send().await.ok()?.json().await.ok()?;
        (view["backlog"] == 0 && view["cursor"].as_u64()? > 0).then_some(())
    })
    .await;

    // SIGKILL the node running it: the other takes the drain over from the shared cursor.
    if runner_is_a {
        cluster.a.process = None;
    } else {
        cluster.b.process = None;
    }
    let third: Vec<String> = (0..20).map(|n| format!("drained after the failover {n}")).collect();
    let (status, reply) = cluster.post_lines(&other_base, &third).await;
    assert_eq!(status, 200, "{reply}");
    let requests = receiver
        .wait_for(Duration::from_secs(30), "the lines posted after the runner died drained", |requests| {
            let drained = drained_messages(requests);
            third.iter().all(|line| drained.contains(line))
        })
        .await;
    let drained = drained_messages(&requests);
    for line in &sent {
        let times = drained.iter().filter(|drained| *drained == line).count();
        assert_eq!(times, 1, "{line:?} was sent {times} times: the new runner resumed from the shared cursor");
    }
    assert_eq!(drains_running(cluster, &other_base).await, Some(1), "the survivor runs the drain");
    assert_eq!(lease_held(cluster, &other_base).await, Some(1), "the survivor holds the lease");

    // Back, the dead node does not run it again beside the survivor.
    let back = if runner_is_a { &mut cluster.a } else { &mut cluster.b };
    back.start(false);
    let back_base = back.base.clone();
    assert_eq!(lease_held(cluster, &back_base).await, Some(0));
    assert_eq!(drains_running(cluster, &back_base).await, Some(0));
    assert_eq!(drains_running(cluster, &other_base).await, Some(1));

    // Disabled on the node that does not run it, it stops on the one that does.
    let url = format!("{back_base}/api/v1/orgs/main/apps/api/drains/{id}/disable");
    assert_eq!(cluster.http.post(url).send().await.unwrap().status(), 200);
    eventually("the drain disabled on one node stops on the runner", Duration::from_secs(5), || async {
        (drains_running(cluster, &other_base).await? == 0).then_some(())
    })
    .await;
}

async fn a_retention_set_on_a_holds_on_b(cluster: &Cluster) {
    let response = cluster
        .http
        .put(format!("{}/api/v1/orgs/main/apps/api/retention", cluster.a.base))
        .json(&json!({"kind": "service", "max_age_secs": 86_400, "max_bytes": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let on_a: Value = response.json().await.unwrap();
    assert_eq!(on_a["max_age_secs"], 86_400, "{on_a}");
    eventually("the retention set on A is B's", Duration::from_secs(5), || async {
        let response =
            cluster.http.get(format!("{}/api/v1/orgs/main/apps/api/retention", cluster.b.base)).send().await.ok()?;
        let kinds: Value = response.json().await.ok()?;
        let service = kinds.as_array()?.iter().find(|kind| kind["kind"] == "service")?;
        (service["max_age_secs"] == 86_400).then_some(())
    })
    .await;
}

async fn create_the_app_on_a_and_find_it_on_b(cluster: &Cluster) {
    let response = cluster
        .http
        .post(format!("{}/api/v1/orgs/main/apps", cluster.a.base))
        .json(&json!({"slug": "api", "name": "API", "runtime": "Rust"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    eventually("the app made on A is on B", Duration::from_secs(10), || async {
        let response = cluster.http.get(format!("{}/api/v1/orgs/main/apps", cluster.b.base)).send().await.ok()?;
        let apps: Value = response.json().await.ok()?;
        apps.as_array()?.iter().any(|app| app["slug"] == "api").then_some(())
    })
    .await;
}

async fn a_line_acknowledged_by_a_is_read_on_b_at_the_same_offset(cluster: &Cluster) {
    let lines = vec!["first line, through A".to_string(), "second line, through A".to_string()];
    let (status, reply) = cluster.post_lines(&cluster.a.base, &lines).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["accepted"], 2);
    let (first, last) = (reply["first_offset"].as_u64().unwrap(), reply["last_offset"].as_u64().unwrap());
    assert_eq!(last, first + 1);
    let on_b = cluster.same_records_on(&cluster.b.base, &lines, Duration::from_secs(10)).await;
    assert!(on_b.contains(&(first, lines[0].clone())), "{on_b:?}");
    assert!(on_b.contains(&(last, lines[1].clone())), "{on_b:?}");
}

/// Reads an SSE stream until `want` messages came; returns them with the
/// id of the event that carried each.
async fn live_messages(response: reqwest::Response, want: usize) -> Vec<(u64, String)> {
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let mut seen = Vec::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                let data = event.lines().find_map(|line| line.strip_prefix("data: "));
                if event.contains("event: ") || data.is_none() {
                    continue;
                }
                let records: Value = serde_json::from_str(data.unwrap()).unwrap();
                for record in records.as_array().unwrap() {
                    seen.push((record["offset"].as_u64().unwrap(), record["message"].as_str().unwrap().to_string()));
                }
                if seen.len() >= want {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read).await.expect("the live lines within 20 s");
    seen
}

async fn a_live_tail_on_b_sees_lines_posted_on_a_and_resumes_on_a_exactly(cluster: &Cluster) {
    let tail = cluster.http.get(format!("{}{LOGS}/live", cluster.b.base)).send().await.unwrap();
    let lines: Vec<String> = (0..5).map(|n| format!("live line {n}")).collect();
    let (status, reply) = cluster.post_lines(&cluster.a.base, &lines).await;
    assert_eq!(status, 200, "{reply}");
    let first = reply["first_offset"].as_u64().unwrap();
    let seen = live_messages(tail, 5).await;
    let expected: Vec<(u64, String)> = lines.iter().enumerate().map(|(i, m)| (first + i as u64, m.clone())).collect();
    assert_eq!(seen, expected, "B's tail carries A's lines at A's offsets");

    // A reader that saw up to the second line on B resumes on A right after it.
    let resumed = cluster
        .http
        .get(format!("{}{LOGS}/live", cluster.a.base))
        .header("last-event-id", (first + 1).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(live_messages(resumed, 3).await, expected[2..].to_vec(), "nothing lost, nothing twice");
}

async fn killing_a_nats_server_under_ingest_loses_no_acknowledged_line(cluster: &mut Cluster) {
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for sender in 0..3 {
        let (http, bases) = (cluster.http.clone(), [cluster.a.base.clone(), cluster.b.base.clone()]);
        let (acknowledged, acked_count, stop) = (acknowledged.clone(), acked_count.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let mut batch = 0;
            while !stop.load(Ordering::Relaxed) {
                let messages: Vec<String> = (0..10).map(|n| format!("under failover {sender}-{batch}-{n}")).collect();
                let body: String =
                    messages.iter().map(|message| format!("{}\n", json!({ "message": message }))).collect();
                let sent = http
                    .post(format!("{}{LOGS}", bases[batch % 2]))
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .timeout(Duration::from_secs(60))
                    .send()
                    .await;
                if sent.is_ok_and(|response| response.status() == 200) {
                    acknowledged.lock().unwrap().extend(messages);
                    acked_count.fetch_add(1, Ordering::Relaxed);
                }
                batch += 1;
            }
        }));
    }
    let acked = |at_least: usize| {
        let acked_count = acked_count.clone();
        async move { (acked_count.load(Ordering::Relaxed) >= at_least).then_some(()) }
    };
    eventually("batches acknowledged before the kill", Duration::from_secs(30), || acked(20)).await;
    // SIGKILL, as a machine would vanish.
    cluster.nats[0].process = None;
    let after_kill = acked_count.load(Ordering::Relaxed);
    eventually("batches acknowledged after the kill", Duration::from_secs(60), || acked(after_kill + 30)).await;
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    for base in [cluster.a.base.clone(), cluster.b.base.clone()] {
        let records = cluster.same_records_on(&base, &acknowledged, Duration::from_secs(30)).await;
        let offsets: Vec<u64> = records.iter().map(|(offset, _)| *offset).collect();
        assert_eq!(offsets, (0..records.len() as u64).collect::<Vec<_>>(), "offsets are consecutive on {base}");
    }
    cluster.nats[0].start();
}

async fn node_b_killed_and_restarted_catches_up_and_serves_every_line(cluster: &mut Cluster) {
    cluster.b.process = None;
    let lines: Vec<String> = (0..200).map(|n| format!("while B was down {n}")).collect();
    for chunk in lines.chunks(50) {
        let (status, reply) = cluster.post_lines(&cluster.a.base, chunk).await;
        assert_eq!(status, 200, "{reply}");
    }
    cluster.b.start(false);
    let on_b = cluster.same_records_on(&cluster.b.base, &lines, Duration::from_secs(30)).await;
    let distinct: std::collections::HashSet<&String> = on_b.iter().map(|(_, message)| message).collect();
    assert_eq!(distinct.len(), on_b.len(), "no line twice on B after its restart");
}

async fn a_token_revoked_on_a_is_refused_by_b_within_5_s(cluster: &Cluster) {
    let response = cluster
        .http
        .post(format!("{}/api/v1/orgs/main/tokens", cluster.a.base))
        .json(&json!({"name": "short-lived", "permissions": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let (id, secret) = (created["token"]["id"].as_i64().unwrap(), created["secret"].as_str().unwrap().to_string());
    let reader = client_with(&secret);
    let status_on_b = || {
        let (reader, url) = (reader.clone(), format!("{}{LOGS}?limit=1", cluster.b.base));
        async move { reader.get(url).send().await.map(|response| response.status().as_u16()).ok() }
    };
    eventually("the token made on A works on B", Duration::from_secs(5), || async {
        (status_on_b().await == Some(200)).then_some(())
    })
    .await;
    let response =
        cluster.http.delete(format!("{}/api/v1/orgs/main/tokens/{id}", cluster.a.base)).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    eventually("the token revoked on A is refused by B", Duration::from_secs(5), || async {
        (status_on_b().await == Some(401)).then_some(())
    })
    .await;
}
