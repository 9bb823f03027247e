//! Drains over the API: an app's (`/apps/{app}/drains`, kinds LOG and
//! ACCESSLOG) and the org's (`/drains`, kind AUDITLOG). Reading an app's
//! needs a `read` token, reading the org's `admin` (as its audit log does),
//! and neither shows a secret; creating, enabling, disabling, removing and
//! checking need `admin`, and every change is audited (by
//! `drains::Drains`). The handlers of both scopes share their bodies.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;

use super::auth::authorize;
use super::error::{ApiError, ErrorBody, JsonBody, PathParams};
use super::AppState;
use crate::catalog::Permission;
use crate::clock::now_ns;
use crate::drains::{Actor, CheckReport, DrainError, DrainKind, DrainScope, DrainView, RecipientConfig, Start};
use crate::query::time_bound::parse_time_bound;

type Peer = ConnectInfo<SocketAddr>;

/// A new drain.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDrain {
    /// `LOG` or `ACCESSLOG` for an app; `AUDITLOG` for the org.
    pub kind: DrainKind,
    pub recipient: RecipientConfig,
    /// Where delivery starts: `now` (the default: the next record stored),
    /// or a time (RFC 3339, or back from now such as `2h`) to send what is
    /// stored from then on first.
    #[serde(default)]
    pub start: Option<String>,
}

impl From<DrainError> for ApiError {
    fn from(error: DrainError) -> ApiError {
        match error {
            DrainError::Invalid(message) => ApiError::bad_query(message),
            DrainError::Catalog(crate::catalog::CatalogError::Invalid(message)) => {
                ApiError::new(StatusCode::CONFLICT, message)
            }
            DrainError::Missing(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no drain {id} here: list them with GET on this drains path or `vigie drain list`"),
            ),
            other => ApiError::internal(other),
        }
    }
}

async fn caller_scope(
    state: &AppState,
    headers: &HeaderMap,
    peer: &Peer,
    org: String,
    app: Option<String>,
    need: Permission,
) -> Result<(DrainScope, Actor), ApiError> {
    let caller = authorize(state, headers, peer, &org, app.as_deref(), need).await?;
    Ok((DrainScope { org, app }, Actor { name: caller.actor(), ip: caller.ip.to_string() }))
}

async fn create(
    state: &AppState,
    headers: &HeaderMap,
    peer: &Peer,
    org: String,
    app: Option<String>,
    new: NewDrain,
) -> Result<(StatusCode, Json<DrainView>), ApiError> {
    let (scope, actor) = caller_scope(state, headers, peer, org, app, Permission::Admin).await?;
    let start = match new.start.as_deref().map(str::trim) {
        None | Some("") | Some("now") => Start::Now,
        Some(text) => Start::Time(
            parse_time_bound(text, now_ns()).map_err(|error| ApiError::bad_query(format!("start: {error}")))?,
        ),
    };
    let view = state.drains.create(&scope, new.kind, new.recipient, start, &actor).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

const DRAIN_ID: &str = "The drain's id";

/// Add a drain to an app: its service (`LOG`) or access (`ACCESSLOG`) logs
/// forwarded to a recipient, at least once. Needs `admin`; audited.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/apps/{app}/drains", tag = "drains",
    params(("org" = String, Path), ("app" = String, Path)), request_body = NewDrain,
    responses((status = 201, body = DrainView), (status = 400, description = "A bad body: the text names the field", body = ErrorBody), (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such app in the token's org", body = ErrorBody), (status = 409, description = "The app has as many drains as it may", body = ErrorBody)),
    security(("token" = [])))]
pub async fn create_app_drain(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    headers: HeaderMap,
    peer: Peer,
    JsonBody(new): JsonBody<NewDrain>,
) -> Result<(StatusCode, Json<DrainView>), ApiError> {
    create(&state, &headers, &peer, org, Some(app), new).await
}

/// The app's drains, with their status, backlog and rate. Needs `read`.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{app}/drains", tag = "drains",
    params(("org" = String, Path), ("app" = String, Path)),
    responses((status = 200, body = Vec<DrainView>), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 404, description = "No such app in the token's org", body = ErrorBody)),
    security(("token" = [])))]
pub async fn list_app_drains(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<Vec<DrainView>>, ApiError> {
    let (scope, _) = caller_scope(&state, &headers, &peer, org, Some(app), Permission::Read).await?;
    Ok(Json(state.drains.list(&scope).await?))
}

/// One drain of the app. Needs `read`.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{app}/drains/{id}", tag = "drains",
    params(("org" = String, Path), ("app" = String, Path), ("id" = i64, Path, description = DRAIN_ID)),
    responses((status = 200, body = DrainView), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 404, description = "No such app or drain", body = ErrorBody)),
    security(("token" = [])))]
pub async fn get_app_drain(
    State(state): State<AppState>,
    PathParams((org, app, id)): PathParams<(String, String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<DrainView>, ApiError> {
    let (scope, _) = caller_scope(&state, &headers, &peer, org, Some(app), Permission::Read).await?;
    Ok(Json(state.drains.get(&scope, id).await?))
}

/// Remove a drain of the app (what it had not delivered stays stored). Needs `admin`; audited.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/apps/{app}/drains/{id}", tag = "drains",
    params(("org" = String, Path), ("app" = String, Path), ("id" = i64, Path, description = DRAIN_ID)),
    responses((status = 200, description = "The drain, removed", body = DrainView), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such app or drain", body = ErrorBody)),
    security(("token" = [])))]
pub async fn remove_app_drain(
    State(state): State<AppState>,
    PathParams((org, app, id)): PathParams<(String, String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<DrainView>, ApiError> {
    let (scope, actor) = caller_scope(&state, &headers, &peer, org, Some(app), Permission::Admin).await?;
    Ok(Json(state.drains.remove(&scope, id, &actor).await?))
}

/// Enable a drain of the app: it resumes from its cursor. Needs `admin`; audited.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/apps/{app}/drains/{id}/enable", tag = "drains",
    params(("org" = String, Path), ("app" = String, Path), ("id" = i64, Path, description = DRAIN_ID)),
    responses((status = 200, body = DrainView), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such app or drain", body = ErrorBody)),
    security(("token" = [])))]
pub async fn enable_app_drain(
    State(state): State<AppState>,
    PathParams((org, app, id)): PathParams<(String, String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<DrainView>, ApiError> {
    let (scope, actor) = caller_scope(&state, &headers, &peer, org, Some(app), Permission::Admin).await?;
    Ok(Json(state.drains.enable(&scope, id, &actor).await?))
}

/// Disable a drain of the app: it stops at once and keeps its cursor. Needs `admin`; audited.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/apps/{app}/drains/{id}/disable", tag = "drains",
    params(("org" = String, Path), ("app" = String, Path), ("id" = i64, Path, description = DRAIN_ID)),
    responses((status = 200, body = DrainView), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such app or drain", body = ErrorBody)),
    security(("token" = [])))]
pub async fn disable_app_drain(
    State(state): State<AppState>,
    PathParams((org, app, id)): PathParams<(String, String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<DrainView>, ApiError> {
    let (scope, actor) = caller_scope(&state, &headers, &peer, org, Some(app), Permission::Admin).await?;
    Ok(Json(state.drains.disable(&scope, id, &actor).await?))
}

/// Send one test message to the drain's recipient and report its answer. Needs `admin`.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/apps/{app}/drains/{id}/check", tag = "drains",
    params(("org" = String, Path), ("app" = String, Path), ("id" = i64, Path, description = DRAIN_ID)),
    responses((status = 200, description = "What the recipient answered (`ok` false when it refused or could not be reached)", body = CheckReport), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such app or drain", body = ErrorBody)),
    security(("token" = [])))]
pub async fn check_app_drain(
    State(state): State<AppState>,
    PathParams((org, app, id)): PathParams<(String, String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<CheckReport>, ApiError> {
    let (scope, _) = caller_scope(&state, &headers, &peer, org, Some(app), Permission::Admin).await?;
    Ok(Json(state.drains.check(&scope, id).await?))
}

/// Add an org drain: the audit log (`AUDITLOG`) forwarded to a recipient. Needs `admin`; audited.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/drains", tag = "drains",
    params(("org" = String, Path)), request_body = NewDrain,
    responses((status = 201, body = DrainView), (status = 400, description = "A bad body: the text names the field", body = ErrorBody), (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "Not the token's org", body = ErrorBody), (status = 409, description = "The org has as many drains as it may", body = ErrorBody)),
    security(("token" = [])))]
pub async fn create_org_drain(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: Peer,
    JsonBody(new): JsonBody<NewDrain>,
) -> Result<(StatusCode, Json<DrainView>), ApiError> {
    create(&state, &headers, &peer, org, None, new).await
}

/// The org's drains (its audit log). Needs `admin`, as the audit log does.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/drains", tag = "drains", params(("org" = String, Path)),
    responses((status = 200, body = Vec<DrainView>), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "Not the token's org", body = ErrorBody)),
    security(("token" = [])))]
pub async fn list_org_drains(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<Vec<DrainView>>, ApiError> {
    let (scope, _) = caller_scope(&state, &headers, &peer, org, None, Permission::Admin).await?;
    Ok(Json(state.drains.list(&scope).await?))
}

/// One org drain. Needs `admin`.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/drains/{id}", tag = "drains",
    params(("org" = String, Path), ("id" = i64, Path, description = DRAIN_ID)),
    responses((status = 200, body = DrainView), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such drain in the token's org", body = ErrorBody)),
    security(("token" = [])))]
pub async fn get_org_drain(
    State(state): State<AppState>,
    PathParams((org, id)): PathParams<(String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<DrainView>, ApiError> {
    let (scope, _) = caller_scope(&state, &headers, &peer, org, None, Permission::Admin).await?;
    Ok(Json(state.drains.get(&scope, id).await?))
}

/// Remove an org drain. Needs `admin`; audited.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/drains/{id}", tag = "drains",
    params(("org" = String, Path), ("id" = i64, Path, description = DRAIN_ID)),
    responses((status = 200, description = "The drain, removed", body = DrainView), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such drain in the token's org", body = ErrorBody)),
    security(("token" = [])))]
pub async fn remove_org_drain(
    State(state): State<AppState>,
    PathParams((org, id)): PathParams<(String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<DrainView>, ApiError> {
    let (scope, actor) = caller_scope(&state, &headers, &peer, org, None, Permission::Admin).await?;
    Ok(Json(state.drains.remove(&scope, id, &actor).await?))
}

/// Enable an org drain: it resumes from its cursor. Needs `admin`; audited.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/drains/{id}/enable", tag = "drains",
    params(("org" = String, Path), ("id" = i64, Path, description = DRAIN_ID)),
    responses((status = 200, body = DrainView), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such drain in the token's org", body = ErrorBody)),
    security(("token" = [])))]
pub async fn enable_org_drain(
    State(state): State<AppState>,
    PathParams((org, id)): PathParams<(String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<DrainView>, ApiError> {
    let (scope, actor) = caller_scope(&state, &headers, &peer, org, None, Permission::Admin).await?;
    Ok(Json(state.drains.enable(&scope, id, &actor).await?))
}

/// Disable an org drain. Needs `admin`; audited.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/drains/{id}/disable", tag = "drains",
    params(("org" = String, Path), ("id" = i64, Path, description = DRAIN_ID)),
    responses((status = 200, body = DrainView), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such drain in the token's org", body = ErrorBody)),
    security(("token" = [])))]
pub async fn disable_org_drain(
    State(state): State<AppState>,
    PathParams((org, id)): PathParams<(String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<DrainView>, ApiError> {
    let (scope, actor) = caller_scope(&state, &headers, &peer, org, None, Permission::Admin).await?;
    Ok(Json(state.drains.disable(&scope, id, &actor).await?))
}

/// Send one test message to an org drain's recipient. Needs `admin`.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/drains/{id}/check", tag = "drains",
    params(("org" = String, Path), ("id" = i64, Path, description = DRAIN_ID)),
    responses((status = 200, description = "What the recipient answered", body = CheckReport), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such drain in the token's org", body = ErrorBody)),
    security(("token" = [])))]
pub async fn check_org_drain(
    State(state): State<AppState>,
    PathParams((org, id)): PathParams<(String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<CheckReport>, ApiError> {
    let (scope, _) = caller_scope(&state, &headers, &peer, org, None, Permission::Admin).await?;
    Ok(Json(state.drains.check(&scope, id).await?))
}
