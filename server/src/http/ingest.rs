//! `POST /api/v1/orgs/{org}/apps/{app}/logs`: log lines of an app.
//!
//! `kind=service` (the default): NDJSON (`content-type:
//! application/x-ndjson`) or plain text (`text/plain`). `kind=access`: NDJSON
//! or the Combined Log Format as `text/plain`. Bodies may be gzipped
//! (`content-encoding: gzip`).
//!
//! The valid lines of a batch are always stored. When some lines are bad the
//! answer is `422` and lists them by number with the reason; the others are
//! stored and must not be sent again. A batch over the app's rate is refused
//! whole with `429` and `retry-after`: send it again then.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use vigie_app::model::LogKind;

use super::auth::authorize;
use super::error::{ApiError, ErrorBody, PathParams, QueryParams};
use super::logs::app_topic;
use super::AppState;
use crate::catalog::Permission;
use crate::ingest::access::{parse_access_body, Defaults};
use crate::ingest::geoip::GeoIp;
use crate::ingest::limits::{IngestLimits, RateLimiter};
use crate::ingest::lines::{parse_body_stored, LineFormat, RejectedLine};

/// Largest request body accepted (once unzipped), in bytes.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// What ingest needs besides the store.
#[derive(Clone)]
pub struct IngestState {
    pub limits: IngestLimits,
    pub rate: Arc<RateLimiter>,
    pub geoip: Option<Arc<GeoIp>>,
}

impl IngestState {
    pub fn new(limits: IngestLimits, geoip: Option<Arc<GeoIp>>) -> IngestState {
        IngestState { limits, rate: Arc::new(RateLimiter::new(limits.lines_per_sec)), geoip }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestQuery {
    /// `service` (default) or `access`.
    pub kind: Option<String>,
    /// Instance to record for lines that name none.
    pub instance: Option<String>,
    /// Access logs: the host to record for lines that name none.
    pub host: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestReply {
    pub accepted: usize,
    /// Offsets given to the accepted lines, in order (absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_offset: Option<u64>,
    pub rejected: Vec<RejectedLine>,
    /// With `422`: how many lines were rejected, and that the others are stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Send log lines: service logs as NDJSON or text, access logs as NDJSON or Combined Log Format.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/apps/{app}/logs", tag = "ingest",
    params(("org" = String, Path), ("app" = String, Path), IngestQuery),
    request_body(description = "Lines, one per line: JSON objects, or text (service logs) or the Combined Log Format (access logs); gzip accepted",
        content((String = "application/x-ndjson"), (String = "text/plain"))),
    responses(
        (status = 200, description = "All lines stored", body = IngestReply),
        (status = 400, description = "A bad parameter, named in `error`; nothing stored", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token may not ingest", body = ErrorBody),
        (status = 404, description = "No such app in the token's org", body = ErrorBody),
        (status = 413, description = "Over the body or batch limit; nothing stored", body = ErrorBody),
        (status = 415, description = "A content type other than NDJSON or text", body = ErrorBody),
        (status = 422, description = "Some lines rejected (listed); the others stored", body = IngestReply),
        (status = 429, description = "Over the app's rate; nothing stored; retry after `retry-after`", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn post_logs(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<IngestQuery>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Ingest)?;
    let key = app_topic(&org, &app, query.kind.as_deref())?;
    let format = line_format(&headers)?;
    let body = to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {} MiB (once unzipped): send the lines in smaller batches", MAX_BODY_BYTES >> 20),
        )
    })?;
    let lines = memchr::memchr_iter(b'\n', &body).count() + usize::from(!body.is_empty() && !body.ends_with(b"\n"));
    let limits = state.ingest.limits;
    if lines > limits.batch_lines {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the batch has {lines} lines; the limit is {}: send smaller batches", limits.batch_lines),
        ));
    }
    if let Err(wait) = state.ingest.rate.take(&org, &app, lines) {
        let seconds = wait.as_secs() + 1;
        let error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "app \"{app}\" is over its {} lines per second: nothing of this batch was stored; send it again in {seconds} s",
                limits.lines_per_sec
            ),
        );
        return Ok(([(header::RETRY_AFTER, seconds.to_string())], error).into_response());
    }

    let instance = query.instance.as_deref().unwrap_or("default");
    let now = now_ns();
    let (payloads, rejected) = if key.kind == LogKind::Access {
        let defaults = Defaults { instance, host: query.host.as_deref().unwrap_or_default(), now_ns: now };
        let parsed = parse_access_body(&body, format, &defaults, state.ingest.geoip.as_deref());
        (serialise(&parsed.accepted)?, parsed.rejected)
    } else {
        let parsed = parse_body_stored(&body, format, instance, now);
        (parsed.accepted, parsed.rejected)
    };
    let accepted = payloads.len();
    let offsets = if payloads.is_empty() {
        None
    } else {
        let store = state.store.clone();
        let range = tokio::task::spawn_blocking(move || store.append_batch(&key, payloads))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        Some(range)
    };

    let error = (!rejected.is_empty()).then(|| {
        format!(
            "{} of {} lines were rejected (listed in \"rejected\"); the other {accepted} are stored: do not send them again",
            rejected.len(),
            rejected.len() + accepted,
        )
    });
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let reply = IngestReply {
        accepted,
        first_offset: offsets.as_ref().map(|range| range.start),
        last_offset: offsets.as_ref().map(|range| range.end - 1),
        rejected,
        error,
    };
    Ok((status, Json(reply)).into_response())
}

fn serialise<T: Serialize>(lines: &[(i64, T)]) -> Result<Vec<(i64, String)>, ApiError> {
    lines
        .iter()
        .map(|(ts_ns, line)| serde_json::to_string(line).map(|payload| (*ts_ns, payload)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)
}

fn line_format(headers: &HeaderMap) -> Result<LineFormat, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("text/plain");
    let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/json" => {
            Ok(LineFormat::Ndjson)
        }
        "text/plain" | "" => Ok(LineFormat::Text),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("cannot read \"{other}\": send application/x-ndjson (one JSON object per line) or text/plain"),
        )),
    }
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as i64)
        .unwrap_or_default()
}
