//! Server functions: the console's backend-for-frontend. Each one finds the
//! [`ConsolePort`](crate::port::ConsolePort) in the Leptos context and asks it,
//! for the signed-in [`Viewer`] only: the server's session layer puts the
//! viewer in the request, and an org the viewer is not a member of answers
//! exactly as a missing one. They live under `/bff/` so they never collide
//! with the public `/api/v1`.

use leptos::prelude::*;

use crate::model::{LogPage, LogView, OrgSummary, Viewer};

/// How many lines the logs page renders on first paint.
pub const FIRST_PAINT_LINES: usize = 200;

/// How many lines of a replayed range the page loads at once.
pub const REPLAY_LINES: usize = 5_000;

#[cfg(feature = "ssr")]
fn port() -> Result<crate::port::SharedConsolePort, ServerFnError> {
    use_context::<crate::port::SharedConsolePort>()
        .ok_or_else(|| ServerFnError::new("the console is not connected to a Vigie store"))
}

/// What a server function says when the request has no live session.
pub const SIGNED_OUT: &str = "your session has ended: sign in again";

/// The signed-in viewer of the current request.
#[cfg(feature = "ssr")]
async fn viewer() -> Result<Viewer, ServerFnError> {
    let parts: http::request::Parts = leptos_axum::extract().await?;
    parts.extensions.get::<Viewer>().cloned().ok_or_else(|| ServerFnError::new(SIGNED_OUT))
}

/// Who is signed in (`None` when nobody is).
#[server(prefix = "/bff")]
pub async fn who_am_i() -> Result<Option<Viewer>, ServerFnError> {
    Ok(viewer().await.ok())
}

#[server(prefix = "/bff")]
pub async fn list_orgs() -> Result<Vec<OrgSummary>, ServerFnError> {
    let viewer = viewer().await?;
    let orgs = port()?.orgs().await.map_err(ServerFnError::new)?;
    Ok(orgs.into_iter().filter(|org| viewer.may_see(&org.slug)).collect())
}

#[server(prefix = "/bff")]
pub async fn get_org(org: String) -> Result<Option<OrgSummary>, ServerFnError> {
    if !viewer().await?.may_see(&org) {
        return Ok(None);
    }
    port()?.org(org).await.map_err(ServerFnError::new)
}

#[server(prefix = "/bff")]
pub async fn get_log_page(org: String, app: String, view: LogView) -> Result<Option<LogPage>, ServerFnError> {
    if !viewer().await?.may_see(&org) {
        return Ok(None);
    }
    let limit = if view.is_replay() { REPLAY_LINES } else { FIRST_PAINT_LINES };
    port()?.log_page(org, app, view, limit).await.map_err(ServerFnError::new)
}
