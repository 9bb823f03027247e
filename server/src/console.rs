//! The console's port, implemented in-process on the catalog and the store;
//! its stats port, on the metric read model, is in `console/stats.rs`; its
//! Grafana port, on the Grafana service, in `console/grafana.rs`; its
//! drains port, on the drains, in `console/drains.rs`.

pub mod drains;
pub mod grafana;
mod stats;

use std::time::Duration;

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use vigie_app::model::{
    cols_of, AccessColumn, AccessLine, AppSettings, AppSummary, AuditLine, AuditPage, LogKind, LogLine, LogPage,
    LogRecord, LogView, OrgSummary, RetentionRow, SavedView, ServiceLine, ViewKind, ViewProblem, Viewer,
};
use vigie_app::port::{
    ConsoleAdmin, ConsolePort, FollowRequest, LiveBatch, LogVolume, PortError, ReadRefusal, RecordsChunk,
    RecordsFormat, RetentionChange,
};

use crate::catalog::{Catalog, CatalogError, NewSavedView, Org, SavedViewRow};
use crate::metrics::http_stats::HttpStatsModel;
use crate::metrics::series::SeriesModel;
use crate::query::encode::{record_json, record_text, records_json};
use crate::query::live::{self, LiveSelection, SharedBatches};
use crate::query::search::{search, Order, SearchPage, SearchRequest};
use crate::query::time_bound::parse_time_bound;
use crate::query::CompiledFilter;
use crate::store::{Retention, Store, TopicKey};

/// Cloning it is shallow: each call moves a clone to a blocking thread,
/// where the catalog and the store are read.
#[derive(Clone)]
pub struct InProcessConsole {
    pub catalog: Catalog,
    pub store: Store,
    /// Encoded live batches, shared with the Logs API's followers.
    pub live_batches: Arc<SharedBatches>,
    /// The metric read model the dashboards chart (the one the Stats API reads).
    pub series: SeriesModel,
    /// HTTP statistics from the access logs.
    pub http_stats: HttpStatsModel,
    /// The attribution the GeoIP database's licence asks of the maps (text, link).
    pub places_credit: Option<(String, String)>,
}

/// Runs `read` on a blocking thread: the port's calls read SQLite and the store.
async fn off_runtime<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, PortError> + Send + 'static,
) -> Result<T, PortError> {
    tokio::task::spawn_blocking(read).await.map_err(port_error)?
}

impl InProcessConsole {
    /// The topic of a view of `app` of `org`, if the app exists. Blocks.
    fn view_topic(&self, org: &str, app: &str, kind: ViewKind) -> Result<TopicKey, ReadRefusal> {
        match self.catalog.app(org, app) {
            Ok(Some(_)) => Ok(TopicKey::new(org, app, log_kind(kind))),
            Ok(None) => Err(ReadRefusal::NoSuchApp),
            Err(error) => Err(ReadRefusal::Failed(port_error(error))),
        }
    }

    /// A view's filter and times, checked; a mistake names its parameter.
    fn view_query(view: &LogView) -> Result<ViewQuery, ReadRefusal> {
        ViewQuery::check(view, crate::clock::now_ns())
            .map_err(|problem| ReadRefusal::BadQuery(format!("{}: {}", problem.param, problem.message)))
    }

    /// Opens a follower of a view. Blocks (the topic is opened, `since` looked up).
    fn open_follower(
        &self,
        org: &str,
        app: &str,
        request: FollowRequest,
    ) -> Result<BoxStream<'static, LiveBatch>, ReadRefusal> {
        let key = self.view_topic(org, app, request.view.kind)?;
        let query = Self::view_query(&request.view)?;
        let from = request
            .from_offset
            .or_else(|| query.since_ns.map(|since| self.store.offsets_for_times(&key, Some(since), None).start));
        let selection = LiveSelection { filter: query.filter, since_ns: query.since_ns, until_ns: query.until_ns };
        let items = live::follow(self.store.clone(), self.live_batches.clone(), key, from, selection)
            .map_err(|error| ReadRefusal::Failed(port_error(error)))?;
        Ok(items.map(|item| LiveBatch { sse: item.sse }).boxed())
    }

    /// One page of a view's range, in `order` from `cursor`. Blocks.
    fn view_page(
        &self,
        org: &str,
        app: &str,
        view: &LogView,
        order: Order,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<SearchPage, ReadRefusal> {
        let key = self.view_topic(org, app, view.kind)?;
        let query = Self::view_query(view)?;
        let request = SearchRequest {
            key: &key,
            since_ns: query.since_ns,
            until_ns: query.until_ns,
            filter: &query.filter,
            order,
            cursor,
            limit,
        };
        Ok(search(&self.store, &request))
    }

    /// A chunk of a view's range. Blocks.
    fn read_records(
        &self,
        org: &str,
        app: &str,
        view: &LogView,
        cursor: Option<u64>,
        limit: usize,
        format: RecordsFormat,
    ) -> Result<RecordsChunk, ReadRefusal> {
        let page = self.view_page(org, app, view, Order::OldestFirst, cursor, limit)?;
        let body = match format {
            RecordsFormat::JsonArray => records_json(&page.records),
            RecordsFormat::Ndjson => page.records.iter().map(|record| record_json(record) + "\n").collect(),
            RecordsFormat::Text => page.records.iter().map(|record| record_text(record) + "\n").collect(),
        };
        Ok(RecordsChunk { body, next_cursor: page.next_cursor })
    }

    /// The lines of a view just before `before`, oldest first. Blocks.
    fn read_older_records(
        &self,
        org: &str,
        app: &str,
        view: &LogView,
        before: u64,
        limit: usize,
    ) -> Result<RecordsChunk, ReadRefusal> {
        let mut page = self.view_page(org, app, view, Order::NewestFirst, Some(before), limit)?;
        page.records.reverse();
        Ok(RecordsChunk { body: records_json(&page.records), next_cursor: page.next_cursor })
    }

    fn summarise(&self, org: Org) -> OrgSummary {
        let apps = org
            .apps
            .into_iter()
            .map(|app| {
                let service = TopicKey::new(&org.slug, &app.slug, LogKind::Service);
                let access = TopicKey::new(&org.slug, &app.slug, LogKind::Access);
                let info = self.store.info(&service);
                let hour_ago = Some(crate::clock::now_ns() - 3_600_000_000_000);
                let last_hour = |key: &TopicKey| {
                    let range = self.store.offsets_for_times(key, hour_ago, None);
                    range.end.saturating_sub(range.start)
                };
                AppSummary {
                    lines_last_hour: last_hour(&service),
                    requests_last_hour: last_hour(&access),
                    slug: app.slug,
                    name: app.name,
                    kind: app.kind,
                    runtime: app.runtime,
                    service_lines: info.as_ref().map_or(0, |info| info.records),
                    last_log_ns: info.and_then(|info| info.last_ts_ns),
                }
            })
            .collect();
        OrgSummary { slug: org.slug, name: org.name, apps }
    }

    fn read_log_page(&self, org: &str, app: &str, view: &LogView, limit: usize) -> Result<Option<LogPage>, PortError> {
        let Some(org) = self.catalog.org(org).map_err(port_error)? else { return Ok(None) };
        let org = self.summarise(org);
        let Some(app) = org.apps.iter().find(|known| known.slug == app).cloned() else { return Ok(None) };
        let kind = log_kind(view.kind);
        let key = TopicKey::new(&org.slug, &app.slug, kind);
        let mut page = LogPage { org, app, records: Vec::new(), next_offset: 0, more_in_range: false, problem: None };
        let query = match ViewQuery::check(view, crate::clock::now_ns()) {
            Ok(query) => query,
            Err(problem) => {
                page.next_offset = self.store.next_offset(&key);
                page.problem = Some(problem);
                return Ok(Some(page));
            }
        };
        let stored = if view.is_replay() {
            let found = search(
                &self.store,
                &SearchRequest {
                    key: &key,
                    since_ns: query.since_ns,
                    until_ns: query.until_ns,
                    filter: &query.filter,
                    order: Order::OldestFirst,
                    cursor: None,
                    limit,
                },
            );
            page.more_in_range = found.next_cursor.is_some();
            page.next_offset = found.records.last().map_or_else(
                || self.store.offsets_for_times(&key, query.since_ns, query.until_ns).end,
                |last| last.offset + 1,
            );
            found.records
        } else {
            // The end first: the live tail starts there, so a line that
            // arrives while this page is read is streamed, not lost.
            let end = self.store.next_offset(&key);
            page.next_offset = end;
            let mut found = if query.filter.keeps_all() {
                self.store.latest(&key, limit).into_iter().filter(|r| r.offset < end).collect()
            } else {
                let request = SearchRequest {
                    key: &key,
                    since_ns: None,
                    until_ns: None,
                    filter: &query.filter,
                    order: Order::NewestFirst,
                    cursor: Some(end),
                    limit,
                };
                search(&self.store, &request).records
            };
            found.sort_by_key(|record| record.offset);
            found
        };
        page.records = shown_records(stored, kind);
        Ok(Some(page))
    }
}

/// Stored records as the logs page shows them; an unreadable one is skipped (and logged).
fn shown_records(stored: Vec<crate::store::StoredRecord>, kind: LogKind) -> Vec<vigie_app::model::ShownRecord> {
    stored
        .into_iter()
        .filter_map(|record| {
            let line = match kind {
                LogKind::Access => serde_json::from_str::<AccessLine>(&record.payload).map(LogLine::from),
                _ => serde_json::from_str::<ServiceLine>(&record.payload).map(LogLine::from),
            };
            match line {
                Ok(line) => Some(LogRecord { offset: record.offset, ts_ns: record.ts_ns, line }),
                Err(error) => {
                    tracing::warn!(offset = record.offset, %error, "skipping an unreadable {} record", kind.as_str());
                    None
                }
            }
        })
        .collect()
}

/// The range a live view's volume covers: the last hour.
const LIVE_VOLUME_NS: i64 = 3_600_000_000_000;
/// Most fields one volume request counts the values of.
const MAX_VOLUME_FIELDS: usize = 8;
/// A service view's own JSON fields the explorer lists besides the fixed ones.
const OWN_VOLUME_FIELDS: usize = 3;

impl InProcessConsole {
    /// A view's volume per step and its fields' top values. Blocks (scans
    /// the range in place, once for the steps and once per field).
    fn read_log_volume(
        &self,
        org: &str,
        app: &str,
        view: &LogView,
        fields: &[String],
        steps: i64,
        top: usize,
    ) -> Result<Option<LogVolume>, PortError> {
        use crate::query::stats::{count, Split, StatsRequest};
        if self.catalog.app(org, app).map_err(port_error)?.is_none() {
            return Ok(None);
        }
        let now = crate::clock::now_ns();
        let key = TopicKey::new(org, app, log_kind(view.kind));
        let mut volume = LogVolume {
            from_ms: 0,
            to_ms: 0,
            step_ms: 0,
            total: 0,
            buckets: Vec::new(),
            facets: Vec::new(),
            problem: None,
        };
        let query = match ViewQuery::check(view, now) {
            Ok(query) => query,
            Err(problem) => {
                volume.problem = Some(format!("{}: {}", problem.param, problem.message));
                return Ok(Some(volume));
            }
        };
        let until = query.until_ns.unwrap_or(now);
        let since = query.since_ns.unwrap_or(until - LIVE_VOLUME_NS);
        // Whole seconds, whole minutes past a minute, whole hours past an hour.
        let raw = ((until - since) / steps.clamp(1, 1_000)).max(1_000_000_000);
        let step_ns = [1, 5, 10, 30, 60, 300, 600, 1_800, 3_600, 21_600, 86_400]
            .iter()
            .map(|secs| secs * 1_000_000_000)
            .find(|step| *step >= raw)
            .unwrap_or_else(|| (raw + 86_399_999_999_999) / 86_400_000_000_000 * 86_400_000_000_000);
        let split = if view.kind == ViewKind::Access { Split::StatusClass } else { Split::Level };
        // The histogram and every field in one pass over the range; service
        // logs also list their own JSON fields most present in the view.
        let by: Vec<&str> = fields.iter().take(MAX_VOLUME_FIELDS).map(String::as_str).collect();
        let request = StatsRequest {
            key: &key,
            since_ns: Some(since),
            until_ns: Some(until),
            filter: &query.filter,
            step_ns: Some(step_ns),
            split,
            by: &by,
            discover: if view.kind == ViewKind::Service { OWN_VOLUME_FIELDS } else { 0 },
            top: top.max(1),
        };
        let counted = count(&self.store, &request);
        volume.from_ms = since.div_euclid(1_000_000);
        volume.to_ms = until.div_euclid(1_000_000);
        volume.step_ms = step_ns / 1_000_000;
        volume.total = counted.total;
        volume.buckets = counted
            .buckets
            .into_iter()
            .map(|bucket| (bucket.start_ns.div_euclid(1_000_000), bucket.counts.into_iter().collect()))
            .collect();
        volume.facets = counted
            .fields
            .into_iter()
            .map(|field| {
                (field.field, field.top.into_iter().map(|value| (value.value, value.count)).collect(), field.other)
            })
            .collect();
        Ok(Some(volume))
    }
}

/// A view's parameters, checked: each mistake names its parameter.
struct ViewQuery {
    filter: CompiledFilter,
    since_ns: Option<i64>,
    until_ns: Option<i64>,
}

impl ViewQuery {
    fn check(view: &LogView, now_ns: i64) -> Result<ViewQuery, ViewProblem> {
        let filter = CompiledFilter::parse(&view.q).map_err(|error| ViewProblem {
            param: "q".into(),
            message: format!("expected {}", error.expected),
            position: Some(error.position),
        })?;
        let bound = |param: &str, text: &str| -> Result<Option<i64>, ViewProblem> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            parse_time_bound(&picker_time_as_utc(text), now_ns).map(Some).map_err(|message| ViewProblem {
                param: param.into(),
                message,
                position: None,
            })
        };
        let since_ns = bound("since", &view.since)?;
        let until_ns = bound("until", &view.until)?;
        if let (Some(since), Some(until)) = (since_ns, until_ns) {
            if since > until {
                return Err(ViewProblem {
                    param: "until".into(),
                    message: "the end of the range is before its start: swap them".into(),
                    position: None,
                });
            }
        }
        Ok(ViewQuery { filter, since_ns, until_ns })
    }
}

/// A date-time picker sends `2026-11-25T10:00` (no seconds, no zone): read
/// it as UTC, as the console shows times.
pub(crate) fn picker_time_as_utc(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let picker = bytes.len() == 16 && bytes[10] == b'T' && bytes[13] == b':' && !text.ends_with('Z');
    if picker {
        format!("{text}:00Z").into()
    } else {
        text.into()
    }
}

impl ConsolePort for InProcessConsole {
    fn orgs(&self) -> BoxFuture<'_, Result<Vec<OrgSummary>, PortError>> {
        let this = self.clone();
        off_runtime(move || {
            this.catalog
                .orgs()
                .map(|orgs| orgs.into_iter().map(|org| this.summarise(org)).collect())
                .map_err(port_error)
        })
        .boxed()
    }

    fn org(&self, org: String) -> BoxFuture<'_, Result<Option<OrgSummary>, PortError>> {
        let this = self.clone();
        off_runtime(move || {
            this.catalog.org(&org).map(|found| found.map(|org| this.summarise(org))).map_err(port_error)
        })
        .boxed()
    }

    fn log_page(
        &self,
        org: String,
        app: String,
        view: LogView,
        limit: usize,
    ) -> BoxFuture<'_, Result<Option<LogPage>, PortError>> {
        let this = self.clone();
        off_runtime(move || this.read_log_page(&org, &app, &view, limit)).boxed()
    }

    fn line_context(
        &self,
        org: String,
        app: String,
        kind: ViewKind,
        offset: u64,
        around: u64,
    ) -> BoxFuture<'_, Result<Option<Vec<vigie_app::model::ShownRecord>>, PortError>> {
        let this = self.clone();
        off_runtime(move || {
            if this.catalog.app(&org, &app).map_err(port_error)?.is_none() {
                return Ok(None);
            }
            let key = TopicKey::new(&org, &app, log_kind(kind));
            let found = crate::query::context::around(&this.store, &key, offset, around, around);
            Ok(found.map(|(records, _)| shown_records(records, log_kind(kind))))
        })
        .boxed()
    }

    fn log_volume(
        &self,
        org: String,
        app: String,
        view: LogView,
        fields: Vec<String>,
        steps: i64,
        top: usize,
    ) -> BoxFuture<'_, Result<Option<LogVolume>, PortError>> {
        let this = self.clone();
        off_runtime(move || this.read_log_volume(&org, &app, &view, &fields, steps, top)).boxed()
    }

    fn follow(
        &self,
        org: String,
        app: String,
        request: FollowRequest,
    ) -> BoxFuture<'_, Result<BoxStream<'static, LiveBatch>, ReadRefusal>> {
        let this = self.clone();
        async move {
            tokio::task::spawn_blocking(move || this.open_follower(&org, &app, request))
                .await
                .map_err(|error| ReadRefusal::Failed(port_error(error)))?
        }
        .boxed()
    }

    fn records(
        &self,
        org: String,
        app: String,
        view: LogView,
        cursor: Option<u64>,
        limit: usize,
        format: RecordsFormat,
    ) -> BoxFuture<'_, Result<RecordsChunk, ReadRefusal>> {
        let this = self.clone();
        async move {
            tokio::task::spawn_blocking(move || this.read_records(&org, &app, &view, cursor, limit, format))
                .await
                .map_err(|error| ReadRefusal::Failed(port_error(error)))?
        }
        .boxed()
    }

    fn older_records(
        &self,
        org: String,
        app: String,
        view: LogView,
        before: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<RecordsChunk, ReadRefusal>> {
        let this = self.clone();
        async move {
            tokio::task::spawn_blocking(move || this.read_older_records(&org, &app, &view, before, limit))
                .await
                .map_err(|error| ReadRefusal::Failed(port_error(error)))?
        }
        .boxed()
    }
}

impl ConsoleAdmin for InProcessConsole {
    fn app_settings(&self, org: String, app: String) -> BoxFuture<'_, Result<Option<AppSettings>, PortError>> {
        let this = self.clone();
        off_runtime(move || {
            let Some(org) = this.catalog.org(&org).map_err(port_error)? else { return Ok(None) };
            let org = this.summarise(org);
            let Some(app) = org.apps.iter().find(|known| known.slug == app).cloned() else { return Ok(None) };
            let now = crate::clock::now_ns();
            let retention = [ViewKind::Service, ViewKind::Access]
                .into_iter()
                .map(|kind| {
                    let info = this.store.info(&TopicKey::new(&org.slug, &app.slug, log_kind(kind)));
                    let retention = info.as_ref().map_or(this.store.config().default_retention, |info| info.retention);
                    RetentionRow {
                        kind,
                        max_age_secs: retention.max_age.map(|age| age.as_secs()),
                        max_bytes: retention.max_bytes,
                        stored_bytes: info.as_ref().map_or(0, |info| info.bytes),
                        stored_records: info.as_ref().map_or(0, |info| info.records),
                        oldest_age_secs: info
                            .and_then(|info| info.first_ts_ns)
                            .map(|first| ((now - first).max(0) / 1_000_000_000) as u64),
                    }
                })
                .collect();
            Ok(Some(AppSettings { org, app, retention, may_change: false }))
        })
        .boxed()
    }

    fn set_retention(&self, change: RetentionChange, by: Viewer) -> BoxFuture<'_, Result<(), PortError>> {
        let this = self.clone();
        async move {
            let (catalog, org, app) = (this.catalog.clone(), change.org.clone(), change.app.clone());
            if off_runtime(move || catalog.app(&org, &app).map_err(port_error)).await?.is_none() {
                return Err(PortError(format!("no app \"{}\" in organisation \"{}\"", change.app, change.org)));
            }
            let key = TopicKey::new(&change.org, &change.app, log_kind(change.kind));
            let described = |retention: Retention| {
                serde_json::json!({
                    "max_age_secs": retention.max_age.map(|age| age.as_secs()),
                    "max_bytes": retention.max_bytes,
                })
            };
            let after =
                Retention { max_age: change.max_age_secs.map(Duration::from_secs), max_bytes: change.max_bytes };
            let (store, catalog, kind) = (this.store.clone(), this.catalog.clone(), log_kind(change.kind));
            let (org, app) = (change.org.clone(), change.app.clone());
            let before = off_runtime(move || {
                let before = store.info(&key).map_or(store.config().default_retention, |info| info.retention);
                store.set_retention(&key, after).map_err(port_error)?;
                // In a cluster, every node's store keeps it too.
                catalog.note_retention(
                    &org,
                    &app,
                    kind.as_str(),
                    after.max_age.map(|age| age.as_secs()),
                    after.max_bytes,
                );
                Ok(before)
            })
            .await?;
            let line = AuditLine {
                actor: by.actor(),
                action: "retention.changed".into(),
                target: format!("app {} {} logs", change.app, change.kind.as_str()),
                ip: by.ip.clone(),
                before: Some(described(before)),
                after: Some(described(after)),
            };
            crate::audit::append(&this.store, &change.org, line).await.map_err(port_error)
        }
        .boxed()
    }

    fn audit_page(&self, org: String, limit: usize) -> BoxFuture<'_, Result<Option<AuditPage>, PortError>> {
        let this = self.clone();
        off_runtime(move || {
            let Some(org) = this.catalog.org(&org).map_err(port_error)? else { return Ok(None) };
            let org = this.summarise(org);
            let mut stored = this.store.latest(&crate::audit::topic(&org.slug), limit);
            stored.reverse();
            let records = stored
                .into_iter()
                .filter_map(|record| {
                    let line = serde_json::from_str::<AuditLine>(&record.payload).ok()?;
                    Some(LogRecord { offset: record.offset, ts_ns: record.ts_ns, line })
                })
                .collect();
            Ok(Some(AuditPage { org, records }))
        })
        .boxed()
    }

    fn saved_views(&self, org: String) -> BoxFuture<'_, Result<Vec<SavedView>, PortError>> {
        let catalog = self.catalog.clone();
        off_runtime(move || Ok(catalog.saved_views(&org).map_err(port_error)?.into_iter().map(saved_view).collect()))
            .boxed()
    }

    fn save_view(
        &self,
        org: String,
        app: String,
        name: String,
        view: LogView,
        by: Viewer,
    ) -> BoxFuture<'_, Result<SavedView, PortError>> {
        let this = self.clone();
        async move {
            let name = name.trim().to_string();
            let view = LogView { q: view.q.trim().to_string(), ..view };
            if let Some(problem) = view_to_save_problem(&name, &view) {
                return Err(PortError(problem));
            }
            // The columns as the table reads them (each once), for access lines only.
            let cols = match view.kind {
                ViewKind::Access => cols_of(&view.access_columns()),
                ViewKind::Service => String::new(),
            };
            let view = LogView { cols, ..view };
            let (catalog, actor) = (this.catalog.clone(), by.actor());
            let (org_slug, app_slug, view_name, shown) = (org.clone(), app.clone(), name.clone(), view.clone());
            let saved = off_runtime(move || {
                if catalog.app(&org_slug, &app_slug).map_err(port_error)?.is_none() {
                    return Err(PortError(format!("no app \"{app_slug}\" in organisation \"{org_slug}\"")));
                }
                let new = NewSavedView {
                    name: &view_name,
                    app: &app_slug,
                    kind: shown.kind.as_str(),
                    q: &shown.q,
                    since: &shown.since,
                    until: &shown.until,
                    cols: &shown.cols,
                    created_by: &actor,
                };
                match catalog.save_view(&org_slug, &new) {
                    Ok(row) => Ok(saved_view(row)),
                    Err(error @ (CatalogError::Exists(_) | CatalogError::Invalid(_))) => {
                        Err(PortError(format!("{error}: pick another name")))
                    }
                    Err(error) => Err(port_error(error)),
                }
            })
            .await?;
            let line = AuditLine {
                actor: by.actor(),
                action: "view.saved".into(),
                target: format!("view {} of app {app}", saved.id),
                ip: by.ip.clone(),
                before: None,
                after: Some(serde_json::json!({"name": saved.name, "link": saved.href(&org)})),
            };
            crate::audit::append(&this.store, &org, line).await.map_err(port_error)?;
            Ok(saved)
        }
        .boxed()
    }

    fn remove_view(&self, org: String, id: i64, by: Viewer) -> BoxFuture<'_, Result<bool, PortError>> {
        let this = self.clone();
        async move {
            let (catalog, org_slug) = (this.catalog.clone(), org.clone());
            let Some(removed) = off_runtime(move || catalog.remove_view(&org_slug, id).map_err(port_error)).await?
            else {
                return Ok(false);
            };
            let removed = saved_view(removed);
            let line = AuditLine {
                actor: by.actor(),
                action: "view.removed".into(),
                target: format!("view {} of app {}", removed.id, removed.app),
                ip: by.ip.clone(),
                before: Some(serde_json::json!({"name": removed.name, "link": removed.href(&org)})),
                after: None,
            };
            crate::audit::append(&this.store, &org, line).await.map_err(port_error)?;
            Ok(true)
        }
        .boxed()
    }
}

/// Longest name of a saved view, and longest filter and time it keeps.
const VIEW_NAME_MAX: usize = 80;
const VIEW_FILTER_MAX: usize = 2_000;
const VIEW_TIME_MAX: usize = 64;

fn saved_view(row: SavedViewRow) -> SavedView {
    SavedView {
        id: row.id,
        name: row.name,
        app: row.app,
        view: LogView {
            kind: ViewKind::from_param(&row.kind),
            q: row.q,
            since: row.since,
            until: row.until,
            cols: row.cols,
        },
        created_by: row.created_by,
        created_at_ns: row.created_at_ns,
    }
}

/// What is wrong with a view to save, said for people; `None` when it may be saved.
fn view_to_save_problem(name: &str, view: &LogView) -> Option<String> {
    if name.is_empty() {
        return Some("give the view a name".to_string());
    }
    if name.chars().count() > VIEW_NAME_MAX {
        return Some(format!("a view's name has at most {VIEW_NAME_MAX} characters"));
    }
    if name.chars().any(char::is_control) {
        return Some("a view's name is one line of text".to_string());
    }
    if view.q.len() > VIEW_FILTER_MAX {
        return Some(format!("a saved filter has at most {VIEW_FILTER_MAX} bytes"));
    }
    if view.since.len() > VIEW_TIME_MAX || view.until.len() > VIEW_TIME_MAX {
        return Some(format!("a saved time has at most {VIEW_TIME_MAX} bytes"));
    }
    if view.cols.split(',').any(|name| AccessColumn::parse(name).is_none() && !name.is_empty()) {
        let known: Vec<&str> = AccessColumn::ALL.iter().map(|column| column.name()).collect();
        return Some(format!("the columns are some of {}, separated by commas", known.join(", ")));
    }
    ViewQuery::check(view, crate::clock::now_ns())
        .err()
        .map(|problem| format!("the view cannot be saved as it is: {}: {}", problem.param, problem.message))
}

fn log_kind(kind: ViewKind) -> LogKind {
    match kind {
        ViewKind::Service => LogKind::Service,
        ViewKind::Access => LogKind::Access,
    }
}

/// A failure of the server's own, as the console shows it: the details go
/// to the server's log under an id, and the viewer is told only the id.
fn port_error(error: impl std::fmt::Display) -> PortError {
    let id = crate::http::error::error_id();
    tracing::error!(%error, error_id = %id, "the console's request failed");
    PortError(format!("the server could not do it; its log says why under error id {id}"))
}
