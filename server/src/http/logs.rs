//! Reading logs: `GET .../logs` (a page of records as JSON) and
//! `GET .../logs/live` (Server-Sent Events).
//!
//! Live events carry a JSON array of records; the event id is the offset of
//! the last one, so a client that reconnects with `Last-Event-ID` resumes
//! right after it. The first event is an empty array, sent at once, so a
//! client knows the stream is open. Records the store can no longer return
//! (removed by retention, damaged on disk) come as an `event: gap` with
//! their offsets and the reason, never as silence.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{stream, Stream, StreamExt};
use serde::Deserialize;
use vigie_app::model::LogKind;

use super::error::ApiError;
use super::AppState;
use crate::store::{Gap, ReadBatch, StoredRecord, TopicKey, READ_CHUNK};

#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    /// `service` (default), `access` or `audit`.
    pub kind: Option<String>,
    /// First offset to return; without it, the newest `limit` records.
    pub from: Option<u64>,
    pub limit: Option<usize>,
}

fn topic_for(state: &AppState, org: &str, app: &str, kind: Option<&str>) -> Result<TopicKey, ApiError> {
    if state.catalog.app(org, app).is_none() {
        return Err(ApiError::no_such_app(org, app));
    }
    let kind = match kind {
        None => LogKind::Service,
        Some(text) => LogKind::parse(text)
            .ok_or_else(|| ApiError::bad_query(format!("unknown kind \"{text}\": use service, access or audit")))?,
    };
    Ok(TopicKey::new(org, app, kind))
}

pub async fn get_logs(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let key = topic_for(&state, &org, &app, query.kind.as_deref())?;
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > READ_CHUNK {
        return Err(ApiError::bad_query(format!("limit must be between 1 and {READ_CHUNK}")));
    }
    let batch = match query.from {
        Some(from) => state.store.read(&key, from, limit),
        None => {
            let records = state.store.latest(&key, limit);
            let next_offset = records.last().map_or_else(|| state.store.next_offset(&key), |r| r.offset + 1);
            ReadBatch { records, next_offset, gaps: Vec::new() }
        }
    };
    let body = format!(
        "{{\"records\":{},\"next_offset\":{},\"gaps\":{}}}",
        records_json(&batch.records),
        batch.next_offset,
        gaps_json(&batch.gaps)
    );
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub async fn live_logs(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let key = topic_for(&state, &org, &app, query.kind.as_deref())?;
    let last_event_id = headers.get("last-event-id").and_then(|value| value.to_str().ok());
    let from = match last_event_id {
        Some(id) => Some(
            id.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::bad_query(format!("Last-Event-ID \"{id}\" is not an offset")))?
                + 1,
        ),
        None => query.from,
    };
    // `retry` asks the browser to reconnect after 1 s rather than its default 3 s.
    let opened = stream::once(async { Event::default().retry(Duration::from_secs(1)).data("[]") });
    let tail = state.store.tail(&key, from).map_err(ApiError::internal)?;
    let records = tail.flat_map(|batch| {
        // The id is the last offset the client has been told about, so a
        // reconnect resumes right after it.
        let last = batch.next_offset.saturating_sub(1).to_string();
        let gaps = (!batch.gaps.is_empty())
            .then(|| Event::default().event("gap").id(last.clone()).data(gaps_json(&batch.gaps)));
        let records = (!batch.records.is_empty()).then(|| Event::default().id(last).data(records_json(&batch.records)));
        stream::iter(gaps.into_iter().chain(records))
    });
    let events = opened.chain(records).take_until(state.shutdown.clone().fired()).map(Ok);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A JSON array of the stretches of offsets a read could not return, and why.
pub fn gaps_json(gaps: &[Gap]) -> String {
    let gaps: Vec<serde_json::Value> = gaps
        .iter()
        .map(|gap| {
            serde_json::json!({
                "from_offset": gap.offsets.start,
                "to_offset": gap.offsets.end,
                "reason": gap.reason.as_str(),
            })
        })
        .collect();
    serde_json::Value::Array(gaps).to_string()
}

/// A JSON array of records, each its payload object with `offset` and
/// `ts_ns` first, written without re-parsing the payloads.
pub fn records_json(records: &[StoredRecord]) -> String {
    let mut out = String::with_capacity(2 + records.iter().map(|r| r.payload.len() + 40).sum::<usize>());
    out.push('[');
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&record_json(record));
    }
    out.push(']');
    out
}

fn record_json(record: &StoredRecord) -> String {
    let head = format!("{{\"offset\":{},\"ts_ns\":{}", record.offset, record.ts_ns);
    let inner = record.payload.trim().strip_prefix('{').and_then(|rest| rest.strip_suffix('}')).map(str::trim);
    match inner {
        Some("") => format!("{head}}}"),
        Some(fields) => format!("{head},{fields}}}"),
        // Not an object: keep it whole rather than lose it.
        None => format!("{head},\"payload\":{}}}", record.payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: &str) -> StoredRecord {
        StoredRecord { offset: 3, ts_ns: 9, payload: payload.into() }
    }

    #[test]
    fn record_json_puts_offset_and_time_before_the_payload_fields() {
        let json: serde_json::Value = serde_json::from_str(&records_json(&[
            record(r#"{"message":"a","level":"info"}"#),
            record("{ }"),
            record("[1]"),
        ]))
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"offset": 3, "ts_ns": 9, "message": "a", "level": "info"},
                {"offset": 3, "ts_ns": 9},
                {"offset": 3, "ts_ns": 9, "payload": [1]},
            ])
        );
    }
}
