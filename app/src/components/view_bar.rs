//! The bar above an app's logs: the filter, and whether the list follows
//! live or replays a time range. Every choice is a plain GET form or link
//! to the same page with another query string, so the URL always says what
//! is shown, a reload restores it, and it works before hydration.

use leptos::prelude::*;

use crate::model::{LogView, ViewKind, ViewProblem};

/// Quick ranges: label and `since`.
const PRESETS: [(&str, &str); 4] = [("15 min", "15m"), ("1 h", "1h"), ("24 h", "24h"), ("7 d", "7d")];

#[component]
pub fn ViewBar(
    /// The page's path, without its query string.
    base: String,
    view: LogView,
    problem: Option<ViewProblem>,
) -> impl IntoView {
    let href = {
        let base = base.clone();
        move |view: LogView| format!("{base}{}", view.to_query())
    };
    let live = LogView { kind: view.kind, q: view.q.clone(), cols: view.cols.clone(), ..LogView::default() };
    let live_active = !view.is_replay();
    let presets = PRESETS
        .iter()
        .map(|(label, since)| {
            let target = LogView { since: since.to_string(), until: String::new(), ..view.clone() };
            let active = view.since == *since && view.until.is_empty();
            view! {
                <a href=href(target) class="range-choice" class:active=active aria-current=active.then_some("true")>
                    {*label}
                </a>
            }
        })
        .collect_view();
    let custom = view.is_replay() && !PRESETS.iter().any(|(_, since)| view.since == *since && view.until.is_empty());
    // The download route sits beside the page's: `/bff/orgs/ORG/apps/APP/download?…`.
    let download = format!("/bff{}{}", base.trim_end_matches("/logs"), "/download") + &view.to_query();
    let query_joiner = if view.to_query().is_empty() { "?" } else { "&" };
    let filter_problem = problem.clone().filter(|problem| problem.param == "q");
    let time_problem = problem.filter(|problem| problem.param != "q");
    view! {
        <div class="view-bar">
            <form class="filter-form" method="get" action=base.clone() role="search">
                <input
                    id="filter"
                    type="search"
                    name="q"
                    value=view.q.clone()
                    placeholder="Filter: timeout  level>=warn  -healthz  (press / to focus)"
                    aria-label="Filter"
                    aria-invalid=filter_problem.is_some().then_some("true")
                    aria-describedby="filter-help"
                    autocomplete="off"
                    spellcheck="false"
                />
                {kind_input(view.kind)}
                {(!view.since.is_empty()).then(|| view! { <input type="hidden" name="since" value=view.since.clone() /> })}
                {(!view.until.is_empty()).then(|| view! { <input type="hidden" name="until" value=view.until.clone() /> })}
                <button type="submit">"Apply"</button>
            </form>
            {match filter_problem {
                Some(problem) => view! { <FilterProblem q=view.q.clone() problem /> }.into_any(),
                None => view! {
                    <p id="filter-help" class="filter-help muted">
                        "Words, " <code>"\"phrases\""</code> ", " <code>"/regex/"</code> ", " <code>"level>=warn"</code>
                        ", " <code>"-word"</code> " to exclude. All terms must match."
                    </p>
                }.into_any(),
            }}
            <div class="range-row">
                <nav class="range" aria-label="Time range">
                    <a href=href(live) class="range-choice" class:active=live_active aria-current=live_active.then_some("true")>
                        "Live"
                    </a>
                    {presets}
                </nav>
                <span class="downloads">
                    "Download: "
                    <a href=format!("{download}{}format=ndjson", query_joiner) download="" data-testid="download-ndjson">"NDJSON"</a>
                    " · "
                    <a href=format!("{download}{}format=text", query_joiner) download="">"text"</a>
                </span>
                <details class="range-custom" open=custom>
                    <summary>"Custom range"</summary>
                    <form method="get" action=base>
                        {kind_input(view.kind)}
                        <input type="hidden" name="q" value=view.q.clone() />
                        <label>"From (UTC) " <input type="datetime-local" name="since" value=picker_value(&view.since) required /></label>
                        <label>"To (UTC) " <input type="datetime-local" name="until" value=picker_value(&view.until) /></label>
                        <button type="submit">"Show range"</button>
                    </form>
                </details>
            </div>
            {time_problem.map(|problem| view! {
                <p class="view-problem" role="alert">{format!("{}: {}", problem.param, problem.message)}</p>
            })}
        </div>
    }
    .into_any()
}

/// The filter with a mark at the character where it went wrong, and what
/// was expected there.
#[component]
fn FilterProblem(q: String, problem: ViewProblem) -> impl IntoView {
    let chars: Vec<char> = q.chars().collect();
    let at = problem.position.unwrap_or(chars.len()).min(chars.len());
    let before: String = chars[..at].iter().collect();
    let (marked, after) = match chars.get(at) {
        Some(c) => (c.to_string(), chars[at + 1..].iter().collect::<String>()),
        None => ("\u{2423}".to_string(), String::new()),
    };
    view! {
        <p id="filter-help" class="filter-problem" role="alert" data-testid="filter-problem">
            <code class="filter-echo">{before}<mark class="error-at">{marked}</mark>{after}</code>
            <span>{format!("At character {at}: {}.", problem.message)}</span>
        </p>
    }
}

/// Keeps the access-log tab across a form's submission.
fn kind_input(kind: ViewKind) -> Option<impl IntoView> {
    (kind == ViewKind::Access).then(|| view! { <input type="hidden" name="kind" value="access" /> })
}

/// A `datetime-local` input's value for an RFC 3339 time it can show
/// (`2026-11-25T10:00:00Z` → `2026-11-25T10:00`); empty otherwise.
fn picker_value(text: &str) -> String {
    let bytes = text.as_bytes();
    if bytes.len() >= 16 && bytes[10] == b'T' && bytes[13] == b':' && bytes[..4].iter().all(u8::is_ascii_digit) {
        text[..16].to_string()
    } else {
        String::new()
    }
}
