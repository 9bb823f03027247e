//! `GET /bff/orgs/{org}/apps/{app}/download`: the console's "Download" of
//! what the logs page shows (its `kind`, `q`, `since`, `until`), as NDJSON
//! (`format=ndjson`, the default) or human text (`format=text`).
//!
//! The file is streamed as it is read, page by page, oldest first, through
//! a small channel: a slow or cancelled download stops the reading instead
//! of filling memory, and the browser's own download bar shows progress
//! and offers to cancel. A view without `until` ends at the time of the
//! request, so a download of a live view finishes.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use vigie_app::model::Viewer;

use super::error::ApiError;
use super::logs::{app_topic, check, record_json, record_text, LogsQuery};
use super::session::console_viewer;
use super::AppState;
use crate::clock::now_ns;
use crate::query::search::{search, Order, SearchRequest};
use crate::store::READ_CHUNK;

/// Pages read ahead of what the browser has taken.
const PAGES_AHEAD: usize = 4;

pub async fn download(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
    viewer: Option<Extension<Viewer>>,
) -> Result<Response, ApiError> {
    console_viewer(&state, viewer, &org, &app).await?;
    let text = match query.format.as_deref() {
        None | Some("ndjson") => false,
        Some("text") => true,
        Some(other) => return Err(ApiError::bad_query(format!("format \"{other}\": use ndjson or text"))),
    };
    let key = app_topic(&org, &app, query.kind.as_deref())?;
    let checked = check(key, &query)?;
    let until_ns = checked.until_ns.unwrap_or_else(now_ns);
    let filename = format!(
        "{org}-{app}-{}-{}.{}",
        checked.key.kind.as_str(),
        until_ns / 1_000_000_000,
        if text { "txt" } else { "ndjson" }
    );

    let (pages, received) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(PAGES_AHEAD);
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut cursor = None;
        loop {
            let request = SearchRequest {
                key: &checked.key,
                since_ns: checked.since_ns,
                until_ns: Some(until_ns),
                filter: &checked.filter,
                order: Order::OldestFirst,
                cursor,
                limit: READ_CHUNK,
            };
            let page = search(&store, &request);
            let mut chunk = String::with_capacity(page.records.iter().map(|r| r.payload.len() + 48).sum());
            for record in &page.records {
                chunk.push_str(&if text { record_text(record) } else { record_json(record) });
                chunk.push('\n');
            }
            // A closed channel is a download the browser cancelled.
            if !chunk.is_empty() && pages.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                return;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return,
            }
        }
    });
    let content_type = if text { "text/plain; charset=utf-8" } else { "application/x-ndjson" };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(received)),
    )
        .into_response())
}
