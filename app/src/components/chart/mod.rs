//! A chart as the dashboards show it: a heading, the drawing (SVG made on
//! the server by [`draw`], so the browser bundle carries no plotting code)
//! under an accessible name that sums it up, an HTML legend, and a "Table"
//! toggle with its numbers (a `<details>`, so it works without scripts).
//!
//! Once hydrated, a chart answers the pointer: a crosshair shared by every
//! chart of the page ([`ChartCursor`]) with the values of each line at that
//! time; legend entries that hide and show their line (each line is its own
//! drawing, laid over the axes); a drag across the plot zooms to that range
//! (written to the URL as `from` and `to`); a click opens the logs behind
//! the line under the pointer at that minute ([`ChartView::click`]).

#[cfg(feature = "ssr")]
pub mod draw;

use leptos::prelude::*;

use crate::model::ChartView;

/// What the charts of a page share, and keep when the page redraws them
/// with new points: the time under the pointer, so their crosshairs move
/// together, and the lines the viewer hid (by chart id and line label).
#[derive(Clone, Copy)]
pub struct ChartState {
    pub cursor: RwSignal<Option<i64>>,
    pub hidden: RwSignal<std::collections::HashSet<(String, String)>>,
}

impl ChartState {
    fn new() -> ChartState {
        ChartState { cursor: RwSignal::new(None), hidden: RwSignal::new(Default::default()) }
    }
}

/// The query parameter that lists the hidden lines, one `CHART:LINE` each
/// (`hide=instance.cpu_percent:web-2`), so a shared link hides them too.
pub const HIDE_PARAM: &str = "hide";

/// Gives the charts placed under it one shared crosshair and memory of
/// hidden lines, starting with those the URL hides.
pub fn provide_chart_state() {
    let state = ChartState::new();
    let query = leptos_router::hooks::use_query_map();
    let hidden: std::collections::HashSet<(String, String)> = query.with_untracked(|query| {
        query
            .get_all(HIDE_PARAM)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|pair| pair.split_once(':').map(|(chart, line)| (chart.to_string(), line.to_string())))
            .collect()
    });
    state.hidden.set(hidden);
    provide_context(state);
}

/// Writes the hidden lines into the page's URL, in place (no navigation,
/// nothing read again).
#[cfg(feature = "hydrate")]
fn write_hidden_to_url(hidden: &std::collections::HashSet<(String, String)>) {
    let location = window().location();
    let path = location.pathname().unwrap_or_default();
    let search = location.search().unwrap_or_default();
    let mut pairs: Vec<String> = search
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(HIDE_PARAM))
        .map(str::to_string)
        .collect();
    let mut lines: Vec<&(String, String)> = hidden.iter().collect();
    lines.sort();
    pairs.extend(
        lines
            .into_iter()
            .map(|(chart, line)| format!("{HIDE_PARAM}={}", crate::model::url_encode(&format!("{chart}:{line}")))),
    );
    let url = if pairs.is_empty() { path } else { format!("{path}?{}", pairs.join("&")) };
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

/// Narrower than this share of the drawing, a drag is a click.
const SMALLEST_DRAG: f64 = 0.01;

#[component]
pub fn Chart(chart: ChartView) -> impl IntoView {
    let state = use_context::<ChartState>().unwrap_or_else(ChartState::new);
    let cursor = state.cursor;
    let keys: Vec<(String, String)> =
        chart.legend.iter().map(|entry| (chart.id.clone(), entry.label.clone())).collect();
    let keys = StoredValue::new(keys);
    let is_hidden =
        move |at: usize| keys.with_value(|keys| keys.get(at).is_some_and(|key| state.hidden.with(|h| h.contains(key))));
    let toggle = move |at: usize| {
        if let Some(key) = keys.with_value(|keys| keys.get(at).cloned()) {
            state.hidden.update(|hidden| {
                if !hidden.remove(&key) {
                    hidden.insert(key);
                }
                #[cfg(feature = "hydrate")]
                write_hidden_to_url(hidden);
            });
        }
    };
    // Where a drag started and where it is now, as fractions of the drawing's width.
    let drag = RwSignal::new(None::<(f64, f64)>);
    let chart = StoredValue::new(chart);
    let navigate = leptos_router::hooks::use_navigate();
    let (id, title, summary, svg, stacked) =
        chart.with_value(|c| (c.id.clone(), c.title.clone(), c.summary.clone(), c.svg.clone(), c.stacked));

    let mut layers: Vec<_> = chart
        .with_value(|c| c.layers.clone())
        .into_iter()
        .enumerate()
        .map(|(at, layer)| {
            view! {
                <div
                    class="chart-layer"
                    data-series=at.to_string()
                    style:display=move || if is_hidden(at) { "none" } else { "" }
                    inner_html=layer
                ></div>
            }
        })
        .collect();
    // Stacked bands: the top of the stack first, each lower band laid over it.
    if stacked {
        layers.reverse();
    }

    let legend = chart
        .with_value(|c| c.legend.clone())
        .into_iter()
        .enumerate()
        .map(|(at, entry)| {
            let shown = move || !is_hidden(at);
            view! {
                <li>
                    <button
                        type="button"
                        class="legend-toggle"
                        aria-pressed=move || shown().to_string()
                        title="Show or hide this line"
                        on:click=move |_| toggle(at)
                    >
                        <span class="swatch" style=format!("background-color: {}", entry.colour)></span>
                        <span class="legend-label">{entry.label}</span>
                    </button>
                    <span class="muted">{entry.note}</span>
                </li>
            }
        })
        .collect_view();

    // The crosshair and the values under it.
    let at_cursor = move || {
        let ts = cursor.get()?;
        chart.with_value(|c| {
            if ts < c.from_ms || ts > c.to_ms {
                return None;
            }
            let row = c.row_near(ts)?;
            let values: Vec<(String, String)> = c
                .legend
                .iter()
                .zip(&row.cells)
                .enumerate()
                .filter(|(at, _)| !is_hidden(*at))
                .map(|(_, (entry, cell))| {
                    (entry.label.clone(), if cell.text.is_empty() { "–".to_string() } else { cell.text.clone() })
                })
                .collect();
            Some((c.x_of(row.ts_ms), row.time.clone(), values))
        })
    };
    let crosshair = move || {
        at_cursor().map(|(x, _, _)| view! { <div class="crosshair" style:left=format!("{:.3}%", x * 100.0)></div> })
    };
    let readout = move || match at_cursor() {
        Some((_, time, values)) => {
            let values = values
                .into_iter()
                .map(|(label, value)| view! { <span class="readout-value"><span class="muted">{label}</span>" "{value}</span> })
                .collect_view();
            view! { <time>{time}</time>" " {values} }.into_any()
        }
        None => {
            view! { <span class="muted">"Point at the chart for its values; drag across it to zoom."</span> }.into_any()
        }
    };
    let band = move || {
        drag.get().filter(|(start, now)| (start - now).abs() >= SMALLEST_DRAG).map(|(start, now)| {
            view! {
                <div
                    class="zoom-band"
                    style:left=format!("{:.3}%", start.min(now) * 100.0)
                    style:width=format!("{:.3}%", (start - now).abs() * 100.0)
                ></div>
            }
        })
    };

    let head = chart
        .with_value(|c| c.table.columns.clone())
        .into_iter()
        .map(|column| view! { <th scope="col">{column}</th> })
        .collect_view();
    let table = chart.with_value(|c| c.table.clone());
    let rows = table
        .rows
        .into_iter()
        .map(|row| {
            let cells = row
                .cells
                .into_iter()
                .map(|cell| view! { <td class="num" data-value=cell.value>{cell.text}</td> })
                .collect_view();
            view! {
                <tr data-ts-ms=row.ts_ms.to_string()>
                    <th scope="row"><time>{row.time}</time></th>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="chart-card" data-chart=id>
            <h3>{title}</h3>
            <p class="chart-readout" data-testid="readout">{readout}</p>
            <div class="chart-plot" role="img" aria-label=summary>
                <div class="chart-axes" inner_html=svg></div>
                {layers}
                {crosshair}
                {band}
                <div
                    class="chart-overlay"
                    on:pointermove=move |event| pointer::moved(event, chart, cursor, drag)
                    on:pointerleave=move |_| {
                        cursor.set(None);
                        drag.set(None);
                    }
                    on:pointerdown=move |event| pointer::pressed(event, drag)
                    on:pointerup=move |event| pointer::released(event, chart, drag, &navigate)
                ></div>
            </div>
            <ul class="chart-legend" aria-label="Legend">{legend}</ul>
            <details class="chart-table">
                <summary>"Table"</summary>
                <div class="table-scroll">
                    <table>
                        <caption>{table.caption}</caption>
                        <thead><tr><th scope="col">"Time (UTC)"</th>{head}</tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            </details>
        </section>
    }
}

/// What the pointer does over a plot, in the browser; nothing on the server.
mod pointer {
    use leptos::prelude::*;

    use crate::model::ChartView;

    #[cfg(feature = "hydrate")]
    fn fractions(event: &web_sys::PointerEvent) -> Option<(f64, f64)> {
        use wasm_bindgen::JsCast;
        let target = event.current_target()?.dyn_into::<web_sys::Element>().ok()?;
        let rect = target.get_bounding_client_rect();
        if rect.width() <= 0.0 || rect.height() <= 0.0 {
            return None;
        }
        Some((
            (event.client_x() as f64 - rect.left()) / rect.width(),
            (event.client_y() as f64 - rect.top()) / rect.height(),
        ))
    }

    #[cfg(feature = "hydrate")]
    pub fn moved(
        event: web_sys::PointerEvent,
        chart: StoredValue<ChartView>,
        cursor: RwSignal<Option<i64>>,
        drag: RwSignal<Option<(f64, f64)>>,
    ) {
        let Some((x, _)) = fractions(&event) else { return };
        let ts = chart.with_value(|c| c.time_at(x));
        if cursor.get_untracked() != ts {
            cursor.set(ts);
        }
        if let Some((start, _)) = drag.get_untracked() {
            drag.set(Some((start, x)));
        }
    }

    #[cfg(feature = "hydrate")]
    pub fn pressed(event: web_sys::PointerEvent, drag: RwSignal<Option<(f64, f64)>>) {
        if event.button() != 0 {
            return;
        }
        if let Some((x, _)) = fractions(&event) {
            drag.set(Some((x, x)));
        }
    }

    /// The end of a drag: a zoom to the range dragged across, or a click.
    #[cfg(feature = "hydrate")]
    pub fn released(
        event: web_sys::PointerEvent,
        chart: StoredValue<ChartView>,
        drag: RwSignal<Option<(f64, f64)>>,
        navigate: &impl Fn(&str, leptos_router::NavigateOptions),
    ) {
        let Some((start, _)) = drag.get_untracked() else { return };
        drag.set(None);
        let Some((x, y)) = fractions(&event) else { return };
        let href = if (x - start).abs() >= super::SMALLEST_DRAG {
            chart.with_value(|c| {
                let clamp = |x: f64| c.time_at(x.clamp(c.plot[0], c.plot[2]));
                let (from, to) = (clamp(start.min(x))?, clamp(start.max(x))?);
                Some(zoomed_href(&c.zoom, from, to))
            })
        } else {
            chart.with_value(|c| {
                let row = c.row_near(c.time_at(x)?)?;
                let line = c.line_at(row, c.value_at(y))?;
                c.click_href(line, row.ts_ms)
            })
        };
        if let Some(href) = href {
            navigate(&href, Default::default());
        }
    }

    /// This page's URL with its range replaced by `from` to `to`.
    #[cfg(feature = "hydrate")]
    fn zoomed_href([from_param, to_param]: &[String; 2], from_ms: i64, to_ms: i64) -> String {
        let location = window().location();
        let path = location.pathname().unwrap_or_default();
        let search = location.search().unwrap_or_default();
        let mut pairs: Vec<String> = search
            .trim_start_matches('?')
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let name = pair.split('=').next().unwrap_or_default();
                name != "range" && name != from_param && name != to_param
            })
            .map(str::to_string)
            .collect();
        pairs.push(format!("{from_param}={}", crate::model::url_encode(&crate::model::rfc3339_utc(from_ms))));
        pairs.push(format!("{to_param}={}", crate::model::url_encode(&crate::model::rfc3339_utc(to_ms))));
        format!("{path}?{}", pairs.join("&"))
    }

    #[cfg(not(feature = "hydrate"))]
    pub fn moved<E>(_: E, _: StoredValue<ChartView>, _: RwSignal<Option<i64>>, _: RwSignal<Option<(f64, f64)>>) {}

    #[cfg(not(feature = "hydrate"))]
    pub fn pressed<E>(_: E, _: RwSignal<Option<(f64, f64)>>) {}

    #[cfg(not(feature = "hydrate"))]
    pub fn released<E>(
        _: E,
        _: StoredValue<ChartView>,
        _: RwSignal<Option<(f64, f64)>>,
        _: &impl Fn(&str, leptos_router::NavigateOptions),
    ) {
    }
}
