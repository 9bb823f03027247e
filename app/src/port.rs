//! The port the console's server functions call (server side only).
//!
//! `server` implements it in-process on top of the store; an HTTP client of a
//! remote Vigie API can implement it too, so console nodes and storage nodes
//! can be split without touching the UI. Server functions find it in the
//! Leptos context as an [`SharedConsolePort`].

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::sync::Arc;

use crate::model::{AppSettings, AuditPage, LogPage, LogView, OrgSummary, SavedView, ShownRecord, ViewKind, Viewer};

/// Why the port could not answer. Shown to the user, so it says what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortError(pub String);

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PortError {}

/// Why the port could not open a stream or read a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadRefusal {
    /// No such org or app.
    NoSuchApp,
    /// The view's filter or times are wrong: says which and why.
    BadQuery(String),
    Failed(PortError),
}

/// What a console live stream follows: a view (its `since` replays first),
/// from an offset on (right after the last one the browser has), or from
/// the topic's end.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowRequest {
    pub view: LogView,
    pub from_offset: Option<u64>,
}

/// One batch of a live stream, encoded once as the Server-Sent Event that
/// carries it (`[event: gap\n]id: LAST_OFFSET\ndata: JSON\n\n`) and shared
/// by every follower sent the same batch. A remote port passes on the
/// events of the Logs API's own stream as they come.
#[derive(Clone, Debug)]
pub struct LiveBatch {
    pub sse: bytes::Bytes,
}

/// How a chunk of records is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordsFormat {
    /// A JSON array of records, as the Logs API writes them.
    JsonArray,
    /// One JSON record a line.
    Ndjson,
    /// One line of text a record, as people read it.
    Text,
}

/// A chunk of a replayed range, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordsChunk {
    /// The records, written as asked.
    pub body: String,
    /// Where the next chunk starts; `None` at the end of the range.
    pub next_cursor: Option<u64>,
}

/// How many records of a view fall in each step of its range, split by
/// level or status class, and the most frequent values of some fields:
/// the logs page's volume histogram and field sidebar.
#[derive(Clone, Debug, PartialEq)]
pub struct LogVolume {
    /// The range counted: the view's, or the last hour of a live view.
    pub from_ms: i64,
    pub to_ms: i64,
    pub step_ms: i64,
    /// Records of the range that match the view's filter.
    pub total: u64,
    /// Steps with records, oldest first: `(step start, [(level or class, count)])`.
    pub buckets: Vec<(i64, Vec<(String, u64)>)>,
    /// Per field asked: its most frequent values with their counts, and
    /// how many matching records have another value or none.
    pub facets: Vec<FieldValues>,
    /// What is wrong with the view, if anything (then nothing is counted).
    pub problem: Option<String>,
}

/// A field, its most frequent values with their counts, and how many
/// matching records have another value or none.
pub type FieldValues = (String, Vec<(String, u64)>, u64);

pub trait ConsolePort: ConsoleAdmin {
    /// The organisations this console shows.
    fn orgs(&self) -> BoxFuture<'_, Result<Vec<OrgSummary>, PortError>>;

    /// One organisation and its apps; `None` when there is no such org.
    fn org(&self, org: String) -> BoxFuture<'_, Result<Option<OrgSummary>, PortError>>;

    /// An app's service or access log lines for a view, oldest first: the newest
    /// `limit` that match its filter (live), or the first `limit` of its
    /// range (replay); and the offset live tailing continues from. `None`
    /// when there is no such app. A bad filter or time is not an error but
    /// the page's `problem`.
    fn log_page(
        &self,
        org: String,
        app: String,
        view: LogView,
        limit: usize,
    ) -> BoxFuture<'_, Result<Option<LogPage>, PortError>>;

    /// The `around` lines before and after the line at `offset` of an
    /// app's service or access logs, unfiltered, the line among them;
    /// `None` when there is no such app or no such line yet.
    fn line_context(
        &self,
        org: String,
        app: String,
        kind: ViewKind,
        offset: u64,
        around: u64,
    ) -> BoxFuture<'_, Result<Option<Vec<ShownRecord>>, PortError>>;

    /// Counts a view's records per step of its range (about `steps` of
    /// them) and the `top` values of `fields`. `None` when there is no such app.
    fn log_volume(
        &self,
        org: String,
        app: String,
        view: LogView,
        fields: Vec<String>,
        steps: i64,
        top: usize,
    ) -> BoxFuture<'_, Result<Option<LogVolume>, PortError>>;

    /// Follows an app's service or access lines that match a view: the
    /// batches as they are appended, never a line lost or doubled (lines
    /// retention removed first come as a gap). The stream ends only when
    /// the server stops; whoever serves it re-checks the viewer.
    fn follow(
        &self,
        org: String,
        app: String,
        request: FollowRequest,
    ) -> BoxFuture<'_, Result<BoxStream<'static, LiveBatch>, ReadRefusal>>;

    /// Up to `limit` lines of a view's range from `cursor` on (the range's
    /// start when `None`), oldest first, written as `format` says.
    fn records(
        &self,
        org: String,
        app: String,
        view: LogView,
        cursor: Option<u64>,
        limit: usize,
        format: RecordsFormat,
    ) -> BoxFuture<'_, Result<RecordsChunk, ReadRefusal>>;

    /// Up to `limit` lines of a view's range just before offset `before`,
    /// oldest first, as a JSON array: what a viewer scrolling up in the
    /// logs page reads next. Its `next_cursor` is the offset to read before
    /// next time; `None` once the range's start is reached.
    fn older_records(
        &self,
        org: String,
        app: String,
        view: LogView,
        before: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<RecordsChunk, ReadRefusal>>;
}

/// A retention change asked from the console.
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionChange {
    pub org: String,
    pub app: String,
    pub kind: ViewKind,
    pub max_age_secs: Option<u64>,
    pub max_bytes: Option<u64>,
}

pub trait ConsoleAdmin: Send + Sync + 'static {
    /// An app's retention per kind and what is stored now (`may_change`
    /// left false: the caller decides); `None` when there is no such app.
    fn app_settings(&self, org: String, app: String) -> BoxFuture<'_, Result<Option<AppSettings>, PortError>>;

    /// Sets one kind's retention and writes the change, with before and
    /// after, to the org's audit log as done by `by`.
    fn set_retention(&self, change: RetentionChange, by: Viewer) -> BoxFuture<'_, Result<(), PortError>>;

    /// The org's newest `limit` audit records, newest first; `None` when
    /// there is no such org.
    fn audit_page(&self, org: String, limit: usize) -> BoxFuture<'_, Result<Option<AuditPage>, PortError>>;

    /// The org's saved views of the logs page, by name.
    fn saved_views(&self, org: String) -> BoxFuture<'_, Result<Vec<SavedView>, PortError>>;

    /// Saves `view` of `app` under `name` for the org's members, and writes
    /// it to the org's audit log as done by `by`. A name the org already
    /// uses, an unknown app or too many views are refused, said for people.
    fn save_view(
        &self,
        org: String,
        app: String,
        name: String,
        view: LogView,
        by: Viewer,
    ) -> BoxFuture<'_, Result<SavedView, PortError>>;

    /// Removes a saved view, audited; false when the org has no such view.
    fn remove_view(&self, org: String, id: i64, by: Viewer) -> BoxFuture<'_, Result<bool, PortError>>;
}

pub type SharedConsolePort = Arc<dyn ConsolePort>;
