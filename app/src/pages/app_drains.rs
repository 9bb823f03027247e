//! `/orgs/:org/apps/:app/drains`: where the app's service and access logs
//! are forwarded, how each drain is doing, and (for the org's admins) the
//! forms to add, check, enable, disable and delete them.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::{
    app_tabs::{AppTab, AppTabs},
    drains::{get_drains, DrainsPanel},
    states::{Failure, Loading, NotVisiblePage},
    top_bar::{Crumb, TopBar},
};

#[component]
pub fn AppDrainsPage() -> impl IntoView {
    let params = use_params_map();
    let target = move || params.with(|p| (p.get("org").unwrap_or_default(), p.get("app").unwrap_or_default()));
    // The panel reads its list again by itself.
    let page = crate::json::resource(target, |(org, app)| get_drains(org, app));
    view! {
        <Suspense fallback=|| view! { <TopBar /><main class="page"><Loading what="drains" /></main> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! { <TopBar /><main class="page"><Failure message=error.to_string() /></main> }.into_any(),
                    Ok(None) => view! { <NotVisiblePage title="No such app" /> }.into_any(),
                    Ok(Some(page)) => {
                        let (org, app) = (page.org.clone(), page.app.clone().expect("an app's page"));
                        let crumbs = vec![
                            Crumb::link(org.name.clone(), format!("/orgs/{}", org.slug)),
                            Crumb::link(app.name.clone(), format!("/orgs/{}/apps/{}/logs", org.slug, app.slug)),
                            Crumb::here("Drains"),
                        ];
                        view! {
                            <Title text=format!("{} drains", app.name) />
                            <TopBar crumbs />
                            <main class="page page-drains">
                                <div class="page-head">
                                    <h1>{app.name.clone()}</h1>
                                    <span class="badge">{app.runtime.clone()}</span>
                                    <AppTabs org=org.slug.clone() app=app.slug.clone() current=AppTab::Drains />
                                </div>
                                <DrainsPanel page />
                            </main>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
