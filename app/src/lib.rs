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
    org_audit::OrgAuditPage, org_drains::OrgDrainsPage, org_home::OrgHomePage, orgs::OrgsPage, sign_in::SignInPage,
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
                <Route path=path!("/orgs/:org/drains") view={Lazy::<OrgDrainsRoute>::new()} ssr=SsrMode::Async />
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
    ($($route:ident ($split:literal) => $page:ident),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                #[cfg(feature = "ssr")]
                preload_modules($split);
                after_hydration();
                view! { <$page /> }.into_any()
            }
        }
    )*};
}

// Each route with the name its split point gets (`#[lazy_route]` names it
// after the type, in snake case), as `__wasm_split_manifest.json` lists it.
lazy_pages! {
    OrgsRoute("orgs_route") => OrgsPage,
    OrgHomeRoute("org_home_route") => OrgHomePage,
    OrgAuditRoute("org_audit_route") => OrgAuditPage,
    OrgDrainsRoute("org_drains_route") => OrgDrainsPage,
    AppOverviewRoute("app_overview_route") => AppOverviewPage,
    AppLogsRoute("app_logs_route") => AppLogsPage,
    AppMapRoute("app_map_route") => AppMapPage,
    AppMetricsRoute("app_metrics_route") => AppMetricsPage,
    AppHttpRoute("app_http_route") => AppHttpPage,
    AppSettingsRoute("app_settings_route") => AppSettingsPage,
    AppDrainsRoute("app_drains_route") => AppDrainsPage,
}

/// On the server, names a page's WebAssembly modules in the head's
/// `<link rel="preload">`, so the browser fetches them while the main
/// module compiles. Leptos 0.8 means to add these links itself once the
/// page is rendered, but it looks the split manifest up from whichever
/// owner happens to be current then, and misses it on most of our pages;
/// here the page's own owner reads it, as the page renders. The split
/// point is then struck off Leptos's list, so the links are never written
/// twice.
#[cfg(feature = "ssr")]
fn preload_modules(split: &str) {
    let Some(manifest) = use_context::<leptos::WasmSplitManifest>() else { return };
    let prefix = format!("__{split}_view_");
    if let Some(listed) = use_context::<leptos::PrefetchLazyFn>() {
        listed.0.try_update_value(|names| names.retain(|name| !name.starts_with(&prefix)));
    }
    let Some((modules, loader)) = manifest.0.try_with_value(|(pkg, splits, loader)| {
        let modules: Vec<String> = splits
            .iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .flat_map(|(_, modules)| modules.iter().map(|module| format!("{pkg}/{module}.wasm")))
            .collect();
        (modules, format!("{pkg}/{loader}"))
    }) else {
        return;
    };
    for href in modules {
        let _ =
            view! { <Link rel="preload" href=href as_="fetch" type_="application/wasm" crossorigin="" /> }.to_html();
    }
    let _ = view! { <Link rel="modulepreload" href=loader crossorigin="" /> }.to_html();
}
