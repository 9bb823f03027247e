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
pub mod json;
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
    lazy_route, path, Lazy, LazyRoute, SsrMode,
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
    view! {
        <Stylesheet id="vigie" href="/pkg/vigie.css" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Meta name="description" content="Vigie: logs and metrics of your apps, live." />
        <Title formatter=|title: String| {
            if title.is_empty() { "Vigie".to_string() } else { format!("{title} · Vigie") }
        } />
        <Router>
            <Routes fallback=|| { after_hydration(); view! { <NotFound /> } }>
                <Route path=path!("/signin") view=|| { after_hydration(); view! { <SignInPage /> } } />
                // Lazy: each page's code is its own chunk of WebAssembly,
                // fetched when a page first needs it (the server names the
                // chunks of the page it sends, for the browser to preload).
                // Async: the server sends each page whole once its data is
                // read (a few ms), so its lines show without scripts and
                // without a loading state swapped out after the fact.
                <Route path=path!("/") view={Lazy::<OrgsRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org") view={Lazy::<OrgHomeRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/audit") view={Lazy::<OrgAuditRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app") view={Lazy::<AppOverviewRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/logs") view={Lazy::<AppLogsRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/map") view={Lazy::<AppMapRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/metrics") view={Lazy::<AppMetricsRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/http") view={Lazy::<AppHttpRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/settings") view={Lazy::<AppSettingsRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/orgs/:org/apps/:app/drains") view={Lazy::<AppDrainsRoute>::new()} ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}

/// What runs once a page's view is hydrated (an effect's first run comes
/// after the view it was created with): the stored choice of local times,
/// then the sign browser tests wait for, that the page is now the app's.
/// The shell hydrates before a lazy page's code has even arrived, so this
/// belongs to each page, not to [`App`].
fn after_hydration() {
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        components::time::restore_local_times();
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "");
        }
    });
}

// One lazy route per page: `view` is split out of the main WebAssembly
// module by scripts/build-site. The pages read their own data, so `data`
// holds nothing.
macro_rules! lazy_pages {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                after_hydration();
                view! { <$page /> }.into_any()
            }
        }
    )*};
}

lazy_pages! {
    OrgsRoute => OrgsPage,
    OrgHomeRoute => OrgHomePage,
    OrgAuditRoute => OrgAuditPage,
    AppOverviewRoute => AppOverviewPage,
    AppLogsRoute => AppLogsPage,
    AppMapRoute => AppMapPage,
    AppMetricsRoute => AppMetricsPage,
    AppHttpRoute => AppHttpPage,
    AppSettingsRoute => AppSettingsPage,
    AppDrainsRoute => AppDrainsPage,
}
