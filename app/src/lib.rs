//! Vigie's console. This file is the site map: the shell every page renders
//! into, and the table of routes. Each page lives in `pages/`, the pieces
//! they share in `components/`, the server functions (the console's
//! backend-for-frontend) in `api.rs`, and the types both sides share in
//! `model.rs`.

pub mod api;
pub mod components;
#[cfg(feature = "ssr")]
pub mod dashboards;
pub mod drains;
#[cfg(feature = "ssr")]
pub mod drains_port;
#[cfg(feature = "ssr")]
pub mod grafana_port;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod port;
pub mod query;
#[cfg(feature = "ssr")]
pub mod stats_port;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use pages::{
    app_drains::AppDrainsPage, app_http::AppHttpPage, app_logs::AppLogsPage, app_map::AppMapPage,
    app_metrics::AppMetricsPage, app_overview::AppOverviewPage, app_settings::AppSettingsPage, not_found::NotFound,
    org_audit::OrgAuditPage, org_home::OrgHomePage, orgs::OrgsPage, sign_in::SignInPage,
};

/// The HTML document around every server-rendered page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    components::time::provide_local_times();
    // Browser tests wait for this sign that the page is now the app's.
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "");
        }
    });
    view! {
        <Stylesheet id="vigie" href="/pkg/vigie.css" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Meta name="description" content="Vigie: logs and metrics of your apps, live." />
        <Title formatter=|title: String| {
            if title.is_empty() { "Vigie".to_string() } else { format!("{title} · Vigie") }
        } />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/signin") view=SignInPage />
                // Async: the server sends each page whole once its data is
                // read (a few ms), so its lines show without scripts and
                // without a loading state swapped out after the fact.
                <Route path=path!("/") view=OrgsPage ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org") view=OrgHomePage ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/audit") view=OrgAuditPage ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app") view=AppOverviewPage ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/logs") view=AppLogsPage ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/map") view=AppMapPage ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/metrics") view=AppMetricsPage ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/http") view=AppHttpPage ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/settings") view=AppSettingsPage ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/drains") view=AppDrainsPage ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}
