//! An org's administration over the API: tokens, apps, members and
//! retention. Each change is written to the org's audit log before it is
//! answered.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vigie_app::model::{AppKind, LogKind};

use super::auth::authorize;
use super::error::ApiError;
use super::AppState;
use crate::audit;
use crate::catalog::{secrets, App, CatalogError, Member, Permission, Permissions, Role, TokenInfo};
use crate::store::{Retention, TopicKey};

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

#[derive(Debug, Deserialize)]
pub struct NewToken {
    pub name: String,
    /// `read`, `ingest`, `admin`, or several comma-separated.
    pub permissions: String,
}

#[derive(Debug, Serialize)]
pub struct CreatedToken {
    pub token: TokenInfo,
    /// The secret: shown here once, never stored.
    pub secret: String,
}

/// `GET /api/v1/orgs/{org}/tokens`
pub async fn list_tokens(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    authorize(&state, &headers, &peer, &org, None, Permission::Admin)?;
    Ok(Json(state.catalog.tokens(&org)?))
}

/// `POST /api/v1/orgs/{org}/tokens`
pub async fn create_token(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    peer: Peer,
    Json(new): Json<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let caller = authorize(&state, &headers, &peer, &org, None, Permission::Admin)?;
    let permissions = Permissions::parse(&new.permissions).map_err(ApiError::bad_query)?;
    let (token, secret) = state.catalog.create_token(&org, &new.name, permissions, &caller.actor())?;
    audit::record(&state.store, &caller, "token.created", format!("token {}", token.id), None, Some(json!(token)))
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

/// `DELETE /api/v1/orgs/{org}/tokens/{id}`
pub async fn revoke_token(
    State(state): State<AppState>,
    Path((org, id)): Path<(String, i64)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<TokenInfo>, ApiError> {
    let caller = authorize(&state, &headers, &peer, &org, None, Permission::Admin)?;
    let before = state.catalog.revoke_token(&org, id)?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("no token {id} in \"{org}\": `vigie tokens list` shows them"))
    })?;
    let after = state.catalog.tokens(&org)?.into_iter().find(|token| token.id == id).unwrap_or(before.clone());
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

#[derive(Debug, Serialize, Deserialize)]
pub struct AppBody {
    pub slug: String,
    pub name: String,
    /// `application` (default) or `addon`.
    #[serde(default)]
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

/// `GET /api/v1/orgs/{org}/apps`
pub async fn list_apps(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<Vec<AppBody>>, ApiError> {
    authorize(&state, &headers, &peer, &org, None, Permission::Read)?;
    let apps = state.catalog.org(&org)?.map(|org| org.apps).unwrap_or_default();
    Ok(Json(apps.into_iter().map(AppBody::from).collect()))
}

/// `POST /api/v1/orgs/{org}/apps`
pub async fn create_app(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    peer: Peer,
    Json(body): Json<AppBody>,
) -> Result<(StatusCode, Json<AppBody>), ApiError> {
    let caller = authorize(&state, &headers, &peer, &org, None, Permission::Admin)?;
    let app = App {
        slug: body.slug,
        name: body.name,
        kind: body.kind.unwrap_or(AppKind::Application),
        runtime: body.runtime,
    };
    state.catalog.create_app(&org, &app)?;
    let created = AppBody::from(app);
    audit::record(&state.store, &caller, "app.created", format!("app {}", created.slug), None, Some(json!(created)))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Serialize)]
pub struct AddedMember {
    pub member: Member,
    /// When the user was created by this call: their first password, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// `GET /api/v1/orgs/{org}/members`
pub async fn list_members(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<Vec<Member>>, ApiError> {
    authorize(&state, &headers, &peer, &org, None, Permission::Admin)?;
    Ok(Json(state.catalog.members(&org)?))
}

/// `POST /api/v1/orgs/{org}/members`: adds a user to the org, creating the
/// user (with a generated password) when the login is new.
pub async fn add_member(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    peer: Peer,
    Json(new): Json<NewMember>,
) -> Result<(StatusCode, Json<AddedMember>), ApiError> {
    let caller = authorize(&state, &headers, &peer, &org, None, Permission::Admin)?;
    let before = state.catalog.members(&org)?.into_iter().find(|member| member.login == new.login);
    let password = secrets::new_password();
    let created = match state.catalog.create_user(&new.login, new.name.as_deref().unwrap_or(&new.login), &password) {
        Ok(()) => true,
        Err(CatalogError::Exists(_)) => false,
        Err(other) => return Err(other.into()),
    };
    state.catalog.add_member(&org, &new.login, new.role)?;
    let member = state
        .catalog
        .members(&org)?
        .into_iter()
        .find(|member| member.login == new.login)
        .ok_or_else(|| ApiError::internal("the member just added is not listed"))?;
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
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Serialize)]
pub struct KindRetention {
    pub kind: LogKind,
    #[serde(flatten)]
    pub retention: RetentionBody,
    /// What the kind's logs take on disk now.
    pub stored_bytes: u64,
    pub stored_records: u64,
}

fn kind_retention(state: &AppState, org: &str, app: &str, kind: LogKind) -> KindRetention {
    let info = state.store.info(&TopicKey::new(org, app, kind));
    KindRetention {
        kind,
        retention: info.as_ref().map_or(state.store.config().default_retention, |info| info.retention).into(),
        stored_bytes: info.as_ref().map_or(0, |info| info.bytes),
        stored_records: info.as_ref().map_or(0, |info| info.records),
    }
}

/// `GET /api/v1/orgs/{org}/apps/{app}/retention`: per kind.
pub async fn get_retention(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<Vec<KindRetention>>, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read)?;
    Ok(Json([LogKind::Service, LogKind::Access].map(|kind| kind_retention(&state, &org, &app, kind)).into()))
}

#[derive(Debug, Deserialize)]
pub struct RetentionChange {
    /// `service` or `access`.
    pub kind: LogKind,
    #[serde(flatten)]
    pub retention: RetentionBody,
}

/// `PUT /api/v1/orgs/{org}/apps/{app}/retention`: one kind's retention.
pub async fn set_retention(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    peer: Peer,
    Json(change): Json<RetentionChange>,
) -> Result<Json<KindRetention>, ApiError> {
    let caller = authorize(&state, &headers, &peer, &org, Some(&app), Permission::Admin)?;
    if change.kind == LogKind::Audit {
        return Err(ApiError::bad_query("kind: set the retention of service or access logs"));
    }
    let (age, bytes) = (change.retention.max_age_secs, change.retention.max_bytes);
    if age == Some(0) || bytes == Some(0) {
        return Err(ApiError::bad_query("a retention of 0 would remove everything: use null for no limit"));
    }
    let before = kind_retention(&state, &org, &app, change.kind).retention;
    let retention = Retention { max_age: age.map(Duration::from_secs), max_bytes: bytes };
    let (store, key) = (state.store.clone(), TopicKey::new(&org, &app, change.kind));
    tokio::task::spawn_blocking(move || store.set_retention(&key, retention))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let after = kind_retention(&state, &org, &app, change.kind);
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
