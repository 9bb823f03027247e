//! A chart as the dashboards show it: a heading, the drawing (SVG made on
//! the server by [`draw`], so the browser bundle carries no plotting code)
//! under an accessible name that sums it up, an HTML legend, and a "Table"
//! toggle with its numbers (a `<details>`, so it works without scripts).

#[cfg(feature = "ssr")]
pub mod draw;

use leptos::prelude::*;

use crate::model::ChartView;

#[component]
pub fn Chart(chart: ChartView) -> impl IntoView {
    let ChartView { id, title, summary, svg, legend, table } = chart;
    let legend = legend
        .into_iter()
        .map(|entry| {
            view! {
                <li>
                    <span class="swatch" style=format!("background-color: {}", entry.colour)></span>
                    <span class="legend-label">{entry.label}</span>
                    " "
                    <span class="muted">{entry.note}</span>
                </li>
            }
        })
        .collect_view();
    let head = table.columns.into_iter().map(|column| view! { <th scope="col">{column}</th> }).collect_view();
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
            <div class="chart-plot" role="img" aria-label=summary inner_html=svg></div>
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
