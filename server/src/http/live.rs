//! What every live stream (`.../logs/live`, `.../logs/ws`, the console's
//! `/bff/.../live`) does besides carrying records: a heartbeat every
//! [`RECHECK_EVERY`], so proxies keep an idle stream open and clients can
//! tell a silent stream from a dead one, and at each heartbeat a re-check
//! of the caller. When the token is revoked, the member removed or the
//! session ended, the stream sends why (`event: end` with
//! `{"reason","message"}`) and closes: a right lost mid-stream is lost for
//! the stream too, within five seconds.

use std::time::Duration;

use futures::{stream, Stream, StreamExt};
use vigie_app::model::{EndReason, StreamEnd};

use crate::catalog::{Authentication, Catalog, Permission};
use crate::shutdown::ShutdownSignal;

/// How often a stream sends a heartbeat and re-checks its caller.
pub const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// Whose right a stream re-checks.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A token of the Logs API, reading `app` of `org`.
    Token { secret: String, org: String, app: String },
    /// A console session (its cookie's secret, if any), reading `app` of `org`.
    Session { secret: Option<String>, org: String, app: String },
}

/// Why a stream ended (`reason` for programs, `message` for people): the
/// type the console reads the `end` event with.
fn end(reason: EndReason, message: impl Into<String>) -> StreamEnd {
    StreamEnd { reason, message: message.into() }
}

/// The `end` event's data.
pub fn end_json(ended: &StreamEnd) -> String {
    serde_json::to_string(ended).expect("a stream end serialises")
}

impl Caller {
    /// Whether the caller may still read the stream. Blocks (SQLite): call
    /// it from a blocking thread. A catalog that cannot be read keeps the
    /// stream (logged): a failure of ours is no reason to cut a reader off.
    fn still_allowed(&self, catalog: &Catalog) -> Result<(), StreamEnd> {
        let app_gone = |org: &str, app: &str| {
            end(EndReason::AccessRemoved, format!("app \"{app}\" of \"{org}\" is no longer there"))
        };
        let checked = match self {
            Caller::Token { secret, org, app } => catalog.authenticate(secret).map(|found| match found {
                Authentication::Valid(token) if &token.org == org && token.permissions.allows(Permission::Read) => {
                    match catalog.app(org, app) {
                        Ok(Some(_)) | Err(_) => Ok(()),
                        Ok(None) => Err(app_gone(org, app)),
                    }
                }
                Authentication::Valid(token) => Err(end(
                    EndReason::AccessRemoved,
                    format!("the token \"{}\" may no longer read \"{org}\"", token.name),
                )),
                Authentication::Revoked(token) => Err(end(
                    EndReason::TokenRevoked,
                    format!("the token \"{}\" ({}) was revoked: this stream has ended", token.name, token.hint),
                )),
                Authentication::Unknown => {
                    Err(end(EndReason::TokenRevoked, "the token is no longer known: this stream has ended"))
                }
            }),
            Caller::Session { secret, org, app } => {
                let ended = || end(EndReason::SessionEnded, "your console session has ended: sign in again");
                let Some(secret) = secret else { return Err(ended()) };
                catalog.session(secret).map(|viewer| match viewer {
                    None => Err(ended()),
                    Some(viewer) if !viewer.may_see(org) => Err(end(
                        EndReason::AccessRemoved,
                        format!("you are no longer a member of \"{org}\": this stream has ended"),
                    )),
                    Some(_) => match catalog.app(org, app) {
                        Ok(Some(_)) | Err(_) => Ok(()),
                        Ok(None) => Err(app_gone(org, app)),
                    },
                })
            }
        };
        checked.unwrap_or_else(|error| {
            tracing::error!(%error, "a live stream could not re-check its caller; it goes on");
            Ok(())
        })
    }
}

/// What a guarded stream yields.
#[derive(Debug)]
pub enum Guarded<T> {
    Item(T),
    /// Nothing is wrong; the caller was re-checked.
    Heartbeat,
    /// The caller lost the right to read; the stream ends after this.
    End(StreamEnd),
}

/// `items` with a heartbeat and a re-check of `caller` every
/// [`RECHECK_EVERY`]; it ends after an [`Guarded::End`], or when the
/// server stops.
pub fn guard<T: Send + 'static>(
    items: impl Stream<Item = T> + Send + 'static,
    catalog: Catalog,
    caller: Caller,
    shutdown: ShutdownSignal,
) -> impl Stream<Item = Guarded<T>> + Send + 'static {
    // The first re-check at a random point of the first period: streams
    // opened together (a thousand followers after a restart) then re-check
    // spread out, not in one burst of catalog reads every period.
    let start = tokio::time::Instant::now() + RECHECK_EVERY.mul_f64(rand::random_range(0.05..=1.0));
    let caller = std::sync::Arc::new(caller);
    let checks =
        tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(start, RECHECK_EVERY)).then(move |_| {
            let (catalog, caller) = (catalog.clone(), caller.clone());
            async move {
                match tokio::task::spawn_blocking(move || caller.still_allowed(&catalog)).await {
                    Ok(Err(ended)) => Guarded::End(ended),
                    Ok(Ok(())) | Err(_) => Guarded::Heartbeat,
                }
            }
        });
    // Merged without a future per item (a thousand followers send a
    // hundred thousand items a second); the stream stops after an end.
    let mut ended = false;
    stream::select(items.map(Guarded::Item), checks)
        .take_while(move |event| {
            let going = !ended;
            ended |= matches!(event, Guarded::End(_));
            std::future::ready(going)
        })
        .take_until(shutdown.fired())
}

/// A guarded stream of Server-Sent Events, as bytes: the items as they
/// are, `event: heartbeat` and `event: end`.
pub fn sse_bytes(
    events: impl Stream<Item = Guarded<axum::body::Bytes>> + Send + 'static,
) -> impl Stream<Item = axum::body::Bytes> + Send + 'static {
    events.map(|event| match event {
        Guarded::Item(bytes) => bytes,
        Guarded::Heartbeat => axum::body::Bytes::from_static(b"event: heartbeat\ndata: {}\n\n"),
        Guarded::End(ended) => format!("event: end\ndata: {}\n\n", end_json(&ended)).into(),
    })
}
