//! `GET /api/v1/orgs/{org}/apps/{app}/logs/stats`: counts of an app's lines
//! in one call, without paging through them (`crate::query::stats`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use vigie_app::model::LogKind;

use super::auth::authorize;
use super::error::{ApiError, ErrorBody, PathParams, QueryParams};
use super::logs::{app_topic, check, GapBody, LogsQuery};
use super::{off_runtime, AppState};
use crate::catalog::Permission;
use crate::query::stats::{count, Bucket, Split, StatsRequest, TopValue, MAX_BUCKETS, MAX_TOP};
use crate::query::time_bound::parse_duration_ns;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogStatsQuery {
    /// `service` (default) or `access`.
    pub kind: Option<String>,
    /// Oldest time counted: RFC 3339, `now`, or back from now (`15m`, `2d`).
    pub since: Option<String>,
    /// Newest time counted, same forms.
    pub until: Option<String>,
    /// A filter in the syntax of `docs/QUERY.md`.
    pub q: Option<String>,
    /// Bucket width (`10s`, `1m`, `1h`): counts per bucket, split by level
    /// (service) or status class (access). At most 10,000 buckets.
    pub step: Option<String>,
    /// A field whose most frequent values are counted (`path`, `country`, `route`, …).
    pub by: Option<String>,
    /// How many values of `by` to list (default 10, at most 1,000).
    pub top: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogStats {
    /// Lines of the range that match `q`.
    pub total: u64,
    /// The bucket width in seconds, when `step` was given.
    pub step_s: Option<f64>,
    /// `level` or `status_class`: what each bucket's `counts` are keyed by.
    pub split: &'static str,
    /// Oldest first; buckets without a line are left out.
    pub buckets: Vec<Bucket>,
    /// The field of `top`, when `by` was given.
    pub by: Option<String>,
    /// Most frequent first.
    pub top: Vec<TopValue>,
    /// Matching lines whose `by` value is not listed in `top` (or is missing).
    pub top_other: u64,
    /// Offsets in the range that the store could not return.
    #[schema(value_type = Vec<GapBody>)]
    pub gaps: serde_json::Value,
}

/// Count an app's lines: per time bucket (split by level or status class) and the top values of a field, in one call.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{app}/logs/stats", tag = "logs",
    params(("org" = String, Path), ("app" = String, Path), LogStatsQuery),
    responses(
        (status = 200, description = "The counts", body = LogStats),
        (status = 400, description = "A bad parameter, named in `error`", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such app in the token's org", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn log_stats(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<LogStatsQuery>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Json<LogStats>, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read).await?;
    let key = app_topic(&org, &app, query.kind.as_deref())?;
    let range = LogsQuery { since: query.since, until: query.until, q: query.q, ..LogsQuery::default() };
    let checked = check(key, &range)?;
    let step_ns =
        match query.step.as_deref() {
            None => None,
            Some(text) => Some(parse_duration_ns(text.trim()).filter(|step| *step > 0).ok_or_else(|| {
                ApiError::bad_query(format!("step: \"{text}\" is not a duration such as 10s, 1m, 1h"))
            })?),
        };
    if let Some(step) = step_ns {
        let since = checked.since_ns.ok_or_else(|| ApiError::bad_query("step needs since: the range to cut"))?;
        let until = checked.until_ns.unwrap_or_else(crate::clock::now_ns);
        if (until - since) / step > MAX_BUCKETS {
            return Err(ApiError::bad_query(format!(
                "step: the range holds more than {MAX_BUCKETS} steps of {}: use a wider step",
                query.step.unwrap_or_default()
            )));
        }
    }
    let top = query.top.unwrap_or(10);
    if !(1..=MAX_TOP).contains(&top) {
        return Err(ApiError::bad_query(format!("top must be between 1 and {MAX_TOP}")));
    }
    let split = if checked.key.kind == LogKind::Access { Split::StatusClass } else { Split::Level };
    let store = state.store.clone();
    let by = query.by.filter(|field| !field.is_empty());
    let field = by.clone();
    let stats = off_runtime(move || {
        let fields: Vec<&str> = field.as_deref().into_iter().collect();
        let request = StatsRequest {
            key: &checked.key,
            since_ns: checked.since_ns,
            until_ns: checked.until_ns,
            filter: &checked.filter,
            step_ns,
            split,
            by: &fields,
            discover: 0,
            top,
        };
        Ok(count(&store, &request))
    })
    .await?;
    let gaps = crate::query::encode::gaps_value(&stats.gaps);
    let (top, top_other) = match stats.fields.into_iter().next() {
        Some(field) => (field.top, field.other),
        None => (Vec::new(), 0),
    };
    Ok(Json(LogStats {
        total: stats.total,
        step_s: step_ns.map(|step| step as f64 / 1e9),
        split: if split == Split::Level { "level" } else { "status_class" },
        buckets: stats.buckets,
        by,
        top,
        top_other,
        gaps,
    }))
}
