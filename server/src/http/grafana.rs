//! An org's Grafana over the API: its status (with the generated
//! dashboards), **reset** (rotate the org's Grafana token, regenerate every
//! dashboard, rewrite the data source), enable and disable, and the file
//! provisioning `vigie grafana export` writes. Reading the status needs
//! `read`; everything else `admin`, and is audited (`crate::grafana`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::authorize;
use super::error::{ApiError, ErrorBody, PathParams, QueryParams};
use super::AppState;
use crate::catalog::{CatalogError, Permission};
use crate::grafana::{Actor, ExportFile, GrafanaError, GrafanaStatus};

impl From<GrafanaError> for ApiError {
    fn from(error: GrafanaError) -> ApiError {
        match error {
            GrafanaError::Catalog(CatalogError::Missing(what)) => {
                ApiError::new(StatusCode::NOT_FOUND, format!("no {what} for this token"))
            }
            GrafanaError::Disabled => ApiError::new(
                StatusCode::CONFLICT,
                "Grafana is disabled for this organisation: enable it first (`vigie grafana enable`)",
            ),
            other => ApiError::internal(other),
        }
    }
}

/// The org's Grafana: on or off, its token (never the secret), where and
/// when the dashboards were provisioned, and the dashboards Vigie generates.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/grafana", tag = "grafana", params(("org" = String, Path)),
    responses(
        (status = 200, description = "The status", body = GrafanaStatus),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn status(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Json<GrafanaStatus>, ApiError> {
    authorize(&state, &headers, &peer, &org, None, Permission::Read).await?;
    Ok(Json(state.grafana.status(&org).await?))
}

async fn admin(
    state: &AppState,
    headers: &HeaderMap,
    peer: &ConnectInfo<SocketAddr>,
    org: &str,
) -> Result<Actor, ApiError> {
    let caller = authorize(state, headers, peer, org, None, Permission::Admin).await?;
    Ok(Actor { name: caller.actor(), ip: caller.ip.to_string() })
}

/// RESET ALL DASHBOARDS: a new Grafana token (the old one stops working),
/// every dashboard generated again (edits in the Vigie folder are lost),
/// the data source rewritten. Needs `admin`; audited as `grafana.reset`.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/grafana/reset", tag = "grafana", params(("org" = String, Path)),
    responses(
        (status = 200, description = "The status after the reset", body = GrafanaStatus),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token is not `admin`", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn reset(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Json<GrafanaStatus>, ApiError> {
    let actor = admin(&state, &headers, &peer, &org).await?;
    Ok(Json(state.grafana.reset(&org, &actor).await?))
}

/// Turn the org's Grafana on: its token is made (if it has no valid one)
/// and the dashboards provisioned. Needs `admin`; audited.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/grafana/enable", tag = "grafana", params(("org" = String, Path)),
    responses(
        (status = 200, description = "The status", body = GrafanaStatus),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token is not `admin`", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn enable(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Json<GrafanaStatus>, ApiError> {
    let actor = admin(&state, &headers, &peer, &org).await?;
    Ok(Json(state.grafana.set_enabled(&org, true, &actor).await?))
}

/// Turn the org's Grafana off: its token is revoked, so the data source
/// stops reading (dashboards already in Grafana stay). Needs `admin`; audited.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/grafana/disable", tag = "grafana", params(("org" = String, Path)),
    responses(
        (status = 200, description = "The status", body = GrafanaStatus),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token is not `admin`", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn disable(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Json<GrafanaStatus>, ApiError> {
    let actor = admin(&state, &headers, &peer, &org).await?;
    Ok(Json(state.grafana.set_enabled(&org, false, &actor).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Vigie's URL as Grafana reaches it (`https://vigie.example`); the
    /// data source reads `URL/prometheus`. Default: this request's host.
    pub vigie_url: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Export {
    /// Dashboards, a dashboards provider and a data source, to copy into
    /// Grafana's provisioning directories (docs/GRAFANA.md).
    pub files: Vec<ExportFile>,
}

/// File provisioning for any Grafana: the generated dashboards and a data
/// source carrying the org's Grafana token. Needs `admin` (it holds that
/// token); the org's Grafana must be enabled.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/grafana/export", tag = "grafana", params(("org" = String, Path), ExportQuery),
    responses(
        (status = 200, description = "The files", body = Export),
        (status = 400, description = "A bad vigie_url", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token is not `admin`", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
        (status = 409, description = "The org's Grafana is disabled", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn export(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    QueryParams(query): QueryParams<ExportQuery>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Json<Export>, ApiError> {
    admin(&state, &headers, &peer, &org).await?;
    let vigie_url = match query.vigie_url {
        Some(url) => url,
        None => {
            let host = headers.get(header::HOST).and_then(|host| host.to_str().ok()).unwrap_or("127.0.0.1:3000");
            format!("http://{host}")
        }
    };
    let parsed = url::Url::parse(&vigie_url).ok().filter(|url| ["http", "https"].contains(&url.scheme()));
    if vigie_url.len() > 2_000 || parsed.is_none() || vigie_url.chars().any(char::is_control) {
        return Err(ApiError::bad_query("vigie_url: an http:// or https:// URL of at most 2000 characters"));
    }
    Ok(Json(Export { files: state.grafana.export(&org, &vigie_url).await? }))
}
