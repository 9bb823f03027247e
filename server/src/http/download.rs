//! `GET /bff/orgs/{org}/apps/{app}/download`: the console's "Download" of
//! what the logs page shows (its `kind`, `q`, `since`, `until`), as NDJSON
//! (`format=ndjson`, the default) or human text (`format=text`).
//!
//! The file is streamed as it is read, page by page, oldest first, through
//! the console's port: the next page is read only once the browser has
//! taken the last, so a slow or cancelled download holds no thread and
//! fills no memory, and the browser's own download bar shows progress and
//! offers to cancel. A view without `until` ends at the time of the
//! request, so a download of a live view finishes.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::{stream, StreamExt};
use vigie_app::model::Viewer;
use vigie_app::port::RecordsFormat;

use super::error::ApiError;
use super::logs::{app_topic, check, console_view, LogsQuery};
use super::session::console_viewer;
use super::AppState;
use crate::clock::now_ns;
use crate::store::READ_CHUNK;

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
    // The range ends when the download starts, so it has an end.
    let until_ns = checked.until_ns.unwrap_or_else(now_ns);
    let filename = format!(
        "{org}-{app}-{}-{}.{}",
        checked.key.kind.as_str(),
        until_ns / 1_000_000_000,
        if text { "txt" } else { "ndjson" }
    );
    let mut view = console_view(&query)?;
    view.until = time::OffsetDateTime::from_unix_timestamp_nanos(until_ns as i128)
        .ok()
        .and_then(|until| until.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or(view.until);
    let format = if text { RecordsFormat::Text } else { RecordsFormat::Ndjson };
    // Page by page through the console's port, each page read when the
    // browser has taken the last: a slow download holds no thread.
    let console = state.console.clone();
    let pages = stream::unfold(Some(None), move |cursor: Option<Option<u64>>| {
        let (console, org, app, view) = (console.clone(), org.clone(), app.clone(), view.clone());
        async move {
            let cursor = cursor?;
            match console.records(org, app, view, cursor, READ_CHUNK, format).await {
                Ok(chunk) => Some((Ok(Bytes::from(chunk.body)), chunk.next_cursor.map(Some))),
                Err(refused) => {
                    tracing::error!(?refused, "a download stopped: its next page could not be read");
                    Some((Err(std::io::Error::other("the next page could not be read")), None))
                }
            }
        }
    })
    .filter(|page| std::future::ready(!matches!(page, Ok(bytes) if bytes.is_empty())));
    let content_type = if text { "text/plain; charset=utf-8" } else { "application/x-ndjson" };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(pages),
    )
        .into_response())
}
