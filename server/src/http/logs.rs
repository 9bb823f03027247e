//! Reading logs: `GET .../logs` (a page of records as JSON),
//! `GET .../logs/live` (Server-Sent Events) and `GET .../logs/ws` (the same
//! live stream over a WebSocket).
//!
//! Live events carry a JSON array of records; the event id is the offset of
//! the last one, so a client that reconnects with `Last-Event-ID` resumes
//! right after it. The first event is an empty array, sent at once, so a
//! client knows the stream is open. Records the store can no longer return
//! (removed by retention, damaged on disk) come as an `event: gap` with
//! their offsets and the reason, never as silence.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures::{stream, Stream, StreamExt};
use serde::Deserialize;
use vigie_app::model::{LogKind, Viewer};

use super::auth::authorize;
use super::error::{ApiError, ErrorBody, PathParams, QueryParams};
use super::ingest::now_ns;
use super::live::{self, LiveItem, LiveSelection};
use super::AppState;
use crate::audit;
use crate::catalog::Permission;
use crate::query::search::{search, Order, SearchPage, SearchRequest};
use crate::query::time_bound::parse_time_bound;
use crate::query::CompiledFilter;
use crate::store::{Gap, StoredRecord, TopicKey, READ_CHUNK};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// `service` (default), `access` or `audit`.
    pub kind: Option<String>,
    /// Oldest time to return: RFC 3339, `now`, or back from now (`15m`, `2d`).
    pub since: Option<String>,
    /// Newest time to return, same forms.
    pub until: Option<String>,
    /// A filter in the syntax of `docs/QUERY.md`.
    pub q: Option<String>,
    /// `desc` (newest first) or `asc` (oldest first). Default: `asc` when
    /// `since` or `from` is given, else `desc`.
    pub order: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<u64>,
    /// First offset to return (oldest first); for the live stream, where it starts.
    pub from: Option<u64>,
    pub limit: Option<usize>,
    /// `json` (default), `ndjson` or `text`.
    pub format: Option<String>,
}

/// A query's parts, checked: each mistake is a 400 that names the parameter.
pub(crate) struct Checked {
    pub key: TopicKey,
    pub since_ns: Option<i64>,
    pub until_ns: Option<i64>,
    pub filter: CompiledFilter,
}

pub(crate) fn check(key: TopicKey, query: &LogsQuery) -> Result<Checked, ApiError> {
    let now = now_ns();
    let bound = |name: &str, text: &Option<String>| {
        text.as_deref()
            .map(|text| parse_time_bound(text, now).map_err(|error| ApiError::bad_query(format!("{name}: {error}"))))
            .transpose()
    };
    let since_ns = bound("since", &query.since)?;
    let until_ns = bound("until", &query.until)?;
    if let (Some(since), Some(until)) = (since_ns, until_ns) {
        if since > until {
            return Err(ApiError::bad_query("since is after until: swap them"));
        }
    }
    let filter = CompiledFilter::parse(query.q.as_deref().unwrap_or_default()).map_err(|error| {
        let mut api = ApiError::bad_query(format!("q: {error}"));
        api.details = Some(serde_json::json!({ "position": error.position, "expected": error.expected }));
        api
    })?;
    Ok(Checked { key, since_ns, until_ns, filter })
}

/// The topic of an app's logs of the asked kind. Audit records belong to
/// the org, not to an app.
pub fn app_topic(org: &str, app: &str, kind: Option<&str>) -> Result<TopicKey, ApiError> {
    let kind = match kind {
        None => LogKind::Service,
        Some(text) => LogKind::parse(text)
            .ok_or_else(|| ApiError::bad_query(format!("unknown kind \"{text}\": use service or access")))?,
    };
    if kind == LogKind::Audit {
        return Err(ApiError::bad_query(format!(
            "audit logs belong to the organisation: read them at /api/v1/orgs/{org}/audit"
        )));
    }
    Ok(TopicKey::new(org, app, kind))
}

/// A page of records as `GET .../logs` and `GET .../audit` answer it in
/// JSON: the document's description of what [`page`] writes.
#[derive(Debug, utoipa::ToSchema)]
pub struct LogsPage {
    /// Oldest or newest first, as asked.
    pub records: Vec<RecordBody>,
    /// The `cursor` of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
    /// Offsets in the range that the store could not return.
    pub gaps: Vec<GapBody>,
}

/// One record: `offset` and `ts_ns`, then the fields of what was logged.
#[derive(Debug, utoipa::ToSchema)]
pub struct RecordBody {
    pub offset: u64,
    /// When it happened, in ns since the Unix epoch.
    pub ts_ns: i64,
}

/// Records the store could not return, and why.
#[derive(Debug, utoipa::ToSchema)]
pub struct GapBody {
    pub from_offset: u64,
    /// The first offset after the gap.
    pub to_offset: u64,
    /// `removed by retention`, `lost to damage on disk` or `unreadable now`.
    pub reason: String,
}

/// A page of an app's records, with the cursor of the next page.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{app}/logs", tag = "logs",
    params(("org" = String, Path), ("app" = String, Path), LogsQuery),
    responses(
        (status = 200, description = "A page of records: JSON, or NDJSON or text by `format`", content(
            (LogsPage = "application/json"),
            (String = "application/x-ndjson"),
            (String = "text/plain"),
        )),
        (status = 400, description = "A bad parameter, named in `error`", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such app in the token's org", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn get_logs(
    State(state): State<AppState>,
    PathParams((org, app)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<LogsQuery>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read)?;
    page(&state, app_topic(&org, &app, query.kind.as_deref())?, query).await
}

/// The org's audit records (who did what, when, from where), read like logs. Needs `admin`.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/audit", tag = "admin",
    params(("org" = String, Path), LogsQuery),
    responses(
        (status = 200, description = "A page of audit records: JSON, or NDJSON or text by `format`", content(
            (LogsPage = "application/json"),
            (String = "application/x-ndjson"),
            (String = "text/plain"),
        )),
        (status = 400, description = "A bad parameter, named in `error`", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token is not `admin`", body = ErrorBody),
        (status = 404, description = "Not the token's org", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn get_audit(
    State(state): State<AppState>,
    PathParams(org): PathParams<String>,
    QueryParams(query): QueryParams<LogsQuery>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &peer, &org, None, Permission::Admin)?;
    page(&state, audit::topic(&org), query).await
}

/// Follow an app's logs as Server-Sent Events: `since` replays a range first; `Last-Event-ID` resumes.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{app}/logs/live", tag = "logs",
    params(("org" = String, Path), ("app" = String, Path), LogsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume right after this offset")),
    responses(
        (status = 200, description = "Events whose data is a JSON array of records; `event: gap` for missing offsets", content_type = "text/event-stream"),
        (status = 401, description = "No token, or an unknown or revoked one"),
        (status = 404, description = "No such app in the token's org"),
    ),
    security(("token" = [])))]
pub async fn live_logs(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read)?;
    live(&state, app_topic(&org, &app, query.kind.as_deref())?, query, &headers)
}

/// The console's live stream, `GET /bff/orgs/{org}/apps/{app}/live`: the
/// browser's EventSource cannot send a token, so the console's session
/// stands for it; an org the viewer is not a member of is a 404, as a
/// missing one.
pub async fn console_live_logs(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
    viewer: Option<axum::Extension<Viewer>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    super::session::console_viewer(&state, viewer, &org, &app)?;
    live(&state, app_topic(&org, &app, query.kind.as_deref())?, query, &headers)
}

/// The most records the console asks for at once when it loads a range.
pub const CONSOLE_CHUNK: usize = 10_000;

/// `GET /bff/orgs/{org}/apps/{app}/records`: the console's way to load a
/// replayed range past its first paint, oldest first, in chunks of up to
/// [`CONSOLE_CHUNK`] records: `{"records":[…],"next_cursor":…}`. Scoped to
/// the signed-in viewer like every console route.
pub async fn console_records(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
    viewer: Option<axum::Extension<Viewer>>,
) -> Result<Response, ApiError> {
    super::session::console_viewer(&state, viewer, &org, &app)?;
    // The range as the page's URL has it, date-time picker values included.
    let as_utc = |bound: Option<String>| bound.map(|text| crate::console::picker_time_as_utc(&text).into_owned());
    let query = LogsQuery { since: as_utc(query.since), until: as_utc(query.until), ..query };
    let checked = check(app_topic(&org, &app, query.kind.as_deref())?, &query)?;
    let limit = page_limit(query.limit, CONSOLE_CHUNK, CONSOLE_CHUNK)?;
    let page = search_off_runtime(&state, checked, Order::OldestFirst, query.cursor.or(query.from), limit).await?;
    let body = format!(
        "{{\"records\":{},\"next_cursor\":{}}}",
        records_json(&page.records),
        page.next_cursor.map_or("null".to_string(), |cursor| cursor.to_string())
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `limit` as asked, or `default`; a 400 outside `1..=max`.
fn page_limit(asked: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    Some(asked.unwrap_or(default))
        .filter(|limit| (1..=max).contains(limit))
        .ok_or_else(|| ApiError::bad_query(format!("limit must be between 1 and {max}")))
}

/// One page of a checked query, read on a blocking thread.
async fn search_off_runtime(
    state: &AppState,
    checked: Checked,
    order: Order,
    cursor: Option<u64>,
    limit: usize,
) -> Result<SearchPage, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let request = SearchRequest {
            key: &checked.key,
            since_ns: checked.since_ns,
            until_ns: checked.until_ns,
            filter: &checked.filter,
            order,
            cursor,
            limit,
        };
        search(&store, &request)
    })
    .await
    .map_err(ApiError::internal)
}

async fn page(state: &AppState, key: TopicKey, query: LogsQuery) -> Result<Response, ApiError> {
    let checked = check(key, &query)?;
    let limit = page_limit(query.limit, 100, READ_CHUNK)?;
    let order = match query.order.as_deref() {
        Some("asc") => Order::OldestFirst,
        Some("desc") => Order::NewestFirst,
        None if query.since.is_some() || query.from.is_some() => Order::OldestFirst,
        None => Order::NewestFirst,
        Some(other) => return Err(ApiError::bad_query(format!("order \"{other}\": use asc or desc"))),
    };
    let format = query.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "ndjson" | "text") {
        return Err(ApiError::bad_query(format!("format \"{format}\": use json, ndjson or text")));
    }
    let page = search_off_runtime(state, checked, order, query.cursor.or(query.from), limit).await?;

    let cursor_header = page.next_cursor.map(|cursor| cursor.to_string()).unwrap_or_default();
    let (content_type, body) = match format {
        "ndjson" => ("application/x-ndjson", page.records.iter().map(|r| record_json(r) + "\n").collect::<String>()),
        "text" => ("text/plain; charset=utf-8", page.records.iter().map(|r| record_text(r) + "\n").collect::<String>()),
        _ => (
            "application/json",
            format!(
                "{{\"records\":{},\"next_cursor\":{},\"gaps\":{}}}",
                records_json(&page.records),
                page.next_cursor.map_or("null".to_string(), |cursor| format!("\"{cursor}\"")),
                gaps_json(&page.gaps)
            ),
        ),
    };
    Ok((
        [(header::CONTENT_TYPE, content_type), (header::HeaderName::from_static("vigie-next-cursor"), &cursor_header)],
        body,
    )
        .into_response())
}

/// Checks the query and opens the topic's tail where the client asked:
/// right after `Last-Event-ID` (or the WebSocket's `from`), at `since`
/// (replay then live), or at the end.
fn live_items(
    state: &AppState,
    key: TopicKey,
    query: LogsQuery,
    headers: &HeaderMap,
) -> Result<impl Stream<Item = LiveItem> + Send + use<>, ApiError> {
    let checked = check(key, &query)?;
    let key = checked.key.clone();
    let last_event_id = headers.get("last-event-id").and_then(|value| value.to_str().ok());
    let from = match last_event_id {
        Some(id) => Some(
            id.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::bad_query(format!("Last-Event-ID \"{id}\" is not an offset")))?
                + 1,
        ),
        // Replay then live: from the first record of `since` on.
        None => query
            .from
            .or_else(|| checked.since_ns.map(|since| state.store.offsets_for_times(&key, Some(since), None).start)),
    };
    let selection = LiveSelection { filter: checked.filter, since_ns: checked.since_ns, until_ns: checked.until_ns };
    let items = live::follow(state.store.clone(), state.live_batches.clone(), key, from, selection)
        .map_err(ApiError::internal)?;
    Ok(items.take_until(state.shutdown.clone().fired()))
}

/// The live stream as Server-Sent Events. Each batch goes out as the
/// bytes [`LiveItem`] encoded once (shared by every follower of the same
/// batch), so the body is written without axum's `Sse`, which re-encodes
/// every event for every client.
fn live(state: &AppState, key: TopicKey, query: LogsQuery, headers: &HeaderMap) -> Result<Response, ApiError> {
    let items = live_items(state, key, query, headers)?;
    // `retry` asks the browser to reconnect after 1 s rather than its
    // default 3 s; the empty array tells the client the stream is open.
    let opened = stream::once(async { Some(Bytes::from_static(b"retry: 1000\ndata: []\n\n")) });
    // The id is the last offset the client has been told about, so a
    // reconnect resumes right after it. `None` marks the end.
    let events = opened.chain(items.map(|item| Some(item.sse))).chain(stream::once(async { None }));
    // A comment every 15 s keeps proxies from closing an idle stream.
    let keep_alive = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(15),
        Duration::from_secs(15),
    ))
    .map(|_| Some(Bytes::from_static(b":\n\n")));
    let body = stream::select(events, keep_alive)
        .take_while(|chunk| std::future::ready(chunk.is_some()))
        .map(|chunk| Ok::<_, Infallible>(chunk.unwrap_or_default()));
    Ok(([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(body))
        .into_response())
}

/// Follow an app's logs over a WebSocket: text messages `{"type":"records"|"gap","last_offset":N,"data":[...]}`.
///
/// The first message is `{"type":"open","next_offset":N}`. To resume after
/// a disconnect, reconnect with `from` = the last `last_offset` + 1.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{app}/logs/ws", tag = "logs",
    params(("org" = String, Path), ("app" = String, Path), LogsQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "A bad parameter, or not a WebSocket upgrade"),
        (status = 401, description = "No token, or an unknown or revoked one"),
        (status = 404, description = "No such app in the token's org"),
    ),
    security(("token" = [])))]
pub async fn live_logs_ws(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
    headers: HeaderMap,
    peer: ConnectInfo<SocketAddr>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read)?;
    let key = app_topic(&org, &app, query.kind.as_deref())?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::bad_query(format!("{rejection}: open it as a WebSocket, or read .../logs/live as Server-Sent Events"))
    })?;
    let next_offset = state.store.next_offset(&key);
    let items = live_items(&state, key, query, &headers)?;
    Ok(upgrade.on_upgrade(move |socket| follow_over_websocket(socket, items, next_offset)))
}

async fn follow_over_websocket(mut socket: WebSocket, items: impl Stream<Item = LiveItem> + Send, next_offset: u64) {
    let opened = format!("{{\"type\":\"open\",\"next_offset\":{next_offset}}}");
    if socket.send(Message::Text(opened.into())).await.is_err() {
        return;
    }
    let mut items = std::pin::pin!(items);
    loop {
        tokio::select! {
            item = items.next() => {
                let Some(item) = item else { break };
                let kind = if item.gap { "gap" } else { "records" };
                let text = format!(
                    "{{\"type\":\"{kind}\",\"last_offset\":{},\"data\":{}}}",
                    item.last_offset,
                    item.json()
                );
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                // The client closed, or the connection dropped.
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                // Pings are answered by axum; anything else is ignored.
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// One record as a human reads it: time (UTC), then the instance with the
/// level and message of a service line or the request of an access line,
/// or who did what of an audit record.
pub fn record_text(record: &StoredRecord) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(record.ts_ns as i128)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| record.ts_ns.to_string());
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&record.payload) else {
        return format!("{time} {}", record.payload);
    };
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let instance = text("instance");
    if value.get("action").is_some() {
        return format!("{time} {} {} {} from {}", text("actor"), text("action"), text("target"), text("ip"));
    }
    if value.get("status").is_some() {
        format!(
            "{time} {instance} {} {}{} {} {}ms {} {}",
            text("method"),
            text("path"),
            value
                .get("query")
                .and_then(|q| q.as_str())
                .filter(|q| !q.is_empty())
                .map(|q| format!("?{q}"))
                .unwrap_or_default(),
            value["status"],
            value.get("duration_ms").map(|d| d.to_string()).unwrap_or_default(),
            text("client_ip"),
            text("country"),
        )
    } else {
        format!("{time} {instance} {} {}", text("level").to_uppercase(), text("message"))
    }
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

pub fn record_json(record: &StoredRecord) -> String {
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
