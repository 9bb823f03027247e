//! Drains: an app's logs (or an org's audit log) forwarded, at least once,
//! to where the customer wants them.
//!
//! A drain is a consumer of one topic with a durable cursor in the catalog
//! (`catalog::drains`): its loop (`delivery.rs`) reads from the cursor,
//! sends a batch to its recipient, and moves the cursor only once the
//! recipient acknowledged. So delivery is at least once by construction:
//! a recipient down, a restart or a crash resends from the cursor, never
//! skips. Each recipient type is one file implementing
//! `recipient::Recipient` (its wire format and its sender); `config.rs`
//! holds what users write, `record.rs` what every format reads from a
//! record, `targets.rs` which addresses drains may reach.
//!
//! [`Drains`] is the handle the API and the console use: it keeps one task
//! per enabled drain and the live status of each (execution, rate out,
//! last error and success), and writes every change to the org's audit log.

pub mod betterstack;
pub mod config;
pub mod datadog;
pub mod delivery;
pub mod elasticsearch;
mod http_post;
pub mod nats;
pub mod newrelic;
pub mod otlp;
pub mod raw_http;
pub mod recipient;
pub mod record;
pub mod syslog;
pub mod targets;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;
use vigie_app::model::AuditLine;

use crate::catalog::{Catalog, CatalogError, DrainRow, NewDrainRow};
use crate::clock::now_ns;
use crate::shutdown::ShutdownSignal;
use crate::store::{Store, StoreError};
pub use config::{DrainKind, RecipientConfig};
use delivery::{lock, DrainTask};
use recipient::Batch;
use record::DrainSource;

/// How drains batch, retry and give up; the same for every drain of a server.
#[derive(Clone, Debug)]
pub struct DrainSettings {
    /// Most records in one batch (a recipient may take fewer).
    pub batch_max_lines: usize,
    /// Most payload bytes in one batch.
    pub batch_max_bytes: usize,
    /// How long the first record of a batch that is not full waits for more.
    pub batch_wait: Duration,
    /// The first retry's wait; each next one doubles it, up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A drain failing this long is disabled, with the reason.
    pub disable_after: Duration,
    /// Longest wait for a recipient's answer to one batch.
    pub request_timeout: Duration,
    /// Whether drains may reach loopback and private addresses.
    pub allow_private_targets: bool,
    /// Most drains per app, and per org for its audit log.
    pub max_per_scope: usize,
    /// PEM certificates of authorities trusted besides the web PKI's
    /// (recipients behind a private CA, over TLS or HTTPS).
    pub extra_ca_file: Option<std::path::PathBuf>,
}

impl Default for DrainSettings {
    fn default() -> DrainSettings {
        DrainSettings {
            batch_max_lines: 5_000,
            batch_max_bytes: 4 << 20,
            batch_wait: Duration::from_secs(1),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            disable_after: Duration::from_secs(30 * 60),
            request_timeout: Duration::from_secs(30),
            allow_private_targets: false,
            max_per_scope: 100,
            extra_ca_file: None,
        }
    }
}

/// Whether a drain is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DrainStatus {
    Enabled,
    Disabled,
}

/// What an enabled drain is doing now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Execution {
    /// Delivering, or waiting for new records.
    #[default]
    Running,
    /// The last send failed; the batch is retried after a backoff.
    Retrying,
    /// Disabled (or the server is stopping).
    Stopped,
}

/// Records a drain never delivered because retention removed them first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrainGap {
    pub from_offset: u64,
    /// Exclusive.
    pub to_offset: u64,
    pub count: u64,
    /// `removed by retention`, or `lost to damage on disk`.
    pub reason: String,
    /// When the drain found it.
    pub at_ns: i64,
}

/// Records delivered per second over the last ten seconds.
#[derive(Debug, Default)]
pub struct RateMeter {
    /// `(second, records)`, newest last.
    seconds: std::collections::VecDeque<(u64, u64)>,
    started: Option<Instant>,
}

const RATE_WINDOW_SECS: u64 = 10;

impl RateMeter {
    fn now_second(&mut self) -> u64 {
        self.started.get_or_insert_with(Instant::now).elapsed().as_secs()
    }

    pub fn add(&mut self, records: u64) {
        let second = self.now_second();
        match self.seconds.back_mut() {
            Some((at, count)) if *at == second => *count += records,
            _ => self.seconds.push_back((second, records)),
        }
        while self.seconds.front().is_some_and(|(at, _)| at + RATE_WINDOW_SECS < second) {
            self.seconds.pop_front();
        }
    }

    pub fn per_sec(&mut self) -> f64 {
        if self.started.is_none() {
            return 0.0;
        }
        let second = self.now_second();
        let total: u64 = self.seconds.iter().filter(|(at, _)| at + RATE_WINDOW_SECS > second).map(|(_, n)| n).sum();
        total as f64 / RATE_WINDOW_SECS as f64
    }
}

/// What a drain's loop reports while it runs; kept after it stops.
#[derive(Debug, Default)]
pub struct LiveStatus {
    pub execution: Execution,
    /// The topic's end as last seen.
    pub end: u64,
    pub cursor: u64,
    pub delivered: u64,
    pub rate: RateMeter,
    pub last_error: Option<String>,
    pub last_error_at_ns: Option<i64>,
    pub last_success_at_ns: Option<i64>,
    pub failing_since: Option<Instant>,
    pub gaps: Vec<DrainGap>,
}

/// A drain as the API shows it: its settings (secrets hidden) and its state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrainView {
    pub id: i64,
    pub org: String,
    /// `null` for an org drain (audit log).
    pub app: Option<String>,
    pub kind: DrainKind,
    /// The recipient's settings; passwords, keys and tokens show as `********`.
    pub recipient: RecipientConfig,
    pub status: DrainStatus,
    pub execution: Execution,
    /// Why it is disabled: by whom, or after which failure.
    pub disabled_reason: Option<String>,
    /// The first offset not yet delivered.
    pub cursor: u64,
    /// Records stored but not yet delivered.
    pub backlog: u64,
    /// Records delivered since this server started.
    pub delivered: u64,
    /// Records delivered per second, over the last 10 s.
    pub rate_out_per_sec: f64,
    pub last_error: Option<String>,
    pub last_error_at_ns: Option<i64>,
    pub last_success_at_ns: Option<i64>,
    /// Records removed by retention before they were delivered (the latest gaps).
    pub gaps: Vec<DrainGap>,
    /// Total records in `gaps`.
    pub lost_records: u64,
    pub created_by: String,
    pub created_at_ns: i64,
}

/// Where a drain starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// With the next record stored.
    Now,
    /// With the first record at or after this time (ns since the epoch).
    Time(i64),
}

/// Which drains a call is about: an app's, or the org's (audit log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainScope {
    pub org: String,
    pub app: Option<String>,
}

/// Who asks, as the audit log names them.
#[derive(Clone, Debug)]
pub struct Actor {
    pub name: String,
    pub ip: String,
}

/// What a `check` found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckReport {
    /// True when the recipient acknowledged the test message.
    pub ok: bool,
    /// What it answered, or what went wrong.
    pub answer: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    /// The request is wrong; the text says which field and why.
    #[error("{0}")]
    Invalid(String),
    #[error("no drain {0} here")]
    Missing(i64),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a drain task failed: {0}")]
    Task(String),
}

struct Running {
    stop: watch::Sender<bool>,
}

/// The handle to every drain; cloning it is shallow.
#[derive(Clone)]
pub struct Drains {
    inner: Arc<DrainsInner>,
}

struct DrainsInner {
    store: Store,
    catalog: Catalog,
    settings: DrainSettings,
    http: reqwest::Client,
    shutdown: ShutdownSignal,
    /// A std `Mutex`: held to insert or look up, never across an `.await`.
    running: Mutex<HashMap<i64, Running>>,
    /// Kept while a drain exists, so a stopped one still shows its last error.
    statuses: Mutex<HashMap<i64, Arc<Mutex<LiveStatus>>>>,
    /// In a cluster, whether this node holds the lease that lets it run
    /// drains (one node at a time); `None` alone: this node runs them all.
    lease: Option<watch::Receiver<bool>>,
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DrainError> + Send + 'static,
) -> Result<T, DrainError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| DrainError::Task(error.to_string()))?
}

impl Drains {
    /// Starts every enabled drain of the catalog; in a cluster (`lease`
    /// given), only while this node holds the drains' lease: then it also
    /// follows the drains made, enabled, disabled or removed on other
    /// nodes, and starts each from the cursor the catalog shares.
    pub async fn start(
        store: Store,
        catalog: Catalog,
        settings: DrainSettings,
        shutdown: ShutdownSignal,
        lease: Option<watch::Receiver<bool>>,
    ) -> Result<Drains, DrainError> {
        let roots = targets::extra_roots(settings.extra_ca_file.as_deref()).map_err(DrainError::Invalid)?;
        // The drain's own timeout (`request_timeout`, around each send) is the
        // one that fires; the client's is a backstop.
        let backstop = settings.request_timeout + Duration::from_secs(5);
        let http = targets::http_client(settings.allow_private_targets, backstop, &roots);
        let drains = Drains {
            inner: Arc::new(DrainsInner {
                store,
                catalog: catalog.clone(),
                settings,
                http,
                shutdown,
                running: Mutex::default(),
                statuses: Mutex::default(),
                lease: lease.clone(),
            }),
        };
        if let Some(lease) = lease {
            tokio::spawn(drains.clone().run_while_leased(lease));
            return Ok(drains);
        }
        let rows = blocking(move || Ok(catalog.all_drains()?)).await?;
        let enabled = rows.iter().filter(|row| row.enabled).count();
        for row in rows.iter().filter(|row| row.enabled) {
            drains.spawn(row);
        }
        tracing::info!(drains = rows.len(), enabled, "drains started");
        Ok(drains)
    }

    pub fn settings(&self) -> &DrainSettings {
        &self.inner.settings
    }

    /// In a cluster: while this node holds the lease, runs every enabled
    /// drain of the catalog, checked again each second (drains changed on
    /// other nodes arrive through the catalog); stops them all the moment
    /// the lease is lost.
    async fn run_while_leased(self, mut lease: watch::Receiver<bool>) {
        let stop = self.inner.shutdown.clone().fired();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                held = lease.wait_for(|held| *held) => if held.is_err() { return },
            }
            tracing::info!("this node runs the drains");
            loop {
                if let Err(error) = self.reconcile().await {
                    tracing::error!(%error, "could not read the drains to run");
                }
                tokio::select! {
                    _ = &mut stop => return,
                    changed = lease.changed() => if changed.is_err() || !*lease.borrow() { break },
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            let ids: Vec<i64> = lock(&self.inner.running).keys().copied().collect();
            for id in ids {
                self.stop(id);
            }
            tracing::info!("this node no longer runs the drains");
        }
    }

    /// Starts the enabled drains not running here, stops those no longer enabled.
    async fn reconcile(&self) -> Result<(), DrainError> {
        let catalog = self.inner.catalog.clone();
        let rows = blocking(move || Ok(catalog.all_drains()?)).await?;
        let enabled: std::collections::HashSet<i64> = rows.iter().filter(|row| row.enabled).map(|row| row.id).collect();
        let gone: Vec<i64> = lock(&self.inner.running).keys().filter(|id| !enabled.contains(id)).copied().collect();
        for id in gone {
            self.stop(id);
        }
        for row in rows.iter().filter(|row| row.enabled) {
            self.spawn(row);
        }
        Ok(())
    }

    /// Whether this node may run drains: always alone, with the lease in a cluster.
    fn may_run(&self) -> bool {
        self.inner.lease.as_ref().is_none_or(|lease| *lease.borrow())
    }

    /// How many drain loops run on this node, and (in a cluster) whether
    /// it holds the drains' lease, as Prometheus text.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let running = lock(&self.inner.running).len();
        let _ = writeln!(out, "# HELP vigie_drains_running Drain loops running on this node.");
        let _ = writeln!(out, "# TYPE vigie_drains_running gauge");
        let _ = writeln!(out, "vigie_drains_running {running}");
        let _ = writeln!(
            out,
            "# HELP vigie_drains_lease_held 1 when this node may run drains (always 1 outside a cluster)."
        );
        let _ = writeln!(out, "# TYPE vigie_drains_lease_held gauge");
        let _ = writeln!(out, "vigie_drains_lease_held {}", u8::from(self.may_run()));
    }

    fn status_of(&self, id: i64) -> Arc<Mutex<LiveStatus>> {
        lock(&self.inner.statuses).entry(id).or_default().clone()
    }

    /// Starts the loop of an enabled drain (unless it runs already).
    fn spawn(&self, row: &DrainRow) {
        if !self.may_run() {
            return;
        }
        let mut running = lock(&self.inner.running);
        if running.contains_key(&row.id) {
            return;
        }
        let status = self.status_of(row.id);
        let source = source_of(row);
        let gaps: Vec<DrainGap> = serde_json::from_str(&row.gaps).unwrap_or_default();
        {
            let mut status = lock(&status);
            status.execution = Execution::Running;
            status.cursor = row.cursor;
            status.gaps = gaps.clone();
        }
        let recipient = serde_json::from_str::<RecipientConfig>(&row.recipient)
            .map_err(|error| error.to_string())
            .and_then(|config| recipient::build(&config, &self.inner.settings, &self.inner.http));
        let recipient = match recipient {
            Ok(recipient) => recipient,
            Err(error) => {
                tracing::error!(drain = row.id, %error, "a drain's recipient cannot be built; it stays stopped");
                let mut status = lock(&status);
                status.execution = Execution::Stopped;
                status.last_error = Some(error);
                return;
            }
        };
        let (stop, stopped) = watch::channel(false);
        let task = DrainTask {
            id: row.id,
            key: source.kind.topic(&source.org, source.app.as_deref()),
            source,
            cursor: row.cursor,
            recipient,
            store: self.inner.store.clone(),
            catalog: self.inner.catalog.clone(),
            settings: self.inner.settings.clone(),
            status,
            gaps,
            stop: stopped,
            shutdown: self.inner.shutdown.clone(),
        };
        let (id, drains) = (row.id, Arc::downgrade(&self.inner));
        tokio::spawn(async move {
            task.run().await;
            // Forget the loop, unless a newer one replaced it meanwhile.
            if let Some(inner) = drains.upgrade() {
                let mut running = lock(&inner.running);
                if running.get(&id).is_some_and(|run| run.stop.is_closed() || *run.stop.borrow()) {
                    running.remove(&id);
                }
            }
        });
        running.insert(row.id, Running { stop });
    }

    fn stop(&self, id: i64) {
        if let Some(run) = lock(&self.inner.running).remove(&id) {
            let _ = run.stop.send(true);
        }
    }

    /// Creates a drain, starts it, and audits it.
    pub async fn create(
        &self,
        scope: &DrainScope,
        kind: DrainKind,
        recipient: RecipientConfig,
        start: Start,
        actor: &Actor,
    ) -> Result<DrainView, DrainError> {
        match (&scope.app, kind) {
            (Some(_), DrainKind::Auditlog) => {
                return Err(DrainError::Invalid(
                    "kind: AUDITLOG drains belong to the org (/api/v1/orgs/{org}/drains), not to an app".into(),
                ))
            }
            (None, DrainKind::Log | DrainKind::Accesslog) => {
                return Err(DrainError::Invalid(
                    "kind: an org drain forwards the audit log (AUDITLOG); LOG and ACCESSLOG drains belong to an app"
                        .into(),
                ))
            }
            _ => {}
        }
        recipient::build(&recipient, &self.inner.settings, &self.inner.http).map_err(DrainError::Invalid)?;
        let (store, catalog, scope_owned, settings) =
            (self.inner.store.clone(), self.inner.catalog.clone(), scope.clone(), self.inner.settings.clone());
        let recipient_json = serde_json::to_string(&recipient).expect("a recipient serialises");
        let created_by = actor.name.clone();
        let row = blocking(move || {
            let key = kind.topic(&scope_owned.org, scope_owned.app.as_deref());
            let cursor = match start {
                Start::Now => store.next_offset(&key),
                Start::Time(ts_ns) => store.offsets_for_times(&key, Some(ts_ns), None).start,
            };
            Ok(catalog.create_drain(&NewDrainRow {
                org: &scope_owned.org,
                app: scope_owned.app.as_deref(),
                kind: kind.as_str(),
                recipient: &recipient_json,
                cursor,
                created_by: &created_by,
                max_per_scope: settings.max_per_scope,
            })?)
        })
        .await?;
        self.spawn(&row);
        let view = self.view(row).await?;
        self.audit(actor, "drain.created", &view, None, Some(json!(view.recipient_summary()))).await?;
        Ok(view)
    }

    pub async fn list(&self, scope: &DrainScope) -> Result<Vec<DrainView>, DrainError> {
        let (catalog, scope) = (self.inner.catalog.clone(), scope.clone());
        let rows = blocking(move || Ok(catalog.drains(&scope.org, scope.app.as_deref())?)).await?;
        self.views(rows).await
    }

    pub async fn get(&self, scope: &DrainScope, id: i64) -> Result<DrainView, DrainError> {
        let row = self.row(scope, id).await?;
        self.view(row).await
    }

    async fn row(&self, scope: &DrainScope, id: i64) -> Result<DrainRow, DrainError> {
        let (catalog, scope) = (self.inner.catalog.clone(), scope.clone());
        blocking(move || catalog.drain(&scope.org, scope.app.as_deref(), id)?.ok_or(DrainError::Missing(id))).await
    }

    /// Enables a drain: it resumes from its cursor.
    pub async fn enable(&self, scope: &DrainScope, id: i64, actor: &Actor) -> Result<DrainView, DrainError> {
        self.set_enabled(scope, id, true, None, actor).await
    }

    /// Disables a drain: it stops at once, keeping its cursor.
    pub async fn disable(&self, scope: &DrainScope, id: i64, actor: &Actor) -> Result<DrainView, DrainError> {
        let reason = format!("disabled by {}", actor.name);
        self.set_enabled(scope, id, false, Some(reason), actor).await
    }

    async fn set_enabled(
        &self,
        scope: &DrainScope,
        id: i64,
        enabled: bool,
        reason: Option<String>,
        actor: &Actor,
    ) -> Result<DrainView, DrainError> {
        let before = self.row(scope, id).await?;
        if before.enabled == enabled {
            return self.view(before).await;
        }
        let catalog = self.inner.catalog.clone();
        let after =
            blocking(move || catalog.set_drain_enabled(id, enabled, reason.as_deref())?.ok_or(DrainError::Missing(id)))
                .await?;
        if enabled {
            {
                let status = self.status_of(id);
                let mut status = lock(&status);
                status.failing_since = None;
                status.last_error = None;
            }
            self.spawn(&after);
        } else {
            self.stop(id);
        }
        let view = self.view(after).await?;
        let (action, was, now) =
            if enabled { ("drain.enabled", "DISABLED", "ENABLED") } else { ("drain.disabled", "ENABLED", "DISABLED") };
        self.audit(actor, action, &view, Some(json!({ "status": was })), Some(json!({ "status": now }))).await?;
        Ok(view)
    }

    /// Removes a drain; what it had not delivered stays in the store.
    pub async fn remove(&self, scope: &DrainScope, id: i64, actor: &Actor) -> Result<DrainView, DrainError> {
        let (catalog, scope_owned) = (self.inner.catalog.clone(), scope.clone());
        let row = blocking(move || {
            catalog.delete_drain(&scope_owned.org, scope_owned.app.as_deref(), id)?.ok_or(DrainError::Missing(id))
        })
        .await?;
        self.stop(id);
        let mut view = self.view(row).await?;
        lock(&self.inner.statuses).remove(&id);
        view.execution = Execution::Stopped;
        self.audit(actor, "drain.removed", &view, Some(json!(view.recipient_summary())), None).await?;
        Ok(view)
    }

    /// Sends one test message to the drain's recipient and says what it answered.
    pub async fn check(&self, scope: &DrainScope, id: i64) -> Result<CheckReport, DrainError> {
        let row = self.row(scope, id).await?;
        let config: RecipientConfig =
            serde_json::from_str(&row.recipient).map_err(|error| DrainError::Task(error.to_string()))?;
        let mut recipient = match recipient::build(&config, &self.inner.settings, &self.inner.http) {
            Ok(recipient) => recipient,
            Err(error) => return Ok(CheckReport { ok: false, answer: error }),
        };
        let source = source_of(&row);
        let records = [record::check_record(source.kind, now_ns())];
        let sent = tokio::time::timeout(
            self.inner.settings.request_timeout,
            recipient.send(Batch { source: &source, records: &records }),
        )
        .await;
        Ok(match sent {
            Ok(Ok(delivered)) => CheckReport { ok: true, answer: delivered.answer },
            Ok(Err(error)) => CheckReport { ok: false, answer: error.message },
            Err(_) => CheckReport {
                ok: false,
                answer: format!("no answer within {} s", self.inner.settings.request_timeout.as_secs_f64()),
            },
        })
    }

    async fn views(&self, rows: Vec<DrainRow>) -> Result<Vec<DrainView>, DrainError> {
        let store = self.inner.store.clone();
        let ends = blocking(move || {
            Ok(rows
                .into_iter()
                .map(|row| {
                    let source = source_of(&row);
                    let end = store.next_offset(&source.kind.topic(&source.org, source.app.as_deref()));
                    (row, end)
                })
                .collect::<Vec<_>>())
        })
        .await?;
        Ok(ends.into_iter().map(|(row, end)| self.view_at(row, end)).collect())
    }

    async fn view(&self, row: DrainRow) -> Result<DrainView, DrainError> {
        let mut views = self.views(vec![row]).await?;
        Ok(views.pop().expect("one row, one view"))
    }

    fn view_at(&self, row: DrainRow, end: u64) -> DrainView {
        let status = self.status_of(row.id);
        let mut status = lock(&status);
        let recipient = serde_json::from_str::<RecipientConfig>(&row.recipient)
            .map(|config| config.redacted())
            .unwrap_or(RecipientConfig::RawHttp { url: "unreadable".into(), username: None, password: None });
        // The loop's cursor is ahead of the catalog's only between an
        // acknowledgement and its save.
        let cursor = row.cursor.max(status.cursor);
        let gaps = if status.gaps.is_empty() {
            serde_json::from_str(&row.gaps).unwrap_or_default()
        } else {
            status.gaps.clone()
        };
        DrainView {
            id: row.id,
            org: row.org,
            app: row.app,
            kind: DrainKind::parse(&row.kind).unwrap_or(DrainKind::Log),
            recipient,
            status: if row.enabled { DrainStatus::Enabled } else { DrainStatus::Disabled },
            execution: if row.enabled { status.execution } else { Execution::Stopped },
            disabled_reason: row.disabled_reason,
            cursor,
            backlog: end.saturating_sub(cursor),
            delivered: status.delivered,
            rate_out_per_sec: status.rate.per_sec(),
            last_error: status.last_error.clone(),
            last_error_at_ns: status.last_error_at_ns,
            last_success_at_ns: status.last_success_at_ns,
            lost_records: gaps.iter().map(|gap: &DrainGap| gap.count).sum(),
            gaps,
            created_by: row.created_by,
            created_at_ns: row.created_at_ns,
        }
    }

    async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        view: &DrainView,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), DrainError> {
        let target = match &view.app {
            Some(app) => format!("drain {} of app {app}", view.id),
            None => format!("drain {} of the org", view.id),
        };
        let line =
            AuditLine { actor: actor.name.clone(), action: action.into(), target, ip: actor.ip.clone(), before, after };
        Ok(crate::audit::append(&self.inner.store, &view.org, line).await?)
    }
}

impl DrainView {
    /// What the audit log keeps of a drain: its kind and recipient, secrets hidden.
    fn recipient_summary(&self) -> serde_json::Value {
        json!({ "kind": self.kind, "recipient": self.recipient })
    }
}

fn source_of(row: &DrainRow) -> DrainSource {
    DrainSource {
        org: row.org.clone(),
        app: row.app.clone(),
        kind: DrainKind::parse(&row.kind).unwrap_or(DrainKind::Log),
    }
}
