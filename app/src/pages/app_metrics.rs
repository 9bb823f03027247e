//! `/orgs/:org/apps/:app/metrics`: the app's server metrics, one line per
//! instance (CPU, memory against its limit, network, disk), and its custom
//! statsd metrics. The URL holds the view: `?range=1h|6h|24h|7d|30d`
//! (default 24 h), `metric=NAME&aggregation=AGG&group_by=TAG`. Everything
//! is drawn on the server (`dashboards.rs`); this page places it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::get_metrics_page;
use crate::components::{
    app_tabs::{AppTab, AppTabs},
    chart::{provide_chart_state, Chart},
    refresh::refresh_while_live,
    states::{Failure, Loading, Missing, NotVisiblePage},
    top_bar::{Crumb, TopBar},
};
use crate::model::{Choice, MetricsAsk, MetricsPage, PickedMetric};

#[component]
pub fn AppMetricsPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let target = move || {
        let (org, app) = params.with(|p| (p.get("org").unwrap_or_default(), p.get("app").unwrap_or_default()));
        let ask = query.with(|q| {
            ["range", "from", "to", "metric", "aggregation", "group_by"].map(|name| q.get(name).unwrap_or_default())
        });
        (org, app, ask)
    };
    let page = crate::json::resource(target, |(org, app, [range, from, to, metric, aggregation, group_by])| {
        get_metrics_page(org, app, MetricsAsk { range, from, to, metric, aggregation, group_by })
    });
    provide_chart_state();
    refresh_while_live(move || page.refetch(), move || query.with_untracked(|q| q.get("from").is_none()));
    view! {
        <Transition fallback=|| view! { <TopBar /><main class="page"><Loading what="metrics" /></main> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! {
                        <TopBar />
                        <main class="page"><Failure message=error.to_string() /></main>
                    }.into_any(),
                    Ok(None) => view! { <NotVisiblePage title="No such app" /> }.into_any(),
                    Ok(Some(page)) => view! { <MetricsView page /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A row of links, the current one marked.
#[component]
pub fn Choices(#[prop(into)] label: String, choices: Vec<Choice>) -> impl IntoView {
    let links = choices
        .into_iter()
        .map(|choice| {
            view! {
                <a class="choice" class:active=choice.current aria-current=choice.current.then_some("page") href=choice.href>
                    {choice.label}
                </a>
            }
        })
        .collect_view();
    let name = label.clone();
    view! { <nav class="choices" aria-label=name><span class="choices-label">{label}</span>{links}</nav> }
}

#[component]
fn MetricsView(page: MetricsPage) -> impl IntoView {
    let MetricsPage { org, app, ranges, live, range_label, problem, server_charts, custom_metrics, picked } = page;
    let base = format!("/orgs/{}/apps/{}", org.slug, app.slug);
    let crumbs = vec![
        Crumb::link(org.name.clone(), format!("/orgs/{}", org.slug)),
        Crumb::link(app.name.clone(), base.clone()),
        Crumb::here("Metrics"),
    ];
    let body = match problem {
        Some(problem) => view! {
            <p class="dashboard-problem" role="alert" data-testid="problem">{problem}</p>
        }
        .into_any(),
        None => view! {
            <ServerCharts charts=server_charts range_label=range_label.clone() />
            <CustomMetrics metrics=custom_metrics picked />
        }
        .into_any(),
    };
    view! {
        <Title text=format!("{} metrics", app.name) />
        <TopBar crumbs />
        <main class="page page-metrics">
            <div class="page-head">
                <h1>{app.name.clone()}</h1>
                <span class="badge">{app.runtime.clone()}</span>
                <AppTabs org=org.slug.clone() app=app.slug.clone() current=AppTab::Metrics />
            </div>
            <RangeBar ranges range_label=range_label.clone() live keep=&["metric", "aggregation", "group_by"] />
            {body}
        </main>
    }
}

/// The range picker of a dashboard: the ranges back from now, a custom
/// range (a form that writes `from` and `to` to the URL, keeping the
/// parameters named in `keep`), and whether the page follows new points.
#[component]
pub fn RangeBar(ranges: Vec<Choice>, range_label: String, live: bool, keep: &'static [&'static str]) -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let kept = keep
        .iter()
        .filter_map(|name| {
            let value = query.with_untracked(|q| q.get(name))?;
            Some(view! { <input type="hidden" name=*name value=value /> })
        })
        .collect_view();
    let (from, to) = query.with_untracked(|q| (q.get("from").unwrap_or_default(), q.get("to").unwrap_or_default()));
    let custom = !from.is_empty();
    let status = if live {
        view! { <span class="live-badge" data-testid="live">"Live · new points every few seconds"</span> }.into_any()
    } else {
        view! { <span class="badge" data-testid="custom-range">"Custom range"</span> }.into_any()
    };
    view! {
        <div class="metrics-bar">
            <Choices label="Range" choices=ranges />
            <details class="custom-range" open=custom>
                <summary>"Custom…"</summary>
                <form method="get" class="custom-range-form">
                    {kept}
                    <label>"From " <input type="text" name="from" value=from placeholder="2026-11-25T14:00:00Z" required /></label>
                    <label>"to " <input type="text" name="to" value=to placeholder="now" /></label>
                    <button type="submit">"Show"</button>
                </form>
            </details>
            <span class="muted" data-testid="range-label">{range_label}", UTC"</span>
            {status}
        </div>
    }
}

#[component]
fn ServerCharts(charts: Vec<crate::model::ChartView>, range_label: String) -> impl IntoView {
    let content = if charts.is_empty() {
        view! {
            <Missing title="No server metrics yet">
                <p>
                    "This app's instances have not reported CPU, memory, network or disk. "
                    "The agent reports them every 10 s (docs/METRICS.md, \"Instance metrics\")."
                </p>
            </Missing>
        }
        .into_any()
    } else {
        let charts = charts.into_iter().map(|chart| view! { <Chart chart /> }).collect_view();
        view! { <div class="chart-grid">{charts}</div> }.into_any()
    };
    view! {
        <section class="dashboard-section" aria-labelledby="server-metrics">
            <h2 id="server-metrics">"Server metrics " <span class="muted">{range_label}</span></h2>
            {content}
        </section>
    }
}

#[component]
fn CustomMetrics(metrics: Vec<Choice>, picked: Option<PickedMetric>) -> impl IntoView {
    let content = if metrics.is_empty() {
        view! {
            <Missing title="No custom metrics yet">
                <p>"Push statsd metrics tagged with this app and a token, and they are listed here (docs/METRICS.md, \"statsd\")."</p>
            </Missing>
        }
        .into_any()
    } else {
        view! {
            <Choices label="Metric" choices=metrics />
            {picked.map(|picked| view! { <Picked picked /> })}
        }
        .into_any()
    };
    view! {
        <section class="dashboard-section" aria-labelledby="custom-metrics">
            <h2 id="custom-metrics">"Custom metrics"</h2>
            {content}
        </section>
    }
}

#[component]
fn Picked(picked: PickedMetric) -> impl IntoView {
    let PickedMetric { name: _, kind, aggregations, group_bys, problem, chart } = picked;
    view! {
        <div class="picked-metric">
            {(!kind.is_empty()).then(|| view! {
                <p class="muted">"A " {kind} "."</p>
                <Choices label="Aggregation" choices=aggregations />
                <Choices label="Group by" choices=group_bys />
            })}
            {problem.map(|problem| view! { <p class="dashboard-problem" role="alert" data-testid="problem">{problem}</p> })}
            {chart.map(|chart| view! { <Chart chart /> })}
        </div>
    }
}
