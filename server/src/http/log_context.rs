//! `GET /api/v1/orgs/{org}/apps/{app}/logs/context`: the lines around one
//! line of an app's topic, unfiltered, at any depth in its history: read
//! by offset, so a line a million deep costs what the newest does.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::authorize;
use super::error::{ApiError, ErrorBody, PathParams, QueryParams};
use super::logs::{app_topic, GapBody, RecordBody};
use super::{off_runtime, AppState};
use crate::catalog::Permission;
use crate::query::encode::{gaps_json, records_json};

/// Most lines asked on either side.
pub const MAX_CONTEXT: u64 = 500;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContextQuery {
    /// `service` (default) or `access`.
    pub kind: Option<String>,
    /// The line's offset in its topic (required).
    pub offset: Option<u64>,
    /// Lines before it (default 20, at most 500).
    pub before: Option<u64>,
    /// Lines after it (default 20, at most 500).
    pub after: Option<u64>,
}

/// The lines around a line, oldest first, the line itself among them.
#[derive(Debug, utoipa::ToSchema)]
pub struct ContextBody {
    /// The line asked for.
    pub offset: u64,
    pub records: Vec<RecordBody>,
    /// Offsets around it that the store could not return.
    pub gaps: Vec<GapBody>,
}

/// The lines before and after one line of an app, unfiltered.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{app}/logs/context", tag = "logs",
    params(("org" = String, Path), ("app" = String, Path), ContextQuery),
    responses(
        (status = 200, description = "The lines around the offset", body = ContextBody),
        (status = 400, description = "A bad parameter, named in `error`", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such app in the token's org, or no line at that offset yet", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn log_context(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<ContextQuery>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read).await?;
    let key = app_topic(&org, &app, query.kind.as_deref())?;
    let side = |asked: Option<u64>, name: &str| match asked.unwrap_or(20) {
        n if n <= MAX_CONTEXT => Ok(n),
        _ => Err(ApiError::bad_query(format!("{name} must be at most {MAX_CONTEXT}"))),
    };
    let (before, after) = (side(query.before, "before")?, side(query.after, "after")?);
    let store = state.store.clone();
    let offset =
        query.offset.ok_or_else(|| ApiError::bad_query("offset is required: the line's offset in its topic"))?;
    let body = off_runtime(move || {
        Ok(crate::query::context::around(&store, &key, offset, before, after).map(|(records, gaps)| {
            format!("{{\"offset\":{offset},\"records\":{},\"gaps\":{}}}", records_json(&records), gaps_json(&gaps))
        }))
    })
    .await?;
    match body {
        Some(body) => Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response()),
        None => Err(ApiError::new(axum::http::StatusCode::NOT_FOUND, format!("no line at offset {offset} yet"))),
    }
}
