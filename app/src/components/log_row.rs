//! One log line as a row. A service line: time, instance, level, message,
//! a multi-line message (a stack trace) folded under its first line. An
//! access line: time, method, path, status (coloured by class), duration,
//! bytes, client and country; the status and the country link to the same
//! view filtered by them.

use leptos::prelude::*;

use crate::components::time::LogTime;
use crate::model::{describe_bytes, fixed, AccessColumn, AccessLine, LogLine, LogView, ServiceLine, ShownRecord};

/// The texts a filter looks for, lower-cased, to mark in the lines shown.
pub type Needles = std::sync::Arc<Vec<String>>;

/// `text` cut into pieces, each true when a needle matches it (ignoring
/// ASCII case, which keeps byte positions).
pub fn highlight(text: &str, needles: &[String]) -> Vec<(String, bool)> {
    let lower = text.to_ascii_lowercase();
    let mut found: Vec<(usize, usize)> = needles
        .iter()
        .flat_map(|needle| lower.match_indices(needle.as_str()).map(|(at, m)| (at, at + m.len())))
        .collect();
    found.sort_unstable();
    let mut pieces = Vec::new();
    let mut at = 0;
    for (start, end) in found {
        if end <= at {
            continue;
        }
        let start = start.max(at);
        if start > at {
            pieces.push((text[at..start].to_string(), false));
        }
        pieces.push((text[start..end].to_string(), true));
        at = end;
    }
    if at < text.len() || pieces.is_empty() {
        pieces.push((text[at..].to_string(), false));
    }
    pieces
}

fn marked(text: &str, needles: &[String]) -> impl IntoView {
    highlight(text, needles)
        .into_iter()
        .map(|(piece, hit)| if hit { view! { <mark>{piece}</mark> }.into_any() } else { piece.into_any() })
        .collect_view()
}

/// The line the viewer selected (by a click, or `j` / `k`), by offset:
/// its details are open under it.
#[derive(Clone, Copy, Debug)]
pub struct SelectedLine(pub RwSignal<Option<u64>>);

/// One line of either kind; a click selects it (its details open below
/// the list).
#[component]
pub fn LogRow(
    record: ShownRecord,
    #[prop(optional)] needles: Needles,
    #[prop(optional)] look: RowLook,
) -> impl IntoView {
    let (offset, ts_ns) = (record.offset, record.ts_ns);
    match record.line {
        LogLine::Service(line) => service_row(offset, ts_ns, line, &needles, look).into_any(),
        LogLine::Access(line) => access_row(offset, ts_ns, line, &needles, look).into_any(),
    }
}

/// How a row looks beyond its record. Rows read no signal themselves: the
/// list renders a row anew when its look changes, so a row that leaves the
/// list leaves nothing subscribed behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RowLook {
    pub selected: bool,
    /// Times in the browser's zone rather than UTC.
    pub local: bool,
}

/// The click that selects the line at `offset`, or unselects it.
fn toggle_selection(offset: u64) -> impl Fn(leptos::ev::MouseEvent) + 'static {
    let selected = use_context::<SelectedLine>().map(|selected| selected.0);
    move |_| {
        if let Some(selected) = selected {
            selected.update(|current| *current = if *current == Some(offset) { None } else { Some(offset) });
        }
    }
}

/// The selected line's details, as the server draws them when a line is
/// selected ([`crate::api::get_line_details`]); `None` when `context` (the
/// lines around it) no longer holds it.
#[cfg(feature = "ssr")]
pub fn details_html(context: Vec<ShownRecord>, offset: u64) -> Option<String> {
    let record = context.iter().find(|line| line.offset == offset)?.clone();
    Some(view! { <LineDetails record context /> }.to_html())
}

/// Every field of a line, a button that copies it as JSON, and one that
/// shows the lines around it, unfiltered (`context`). The buttons work
/// through [`act_on_details`].
#[component]
pub fn LineDetails(record: ShownRecord, context: Vec<ShownRecord>) -> impl IntoView {
    let json = serde_json::to_string(&record).unwrap_or_default();
    let pretty = serde_json::to_string_pretty(&record).unwrap_or_default();
    // A message of several lines (a stack trace), as printed.
    let message = match &record.line {
        LogLine::Service(line) if line.message.contains('\n') => Some(line.message.clone()),
        _ => None,
    };
    let offset = record.offset;
    let rows = context
        .into_iter()
        .map(|line| {
            let here = line.offset == offset;
            let text = match &line.line {
                LogLine::Service(s) => format!("{} {}", s.instance, s.message.lines().next().unwrap_or_default()),
                LogLine::Access(a) => format!("{} {} {} {}", a.instance, a.method, a.path, a.status),
            };
            view! {
                <li class:context-here=here aria-current=here.then_some("true") data-offset=line.offset.to_string()>
                    <time class="mono">{crate::model::clock_utc(line.ts_ns)}</time>" "{text}
                </li>
            }
        })
        .collect_view();
    view! {
        <div class="line-details" data-testid="line-details" role="region" aria-label="The selected line">
            <div>
                <div class="details-bar">
                    <span class="muted">{format!("Offset {} · ", record.offset)} {crate::model::day_utc(record.ts_ns)} " " {crate::model::clock_utc(record.ts_ns)} " UTC"</span>
                    <button class="action" data-copy=json>"Copy line"</button>
                    <button class="action" data-show="line-context" title="The lines before and after it, whatever the filter">"Show context"</button>
                </div>
                <ol class="line-context" data-testid="line-context" aria-label="The lines around it, unfiltered" hidden>{rows}</ol>
                {message.map(|message| view! { <pre class="details-message">{message}</pre> })}
                <pre class="details-json">{pretty}</pre>
            </div>
        </div>
    }
}

/// A click in the details: *Copy line* copies the line's JSON, *Show
/// context* shows the lines around it.
#[cfg(feature = "hydrate")]
pub fn act_on_details(event: leptos::ev::MouseEvent) {
    use wasm_bindgen::JsCast;
    let target = event.target().and_then(|target| target.dyn_into::<web_sys::Element>().ok());
    let Some(button) = target.and_then(|target| target.closest("button").ok().flatten()) else { return };
    event.stop_propagation();
    if let Some(json) = button.get_attribute("data-copy") {
        let _ = window().navigator().clipboard().write_text(&json);
        button.set_text_content(Some("Copied ✓"));
    } else if let Some(list) = button.get_attribute("data-show").and_then(|class| {
        let details = button.closest(".line-details").ok().flatten()?;
        details.query_selector(&format!(".{class}")).ok().flatten()
    }) {
        let _ = list.remove_attribute("hidden");
    }
}

/// The base and view of the logs page, so a row can link to the same view
/// narrowed by one of its values (a status class, a country).
#[derive(Clone, Debug)]
pub struct FilterLinks {
    pub base: String,
    pub view: LogView,
}

impl FilterLinks {
    /// The page's view with `term` added to its filter.
    pub fn adding(&self, term: &str) -> String {
        let q = if self.view.q.trim().is_empty() { term.to_string() } else { format!("{} {term}", self.view.q.trim()) };
        format!("{}{}", self.base, LogView { q, ..self.view.clone() }.to_query())
    }
}

/// The access table's columns, as the page's view says them (the default
/// ones where no page says).
fn access_columns() -> Vec<AccessColumn> {
    use_context::<FilterLinks>().map_or_else(|| AccessColumn::DEFAULT.to_vec(), |links| links.view.access_columns())
}

/// The grid of a row of `columns`, after the time's track.
fn access_grid(columns: &[AccessColumn]) -> String {
    let tracks: Vec<&str> = columns.iter().map(|column| column.track()).collect();
    format!("--access-cols: {}", tracks.join(" "))
}

/// The column heads of the access-log table.
#[component]
pub fn AccessHeader() -> impl IntoView {
    let columns = access_columns();
    let style = access_grid(&columns);
    let heads = columns
        .into_iter()
        .map(|column| {
            let class = match column {
                AccessColumn::Duration | AccessColumn::Bytes => "num",
                _ => "",
            };
            view! { <span role="columnheader" class=class>{column.title()}</span> }
        })
        .collect_view();
    view! {
        <div class="log-row access-row access-head" role="row" style=style>
            <span role="columnheader">"Time"</span>
            {heads}
        </div>
    }
}

/// The access table's column chooser: each column a link to the same view
/// showing it or not, so the choice is in the URL (and in a saved view).
#[component]
pub fn AccessColumnsMenu(base: String, view: LogView) -> impl IntoView {
    let shown = view.access_columns();
    let choices = AccessColumn::ALL
        .into_iter()
        .map(|column| {
            let on = shown.contains(&column);
            let href = format!("{base}{}", view.toggling_column(column).to_query());
            let title = if on { format!("Hide {}", column.title()) } else { format!("Show {}", column.title()) };
            view! {
                <li role="none">
                    <a href=href role="menuitemcheckbox" aria-checked=on.to_string() title=title class:on=on>
                        {column.title()}
                    </a>
                </li>
            }
        })
        .collect_view();
    view! {
        <details class="columns-menu" data-testid="columns-menu">
            <summary>"Columns"</summary>
            <ul role="menu" aria-label="Columns of the table">{choices}</ul>
        </details>
    }
}

fn access_row(offset: u64, ts_ns: i64, line: AccessLine, needles: &Needles, look: RowLook) -> impl IntoView {
    let toggle = toggle_selection(offset);
    let links = use_context::<FilterLinks>();
    let columns = access_columns();
    let style = access_grid(&columns);
    let class = format!("{}xx", line.status / 100);
    let title = format!(
        "{} · {}{}",
        line.user_agent,
        line.host,
        line.city.as_ref().map(|c| format!(" · {c}")).unwrap_or_default()
    );
    let cells = columns
        .into_iter()
        .map(|column| match column {
            AccessColumn::Method => {
                view! { <span class="access-method" role="cell">{line.method.clone()}</span> }.into_any()
            }
            AccessColumn::Path => {
                let path = if line.query.is_empty() { line.path.clone() } else { format!("{}?{}", line.path, line.query) };
                view! { <span class="log-msg access-path" role="cell">{marked(&path, needles)}</span> }.into_any()
            }
            AccessColumn::Status => {
                let status = line.status.to_string();
                let link = links.as_ref().map(|links| links.adding(&format!("status:{class}")));
                view! {
                    <span class=format!("access-status status-badge-{class}") role="cell">
                        {match link {
                            Some(href) => view! { <a href=href title=format!("Only {class} responses")>{status}</a> }.into_any(),
                            None => status.into_any(),
                        }}
                    </span>
                }
                .into_any()
            }
            AccessColumn::Duration => {
                view! { <span class="num" role="cell">{format_duration_ms(line.duration_ms)}</span> }.into_any()
            }
            AccessColumn::Bytes => {
                view! { <span class="num" role="cell">{describe_bytes(line.bytes_sent)}</span> }.into_any()
            }
            AccessColumn::Client => {
                let country = line.country.clone();
                let link = country.as_ref().zip(links.as_ref()).map(|(country, links)| links.adding(&format!("country:{country}")));
                view! {
                    <span class="access-client" role="cell">
                        {line.client_ip.clone()}
                        {match (country, link) {
                            (Some(country), Some(href)) => view! {
                                " " <a class="country" href=href title=format!("Only clients in {country}")>{country.clone()}</a>
                            }.into_any(),
                            _ => ().into_any(),
                        }}
                    </span>
                }
                .into_any()
            }
            AccessColumn::Host => {
                view! { <span class="access-extra" role="cell">{marked(&line.host, needles)}</span> }.into_any()
            }
            AccessColumn::Instance => {
                view! { <span class="access-extra" role="cell">{line.instance.clone()}</span> }.into_any()
            }
            AccessColumn::Agent => {
                view! { <span class="access-extra" role="cell">{marked(&line.user_agent, needles)}</span> }.into_any()
            }
        })
        .collect_view();
    view! {
        <div
            class=format!("log-row access-row status-{class}")
            class:selected=look.selected
            on:click=toggle
            data-offset=offset
            role="row"
            title=title
            style=style
        >
            <LogTime ts_ns local=look.local role="cell" />
            {cells}
        </div>
    }
}

/// `0.4 ms`, `12 ms`, `1.25 s`.
fn format_duration_ms(ms: f64) -> String {
    let micros = (ms.max(0.0) * 1_000.0) as u64;
    if micros < 10_000 {
        format!("{} ms", fixed(micros, 1_000, 1))
    } else if micros < 1_000_000 {
        format!("{} ms", fixed(micros, 1_000, 0))
    } else {
        format!("{} s", fixed(micros, 1_000_000, 2))
    }
}

fn service_row(offset: u64, ts_ns: i64, line: ServiceLine, needles: &Needles, look: RowLook) -> impl IntoView {
    let toggle = toggle_selection(offset);
    let level = line.level.as_str();
    let mut message_lines = line.message.lines();
    let first = message_lines.next().unwrap_or_default().to_string();
    let folded_lines = message_lines.count();
    let fields = line
        .fields
        .iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => format!("{key}={text}"),
            other => format!("{key}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ");
    // Rows are one line high (the list is virtualised); a longer message
    // says how many lines it folds, and its details show them all.
    let folded = (folded_lines > 0).then(|| {
        let more = format!("+{folded_lines} lines");
        view! { <span class="fold-count" title="Click the line to read it all">{more}</span> }
    });
    let message = view! { <span class="msg-text">{marked(&first, needles)}</span> {folded} };
    view! {
        <div class=format!("log-row level-{level}") class:selected=look.selected on:click=toggle data-offset=offset>
            <LogTime ts_ns local=look.local />
            <span class="log-instance">{line.instance}</span>
            <span class=format!("log-level level-badge-{level}")>{level}</span>
            <span class="log-msg">
                {message}
                {(!fields.is_empty()).then(|| view! { <span class="log-fields">{fields}</span> })}
            </span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_are_marked_whatever_their_case_and_overlaps_merge() {
        let needles = vec!["timeout".to_string(), "out of".to_string()];
        assert_eq!(
            highlight("DB Timeout out of pool", &needles),
            [
                ("DB ".to_string(), false),
                ("Timeout".to_string(), true),
                (" ".to_string(), false),
                ("out of".to_string(), true),
                (" pool".to_string(), false),
            ]
        );
        assert_eq!(highlight("é timeout", &needles[..1]), [("é ".to_string(), false), ("timeout".to_string(), true)]);
        assert_eq!(highlight("nothing here", &needles), [("nothing here".to_string(), false)]);
    }
}
