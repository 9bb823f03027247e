//! The bar above the lines: how the stream is doing (and, once the server
//! ended it, why), how many lines the page holds and keeps, the time zone,
//! and the buttons that pause, resume, jump to the newest line or continue
//! a replay live.

use leptos::prelude::*;

use super::{OlderLoad, RangeLoad, TailState, HISTORY_CHOICES};
use crate::components::time::TimeZoneToggle;
use crate::model::group_thousands;

#[component]
pub fn LiveBar(tail: TailState) -> impl IntoView {
    view! {
        <div class="live-bar">
            <StreamStatus tail />
            <span class="muted line-count" data-testid="line-count">{move || tail.line_count()}</span>
            <OlderNote tail />
            <KeepLines tail />
            <TimeZoneToggle />
            <LiveActions tail />
        </div>
    }
}

/// The stream's state, a live region: screen readers hear it change, and
/// the server's sentence when it ended the stream.
#[component]
fn StreamStatus(tail: TailState) -> impl IntoView {
    view! {
        <span class=move || tail.status.get().class() role="status" data-testid="live-status">
            <span class="dot" aria-hidden="true"></span>
            {move || tail.status.get().label()}
            {move || tail.ended.get().map(|message| view! { <span class="live-end">{message}</span> })}
        </span>
    }
}

/// The *Keep N lines* menu, remembered by the browser.
#[component]
fn KeepLines(tail: TailState) -> impl IntoView {
    let chosen = move |event: leptos::ev::Event| {
        if let Ok(limit) = event_target_value(&event).parse::<usize>() {
            tail.keep(limit);
            #[cfg(feature = "hydrate")]
            crate::components::time::browser::remember(super::HISTORY_KEY, &limit.to_string());
        }
    };
    view! {
        <label class="history muted" title="Older lines leave the page beyond this">
            "Keep "
            <select data-testid="history" on:change=chosen>
                {HISTORY_CHOICES
                    .into_iter()
                    .map(|choice| view! {
                        <option value=choice.to_string() selected=move || tail.history.get() == choice>
                            {group_thousands(choice as u64)}
                        </option>
                    })
                    .collect_view()}
            </select>
            " lines"
        </label>
    }
}

#[component]
fn LiveActions(tail: TailState) -> impl IntoView {
    let following = tail.following;
    let no_pending = move || tail.pending.with(|waiting| waiting.is_empty());
    view! {
        <span class="live-actions">
            <Show when=move || !following.get()>
                <button
                    class="action"
                    disabled=move || tail.range.get() == RangeLoad::Loading
                    on:click=move |_| tail.continue_live()
                >"Continue live ▸"</button>
            </Show>
            <Show when=move || following.get()>
                <button
                    class="action"
                    data-testid="pause"
                    aria-pressed=move || tail.paused.get().to_string()
                    title="Space"
                    on:click=move |_| tail.toggle_pause()
                >
                    {move || if tail.paused.get() { "Resume" } else { "Pause" }}
                </button>
            </Show>
            <Show when=move || !no_pending()>
                <button class="new-lines" data-testid="new-lines" on:click=move |_| tail.jump_to_now()>
                    {move || tail.pending_count()}
                </button>
            </Show>
            <Show when=move || following.get() && !tail.list.stick_to_bottom.get() && no_pending()>
                <button class="jump" title="g" on:click=move |_| tail.jump_to_now()>"Jump to now ↓"</button>
            </Show>
        </span>
    }
}

/// How reading back from the first line goes, once the viewer scrolled to it.
#[component]
fn OlderNote(tail: TailState) -> impl IntoView {
    move || match tail.older.get() {
        OlderLoad::Idle => None,
        OlderLoad::Loading => Some(
            view! {
                <span class="muted older-note" data-testid="older-note">
                    <span class="spinner" aria-hidden="true"></span>
                    " Loading older lines…"
                </span>
            }
            .into_any(),
        ),
        OlderLoad::Start => Some(
            view! {
                <span class="muted older-note" data-testid="older-note">"From the first line"</span>
            }
            .into_any(),
        ),
        OlderLoad::Full => Some(
            view! {
                <span class="muted older-note" data-testid="older-note">
                    "As many lines as this page keeps: keep more to read further back"
                </span>
            }
            .into_any(),
        ),
        OlderLoad::Failed(error) => Some(
            view! {
                <span class="older-note state-error" role="alert" data-testid="older-note">
                    {format!("Older lines could not be loaded ({error}); reload the page to try again")}
                </span>
            }
            .into_any(),
        ),
    }
}
