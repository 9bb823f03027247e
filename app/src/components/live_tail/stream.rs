//! The live tail's side of the console's streams, in the browser:
//! following `/bff/.../live` (Server-Sent Events) and loading a replayed
//! range from `/bff/.../records` in chunks.
//!
//! A live stream carries batches of records (`message` events, whose id is
//! the last offset the stream has gone through), a `heartbeat` every 5 s,
//! and at most one `end`, after which the server closes it. It is opened
//! again, from the first offset the page has not seen, when the browser
//! gives up on it or when it falls silent for [`SILENCE_MS`]; never after
//! an `end`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use futures::StreamExt;
use gloo_net::eventsource::futures::{EventSource, EventSourceSubscription};
use gloo_net::eventsource::State;
use leptos::prelude::*;

use super::{History, LiveStatus, RangeLoad, TailSource, TailState, FLUSH_MS, SILENCE_MS};
use crate::model::{EndReason, ShownRecord, StreamEnd};

/// Why one stream stopped.
enum Stopped {
    /// The browser gave up on it: the server answered with an error, or
    /// could not be reached.
    GaveUp,
    /// Neither a line nor a heartbeat came for [`SILENCE_MS`]: the
    /// connection is taken for dead.
    Silent,
    /// The server ended it: the viewer may not read it any more.
    Ended(StreamEnd),
}

/// Follows the live stream for as long as the page shows it, or until the
/// server ends it.
///
/// The browser reconnects a dropped stream by itself, sending
/// `Last-Event-ID`; while it does, the status says so. If the browser gives
/// up (the stream answered with an error), a new stream starts from the
/// first offset this page has not shown, after a growing pause; a silent
/// stream is replaced at once. An ended session leads to the sign-in form.
pub async fn follow(source: TailSource, mut next_offset: u64, tail: TailState) {
    let arrivals = Arrivals { waiting: Rc::default(), tail };
    let mut retry_ms = 500;
    loop {
        let stopped = match EventSource::new(&source.live_url(next_offset)) {
            Ok(stream) => listen(stream, &mut next_offset, &arrivals, &mut retry_ms).await,
            Err(_) => Stopped::GaveUp,
        };
        match stopped {
            Stopped::Ended(end) => {
                let session_ended = end.reason == EndReason::SessionEnded;
                tail.end(end);
                if session_ended {
                    crate::components::session::sign_in_again();
                }
                return;
            }
            Stopped::Silent => tail.set_status(LiveStatus::Reconnecting),
            Stopped::GaveUp => {
                tail.set_status(LiveStatus::Reconnecting);
                sleep(Duration::from_millis(retry_ms)).await;
                retry_ms = (retry_ms * 2).min(10_000);
            }
        }
    }
}

/// Listens to one stream until it stops, and closes it.
async fn listen(mut stream: EventSource, next_offset: &mut u64, arrivals: &Arrivals, retry_ms: &mut u64) -> Stopped {
    let subscriptions = (stream.subscribe("message"), stream.subscribe("heartbeat"), stream.subscribe("end"));
    let (Ok(batches), Ok(heartbeats), Ok(ends)) = subscriptions else {
        stream.close();
        return Stopped::GaveUp;
    };
    // When the stream last said anything: a batch or a heartbeat.
    let heard_at_ms = Cell::new(now_ms());
    let stopped = {
        let watchers: [Pin<Box<dyn Future<Output = Stopped> + '_>>; 4] = [
            Box::pin(receive(batches, next_offset, arrivals, retry_ms, &heard_at_ms)),
            Box::pin(hear_heartbeats(heartbeats, &heard_at_ms)),
            Box::pin(wait_for_end(ends)),
            Box::pin(watch_connection(stream.clone(), &heard_at_ms, arrivals.tail)),
        ];
        futures::future::select_all(watchers).await.0
    };
    stream.close();
    stopped
}

/// Takes each live batch until the stream ends.
async fn receive(
    mut batches: EventSourceSubscription,
    next_offset: &mut u64,
    arrivals: &Arrivals,
    retry_ms: &mut u64,
    heard_at_ms: &Cell<f64>,
) -> Stopped {
    while let Some(Ok((_, event))) = batches.next().await {
        heard_at_ms.set(now_ms());
        let Some(data) = event.data().as_string() else { continue };
        let batch = match crate::json::decode::<RawRecords>(&data) {
            Ok(batch) => readable(batch),
            Err(error) => {
                leptos::logging::warn!("skipping an unreadable live event: {error}");
                continue;
            }
        };
        arrivals.tail.set_status(LiveStatus::Live);
        *retry_ms = 500;
        // A reconnect may send again what the page already has; keep only
        // what is new to it.
        let fresh: Vec<ShownRecord> = batch.into_iter().filter(|record| record.offset >= *next_offset).collect();
        if let Some(last) = fresh.last() {
            *next_offset = last.offset + 1;
        }
        // The id covers the lines a filter left out too: a new stream need
        // not read them again.
        if let Ok(last_read) = event.last_event_id().parse::<u64>() {
            *next_offset = (*next_offset).max(last_read + 1);
        }
        arrivals.add(fresh);
    }
    Stopped::GaveUp
}

/// Notes when each heartbeat comes, until the stream ends.
async fn hear_heartbeats(mut heartbeats: EventSourceSubscription, heard_at_ms: &Cell<f64>) -> Stopped {
    while let Some(Ok(_)) = heartbeats.next().await {
        heard_at_ms.set(now_ms());
    }
    Stopped::GaveUp
}

/// Waits for the server to end the stream.
async fn wait_for_end(mut ends: EventSourceSubscription) -> Stopped {
    match ends.next().await {
        Some(Ok((_, event))) => {
            Stopped::Ended(StreamEnd::from_event_data(&event.data().as_string().unwrap_or_default()))
        }
        _ => Stopped::GaveUp,
    }
}

/// Shows whether the stream is connected, twice a second; returns when the
/// browser has given up on it, or when it has been silent too long.
async fn watch_connection(stream: EventSource, heard_at_ms: &Cell<f64>, tail: TailState) -> Stopped {
    loop {
        sleep(Duration::from_millis(500)).await;
        if now_ms() - heard_at_ms.get() > SILENCE_MS as f64 {
            return Stopped::Silent;
        }
        match stream.state() {
            State::Open => tail.set_status(LiveStatus::Live),
            State::Connecting => tail.set_status(LiveStatus::Reconnecting),
            State::Closed => return Stopped::GaveUp,
        }
    }
}

/// Live lines on their way to the page: the first of a batch starts a
/// timer, and whatever arrived by [`FLUSH_MS`] later reaches the page
/// together, whichever stream brought it.
struct Arrivals {
    waiting: Rc<RefCell<Vec<ShownRecord>>>,
    tail: TailState,
}

impl Arrivals {
    fn add(&self, lines: Vec<ShownRecord>) {
        if lines.is_empty() {
            return;
        }
        let first = {
            let mut waiting = self.waiting.borrow_mut();
            let first = waiting.is_empty();
            waiting.extend(lines);
            first
        };
        if first {
            let (waiting, tail) = (self.waiting.clone(), self.tail);
            set_timeout(
                move || {
                    if !tail.records.is_disposed() {
                        tail.add(waiting.take());
                    }
                },
                Duration::from_millis(FLUSH_MS),
            );
        }
    }
}

/// Records as they came, each read on its own: one this page cannot read
/// is skipped, not fatal.
type RawRecords = Vec<Box<serde_json::value::RawValue>>;

fn readable(records: RawRecords) -> Vec<ShownRecord> {
    let total = records.len();
    let shown: Vec<ShownRecord> = records.iter().filter_map(|raw| crate::json::decode(raw.get()).ok()).collect();
    if shown.len() < total {
        leptos::logging::warn!("skipped {} unreadable records", total - shown.len());
    }
    shown
}

/// One chunk of a replayed range, as `/bff/.../records` sends it.
#[derive(serde::Deserialize)]
struct RangeChunk {
    records: RawRecords,
    next_cursor: Option<u64>,
}

/// Loads a replayed range after its first lines, chunk by chunk, until it
/// ends or the page holds as many lines as it keeps. `chunk_url` asks for
/// the range from a cursor, which each chunk moves on.
pub async fn load_range(chunk_url: impl Fn(u64) -> String, mut cursor: u64, tail: TailState) {
    loop {
        if tail.history.get_untracked() <= tail.records.with_untracked(History::len) {
            return tail.range.set(RangeLoad::Cut);
        }
        let chunk = match fetch_chunk(&chunk_url(cursor)).await {
            Ok(chunk) => chunk,
            Err(error) => return tail.range.set(RangeLoad::Failed(error)),
        };
        let room = tail.history.get_untracked().saturating_sub(tail.records.with_untracked(History::len));
        let cut = chunk.records.len() > room;
        let mut lines = readable(chunk.records);
        lines.truncate(room);
        if let Some(last) = lines.last() {
            tail.resume_from.set_value(last.offset + 1);
        }
        tail.records.update(|shown| shown.extend(lines));
        match (cut, chunk.next_cursor) {
            (true, _) => return tail.range.set(RangeLoad::Cut),
            (false, None) => return tail.range.set(RangeLoad::Complete),
            (false, Some(next)) => cursor = next,
        }
    }
}

/// The lines before the page's first one, oldest first, and whether there
/// may be older ones still.
pub async fn fetch_older(url: &str) -> Result<(Vec<ShownRecord>, bool), String> {
    let chunk = fetch_chunk(url).await?;
    Ok((readable(chunk.records), chunk.next_cursor.is_some()))
}

async fn fetch_chunk(url: &str) -> Result<RangeChunk, String> {
    let response = gloo_net::http::Request::get(url).send().await.map_err(|error| error.to_string())?;
    if !response.ok() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("HTTP {}: {}", response.status(), text.trim()));
    }
    let text = response.text().await.map_err(|error| error.to_string())?;
    crate::json::decode::<RangeChunk>(&text).map_err(|error| error.to_string())
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Waits `duration` (a browser timer).
pub async fn sleep(duration: Duration) {
    let (done, wait) = futures::channel::oneshot::channel::<()>();
    set_timeout(
        move || {
            let _ = done.send(());
        },
        duration,
    );
    let _ = wait.await;
}
