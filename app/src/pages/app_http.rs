//! `/orgs/:org/apps/:app/http`: the app's HTTP statistics from its access
//! logs over `?range=1h|6h|24h|2d` (default 24 h): requests per second
//! stacked by status class, latency percentiles, bytes out, and the most
//! requested paths with their error rate. Every status class and path links
//! to the access logs that make it up. Drawn on the server (`dashboards.rs`).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::get_http_page;
use crate::components::{
    app_tabs::{AppTab, AppTabs},
    chart::{provide_chart_state, Chart},
    refresh::refresh_while_live,
    states::{Failure, Loading, Missing, NotVisiblePage},
    top_bar::{Crumb, TopBar},
};
use crate::model::{HttpPage, PathRow};

#[component]
pub fn AppHttpPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let target = move || {
        let (org, app) = params.with(|p| (p.get("org").unwrap_or_default(), p.get("app").unwrap_or_default()));
        (org, app, query.with(|q| ["range", "from", "to"].map(|name| q.get(name).unwrap_or_default())))
    };
    let page = crate::json::resource(target, |(org, app, [range, from, to])| get_http_page(org, app, range, from, to));
    provide_chart_state();
    refresh_while_live(move || page.refetch(), move || query.with_untracked(|q| q.get("from").is_none()));
    view! {
        <Transition fallback=|| view! { <TopBar /><main class="page"><Loading what="HTTP statistics" /></main> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! {
                        <TopBar />
                        <main class="page"><Failure message=error.to_string() /></main>
                    }.into_any(),
                    Ok(None) => view! { <NotVisiblePage title="No such app" /> }.into_any(),
                    Ok(Some(page)) => view! { <HttpView page /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn HttpView(page: HttpPage) -> impl IntoView {
    let HttpPage { org, app, ranges, live, range_label, problem, total_requests, charts, status_links, top_paths } =
        page;
    let crumbs = vec![
        Crumb::link(org.name.clone(), format!("/orgs/{}", org.slug)),
        Crumb::link(app.name.clone(), format!("/orgs/{}/apps/{}", org.slug, app.slug)),
        Crumb::here("HTTP"),
    ];
    let body = if let Some(problem) = problem {
        view! { <p class="dashboard-problem" role="alert" data-testid="problem">{problem}</p> }.into_any()
    } else if top_paths.is_empty() {
        view! {
            <Missing title="No requests in this range">
                <p>"HTTP statistics come from the app's access logs (docs/METRICS.md, \"HTTP statistics\")."</p>
            </Missing>
        }
        .into_any()
    } else {
        let links = status_links
            .into_iter()
            .map(|link| {
                let status = link.label.clone();
                view! {
                    <li><a href=link.href data-status=status>{link.label}</a>" " <span class="muted">{link.count}</span></li>
                }
            })
            .collect_view();
        let charts = charts.into_iter().map(|chart| view! { <Chart chart /> }).collect_view();
        view! {
            <section class="dashboard-section" aria-labelledby="http-requests">
                <h2 id="http-requests">{total_requests}" requests " <span class="muted">{range_label.clone()}</span></h2>
                <ul class="status-links" aria-label="Access logs by status class">{links}</ul>
                <div class="chart-grid">{charts}</div>
            </section>
            <TopPaths paths=top_paths />
        }
        .into_any()
    };
    view! {
        <Title text=format!("{} HTTP statistics", app.name) />
        <TopBar crumbs />
        <main class="page page-metrics">
            <div class="page-head">
                <h1>{app.name.clone()}</h1>
                <span class="badge">{app.runtime.clone()}</span>
                <AppTabs org=org.slug.clone() app=app.slug.clone() current=AppTab::Http />
            </div>
            <crate::pages::app_metrics::RangeBar ranges range_label=range_label.clone() live keep=&[] />
            {body}
        </main>
    }
}

#[component]
fn TopPaths(paths: Vec<PathRow>) -> impl IntoView {
    let rows = paths
        .into_iter()
        .map(|row| {
            let path = match row.href {
                Some(href) => view! { <a href=href>{row.path}</a> }.into_any(),
                None => view! { <span class="muted">{row.path}</span> }.into_any(),
            };
            view! {
                <tr>
                    <td class="path">{path}</td>
                    <td class="num">{row.requests}</td>
                    <td class="num">{row.error_rate}</td>
                    <td class="num">{row.p99}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="dashboard-section" aria-labelledby="top-paths">
            <h2 id="top-paths">"Most requested paths"</h2>
            <div class="chart-card">
                <table class="top-paths" data-testid="top-paths">
                    <thead>
                        <tr>
                            <th scope="col">"Path"</th>
                            <th scope="col" class="num">"Requests"</th>
                            <th scope="col" class="num">"5xx rate"</th>
                            <th scope="col" class="num">"p99"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}
