//! Vigie's server: one process serving the console, the Logs API and the
//! ingest endpoints on top of the in-process store. `main.rs` reads the
//! command line; [`start`] is what it and the integration tests call.

pub mod audit;
pub mod bench;
pub mod bootstrap;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod console;
pub mod demo;
pub mod drains;
pub mod grafana;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod query;
pub mod shutdown;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bootstrap::Credentials;
use crate::catalog::{Catalog, CatalogError};
use crate::cluster::ClusterConfig;
use crate::console::InProcessConsole;
use crate::demo::DemoConfig;
use crate::http::AppState;
use crate::ingest::geoip::GeoIp;
use crate::ingest::http::IngestState;
use crate::ingest::limits::IngestLimits;
use crate::ingest::statsd::{StatsdCounters, StatsdIngest};
use crate::ingest::syslog::{self, SyslogCounters, SyslogIngest};
use crate::metrics::chunk_files::ChunkFiles;
use crate::metrics::http_stats::HttpStatsModel;
use crate::metrics::series::{SeriesModel, SeriesRetention};
use crate::shutdown::ShutdownSignal;
use crate::store::Store;

/// The name of the browser bundle (`pkg/vigie.js`, `pkg/vigie.wasm`); the
/// same name `.cargo/config.toml` gives Leptos at compile time.
pub const BUNDLE_NAME: &str = "vigie";

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Where the built site is: `pkg/` with the bundle and stylesheet, and
    /// the public assets.
    pub site_root: PathBuf,
    pub demo: Option<DemoConfig>,
    pub store: store::StoreConfig,
    pub geoip: GeoIpSource,
    pub ingest: IngestLimits,
    /// Syslog over TCP (octet-counted or newline-framed), if any.
    pub syslog_tcp: Option<SocketAddr>,
    /// Syslog over UDP, if any.
    pub syslog_udp: Option<SocketAddr>,
    /// statsd over UDP, if any.
    pub statsd: Option<StatsdConfig>,
    /// A Grafana to provision orgs' dashboards into over its HTTP API, if
    /// any; an empty `vigie_url` means this server's own address.
    pub grafana: Option<grafana::GrafanaConfig>,
    /// How drains batch, retry and give up.
    pub drains: drains::DrainSettings,
}

#[derive(Clone, Debug)]
pub struct StatsdConfig {
    pub listen: SocketAddr,
    /// Sockets sharing the port (`SO_REUSEPORT`).
    pub sockets: usize,
    /// Threads reading them (at least one a socket).
    pub readers: usize,
    /// How long an interval lasts: each series gets one point per interval.
    pub flush_interval: Duration,
    /// Series one app may have at once; lines of more are dropped and counted.
    pub max_series_per_app: usize,
}

impl StatsdConfig {
    pub fn on(listen: SocketAddr) -> StatsdConfig {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        StatsdConfig {
            listen,
            sockets: 1,
            readers: cores.min(4),
            flush_interval: Duration::from_secs(10),
            max_series_per_app: 100_000,
        }
    }
}

/// Where client locations of access logs come from.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum GeoIpSource {
    /// No lookups: access logs carry no location.
    #[default]
    None,
    /// The small database built from the demo's table (see `ingest::geoip`).
    Demo,
    /// A MaxMind DB file such as GeoLite2-City.mmdb.
    File(PathBuf),
}

/// The accounts made at this start, to print once.
#[derive(Clone, Debug, Default)]
pub struct Welcome {
    /// The first administrator, made on the first start.
    pub admin: Option<Credentials>,
    /// The demo user and a fresh demo token, with `--demo`.
    pub demo: Option<Credentials>,
}

/// A started server. Dropping it does not stop it; call [`RunningServer::stop`].
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Where syslog is received, once bound (port 0 becomes a real port).
    pub syslog_tcp: Option<SocketAddr>,
    pub syslog_udp: Option<SocketAddr>,
    pub statsd: Option<SocketAddr>,
    pub store: Store,
    pub series: SeriesModel,
    pub catalog: Catalog,
    pub welcome: Welcome,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("{0} (pass another with --geoip-db, or none)")]
    GeoIp(String),
    #[error("cannot use {dir} for metric chunks: {source} (check the data directory's permissions and free space)", dir = dir.display())]
    Series { dir: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    #[error("cannot start the drains: {0}")]
    Drains(#[from] drains::DrainError),
    #[error("cannot listen on {addr}: {source} (is another Vigie running? pick another with --listen)")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// Opens the store, binds the address and serves until [`RunningServer::stop`].
pub async fn start(config: ServeConfig) -> Result<RunningServer, StartError> {
    start_node(config, None).await
}

/// [`start`], as a node of a cluster when `nats` is given
/// (`docs/SCALING.md`): ingest goes through JetStream, the store and the
/// catalog apply the cluster's streams.
pub async fn start_node(config: ServeConfig, nats: Option<ClusterConfig>) -> Result<RunningServer, StartError> {
    let store = Store::open_with(&config.data_dir, config.store.clone())?;
    let catalog = Catalog::open(&config.data_dir)?;
    let (stop, stopping) = watch::channel(false);
    let shutdown = ShutdownSignal(stopping);
    // The read model starts empty and reads every metric topic: it is
    // rebuilt at each start.
    let series_dir = config.data_dir.join("series");
    let chunk_files =
        ChunkFiles::open(&series_dir).map_err(|source| StartError::Series { dir: series_dir.clone(), source })?;
    let series = SeriesModel::on_disk(SeriesRetention::default(), chunk_files);
    // In a cluster, the catalog catches up before the first-start
    // bootstrap, so only a cluster's first node makes the first admin.
    let (cluster, mut tasks) = match &nats {
        Some(nats) => {
            let joined = cluster::join(
                nats,
                config.data_dir.clone(),
                store.clone(),
                catalog.clone(),
                series.clone(),
                shutdown.clone(),
            )
            .await?;
            (Some(joined.0), joined.1)
        }
        None => (None, Vec::new()),
    };
    let welcome = Welcome {
        admin: bootstrap::first_start(&catalog)?,
        demo: config.demo.as_ref().map(|_| bootstrap::demo(&catalog)).transpose()?,
    };
    let geoip = match &config.geoip {
        GeoIpSource::None => None,
        GeoIpSource::Demo => Some(Arc::new(GeoIp::demo())),
        GeoIpSource::File(path) => Some(Arc::new(GeoIp::open(path).map_err(StartError::GeoIp)?)),
    };
    if geoip.is_none() {
        tracing::info!("no GeoIP database: access logs get no client location (see --geoip-db)");
    }
    let places_credit = geoip.as_ref().and_then(|geoip| geoip.credit());

    let listener =
        TcpListener::bind(config.listen).await.map_err(|source| StartError::Listen { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen { addr: config.listen, source })?;
    // Every socket is bound before any task starts, so a start that fails
    // leaves nothing running.
    let syslog_tcp_listener = match config.syslog_tcp {
        Some(wanted) => {
            Some(TcpListener::bind(wanted).await.map_err(|source| StartError::Listen { addr: wanted, source })?)
        }
        None => None,
    };
    let syslog_udp_socket = match config.syslog_udp {
        Some(wanted) => {
            Some(syslog::listener::bind_udp(wanted).map_err(|source| StartError::Listen { addr: wanted, source })?)
        }
        None => None,
    };
    let statsd_sockets = match &config.statsd {
        Some(statsd) => Some(
            ingest::statsd::listener::bind(statsd.listen, statsd.sockets)
                .map_err(|source| StartError::Listen { addr: statsd.listen, source })?,
        ),
        None => None,
    };
    let statsd = statsd_sockets.as_ref().and_then(|sockets| sockets.first()?.local_addr().ok());
    let syslog_tcp = syslog_tcp_listener.as_ref().and_then(|listener| listener.local_addr().ok());
    let syslog_udp = syslog_udp_socket.as_ref().and_then(|socket| socket.local_addr().ok());

    let leptos_options = LeptosOptions::builder()
        .output_name(BUNDLE_NAME)
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let mut ingest = IngestState::new(config.ingest, geoip);
    ingest.cluster = cluster.clone();
    let syslog_counters = Arc::new(SyslogCounters::default());
    let statsd_counters = Arc::new(StatsdCounters::default());
    // HTTP statistics are rebuilt in the background; a query waits for
    // what it needs.
    let http_stats = HttpStatsModel::default();
    let rebuilding_http = (http_stats.clone(), store.clone());
    tokio::task::spawn_blocking(move || rebuilding_http.0.catch_up_all(&rebuilding_http.1));
    let rebuilding = (series.clone(), store.clone());
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || rebuilding.0.catch_up_all(&rebuilding.1)).await.ok();
    tracing::info!(
        series = series.counts().series,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "metric series rebuilt from the topics"
    );
    let live_batches: Arc<crate::query::live::SharedBatches> = Default::default();
    let console = Arc::new(InProcessConsole {
        catalog: catalog.clone(),
        store: store.clone(),
        live_batches: live_batches.clone(),
        series: series.clone(),
        http_stats: http_stats.clone(),
        places_credit: places_credit.map(|(text, link)| (text.to_string(), link.to_string())),
    });
    let grafana = grafana::GrafanaService {
        catalog: catalog.clone(),
        series: series.clone(),
        store: store.clone(),
        config: config.grafana.clone().map(|mut grafana| {
            if grafana.vigie_url.is_empty() {
                grafana.vigie_url = format!("http://{addr}");
            }
            Arc::new(grafana)
        }),
    };
    let drains = drains::Drains::start(
        store.clone(),
        catalog.clone(),
        config.drains.clone(),
        shutdown.clone(),
        cluster.as_ref().map(cluster::Cluster::drains_lease),
    )
    .await?;
    let state = AppState {
        grafana,
        leptos_options,
        stats: console.clone(),
        console,
        store: store.clone(),
        catalog: catalog.clone(),
        ingest: ingest.clone(),
        syslog_counters: syslog_counters.clone(),
        statsd_counters: statsd_counters.clone(),
        series: series.clone(),
        http_stats: http_stats.clone(),
        live_batches,
        sign_in_attempts: Default::default(),
        shutdown: shutdown.clone(),
        drains_console: Arc::new(console::drains::InProcessDrains { drains: drains.clone(), catalog: catalog.clone() }),
        drains,
    };
    let router = http::router(state);

    if let Some(demo_config) = config.demo {
        let (store, shutdown) = (store.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(error) = demo::run(store, demo_config, shutdown).await {
                tracing::error!(%error, "demo traffic stopped");
            }
        }));
    }
    tasks.extend(store_upkeep(&store, &shutdown));
    if let Some(task) = report_own_process(&catalog, &store, cluster.as_ref(), &series, &shutdown)? {
        tasks.push(task);
    }
    let syslog = Arc::new(SyslogIngest::new(store.clone(), catalog.clone(), ingest, syslog_counters));
    if let Some(listener) = syslog_tcp_listener {
        tasks.push(syslog::listener::serve_tcp(listener, syslog.clone(), shutdown.clone()));
    }
    if let Some(socket) = syslog_udp_socket {
        tasks.push(syslog::listener::serve_udp(socket, syslog, shutdown.clone()));
    }
    if let (Some(sockets), Some(statsd_config)) = (statsd_sockets, &config.statsd) {
        let mut statsd = StatsdIngest::new(
            store.clone(),
            catalog.clone(),
            series.clone(),
            statsd_counters,
            statsd_config.max_series_per_app,
        );
        statsd.cluster = cluster.clone();
        let statsd = Arc::new(statsd);
        tasks.push(ingest::statsd::listener::serve(
            sockets,
            statsd_config.readers,
            statsd,
            statsd_config.flush_interval,
            shutdown.clone(),
        ));
    }
    let server_shutdown = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(server_shutdown.fired())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "HTTP server stopped");
        }
    }));
    tracing::info!(%addr, ?syslog_tcp, ?syslog_udp, ?statsd, data_dir = %config.data_dir.display(), "Vigie is serving");
    Ok(RunningServer { addr, syslog_tcp, syslog_udp, statsd, store, series, catalog, welcome, stop, tasks })
}

impl RunningServer {
    /// Ends live streams and the demo, lets requests in flight finish,
    /// checkpoints the store, and returns when everything has stopped.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        // Every task ends on the signal; one that has not within the grace
        // period (a client holding a response open, a peer not answering)
        // is aborted, so a stop never hangs.
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        let mut aborted = 0;
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                aborted += 1;
            }
        }
        if aborted > 0 {
            tracing::warn!(aborted, grace = ?STOP_GRACE, "tasks still running at the end of the grace period were aborted");
        }
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "could not checkpoint the store; the next start scans more"),
            Err(error) => tracing::error!(%error, "the store checkpoint task failed"),
        }
    }
}

/// How long a stop waits for the server's tasks to end by themselves.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The app Vigie reports its own process as, in the first organisation.
pub const SELF_APP: &str = "vigie";

/// Reports this process (CPU, memory, network, disk; see
/// `metrics::instance`) every 10 s as an instance of the app
/// [`SELF_APP`] of the first organisation, made if missing. Nothing when
/// that organisation is gone.
fn report_own_process(
    catalog: &Catalog,
    store: &Store,
    cluster: Option<&cluster::Cluster>,
    series: &SeriesModel,
    shutdown: &ShutdownSignal,
) -> Result<Option<JoinHandle<()>>, StartError> {
    if catalog.org(bootstrap::FIRST_ORG)?.is_none() {
        return Ok(None);
    }
    if catalog.app(bootstrap::FIRST_ORG, SELF_APP)?.is_none() {
        let app = catalog::App {
            slug: SELF_APP.into(),
            name: "Vigie itself".into(),
            kind: vigie_app::model::AppKind::Application,
            runtime: "Rust".into(),
        };
        catalog.create_app(bootstrap::FIRST_ORG, &app)?;
    }
    let (store, cluster, series, shutdown) = (store.clone(), cluster.cloned(), series.clone(), shutdown.clone());
    Ok(Some(tokio::spawn(async move {
        let instance = ingest::instances::host_name();
        let own = Arc::new(std::sync::Mutex::new(ingest::instances::OwnProcess::default()));
        let key = store::TopicKey::metrics(bootstrap::FIRST_ORG, SELF_APP);
        let job = move || {
            let report = own.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).report(&instance);
            let Some(report) = report else { return Ok(()) };
            let now_ms = crate::clock::now_ns() / 1_000_000;
            let records = ingest::instances::records(&[report], now_ms);
            match &cluster {
                None => {
                    store.append_batch(&key, records)?;
                }
                Some(cluster) => {
                    cluster.append_blocking(&key, records)?;
                }
            }
            series.catch_up(&store, &key);
            Ok(())
        };
        every(Duration::from_secs(10), shutdown, "the report of Vigie's own process", job).await;
    })))
}

/// Runs `job` on a blocking thread every `period` until shutdown; a failure
/// is logged and the job runs again at the next tick.
async fn every<T>(
    period: Duration,
    shutdown: ShutdownSignal,
    what: &'static str,
    job: impl Fn() -> Result<T, store::StoreError> + Send + Sync + Clone + 'static,
) where
    T: Send + 'static,
{
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = shutdown.fired();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        if let Ok(Err(error)) = tokio::task::spawn_blocking(job.clone()).await {
            tracing::error!(%error, "{what} failed; retrying at the next tick");
        }
    }
}

/// The store's upkeep, each on its own clock so a long compaction never
/// delays a sync: interval durability's syncs, retention every 10 s,
/// compaction of sealed segments every minute.
fn store_upkeep(store: &Store, shutdown: &ShutdownSignal) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let store::Durability::Interval(sync_every) = store.config().durability {
        let syncing = store.clone();
        tasks.push(tokio::spawn(every(sync_every, shutdown.clone(), "store sync", move || syncing.sync())));
    }
    let retaining = store.clone();
    tasks.push(tokio::spawn(every(Duration::from_secs(10), shutdown.clone(), "store retention", move || {
        retaining.enforce_retention(crate::clock::now_ns())
    })));
    let compacting = store.clone();
    tasks.push(tokio::spawn(every(Duration::from_secs(60), shutdown.clone(), "store compaction", move || {
        compacting.compact()
    })));
    tasks
}
