//! `vigie logs` run as a user runs it, against a real server.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{hundred_lines, serve, TestServer, LOGS};

fn vigie_logs(server: &TestServer, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["logs", "--url", &server.base, "--org", "acme", "--app", "api"])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_prints_a_filtered_range_the_last_lines_and_json() {
    let server = serve().await;
    hundred_lines(&server).await;

    let output = tokio::task::block_in_place(|| vigie_logs(&server, &["--since", "30s", "--search", "level:error"]));
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
        Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(["logs", "--url", &server.base, "--org", "acme", "--app", "nope"])
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
        Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(["logs", "--url", "http://127.0.0.1:9", "--org", "acme", "--app", "api"])
            .output()
            .unwrap()
    });
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("cannot reach Vigie at http://127.0.0.1:9"), "{stderr}");
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_prints_new_lines_as_they_arrive() {
    let server = serve().await;
    server.post(LOGS, "text/plain", "first line").await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["logs", "--url", &server.base, "--org", "acme", "--app", "api", "--follow", "-n", "1"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(first.ends_with("first line"), "{first}");
    // Give the live stream a moment to open, then log.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.post(LOGS, "text/plain", "WARN second line").await;
    let second = lines.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(second.ends_with("WARN WARN second line"), "{second}");
    child.kill().unwrap();
    child.wait().unwrap();
    server.server.stop().await;
}
