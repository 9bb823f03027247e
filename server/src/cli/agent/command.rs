//! The command the agent runs: started (again, as `--restart` says),
//! its signals forwarded, its stdout and stderr read into records (and
//! copied to the agent's own), its exits said; and the signals the agent
//! waits for.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use vigie_app::model::Level;

use super::records::{Assembler, LineCutter, Source, HOLD};
use super::{Outbox, Restart};
use crate::cli::CliError;
use crate::clock::now_ns;

/// The signals forwarded to the command.
#[cfg(unix)]
const FORWARDED: [i32; 6] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];

/// Waits for any of [`FORWARDED`]; its number.
pub(super) struct Signals(Vec<(i32, tokio::signal::unix::Signal)>);

impl Signals {
    pub(super) fn new() -> std::io::Result<Signals> {
        FORWARDED
            .iter()
            .map(|signo| Ok((*signo, tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(*signo))?)))
            .collect::<std::io::Result<Vec<_>>>()
            .map(Signals)
    }

    pub(super) async fn recv(&mut self) -> i32 {
        let waits = self.0.iter_mut().map(|(signo, signal)| {
            let signo = *signo;
            Box::pin(async move {
                signal.recv().await;
                signo
            })
        });
        futures::future::select_all(waits).await.0
    }
}

/// Whether a signal asks the agent to stop (rather than the app to reload).
pub(super) fn stops(signo: i32) -> bool {
    matches!(signo, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT)
}

/// Runs the command (again, as `restart` says) and returns its last exit code.
pub(super) async fn supervise(
    argv: &[String],
    restart: Restart,
    outbox: &Outbox,
    root_pid: &AtomicU32,
    echo: Option<&(Echo, Echo)>,
) -> Result<i32, CliError> {
    let mut signals = Signals::new().map_err(CliError::Output)?;
    // The command as the agent's lines name it: a long one (a script given inline) cut short.
    let mut shown = argv.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    if shown.chars().count() > 80 {
        shown = shown.chars().take(79).chain(['…']).collect();
    }
    let mut backoff = Duration::from_secs(1);
    let mut restarts = 0u32;
    loop {
        let started = Instant::now();
        let mut child = match tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::inherit())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                outbox.say(Level::Error, &format!("cannot start `{shown}`: {error}"));
                // As shells do: 127 for a command not found, 126 for one that cannot run.
                return Ok(if error.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
            }
        };
        let pid = child.id().unwrap_or(0);
        root_pid.store(pid, Ordering::Relaxed);
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            let echo = echo.map(|(stdout, _)| stdout.clone());
            readers.push(tokio::spawn(read_stream(stdout, Source::Stdout, outbox.clone(), echo)));
        }
        if let Some(stderr) = child.stderr.take() {
            let echo = echo.map(|(_, stderr)| stderr.clone());
            readers.push(tokio::spawn(read_stream(stderr, Source::Stderr, outbox.clone(), echo)));
        }
        let mut stopping = false;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                signo = signals.recv() => {
                    // SAFETY: kill(2) with a pid this process started and a valid signal number.
                    unsafe { libc::kill(pid as i32, signo) };
                    stopping |= stops(signo);
                }
            }
        };
        // What the command printed last; a process it left behind may hold its pipes: 1 s at most.
        for mut reader in readers {
            if tokio::time::timeout(Duration::from_secs(1), &mut reader).await.is_err() {
                reader.abort();
            }
        }
        root_pid.store(0, Ordering::Relaxed);
        let (code, how) = match status {
            Ok(status) => exit_code(status),
            Err(error) => (1, format!("could not be waited for: {error}")),
        };
        let again = !stopping && restart.applies(code);
        let level = if code == 0 { Level::Info } else { Level::Error };
        if !again {
            outbox.say(level, &format!("`{shown}` {how}"));
            return Ok(code);
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        restarts += 1;
        outbox.say(level, &format!("`{shown}` {how}; restart {restarts} in {} s", backoff.as_secs()));
        let wait = tokio::time::sleep(backoff);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                signo = signals.recv() => if stops(signo) { return Ok(code) },
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// The exit code a shell would give, and the words for it.
fn exit_code(status: std::process::ExitStatus) -> (i32, String) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, format!("exited with status {code}")),
        (None, Some(signo)) => (128 + signo, format!("was killed by signal {signo}")),
        (None, None) => (1, "ended".to_string()),
    }
}

/// Reads one of the command's streams to its end, into records.
async fn read_stream(mut stream: impl AsyncRead + Unpin, source: Source, outbox: Outbox, echo: Option<Echo>) {
    let mut cutter = LineCutter::default();
    let mut assembler = Assembler::new(source);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = if assembler.has_pending() {
            match tokio::time::timeout(HOLD, stream.read(&mut chunk)).await {
                Ok(read) => read,
                Err(_) => {
                    assembler.flush(|record| outbox.log(record));
                    continue;
                }
            }
        } else {
            stream.read(&mut chunk).await
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(size) => {
                if let Some(echo) = &echo {
                    echo.copy(&chunk[..size]);
                }
                let now = now_ns();
                cutter.feed(&chunk[..size], |line| assembler.push(line, now, |record| outbox.log(record)));
            }
        }
    }
    let now = now_ns();
    cutter.finish(|line| assembler.push(line, now, |record| outbox.log(record)));
    assembler.flush(|record| outbox.log(record));
}

/// The command's output copied to the agent's own stdout or stderr (so a
/// container's log still shows it), by a thread that does the writing:
/// the reader only queues, and a queue full (the agent's own output is
/// slow to drain) drops the copy, never the record. Cloning it is shallow.
#[derive(Clone)]
pub struct Echo {
    queue: SyncSender<Vec<u8>>,
}

impl Echo {
    pub(super) fn new(to_stderr: bool) -> Echo {
        let (queue, chunks) = std::sync::mpsc::sync_channel::<Vec<u8>>(256);
        let _ = std::thread::Builder::new().name("vigie-agent-echo".into()).spawn(move || {
            use std::io::Write;
            for chunk in chunks {
                let written = if to_stderr {
                    std::io::stderr().lock().write_all(&chunk)
                } else {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(&chunk).and_then(|()| stdout.flush())
                };
                if written.is_err() {
                    return; // nowhere to write (a closed pipe): the copies stop, the records go on
                }
            }
        });
        Echo { queue }
    }

    fn copy(&self, bytes: &[u8]) {
        let _ = self.queue.try_send(bytes.to_vec());
    }
}
