//! The note above a replayed range's lines while the rest of the range
//! loads, and after: when the page could not keep all of it, or the
//! loading failed.

use leptos::prelude::*;

use super::{History, RangeLoad, TailState};
use crate::model::group_thousands;

#[component]
pub fn RangeNote(tail: TailState) -> impl IntoView {
    move || {
        let count = group_thousands(tail.records.with(History::len) as u64);
        match tail.range.get() {
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
    }
}
