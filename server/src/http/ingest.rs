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

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::authorize;
use super::error::{ApiError, ErrorBody, PathParams, QueryParams};
use super::logs::app_topic;
use super::AppState;
use crate::catalog::Permission;
use crate::ingest::http::{store_batch, Batch, Refused, MAX_BODY_BYTES};
use crate::ingest::lines::{LineFormat, RejectedLine};

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
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Ingest).await?;
    let key = app_topic(&org, &app, query.kind.as_deref())?;
    let format = line_format(&headers)?;
    let body = to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {} MiB (once unzipped): send the lines in smaller batches", MAX_BODY_BYTES >> 20),
        )
    })?;
    let batch = Batch {
        key,
        format,
        body,
        instance: query.instance.unwrap_or_else(|| "default".to_string()),
        host: query.host.unwrap_or_default(),
    };
    let stored = match store_batch(&state.store, &state.ingest, batch).await {
        Ok(stored) => stored,
        Err(refused @ Refused::TooManyLines { .. }) => {
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, refused.to_string()))
        }
        Err(refused @ Refused::OverRate { retry_after_secs, .. }) => {
            let error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, refused.to_string());
            return Ok(([(header::RETRY_AFTER, retry_after_secs.to_string())], error).into_response());
        }
        Err(Refused::Store(error)) => return Err(error.into()),
    };
    let (accepted, offsets, rejected) = (stored.accepted, stored.offsets, stored.rejected);

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
