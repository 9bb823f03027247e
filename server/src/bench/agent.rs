//! `vigie bench agent`: what `vigie agent` ships and what it costs the
//! instance. It starts `vigie serve` as a child process on loopback, then
//! `vigie agent` child processes against it, and measures:
//!
//! - lines per second shipped from a command printing as fast as it can
//!   (`yes | head`): from the agent's start to its exit, which comes once
//!   every line is stored; lines the agent had to drop (its outbox full)
//!   are counted apart;
//! - the agent's CPU (of one core) and RSS while its command prints 1,000
//!   lines a second, and while this process sends it 10,000 statsd lines a
//!   second over UDP (one line a datagram, as most clients send).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::api::{cpu_secs, rss_mb, BenchResult, Server};
use super::{group, print_table, Row, Scratch};

/// What `vigie bench agent` runs; each field is a flag of the same name.
#[derive(clap::Args, Debug)]
pub struct AgentBenchConfig {
    /// Where the scratch data and buffer directories go.
    #[arg(long, default_value = "./data/bench")]
    pub dir: PathBuf,
    /// Lines the fast command prints.
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: usize,
    /// Seconds each steady load is measured.
    #[arg(long, default_value_t = 20)]
    pub secs: u64,
}

pub async fn run(config: AgentBenchConfig) -> BenchResult<()> {
    let scratch = Scratch::new(&config.dir)?;
    let server = Server::start_with(&scratch.0.join("data"), &["--statsd", "off"]).await?;
    server.create_app("bench").await?;
    let mut rows = Vec::new();

    // As fast as a command can print.
    let line = "INFO GET /api/orders/4f1c2a9e 200 in 12 ms (user 81723, region eu-west, cache hit)";
    let fast = format!("yes '{line}' | head -n {}", config.lines);
    let started = Instant::now();
    let mut agent = spawn_agent(&server, &scratch, "fast", &["--statsd", "off"], &fast)?;
    let pid = agent.id().ok_or("the agent exited at once")?;
    let mut peak_rss = 0;
    let status = loop {
        tokio::select! {
            status = agent.wait() => break status?,
            _ = tokio::time::sleep(Duration::from_millis(200)) => peak_rss = peak_rss.max(rss_mb(pid)),
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("the agent exited with {status}").into());
    }
    // The agent's own line (the command's exit) is stored too.
    let stored = server.records("bench").await?.saturating_sub(1);
    rows.push(Row {
        what: format!(
            "lines shipped, {} printed by `yes` as fast as it can (until all are stored)",
            group(config.lines as f64)
        ),
        figure: format!(
            "{} lines/s; {} dropped; agent peak RSS {peak_rss} MB",
            group(stored as f64 / elapsed),
            group(config.lines.saturating_sub(stored as usize) as f64)
        ),
        target: "> 50,000 lines/s, none dropped",
    });

    // 1,000 lines a second, steadily.
    let paced =
        format!("while :; do i=0; while [ $i -lt 100 ]; do echo \"{line} #$i\"; i=$((i+1)); done; sleep 0.1; done");
    let agent = spawn_agent(&server, &scratch, "paced", &["--statsd", "off"], &paced)?;
    let (cpu, rss) = steady(&agent, config.secs).await;
    stop(agent).await;
    rows.push(Row {
        what: "agent at 1,000 lines/s (about; sh prints 100 lines every 100 ms)".into(),
        figure: format!("CPU {cpu:.1}% of a core, RSS {rss} MB"),
        target: "< 5% CPU, < 50 MB",
    });

    // 10,000 statsd lines a second.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    let agent = spawn_agent(&server, &scratch, "statsd", &["--statsd", &addr], "sleep 3600")?;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    socket.connect(&addr).await?;
    // Lines sent before the agent has bound its socket are lost: the measure starts 2 s later.
    let sending = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut n = 0u64;
        loop {
            tick.tick().await;
            for _ in 0..100 {
                n += 1;
                let datagram = match n % 4 {
                    0 => format!("orders:1|c|#route:/r{}", n % 50),
                    1 => format!("latency:{}|ms|#route:/r{}", n % 300, n % 50),
                    2 => format!("queue:{}|g", n % 100),
                    _ => format!("users:u{}|s", n % 1_000),
                };
                let _ = socket.send(datagram.as_bytes()).await;
            }
        }
    });
    let (cpu, rss) = steady(&agent, config.secs).await;
    sending.abort();
    stop(agent).await;
    rows.push(Row {
        what: "agent at 10,000 statsd lines/s (one a datagram, 150 series)".into(),
        figure: format!("CPU {cpu:.1}% of a core, RSS {rss} MB"),
        target: "< 10% CPU, < 50 MB",
    });

    print_table(&rows);
    server.stop().await;
    Ok(())
}

/// `vigie agent` running `sh -c command` for the app `bench`.
fn spawn_agent(server: &Server, scratch: &Scratch, name: &str, extra: &[&str], command: &str) -> BenchResult<Child> {
    let child = Command::new(std::env::current_exe()?)
        .args(["agent", "--url", &server.base, "--org", &server.org, "--token", &server.token, "--app", "bench"])
        .args(["--instance", name, "--flush-timeout", "600"])
        .arg("--buffer-dir")
        .arg(scratch.0.join(format!("buffer-{name}")))
        .args(extra)
        .args(["--", "sh", "-c", command])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    Ok(child)
}

/// The agent's CPU (% of one core) and RSS (MB) over `secs`, after 2 s to settle.
async fn steady(agent: &Child, secs: u64) -> (f64, u64) {
    let pid = agent.id().unwrap_or(0);
    let stat = format!("/proc/{pid}/stat");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu_before, started) = (cpu_secs(&stat), Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = (cpu_secs(&stat) - cpu_before) / started.elapsed().as_secs_f64() * 100.0;
    (cpu, rss_mb(pid))
}

async fn stop(mut agent: Child) {
    if let Some(pid) = agent.id() {
        let _ = Command::new("kill").arg(pid.to_string()).status().await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), agent.wait()).await;
    let _ = agent.kill().await;
}
