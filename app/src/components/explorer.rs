//! Above the logs: how many lines of the view fall in each step of its
//! range (a live view: the last hour), stacked by level or status class,
//! and the fields' most frequent values. A value narrows the view to it
//! (alt-click, or its `−`, leaves it out); a drag across the histogram
//! replays that range; a click on it replays that step. Counted in place
//! on the server (`GET …/logs/stats` counts the same way), loaded after
//! the lines so it never holds them up, and counted again every 10 s while
//! the view is live.

use leptos::prelude::*;

use crate::api::get_log_explorer;
use crate::components::chart::Chart;
use crate::components::refresh::refresh_every_while;
use crate::model::{Explorer, Facet, LogView};

/// How often a live view's explorer counts again.
const LIVE_RECOUNT_MS: u64 = 10_000;

#[component]
pub fn LogExplorer(org: String, app: String, view: LogView) -> impl IntoView {
    // Drawn once the page is the browser's: the server and hydration both
    // leave it empty, so the two never disagree about it. Its code (the
    // chart's included) is its own module, fetched then, after the lines.
    let mounted = RwSignal::new(false);
    Effect::new(move |_| mounted.set(true));
    let shown = StoredValue::new((org, app, view));
    view! {
        <section class="explorer" aria-label="Volume and fields of this view" data-testid="explorer">
            <Show when=move || mounted.get() fallback=counting_note>
                <Suspense fallback=counting_note>
                    {move || {
                        let (org, app, view) = shown.get_value();
                        Suspend::new(explorer_counts(org, app, view))
                    }}
                </Suspense>
            </Show>
        </section>
    }
}

/// The counts and their drawing, counted again every 10 s while live.
#[lazy]
fn explorer_counts(org: String, app: String, view: LogView) -> AnyView {
    let live = !view.is_replay();
    let explorer = LocalResource::new(move || get_log_explorer(org.clone(), app.clone(), view.clone()));
    refresh_every_while(LIVE_RECOUNT_MS, move || explorer.refetch(), move || live);
    view! {
        <Transition fallback=counting_note>
            {move || Suspend::new(async move {
                match explorer.await {
                    Err(error) => view! { <p class="muted explorer-note">{format!("Could not count lines: {error}")}</p> }.into_any(),
                    Ok(None) => ().into_any(),
                    Ok(Some(explorer)) => view! { <ExplorerView explorer /> }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

/// What the explorer says while its code or its counts are on their way.
fn counting_note() -> impl IntoView {
    view! { <p class="muted explorer-note">"Counting lines…"</p> }
}

#[component]
fn ExplorerView(explorer: Explorer) -> impl IntoView {
    let Explorer { chart, total, range_label, facets, problem } = explorer;
    if problem.is_some() {
        return ().into_any();
    }
    let chart = match chart {
        Some(chart) => view! { <Chart chart /> }.into_any(),
        None => view! { <p class="muted explorer-note">{format!("No matching line in {range_label}.")}</p> }.into_any(),
    };
    let facets = facets.into_iter().map(|facet| view! { <FacetList facet /> }).collect_view();
    view! {
        <div class="explorer-volume">
            <p class="muted explorer-note" data-testid="explorer-total">{format!("{total} matching lines in {range_label}")}</p>
            {chart}
        </div>
        <div class="explorer-fields" aria-label="Fields">{facets}</div>
    }
    .into_any()
}

#[component]
fn FacetList(facet: Facet) -> impl IntoView {
    let Facet { field, values, other } = facet;
    let navigate = leptos_router::hooks::use_navigate();
    let items = values
        .into_iter()
        .map(|value| {
            let exclude = value.exclude.clone();
            let navigate = navigate.clone();
            // Alt-click leaves the value out, as the `−` link does.
            let on_click = move |event: leptos::ev::MouseEvent| {
                if event.alt_key() {
                    event.prevent_default();
                    navigate(&exclude, Default::default());
                }
            };
            view! {
                <li>
                    <a class="facet-value" href=value.include on:click=on_click title="Only these (alt-click: all but these)">
                        {value.value.clone()}
                    </a>
                    " " <span class="muted">{value.count}</span>
                    " " <a class="facet-exclude" href=value.exclude title="All but these" aria-label=format!("All but {}", value.value)>"−"</a>
                </li>
            }
        })
        .collect_view();
    let rest = (!other.is_empty()).then(|| view! { <li class="muted">{format!("other or none {other}")}</li> });
    let name = field.clone();
    view! {
        <div class="facet" data-field=field>
            <h3>{name}</h3>
            <ul>{items}{rest}</ul>
        </div>
    }
}
