//! The port the console's server functions call (server side only).
//!
//! `server` implements it in-process on top of the store; an HTTP client of a
//! remote Vigie API can implement it too, so console nodes and storage nodes
//! can be split without touching the UI. Server functions find it in the
//! Leptos context as an [`SharedConsolePort`].

use futures::future::BoxFuture;
use std::sync::Arc;

use crate::model::{LogPage, LogView, OrgSummary};

/// Why the port could not answer. Shown to the user, so it says what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortError(pub String);

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PortError {}

pub trait ConsolePort: Send + Sync + 'static {
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
}

pub type SharedConsolePort = Arc<dyn ConsolePort>;
