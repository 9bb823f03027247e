//! `/orgs/:org/apps/:app`: an app's landing page, its last 24 h at a
//! glance: CPU and memory per instance, requests per hour by status class,
//! latency percentiles, requests per second now, the error lines of the
//! last hour and where requests come from. Each tile links to the page
//! that tells more; the page follows new points while it is open.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::get_overview_page;
use crate::components::{
    app_tabs::{AppTab, AppTabs},
    chart::{provide_chart_state, Chart},
    refresh::refresh_while_live,
    states::{Failure, Loading, NotVisiblePage},
    top_bar::{Crumb, TopBar},
};
use crate::model::{CountLink, OverviewPage};

#[component]
pub fn AppOverviewPage() -> impl IntoView {
    let params = use_params_map();
    let target = move || params.with(|p| (p.get("org").unwrap_or_default(), p.get("app").unwrap_or_default()));
    let page = crate::json::resource(target, |(org, app)| get_overview_page(org, app));
    provide_chart_state();
    refresh_while_live(move || page.refetch(), || true);
    view! {
        <Transition fallback=|| view! { <TopBar /><main class="page"><Loading what="overview" /></main> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! {
                        <TopBar />
                        <main class="page"><Failure message=error.to_string() /></main>
                    }.into_any(),
                    Ok(None) => view! { <NotVisiblePage title="No such app" /> }.into_any(),
                    Ok(Some(page)) => view! { <OverviewView page /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn OverviewView(page: OverviewPage) -> impl IntoView {
    let OverviewPage {
        org,
        app,
        server_charts,
        requests_chart,
        total_requests,
        status_links,
        latency,
        requests_per_second,
        errors,
        error_count,
        errors_href,
        map_html,
    } = page;
    let base = format!("/orgs/{}/apps/{}", org.slug, app.slug);
    let crumbs = vec![Crumb::link(org.name.clone(), format!("/orgs/{}", org.slug)), Crumb::here(app.name.clone())];
    let server = if server_charts.is_empty() {
        view! { <p class="muted">"No instance has reported CPU or memory in the last 24 h."</p> }.into_any()
    } else {
        server_charts.into_iter().map(|chart| view! { <Chart chart /> }).collect_view().into_any()
    };
    let requests = match requests_chart {
        Some(chart) => view! { <Chart chart /> }.into_any(),
        None => view! { <p class="muted">"No request in the last 24 h."</p> }.into_any(),
    };
    let error_rows = if errors.is_empty() {
        view! { <p class="muted" data-testid="no-errors">"No error line in the last hour."</p> }.into_any()
    } else {
        let rows = errors
            .into_iter()
            .map(|line| {
                view! {
                    <li>
                        <a href=line.href>
                            <time class="mono">{line.time}</time>" "
                            <span class="muted">{line.instance}</span>" "
                            <span class="error-message">{line.message}</span>
                        </a>
                    </li>
                }
            })
            .collect_view();
        view! { <ol class="error-lines" data-testid="error-lines">{rows}</ol> }.into_any()
    };
    view! {
        <Title text=format!("{} overview", app.name) />
        <TopBar crumbs />
        <main class="page page-metrics">
            <div class="page-head">
                <h1>{app.name.clone()}</h1>
                <span class="badge">{app.runtime.clone()}</span>
                <AppTabs org=org.slug.clone() app=app.slug.clone() current=AppTab::Overview />
            </div>
            <p class="muted">"The last 24 h, UTC · " <span class="live-badge">"Live"</span></p>
            <div class="tiles">
                <section class="tile" aria-labelledby="tile-now">
                    <h2 id="tile-now"><a href=format!("{base}/http?range=1h")>"Requests per second now"</a></h2>
                    <p class="big-number" data-testid="rps-now">{requests_per_second}</p>
                    <p class="muted">"over the last whole minute"</p>
                </section>
                <section class="tile" aria-labelledby="tile-status">
                    <h2 id="tile-status"><a href=format!("{base}/http?range=24h")>"Responses"</a></h2>
                    <p class="big-number" data-testid="total-requests">{total_requests}</p>
                    <Counts label="Access logs by status class" links=status_links attr="status" />
                </section>
                <section class="tile" aria-labelledby="tile-latency">
                    <h2 id="tile-latency"><a href=format!("{base}/http?range=24h")>"Latency"</a></h2>
                    <Counts label="Latency percentiles" links=latency attr="percentile" />
                </section>
                <section class="tile tile-wide" aria-labelledby="tile-errors">
                    <h2 id="tile-errors"><a href=errors_href>"Error lines, last hour"</a>" "<span class="muted" data-testid="error-count">{error_count}</span></h2>
                    {error_rows}
                </section>
            </div>
            <section class="dashboard-section" aria-labelledby="overview-http">
                <h2 id="overview-http"><a href=format!("{base}/http?range=24h")>"HTTP requests"</a></h2>
                <div class="chart-grid">{requests}</div>
            </section>
            <section class="dashboard-section" aria-labelledby="overview-server">
                <h2 id="overview-server"><a href=format!("{base}/metrics?range=24h")>"Server metrics"</a></h2>
                <div class="chart-grid">{server}</div>
            </section>
            <section class="dashboard-section" aria-labelledby="overview-map">
                <h2 id="overview-map"><a href=format!("{base}/map")>"Where requests come from"</a></h2>
                <div inner_html=map_html></div>
            </section>
        </main>
    }
}

/// Counts that each link to what makes them up.
#[component]
fn Counts(label: &'static str, links: Vec<CountLink>, attr: &'static str) -> impl IntoView {
    let items = links
        .into_iter()
        .map(|link| {
            let key = link.label.clone();
            view! {
                <li>
                    <a href=link.href data-key=key data-kind=attr>{link.label}</a>" "
                    <span class="mono">{link.count}</span>
                </li>
            }
        })
        .collect_view();
    view! { <ul class="status-links" aria-label=label>{items}</ul> }
}
