//! `vigie logs` and `vigie tokens` run as a user runs them, against a real server.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{hundred_lines, serve, TestServer, LOGS};

/// `vigie` with no config file of the user's, and no VIGIE_* variables.
fn vigie() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigie"));
    command.env("XDG_CONFIG_HOME", "/nonexistent").env("NO_COLOR", "1");
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("VIGIE_")) {
        command.env_remove(name);
    }
    command
}

fn vigie_logs(server: &TestServer, args: &[&str]) -> std::process::Output {
    vigie()
        .args(["logs", "--url", &server.base, "--org", "acme", "--app", "api", "--token", &server.token])
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &std::process::Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_prints_a_filtered_range_the_last_lines_and_json() {
    let server = serve().await;
    hundred_lines(&server).await;

    let output = tokio::task::block_in_place(|| vigie_logs(&server, &["--since", "35s", "--search", "level:error"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].ends_with(" default ERROR upstream timeout #70"), "{stdout}");
    assert!(lines[2].ends_with(" default ERROR upstream timeout #90"), "{stdout}");

    let output = tokio::task::block_in_place(|| vigie_logs(&server, &["-n", "2", "--format", "json"]));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let records: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let messages: Vec<&str> = records.iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["request done #98", "request done #99"], "the last lines, oldest first");
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_says_what_was_wrong_and_exits_non_zero() {
    let server = serve().await;
    let output = tokio::task::block_in_place(|| {
        vigie()
            .args(["logs", "--url", &server.base, "--org", "acme", "--app", "nope"])
            .env("VIGIE_TOKEN", &server.token)
            .output()
            .unwrap()
    });
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("404: no app \"nope\" in organisation \"acme\""), "{stderr}");

    let output = tokio::task::block_in_place(|| vigie_logs(&server, &["--search", "status>="]));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("400: q: at character 8: expected a value"), "{stderr}");

    let output = tokio::task::block_in_place(|| {
        vigie().args(["logs", "--url", "http://127.0.0.1:9", "--org", "acme", "--app", "api"]).output().unwrap()
    });
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("cannot reach Vigie at http://127.0.0.1:9"), "{stderr}");
    server.server.stop().await;
}

/// A running `vigie logs --follow` of `api`, its output read line by line.
struct Follower {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

fn follow(server: &TestServer, args: &[&str]) -> Follower {
    let mut child = vigie()
        .args(["logs", "--url", &server.base, "--org", "acme", "--app", "api", "--follow"])
        .args(["--token", &server.token])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Follower { stdout: lines_of(child.stdout.take().unwrap()), stderr: lines_of(child.stderr.take().unwrap()), child }
}

fn lines_of(output: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    lines
}

impl Follower {
    /// Waits until the CLI says its live stream is open: the server then
    /// follows the topic, and every line appended from now on will come.
    fn wait_until_live(&self) {
        loop {
            let line = self.stderr.recv_timeout(Duration::from_secs(10)).expect("the live stream did not open");
            if line.starts_with("(following new lines") {
                return;
            }
        }
    }

    fn next_line(&self) -> String {
        self.stdout.recv_timeout(Duration::from_secs(20)).expect("no line printed")
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_prints_new_lines_as_they_arrive() {
    let server = serve().await;
    server.post(LOGS, "text/plain", "first line").await;
    let follower = follow(&server, &["-n", "1"]);
    let first = follower.next_line();
    assert!(first.ends_with("first line"), "{first}");
    follower.wait_until_live();
    server.post(LOGS, "text/plain", "WARN second line").await;
    let second = follower.next_line();
    assert!(second.ends_with("WARN WARN second line"), "{second}");
    drop(follower);
    server.server.stop().await;
}

/// Lines of hundreds of KB reach the CLI in many network chunks, cut
/// anywhere, also inside a character: it must join them back.
#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_keeps_characters_cut_by_network_chunks_whole() {
    let server = serve().await;
    let follower = follow(&server, &[]);
    follower.wait_until_live();
    // 2, 4 and mixed 1 to 4 bytes a character, each line just under the
    // 64 KiB a line may have.
    let mut lines: Vec<String> = (0..8).map(|n| format!("line {n} {}", "é".repeat(30_000))).collect();
    lines.push(format!("crabs {}", "🦀".repeat(15_000)));
    lines.push(format!("mixed {}", "aé€🦀".repeat(6_000)));
    lines.push(format!("flags {}", "🇫🇷".repeat(7_000)));
    let (status, reply) = server.post(LOGS, "text/plain", &lines.join("\n")).await;
    assert_eq!(status, 200, "{reply}");

    for expected in &lines {
        let printed = follower.next_line();
        let replaced = printed.matches('\u{FFFD}').count();
        let head: String = expected.chars().take(8).collect();
        assert_eq!(replaced, 0, "{replaced} characters of line \"{head}…\" came out as U+FFFD");
        assert!(
            printed.ends_with(expected.as_str()),
            "line \"{head}…\" came out as {} bytes, not {}",
            printed.len(),
            expected.len()
        );
    }
    drop(follower);
    server.server.stop().await;
}

/// A token revoked while the CLI follows: the server's next re-check ends
/// the stream with its reason, and the CLI prints it and stops, without
/// reconnecting; heartbeats before that printed no line.
#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_stops_with_the_servers_reason_when_its_token_is_revoked() {
    let server = serve().await;
    let read = vigie_server::catalog::Permissions::parse("read").unwrap();
    let (reader, secret) = server.server.catalog.create_token("acme", "follower", read, "tests").unwrap();
    let mut child = vigie()
        .args(["logs", "--url", &server.base, "--org", "acme", "--app", "api", "--follow", "--token", &secret])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let follower = Follower {
        stdout: lines_of(child.stdout.take().unwrap()),
        stderr: lines_of(child.stderr.take().unwrap()),
        child,
    };
    follower.wait_until_live();
    server.post(LOGS, "text/plain", "before the end").await;
    assert!(follower.next_line().ends_with("before the end"));

    server.server.catalog.revoke_token("acme", reader.id).unwrap();
    let mut follower = follower;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = follower.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the CLI kept following after its token was revoked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success());
    let stderr: Vec<String> = follower.stderr.try_iter().collect();
    let stderr = stderr.join("\n");
    assert!(stderr.contains("\"follower\"") && stderr.contains("revoked"), "{stderr}");
    assert!(!stderr.contains("reconnecting") && !stderr.contains("the live stream is back"), "{stderr}");
    assert_eq!(follower.stdout.try_iter().count(), 0, "heartbeats print no line");
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_created_used_from_a_config_file_listed_and_revoked() {
    let server = serve().await;
    hundred_lines(&server).await;
    let admin = ["--url", server.base.as_str(), "--org", "acme", "--token", server.token.as_str()];

    let output = tokio::task::block_in_place(|| {
        vigie().args(["tokens", "create", "--name", "reader", "--permissions", "read"]).args(admin).output().unwrap()
    });
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let id = stdout.strip_prefix("Created token ").and_then(|rest| rest.split(' ').next()).unwrap().to_string();
    assert!(stdout.contains(&format!("Created token {id} \"reader\" (read) in acme.")), "{stdout}");
    let secret = stdout.lines().last().unwrap().trim().to_string();
    assert!(secret.starts_with("vgt_"), "{stdout}");

    // The new token, from a config file, reads logs.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigie.toml");
    std::fs::write(&config, format!("url = \"{}\"\ntoken = \"{secret}\"\norg = \"acme\"\n", server.base)).unwrap();
    let read =
        || vigie().args(["logs", "--app", "api", "-n", "1", "--config", config.to_str().unwrap()]).output().unwrap();
    let output = tokio::task::block_in_place(read);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.trim_end().ends_with("request done #99"), "{stdout}");

    let output = tokio::task::block_in_place(|| vigie().args(["tokens", "list"]).args(admin).output().unwrap());
    let (stdout, _) = text(&output);
    assert!(
        stdout.lines().any(|line| line.contains("reader") && line.contains("read") && line.ends_with("active")),
        "{stdout}"
    );
    assert!(!stdout.contains(&secret), "a list never shows a secret: {stdout}");

    let output = tokio::task::block_in_place(|| vigie().args(["tokens", "revoke", &id]).args(admin).output().unwrap());
    assert!(text(&output).0.contains(&format!("Revoked token {id} \"reader\"")), "{:?}", text(&output));

    let output = tokio::task::block_in_place(read);
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("401: the token \"reader\""), "{stderr}");
    assert!(stderr.contains("is revoked: create another with `vigie tokens create"), "{stderr}");

    // A read token cannot manage tokens.
    let output = tokio::task::block_in_place(|| {
        vigie().args(["tokens", "list", "--config", config.to_str().unwrap()]).output().unwrap()
    });
    assert!(text(&output).1.contains("401"), "{:?}", text(&output));
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_prints_the_context_of_each_line_found_and_access_logs_in_common_log_format() {
    let server = serve().await;
    hundred_lines(&server).await;
    // Errors are #70, #80, #90 in the last 35 s: two lines on either side of each, unfiltered.
    let output = tokio::task::block_in_place(|| {
        vigie_logs(&server, &["--after", "35s", "-s", "level:error", "-C", "2", "-F", "human"])
    });
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (stdout, _) = text(&output);
    let numbers: Vec<&str> =
        stdout.lines().map(|line| if line == "--" { "--" } else { line.rsplit('#').next().unwrap() }).collect();
    assert_eq!(
        numbers,
        ["68", "69", "70", "71", "72", "--", "78", "79", "80", "81", "82", "--", "88", "89", "90", "91", "92"],
        "{stdout}"
    );

    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let access = serde_json::json!({"ts": common::rfc3339(now_ms - 1_000), "method": "POST", "path": "/pay", "query": "id=7",
        "status": 502, "bytes_sent": 512, "duration_ms": 3.0, "client_ip": "10.1.2.3"});
    let (status, reply) =
        server.post("/api/v1/orgs/acme/apps/api/logs?kind=access", "application/x-ndjson", &access.to_string()).await;
    assert_eq!(status, 200, "{reply}");
    let output = tokio::task::block_in_place(|| vigie_logs(&server, &["--kind", "access", "-n", "1", "-F", "clf"]));
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let line = stdout.trim_end();
    assert!(line.starts_with("10.1.2.3 - - ["), "{line}");
    assert!(line.ends_with(" +0000] \"POST /pay?id=7 HTTP/1.1\" 502 512"), "{line}");
    server.server.stop().await;
}
