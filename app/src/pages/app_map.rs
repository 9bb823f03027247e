//! `/orgs/:org/apps/:app/map`: where the app's requests come from, on a
//! world map. `?mode=24h` (the default): a heatmap of the last 24 h by 1°
//! cell; `?mode=realtime`: the same, and a dot that blinks where each
//! request comes from as it arrives. A cell's tooltip gives its counts; a
//! cell or a country opens the access logs from that country.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::get_map_page;
use crate::components::{
    app_tabs::{AppTab, AppTabs},
    map::RequestMap,
    states::{Failure, Loading, NotVisiblePage},
    top_bar::{Crumb, TopBar},
};
use crate::model::MapPage;

#[component]
pub fn AppMapPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let target = move || {
        let (org, app) = params.with(|p| (p.get("org").unwrap_or_default(), p.get("app").unwrap_or_default()));
        (org, app, query.with(|q| q.get("mode").unwrap_or_default()))
    };
    let page = crate::json::resource(target, |(org, app, mode)| get_map_page(org, app, mode));
    view! {
        <Suspense fallback=|| view! { <TopBar /><main class="page"><Loading what="the map" /></main> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! {
                        <TopBar />
                        <main class="page"><Failure message=error.to_string() /></main>
                    }.into_any(),
                    Ok(None) => view! { <NotVisiblePage title="No such app" /> }.into_any(),
                    Ok(Some(page)) => view! { <MapView page /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn MapView(page: MapPage) -> impl IntoView {
    let MapPage { org, app, mode, modes, problem, map } = page;
    let crumbs = vec![
        Crumb::link(org.name.clone(), format!("/orgs/{}", org.slug)),
        Crumb::link(app.name.clone(), format!("/orgs/{}/apps/{}", org.slug, app.slug)),
        Crumb::here("Map"),
    ];
    let realtime = mode == "realtime";
    let caption = if realtime {
        "Realtime: a dot blinks where each request comes from; beneath, the last 24 h."
    } else {
        "The last 24 h: a circle per 1° cell, larger and darker with more requests. Hover one for its counts."
    };
    let body = match problem {
        Some(problem) => {
            view! { <p class="dashboard-problem" role="alert" data-testid="problem">{problem}</p> }.into_any()
        }
        None => {
            let follow = realtime.then(|| (org.slug.clone(), app.slug.clone()));
            match follow {
                Some(realtime) => view! { <RequestMap map realtime /> }.into_any(),
                None => view! { <RequestMap map /> }.into_any(),
            }
        }
    };
    view! {
        <Title text=format!("{} request map", app.name) />
        <TopBar crumbs />
        <main class="page page-metrics">
            <div class="page-head">
                <h1>{app.name.clone()}</h1>
                <span class="badge">{app.runtime.clone()}</span>
                <AppTabs org=org.slug.clone() app=app.slug.clone() current=AppTab::Map />
            </div>
            <div class="metrics-bar">
                <crate::pages::app_metrics::Choices label="Mode" choices=modes />
                <span class="muted">{caption}</span>
            </div>
            {body}
        </main>
    }
}
