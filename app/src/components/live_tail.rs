//! The list of an app's log lines, live or replayed.
//!
//! The server renders the first lines; in the browser the list then follows
//! the Logs API's live stream (Server-Sent Events through `gloo-net`),
//! starting right after the last line it was rendered with, or loads the
//! rest of a replayed range in chunks. When the stream drops, the browser
//! reconnects with `Last-Event-ID`; when it gives up, this component opens a
//! new stream from the next offset it has not seen, so no line is lost or
//! doubled.
//!
//! The page keeps up to a chosen number of lines (100,000 unless the viewer
//! picks another bound, remembered in `localStorage` under `vigie.history`),
//! but only the rows in sight, and a margin around them, are in the DOM:
//! every row is [`ROW_PX`] high, so a row's place is its index times that.
//! Live lines are added at most every [`FLUSH_MS`], so a flood of lines costs
//! a bounded amount of rendering.

use std::collections::VecDeque;

use leptos::html::Div;
use leptos::prelude::*;

use crate::components::log_row::{needles_of, AccessHeader, LineDetails, LogRow, RowLook, SelectedLine};
use crate::components::time::{LocalTimes, TimeZoneToggle};
use crate::model::{group_thousands, url_encode, LogView, ShownRecord, ViewKind};

/// The height of every row, in CSS pixels (`.log-rows .log-row` in
/// style/main.css says the same).
pub const ROW_PX: i32 = 22;

/// Rows rendered beyond each edge of the visible ones, so a scroll shows
/// rows that are already there.
const OVERSCAN: usize = 25;

/// Rows rendered before the browser has measured the list (the server's
/// render and the first paint).
pub const FIRST_WINDOW: usize = 60;

/// How many lines the page may keep; the viewer picks one.
/// (At 22 px a row, 500,000 rows are 11 million px high, within every
/// browser's largest element; Firefox stops near 17.9 million.)
pub const HISTORY_CHOICES: [usize; 4] = [10_000, 100_000, 250_000, 500_000];
pub const DEFAULT_HISTORY: usize = 100_000;
#[cfg(feature = "hydrate")]
const HISTORY_KEY: &str = "vigie.history";

/// How often, at most, live lines are added to the view.
pub const FLUSH_MS: u64 = 50;

/// The lines kept in the page, oldest first.
pub type History = VecDeque<ShownRecord>;

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

/// Where the loading of a replayed range stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeLoad {
    /// Every line of the range is in the page.
    Complete,
    Loading,
    /// The range holds more lines than the page keeps.
    Cut,
    Failed(String),
}

/// The URL of an app's live service-log stream, starting at `from_offset`,
/// keeping only lines that match `q`.
pub fn live_url(org: &str, app: &str, kind: ViewKind, q: &str, from_offset: u64) -> String {
    let filter = if q.trim().is_empty() { String::new() } else { format!("&q={}", url_encode(q.trim())) };
    format!("/bff/orgs/{org}/apps/{app}/live?kind={}&from={from_offset}{filter}", kind.as_str())
}

/// The URL of the next chunk of a replayed range, from offset `cursor` on.
pub fn range_url(org: &str, app: &str, view: &LogView, cursor: u64) -> String {
    let query = view.to_query();
    let joiner = if query.is_empty() { "?" } else { "&" };
    format!("/bff/orgs/{org}/apps/{app}/records{query}{joiner}cursor={cursor}")
}

/// Appends `more` to `lines`, dropping the oldest beyond `limit`; returns
/// how many were dropped.
pub fn append_bounded(lines: &mut History, more: impl IntoIterator<Item = ShownRecord>, limit: usize) -> usize {
    lines.extend(more);
    let excess = lines.len().saturating_sub(limit);
    lines.drain(..excess);
    excess
}

/// The rows to render, `start..end` of `len`: those visible in a list
/// scrolled `scroll_px` into its rows with `viewport_px` of height, and
/// [`OVERSCAN`] more each side. Stuck to the bottom, the last ones. Not yet
/// measured (`viewport_px` 0), the first or last [`FIRST_WINDOW`].
pub fn row_window(len: usize, scroll_px: i32, viewport_px: i32, at_bottom: bool) -> (usize, usize) {
    if viewport_px <= 0 {
        return if at_bottom { (len.saturating_sub(FIRST_WINDOW), len) } else { (0, len.min(FIRST_WINDOW)) };
    }
    let visible = (viewport_px / ROW_PX) as usize + 2;
    let first = if at_bottom { len.saturating_sub(visible) } else { (scroll_px.max(0) / ROW_PX) as usize };
    let start = first.saturating_sub(OVERSCAN).min(len);
    let end = (first + visible + OVERSCAN).min(len);
    (start, end)
}

/// The record at `offset`, if the page keeps it (offsets only grow).
fn find(lines: &History, offset: u64) -> Option<usize> {
    lines.binary_search_by_key(&offset, |record| record.offset).ok()
}

#[component]
pub fn LiveTail(
    org: String,
    app: String,
    /// What the page shows: kind, filter (matches are marked; the stream
    /// keeps only matching lines) and range.
    view: LogView,
    initial: Vec<ShownRecord>,
    /// One past the last line of `initial`: where following live starts.
    next_offset: u64,
    /// A replayed range holding more than `initial`: where the rest starts.
    more_from: Option<u64>,
) -> impl IntoView {
    let replay = view.is_replay();
    let kind = view.kind;
    let records = RwSignal::new(History::from(initial));
    // Lines that arrived while paused, shown on resume, in order.
    let pending = RwSignal::new(History::new());
    let paused = RwSignal::new(false);
    let following = RwSignal::new(!replay);
    let status = RwSignal::new(if replay { LiveStatus::Replay } else { LiveStatus::Connecting });
    let history = RwSignal::new(DEFAULT_HISTORY);
    let range = RwSignal::new(if more_from.is_some() { RangeLoad::Loading } else { RangeLoad::Complete });
    // Where following live starts: after the last line of the page.
    let resume_from = StoredValue::new(next_offset);
    // Whether the view sticks to the newest line; scrolling up lets go.
    let stick_to_bottom = RwSignal::new(!replay);
    // How far the list is scrolled into its rows, and how high it is.
    let scroll_px = RwSignal::new(0i32);
    let viewport_px = RwSignal::new(0i32);
    let scroller = NodeRef::<Div>::new();
    let rows = NodeRef::<Div>::new();
    let needles = needles_of(&view.q);
    let selected = RwSignal::new(None::<u64>);
    provide_context(SelectedLine(selected));
    let local_times = use_context::<LocalTimes>().map(|choice| choice.0);

    let window = Memo::new(move |_| {
        row_window(records.with(VecDeque::len), scroll_px.get(), viewport_px.get(), stick_to_bottom.get())
    });
    let measure = move || {
        let (Some(list), Some(rows)) = (scroller.get_untracked(), rows.get_untracked()) else { return };
        let first_measure = viewport_px.get_untracked() == 0 && list.client_height() > 0;
        let scrolled = list.scroll_top() - rows.offset_top();
        if scroll_px.get_untracked() != scrolled {
            scroll_px.set(scrolled);
        }
        if viewport_px.get_untracked() != list.client_height() {
            viewport_px.set(list.client_height());
        }
        // The list now has its full height: the newest line is further down.
        if first_measure && stick_to_bottom.get_untracked() {
            request_animation_frame(move || {
                if let Some(list) = scroller.get_untracked() {
                    list.set_scroll_top(list.scroll_height());
                }
            });
        }
    };
    // Rows that left the top while the viewer reads older ones: the rest
    // move up by as much, so what is in sight stays in sight.
    let keep_in_place = move |dropped: usize| {
        if dropped > 0 && !stick_to_bottom.get_untracked() {
            if let Some(list) = scroller.get_untracked() {
                list.set_scroll_top(list.scroll_top() - dropped as i32 * ROW_PX);
            }
        }
    };
    let scroll_to_end = move || {
        if let Some(list) = scroller.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
    };
    // Scrolls just enough for the row at `index` to be in sight.
    let reveal = move |index: usize| {
        let (Some(list), Some(rows)) = (scroller.get_untracked(), rows.get_untracked()) else { return };
        let (cover, top) = (rows.offset_top(), rows.offset_top() + index as i32 * ROW_PX);
        if top < list.scroll_top() + cover {
            list.set_scroll_top(top - cover);
        } else if top + ROW_PX > list.scroll_top() + list.client_height() {
            list.set_scroll_top(top + ROW_PX - list.client_height());
        }
    };
    // `j` / `k`: select the next (newer) or previous (older) line.
    let step_selection = move |forward: bool| {
        let next = records.with(|shown| {
            let at = selected.get_untracked().and_then(|offset| find(shown, offset));
            let index = match (at, forward) {
                (None, _) => shown.len().checked_sub(1),
                (Some(at), true) => Some((at + 1).min(shown.len().saturating_sub(1))),
                (Some(at), false) => Some(at.saturating_sub(1)),
            };
            index.map(|index| (index, shown[index].offset))
        });
        if let Some((index, offset)) = next {
            selected.set(Some(offset));
            stick_to_bottom.set(false);
            reveal(index);
        }
    };
    let filtering = !view.q.trim().is_empty();

    let resume = move || {
        let arrived = pending.try_update(std::mem::take).unwrap_or_default();
        let limit = history.get_untracked();
        let dropped = records.try_update(|shown| append_bounded(shown, arrived, limit)).unwrap_or(0);
        keep_in_place(dropped);
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
    let keep = move |limit: usize| {
        history.set(limit);
        let dropped = records.try_update(|shown| append_bounded(shown, None, limit)).unwrap_or(0);
        keep_in_place(dropped);
        pending.update(|waiting| {
            append_bounded(waiting, None, limit);
        });
    };

    #[cfg(feature = "hydrate")]
    {
        if let Some(limit) = crate::components::time::browser::remembered(HISTORY_KEY)
            .and_then(|text| text.parse::<usize>().ok())
            .filter(|limit| HISTORY_CHOICES.contains(limit))
        {
            // After hydration: the server rendered the default.
            request_animation_frame(move || keep(limit));
        }
        let inbox = browser::Inbox { records, pending, paused, status, history, stick_to_bottom, scroller };
        if let Some(cursor) = more_from {
            let (abort_load, registration) = futures::future::AbortHandle::new_pair();
            let (org, app, view) = (org.clone(), app.clone(), view.clone());
            let chunk_url = move |cursor: u64| range_url(&org, &app, &view, cursor);
            let load = browser::load_range(chunk_url, cursor, inbox, range, resume_from);
            leptos::task::spawn_local(async move {
                let _ = futures::future::Abortable::new(load, registration).await;
            });
            on_cleanup(move || abort_load.abort());
        }

        let (abort, registration) = futures::future::AbortHandle::new_pair();
        let registration = StoredValue::new(Some(registration));
        let (org, app, q) = (org.clone(), app.clone(), view.q.clone());
        Effect::new(move |_| {
            if !following.get() {
                return;
            }
            let Some(registration) = registration.try_update_value(Option::take).flatten() else { return };
            status.set(LiveStatus::Connecting);
            let follow = browser::follow(org.clone(), app.clone(), kind, q.clone(), resume_from.get_value(), inbox);
            leptos::task::spawn_local(async move {
                let _ = futures::future::Abortable::new(follow, registration).await;
            });
        });
        on_cleanup(move || abort.abort());

        // Measured once laid out, and again when the window changes size.
        request_animation_frame(move || {
            if stick_to_bottom.get_untracked() {
                scroll_to_end();
            }
            measure();
        });
        let resized = window_event_listener(leptos::ev::resize, move |_| measure());
        on_cleanup(move || resized.remove());

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
    let _ = (&org, &app, next_offset, toggle_pause, step_selection, resume_from);
    let access = kind == ViewKind::Access;

    let on_scroll = move |_| {
        if let Some(list) = scroller.get_untracked() {
            let distance = list.scroll_height() - list.scroll_top() - list.client_height();
            let stick = following.get_untracked() && distance < ROW_PX * 2;
            if stick_to_bottom.get_untracked() != stick {
                stick_to_bottom.set(stick);
            }
        }
        measure();
    };
    let line_count = move || {
        let count = records.with(VecDeque::len);
        format!("{} line{}", group_thousands(count as u64), if count == 1 { "" } else { "s" })
    };
    let range_note = move || {
        let count = group_thousands(records.with(VecDeque::len) as u64);
        match range.get() {
            RangeLoad::Complete => None,
            RangeLoad::Loading => Some(view! {
                <p class="range-note muted" data-testid="range-note">
                    <span class="spinner" aria-hidden="true"></span>
                    {format!(" Loading the range: {count} lines so far…")}
                </p>
            }.into_any()),
            RangeLoad::Cut => Some(view! {
                <p class="range-note muted" data-testid="range-note">
                    {format!(
                        "Showing the first {count} lines of this range, as many as this page keeps: narrow the range or the filter, or keep more lines."
                    )}
                </p>
            }.into_any()),
            RangeLoad::Failed(error) => Some(view! {
                <p class="range-note state-error" role="alert" data-testid="range-note">
                    {format!("Showing the first {count} lines: loading the rest of the range failed ({error}). Reload the page to try again.")}
                </p>
            }.into_any()),
        }
    };

    view! {
        <div class="live-tail">
            <div class="live-bar">
                <span class=move || status.get().class() data-testid="live-status">
                    <span class="dot" aria-hidden="true"></span>
                    {move || status.get().label()}
                </span>
                <span class="muted line-count" data-testid="line-count">{line_count}</span>
                <label class="history muted" title="Older lines leave the page beyond this">
                    "Keep "
                    <select
                        data-testid="history"
                        on:change=move |event| {
                            if let Ok(limit) = event_target_value(&event).parse::<usize>() {
                                keep(limit);
                                #[cfg(feature = "hydrate")]
                                crate::components::time::browser::remember(HISTORY_KEY, &limit.to_string());
                            }
                        }
                    >
                        {HISTORY_CHOICES
                            .into_iter()
                            .map(|choice| view! {
                                <option value=choice.to_string() selected=move || history.get() == choice>
                                    {group_thousands(choice as u64)}
                                </option>
                            })
                            .collect_view()}
                    </select>
                    " lines"
                </label>
                <TimeZoneToggle />
                <span class="live-actions">
                    <Show when=move || !following.get()>
                        <button
                            class="action"
                            disabled=move || range.get() == RangeLoad::Loading
                            on:click=move |_| {
                                following.set(true);
                                stick_to_bottom.set(true);
                            }
                        >"Continue live ▸"</button>
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
                    <Show when=move || !pending.with(VecDeque::is_empty)>
                        <button class="new-lines" data-testid="new-lines" on:click=move |_| jump_to_now()>
                            {move || {
                                let count = pending.with(VecDeque::len);
                                format!("{} new line{}", group_thousands(count as u64), if count == 1 { "" } else { "s" })
                            }}
                        </button>
                    </Show>
                    <Show when=move || following.get() && !stick_to_bottom.get() && pending.with(VecDeque::is_empty)>
                        <button class="jump" title="g" on:click=move |_| jump_to_now()>"Jump to now ↓"</button>
                    </Show>
                </span>
            </div>
            {range_note}
            <div
                class="log-scroll"
                class:access=access
                node_ref=scroller
                on:scroll=on_scroll
                tabindex="0"
                data-testid="log-lines"
                role=move || (access && !records.with(VecDeque::is_empty)).then_some("table")
                aria-label=access.then_some("Requests")
            >
                <Show when=move || access && !records.with(VecDeque::is_empty)>
                    <AccessHeader />
                </Show>
                <Show when=move || records.with(VecDeque::is_empty)>
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
                <div
                    class="log-rows"
                    node_ref=rows
                    // Until measured (the server's render, the first paint),
                    // only the window's rows, from the top: the full height
                    // would show blank space above the newest lines.
                    style:height=move || {
                        let rows = if viewport_px.get() == 0 {
                            let (start, end) = window.get();
                            end - start
                        } else {
                            records.with(VecDeque::len)
                        };
                        format!("{}px", rows as i64 * ROW_PX as i64)
                    }
                >
                    <div
                        class="log-window"
                        role=access.then_some("rowgroup")
                        style:transform=move || {
                            let top = if viewport_px.get() == 0 { 0 } else { window.get().0 };
                            format!("translateY({}px)", top as i64 * ROW_PX as i64)
                        }
                    >
                        <For
                            each=move || {
                                let (start, end) = window.get();
                                let chosen = selected.get();
                                let local = local_times.is_some_and(|local| local.get());
                                records.with(|shown| {
                                    shown
                                        .range(start..end)
                                        .map(|record| (record.clone(), RowLook { selected: chosen == Some(record.offset), local }))
                                        .collect::<Vec<_>>()
                                })
                            }
                            key=|(record, look)| (record.offset, *look)
                            children=move |(record, look)| view! { <LogRow record look needles=needles.clone() /> }
                        />
                    </div>
                </div>
            </div>
            {move || {
                let offset = selected.get()?;
                let record = records.with(|shown| find(shown, offset).map(|index| shown[index].clone()))?;
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
    use leptos::html::Div;
    use leptos::prelude::*;
    use std::time::Duration;
    use wasm_bindgen::JsCast;

    use super::{append_bounded, live_url, History, LiveStatus, RangeLoad, FLUSH_MS, ROW_PX};
    use crate::model::{ShownRecord, ViewKind};

    /// Where lines go: onto the page, or aside while paused.
    #[derive(Clone, Copy)]
    pub struct Inbox {
        pub records: RwSignal<History>,
        pub pending: RwSignal<History>,
        pub paused: RwSignal<bool>,
        pub status: RwSignal<LiveStatus>,
        pub history: RwSignal<usize>,
        pub stick_to_bottom: RwSignal<bool>,
        pub scroller: NodeRef<Div>,
    }

    impl Inbox {
        /// Adds lines to the page (or aside, while paused), dropping the
        /// oldest beyond the page's bound. A viewer reading older lines
        /// keeps them in place as the oldest leave.
        fn add(self, lines: Vec<ShownRecord>) {
            let limit = self.history.get_untracked();
            if self.paused.get_untracked() {
                self.pending.update(|waiting| {
                    append_bounded(waiting, lines, limit);
                });
                return;
            }
            let dropped = self.records.try_update(|shown| append_bounded(shown, lines, limit)).unwrap_or(0);
            if dropped > 0 && !self.stick_to_bottom.get_untracked() {
                if let Some(list) = self.scroller.get_untracked() {
                    list.set_scroll_top(list.scroll_top() - dropped as i32 * ROW_PX);
                }
            }
        }
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

    /// Takes each live batch until the stream ends; what arrives within
    /// [`FLUSH_MS`] reaches the page together.
    async fn receive(mut events: EventSourceSubscription, next_offset: &mut u64, inbox: Inbox, retry_ms: &mut u64) {
        let arrived = StoredValue::new(Vec::<ShownRecord>::new());
        while let Some(Ok((_, event))) = events.next().await {
            let Some(data) = event.data().as_string() else { continue };
            let batch = match serde_json::from_str::<Vec<MaybeRecord>>(&data) {
                Ok(batch) => readable(batch),
                Err(error) => {
                    leptos::logging::warn!("skipping an unreadable live event: {error}");
                    continue;
                }
            };
            set_status(inbox.status, LiveStatus::Live);
            *retry_ms = 500;
            // A reconnect may send again what the page already has; keep
            // only what is new to it.
            let fresh = batch.into_iter().filter(|record| record.offset >= *next_offset);
            let first_waiting = arrived.with_value(Vec::is_empty);
            arrived.update_value(|waiting| waiting.extend(fresh));
            if let Some(last) = arrived.with_value(|waiting| waiting.last().map(|record| record.offset)) {
                *next_offset = last + 1;
            }
            if first_waiting && arrived.with_value(|waiting| !waiting.is_empty()) {
                set_timeout(
                    move || {
                        if let Some(lines) = arrived.try_update_value(std::mem::take) {
                            inbox.add(lines);
                        }
                    },
                    Duration::from_millis(FLUSH_MS),
                );
            }
        }
    }

    /// A record, or one this page cannot read (skipped, not fatal).
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum MaybeRecord {
        Shown(ShownRecord),
        Unreadable(serde::de::IgnoredAny),
    }

    fn readable(records: Vec<MaybeRecord>) -> Vec<ShownRecord> {
        let total = records.len();
        let shown: Vec<ShownRecord> = records
            .into_iter()
            .filter_map(|record| match record {
                MaybeRecord::Shown(record) => Some(record),
                MaybeRecord::Unreadable(_) => None,
            })
            .collect();
        if shown.len() < total {
            leptos::logging::warn!("skipped {} unreadable records", total - shown.len());
        }
        shown
    }

    /// One chunk of a replayed range, as `/bff/.../records` sends it.
    #[derive(serde::Deserialize)]
    struct RangeChunk {
        records: Vec<MaybeRecord>,
        next_cursor: Option<u64>,
    }

    /// Loads a replayed range after its first lines, chunk by chunk, until
    /// it ends or the page holds as many lines as it keeps. `chunk_url`
    /// asks for the range from a cursor, which each chunk moves on.
    pub async fn load_range(
        chunk_url: impl Fn(u64) -> String,
        mut cursor: u64,
        inbox: Inbox,
        range: RwSignal<RangeLoad>,
        resume_from: StoredValue<u64>,
    ) {
        loop {
            if inbox.history.get_untracked() <= inbox.records.with_untracked(History::len) {
                return range.set(RangeLoad::Cut);
            }
            let chunk = match fetch_chunk(&chunk_url(cursor)).await {
                Ok(chunk) => chunk,
                Err(error) => {
                    range.set(RangeLoad::Failed(error));
                    return;
                }
            };
            let room = inbox.history.get_untracked().saturating_sub(inbox.records.with_untracked(History::len));
            let cut = chunk.records.len() > room;
            let mut lines = readable(chunk.records);
            lines.truncate(room);
            if let Some(last) = lines.last() {
                resume_from.set_value(last.offset + 1);
            }
            inbox.records.update(|shown| shown.extend(lines));
            match (cut, chunk.next_cursor) {
                (true, _) => return range.set(RangeLoad::Cut),
                (false, None) => return range.set(RangeLoad::Complete),
                (false, Some(next)) => cursor = next,
            }
        }
    }

    async fn fetch_chunk(url: &str) -> Result<RangeChunk, String> {
        let response = gloo_net::http::Request::get(url).send().await.map_err(|error| error.to_string())?;
        if !response.ok() {
            let text = response.text().await.unwrap_or_default();
            return Err(format!("HTTP {}: {}", response.status(), text.trim()));
        }
        response.json::<RangeChunk>().await.map_err(|error| error.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Level, LogLine, ServiceLine};

    fn record(offset: u64) -> ShownRecord {
        ShownRecord {
            offset,
            ts_ns: offset as i64,
            line: LogLine::Service(ServiceLine {
                instance: "web-1".into(),
                level: Level::Info,
                message: format!("line {offset}"),
                fields: Default::default(),
            }),
        }
    }

    #[test]
    fn the_history_keeps_the_newest_lines_up_to_its_bound() {
        let mut lines: History = (0..5).map(record).collect();
        assert_eq!(append_bounded(&mut lines, (5..8).map(record), 6), 2);
        assert_eq!(lines.iter().map(|r| r.offset).collect::<Vec<_>>(), [2, 3, 4, 5, 6, 7]);
        assert_eq!(append_bounded(&mut lines, None, 3), 3, "a smaller bound drops the oldest at once");
        assert_eq!(lines.iter().map(|r| r.offset).collect::<Vec<_>>(), [5, 6, 7]);
        assert_eq!(find(&lines, 6), Some(1));
        assert_eq!(find(&lines, 2), None);
    }

    #[test]
    fn only_the_rows_in_sight_and_a_margin_are_rendered() {
        let len = 100_000;
        // Before measuring: what the server renders.
        assert_eq!(row_window(len, 0, 0, true), (len - FIRST_WINDOW, len));
        assert_eq!(row_window(len, 0, 0, false), (0, FIRST_WINDOW));
        assert_eq!(row_window(10, 0, 0, true), (0, 10));
        // 440 px show 20 rows (+2 partly): 22 rendered, and OVERSCAN each side.
        let visible = 440 / ROW_PX as usize + 2;
        assert_eq!(row_window(len, 0, 440, false), (0, visible + OVERSCAN));
        let scrolled = 50_000 * ROW_PX;
        assert_eq!(row_window(len, scrolled, 440, false), (50_000 - OVERSCAN, 50_000 + visible + OVERSCAN));
        assert_eq!(row_window(len, scrolled, 440, true), (len - visible - OVERSCAN, len), "stuck to the newest");
        assert_eq!(row_window(len, i32::MAX, 440, false), (len, len), "scrolled past the end: nothing");
        assert_eq!(row_window(len, -300, 440, false).0, 0, "scrolled above the rows (the header)");
    }

    #[test]
    fn a_range_chunk_url_carries_the_view_and_the_cursor() {
        let view = LogView { q: "level>=warn".into(), since: "1h".into(), ..LogView::default() };
        let url = range_url("acme", "api", &view, 42);
        assert!(url.starts_with("/bff/orgs/acme/apps/api/records?"), "{url}");
        assert!(url.contains("since=1h") && url.ends_with("&cursor=42"), "{url}");
        assert_eq!(range_url("acme", "api", &LogView::default(), 7), "/bff/orgs/acme/apps/api/records?cursor=7");
    }
}
