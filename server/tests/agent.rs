//! `vigie agent` as an instance runs it: the real `vigie` binary as the
//! server and as the agent, a real app (a Python script) as the command,
//! Python's `statsd` package as a tag-less statsd client and `cadence` as a
//! tagged one. What the app says arrives through the Logs API and the
//! Stats API for the right app and instance, and survives Vigie being
//! stopped for a while.
//!
//! Needs `scripts/setup test` (it puts `statsd` in scripts/tools/venv).

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cadence::prelude::*;
use cadence::{BufferedUdpMetricSink, StatsdClient};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A `vigie serve` child process with its admin token, on a port it can
/// be started again on.
struct Server {
    child: Child,
    base: String,
    port: u16,
    token: String,
    http: reqwest::Client,
    data_dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn vigie() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigie"));
    command.env("XDG_CONFIG_HOME", "/nonexistent").env("RUST_LOG", "warn");
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("VIGIE_")) {
        command.env_remove(name);
    }
    command
}

/// The Python of scripts/tools/venv, where `scripts/setup test` puts `statsd`.
fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/tools/venv/bin/python");
    let has_statsd = std::process::Command::new(&python).args(["-c", "import statsd"]).status();
    assert!(
        has_statsd.is_ok_and(|status| status.success()),
        "no statsd in {}: run `scripts/setup test`",
        python.display()
    );
    python
}

impl Server {
    /// Starts a server on a new data dir; its admin token is the first start's.
    async fn start(data_dir: &Path) -> Server {
        let port = free_port();
        let (child, token) = Server::spawn(data_dir, port, true).await;
        let token = token.expect("a first start prints the admin token");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        let http = reqwest::Client::builder().default_headers(headers).build().unwrap();
        Server { child, base: format!("http://127.0.0.1:{port}"), port, token, http, data_dir: data_dir.to_path_buf() }
    }

    async fn spawn(data_dir: &Path, port: u16, first: bool) -> (Child, Option<String>) {
        let mut child = vigie()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--statsd", "off", "--syslog-tcp", "off", "--syslog-udp", "off", "--durability", "10ms"])
            .arg("--data-dir")
            .arg(data_dir)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut token = None;
        loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
                .await
                .expect("the server did not start in 30 s")
                .unwrap()
                .expect("the server stopped before it was serving");
            if let Some(rest) = line.strip_prefix("Admin token of organisation \"main\" (shown once): ") {
                token = Some(rest.trim().to_string());
            }
            // A first start prints the token after the address; a restart prints no token.
            if (line.starts_with("Vigie console: ") && !first) || token.is_some() {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        (child, token)
    }

    /// Stops it as an operator does (SIGTERM) and waits for it to exit.
    async fn stop(&mut self) {
        signal(self.child.id().unwrap(), libc::SIGTERM);
        tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.expect("the server stops").unwrap();
    }

    /// Starts it again on the same port and data.
    async fn restart(&mut self) {
        self.child = Server::spawn(&self.data_dir.clone(), self.port, false).await.0;
    }

    async fn create_app(&self, slug: &str) {
        let response = self
            .http
            .post(format!("{}/api/v1/orgs/main/apps", self.base))
            .json(&json!({"slug": slug, "name": slug, "runtime": "Python"}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.http.get(format!("{}/api/v1/orgs/main/apps/{path}", self.base)).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// Every service record of an app, oldest first.
    async fn all_records(&self, app: &str) -> Vec<Value> {
        let mut records = Vec::new();
        let mut from = 0;
        loop {
            let page = self.get(&format!("{app}/logs?order=asc&from={from}&limit=1000")).await;
            let got = page["records"].as_array().unwrap_or_else(|| panic!("{page}")).clone();
            if got.is_empty() {
                return records;
            }
            from = got.last().unwrap()["offset"].as_u64().unwrap() + 1;
            records.extend(got);
        }
    }

    /// The series of a metric over the last hour in one step, by `group_by`.
    async fn metric(&self, app: &str, name: &str, query: &str) -> Value {
        self.get(&format!("{app}/metrics/{name}?from=1h&step=2h&{query}")).await
    }
}

fn signal(pid: u32, signo: i32) {
    // SAFETY: kill(2) on a process this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, signo) }, 0);
}

/// `vigie agent` for `app`, reading statsd on `statsd_port` (none: off).
fn agent(server: &Server, app: &str, instance: &str, buffer: &Path, statsd_port: Option<u16>) -> Command {
    let statsd = statsd_port.map_or("off".to_string(), |port| format!("127.0.0.1:{port}"));
    let mut command = vigie();
    command
        .args(["agent", "--url", &server.base, "--org", "main", "--app", app, "--instance", instance])
        .args(["--token", &server.token, "--statsd", &statsd])
        .arg("--buffer-dir")
        .arg(buffer)
        .stdout(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Polls `check` until it gives something, for `secs` at most.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    secs: u64,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The one value of each series of an answer, by the tag `tag`.
fn by_tag(answer: &Value, tag: &str) -> Vec<(String, f64)> {
    answer["series"]
        .as_array()
        .map(|series| {
            series
                .iter()
                .map(|s| {
                    let total = s["points"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).sum();
                    (s["tags"][tag].as_str().unwrap_or_default().to_string(), total)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The app: prints lines, a traceback on stderr, sends statsd with no tags,
/// serves Prometheus metrics, and stops on SIGTERM with status 3.
const APP: &str = r#"
import signal, sys, time, traceback, statsd, prometheus_client
port, prometheus_port = int(sys.argv[1]), int(sys.argv[2])
jobs = prometheus_client.Counter("jobs", "Jobs done.", ["queue"])
prometheus_client.Gauge("temperature_celsius", "Temperature.").set(21.5)
prometheus_client.start_http_server(prometheus_port, addr="127.0.0.1")
def stop(signo, frame):
    print("stopping on SIGTERM", flush=True)
    sys.exit(3)
signal.signal(signal.SIGTERM, stop)
client = statsd.StatsClient("127.0.0.1", port)
print("worker started", flush=True)
print("WARN queue is deep", flush=True)
time.sleep(0.3)
try:
    {}["customer_id"]
except KeyError:
    traceback.print_exc()
sys.stderr.flush()
time.sleep(0.3)
print("a plain line on stderr", file=sys.stderr, flush=True)
client.incr("orders", 3)
client.gauge("queue", 7)
client.timing("latency", 120)
print("metrics sent", flush=True)
while True:
    sum(range(100000))
    jobs.labels(queue="emails").inc()
    time.sleep(0.01)
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_app_s_lines_statsd_and_server_metrics_arrive_for_its_instance() {
    let python = python();
    let scratch = tempfile::tempdir().unwrap();
    let server = Server::start(&scratch.path().join("data")).await;
    server.create_app("shop").await;
    let (statsd_port, prometheus_port) = (free_udp_port(), free_port());
    let agent = agent(&server, "shop", "web-1", &scratch.path().join("buffer"), Some(statsd_port))
        .args(["--scrape", &format!("http://127.0.0.1:{prometheus_port}/metrics"), "--"])
        .arg(&python)
        .args(["-c", APP, &statsd_port.to_string(), &prometheus_port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The lines, the traceback as one record, levels as said or as stderr.
    let records = eventually(30, "the app's lines", || async {
        let records = server.all_records("shop").await;
        records.iter().any(|r| r["message"] == "metrics sent").then_some(records)
    })
    .await;
    // Each stream keeps its order (records of stdout and stderr are in the order they were finished).
    let stream = |name: &str| -> Vec<(&str, &str, &str)> {
        records
            .iter()
            .filter(|r| r["fields"]["stream"] == name)
            .map(|r| (r["instance"].as_str().unwrap(), r["level"].as_str().unwrap(), r["message"].as_str().unwrap()))
            .collect()
    };
    let stdout = stream("stdout");
    assert_eq!(
        stdout,
        [
            ("web-1", "info", "worker started"),
            ("web-1", "warn", "WARN queue is deep"),
            ("web-1", "info", "metrics sent")
        ]
    );
    let stderr = stream("stderr");
    assert_eq!(stderr.len(), 2, "{stderr:?}");
    let (instance, level, traceback) = stderr[0];
    assert!(instance == "web-1" && level == "error" && traceback.starts_with("Traceback (most recent call last):\n"));
    assert!(traceback.ends_with("\nKeyError: 'customer_id'") && traceback.contains("\n  File "), "{traceback}");
    assert_eq!(stderr[1], ("web-1", "error", "a plain line on stderr"));

    // A tagged client too (DogStatsD tags), next to the tag-less one.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink = BufferedUdpMetricSink::from(("127.0.0.1", statsd_port), socket).unwrap();
    let tagged = StatsdClient::builder("shop", sink).with_tag("env", "test").build();
    tagged.count_with_tags("checkout", 2).with_tag("route", "/pay").send();
    tagged.count_with_tags("checkout", 5).with_tag("route", "/cart").send();
    tagged.flush().unwrap();

    let orders = eventually(30, "the tag-less client's counter", || async {
        let answer = server.metric("shop", "orders", "aggregation=sum&group_by=instance").await;
        Some(by_tag(&answer, "instance")).filter(|series| !series.is_empty())
    })
    .await;
    assert_eq!(orders, [("web-1".to_string(), 3.0)]);
    let queue = server.metric("shop", "queue", "aggregation=last&group_by=instance").await;
    assert_eq!(by_tag(&queue, "instance"), [("web-1".to_string(), 7.0)], "{queue}");
    let latency = server.metric("shop", "latency", "aggregation=max").await;
    assert_eq!(latency["series"][0]["points"][0][1], 120.0, "{latency}");
    let checkout = eventually(30, "the tagged client's counter", || async {
        let answer = server.metric("shop", "shop.checkout", "aggregation=sum&group_by=route").await;
        Some(by_tag(&answer, "route")).filter(|series| series.len() == 2)
    })
    .await;
    assert_eq!(checkout, [("/cart".to_string(), 5.0), ("/pay".to_string(), 2.0)]);
    let env = server.metric("shop", "shop.checkout", "aggregation=sum&group_by=instance,env").await;
    assert_eq!(env["series"][0]["tags"], json!({"instance": "web-1", "env": "test"}), "{env}");

    // Server metrics of the instance: the app's process tree, and the machine.
    let memory = eventually(30, "a report of the instance's server metrics", || async {
        let answer = server.metric("shop", "instance.memory_used_bytes", "aggregation=max&group_by=instance").await;
        Some(by_tag(&answer, "instance")).filter(|series| !series.is_empty())
    })
    .await;
    assert_eq!(memory[0].0, "web-1");
    assert!(memory[0].1 > 1e6, "python's resident memory: {memory:?}");
    for name in ["instance.cpu_percent", "instance.memory_limit_bytes", "instance.host_cpu_percent"] {
        let answer = server.metric("shop", name, "aggregation=max&group_by=instance").await;
        let series = by_tag(&answer, "instance");
        assert!(series.len() == 1 && series[0].0 == "web-1" && series[0].1 > 0.0, "{name}: {answer}");
    }

    // Its Prometheus endpoint, scraped: a gauge, and a counter as what it grew by.
    let temperature = eventually(30, "the scraped gauge", || async {
        let answer = server.metric("shop", "temperature_celsius", "aggregation=last&group_by=instance").await;
        Some(by_tag(&answer, "instance")).filter(|series| !series.is_empty())
    })
    .await;
    assert_eq!(temperature, [("web-1".to_string(), 21.5)]);
    let jobs = eventually(40, "the scraped counter", || async {
        let answer = server.metric("shop", "jobs_total", "aggregation=sum&group_by=queue").await;
        Some(by_tag(&answer, "queue")).filter(|series| !series.is_empty())
    })
    .await;
    assert!(jobs[0].0 == "emails" && jobs[0].1 > 0.0, "{jobs:?}");

    // SIGTERM goes to the app, which exits 3; the agent exits 3 once all is sent.
    signal(agent.id().unwrap(), libc::SIGTERM);
    let output = tokio::time::timeout(Duration::from_secs(30), agent.wait_with_output())
        .await
        .expect("the agent exits")
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    // What the app printed is on the agent's own stdout and stderr too.
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("worker started\nWARN queue is deep\n"), "{stdout}");
    assert!(stderr.contains("\nKeyError: 'customer_id'\na plain line on stderr\n"), "{stderr}");
    let records = server.all_records("shop").await;
    let last: Vec<&str> = records.iter().rev().take(2).map(|r| r["message"].as_str().unwrap()).collect();
    assert_eq!(last[1], "stopping on SIGTERM", "sent before the agent exited: {last:?}");
    assert!(last[0].ends_with(" exited with status 3"), "{last:?}");
    assert_eq!(records.last().unwrap()["level"], "error");
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_printed_while_vigie_is_stopped_arrive_once_and_in_order() {
    let scratch = tempfile::tempdir().unwrap();
    let mut server = Server::start(&scratch.path().join("data")).await;
    server.create_app("worker").await;
    let progress = scratch.path().join("progress");
    let stop = scratch.path().join("stop");
    // Prints a numbered line every 5 ms until told to stop, and says how far it got.
    let app = format!(
        "i=0; while [ ! -e {stop} ]; do echo \"line $i\"; echo $i > {progress}.new; mv {progress}.new {progress}; i=$((i+1)); sleep 0.005; done",
        stop = stop.display(),
        progress = progress.display()
    );
    let mut agent = agent(&server, "worker", "w-1", &scratch.path().join("buffer"), None)
        .args(["--", "sh", "-c", &app])
        .spawn()
        .unwrap();
    let printed = || std::fs::read_to_string(&progress).ok().and_then(|text| text.trim().parse::<u64>().ok());

    eventually(30, "the first lines", || async { (server.all_records("worker").await.len() >= 20).then_some(()) })
        .await;
    server.stop().await;
    // Vigie is away while the app prints a few hundred more lines.
    let at_stop = eventually(10, "the app printing", || async { printed() }).await;
    eventually(30, "the app printing on", || async { (printed()? >= at_stop + 300).then_some(()) }).await;
    server.restart().await;
    eventually(30, "the buffered lines", || async {
        (server.all_records("worker").await.len() as u64 > at_stop + 300).then_some(())
    })
    .await;
    std::fs::write(&stop, "").unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), agent.wait()).await.expect("the agent exits").unwrap();
    assert_eq!(status.code(), Some(0));

    let records = server.all_records("worker").await;
    let lines: Vec<&str> =
        records.iter().filter(|r| r["fields"]["stream"] == "stdout").map(|r| r["message"].as_str().unwrap()).collect();
    let last = printed().unwrap();
    let expected: Vec<String> = (0..=last).map(|i| format!("line {i}")).collect();
    assert_eq!(lines, expected, "every line once, in order");
    assert!(records.iter().all(|r| r["instance"] == "w-1"));
    assert!(records.last().unwrap()["message"].as_str().unwrap().ends_with("exited with status 0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn followed_files_are_read_across_a_rotation() {
    let scratch = tempfile::tempdir().unwrap();
    let server = Server::start(&scratch.path().join("data")).await;
    server.create_app("files").await;
    let log = scratch.path().join("app.log");
    std::fs::write(&log, "written before the agent started\n").unwrap();
    let mut agent =
        agent(&server, "files", "f-1", &scratch.path().join("buffer"), None).arg("--tail").arg(&log).spawn().unwrap();
    let append = |path: &Path, text: &str| {
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
    };
    // The agent reads from the end of the file: probe until it follows.
    let mut probes = 0;
    eventually(30, "the agent following the file", || {
        probes += 1;
        append(&log, &format!("probe {probes}\n"));
        async { (!server.all_records("files").await.is_empty()).then_some(()) }
    })
    .await;
    for i in 0..50 {
        append(&log, &format!("line {i}\n"));
    }
    append(&log, "ERROR job failed\nTraceback (most recent call last):\n  File \"job.py\", line 1\nValueError: no\n");
    let rotated = scratch.path().join("app.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    for i in 50..60 {
        append(&rotated, &format!("line {i}\n"));
    }
    for i in 60..100 {
        append(&log, &format!("line {i}\n"));
    }
    eventually(30, "the lines of both files", || async {
        server.all_records("files").await.iter().any(|r| r["message"] == "line 99").then_some(())
    })
    .await;
    signal(agent.id().unwrap(), libc::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(30), agent.wait()).await.expect("the agent exits").unwrap();
    assert_eq!(status.code(), Some(0));

    let records = server.all_records("files").await;
    let messages: Vec<&str> = records
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .filter(|message| !message.starts_with("probe "))
        .collect();
    let mut expected: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
    expected
        .push("ERROR job failed\nTraceback (most recent call last):\n  File \"job.py\", line 1\nValueError: no".into());
    expected.extend((50..100).map(|i| format!("line {i}")));
    assert_eq!(messages, expected);
    assert!(records.iter().all(|r| r["instance"] == "f-1" && r["fields"]["stream"] == log.display().to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_never_waits_on_an_absent_vigie_and_the_next_agent_sends_what_it_printed() {
    let scratch = tempfile::tempdir().unwrap();
    let mut server = Server::start(&scratch.path().join("data")).await;
    server.create_app("batch").await;
    server.stop().await;
    let buffer = scratch.path().join("buffer");

    // Vigie is away: the command prints 50,000 lines and exits; the agent
    // exits with its status once it gave up sending, the lines on disk.
    let mut first = agent(&server, "batch", "b-1", &buffer, None)
        .args(["--flush-timeout", "1", "--", "seq", "50000"])
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), first.wait()).await.expect("the agent exits").unwrap();
    assert_eq!(status.code(), Some(0));

    // Vigie is back: an agent on the same buffer sends them first, in order.
    server.restart().await;
    let mut second = agent(&server, "batch", "b-1", &buffer, None).args(["--", "true"]).spawn().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), second.wait()).await.expect("the agent exits").unwrap();
    assert_eq!(status.code(), Some(0));
    let records = server.all_records("batch").await;
    let printed: Vec<&str> =
        records.iter().filter(|r| r["fields"]["stream"] == "stdout").map(|r| r["message"].as_str().unwrap()).collect();
    let expected: Vec<String> = (1..=50_000).map(|n| n.to_string()).collect();
    assert_eq!(printed.len(), expected.len());
    assert!(printed == expected, "every line once, in order");
    let agent_lines: Vec<&str> =
        records.iter().filter(|r| r["fields"]["stream"] == "agent").map(|r| r["message"].as_str().unwrap()).collect();
    assert_eq!(agent_lines, ["`seq 50000` exited with status 0", "`true` exited with status 0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_command_is_restarted_with_each_exit_said() {
    let scratch = tempfile::tempdir().unwrap();
    let server = Server::start(&scratch.path().join("data")).await;
    server.create_app("flaky").await;
    let mut agent = agent(&server, "flaky", "f-1", &scratch.path().join("buffer"), None)
        .args(["--restart", "on-failure", "--", "sh", "-c", "echo starting; exit 1"])
        .spawn()
        .unwrap();
    let records = eventually(30, "a second restart", || async {
        let records = server.all_records("flaky").await;
        records.iter().any(|r| r["message"].as_str().unwrap().ends_with("restart 2 in 2 s")).then_some(records)
    })
    .await;
    // Stopped while it waits to start the command again: the last status is the agent's.
    signal(agent.id().unwrap(), libc::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(30), agent.wait()).await.expect("the agent exits").unwrap();
    assert_eq!(status.code(), Some(1));
    let said: Vec<(&str, &str)> =
        records.iter().map(|r| (r["level"].as_str().unwrap(), r["message"].as_str().unwrap())).collect();
    assert_eq!(
        said,
        [
            ("info", "starting"),
            ("error", "`sh -c echo starting; exit 1` exited with status 1; restart 1 in 1 s"),
            ("info", "starting"),
            ("error", "`sh -c echo starting; exit 1` exited with status 1; restart 2 in 2 s"),
        ]
    );
}
