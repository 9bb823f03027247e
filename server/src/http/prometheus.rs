//! The Prometheus-compatible query API under `/prometheus/api/v1/`, as
//! Grafana's Prometheus data source and `promtool` call it: instant and
//! range queries, label names and values, series, metadata, build info and
//! (empty) exemplars; GET with a query string or POST with a form body;
//! answers and errors in Prometheus's JSON shapes
//! (`{"status":"error","errorType":"bad_data","error":"…"}`).
//!
//! The credential decides the org: `Authorization: Bearer vgt_…`, or HTTP
//! basic auth with the token as the password (what Grafana and `promtool`
//! send from a URL such as `http://grafana:vgt_…@vigie/prometheus`). Only
//! the org's own apps are read. PromQL evaluation: `crate::metrics::promql`.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use vigie_app::model::LogKind;

use super::error::{error_id, PathParams};
use super::AppState;
use crate::catalog::{Authentication, Catalog, Permission};
use crate::clock::now_ns;
use crate::metrics::promql::eval::Grid;
use crate::metrics::promql::source::{Selector, Source};
use crate::metrics::promql::{self, EvalError, MAX_MATCHERS, MAX_STEPS};
use crate::store::TopicKey;

/// Where the API is mounted; Grafana's data source URL is this path on Vigie.
pub const PREFIX: &str = "/prometheus/api/v1";

/// An answer in the Prometheus API's envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PromAnswer {
    /// `success` or `error`.
    pub status: String,
    /// The answer: an object (`resultType` and `result`) for queries and
    /// metadata, a list for listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// `bad_data`, `execution`, `unauthorized`, `not_found` or `internal`.
    #[serde(rename = "errorType", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A failed call, answered in Prometheus's error shape.
#[derive(Debug)]
pub struct PromError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl PromError {
    fn bad_data(message: impl Into<String>) -> PromError {
        PromError { status: StatusCode::BAD_REQUEST, kind: "bad_data", message: message.into() }
    }

    fn unauthorized(message: impl Into<String>) -> PromError {
        PromError { status: StatusCode::UNAUTHORIZED, kind: "unauthorized", message: message.into() }
    }

    fn internal(error: impl std::fmt::Display) -> PromError {
        let id = error_id();
        tracing::error!(%error, error_id = %id, "prometheus request failed");
        PromError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: format!("the server could not do it; its log says why under error id {id}"),
        }
    }
}

impl From<EvalError> for PromError {
    fn from(error: EvalError) -> PromError {
        let status = match error {
            EvalError::BadData(_) => StatusCode::BAD_REQUEST,
            EvalError::Execution(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EvalError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        PromError { status, kind: error.error_type(), message: error.to_string() }
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let body = PromAnswer {
            status: "error".into(),
            data: None,
            error_type: Some(self.kind.into()),
            error: Some(self.message),
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"vigie\""));
        }
        response
    }
}

fn success(data: Value) -> Json<PromAnswer> {
    Json(PromAnswer { status: "success".into(), data: Some(data), error_type: None, error: None })
}

/// The parameters of a call: the query string's and, for a POST, the form body's.
struct Params(Vec<(String, String)>);

/// Most parameters one call may carry.
const MAX_PARAMS: usize = 200;

impl Params {
    fn read(query: Option<String>, body: &[u8]) -> Result<Params, PromError> {
        let mut all: Vec<(String, String)> = Vec::new();
        for source in [query.as_deref().unwrap_or("").as_bytes(), body] {
            all.extend(form_urlencoded::parse(source).map(|(k, v)| (k.into_owned(), v.into_owned())));
        }
        if all.len() > MAX_PARAMS {
            return Err(PromError::bad_data(format!("more than {MAX_PARAMS} parameters")));
        }
        Ok(Params(all))
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).filter(|v| !v.is_empty())
    }

    fn selectors(&self) -> Result<Vec<Selector>, PromError> {
        let texts: Vec<&str> = self.0.iter().filter(|(key, _)| key == "match[]").map(|(_, v)| v.as_str()).collect();
        if texts.len() > MAX_MATCHERS {
            return Err(PromError::bad_data(format!("at most {MAX_MATCHERS} match[] selectors")));
        }
        texts.into_iter().map(|text| promql::parse_selector(text).map_err(PromError::from)).collect()
    }

    /// `timeout` (a duration, at most [`promql::MAX_QUERY_TIME`]).
    fn timeout(&self) -> Result<std::time::Duration, PromError> {
        match self.one("timeout") {
            None => Ok(promql::MAX_QUERY_TIME),
            Some(text) => parse_step(text)
                .filter(|ms| *ms > 0)
                .map(|ms| std::time::Duration::from_millis(ms as u64).min(promql::MAX_QUERY_TIME))
                .ok_or_else(|| {
                    PromError::bad_data(format!(
                        "invalid parameter \"timeout\": cannot parse \"{text}\" to a valid duration"
                    ))
                }),
        }
    }

    fn time(&self, name: &str, default_ms: i64) -> Result<i64, PromError> {
        match self.one(name) {
            None => Ok(default_ms),
            Some(text) => parse_time(text).ok_or_else(|| {
                PromError::bad_data(format!(
                    "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid timestamp"
                ))
            }),
        }
    }
}

/// A time as Prometheus takes it: Unix seconds (with a fraction) or RFC 3339.
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds.abs() < 1e13).then(|| (seconds * 1_000.0).round() as i64);
    }
    let time = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A step or duration: seconds (with a fraction) or a Prometheus duration (`15s`, `1m`, `1h30m`).
fn parse_step(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds.abs() < 1e12).then(|| (seconds * 1_000.0).round() as i64);
    }
    promql_parser::util::parse_duration(text).ok().and_then(|d| i64::try_from(d.as_millis()).ok())
}

/// The org a request's credential belongs to, and its apps.
struct Org {
    slug: String,
    apps: Vec<String>,
}

/// The token of a request: a bearer token, or basic auth's password.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let text = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, value) = text.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(value.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_, password) = text.split_once(':')?;
        return Some(password.to_string());
    }
    None
}

/// Blocks (SQLite): call it from a blocking thread.
fn authorize(catalog: &Catalog, secret: Option<String>) -> Result<Org, PromError> {
    let Some(secret) = secret else {
        return Err(PromError::unauthorized(
            "no token: send `Authorization: Bearer <token>`, or basic auth with the token as the password",
        ));
    };
    let token = match catalog.authenticate(&secret).map_err(PromError::internal)? {
        Authentication::Valid(token) => token,
        Authentication::Revoked(token) => {
            return Err(PromError::unauthorized(format!(
            "invalid token: \"{}\" ({}) is revoked; an org admin gets a new Grafana token with RESET ALL DASHBOARDS \
                 on the org page",
            token.name, token.hint
        )))
        }
        Authentication::Unknown => {
            return Err(PromError::unauthorized("invalid token: it is not known (check it is copied whole)"))
        }
    };
    if !token.permissions.allows(Permission::Read) {
        return Err(PromError {
            status: StatusCode::FORBIDDEN,
            kind: "unauthorized",
            message: format!("the token \"{}\" may not read: use a token with the read permission", token.name),
        });
    }
    let org = catalog
        .org(&token.org)
        .map_err(PromError::internal)?
        .ok_or_else(|| PromError::unauthorized("invalid token: its organisation is gone"))?;
    Ok(Org { slug: org.slug, apps: org.apps.into_iter().map(|app| app.slug).collect() })
}

/// The org of the request's credential, checked on a blocking thread:
/// the first thing every handler does, so a caller without a valid token
/// learns nothing else.
async fn caller_org(state: &AppState, headers: &HeaderMap) -> Result<Org, PromError> {
    let secret = presented_token(headers);
    let catalog = state.catalog.clone();
    tokio::task::spawn_blocking(move || authorize(&catalog, secret)).await.map_err(PromError::internal)?
}

/// Brings the org's read models up to date and runs `work` on a blocking
/// thread with the org's [`Source`].
async fn with_source<T: Send + 'static>(
    state: &AppState,
    org: Org,
    work: impl FnOnce(&Source) -> Result<T, PromError> + Send + 'static,
) -> Result<T, PromError> {
    let (series, http, store) = (state.series.clone(), state.http_stats.clone(), state.store.clone());
    tokio::task::spawn_blocking(move || {
        for app in &org.apps {
            series.catch_up(&store, &TopicKey::metrics(&org.slug, app));
            http.catch_up(&store, &TopicKey::new(&org.slug, app, LogKind::Access));
        }
        let source = Source {
            org: &org.slug,
            apps: &org.apps,
            series: &series,
            http: &http,
            store: &store,
            now_ms: now_ns() / 1_000_000,
        };
        work(&source)
    })
    .await
    .map_err(PromError::internal)?
}

fn now_ms() -> i64 {
    now_ns() / 1_000_000
}

/// `query`, `time`, `timeout` (read, not enforced).
#[derive(Debug, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct InstantParams {
    /// A PromQL expression (the subset in docs/PROMETHEUS.md).
    pub query: Option<String>,
    /// Evaluation time: Unix seconds or RFC 3339. Default: now.
    pub time: Option<String>,
    pub timeout: Option<String>,
}

/// `query`, `start`, `end`, `step`.
#[derive(Debug, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    pub query: Option<String>,
    /// Unix seconds or RFC 3339.
    pub start: Option<String>,
    pub end: Option<String>,
    /// Seconds or a duration (`15s`, `1m`); at most 11,000 steps.
    pub step: Option<String>,
    pub timeout: Option<String>,
}

/// `match[]` selectors and a time range (default: the last hour).
#[derive(Debug, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[serde(rename = "match[]")]
    #[param(rename = "match[]")]
    #[schema(rename = "match[]")]
    pub matches: Option<Vec<String>>,
    pub start: Option<String>,
    pub end: Option<String>,
}

async fn run_instant(
    state: AppState,
    headers: HeaderMap,
    query: Option<String>,
    body: &[u8],
) -> Result<Json<PromAnswer>, PromError> {
    let org = caller_org(&state, &headers).await?;
    let params = Params::read(query, body)?;
    let text = params.one("query").ok_or_else(|| PromError::bad_data("invalid parameter \"query\": missing"))?;
    let expr = promql::parse(text)?;
    let at = params.time("time", now_ms())?;
    let timeout = params.timeout()?;
    let data =
        with_source(&state, org, move |source| Ok(promql::query(source, &expr, Grid::instant(at), timeout)?)).await?;
    Ok(success(data))
}

async fn run_range(
    state: AppState,
    headers: HeaderMap,
    query: Option<String>,
    body: &[u8],
) -> Result<Json<PromAnswer>, PromError> {
    let org = caller_org(&state, &headers).await?;
    let params = Params::read(query, body)?;
    let text = params.one("query").ok_or_else(|| PromError::bad_data("invalid parameter \"query\": missing"))?;
    let expr = promql::parse(text)?;
    let missing = |name: &str| PromError::bad_data(format!("invalid parameter \"{name}\": missing"));
    let start =
        params.time("start", i64::MIN).and_then(|t| if t == i64::MIN { Err(missing("start")) } else { Ok(t) })?;
    let end = params.time("end", i64::MIN).and_then(|t| if t == i64::MIN { Err(missing("end")) } else { Ok(t) })?;
    let step_text = params.one("step").ok_or_else(|| missing("step"))?;
    let step = parse_step(step_text).ok_or_else(|| {
        PromError::bad_data(format!("invalid parameter \"step\": cannot parse \"{step_text}\" to a valid duration"))
    })?;
    if end < start {
        return Err(PromError::bad_data("invalid parameter \"end\": end timestamp must not be before start time"));
    }
    if step <= 0 {
        return Err(PromError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step >= MAX_STEPS {
        return Err(PromError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let grid = Grid { start_ms: start, end_ms: end, step_ms: step, ranged: true };
    let timeout = params.timeout()?;
    let data = with_source(&state, org, move |source| Ok(promql::query(source, &expr, grid, timeout)?)).await?;
    Ok(success(data))
}

fn list_range(params: &Params) -> Result<(i64, i64), PromError> {
    let now = now_ms();
    let end = params.time("end", now)?;
    let start = params.time("start", end - 3_600_000)?;
    if end < start {
        return Err(PromError::bad_data("invalid parameter \"end\": end timestamp must not be before start time"));
    }
    Ok((start, end))
}

async fn run_labels(
    state: AppState,
    headers: HeaderMap,
    query: Option<String>,
    body: &[u8],
) -> Result<Json<PromAnswer>, PromError> {
    let org = caller_org(&state, &headers).await?;
    let params = Params::read(query, body)?;
    let selectors = params.selectors()?;
    let range = list_range(&params)?;
    let names = with_source(&state, org, move |source| Ok(promql::label_names(source, &selectors, range)?)).await?;
    Ok(success(json!(names)))
}

async fn run_series(
    state: AppState,
    headers: HeaderMap,
    query: Option<String>,
    body: &[u8],
) -> Result<Json<PromAnswer>, PromError> {
    let org = caller_org(&state, &headers).await?;
    let params = Params::read(query, body)?;
    let selectors = params.selectors()?;
    if selectors.is_empty() {
        return Err(PromError::bad_data("no match[] parameter provided"));
    }
    let range = list_range(&params)?;
    let series = with_source(&state, org, move |source| Ok(promql::series(source, &selectors, range)?)).await?;
    Ok(success(json!(series)))
}

/// Instant query: the expression's value at one time.
#[utoipa::path(get, path = "/prometheus/api/v1/query", tag = "prometheus", params(InstantParams),
    responses(
        (status = 200, description = "`vector`, `scalar` or `string`", body = PromAnswer),
        (status = 400, description = "`bad_data`: a bad query or parameter", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
        (status = 422, description = "`execution`: the query cannot be evaluated", body = PromAnswer),
        (status = 503, description = "`timeout`: the query ran past its time limit", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn query_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<PromAnswer>, PromError> {
    run_instant(state, headers, query, &[]).await
}

/// Instant query with a form body (what Grafana sends by default).
#[utoipa::path(post, path = "/prometheus/api/v1/query", tag = "prometheus",
    request_body(content = InstantParams, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`vector`, `scalar` or `string`", body = PromAnswer),
        (status = 400, description = "`bad_data`", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
        (status = 422, description = "`execution`", body = PromAnswer),
        (status = 503, description = "`timeout`", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn query_post(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<PromAnswer>, PromError> {
    run_instant(state, headers, query, &body).await
}

/// Range query: the expression at every step of a range (`matrix`).
#[utoipa::path(get, path = "/prometheus/api/v1/query_range", tag = "prometheus", params(RangeParams),
    responses(
        (status = 200, description = "`matrix`", body = PromAnswer),
        (status = 400, description = "`bad_data`", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
        (status = 422, description = "`execution`", body = PromAnswer),
        (status = 503, description = "`timeout`", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn query_range_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<PromAnswer>, PromError> {
    run_range(state, headers, query, &[]).await
}

/// Range query with a form body.
#[utoipa::path(post, path = "/prometheus/api/v1/query_range", tag = "prometheus",
    request_body(content = RangeParams, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`matrix`", body = PromAnswer),
        (status = 400, description = "`bad_data`", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
        (status = 422, description = "`execution`", body = PromAnswer),
        (status = 503, description = "`timeout`", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn query_range_post(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<PromAnswer>, PromError> {
    run_range(state, headers, query, &body).await
}

/// Label names of the series `match[]` selects (every series without it).
#[utoipa::path(get, path = "/prometheus/api/v1/labels", tag = "prometheus", params(ListParams),
    responses(
        (status = 200, description = "Label names", body = PromAnswer),
        (status = 400, description = "`bad_data`", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn labels_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<PromAnswer>, PromError> {
    run_labels(state, headers, query, &[]).await
}

/// Label names, with a form body.
#[utoipa::path(post, path = "/prometheus/api/v1/labels", tag = "prometheus",
    request_body(content = ListParams, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Label names", body = PromAnswer),
        (status = 400, description = "`bad_data`", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn labels_post(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<PromAnswer>, PromError> {
    run_labels(state, headers, query, &body).await
}

/// The values of one label among the series `match[]` selects.
#[utoipa::path(get, path = "/prometheus/api/v1/label/{name}/values", tag = "prometheus",
    params(("name" = String, Path), ListParams),
    responses(
        (status = 200, description = "Label values", body = PromAnswer),
        (status = 400, description = "`bad_data`", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn label_values(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<PromAnswer>, PromError> {
    let org = caller_org(&state, &headers).await?;
    let params = Params::read(query, &[])?;
    let selectors = params.selectors()?;
    let range = list_range(&params)?;
    let values =
        with_source(&state, org, move |source| Ok(promql::label_values(source, &name, &selectors, range)?)).await?;
    Ok(success(json!(values)))
}

/// The series `match[]` selects (at least one selector).
#[utoipa::path(get, path = "/prometheus/api/v1/series", tag = "prometheus", params(ListParams),
    responses(
        (status = 200, description = "Label sets", body = PromAnswer),
        (status = 400, description = "`bad_data`", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn series_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<PromAnswer>, PromError> {
    run_series(state, headers, query, &[]).await
}

/// Series, with a form body.
#[utoipa::path(post, path = "/prometheus/api/v1/series", tag = "prometheus",
    request_body(content = ListParams, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Label sets", body = PromAnswer),
        (status = 400, description = "`bad_data`", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn series_post(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<PromAnswer>, PromError> {
    run_series(state, headers, query, &body).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetadataParams {
    /// Only this metric.
    pub metric: Option<String>,
    /// At most this many metrics.
    pub limit: Option<String>,
}

/// Each metric's type and help, as Grafana's query editor shows them.
#[utoipa::path(get, path = "/prometheus/api/v1/metadata", tag = "prometheus", params(MetadataParams),
    responses(
        (status = 200, description = "Metric name → [{type, help, unit}]", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn metadata(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<PromAnswer>, PromError> {
    let org = caller_org(&state, &headers).await?;
    let params = Params::read(query, &[])?;
    let only = params.one("metric").map(str::to_string);
    let limit = params.one("limit").and_then(|l| l.parse::<i64>().ok()).filter(|l| *l > 0).map(|l| l as usize);
    let families = with_source(&state, org, move |source| Ok(source.families()?)).await?;
    let mut data = serde_json::Map::new();
    for family in families {
        if only.as_ref().is_some_and(|name| *name != family.name) || limit.is_some_and(|l| data.len() >= l) {
            continue;
        }
        data.insert(family.name, json!([{"type": family.kind, "help": family.help, "unit": ""}]));
    }
    Ok(success(Value::Object(data)))
}

/// Exemplars: Vigie keeps none, so always an empty list.
#[utoipa::path(get, path = "/prometheus/api/v1/query_exemplars", tag = "prometheus", params(RangeParams),
    responses(
        (status = 200, description = "An empty list", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn query_exemplars(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<PromAnswer>, PromError> {
    caller_org(&state, &headers).await?;
    Ok(success(json!([])))
}

/// Exemplars with a form body.
#[utoipa::path(post, path = "/prometheus/api/v1/query_exemplars", tag = "prometheus",
    request_body(content = RangeParams, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An empty list", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn query_exemplars_post(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<PromAnswer>, PromError> {
    caller_org(&state, &headers).await?;
    Ok(success(json!([])))
}

/// Build information, which Grafana reads to learn what it talks to.
#[utoipa::path(get, path = "/prometheus/api/v1/status/buildinfo", tag = "prometheus",
    responses(
        (status = 200, description = "Version and the Prometheus API version it follows", body = PromAnswer),
        (status = 401, description = "No token, or an invalid one", body = PromAnswer),
    ),
    security(("token" = []), ("basic" = [])))]
pub async fn buildinfo(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<PromAnswer>, PromError> {
    caller_org(&state, &headers).await?;
    Ok(success(json!({
        // Grafana reads `version` to pick features: the Prometheus API level followed.
        "version": "2.42.0",
        "revision": concat!("vigie-", env!("CARGO_PKG_VERSION")),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    })))
}

/// Any other path under `/prometheus`: Prometheus's 404 shape.
pub async fn not_found() -> PromError {
    PromError {
        status: StatusCode::NOT_FOUND,
        kind: "not_found",
        message:
            "no such Prometheus API endpoint: Vigie serves query, query_range, labels, label/NAME/values, series, \
                  metadata, query_exemplars and status/buildinfo under /prometheus/api/v1"
                .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_steps_read_as_prometheus_reads_them() {
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000_500));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_step("15"), Some(15_000));
        assert_eq!(parse_step("1m30s"), Some(90_000));
        assert_eq!(parse_step("soon"), None);
    }

    #[test]
    fn basic_auth_carries_the_token_as_its_password() {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("grafana:vgt_secret");
        headers.insert(header::AUTHORIZATION, format!("Basic {encoded}").parse().unwrap());
        assert_eq!(presented_token(&headers).as_deref(), Some("vgt_secret"));
        headers.insert(header::AUTHORIZATION, "Bearer vgt_other".parse().unwrap());
        assert_eq!(presented_token(&headers).as_deref(), Some("vgt_other"));
    }
}
