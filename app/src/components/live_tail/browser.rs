//! What the live tail starts once it runs in the browser: the viewer's
//! remembered *Keep* choice, the loading of a replayed range, the live
//! stream (now, or on *Continue live*), the list's measuring, and the keys.
//! Everything started here stops when the list leaves the page.

use futures::future::{AbortHandle, Abortable};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::{stream, TailSource, TailState, HISTORY_CHOICES, HISTORY_KEY};

pub fn start(tail: TailState, source: TailSource, more_from: Option<u64>) {
    if let Some(limit) = crate::components::time::browser::remembered(HISTORY_KEY)
        .and_then(|text| text.parse::<usize>().ok())
        .filter(|limit| HISTORY_CHOICES.contains(limit))
    {
        // After hydration: the server rendered the default.
        tail.list.next_frame(move || tail.keep(limit));
    }
    if let Some(cursor) = more_from {
        let source = source.clone();
        run_while_shown(stream::load_range(move |cursor| source.range_url(cursor), cursor, tail));
    }
    load_older_at_the_top(tail, source.clone());
    follow_when_asked(tail, source);
    measure_the_list(tail);
    let keys = on_keys(move |key| handle_key(tail, key));
    on_cleanup(move || keys.remove());
}

/// Follows the live stream once `following` is set: at once when live,
/// on *Continue live* after a replay; once only.
fn follow_when_asked(tail: TailState, source: TailSource) {
    let (abort, registration) = AbortHandle::new_pair();
    let registration = StoredValue::new(Some(registration));
    Effect::new(move |_| {
        if !tail.following.get() {
            return;
        }
        let Some(registration) = registration.try_update_value(Option::take).flatten() else { return };
        tail.set_status(super::LiveStatus::Connecting);
        let follow = stream::follow(source.clone(), tail.resume_from.get_value(), tail);
        leptos::task::spawn_local(async move {
            let _ = Abortable::new(follow, registration).await;
        });
    });
    on_cleanup(move || abort.abort());
}

/// Reads the lines before the first one whenever the viewer scrolls to the
/// top of the list, a chunk at a time, until the range's start or the
/// page's bound.
fn load_older_at_the_top(tail: TailState, source: TailSource) {
    let (abort, registration) = AbortHandle::new_pair();
    let registration = StoredValue::new(Some(registration));
    let (wake, mut woken) = futures::channel::mpsc::unbounded::<()>();
    Effect::new(move |_| {
        if tail.wants_older() {
            tail.older.set(super::OlderLoad::Loading);
            let _ = wake.unbounded_send(());
        }
    });
    let Some(registration) = registration.try_update_value(Option::take).flatten() else { return };
    leptos::task::spawn_local(async move {
        let load = async move {
            use futures::StreamExt;
            while woken.next().await.is_some() {
                let Some(first) = tail.records.with_untracked(|shown| shown.front().map(|record| record.offset)) else {
                    continue;
                };
                match stream::fetch_older(&source.older_url(first)).await {
                    Ok((lines, more)) => tail.prepend(lines, more),
                    Err(error) => tail.older.set(super::OlderLoad::Failed(error)),
                }
            }
        };
        let _ = Abortable::new(load, registration).await;
    });
    on_cleanup(move || abort.abort());
}

/// Runs `task` until the list leaves the page.
fn run_while_shown(task: impl std::future::Future<Output = ()> + 'static) {
    let (abort, registration) = AbortHandle::new_pair();
    leptos::task::spawn_local(async move {
        let _ = Abortable::new(task, registration).await;
    });
    on_cleanup(move || abort.abort());
}

/// Measures the list once laid out, and again when the window changes
/// size; keeps the newest line in sight while sticking to it.
fn measure_the_list(tail: TailState) {
    let list = tail.list;
    list.next_frame(move || {
        if list.stick_to_bottom.get_untracked() {
            list.scroll_to_end();
        }
        list.measure();
        list.hydrated.set(true);
    });
    let resized = window_event_listener(leptos::ev::resize, move |_| list.measure());
    on_cleanup(move || resized.remove());
    Effect::new(move |_| {
        tail.records.track();
        if list.stick_to_bottom.get_untracked() {
            // After the new rows are laid out, also on the first paint of
            // a page reached by a client-side link.
            list.next_frame(move || list.scroll_to_end());
        }
    });
}

/// `/` focuses the filter, `space` pauses or resumes, `g` jumps to the
/// newest line, `j` / `k` select the next / previous line. True when the
/// key was used.
fn handle_key(tail: TailState, key: &str) -> bool {
    let following = tail.following.get_untracked();
    match key {
        "/" => focus("filter"),
        " " if following => {
            tail.toggle_pause();
            true
        }
        "g" if following => {
            tail.jump_to_now();
            true
        }
        "j" | "k" => {
            tail.step_selection(key == "j");
            true
        }
        _ => false,
    }
}

/// Calls `handle` with the key of each key press outside a text field;
/// when it returns true the key's default action is prevented.
fn on_keys(handle: impl Fn(&str) -> bool + 'static) -> WindowListenerHandle {
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
fn focus(id: &str) -> bool {
    document()
        .get_element_by_id(id)
        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok())
        .is_some_and(|element| element.focus().is_ok())
}
