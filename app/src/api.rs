//! Server functions: the console's backend-for-frontend. Each one finds the
//! [`ConsolePort`](crate::port::ConsolePort) in the Leptos context and asks it,
//! for the signed-in [`Viewer`] only: the server's session layer puts the
//! viewer in the request, and an org the viewer is not a member of answers
//! exactly as a missing one. They live under `/bff/` so they never collide
//! with the public `/api/v1`.

// A server function a `PostForm` posts takes one argument per field of
// the form (`save_view` has eight), in its server and browser halves alike.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::model::{AppSettings, AuditPage, LogScreen, LogView, OrgSummary, Viewer};

/// How many lines the logs page comes with; the browser renders those in
/// sight and, for a replayed range, loads the rest.
pub const FIRST_PAINT_LINES: usize = 200;

#[cfg(feature = "ssr")]
fn port() -> Result<crate::port::SharedConsolePort, ServerFnError> {
    use_context::<crate::port::SharedConsolePort>()
        .ok_or_else(|| ServerFnError::new("the console is not connected to a Vigie store"))
}

/// What a server function says when the request has no live session.
pub const SIGNED_OUT: &str = "your session has ended: sign in again";

/// The signed-in viewer of the current request.
#[cfg(feature = "ssr")]
pub(crate) async fn viewer() -> Result<Viewer, ServerFnError> {
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
pub async fn get_log_page(org: String, app: String, view: LogView) -> Result<Option<LogScreen>, ServerFnError> {
    if !viewer().await?.may_see(&org) {
        return Ok(None);
    }
    let page = port()?.log_page(org, app, view.clone(), FIRST_PAINT_LINES).await.map_err(ServerFnError::new)?;
    Ok(page.map(|page| crate::pages::app_logs::screen(page, view)))
}

/// An app's settings; `may_change` says whether the viewer administers the org.
#[server(prefix = "/bff")]
pub async fn get_app_settings(org: String, app: String) -> Result<Option<AppSettings>, ServerFnError> {
    let viewer = viewer().await?;
    if !viewer.may_see(&org) {
        return Ok(None);
    }
    let settings = port()?.app_settings(org.clone(), app).await.map_err(ServerFnError::new)?;
    Ok(settings.map(|settings| AppSettings { may_change: viewer.may_administer(&org), ..settings }))
}

/// Sets one kind's retention from the settings form: `max_age_days` and
/// `max_megabytes` as typed, empty for no limit. Admins of the org only.
#[server(prefix = "/bff", endpoint = "set_app_retention")]
pub async fn set_app_retention(
    org: String,
    app: String,
    kind: String,
    max_age_days: String,
    max_megabytes: String,
) -> Result<String, ServerFnError> {
    let viewer = viewer().await?;
    if !viewer.may_see(&org) {
        return Err(ServerFnError::new(format!("no app \"{app}\" in organisation \"{org}\"")));
    }
    if !viewer.may_administer(&org) {
        return Err(ServerFnError::new("only the organisation's admins can change retention: ask one of them"));
    }
    let limit = |text: &str, what: &str, unit: u64| -> Result<Option<u64>, ServerFnError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<u64>() {
            Ok(0) | Err(_) => Err(ServerFnError::new(format!(
                "{what} must be a whole number of at least 1 (or empty for no limit), not \"{text}\""
            ))),
            Ok(n) => Ok(Some(n.saturating_mul(unit))),
        }
    };
    let kind = match kind.as_str() {
        "service" => crate::model::ViewKind::Service,
        "access" => crate::model::ViewKind::Access,
        other => return Err(ServerFnError::new(format!("unknown kind \"{other}\": service or access"))),
    };
    let change = crate::port::RetentionChange {
        org,
        app,
        kind,
        max_age_secs: limit(&max_age_days, "days", 86_400)?,
        max_bytes: limit(&max_megabytes, "megabytes", 1_000_000)?,
    };
    port()?.set_retention(change, viewer).await.map_err(ServerFnError::new)?;
    Ok(format!("Saved: {} logs retention changed.", kind.as_str()))
}

/// How many audit records the audit page shows.
pub const AUDIT_PAGE_LINES: usize = 500;

/// The org's audit log, for its admins.
#[server(prefix = "/bff")]
pub async fn get_audit_page(org: String) -> Result<Option<AuditPage>, ServerFnError> {
    let viewer = viewer().await?;
    if !viewer.may_see(&org) {
        return Ok(None);
    }
    if !viewer.may_administer(&org) {
        return Err(ServerFnError::new("only the organisation's admins can read its audit log"));
    }
    port()?.audit_page(org, AUDIT_PAGE_LINES).await.map_err(ServerFnError::new)
}

/// What a dashboard needs before it reads: the org and app, if the viewer
/// may see them, the stats port, and now in ms.
#[cfg(feature = "ssr")]
async fn dashboard_of(
    org: String,
    app: String,
) -> Result<Option<(OrgSummary, crate::model::AppSummary, crate::stats_port::SharedStatsPort, i64)>, ServerFnError> {
    if !viewer().await?.may_see(&org) {
        return Ok(None);
    }
    let stats = use_context::<crate::stats_port::SharedStatsPort>()
        .ok_or_else(|| ServerFnError::new("the console is not connected to Vigie's statistics"))?;
    let Some(summary) = port()?.org(org).await.map_err(ServerFnError::new)? else { return Ok(None) };
    let Some(app) = summary.apps.iter().find(|known| known.slug == app).cloned() else { return Ok(None) };
    Ok(Some((summary, app, stats, now_ms())))
}

/// An app's metrics page: its server metrics per instance over `range`
/// (`1h` … `30d`, default 24 h) and, when `metric` names one of its custom
/// metrics, that metric by `aggregation` grouped by `group_by`. Charts are
/// drawn here, on the server.
#[server(prefix = "/bff")]
pub async fn get_metrics_page(
    org: String,
    app: String,
    ask: crate::model::MetricsAsk,
) -> Result<Option<crate::model::MetricsPage>, ServerFnError> {
    let Some((summary, app, stats, now_ms)) = dashboard_of(org, app).await? else { return Ok(None) };
    crate::dashboards::metrics_page(summary, app, stats, ask, now_ms).await.map_err(ServerFnError::new)
}

/// An app's HTTP statistics page over `range` (`1h` … `2d`, default 24 h)
/// or from `from` to `to`, its charts drawn here, on the server.
#[server(prefix = "/bff")]
pub async fn get_http_page(
    org: String,
    app: String,
    range: String,
    from: String,
    to: String,
) -> Result<Option<crate::model::HttpPage>, ServerFnError> {
    let Some((summary, app, stats, now_ms)) = dashboard_of(org, app).await? else { return Ok(None) };
    crate::dashboards::http_page(summary, app, stats, (range, from, to), now_ms)
        .await
        .map(Some)
        .map_err(ServerFnError::new)
}

/// An app's overview: its last 24 h at a glance.
#[server(prefix = "/bff")]
pub async fn get_overview_page(org: String, app: String) -> Result<Option<crate::model::OverviewPage>, ServerFnError> {
    let Some((summary, app, stats, now_ms)) = dashboard_of(org, app).await? else { return Ok(None) };
    crate::dashboards::overview_page(summary, app, stats, port()?, now_ms).await.map(Some).map_err(ServerFnError::new)
}

/// An app's request map, in `mode` `24h` (default) or `realtime`.
#[server(prefix = "/bff")]
pub async fn get_map_page(
    org: String,
    app: String,
    mode: String,
) -> Result<Option<crate::model::MapPage>, ServerFnError> {
    let Some((summary, app, stats, now_ms)) = dashboard_of(org, app).await? else { return Ok(None) };
    crate::dashboards::map_page(summary, app, stats, mode, now_ms).await.map(Some).map_err(ServerFnError::new)
}

/// Each app's requests and errors per hour over 24 h, for the org page's cards.
#[server(prefix = "/bff")]
pub async fn get_org_sparklines(org: String) -> Result<Vec<crate::model::AppSparklines>, ServerFnError> {
    if !viewer().await?.may_see(&org) {
        return Ok(Vec::new());
    }
    let stats = use_context::<crate::stats_port::SharedStatsPort>()
        .ok_or_else(|| ServerFnError::new("the console is not connected to Vigie's statistics"))?;
    let Some(summary) = port()?.org(org).await.map_err(ServerFnError::new)? else { return Ok(Vec::new()) };
    Ok(crate::dashboards::sparklines(&summary, stats, now_ms()).await)
}

#[cfg(feature = "ssr")]
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// The logs page's explorer for a view: its volume histogram and its
/// fields' top values, counted in place over its range (a live view: the
/// last hour).
#[server(prefix = "/bff")]
pub async fn get_log_explorer(
    org: String,
    app: String,
    view: LogView,
) -> Result<Option<crate::model::Explorer>, ServerFnError> {
    if !viewer().await?.may_see(&org) {
        return Ok(None);
    }
    let fields = crate::dashboards::explorer_fields(view.kind);
    let base = format!("/orgs/{org}/apps/{app}/logs");
    let Some(volume) = port()?.log_volume(org, app, view.clone(), fields, 60, 5).await.map_err(ServerFnError::new)?
    else {
        return Ok(None);
    };
    Ok(Some(crate::dashboards::explorer(volume, &base, &view)))
}

/// How many lines before and after a line its context shows.
pub const CONTEXT_LINES: u64 = 20;

/// One line of an app's logs, drawn as its details (every field, its JSON,
/// the lines around it, unfiltered); `None` when it is no longer stored.
#[server(prefix = "/bff")]
pub async fn get_line_details(
    org: String,
    app: String,
    kind: crate::model::ViewKind,
    offset: u64,
) -> Result<Option<String>, ServerFnError> {
    if !viewer().await?.may_see(&org) {
        return Ok(None);
    }
    let around = port()?.line_context(org, app, kind, offset, CONTEXT_LINES).await.map_err(ServerFnError::new)?;
    Ok(around.and_then(|lines| crate::components::log_row::details_html(lines, offset)))
}

/// The org's saved views of the logs page, for its members.
#[server(prefix = "/bff")]
pub async fn get_saved_views(org: String) -> Result<Vec<crate::model::SavedView>, ServerFnError> {
    if !viewer().await?.may_see(&org) {
        return Err(ServerFnError::new(format!("no organisation \"{org}\"")));
    }
    port()?.saved_views(org).await.map_err(ServerFnError::new)
}

/// Saves the logs page's view under a name, for every member of the org;
/// audited. Answers what the page then says, with a link to the saved
/// view, as HTML (the name is escaped).
#[server(prefix = "/bff", endpoint = "save_view")]
pub async fn save_view(
    org: String,
    app: String,
    name: String,
    kind: String,
    q: String,
    since: String,
    until: String,
    /// The access table's columns (absent from forms of before they existed).
    cols: Option<String>,
) -> Result<String, ServerFnError> {
    let viewer = viewer().await?;
    if !viewer.may_see(&org) {
        return Err(ServerFnError::new(format!("no app \"{app}\" in organisation \"{org}\"")));
    }
    let kind = match kind.as_str() {
        "" | "service" => crate::model::ViewKind::Service,
        "access" => crate::model::ViewKind::Access,
        other => return Err(ServerFnError::new(format!("unknown kind \"{other}\": service or access"))),
    };
    let view = LogView { kind, q, since, until, cols: cols.unwrap_or_default() };
    let saved = port()?.save_view(org.clone(), app, name, view, viewer).await.map_err(ServerFnError::new)?;
    Ok(crate::components::saved_views::saved_outcome(&saved, &org))
}

/// Removes one of the org's saved views, for any member; audited.
#[server(prefix = "/bff", endpoint = "remove_view")]
pub async fn remove_view(org: String, id: i64) -> Result<String, ServerFnError> {
    let viewer = viewer().await?;
    if !viewer.may_see(&org) {
        return Err(ServerFnError::new(format!("no organisation \"{org}\"")));
    }
    match port()?.remove_view(org, id, viewer).await.map_err(ServerFnError::new)? {
        true => Ok("Removed.".to_string()),
        false => Err(ServerFnError::new("no such view: someone may have removed it already")),
    }
}
