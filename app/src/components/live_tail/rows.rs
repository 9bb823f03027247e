//! The lines themselves: a scrolling list that renders only the rows of
//! [`TailState::window`] inside a box as high as all of them, what it says
//! while it has none, and the details of the selected line below it.

use leptos::prelude::*;

use super::TailState;
use crate::components::log_row::{AccessHeader, LogRow, Needles};
use crate::components::time::LocalTimes;
use crate::model::ViewKind;

#[component]
pub fn LogRows(
    tail: TailState,
    kind: ViewKind,
    /// A replayed range rather than the live view.
    replay: bool,
    /// Whether a filter narrows the lines.
    filtering: bool,
    /// What the filter looks for, marked in the lines.
    needles: Needles,
) -> impl IntoView {
    let access = kind == ViewKind::Access;
    let list = tail.list;
    let empty = move || tail.records.with(|shown| shown.is_empty());
    let local_times = use_context::<LocalTimes>().map(|choice| choice.0);
    view! {
        <div
            class="log-scroll"
            class:access=access
            node_ref=list.scroller
            on:scroll=move |_| tail.scrolled()
            tabindex="0"
            data-testid="log-lines"
            data-hydrated=move || list.hydrated.get().then_some("")
            role=move || (access && !empty()).then_some("table")
            aria-label=access.then_some("Requests")
        >
            <Show when=move || access && !empty()>
                <AccessHeader />
            </Show>
            <Show when=empty>
                <NoLines access replay filtering />
            </Show>
            <div class="log-rows" node_ref=list.rows style:height=move || format!("{}px", tail.rows_height_px())>
                <div
                    class="log-window"
                    role=access.then_some("rowgroup")
                    style:transform=move || format!("translateY({}px)", tail.window_top_px())
                >
                    <For
                        each=move || tail.rows_in_window(local_times.is_some_and(|local| local.get()))
                        key=|(record, look)| (record.offset, *look)
                        children=move |(record, look)| view! { <LogRow record look needles=needles.clone() /> }
                    />
                </div>
            </div>
        </div>
    }
}

/// What an empty list says: why it may be empty, and how to fill it.
#[component]
fn NoLines(access: bool, replay: bool, filtering: bool) -> impl IntoView {
    if replay || filtering || access {
        let title = match (replay, filtering) {
            (true, _) => "No logs in this range",
            (false, true) => "No line matches this filter yet",
            (false, false) => "No request has reached this app yet",
        };
        view! {
            <div class="state state-missing">
                <h2>{title}</h2>
                <p>"Widen the range or loosen the filter; new matching lines appear here when following live."</p>
            </div>
        }
        .into_any()
    } else {
        view! {
            <div class="state state-missing">
                <h2>"This app has not logged yet"</h2>
                <p>"New lines appear here as soon as they arrive. To send one by hand:"</p>
                <pre class="hint">{"curl -X POST -H \"authorization: Bearer $TOKEN\" -H 'content-type: text/plain' \\\n  --data 'hello from curl' http://HOST/api/v1/orgs/ORG/apps/APP/logs"}</pre>
            </div>
        }
        .into_any()
    }
}

/// All the fields of the selected line, below the list, as the server
/// draws them; drawn again only when the selection changes, not at each
/// live batch (which would close the context the viewer opened).
#[component]
pub fn SelectedDetails(tail: TailState, org: String, app: String, kind: ViewKind) -> impl IntoView {
    let drawn = RwSignal::new(String::new());
    let failed = RwSignal::new(None::<String>);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let Some(offset) = tail.selected.get() else {
            drawn.set(String::new());
            return failed.set(None);
        };
        let (org, app) = (org.clone(), app.clone());
        leptos::task::spawn_local(async move {
            let found = crate::api::get_line_details(org, app, kind, offset).await;
            // A later selection wins over this one.
            if tail.selected.try_get_untracked() != Some(Some(offset)) {
                return;
            }
            match found {
                Ok(Some(html)) => {
                    drawn.set(html);
                    failed.set(None);
                }
                Ok(None) => failed.set(Some("this line is no longer stored".to_string())),
                Err(error) => failed.set(Some(error.to_string())),
            }
        });
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (tail, org, app, kind);
    #[cfg(feature = "hydrate")]
    let act = crate::components::log_row::act_on_details;
    #[cfg(not(feature = "hydrate"))]
    let act = |_: leptos::ev::MouseEvent| {};
    view! {
        {move || failed.get().map(|error| view! { <p class="muted details-failed">{format!("No details: {error}")}</p> })}
        <div class="details-slot" on:click=act inner_html=move || drawn.get()></div>
    }
}
