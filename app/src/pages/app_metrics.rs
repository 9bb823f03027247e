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
    chart::Chart,
    states::{Failure, Loading, Missing, NotVisiblePage},
    top_bar::{Crumb, TopBar},
};
use crate::model::{Choice, MetricsPage, PickedMetric};

#[component]
pub fn AppMetricsPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let target = move || {
        let (org, app) = params.with(|p| (p.get("org").unwrap_or_default(), p.get("app").unwrap_or_default()));
        let ask =
            query.with(|q| ["range", "metric", "aggregation", "group_by"].map(|name| q.get(name).unwrap_or_default()));
        (org, app, ask)
    };
    let page = Resource::new(target, |(org, app, [range, metric, aggregation, group_by])| {
        get_metrics_page(org, app, range, metric, aggregation, group_by)
    });
    view! {
        <Suspense fallback=|| view! { <TopBar /><main class="page"><Loading what="metrics" /></main> }>
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
        </Suspense>
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
    let MetricsPage { org, app, ranges, range_label, problem, server_charts, custom_metrics, picked } = page;
    let base = format!("/orgs/{}/apps/{}", org.slug, app.slug);
    let crumbs = vec![
        Crumb::link(org.name.clone(), format!("/orgs/{}", org.slug)),
        Crumb::link(app.name.clone(), format!("{base}/logs")),
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
            <div class="metrics-bar">
                <Choices label="Range" choices=ranges />
                <span class="muted">{range_label}", UTC"</span>
            </div>
            {body}
        </main>
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
