//! `vigie logs` and `vigie tokens` run as a user runs them, against a real server.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
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

#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_prints_new_lines_as_they_arrive() {
    let server = serve().await;
    server.post(LOGS, "text/plain", "first line").await;
    let mut child = vigie()
        .args(["logs", "--url", &server.base, "--org", "acme", "--app", "api", "--follow", "-n", "1"])
        .args(["--token", &server.token])
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
