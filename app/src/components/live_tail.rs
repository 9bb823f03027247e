//! The live list of an app's service logs. The server renders the newest
//! lines; in the browser the list then follows the Logs API's live stream
//! (Server-Sent Events through `gloo-net`), starting right after the last
//! line it was rendered with. When the stream drops, the browser reconnects
//! with `Last-Event-ID`; when it gives up, this component opens a new stream
//! from the next offset it has not seen, so no line is lost or doubled.

use leptos::html::Div;
use leptos::prelude::*;

use crate::components::log_row::LogRow;
use crate::model::ServiceRecord;

/// Lines kept in the page; older ones leave from the top.
pub const MAX_LINES_IN_PAGE: usize = 5_000;

/// How the live stream is doing, shown beside the app's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveStatus {
    Connecting,
    Live,
    Reconnecting,
}

impl LiveStatus {
    fn label(self) -> &'static str {
        match self {
            LiveStatus::Connecting => "Connecting…",
            LiveStatus::Live => "Live",
            LiveStatus::Reconnecting => "Reconnecting…",
        }
    }

    fn class(self) -> &'static str {
        match self {
            LiveStatus::Connecting => "live-status connecting",
            LiveStatus::Live => "live-status live",
            LiveStatus::Reconnecting => "live-status reconnecting",
        }
    }
}

/// The URL of an app's live service-log stream, starting at `from_offset`.
pub fn live_url(org: &str, app: &str, from_offset: u64) -> String {
    format!("/bff/orgs/{org}/apps/{app}/live?kind=service&from={from_offset}")
}

#[component]
pub fn LiveTail(org: String, app: String, initial: Vec<ServiceRecord>, next_offset: u64) -> impl IntoView {
    let records = RwSignal::new(initial);
    let status = RwSignal::new(LiveStatus::Connecting);
    // Whether the view sticks to the newest line; scrolling up lets go.
    let stick_to_bottom = RwSignal::new(true);
    let scroller = NodeRef::<Div>::new();

    #[cfg(feature = "hydrate")]
    {
        let (abort, registration) = futures::future::AbortHandle::new_pair();
        leptos::task::spawn_local(async move {
            let follow = browser::follow(org, app, next_offset, records, status);
            let _ = futures::future::Abortable::new(follow, registration).await;
        });
        on_cleanup(move || abort.abort());

        Effect::new(move |_| {
            records.track();
            if stick_to_bottom.get_untracked() {
                if let Some(element) = scroller.get() {
                    element.set_scroll_top(element.scroll_height());
                }
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (org, app, next_offset);

    let on_scroll = move |_| {
        if let Some(element) = scroller.get() {
            let distance = element.scroll_height() - element.scroll_top() - element.client_height();
            stick_to_bottom.set(distance < 40);
        }
    };
    let jump_to_now = move |_| {
        stick_to_bottom.set(true);
        if let Some(element) = scroller.get() {
            element.set_scroll_top(element.scroll_height());
        }
    };

    view! {
        <div class="live-tail">
            <div class="live-bar">
                <span class=move || status.get().class() data-testid="live-status">
                    <span class="dot" aria-hidden="true"></span>
                    {move || status.get().label()}
                </span>
                <span class="muted line-count">
                    {move || format!("{} lines shown", records.with(Vec::len))}
                </span>
                <span class="muted tz">"Times in UTC"</span>
                <Show when=move || !stick_to_bottom.get()>
                    <button class="jump" on:click=jump_to_now>"Jump to now ↓"</button>
                </Show>
            </div>
            <div class="log-scroll" node_ref=scroller on:scroll=on_scroll data-testid="log-lines">
                <Show when=move || records.with(Vec::is_empty)>
                    <div class="state state-missing">
                        <h2>"This app has not logged yet"</h2>
                        <p>"New lines appear here as soon as they arrive. To send one by hand:"</p>
                        <pre class="hint">{"curl -X POST -H 'content-type: text/plain' --data 'hello from curl' \\\n  http://HOST/api/v1/orgs/ORG/apps/APP/logs"}</pre>
                    </div>
                </Show>
                <For
                    each=move || records.get()
                    key=|record| record.offset
                    children=move |record| view! { <LogRow record /> }
                />
            </div>
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use futures::StreamExt;
    use gloo_net::eventsource::futures::{EventSource, EventSourceSubscription};
    use gloo_net::eventsource::State;
    use leptos::prelude::*;
    use std::time::Duration;

    use super::{live_url, LiveStatus, MAX_LINES_IN_PAGE};
    use crate::model::ServiceRecord;

    /// Follows the live stream for as long as the page shows it.
    ///
    /// The browser reconnects a dropped stream by itself, sending
    /// `Last-Event-ID`; while it does, the status says so. If the browser
    /// gives up (the stream answered with an error), a new stream starts
    /// from the first offset this page has not shown, after a growing pause.
    pub async fn follow(
        org: String,
        app: String,
        mut next_offset: u64,
        records: RwSignal<Vec<ServiceRecord>>,
        status: RwSignal<LiveStatus>,
    ) {
        let mut retry_ms = 500;
        loop {
            if let Ok(mut source) = EventSource::new(&live_url(&org, &app, next_offset)) {
                if let Ok(events) = source.subscribe("message") {
                    let receive = Box::pin(receive(events, &mut next_offset, records, status, &mut retry_ms));
                    let watch = Box::pin(watch_connection(source.clone(), status));
                    futures::future::select(receive, watch).await;
                }
                source.close();
            }
            set_status(status, LiveStatus::Reconnecting);
            sleep(Duration::from_millis(retry_ms)).await;
            retry_ms = (retry_ms * 2).min(10_000);
        }
    }

    /// Adds each live batch to the page until the stream ends.
    async fn receive(
        mut events: EventSourceSubscription,
        next_offset: &mut u64,
        records: RwSignal<Vec<ServiceRecord>>,
        status: RwSignal<LiveStatus>,
        retry_ms: &mut u64,
    ) {
        while let Some(Ok((_, event))) = events.next().await {
            let Some(data) = event.data().as_string() else { continue };
            let batch: Vec<ServiceRecord> = match serde_json::from_str(&data) {
                Ok(batch) => batch,
                Err(error) => {
                    leptos::logging::warn!("skipping an unreadable live event: {error}");
                    continue;
                }
            };
            set_status(status, LiveStatus::Live);
            *retry_ms = 500;
            // A reconnect may send again what the page already has; keep
            // only what is new to it.
            let fresh: Vec<ServiceRecord> = batch.into_iter().filter(|record| record.offset >= *next_offset).collect();
            if let Some(last) = fresh.last() {
                *next_offset = last.offset + 1;
                records.update(|shown| {
                    shown.extend(fresh);
                    let excess = shown.len().saturating_sub(MAX_LINES_IN_PAGE);
                    shown.drain(..excess);
                });
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
