//! `vigie drain ...` run as a user runs it, against a real server and a
//! local HTTP recipient.

mod common;

use std::process::Command;
use std::time::Duration;

use common::receiver::{Answer, Receiver};
use common::{serve_with, LOGS};
use vigie_server::drains::DrainSettings;

/// `vigie drain` with no config file of the user's, and no VIGIE_* variables.
fn vigie_drain(base: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigie"));
    command.env("XDG_CONFIG_HOME", "/nonexistent");
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("VIGIE_")) {
        command.env_remove(name);
    }
    let output = command.args(["drain", "--url", base, "--org", "acme", "--token", token]).args(args).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_create_list_get_check_disable_enable_remove() {
    let server = serve_with(|config| {
        config.drains = DrainSettings {
            allow_private_targets: true,
            batch_wait: Duration::from_millis(50),
            ..DrainSettings::default()
        }
    })
    .await;
    let receiver = Receiver::start().await;
    let (base, token, url) = (server.base.clone(), server.token.clone(), receiver.url("/in"));
    let run = move |args: Vec<String>| {
        let (base, token) = (base.clone(), token.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                vigie_drain(&base, &token, &args)
            })
            .await
            .unwrap()
        }
    };
    let words = |text: &str| text.split_whitespace().map(str::to_string).collect::<Vec<_>>();

    let (ok, out, err) =
        run(words(&format!("create raw-http {url} --app api --kind LOG --username u --secret pw"))).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("Created drain 1 (LOG to raw-http http://"), "{out}");
    assert!(!out.contains("pw\""), "the secret is not printed back: {out}");

    let (ok, out, err) = run(words("create datadog https://intake.example.com/api/v2/logs --app api")).await;
    assert!(!ok);
    assert!(err.contains("needs its API key: pass --secret"), "{err}");
    assert!(out.is_empty());

    let (status, _) = server.post(LOGS, "text/plain", "one\ntwo\n").await;
    assert_eq!(status, 200);
    receiver
        .wait_for(Duration::from_secs(20), "two lines", |r| {
            r.iter().map(|q| q.text().lines().count()).sum::<usize>() >= 2
        })
        .await;

    let (ok, out, err) = run(words("list --app api")).await;
    assert!(ok, "{err}");
    let row = out.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains("LOG") && row.contains("raw-http") && row.contains("ENABLED") && row.contains("RUNNING"),
        "{out}"
    );

    let (ok, out, _) = run(words("get 1 --app api")).await;
    assert!(ok);
    assert!(out.contains("backlog:       0") || out.contains("cursor:        2"), "{out}");
    assert!(out.contains("\"password\":\"********\""), "{out}");

    let (ok, out, err) = run(words("check 1 --app api")).await;
    assert!(ok, "{err}");
    assert!(out.contains("took the test message: HTTP 200"), "{out}");
    receiver.answer_next(Answer::Status(401, "no such key".into()));
    let (ok, _, err) = run(words("check 1 --app api")).await;
    assert!(!ok, "a refused check fails the command");
    assert!(err.contains("401") && err.contains("no such key"), "{err}");

    let (ok, out, _) = run(words("disable 1 --app api")).await;
    assert!(ok && out.contains("is disabled"), "{out}");
    let (_, out, _) = run(words("list --app api")).await;
    assert!(out.contains("DISABLED") && out.contains("disabled by token"), "{out}");
    let (ok, out, _) = run(words("enable 1 --app api")).await;
    assert!(ok && out.contains("resumes from offset 2"), "{out}");

    let (ok, out, _) = run(words("list")).await;
    assert!(ok && out.contains("No drains for organisation acme"), "org drains are apart: {out}");
    let (ok, out, _) = run(words("remove 1 --app api")).await;
    assert!(ok && out.starts_with("Removed drain 1"), "{out}");
    let (ok, _, err) = run(words("get 1 --app api")).await;
    assert!(!ok && err.contains("404"), "{err}");
}
