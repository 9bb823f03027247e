//! An org's administration over the API: tokens, apps, members and
//! retention. Each change is written to the org's audit log before it is
//! answered.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vigie_app::model::{AppKind, LogKind};

use super::auth::authorize;
use super::error::{ApiError, ErrorBody, JsonBody, PathParams};
use super::{off_runtime, AppState};
use crate::audit;
use crate::catalog::{secrets, App, CatalogError, Member, Permission, Permissions, Role, TokenInfo};
use crate::store::{Retention, Store, TopicKey};

type Peer = ConnectInfo<SocketAddr>;

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> ApiError {
        match error {
            CatalogError::Invalid(message) => ApiError::bad_query(message),
            CatalogError::Exists(what) => {
                ApiError::new(StatusCode::CONFLICT, format!("{what} already exists: pick another name"))
            }
            CatalogError::Missing(what) => ApiError::new(StatusCode::NOT_FOUND, format!("no {what}")),
            other => ApiError::internal(other),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    pub name: String,
    /// `read`, `ingest`, `admin`, or several comma-separated.
    pub permissions: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub token: TokenInfo,
    /// The secret: shown here once, never stored.
    pub secret: String,
}

/// The org's tokens, never their secrets. Needs `admin`.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/tokens", tag = "admin", params(("org" = String, Path)),
    responses((status = 200, body = Vec<TokenInfo>), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "Not the token's org", body = ErrorBody)), security(("token" = [])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    authorize(&state, &headers, &peer, &org, None, Permission::Admin).await?;
    let catalog = state.catalog.clone();
    Ok(Json(off_runtime(move || Ok(catalog.tokens(&org)?)).await?))
}

/// Create a token; its secret is in this answer only. Needs `admin`; audited.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/tokens", tag = "admin", params(("org" = String, Path)),
    request_body = NewToken,
    responses((status = 201, description = "The token and its secret, shown once", body = CreatedToken), (status = 400, description = "A bad body, name or permission", body = ErrorBody), (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "Not the token's org", body = ErrorBody)), security(("token" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: Peer,
    JsonBody(new): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let caller = authorize(&state, &headers, &peer, &org, None, Permission::Admin).await?;
    let permissions = Permissions::parse(&new.permissions).map_err(ApiError::bad_query)?;
    let (catalog, actor, name) = (state.catalog.clone(), caller.actor(), new.name.clone());
    let org_slug = org.clone();
    let (token, secret) = off_runtime(move || Ok(catalog.create_token(&org_slug, &name, permissions, &actor)?)).await?;
    audit::record(&state.store, &caller, "token.created", format!("token {}", token.id), None, Some(json!(token)))
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

/// Revoke a token: it stops working at once. Needs `admin`; audited.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/tokens/{id}", tag = "admin", params(("org" = String, Path), ("id" = i64, Path)),
    responses((status = 200, description = "The token, revoked", body = TokenInfo), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such token in the token's org", body = ErrorBody)), security(("token" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    PathParams((org, id)): PathParams<(String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<TokenInfo>, ApiError> {
    let caller = authorize(&state, &headers, &peer, &org, None, Permission::Admin).await?;
    let (catalog, org_slug) = (state.catalog.clone(), org.clone());
    let (before, after) = off_runtime(move || {
        let before = catalog.revoke_token(&org_slug, id)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no token {id} in \"{org_slug}\": `vigie tokens list` shows them"),
            )
        })?;
        let after = catalog.tokens(&org_slug)?.into_iter().find(|token| token.id == id).unwrap_or(before.clone());
        Ok((before, after))
    })
    .await?;
    if before.revoked_at_ns.is_none() {
        audit::record(
            &state.store,
            &caller,
            "token.revoked",
            format!("token {id}"),
            Some(json!(before)),
            Some(json!(after)),
        )
        .await?;
    }
    Ok(Json(after))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppBody {
    pub slug: String,
    pub name: String,
    /// `application` (default) or `addon`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "application")]
    pub kind: Option<AppKind>,
    /// The runtime or the add-on's type: `Rust`, `PostgreSQL 16`, ...
    #[serde(default)]
    pub runtime: String,
}

impl From<App> for AppBody {
    fn from(app: App) -> AppBody {
        AppBody { slug: app.slug, name: app.name, kind: Some(app.kind), runtime: app.runtime }
    }
}

/// The org's apps and add-ons.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps", tag = "admin", params(("org" = String, Path)),
    responses((status = 200, body = Vec<AppBody>), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 404, description = "Not the token's org", body = ErrorBody)), security(("token" = [])))]
pub async fn list_apps(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<Vec<AppBody>>, ApiError> {
    authorize(&state, &headers, &peer, &org, None, Permission::Read).await?;
    let catalog = state.catalog.clone();
    let apps = off_runtime(move || Ok(catalog.org(&org)?.map(|org| org.apps).unwrap_or_default())).await?;
    Ok(Json(apps.into_iter().map(AppBody::from).collect()))
}

/// Add an app or add-on. Needs `admin`; audited.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/apps", tag = "admin", params(("org" = String, Path)),
    request_body = AppBody,
    responses((status = 201, body = AppBody), (status = 400, description = "A bad body or slug", body = ErrorBody), (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "Not the token's org", body = ErrorBody), (status = 409, description = "The slug is taken", body = ErrorBody)), security(("token" = [])))]
pub async fn create_app(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: Peer,
    JsonBody(body): JsonBody<AppBody>,
) -> Result<(StatusCode, Json<AppBody>), ApiError> {
    let caller = authorize(&state, &headers, &peer, &org, None, Permission::Admin).await?;
    let app = App {
        slug: body.slug,
        name: body.name,
        kind: body.kind.unwrap_or(AppKind::Application),
        runtime: body.runtime,
    };
    let (catalog, org_slug) = (state.catalog.clone(), org.clone());
    let app = off_runtime(move || catalog.create_app(&org_slug, &app).map(|()| app).map_err(ApiError::from)).await?;
    let created = AppBody::from(app);
    audit::record(&state.store, &caller, "app.created", format!("app {}", created.slug), None, Some(json!(created)))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewMember {
    pub login: String,
    /// For a user who does not exist yet; the login otherwise.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "member_role")]
    pub role: Role,
}

fn member_role() -> Role {
    Role::Member
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddedMember {
    pub member: Member,
    /// When the user was created by this call: their first password, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The org's members. Needs `admin`.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "admin", params(("org" = String, Path)),
    responses((status = 200, body = Vec<Member>), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "Not the token's org", body = ErrorBody)), security(("token" = [])))]
pub async fn list_members(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<Vec<Member>>, ApiError> {
    authorize(&state, &headers, &peer, &org, None, Permission::Admin).await?;
    let catalog = state.catalog.clone();
    Ok(Json(off_runtime(move || Ok(catalog.members(&org)?)).await?))
}

/// Add a member, creating the user (with a first password, returned once) when the login is new.
/// Needs `admin`; audited.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members", tag = "admin", params(("org" = String, Path)),
    request_body = NewMember,
    responses((status = 201, body = AddedMember), (status = 400, description = "A bad body, login or role", body = ErrorBody), (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "Not the token's org", body = ErrorBody)), security(("token" = [])))]
pub async fn add_member(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    headers: HeaderMap,
    peer: Peer,
    JsonBody(new): JsonBody<NewMember>,
) -> Result<(StatusCode, Json<AddedMember>), ApiError> {
    let caller = authorize(&state, &headers, &peer, &org, None, Permission::Admin).await?;
    // Argon2 hashes the first password: off the runtime, with the rest.
    let (catalog, org_slug, login, name, role) =
        (state.catalog.clone(), org.clone(), new.login.clone(), new.name.clone(), new.role);
    let (before, member, password, created) = off_runtime(move || {
        let before = catalog.members(&org_slug)?.into_iter().find(|member| member.login == login);
        let password = secrets::new_password();
        let created = match catalog.create_user(&login, name.as_deref().unwrap_or(&login), &password) {
            Ok(()) => true,
            Err(CatalogError::Exists(_)) => false,
            Err(other) => return Err(other.into()),
        };
        catalog.add_member(&org_slug, &login, role)?;
        let member = catalog
            .members(&org_slug)?
            .into_iter()
            .find(|member| member.login == login)
            .ok_or_else(|| ApiError::internal("the member just added is not listed"))?;
        Ok((before, member, password, created))
    })
    .await?;
    audit::record(
        &state.store,
        &caller,
        "member.added",
        format!("member {}", new.login),
        before.map(|member| json!(member)),
        Some(json!(member)),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(AddedMember { member, password: created.then_some(password) })))
}

/// A topic's retention as the API shows and takes it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionBody {
    /// Records older than this many seconds are removed; `null` keeps them.
    pub max_age_secs: Option<u64>,
    /// Oldest records are removed past this many bytes; `null`: no limit.
    pub max_bytes: Option<u64>,
}

impl From<Retention> for RetentionBody {
    fn from(retention: Retention) -> RetentionBody {
        RetentionBody { max_age_secs: retention.max_age.map(|age| age.as_secs()), max_bytes: retention.max_bytes }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KindRetention {
    #[schema(value_type = String, example = "service")]
    pub kind: LogKind,
    #[serde(flatten)]
    #[schema(inline)]
    pub retention: RetentionBody,
    /// What the kind's logs take on disk now.
    pub stored_bytes: u64,
    pub stored_records: u64,
}

/// Blocks (reads the topic's files): call it from a blocking thread.
fn kind_retention(store: &Store, org: &str, app: &str, kind: LogKind) -> KindRetention {
    let info = store.info(&TopicKey::new(org, app, kind));
    KindRetention {
        kind,
        retention: info.as_ref().map_or(store.config().default_retention, |info| info.retention).into(),
        stored_bytes: info.as_ref().map_or(0, |info| info.bytes),
        stored_records: info.as_ref().map_or(0, |info| info.records),
    }
}

/// How long each kind of the app's logs is kept, and what it takes now.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{app}/retention", tag = "admin", params(("org" = String, Path), ("app" = String, Path)),
    responses((status = 200, description = "Per kind: the retention and what is stored now", body = Vec<KindRetention>), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 404, description = "No such app in the token's org", body = ErrorBody)), security(("token" = [])))]
pub async fn get_retention(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<Vec<KindRetention>>, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read).await?;
    let store = state.store.clone();
    let kinds = off_runtime(move || {
        Ok([LogKind::Service, LogKind::Access].map(|kind| kind_retention(&store, &org, &app, kind)))
    })
    .await?;
    Ok(Json(kinds.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RetentionChange {
    /// `service` or `access`.
    #[schema(value_type = String, example = "access")]
    pub kind: LogKind,
    #[serde(flatten)]
    #[schema(inline)]
    pub retention: RetentionBody,
}

/// Set one kind's retention. Needs `admin`; audited with before and after.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/apps/{app}/retention", tag = "admin", params(("org" = String, Path), ("app" = String, Path)),
    request_body = RetentionChange,
    responses((status = 200, body = KindRetention), (status = 400, description = "A bad body, kind or limit", body = ErrorBody), (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody), (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody), (status = 403, description = "The token is not `admin`", body = ErrorBody), (status = 404, description = "No such app in the token's org", body = ErrorBody)), security(("token" = [])))]
pub async fn set_retention(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    headers: HeaderMap,
    peer: Peer,
    JsonBody(change): JsonBody<RetentionChange>,
) -> Result<Json<KindRetention>, ApiError> {
    let caller = authorize(&state, &headers, &peer, &org, Some(&app), Permission::Admin).await?;
    if change.kind == LogKind::Audit {
        return Err(ApiError::bad_query("kind: set the retention of service or access logs"));
    }
    let (age, bytes) = (change.retention.max_age_secs, change.retention.max_bytes);
    if age == Some(0) || bytes == Some(0) {
        return Err(ApiError::bad_query("a retention of 0 would remove everything: use null for no limit"));
    }
    let retention = Retention { max_age: age.map(Duration::from_secs), max_bytes: bytes };
    let (store, org_slug, app_slug, kind) = (state.store.clone(), org.clone(), app.clone(), change.kind);
    let catalog = state.catalog.clone();
    let (before, after) = off_runtime(move || {
        let before = kind_retention(&store, &org_slug, &app_slug, kind).retention;
        store.set_retention(&TopicKey::new(&org_slug, &app_slug, kind), retention)?;
        catalog.note_retention(&org_slug, &app_slug, kind.as_str(), age, bytes);
        Ok((before, kind_retention(&store, &org_slug, &app_slug, kind)))
    })
    .await?;
    audit::record(
        &state.store,
        &caller,
        "retention.changed",
        format!("app {app} {} logs", change.kind.as_str()),
        Some(json!(before)),
        Some(json!(after.retention)),
    )
    .await?;
    Ok(Json(after))
}
