//! Server functions: the console's backend-for-frontend. Each one finds the
//! [`ConsolePort`](crate::port::ConsolePort) in the Leptos context and asks it.
//! They live under `/bff/` so they never collide with the public `/api/v1`.

use leptos::prelude::*;

use crate::model::{LogPage, OrgSummary};

/// How many lines the logs page renders on first paint.
pub const FIRST_PAINT_LINES: usize = 200;

#[cfg(feature = "ssr")]
fn port() -> Result<crate::port::SharedConsolePort, ServerFnError> {
    use_context::<crate::port::SharedConsolePort>()
        .ok_or_else(|| ServerFnError::new("the console is not connected to a Vigie store"))
}

#[server(prefix = "/bff")]
pub async fn list_orgs() -> Result<Vec<OrgSummary>, ServerFnError> {
    port()?.orgs().await.map_err(ServerFnError::new)
}

#[server(prefix = "/bff")]
pub async fn get_org(org: String) -> Result<Option<OrgSummary>, ServerFnError> {
    port()?.org(org).await.map_err(ServerFnError::new)
}

#[server(prefix = "/bff")]
pub async fn get_service_log_page(org: String, app: String) -> Result<Option<LogPage>, ServerFnError> {
    port()?.service_log_page(org, app, FIRST_PAINT_LINES).await.map_err(ServerFnError::new)
}
