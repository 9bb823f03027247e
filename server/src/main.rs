//! `vigie`: the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vigie_server::bench;
use vigie_server::cli::drains::{DrainCommand, NewDrainArgs};
use vigie_server::cli::grafana::GrafanaCommand;
use vigie_server::cli::logs::LogsCommand;
use vigie_server::cli::remote::RemoteArgs;
use vigie_server::cli::tokens::TokensCommand;
use vigie_server::cluster::ClusterConfig;
use vigie_server::demo::DemoConfig;
use vigie_server::drains::DrainSettings;
use vigie_server::ingest::limits::IngestLimits;
use vigie_server::store::{Codec, ColumnsAt, Durability, StoreConfig, TokenIndex};
use vigie_server::{start_node, GeoIpSource, ServeConfig, StatsdConfig, Welcome};

#[derive(Parser)]
#[command(name = "vigie", version, about = "Vigie: logs and metrics of your apps, live.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the console, the Logs API and ingest.
    Serve(Box<ServeArgs>),
    /// Read an app's logs from a Vigie server: a range, the last lines, or live.
    Logs(LogsArgs),
    /// Create, list or revoke an organisation's API tokens (needs an admin token).
    Tokens {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(subcommand)]
        action: TokensAction,
    },
    /// An organisation's Grafana: status, RESET ALL DASHBOARDS, enable, disable, export.
    Grafana {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(subcommand)]
        action: GrafanaAction,
    },
    /// Create, list, check, enable, disable or remove drains: an app's logs
    /// (with --app) or the org's audit log (without) forwarded elsewhere.
    Drain {
        #[command(flatten)]
        remote: RemoteArgs,
        /// The app whose drains these are; none for the org's audit-log drains.
        #[arg(long, global = true)]
        app: Option<String>,
        #[command(subcommand)]
        action: DrainAction,
    },
    /// Run next to an app: ship its output as service logs, relay plain
    /// statsd, report the instance's server metrics (docs/AGENT.md).
    Agent(Box<AgentArgs>),
    /// Measure a part of Vigie on this machine and print a table.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(Subcommand)]
enum TokensAction {
    /// Create a token; its secret is printed once.
    Create {
        /// What it is for, such as "ci deploys".
        #[arg(long)]
        name: String,
        /// read, ingest, admin, or several comma-separated.
        #[arg(long, default_value = "read")]
        permissions: String,
    },
    /// List the org's tokens (never their secrets).
    List,
    /// Revoke a token by its id (see `list`).
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum GrafanaAction {
    /// On or off, the org's Grafana token (masked), the dashboards.
    Status,
    /// Rotate the org's Grafana token and put every dashboard back as
    /// generated (edits in the Vigie folder are lost). Needs an admin token.
    Reset,
    /// Make the org's Grafana token and provision the dashboards.
    Enable,
    /// Revoke the org's Grafana token: its data source stops reading.
    Disable,
    /// Write file provisioning (dashboards, a dashboards provider, a data
    /// source with the org's Grafana token) for any Grafana.
    Export {
        /// Where to write: DIR/dashboards/vigie/*.json, DIR/provisioning/….
        #[arg(long)]
        dir: PathBuf,
        /// Vigie's URL as Grafana reaches it; default: --url.
        #[arg(long)]
        vigie_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum DrainAction {
    /// Create a drain; it starts now (or at --start) and runs at once.
    Create(Box<NewDrainArgs>),
    /// List the drains with their status, backlog and rate.
    List,
    /// Show one drain in full.
    Get { id: i64 },
    /// Enable a drain: it resumes from where it stopped.
    Enable { id: i64 },
    /// Disable a drain: it stops and keeps its place.
    Disable { id: i64 },
    /// Remove a drain.
    Remove { id: i64 },
    /// Send one test message and print what the recipient answered.
    Check { id: i64 },
}

#[derive(Args)]
struct LogsArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    /// The app or add-on.
    #[arg(long)]
    app: String,
    /// service, access or audit.
    #[arg(long, default_value = "service")]
    kind: String,
    /// From this time: RFC 3339, or back from now such as 15m, 2h, 7d.
    #[arg(long, visible_alias = "after")]
    since: Option<String>,
    /// Up to this time, same forms.
    #[arg(long, visible_alias = "before")]
    until: Option<String>,
    /// A filter, such as `timeout level>=warn` or `status:5xx path:/api/*` (docs/QUERY.md).
    #[arg(long, short = 's')]
    search: Option<String>,
    /// Keep printing new lines as they arrive.
    #[arg(long, short = 'f')]
    follow: bool,
    /// human (default, also `text`; coloured on a terminal), json or
    /// json-stream (one record per line), or clf (access logs in the Common Log Format).
    #[arg(long, short = 'F', default_value = "human", value_parser = ["human", "text", "json", "json-stream", "clf"])]
    format: String,
    /// Lines shown when --since is not given.
    #[arg(long, short = 'n', default_value_t = 100)]
    lines: usize,
    /// Also print this many lines before and after each line found,
    /// whatever the filter (as `grep -C`); groups apart are separated by `--`. At most 500.
    #[arg(long, short = 'C', default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=500))]
    context: u64,
}

#[derive(Args)]
struct AgentArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    /// The app (or add-on) whose instance this is.
    #[arg(long, env = "VIGIE_APP")]
    app: String,
    /// The instance's name [default: the host's name].
    #[arg(long, env = "VIGIE_INSTANCE")]
    instance: Option<String>,
    /// Follow these log files (rotation handled) instead of running a command.
    #[arg(long, num_args = 1.., conflicts_with = "command")]
    tail: Vec<PathBuf>,
    /// Read plain statsd (any client, tags optional) here; `off` for none.
    #[arg(long, env = "VIGIE_AGENT_STATSD", default_value = "127.0.0.1:8125", value_parser = parse_optional_addr)]
    statsd: OptionalAddr,
    /// Series the statsd relay keeps at once; lines of more are dropped and counted.
    #[arg(long, default_value_t = 10_000)]
    statsd_max_series: usize,
    /// Seconds between two reports of server metrics (a multiple of 10).
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// A Prometheus text endpoint of the app, read every 10 s into custom metrics.
    #[arg(long)]
    scrape: Option<String>,
    /// Where lines and metrics wait while Vigie is unreachable
    /// [default: $TMPDIR/vigie-agent/ORG.APP.INSTANCE].
    #[arg(long, env = "VIGIE_AGENT_BUFFER_DIR")]
    buffer_dir: Option<PathBuf>,
    /// The buffer's size; past it the oldest entries are dropped and counted.
    #[arg(long, default_value_t = 256)]
    buffer_max_mb: u64,
    /// Start the command again when it exits: never, on-failure or always.
    #[arg(long, default_value = "never", value_parser = vigie_server::cli::agent::Restart::parse)]
    restart: vigie_server::cli::agent::Restart,
    /// Seconds spent sending what is left once the command is done.
    #[arg(long, default_value_t = 10)]
    flush_timeout: u64,
    /// Do not copy the command's output to the agent's own stdout and stderr.
    #[arg(long)]
    no_echo: bool,
    /// The command to run and its arguments, after `--`.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Subcommand)]
enum BenchWhat {
    /// The topic store: appends, scans, seeks, live latency, size, many topics.
    Store {
        /// Where the scratch stores go: a directory on the disk to measure.
        #[arg(long, default_value = "./data/bench")]
        dir: PathBuf,
        /// Records for the single-writer append, the scan and the size check.
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// Codecs to compare: raw, lz4, zstd (comma-separated).
        #[arg(long, default_value = "lz4,zstd", value_delimiter = ',')]
        codecs: Vec<String>,
        /// Also build a topic of this many GB of log text and time seeks in it.
        #[arg(long, default_value_t = 0.0)]
        seek_topic_gb: f64,
    },
    /// The Logs API end to end against a `vigie serve` child process on
    /// loopback: HTTP and syslog ingest rates, SSE followers' latency.
    Api(bench::api::ApiBenchConfig),
    /// The metrics pipeline: statsd ingest against a `vigie serve` child
    /// process, bytes per stored point, Stats API latency, memory of
    /// 100,000 active series.
    Metrics(bench::metrics::MetricsBenchConfig),
    /// What long filtered replays cost the live side: HTTP ingest and SSE
    /// followers' latency, alone and while replay clients page through a
    /// 10 M-line topic, against a `vigie serve` child process.
    ReplayLoad(bench::replay_load::ReplayLoadConfig),
    /// The same PromQL range queries against Vigie's Prometheus-compatible
    /// API and a real Prometheus (Debian's 2.42, fed by promtool) holding
    /// the same points: latency on both and their ratio.
    Prometheus(bench::prometheus::PrometheusBenchConfig),
    /// Scale-out: HTTP ingest throughput and ingest → readable latency
    /// through a 3-server JetStream cluster against the embedded store, and
    /// the catch-up rate of a joining node (docs/SCALING.md).
    Cluster(bench::cluster::ClusterBenchConfig),
    /// Drains against a `vigie serve` child process on loopback: lines/s
    /// delivered to raw-http and syslog-tcp, ingest beside 0, 1 and 10
    /// drains, memory and CPU of 1,000 idle drains.
    Drains(bench::drains::DrainsBenchConfig),
    /// The same access lines in Vigie and in ClickHouse (in process through
    /// the `chdb` Python package): bytes on disk, a rare term, a 5xx count,
    /// top paths, a per-minute histogram; medians and ratios.
    Analytics(bench::analytics::AnalyticsBenchConfig),
    /// `vigie agent` against a `vigie serve` child process: lines/s shipped
    /// from a command printing as fast as it can, and the agent's CPU and
    /// RSS at 1,000 lines/s and at 10,000 statsd lines/s.
    Agent(bench::agent::AgentBenchConfig),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VIGIE_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Where the store keeps its files.
    #[arg(long, env = "VIGIE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// The built site (browser bundle, stylesheet, assets).
    #[arg(long, env = "VIGIE_SITE_ROOT", default_value = "target/site")]
    site_root: PathBuf,
    /// When an append is acknowledged: `fsync` (after it is synced to disk,
    /// one sync shared by concurrent appends) or a sync interval such as
    /// `100ms` (faster; a power loss may lose that last interval).
    #[arg(long, env = "VIGIE_DURABILITY", default_value = "fsync", value_parser = parse_durability)]
    durability: Durability,
    /// Compression of stored blocks: zstd, lz4 or raw.
    #[arg(long, env = "VIGIE_CODEC", default_value = "zstd", value_parser = parse_codec)]
    codec: Codec,
    /// Which stored blocks get a token index that lets searches skip what
    /// cannot match: `always` (every block; appends cost more CPU),
    /// `compacted` (only sealed segments once compacted) or `off`.
    #[arg(long, env = "VIGIE_TOKEN_INDEX", default_value = "always", value_parser = parse_token_index)]
    token_index: TokenIndex,
    /// Which stored blocks keep their repeated fields (status, path,
    /// level…) as columns beside the lines, so counts read those fields
    /// alone: `always` (appends parse each line once more), `compacted`
    /// or `off`.
    #[arg(long, env = "VIGIE_COLUMNS", default_value = "always", value_parser = parse_columns)]
    columns: ColumnsAt,
    /// Create a demo organisation whose apps keep logging.
    #[arg(long)]
    demo: bool,
    /// Demo service log lines per second, over all apps.
    #[arg(long, default_value_t = 20.0, requires = "demo")]
    demo_lines_per_sec: f64,
    /// Demo HTTP requests per second.
    #[arg(long, default_value_t = 30.0, requires = "demo")]
    demo_requests_per_sec: f64,
    /// Seed of the demo traffic: the same seed gives the same lines.
    #[arg(long, default_value_t = 42, requires = "demo")]
    demo_seed: u64,
    /// Minutes of demo history written at start (when the store is empty).
    #[arg(long, default_value_t = 10, requires = "demo")]
    demo_backfill_minutes: u64,
    /// A MaxMind DB City file (such as GeoLite2-City.mmdb) to locate
    /// access-log clients. With --demo and none given, a small demo database
    /// built by Vigie is used.
    #[arg(long, env = "VIGIE_GEOIP_DB")]
    geoip_db: Option<PathBuf>,
    /// Log lines per second each app may send (over all ingest paths).
    #[arg(long, env = "VIGIE_INGEST_LINES_PER_SEC", default_value_t = IngestLimits::default().lines_per_sec)]
    ingest_lines_per_sec: f64,
    /// Lines one ingest request may carry.
    #[arg(long, env = "VIGIE_INGEST_BATCH_LINES", default_value_t = IngestLimits::default().batch_lines)]
    ingest_batch_lines: usize,
    /// Syslog TCP connections open at once; one more is closed at once.
    #[arg(long, env = "VIGIE_SYSLOG_TCP_CONNECTIONS", default_value_t = IngestLimits::default().syslog_tcp_connections)]
    syslog_tcp_connections: usize,
    /// Close a syslog TCP connection that sends nothing for this many seconds.
    #[arg(long, env = "VIGIE_SYSLOG_TCP_IDLE_SECS", default_value_t = IngestLimits::default().syslog_tcp_idle.as_secs())]
    syslog_tcp_idle_secs: u64,
    /// Receive syslog over TCP here (RFC 5424 or 3164, octet-counted or
    /// one per line); `off` for none. See docs/INGEST.md.
    #[arg(long, env = "VIGIE_SYSLOG_TCP", default_value = "127.0.0.1:5140", value_parser = parse_optional_addr)]
    syslog_tcp: OptionalAddr,
    /// Receive syslog over UDP here; `off` for none.
    #[arg(long, env = "VIGIE_SYSLOG_UDP", default_value = "127.0.0.1:5140", value_parser = parse_optional_addr)]
    syslog_udp: OptionalAddr,
    /// Receive statsd / DogStatsD over UDP here; `off` for none. Lines are
    /// tied to an app by the tags vigie_app and vigie_token (docs/METRICS.md).
    #[arg(long, env = "VIGIE_STATSD", default_value = "127.0.0.1:8125", value_parser = parse_optional_addr)]
    statsd: OptionalAddr,
    /// Sockets sharing the statsd port (SO_REUSEPORT); default 1.
    #[arg(long, env = "VIGIE_STATSD_SOCKETS")]
    statsd_sockets: Option<usize>,
    /// Threads reading statsd; default: one a core, up to 4.
    #[arg(long, env = "VIGIE_STATSD_READERS")]
    statsd_readers: Option<usize>,
    /// statsd flush interval in seconds: each series gets one point per interval.
    #[arg(long, env = "VIGIE_STATSD_FLUSH_SECS", default_value_t = 10)]
    statsd_flush_secs: u64,
    /// Series one app may have at once over statsd; lines of more are dropped and counted.
    #[arg(long, env = "VIGIE_STATSD_MAX_SERIES_PER_APP", default_value_t = 100_000)]
    statsd_max_series_per_app: usize,
    /// A Grafana to provision each org's folder, data source and
    /// dashboards into, over its HTTP API (docs/GRAFANA.md).
    #[arg(long, env = "VIGIE_GRAFANA_URL", requires = "grafana_token")]
    grafana_url: Option<String>,
    /// A Grafana service account token (Editor) for --grafana-url.
    #[arg(long, env = "VIGIE_GRAFANA_TOKEN", hide_env_values = true)]
    grafana_token: Option<String>,
    /// Vigie's URL as Grafana reaches it; default: http:// and --listen.
    #[arg(long, env = "VIGIE_GRAFANA_VIGIE_URL")]
    grafana_vigie_url: Option<String>,
    /// Run as a node of a cluster on these NATS JetStream servers
    /// (comma-separated URLs, docs/SCALING.md); without it, one node with
    /// its own store.
    #[arg(long, env = "VIGIE_NATS", conflicts_with = "demo")]
    nats: Option<String>,
    /// Replicas of the cluster's streams: 3 on a 3-server cluster, 1 on one server.
    #[arg(long, env = "VIGIE_NATS_REPLICAS", default_value_t = 3, requires = "nats",
          value_parser = clap::value_parser!(u8).range(1..=5))]
    nats_replicas: u8,
    /// Let drains reach loopback and private addresses (a local collector,
    /// tests); refused by default, since drain URLs are chosen by org admins.
    #[arg(long, env = "VIGIE_DRAIN_ALLOW_PRIVATE_TARGETS")]
    drain_allow_private_targets: bool,
    /// Disable a drain that has been failing this many seconds.
    #[arg(long, env = "VIGIE_DRAIN_DISABLE_AFTER_SECS", default_value_t = DrainSettings::default().disable_after.as_secs())]
    drain_disable_after_secs: u64,
    /// First retry wait of a failing drain, in ms (then doubling).
    #[arg(long, env = "VIGIE_DRAIN_BACKOFF_MIN_MS", default_value_t = DrainSettings::default().backoff_min.as_millis() as u64)]
    drain_backoff_min_ms: u64,
    /// Longest retry wait of a failing drain, in ms.
    #[arg(long, env = "VIGIE_DRAIN_BACKOFF_MAX_MS", default_value_t = DrainSettings::default().backoff_max.as_millis() as u64)]
    drain_backoff_max_ms: u64,
    /// How long a drain's batch that is not full waits for more records, in ms.
    #[arg(long, env = "VIGIE_DRAIN_BATCH_WAIT_MS", default_value_t = DrainSettings::default().batch_wait.as_millis() as u64)]
    drain_batch_wait_ms: u64,
    /// Most records in one drain batch (a recipient may take fewer).
    #[arg(long, env = "VIGIE_DRAIN_BATCH_MAX_LINES", default_value_t = DrainSettings::default().batch_max_lines)]
    drain_batch_max_lines: usize,
    /// PEM certificates of authorities drains trust besides the web PKI's
    /// (syslog over TLS, HTTPS recipients behind a private CA).
    #[arg(long, env = "VIGIE_DRAIN_CA_FILE")]
    drain_ca_file: Option<PathBuf>,
    /// Longest wait for a recipient's answer, in seconds.
    #[arg(long, env = "VIGIE_DRAIN_TIMEOUT_SECS", default_value_t = DrainSettings::default().request_timeout.as_secs())]
    drain_timeout_secs: u64,
}

/// An address, or `off`.
#[derive(Clone, Copy, Debug)]
struct OptionalAddr(Option<SocketAddr>);

fn parse_optional_addr(text: &str) -> Result<OptionalAddr, String> {
    if text == "off" {
        return Ok(OptionalAddr(None));
    }
    text.parse()
        .map(|addr| OptionalAddr(Some(addr)))
        .map_err(|_| format!("\"{text}\" is not an address such as 127.0.0.1:5140, nor off"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let args = match Cli::parse().command {
        Command::Serve(args) => *args,
        Command::Logs(args) => {
            let remote = match args.remote.resolve() {
                Ok(remote) => remote,
                Err(error) => {
                    eprintln!("vigie logs: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let command = LogsCommand {
                remote,
                app: args.app,
                kind: args.kind,
                since: args.since,
                until: args.until,
                search: args.search,
                follow: args.follow,
                format: vigie_server::cli::logs::Format::parse(&args.format)
                    .unwrap_or(vigie_server::cli::logs::Format::Human),
                lines: args.lines,
                context: args.context,
            };
            return match vigie_server::cli::logs::run(command).await {
                Ok(()) => ExitCode::SUCCESS,
                // The reader went away (`vigie logs ... | head`): nothing to say.
                Err(vigie_server::cli::CliError::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("vigie logs: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Agent(args) => return run_agent(*args).await,
        Command::Tokens { remote, action } => {
            let command = match action {
                TokensAction::Create { name, permissions } => TokensCommand::Create { name, permissions },
                TokensAction::List => TokensCommand::List,
                TokensAction::Revoke { id } => TokensCommand::Revoke { id },
            };
            let result = match remote.resolve() {
                Ok(remote) => vigie_server::cli::tokens::run(remote, command).await,
                Err(error) => Err(error),
            };
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("vigie tokens: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Grafana { remote, action } => {
            let command = match action {
                GrafanaAction::Status => GrafanaCommand::Status,
                GrafanaAction::Reset => GrafanaCommand::Reset,
                GrafanaAction::Enable => GrafanaCommand::Enable,
                GrafanaAction::Disable => GrafanaCommand::Disable,
                GrafanaAction::Export { dir, vigie_url } => GrafanaCommand::Export { dir, vigie_url },
            };
            let result = match remote.resolve() {
                Ok(remote) => vigie_server::cli::grafana::run(remote, command).await,
                Err(error) => Err(error),
            };
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("vigie grafana: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Drain { remote, app, action } => {
            let command = match action {
                DrainAction::Create(args) => DrainCommand::Create(args),
                DrainAction::List => DrainCommand::List,
                DrainAction::Get { id } => DrainCommand::Get { id },
                DrainAction::Enable { id } => DrainCommand::Enable { id },
                DrainAction::Disable { id } => DrainCommand::Disable { id },
                DrainAction::Remove { id } => DrainCommand::Remove { id },
                DrainAction::Check { id } => DrainCommand::Check { id },
            };
            let result = match remote.resolve() {
                Ok(remote) => vigie_server::cli::drains::run(remote, app, command).await,
                Err(error) => Err(error),
            };
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("vigie drain: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Bench { what: BenchWhat::Store { dir, records, codecs, seek_topic_gb } } => {
            let mut parsed = Vec::new();
            for name in &codecs {
                match Codec::parse(name) {
                    Some(codec) => parsed.push(codec),
                    None => {
                        eprintln!("unknown codec \"{name}\": use raw, lz4, zstd or zstd:LEVEL (1 to 19)");
                        return ExitCode::FAILURE;
                    }
                }
            }
            return match bench::run(&bench::BenchConfig { dir, records, codecs: parsed, seek_topic_gb }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("the benchmark failed: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Bench { what: BenchWhat::Metrics(config) } => {
            return match bench::metrics::run(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("the benchmark failed: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Bench { what: BenchWhat::Api(config) } => {
            return match bench::api::run(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("the benchmark failed: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Bench { what: BenchWhat::Cluster(config) } => {
            return match bench::cluster::run(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("the benchmark failed: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Bench { what: BenchWhat::Prometheus(config) } => {
            return match bench::prometheus::run(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("the benchmark failed: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Bench { what: BenchWhat::Drains(config) } => {
            return match bench::drains::run(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("the benchmark failed: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Bench { what: BenchWhat::Analytics(config) } => {
            return match tokio::task::spawn_blocking(move || bench::analytics::run(&config)).await {
                Ok(Ok(())) => ExitCode::SUCCESS,
                Ok(Err(error)) => {
                    eprintln!("the benchmark failed: {error}");
                    ExitCode::FAILURE
                }
                Err(error) => {
                    eprintln!("the benchmark failed: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Bench { what: BenchWhat::Agent(config) } => {
            return match bench::agent::run(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("the benchmark failed: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Bench { what: BenchWhat::ReplayLoad(config) } => {
            return match bench::replay_load::run(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("the benchmark failed: {error}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    if !args.site_root.join("pkg").is_dir() {
        tracing::warn!(
            site_root = %args.site_root.display(),
            "no built site here: pages will render but not come alive; build it with `scripts/build-site` or pass --site-root"
        );
    }
    let demo = args.demo.then(|| DemoConfig {
        seed: args.demo_seed,
        lines_per_sec: args.demo_lines_per_sec,
        requests_per_sec: args.demo_requests_per_sec,
        backfill: Duration::from_secs(args.demo_backfill_minutes * 60),
    });
    let store = StoreConfig {
        durability: args.durability,
        codec: args.codec,
        token_index: args.token_index,
        columns: args.columns,
        ..StoreConfig::default()
    };
    let geoip = match (args.geoip_db, args.demo) {
        (Some(path), _) => GeoIpSource::File(path),
        (None, true) => GeoIpSource::Demo,
        (None, false) => GeoIpSource::None,
    };
    let http_url = |what: &str, url: &Option<String>| match url {
        Some(text) if !text.starts_with("http://") && !text.starts_with("https://") => {
            Err(format!("{what} must be an http:// or https:// URL, not \"{text}\""))
        }
        _ => Ok(()),
    };
    if let Err(error) =
        http_url("--grafana-url", &args.grafana_url).and(http_url("--grafana-vigie-url", &args.grafana_vigie_url))
    {
        eprintln!("vigie serve: {error}");
        return ExitCode::FAILURE;
    }
    let grafana = match (args.grafana_url, args.grafana_token) {
        (Some(url), Some(service_account_token)) => Some(vigie_server::grafana::GrafanaConfig {
            url,
            service_account_token,
            vigie_url: args.grafana_vigie_url.unwrap_or_default(),
        }),
        _ => None,
    };
    let config = ServeConfig {
        grafana,
        listen: args.listen,
        data_dir: args.data_dir,
        site_root: args.site_root,
        demo,
        store,
        geoip,
        ingest: IngestLimits {
            lines_per_sec: args.ingest_lines_per_sec,
            batch_lines: args.ingest_batch_lines,
            syslog_tcp_connections: args.syslog_tcp_connections,
            syslog_tcp_idle: std::time::Duration::from_secs(args.syslog_tcp_idle_secs),
        },
        syslog_tcp: args.syslog_tcp.0,
        syslog_udp: args.syslog_udp.0,
        statsd: args.statsd.0.map(|listen| {
            let mut statsd = StatsdConfig::on(listen);
            statsd.sockets = args.statsd_sockets.unwrap_or(statsd.sockets);
            statsd.readers = args.statsd_readers.unwrap_or(statsd.readers);
            statsd.flush_interval = Duration::from_secs(args.statsd_flush_secs.max(1));
            statsd.max_series_per_app = args.statsd_max_series_per_app;
            statsd
        }),
        drains: DrainSettings {
            allow_private_targets: args.drain_allow_private_targets,
            disable_after: Duration::from_secs(args.drain_disable_after_secs.max(1)),
            backoff_min: Duration::from_millis(args.drain_backoff_min_ms.max(1)),
            backoff_max: Duration::from_millis(args.drain_backoff_max_ms.max(args.drain_backoff_min_ms).max(1)),
            batch_wait: Duration::from_millis(args.drain_batch_wait_ms),
            batch_max_lines: args.drain_batch_max_lines.max(1),
            request_timeout: Duration::from_secs(args.drain_timeout_secs.max(1)),
            extra_ca_file: args.drain_ca_file,
            ..DrainSettings::default()
        },
    };
    let nats = args.nats.map(|urls| ClusterConfig { urls, replicas: usize::from(args.nats_replicas) });
    let server = match start_node(config, nats).await {
        Ok(server) => server,
        Err(error) => {
            tracing::error!("{error}");
            return ExitCode::FAILURE;
        }
    };
    println!("Vigie console: http://{}/", server.addr);
    if let Some(addr) = server.syslog_tcp {
        println!("Syslog TCP: {addr}");
    }
    if let Some(addr) = server.syslog_udp {
        println!("Syslog UDP: {addr}");
    }
    if let Some(addr) = server.statsd {
        println!("statsd UDP: {addr}");
    }
    print_welcome(&server.welcome, server.addr);
    wait_for_stop_signal().await;
    tracing::info!("stopping: finishing requests in flight");
    server.stop().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn run_agent(args: AgentArgs) -> ExitCode {
    use vigie_server::cli::agent::{self, AgentConfig, Workload};
    let failed = |error: &dyn std::fmt::Display| {
        eprintln!("vigie agent: {error}");
        ExitCode::FAILURE
    };
    let remote = match args.remote.resolve() {
        Ok(remote) => remote,
        Err(error) => return failed(&error),
    };
    let Some(token) = remote.token.clone() else {
        return failed(&"which token? pass --token or set VIGIE_TOKEN (an ingest token of the org)");
    };
    let workload = match (args.command.is_empty(), args.tail.is_empty()) {
        (false, _) => Workload::Command(args.command),
        (true, false) => Workload::Tail(args.tail),
        (true, true) => return failed(&"what to run? give a command after `--`, or --tail FILE"),
    };
    let instance = args.instance.unwrap_or_else(vigie_server::ingest::instances::host_name);
    let buffer_dir = args.buffer_dir.unwrap_or_else(|| {
        let name: String = format!("{}.{}.{instance}", remote.org, args.app)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
            .collect();
        std::env::temp_dir().join("vigie-agent").join(name)
    });
    let config = AgentConfig {
        target: agent::sender::Target { url: remote.url, org: remote.org, app: args.app, instance },
        token,
        workload,
        statsd: args.statsd.0,
        statsd_max_series: args.statsd_max_series,
        interval: Duration::from_secs(args.interval),
        scrape: args.scrape,
        buffer_dir,
        buffer_max_bytes: args.buffer_max_mb.max(1) * 1024 * 1024,
        restart: args.restart,
        flush_timeout: Duration::from_secs(args.flush_timeout),
        echo: !args.no_echo,
    };
    match agent::run(config).await {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(error) => failed(&error),
    }
}

/// Prints the accounts made at this start: their secrets are shown here once.
fn print_welcome(welcome: &Welcome, addr: SocketAddr) {
    if let Some(admin) = &welcome.admin {
        println!(
            "First start: sign in as \"{}\" with password {} (shown once).\n\
             Admin token of organisation \"{}\" (shown once): {}\n\
             Try: vigie tokens list --url http://{addr} --org {} --token {}",
            admin.login, admin.password, admin.org, admin.token, admin.org, admin.token
        );
    }
    if let Some(demo) = &welcome.demo {
        println!(
            "Demo: sign in as \"{}\" with password \"{}\".\n\
             Demo token (admin of \"{}\", new at each start): {}\n\
             Try: vigie logs --url http://{addr} --org {} --app api --token {} --follow",
            demo.login, demo.password, demo.org, demo.token, demo.org, demo.token
        );
    }
}

async fn wait_for_stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn parse_durability(text: &str) -> Result<Durability, String> {
    if text == "fsync" {
        return Ok(Durability::EveryCommit);
    }
    let ms = text.strip_suffix("ms").and_then(|n| n.parse::<u64>().ok()).filter(|ms| *ms > 0);
    ms.map(|ms| Durability::Interval(Duration::from_millis(ms)))
        .ok_or_else(|| format!("\"{text}\" is not a durability: use fsync or an interval such as 100ms"))
}

fn parse_codec(text: &str) -> Result<Codec, String> {
    Codec::parse(text).ok_or_else(|| format!("unknown codec \"{text}\": use zstd, lz4 or raw"))
}

fn parse_columns(text: &str) -> Result<ColumnsAt, String> {
    ColumnsAt::parse(text).ok_or_else(|| format!("unknown columns \"{text}\": use always, compacted or off"))
}

fn parse_token_index(text: &str) -> Result<TokenIndex, String> {
    TokenIndex::parse(text).ok_or_else(|| format!("unknown token index \"{text}\": use always, compacted or off"))
}
