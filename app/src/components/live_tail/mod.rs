//! The list of an app's log lines, live or replayed.
//!
//! The server renders the first lines; in the browser the list then follows
//! the Logs API's live stream (Server-Sent Events through `gloo-net`),
//! starting right after the last line it was rendered with, or loads the
//! rest of a replayed range in chunks. When the stream drops, the browser
//! reconnects with `Last-Event-ID`; when it gives up, or when the stream
//! falls silent (neither a line nor a heartbeat for [`SILENCE_MS`]), a new
//! stream starts from the next offset the page has not seen, so no line is
//! lost or doubled. When the server ends the stream (`event: end`: the
//! session ended, the viewer lost access), the page stops following and
//! says why; an ended session leads to the sign-in form.
//!
//! The page keeps up to a chosen number of lines (100,000 unless the viewer
//! picks another bound, remembered in `localStorage` under `vigie.history`),
//! but only the rows in sight, and a margin around them, are in the DOM:
//! every row is [`ROW_PX`] high, so a row's place is its index times that.
//! Live lines are added at most every [`FLUSH_MS`], so a flood of lines costs
//! a bounded amount of rendering.
//!
//! The rooms: [`LiveTail`] here puts the pieces together; `state.rs` holds
//! what the tail knows and every action on it ([`TailState`]); `bar.rs` the
//! status, the line count, the *Keep* menu and the pause buttons; `rows.rs`
//! the virtualised list and the selected line's details; `range_note.rs`
//! how the loading of a range goes; and, in the browser only, `stream.rs`
//! the live stream and the range's chunks, `browser.rs` what starts them,
//! the measuring and the keys.

mod bar;
#[cfg(feature = "hydrate")]
mod browser;
mod range_note;
mod rows;
mod state;
#[cfg(feature = "hydrate")]
pub(crate) mod stream;

use std::collections::VecDeque;

use leptos::prelude::*;

use crate::components::log_row::SelectedLine;
use crate::model::{url_encode, LogView, ShownRecord, ViewKind};
use bar::LiveBar;
use range_note::RangeNote;
use rows::{LogRows, SelectedDetails};
pub use state::TailState;

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
/// Where the browser remembers the viewer's choice of [`HISTORY_CHOICES`].
pub const HISTORY_KEY: &str = "vigie.history";

/// How often, at most, live lines are added to the view.
pub const FLUSH_MS: u64 = 50;

/// How long a live stream may stay silent (no line, no heartbeat) before
/// it is taken for dead and opened again. The server sends a heartbeat
/// every 5 s, so this is two missed heartbeats and some slack.
pub const SILENCE_MS: u64 = 12_000;

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
    /// The server ended the stream (the viewer may no longer read it); it
    /// is not opened again.
    Ended,
}

impl LiveStatus {
    fn label(self) -> &'static str {
        match self {
            LiveStatus::Connecting => "Connecting…",
            LiveStatus::Live => "Live",
            LiveStatus::Reconnecting => "Reconnecting…",
            LiveStatus::Replay => "Replay",
            LiveStatus::Ended => "Stopped",
        }
    }

    fn class(self) -> &'static str {
        match self {
            LiveStatus::Connecting => "live-status connecting",
            LiveStatus::Live => "live-status live",
            LiveStatus::Reconnecting => "live-status reconnecting",
            LiveStatus::Replay => "live-status replay",
            LiveStatus::Ended => "live-status ended",
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

/// Where the loading of the lines before the page's first one stands: a
/// viewer scrolling up to the top of the list reads further back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OlderLoad {
    /// There may be older lines; scrolling to the top loads them.
    Idle,
    Loading,
    /// The first line of the range (or of the topic) is on the page.
    Start,
    /// The page holds as many lines as it keeps.
    Full,
    Failed(String),
}

/// Lines read at a time when scrolling up.
pub const OLDER_CHUNK: usize = 500;

/// What the list shows and where its lines come from.
#[derive(Clone, Debug)]
pub struct TailSource {
    pub org: String,
    pub app: String,
    /// Kind, filter (matches are marked; the stream keeps only matching
    /// lines) and range.
    pub view: LogView,
}

impl TailSource {
    /// The live stream from `from_offset` on.
    pub fn live_url(&self, from_offset: u64) -> String {
        live_url(&self.org, &self.app, self.view.kind, &self.view.q, from_offset)
    }

    /// The next chunk of the replayed range, from offset `cursor` on.
    pub fn range_url(&self, cursor: u64) -> String {
        range_url(&self.org, &self.app, &self.view, cursor)
    }

    /// The lines of the view just before offset `before`.
    pub fn older_url(&self, before: u64) -> String {
        let query = self.view.to_query();
        let joiner = if query.is_empty() { "?" } else { "&" };
        format!(
            "/bff/orgs/{}/apps/{}/records{query}{joiner}order=desc&cursor={before}&limit={OLDER_CHUNK}",
            self.org, self.app
        )
    }
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
    /// What the page shows: kind, filter (the stream keeps only matching
    /// lines) and range.
    view: LogView,
    /// The filter's text terms, marked in the lines.
    needles: Vec<String>,
    initial: Vec<ShownRecord>,
    /// One past the last line of `initial`: where following live starts.
    next_offset: u64,
    /// A replayed range holding more than `initial`: where the rest starts.
    more_from: Option<u64>,
) -> impl IntoView {
    let tail = TailState::new(initial, view.is_replay(), next_offset, more_from.is_some());
    provide_context(SelectedLine(tail.selected));
    let (kind, replay, filtering, needles) =
        (view.kind, view.is_replay(), !view.q.trim().is_empty(), std::sync::Arc::new(needles));
    let details = (org.clone(), app.clone());
    let source = TailSource { org, app, view };
    #[cfg(feature = "hydrate")]
    browser::start(tail, source, more_from);
    #[cfg(not(feature = "hydrate"))]
    let _ = (source, more_from);

    view! {
        <div class="live-tail">
            <LiveBar tail />
            <RangeNote tail />
            <LogRows tail kind replay filtering needles />
            <SelectedDetails tail org=details.0 app=details.1 kind />
        </div>
    }
    .into_any()
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

    #[test]
    fn a_live_url_starts_at_the_offset_and_keeps_the_filter() {
        let source = TailSource {
            org: "acme".into(),
            app: "api".into(),
            view: LogView { q: " level>=warn ".into(), ..LogView::default() },
        };
        assert_eq!(source.live_url(7), "/bff/orgs/acme/apps/api/live?kind=service&from=7&q=level%3E%3Dwarn");
    }
}
