//! The live list of an app's service logs. The server renders the newest
//! lines; in the browser the list then follows the Logs API's live stream
//! (Server-Sent Events through `gloo-net`), starting right after the last
//! line it was rendered with. When the stream drops, the browser reconnects
//! with `Last-Event-ID`; when it gives up, this component opens a new stream
//! from the next offset it has not seen, so no line is lost or doubled.

use leptos::html::Div;
use leptos::prelude::*;

use crate::components::log_row::{needles_of, AccessHeader, LineDetails, LogRow, SelectedLine};
use crate::components::time::TimeZoneToggle;
use crate::model::{group_thousands, url_encode, ShownRecord, ViewKind};

/// Lines kept in the page; older ones leave from the top.
pub const MAX_LINES_IN_PAGE: usize = 5_000;

/// How the live stream is doing, shown beside the app's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveStatus {
    Connecting,
    Live,
    Reconnecting,
    /// A replayed range, not following.
    Replay,
}

impl LiveStatus {
    fn label(self) -> &'static str {
        match self {
            LiveStatus::Connecting => "Connecting…",
            LiveStatus::Live => "Live",
            LiveStatus::Reconnecting => "Reconnecting…",
            LiveStatus::Replay => "Replay",
        }
    }

    fn class(self) -> &'static str {
        match self {
            LiveStatus::Connecting => "live-status connecting",
            LiveStatus::Live => "live-status live",
            LiveStatus::Reconnecting => "live-status reconnecting",
            LiveStatus::Replay => "live-status replay",
        }
    }
}

/// The URL of an app's live service-log stream, starting at `from_offset`,
/// keeping only lines that match `q`.
pub fn live_url(org: &str, app: &str, kind: ViewKind, q: &str, from_offset: u64) -> String {
    let filter = if q.trim().is_empty() { String::new() } else { format!("&q={}", url_encode(q.trim())) };
    format!("/bff/orgs/{org}/apps/{app}/live?kind={}&from={from_offset}{filter}", kind.as_str())
}

/// Appends `more` to `lines`, dropping the oldest beyond the page's bound.
fn append_bounded(lines: &mut Vec<ShownRecord>, more: impl IntoIterator<Item = ShownRecord>) {
    lines.extend(more);
    let excess = lines.len().saturating_sub(MAX_LINES_IN_PAGE);
    lines.drain(..excess);
}

#[component]
pub fn LiveTail(
    org: String,
    app: String,
    /// Service or access logs.
    #[prop(optional)]
    kind: ViewKind,
    /// The filter, as typed: the stream keeps only matching lines, and
    /// matches are marked.
    #[prop(optional)]
    q: String,
    /// The lines are a replayed range: the list follows live only once
    /// asked to ("Continue live"), from the range's end.
    #[prop(optional)]
    replay: bool,
    initial: Vec<ShownRecord>,
    next_offset: u64,
) -> impl IntoView {
    let records = RwSignal::new(initial);
    // Lines that arrived while paused, shown on resume, in order.
    let pending = RwSignal::new(Vec::<ShownRecord>::new());
    let paused = RwSignal::new(false);
    let following = RwSignal::new(!replay);
    let status = RwSignal::new(if replay { LiveStatus::Replay } else { LiveStatus::Connecting });
    // Whether the view sticks to the newest line; scrolling up lets go.
    let stick_to_bottom = RwSignal::new(!replay);
    let scroller = NodeRef::<Div>::new();
    let needles = needles_of(&q);
    let selected = RwSignal::new(None::<u64>);
    provide_context(SelectedLine(selected));
    // `j` / `k`: select the next (newer) or previous (older) line.
    let step_selection = move |forward: bool| {
        let next = records.with(|shown| {
            let at = selected.get_untracked().and_then(|offset| shown.iter().position(|r| r.offset == offset));
            let index = match (at, forward) {
                (None, _) => shown.len().checked_sub(1),
                (Some(at), true) => Some((at + 1).min(shown.len().saturating_sub(1))),
                (Some(at), false) => Some(at.saturating_sub(1)),
            };
            index.and_then(|index| shown.get(index)).map(|record| record.offset)
        });
        if let Some(offset) = next {
            selected.set(Some(offset));
            stick_to_bottom.set(false);
            #[cfg(feature = "hydrate")]
            browser::reveal(offset);
        }
    };
    let filtering = !q.trim().is_empty();

    let scroll_to_end = move || {
        if let Some(element) = scroller.get_untracked() {
            element.set_scroll_top(element.scroll_height());
        }
    };
    let resume = move || {
        let arrived = pending.try_update(std::mem::take).unwrap_or_default();
        records.update(|shown| append_bounded(shown, arrived));
        paused.set(false);
    };
    let toggle_pause = move || {
        if paused.get_untracked() {
            resume();
        } else {
            paused.set(true);
        }
    };
    let jump_to_now = move || {
        if paused.get_untracked() {
            resume();
        }
        stick_to_bottom.set(true);
        scroll_to_end();
    };

    #[cfg(feature = "hydrate")]
    {
        let (abort, registration) = futures::future::AbortHandle::new_pair();
        let registration = StoredValue::new(Some(registration));
        let inbox = browser::Inbox { records, pending, paused, status };
        Effect::new(move |_| {
            if !following.get() {
                return;
            }
            let Some(registration) = registration.try_update_value(Option::take).flatten() else { return };
            status.set(LiveStatus::Connecting);
            let follow = browser::follow(org.clone(), app.clone(), kind, q.clone(), next_offset, inbox);
            leptos::task::spawn_local(async move {
                let _ = futures::future::Abortable::new(follow, registration).await;
            });
        });
        on_cleanup(move || abort.abort());

        Effect::new(move |_| {
            records.track();
            if stick_to_bottom.get_untracked() {
                // After the new rows are laid out, also on the first paint of
                // a page reached by a client-side link.
                request_animation_frame(scroll_to_end);
            }
        });

        let keys = browser::on_keys(move |key| match key {
            "/" => browser::focus("filter"),
            " " if following.get_untracked() => {
                toggle_pause();
                true
            }
            "g" if following.get_untracked() => {
                jump_to_now();
                true
            }
            "j" | "k" => {
                step_selection(key == "j");
                true
            }
            _ => false,
        });
        on_cleanup(move || keys.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (org, app, next_offset, toggle_pause, step_selection);
    let access = kind == ViewKind::Access;

    let on_scroll = move |_| {
        if let Some(element) = scroller.get() {
            let distance = element.scroll_height() - element.scroll_top() - element.client_height();
            stick_to_bottom.set(distance < 40);
        }
    };

    view! {
        <div class="live-tail">
            <div class="live-bar">
                <span class=move || status.get().class() data-testid="live-status">
                    <span class="dot" aria-hidden="true"></span>
                    {move || status.get().label()}
                </span>
                <span class="muted line-count" data-testid="line-count">
                    {move || format!("{} lines shown", group_thousands(records.with(Vec::len) as u64))}
                </span>
                <TimeZoneToggle />
                <span class="live-actions">
                    <Show when=move || !following.get()>
                        <button class="action" on:click=move |_| {
                            following.set(true);
                            stick_to_bottom.set(true);
                        }>"Continue live ▸"</button>
                    </Show>
                    <Show when=move || following.get()>
                        <button
                            class="action"
                            data-testid="pause"
                            aria-pressed=move || paused.get().to_string()
                            title="Space"
                            on:click=move |_| toggle_pause()
                        >
                            {move || if paused.get() { "Resume" } else { "Pause" }}
                        </button>
                    </Show>
                    <Show when=move || !pending.with(Vec::is_empty)>
                        <button class="new-lines" data-testid="new-lines" on:click=move |_| jump_to_now()>
                            {move || {
                                let count = pending.with(Vec::len);
                                format!("{} new line{}", group_thousands(count as u64), if count == 1 { "" } else { "s" })
                            }}
                        </button>
                    </Show>
                    <Show when=move || following.get() && !stick_to_bottom.get() && pending.with(Vec::is_empty)>
                        <button class="jump" title="g" on:click=move |_| jump_to_now()>"Jump to now ↓"</button>
                    </Show>
                </span>
            </div>
            <div
                class="log-scroll"
                class:access=access
                node_ref=scroller
                on:scroll=on_scroll
                data-testid="log-lines"
                role=move || (access && !records.with(Vec::is_empty)).then_some("table")
                aria-label=access.then_some("Requests")
            >
                <Show when=move || access && !records.with(Vec::is_empty)>
                    <AccessHeader />
                </Show>
                <Show when=move || records.with(Vec::is_empty)>
                    {if replay || filtering || access {
                        view! {
                            <div class="state state-missing">
                                <h2>{match (replay, filtering) {
                                    (true, _) => "No logs in this range",
                                    (false, true) => "No line matches this filter yet",
                                    (false, false) => "No request has reached this app yet",
                                }}</h2>
                                <p>"Widen the range or loosen the filter; new matching lines appear here when following live."</p>
                            </div>
                        }.into_any()
                    } else {
                        view! {
                            <div class="state state-missing">
                                <h2>"This app has not logged yet"</h2>
                                <p>"New lines appear here as soon as they arrive. To send one by hand:"</p>
                                <pre class="hint">{"curl -X POST -H \"authorization: Bearer $TOKEN\" -H 'content-type: text/plain' \\\n  --data 'hello from curl' http://HOST/api/v1/orgs/ORG/apps/APP/logs"}</pre>
                            </div>
                        }.into_any()
                    }}
                </Show>
                <For
                    each=move || records.get()
                    key=|record| record.offset
                    children=move |record| view! { <LogRow record needles=needles.clone() /> }
                />
            </div>
            {move || {
                let offset = selected.get()?;
                let record = records.with(|shown| shown.iter().find(|r| r.offset == offset).cloned())?;
                Some(view! { <LineDetails record /> })
            }}
        </div>
    }
    .into_any()
}

#[cfg(feature = "hydrate")]
mod browser {
    use futures::StreamExt;
    use gloo_net::eventsource::futures::{EventSource, EventSourceSubscription};
    use gloo_net::eventsource::State;
    use leptos::prelude::*;
    use std::time::Duration;
    use wasm_bindgen::JsCast;

    use super::{append_bounded, live_url, LiveStatus};
    use crate::model::{ShownRecord, ViewKind};

    /// Where live lines go: onto the page, or aside while paused.
    #[derive(Clone, Copy)]
    pub struct Inbox {
        pub records: RwSignal<Vec<ShownRecord>>,
        pub pending: RwSignal<Vec<ShownRecord>>,
        pub paused: RwSignal<bool>,
        pub status: RwSignal<LiveStatus>,
    }

    /// Follows the live stream for as long as the page shows it.
    ///
    /// The browser reconnects a dropped stream by itself, sending
    /// `Last-Event-ID`; while it does, the status says so. If the browser
    /// gives up (the stream answered with an error), a new stream starts
    /// from the first offset this page has not shown, after a growing pause.
    pub async fn follow(org: String, app: String, kind: ViewKind, q: String, mut next_offset: u64, inbox: Inbox) {
        let mut retry_ms = 500;
        loop {
            if let Ok(mut source) = EventSource::new(&live_url(&org, &app, kind, &q, next_offset)) {
                if let Ok(events) = source.subscribe("message") {
                    let receive = Box::pin(receive(events, &mut next_offset, inbox, &mut retry_ms));
                    let watch = Box::pin(watch_connection(source.clone(), inbox.status));
                    futures::future::select(receive, watch).await;
                }
                source.close();
            }
            set_status(inbox.status, LiveStatus::Reconnecting);
            sleep(Duration::from_millis(retry_ms)).await;
            retry_ms = (retry_ms * 2).min(10_000);
        }
    }

    /// Adds each live batch to the page (or aside, while paused) until the
    /// stream ends.
    async fn receive(mut events: EventSourceSubscription, next_offset: &mut u64, inbox: Inbox, retry_ms: &mut u64) {
        while let Some(Ok((_, event))) = events.next().await {
            let Some(data) = event.data().as_string() else { continue };
            let batch: Vec<ShownRecord> = match serde_json::from_str(&data) {
                Ok(batch) => batch,
                Err(error) => {
                    leptos::logging::warn!("skipping an unreadable live event: {error}");
                    continue;
                }
            };
            set_status(inbox.status, LiveStatus::Live);
            *retry_ms = 500;
            // A reconnect may send again what the page already has; keep
            // only what is new to it.
            let fresh: Vec<ShownRecord> = batch.into_iter().filter(|record| record.offset >= *next_offset).collect();
            if let Some(last) = fresh.last() {
                *next_offset = last.offset + 1;
                let target = if inbox.paused.get_untracked() { inbox.pending } else { inbox.records };
                target.update(|lines| append_bounded(lines, fresh));
            }
        }
    }

    /// Shows whether the stream is connected, twice a second; returns when
    /// the browser has given up on it.
    async fn watch_connection(source: EventSource, status: RwSignal<LiveStatus>) {
        loop {
            sleep(Duration::from_millis(500)).await;
            match source.state() {
                State::Open => set_status(status, LiveStatus::Live),
                State::Connecting => set_status(status, LiveStatus::Reconnecting),
                State::Closed => return,
            }
        }
    }

    fn set_status(status: RwSignal<LiveStatus>, now: LiveStatus) {
        if status.get_untracked() != now {
            status.set(now);
        }
    }

    /// Calls `handle` with the key of each key press outside a text field;
    /// when it returns true the key's default action is prevented.
    pub fn on_keys(handle: impl Fn(&str) -> bool + 'static) -> WindowListenerHandle {
        window_event_listener(leptos::ev::keydown, move |event| {
            if event.ctrl_key() || event.meta_key() || event.alt_key() {
                return;
            }
            let key = event.key();
            // Typing in a field is typing; space on a button presses it.
            let in_field =
                event.target().and_then(|target| target.dyn_into::<web_sys::Element>().ok()).is_some_and(|element| {
                    match element.tag_name().as_str() {
                        "INPUT" | "TEXTAREA" | "SELECT" => true,
                        "BUTTON" => key == " ",
                        _ => false,
                    }
                });
            if !in_field && handle(&key) {
                event.prevent_default();
            }
        })
    }

    /// Scrolls the line at `offset` into view, if it is on the page.
    pub fn reveal(offset: u64) {
        if let Ok(Some(row)) = document().query_selector(&format!("[data-offset=\"{offset}\"]")) {
            row.scroll_into_view_with_bool(false);
        }
    }

    /// Moves the keyboard focus to the element with this id; true when found.
    pub fn focus(id: &str) -> bool {
        document()
            .get_element_by_id(id)
            .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok())
            .is_some_and(|element| element.focus().is_ok())
    }

    async fn sleep(duration: Duration) {
        let (done, wait) = futures::channel::oneshot::channel::<()>();
        set_timeout(
            move || {
                let _ = done.send(());
            },
            duration,
        );
        let _ = wait.await;
    }
}
