//! What the live tail knows, as signals, and everything that can be done to
//! it, as methods: the pieces (`bar.rs`, `rows.rs`, `range_note.rs`) and
//! the browser's streams (`stream.rs`) share one [`TailState`], a handle
//! that copies as cheaply as a signal, and change it only through these
//! methods.

use leptos::html::Div;
use leptos::prelude::*;

use super::{append_bounded, find, row_window, History, LiveStatus, OlderLoad, RangeLoad, DEFAULT_HISTORY, ROW_PX};
use crate::components::log_row::RowLook;
use crate::model::{group_thousands, ShownRecord, StreamEnd};

/// The lines of the page, how they arrive, and how the list shows them.
#[derive(Clone, Copy)]
pub struct TailState {
    /// The lines on the page, oldest first.
    pub records: RwSignal<History>,
    /// Lines that arrived while paused, shown on resume, in order.
    pub pending: RwSignal<History>,
    pub paused: RwSignal<bool>,
    /// Whether the page follows the live stream (a replay does not, until
    /// *Continue live*).
    pub following: RwSignal<bool>,
    pub status: RwSignal<LiveStatus>,
    /// What the server said when it ended the stream, for people.
    pub ended: RwSignal<Option<String>>,
    /// How many lines the page keeps.
    pub history: RwSignal<usize>,
    pub range: RwSignal<RangeLoad>,
    /// Lines before the first one, read when scrolling up.
    pub older: RwSignal<OlderLoad>,
    /// Where following live starts: after the last line of the page.
    pub resume_from: StoredValue<u64>,
    /// The line whose details are open, by offset.
    pub selected: RwSignal<Option<u64>>,
    pub list: ListScroll,
    /// The rows to render, `start..end` of [`TailState::records`].
    pub window: Memo<(usize, usize)>,
}

/// Where the scrolled list stands, and the elements it is measured on.
#[derive(Clone, Copy)]
pub struct ListScroll {
    /// Whether the view sticks to the newest line; scrolling up lets go.
    pub stick_to_bottom: RwSignal<bool>,
    /// How far the list is scrolled into its rows.
    pub scroll_px: RwSignal<i32>,
    /// How high the list is; 0 until the browser measured it.
    pub viewport_px: RwSignal<i32>,
    /// The scrolling element, and the rows inside it (below the access
    /// table's header, if any).
    pub scroller: NodeRef<Div>,
    pub rows: NodeRef<Div>,
    /// Set once the list runs in the browser and has measured itself; the
    /// list says so in `data-hydrated`, which browser tests wait for.
    pub hydrated: RwSignal<bool>,
}

impl TailState {
    /// A tail that starts with `initial`; a replay does not follow live, and
    /// `loading_range` says the browser loads the rest of the range.
    pub fn new(initial: Vec<ShownRecord>, replay: bool, next_offset: u64, loading_range: bool) -> TailState {
        let records = RwSignal::new(History::from(initial));
        let list = ListScroll {
            stick_to_bottom: RwSignal::new(!replay),
            scroll_px: RwSignal::new(0),
            viewport_px: RwSignal::new(0),
            scroller: NodeRef::new(),
            rows: NodeRef::new(),
            hydrated: RwSignal::new(false),
        };
        let window = Memo::new(move |_| {
            row_window(
                records.with(History::len),
                list.scroll_px.get(),
                list.viewport_px.get(),
                list.stick_to_bottom.get(),
            )
        });
        TailState {
            records,
            pending: RwSignal::new(History::new()),
            paused: RwSignal::new(false),
            following: RwSignal::new(!replay),
            status: RwSignal::new(if replay { LiveStatus::Replay } else { LiveStatus::Connecting }),
            ended: RwSignal::new(None),
            history: RwSignal::new(DEFAULT_HISTORY),
            range: RwSignal::new(if loading_range { RangeLoad::Loading } else { RangeLoad::Complete }),
            older: RwSignal::new(OlderLoad::Idle),
            resume_from: StoredValue::new(next_offset),
            selected: RwSignal::new(None),
            list,
            window,
        }
    }

    /// Adds lines to the page (or aside, while paused), dropping the oldest
    /// beyond the page's bound. A viewer reading older lines keeps them in
    /// place as the oldest leave. Does nothing once the page is gone.
    pub fn add(self, lines: Vec<ShownRecord>) {
        let (Some(limit), Some(paused)) = (self.history.try_get_untracked(), self.paused.try_get_untracked()) else {
            return;
        };
        if paused {
            self.pending.update(|waiting| {
                append_bounded(waiting, lines, limit);
            });
            return;
        }
        let dropped = self.records.try_update(|shown| append_bounded(shown, lines, limit)).unwrap_or(0);
        self.list.keep_in_place(dropped);
    }

    /// Puts `lines`, older than the first one shown, before it, as many as
    /// the page has room for; what was in sight stays in sight.
    pub fn prepend(self, lines: Vec<ShownRecord>, more: bool) {
        let room = self.history.get_untracked().saturating_sub(self.records.with_untracked(History::len));
        let skip = lines.len().saturating_sub(room);
        let added = lines.len() - skip;
        self.records.update(|shown| {
            for record in lines.into_iter().skip(skip).rev() {
                shown.push_front(record);
            }
        });
        let next = if skip > 0 || room == added {
            OlderLoad::Full
        } else if more {
            OlderLoad::Idle
        } else {
            OlderLoad::Start
        };
        // Once the rows' box has grown (after this update's effects), or
        // the browser would cap the scroll at the old height; and only then
        // may the top ask for more.
        let (list, older) = (self.list, self.older);
        list.next_frame(move || {
            if let Some(scroller) = list.scroller.get_untracked() {
                scroller.set_scroll_top(scroller.scroll_top() + added as i32 * ROW_PX);
            }
            list.measure();
            older.set(next);
        });
    }

    /// Whether scrolling has reached the top of lines that may have older ones.
    pub fn wants_older(self) -> bool {
        self.list.hydrated.get()
            && !self.list.stick_to_bottom.get()
            && self.list.scroll_px.get() < ROW_PX * 5
            && self.older.with(|older| *older == OlderLoad::Idle)
            && self.range.with(|range| *range != RangeLoad::Loading)
            && self.records.with(|shown| !shown.is_empty())
    }

    /// Shows the lines that arrived while paused, and follows again.
    pub fn resume(self) {
        let arrived = self.pending.try_update(std::mem::take).unwrap_or_default();
        let limit = self.history.get_untracked();
        let dropped = self.records.try_update(|shown| append_bounded(shown, arrived, limit)).unwrap_or(0);
        self.list.keep_in_place(dropped);
        self.paused.set(false);
    }

    /// `space`, or the *Pause* / *Resume* button.
    pub fn toggle_pause(self) {
        if self.paused.get_untracked() {
            self.resume();
        } else {
            self.paused.set(true);
        }
    }

    /// `g`, or *Jump to now*: the newest line, in sight and followed.
    pub fn jump_to_now(self) {
        if self.paused.get_untracked() {
            self.resume();
        }
        self.list.stick_to_bottom.set(true);
        self.list.scroll_to_end();
    }

    /// *Continue live* after a replayed range: follows on from its last line.
    pub fn continue_live(self) {
        self.following.set(true);
        self.list.stick_to_bottom.set(true);
    }

    /// Keeps at most `limit` lines, dropping the oldest now if need be.
    pub fn keep(self, limit: usize) {
        self.history.set(limit);
        if self.older.get_untracked() == OlderLoad::Full {
            self.older.set(OlderLoad::Idle);
        }
        let dropped = self.records.try_update(|shown| append_bounded(shown, None, limit)).unwrap_or(0);
        self.list.keep_in_place(dropped);
        self.pending.update(|waiting| {
            append_bounded(waiting, None, limit);
        });
    }

    /// `j` / `k`: selects the next (newer) or previous (older) line, and
    /// scrolls it into sight.
    pub fn step_selection(self, forward: bool) {
        let next = self.records.with(|shown| {
            let at = self.selected.get_untracked().and_then(|offset| find(shown, offset));
            let index = match (at, forward) {
                (None, _) => shown.len().checked_sub(1),
                (Some(at), true) => Some((at + 1).min(shown.len().saturating_sub(1))),
                (Some(at), false) => Some(at.saturating_sub(1)),
            };
            index.map(|index| (index, shown[index].offset))
        });
        if let Some((index, offset)) = next {
            self.selected.set(Some(offset));
            self.list.stick_to_bottom.set(false);
            self.list.reveal(index);
        }
    }

    /// Shows how the stream is doing, notifying only on a change.
    pub fn set_status(self, now: LiveStatus) {
        if self.status.try_get_untracked().is_some_and(|status| status != now) {
            self.status.set(now);
        }
    }

    /// The server ended the stream: it is not followed any more, and the
    /// status says why.
    pub fn end(self, end: StreamEnd) {
        self.ended.set(Some(end.message));
        self.set_status(LiveStatus::Ended);
    }

    /// The scroll event: sticks to the newest line when scrolled to it
    /// (while following), and measures what is now in sight.
    pub fn scrolled(self) {
        if let Some(list) = self.list.scroller.get_untracked() {
            let distance = list.scroll_height() - list.scroll_top() - list.client_height();
            let stick = self.following.get_untracked() && distance < ROW_PX * 2;
            if self.list.stick_to_bottom.get_untracked() != stick {
                self.list.stick_to_bottom.set(stick);
            }
        }
        self.list.measure();
    }

    /// `N lines`, for the bar.
    pub fn line_count(self) -> String {
        plural_lines(self.records.with(History::len))
    }

    /// `N new lines`, waiting while paused.
    pub fn pending_count(self) -> String {
        let count = self.pending.with(History::len);
        format!("{} new line{}", group_thousands(count as u64), if count == 1 { "" } else { "s" })
    }

    /// The rows of the window, each with how it looks.
    pub fn rows_in_window(self, local_times: bool) -> Vec<(ShownRecord, RowLook)> {
        let (start, end) = self.window.get();
        let chosen = self.selected.get();
        self.records.with(|shown| {
            shown
                .range(start..end)
                .map(|record| (record.clone(), RowLook { selected: chosen == Some(record.offset), local: local_times }))
                .collect()
        })
    }

    /// The selected line, while the page keeps it.
    pub fn selected_record(self) -> Option<ShownRecord> {
        let offset = self.selected.get()?;
        self.records.with(|shown| find(shown, offset).map(|index| shown[index].clone()))
    }

    /// The height of the rows' box: every row's until measured (the
    /// server's render, the first paint), only the window's rows, from
    /// the top, since the full height would show blank space above the
    /// newest lines.
    pub fn rows_height_px(self) -> i64 {
        let rows = if self.list.viewport_px.get() == 0 {
            let (start, end) = self.window.get();
            end - start
        } else {
            self.records.with(History::len)
        };
        rows as i64 * ROW_PX as i64
    }

    /// How far down the window's first row sits in the rows' box.
    pub fn window_top_px(self) -> i64 {
        let top = if self.list.viewport_px.get() == 0 { 0 } else { self.window.get().0 };
        top as i64 * ROW_PX as i64
    }
}

impl ListScroll {
    /// Reads how far the list is scrolled and how high it is. The first
    /// time it has a height, the newest line is further down: it scrolls
    /// there when sticking to it.
    pub fn measure(self) {
        let (Some(list), Some(rows)) = (self.scroller.get_untracked(), self.rows.get_untracked()) else { return };
        let first_measure = self.viewport_px.get_untracked() == 0 && list.client_height() > 0;
        let scrolled = list.scroll_top() - rows.offset_top();
        if self.scroll_px.get_untracked() != scrolled {
            self.scroll_px.set(scrolled);
        }
        if self.viewport_px.get_untracked() != list.client_height() {
            self.viewport_px.set(list.client_height());
        }
        if first_measure && self.stick_to_bottom.get_untracked() {
            self.next_frame(move || self.scroll_to_end());
        }
    }

    /// Rows that left the top while the viewer reads older ones: the rest
    /// move up by as much, so what is in sight stays in sight.
    pub fn keep_in_place(self, dropped: usize) {
        if dropped > 0 && !self.stick_to_bottom.get_untracked() {
            if let Some(list) = self.scroller.get_untracked() {
                list.set_scroll_top(list.scroll_top() - dropped as i32 * ROW_PX);
            }
        }
    }

    /// Runs `then` at the next frame, unless the list has left the page
    /// by then (a link followed at once): its signals are gone with it.
    pub fn next_frame(self, then: impl FnOnce() + 'static) {
        request_animation_frame(move || {
            if !self.hydrated.is_disposed() {
                then();
            }
        });
    }

    pub fn scroll_to_end(self) {
        if let Some(list) = self.scroller.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
    }

    /// Scrolls just enough for the row at `index` to be in sight.
    pub fn reveal(self, index: usize) {
        let (Some(list), Some(rows)) = (self.scroller.get_untracked(), self.rows.get_untracked()) else { return };
        let (cover, top) = (rows.offset_top(), rows.offset_top() + index as i32 * ROW_PX);
        if top < list.scroll_top() + cover {
            list.set_scroll_top(top - cover);
        } else if top + ROW_PX > list.scroll_top() + list.client_height() {
            list.set_scroll_top(top + ROW_PX - list.client_height());
        }
    }
}

fn plural_lines(count: usize) -> String {
    format!("{} line{}", group_thousands(count as u64), if count == 1 { "" } else { "s" })
}
