//! The Stats API: an app's metrics and their tags, queries of their series
//! by time range, step and aggregation, grouped by tag, and the app's HTTP
//! statistics. It reads the read models (`crate::metrics::series` and
//! `crate::metrics::http_stats`) and is token-scoped like the Logs API: a
//! token reads its own org's apps only.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::authorize;
use super::error::{ApiError, ErrorBody, PathParams, QueryParams};
use super::AppState;
use crate::catalog::Permission;
use crate::clock::now_ns;
use crate::ingest::instances::{self, InstanceReport};
use crate::ingest::points::{self, PointsReport};
use crate::metrics::http_stats::{self, HttpStats, PATHS_PER_BUCKET};
use crate::metrics::point::MetricType;
use crate::metrics::series::{default_step_ms, Aggregation, MetricInfo, QueryAnswer, QueryError, SeriesQuery};
use crate::query::time_bound::{parse_duration_ns, parse_time_bound};
use crate::store::TopicKey;
use vigie_app::model::LogKind;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MetricList {
    pub metrics: Vec<MetricInfo>,
}

/// The app's metrics: name, type, series count, tags and their values, and
/// the aggregations each answers.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{app}/metrics", tag = "stats",
    params(("org" = String, Path), ("app" = String, Path)),
    responses(
        (status = 200, description = "The app's metrics, by name", body = MetricList),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such app in the token's org", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn list_metrics(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Json<MetricList>, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read).await?;
    let (series, store) = (state.series.clone(), state.store.clone());
    let list = tokio::task::spawn_blocking(move || {
        series.catch_up(&store, &TopicKey::metrics(&org, &app));
        series.list(&org, &app)
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(Json(MetricList { metrics: list }))
}

/// A JSON body of one report or an array of them; a bad one is named.
fn one_or_many<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, ApiError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                serde_json::from_value(item).map_err(|error| ApiError::bad_query(format!("report {index}: {error}")))
            })
            .collect(),
        Ok(item) => {
            Ok(vec![serde_json::from_value(item).map_err(|error| ApiError::bad_query(format!("the report: {error}")))?])
        }
        Err(error) => Err(ApiError::bad_query(format!("the body is not JSON: {error}"))),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstanceReply {
    /// Reports stored.
    pub accepted: usize,
}

/// Report server metrics of the app's instances: one report or an array,
/// each filed in the 10 s interval it was measured in (one report per
/// instance and interval; a later one for the same interval is refused and
/// counted). Needs `ingest`. Metrics and fields: docs/METRICS.md.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/apps/{app}/instances/metrics", tag = "ingest",
    params(("org" = String, Path), ("app" = String, Path)),
    request_body(content = Vec<InstanceReport>, description = "A report, or an array of them", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored", body = InstanceReply),
        (status = 400, description = "A bad report, named in `error`; nothing stored", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token may not ingest", body = ErrorBody),
        (status = 404, description = "No such app in the token's org", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn post_instance_metrics(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> Result<Json<InstanceReply>, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Ingest).await?;
    let reports: Vec<InstanceReport> = one_or_many(&body)?;
    let now_ms = now_ns() / 1_000_000;
    for (index, report) in reports.iter().enumerate() {
        report.check(now_ms).map_err(|error| ApiError::bad_query(format!("report {index}: {error}")))?;
    }
    let accepted = reports.len();
    let records = instances::records(&reports, now_ms);
    let (series, store, cluster) = (state.series.clone(), state.store.clone(), state.ingest.cluster.clone());
    tokio::task::spawn_blocking(move || {
        let key = TopicKey::metrics(&org, &app);
        match cluster {
            None => {
                store.append_batch(&key, records)?;
            }
            Some(cluster) => {
                cluster.append_blocking(&key, records)?;
            }
        }
        series.catch_up(&store, &key);
        Ok::<_, crate::store::StoreError>(())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(InstanceReply { accepted }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointsReply {
    /// Points stored.
    pub accepted: usize,
}

/// Send custom metric points already folded per 10 s interval (what `vigie
/// agent` does with the statsd it receives and the endpoint it scrapes):
/// one report or an array, each filed in the interval its `ts_ms` falls
/// in. A point older than its series' newest is dropped and counted. Needs
/// `ingest`. Types and value layouts: docs/METRICS.md.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/apps/{app}/metrics", tag = "ingest",
    params(("org" = String, Path), ("app" = String, Path)),
    request_body(content = Vec<PointsReport>, description = "A report, or an array of them", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored", body = PointsReply),
        (status = 400, description = "A bad report or point, named in `error`; nothing stored", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token may not ingest", body = ErrorBody),
        (status = 404, description = "No such app in the token's org", body = ErrorBody),
        (status = 413, description = "Over the body or point limit; nothing stored", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn post_metric_points(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> Result<Json<PointsReply>, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Ingest).await?;
    let reports: Vec<PointsReport> = one_or_many(&body)?;
    let accepted: usize = reports.iter().map(|report| report.points.len()).sum();
    if accepted > points::MAX_POINTS_PER_REQUEST {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("{accepted} points; the limit is {} a request: send fewer", points::MAX_POINTS_PER_REQUEST),
        ));
    }
    let now_ms = now_ns() / 1_000_000;
    for (index, report) in reports.iter().enumerate() {
        report.check(now_ms).map_err(|error| ApiError::bad_query(format!("report {index}: {error}")))?;
    }
    let (series, store) = (state.series.clone(), state.store.clone());
    tokio::task::spawn_blocking(move || {
        let key = TopicKey::metrics(&org, &app);
        // In a cluster, through the replicated stream (`Store::submit`).
        store.submit(&key, points::records(reports))?;
        series.catch_up(&store, &key);
        Ok::<_, crate::store::StoreError>(())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(PointsReply { accepted }))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Start: RFC 3339, `now`, or back from now (`1h`, `30d`). Default: 1h.
    pub from: Option<String>,
    /// End, same forms. Default: now.
    pub to: Option<String>,
    /// Width of each returned point: a multiple of 10 s (`10s`, `1m`, `1h`).
    /// Default: the range over about 300 points, rounded up to such a multiple.
    pub step: Option<String>,
    /// avg, min, max, sum, count, rate, last, p50, p95 or p99; which ones a
    /// metric answers is in the listing. Default: the metric's first one.
    pub aggregation: Option<String>,
    /// counter, gauge, timer, histogram, distribution or set: needed only
    /// when several types share the name.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// Only series with these tags: `env:prod,route:/a`.
    pub filter: Option<String>,
    /// One answer series per value of these tags: `route,status`.
    pub group_by: Option<String>,
}

/// One metric's series over a time range, one point per step, combined by
/// the aggregation, grouped by tags. The coarsest stored resolution that
/// keeps the step is read (10 s points, 1 min or 1 h rollups).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{app}/metrics/{name}", tag = "stats",
    params(("org" = String, Path), ("app" = String, Path), ("name" = String, Path), StatsQuery),
    responses(
        (status = 200, description = "The answer: one series per group, `[ms, value]` points", body = QueryAnswer),
        (status = 400, description = "A bad parameter, named in `error`", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such app in the token's org, or no such metric in the app", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn query_metric(
    State(state): State<AppState>,
    PathParams((org, app, name)): PathParams<(String, String, String)>,
    QueryParams(query): QueryParams<StatsQuery>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Json<QueryAnswer>, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read).await?;
    let query = check(org, app, name, &query, now_ns())?;
    let (series, store) = (state.series.clone(), state.store.clone());
    let answer = tokio::task::spawn_blocking(move || {
        // Points appended since the last look (by the demo, or a report) are read first.
        series.catch_up(&store, &TopicKey::metrics(&query.org, &query.app));
        series.query(&query)
    })
    .await
    .map_err(ApiError::internal)?;
    answer.map(Json).map_err(|error| match error {
        QueryError::NoSuchMetric(_) => ApiError::new(axum::http::StatusCode::NOT_FOUND, error.to_string()),
        _ => ApiError::bad_query(error.to_string()),
    })
}

/// `from` and `to` in ms, checked; by default the last hour.
fn range(from: &Option<String>, to: &Option<String>, now: i64) -> Result<(i64, i64), ApiError> {
    let bound = |what: &str, text: &Option<String>, default: &str| {
        parse_time_bound(text.as_deref().unwrap_or(default), now)
            .map(|ns| ns / 1_000_000)
            .map_err(|error| ApiError::bad_query(format!("{what}: {error}")))
    };
    let from_ms = bound("from", from, "1h")?;
    let to_ms = bound("to", to, "now")?;
    if from_ms >= to_ms {
        return Err(ApiError::bad_query("from is not before to: swap them"));
    }
    Ok((from_ms, to_ms))
}

fn parse_step_ms(text: &str) -> Result<i64, ApiError> {
    parse_duration_ns(text.trim())
        .map(|ns| ns / 1_000_000)
        .ok_or_else(|| ApiError::bad_query(format!("step: \"{text}\" is not a duration such as 10s, 1m, 1h")))
}

fn check(org: String, app: String, name: String, query: &StatsQuery, now: i64) -> Result<SeriesQuery, ApiError> {
    let (from_ms, to_ms) = range(&query.from, &query.to, now)?;
    let step_ms = match &query.step {
        Some(text) => parse_step_ms(text)?,
        None => default_step_ms(to_ms - from_ms),
    };
    let aggregation = query
        .aggregation
        .as_deref()
        .map(|text| {
            Aggregation::parse(text).ok_or_else(|| {
                let all: Vec<&str> = Aggregation::ALL.iter().map(|a| a.as_str()).collect();
                ApiError::bad_query(format!("aggregation: \"{text}\" is none of {}", all.join(", ")))
            })
        })
        .transpose()?;
    let kind = query
        .kind
        .as_deref()
        .map(|text| {
            serde_json::from_value::<MetricType>(serde_json::Value::String(text.to_string())).map_err(|_| {
                ApiError::bad_query(format!(
                    "type: \"{text}\" is none of counter, gauge, timer, histogram, distribution, set"
                ))
            })
        })
        .transpose()?;
    let filter = match &query.filter {
        None => Vec::new(),
        Some(text) => text
            .split(',')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                pair.split_once(':')
                    .map(|(tag, value)| (tag.to_string(), value.to_string()))
                    .ok_or_else(|| ApiError::bad_query(format!("filter: \"{pair}\" is not TAG:VALUE")))
            })
            .collect::<Result<_, _>>()?,
    };
    let group_by = query
        .group_by
        .as_deref()
        .map(|text| text.split(',').filter(|tag| !tag.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    Ok(SeriesQuery { org, app, name, kind, from_ms, to_ms, step_ms, aggregation, filter, group_by })
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HttpStatsQuery {
    /// Start: RFC 3339, `now`, or back from now (`1h`, `2d`). Default: 1h.
    pub from: Option<String>,
    /// End, same forms. Default: now.
    pub to: Option<String>,
    /// Width of each step: a multiple of 1 min. Default: the range over
    /// about 300 steps, rounded up to whole minutes.
    pub step: Option<String>,
    /// How many of the most requested paths to list (default 10, at most 500).
    pub top: Option<usize>,
}

/// The app's HTTP statistics from its access logs: requests per second,
/// status classes, latency percentiles, bytes sent, the most requested
/// paths and requests per place (country and 1° cell) for a heatmap. Kept
/// per minute for 2 days.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{app}/http", tag = "stats",
    params(("org" = String, Path), ("app" = String, Path), HttpStatsQuery),
    responses(
        (status = 200, description = "Steps, the range's total, top paths and places", body = HttpStats),
        (status = 400, description = "A bad parameter, named in `error`", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such app in the token's org", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn http_stats(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<HttpStatsQuery>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Json<HttpStats>, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read).await?;
    let now = now_ns();
    let (from_ms, to_ms) = range(&query.from, &query.to, now)?;
    let step_ms = match &query.step {
        Some(text) => parse_step_ms(text)?,
        None => http_stats::default_step_ms(to_ms - from_ms),
    };
    let top = query.top.unwrap_or(10).min(PATHS_PER_BUCKET);
    let (model, store) = (state.http_stats.clone(), state.store.clone());
    let answer = tokio::task::spawn_blocking(move || {
        // Read what the access topic got since the last look, so an answer is never behind.
        model.catch_up(&store, &TopicKey::new(&org, &app, LogKind::Access));
        model.query(&org, &app, from_ms, to_ms, step_ms, top)
    })
    .await
    .map_err(ApiError::internal)?;
    answer.map(Json).map_err(|error| ApiError::bad_query(error.to_string()))
}
