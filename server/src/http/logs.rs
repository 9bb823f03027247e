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

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{stream, Stream, StreamExt};
use serde::Deserialize;
use vigie_app::model::{LogKind, LogView, ViewKind, Viewer};
use vigie_app::port::{FollowRequest, ReadRefusal, RecordsFormat};

use super::auth::authorize;
use super::error::{ApiError, ErrorBody, PathParams, QueryParams};
use super::live::{self, Caller, Guarded};
use super::AppState;
use crate::audit;
use crate::catalog::Permission;
use crate::clock::now_ns;
use crate::query::encode::{gaps_json, records_json};
pub use crate::query::encode::{record_json, record_text};
use crate::query::live::{follow as live_follow, LiveItem, LiveSelection};
use crate::query::search::{search, Order, SearchPage, SearchRequest};
use crate::query::time_bound::parse_time_bound;
use crate::query::CompiledFilter;
use crate::store::{TopicKey, READ_CHUNK};

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
    authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read).await?;
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
    authorize(&state, &headers, &peer, &org, None, Permission::Admin).await?;
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
    let caller = authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read).await?;
    let items = live_items(&state, app_topic(&org, &app, query.kind.as_deref())?, query, &headers).await?;
    let caller = Caller::Token { secret: caller.secret, org, app };
    let guarded = live::guard(items.map(|item| item.sse), state.catalog.clone(), caller, state.shutdown.clone());
    Ok(sse_response(live::sse_bytes(guarded)))
}

/// The console's live stream, `GET /bff/orgs/{org}/apps/{app}/live`, read
/// through the console's port: the browser's EventSource cannot send a
/// token, so the console's session stands for it (re-checked as a token
/// is); an org the viewer is not a member of is a 404, as a missing one.
pub async fn console_live_logs(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
    viewer: Option<axum::Extension<Viewer>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    super::session::console_viewer(&state, viewer, &org, &app).await?;
    let from_offset = resume_offset(&headers, query.from)?;
    let request = FollowRequest { view: console_view(&query)?, from_offset };
    let batches = state.console.follow(org.clone(), app.clone(), request).await.map_err(refusal(&org, &app))?;
    let secret = super::session::session_secret(&headers).map(str::to_string);
    let caller = Caller::Session { secret, org, app };
    let guarded = live::guard(batches.map(|batch| batch.sse), state.catalog.clone(), caller, state.shutdown.clone());
    Ok(sse_response(live::sse_bytes(guarded)))
}

/// The most records the console asks for at once when it loads a range.
pub const CONSOLE_CHUNK: usize = 10_000;

/// `GET /bff/orgs/{org}/apps/{app}/records`: the console's way to load a
/// replayed range past its first paint, oldest first, in chunks of up to
/// [`CONSOLE_CHUNK`] records: `{"records":[…],"next_cursor":…}`, read
/// through the console's port. Scoped to the signed-in viewer like every
/// console route.
pub async fn console_records(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
    viewer: Option<axum::Extension<Viewer>>,
) -> Result<Response, ApiError> {
    super::session::console_viewer(&state, viewer, &org, &app).await?;
    let limit = page_limit(query.limit, CONSOLE_CHUNK, CONSOLE_CHUNK)?;
    let view = console_view(&query)?;
    let chunk = match query.order.as_deref() {
        None | Some("asc") => {
            state
                .console
                .records(org.clone(), app.clone(), view, query.cursor.or(query.from), limit, RecordsFormat::JsonArray)
                .await
        }
        // Scrolling up: the lines just before the page's first one.
        Some("desc") => {
            let before = query.cursor.ok_or_else(|| {
                ApiError::bad_query("order=desc reads the lines before a cursor: give cursor=OFFSET".to_string())
            })?;
            state.console.older_records(org.clone(), app.clone(), view, before, limit).await
        }
        Some(other) => return Err(ApiError::bad_query(format!("unknown order \"{other}\": use asc or desc"))),
    }
    .map_err(refusal(&org, &app))?;
    let body = format!(
        "{{\"records\":{},\"next_cursor\":{}}}",
        chunk.body,
        chunk.next_cursor.map_or("null".to_string(), |cursor| cursor.to_string())
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The console's view as its stream and range URLs carry it.
pub(crate) fn console_view(query: &LogsQuery) -> Result<LogView, ApiError> {
    let kind = match query.kind.as_deref() {
        None | Some("service") => ViewKind::Service,
        Some("access") => ViewKind::Access,
        Some(other) => return Err(ApiError::bad_query(format!("unknown kind \"{other}\": use service or access"))),
    };
    Ok(LogView {
        kind,
        q: query.q.clone().unwrap_or_default(),
        since: query.since.clone().unwrap_or_default(),
        until: query.until.clone().unwrap_or_default(),
        cols: String::new(),
    })
}

/// What the console's port refused, as the API answers it.
pub(crate) fn refusal<'a>(org: &'a str, app: &'a str) -> impl Fn(ReadRefusal) -> ApiError + 'a {
    move |refused| match refused {
        ReadRefusal::NoSuchApp => ApiError::no_such_app(org, app),
        ReadRefusal::BadQuery(message) => ApiError::bad_query(message),
        ReadRefusal::Failed(error) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.0),
    }
}

/// Where a live stream resumes: right after `Last-Event-ID`, else at `from`.
fn resume_offset(headers: &HeaderMap, from: Option<u64>) -> Result<Option<u64>, ApiError> {
    match headers.get("last-event-id").map(|value| value.to_str().unwrap_or("?")) {
        Some(id) => id
            .trim()
            .parse::<u64>()
            .map(|offset| Some(offset + 1))
            .map_err(|_| ApiError::bad_query(format!("Last-Event-ID \"{id}\" is not an offset"))),
        None => Ok(from),
    }
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
async fn live_items(
    state: &AppState,
    key: TopicKey,
    query: LogsQuery,
    headers: &HeaderMap,
) -> Result<impl Stream<Item = LiveItem> + Send + use<>, ApiError> {
    let checked = check(key, &query)?;
    let from = resume_offset(headers, query.from)?;
    let (store, shared) = (state.store.clone(), state.live_batches.clone());
    // Opening a topic and finding `since` read the store: off the runtime.
    tokio::task::spawn_blocking(move || {
        let key = checked.key;
        // Replay then live: from the first record of `since` on.
        let from =
            from.or_else(|| checked.since_ns.map(|since| store.offsets_for_times(&key, Some(since), None).start));
        let selection =
            LiveSelection { filter: checked.filter, since_ns: checked.since_ns, until_ns: checked.until_ns };
        live_follow(store, shared, key, from, selection)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// A live stream's body as Server-Sent Events. Each batch goes out as the
/// bytes encoded once (shared by every follower of the same batch), so the
/// body is written without axum's `Sse`, which re-encodes every event for
/// every client.
fn sse_response(events: impl Stream<Item = Bytes> + Send + 'static) -> Response {
    // `retry` asks the browser to reconnect after 1 s rather than its
    // default 3 s; the empty array tells the client the stream is open.
    let opened = stream::once(async { Bytes::from_static(b"retry: 1000\ndata: []\n\n") });
    let body = opened.chain(events).map(Ok::<_, Infallible>);
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(body))
        .into_response()
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
    let caller = authorize(&state, &headers, &peer, &org, Some(&app), Permission::Read).await?;
    let key = app_topic(&org, &app, query.kind.as_deref())?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::bad_query(format!("{rejection}: open it as a WebSocket, or read .../logs/live as Server-Sent Events"))
    })?;
    let next_offset = {
        let (store, key) = (state.store.clone(), key.clone());
        tokio::task::spawn_blocking(move || store.next_offset(&key)).await.map_err(ApiError::internal)?
    };
    let items = live_items(&state, key, query, &headers).await?;
    let caller = Caller::Token { secret: caller.secret, org, app };
    let guarded = live::guard(items, state.catalog.clone(), caller, state.shutdown.clone());
    Ok(upgrade.on_upgrade(move |socket| follow_over_websocket(socket, guarded, next_offset)))
}

async fn follow_over_websocket(
    mut socket: WebSocket,
    events: impl Stream<Item = Guarded<LiveItem>> + Send,
    next_offset: u64,
) {
    let opened = format!("{{\"type\":\"open\",\"next_offset\":{next_offset}}}");
    if socket.send(Message::Text(opened.into())).await.is_err() {
        return;
    }
    let mut events = std::pin::pin!(events);
    let mut close = None;
    loop {
        tokio::select! {
            event = events.next() => {
                let message = match event {
                    None => break,
                    Some(Guarded::Item(item)) => {
                        let kind = if item.gap { "gap" } else { "records" };
                        Message::Text(format!(
                            "{{\"type\":\"{kind}\",\"last_offset\":{},\"data\":{}}}",
                            item.last_offset,
                            item.json()
                        ).into())
                    }
                    Some(Guarded::Heartbeat) => Message::Ping(Bytes::new()),
                    Some(Guarded::End(ended)) => {
                        let mut end = serde_json::to_value(&ended).expect("a stream end serialises");
                        // 1008: policy violation, the close code for a right lost.
                        let reason = end["reason"].as_str().unwrap_or("ended").to_string();
                        close = Some(axum::extract::ws::CloseFrame { code: 1008, reason: reason.into() });
                        end["type"] = "end".into();
                        Message::Text(end.to_string().into())
                    }
                };
                if socket.send(message).await.is_err() {
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
    let _ = socket.send(Message::Close(close)).await;
}
