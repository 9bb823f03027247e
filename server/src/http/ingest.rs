//! `POST /api/v1/orgs/{org}/apps/{app}/logs`: service log lines, as NDJSON
//! (`content-type: application/x-ndjson`) or plain text (`text/plain`).
//!
//! The valid lines of a batch are always stored. When some lines are bad the
//! answer is `422` and lists them by number with the reason; the others are
//! stored and must not be sent again.

use axum::body::{to_bytes, Body};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vigie_app::model::LogKind;

use super::error::ApiError;
use super::AppState;
use crate::ingest::lines::{parse_body, LineFormat, RejectedLine};
use crate::store::TopicKey;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct IngestQuery {
    /// Instance to record for lines that name none.
    pub instance: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct IngestReply {
    pub accepted: usize,
    /// Offsets given to the accepted lines, in order (absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_offset: Option<u64>,
    pub rejected: Vec<RejectedLine>,
}

pub async fn post_service_logs(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<IngestQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    if state.catalog.app(&org, &app).is_none() {
        return Err(ApiError::no_such_app(&org, &app));
    }
    let format = line_format(&headers)?;
    let body = to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {} MiB: send the lines in smaller batches", MAX_BODY_BYTES >> 20),
        )
    })?;
    let instance = query.instance.as_deref().unwrap_or("default");
    let parsed = parse_body(&body, format, instance, now_ns());

    let payloads = parsed
        .accepted
        .iter()
        .map(|(ts_ns, line)| serde_json::to_string(line).map(|payload| (*ts_ns, payload)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    let offsets = if payloads.is_empty() {
        None
    } else {
        let key = TopicKey::new(&org, &app, LogKind::Service);
        let store = state.store.clone();
        let range = tokio::task::spawn_blocking(move || store.append_batch(&key, payloads))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        Some(range)
    };

    let reply = IngestReply {
        accepted: parsed.accepted.len(),
        first_offset: offsets.as_ref().map(|range| range.start),
        last_offset: offsets.as_ref().map(|range| range.end - 1),
        rejected: parsed.rejected,
    };
    if reply.rejected.is_empty() {
        return Ok((StatusCode::OK, Json(json!(reply))));
    }
    let mut body = json!(reply);
    body["error"] = json!(format!(
        "{} of {} lines were rejected (listed in \"rejected\"); the other {} are stored: do not send them again",
        reply.rejected.len(),
        reply.rejected.len() + reply.accepted,
        reply.accepted
    ));
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)))
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
