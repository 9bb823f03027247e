//! `/orgs/:org/drains`: where the org's audit log is forwarded, how each
//! drain is doing, and the forms to add, check, enable, disable and delete
//! them; for the org's admins, as the audit log itself.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::{
    drains::{get_drains, DrainsPanel},
    states::{Failure, Loading, NotVisiblePage},
    top_bar::{Crumb, TopBar},
};

#[component]
pub fn OrgDrainsPage() -> impl IntoView {
    let params = use_params_map();
    // An empty app: the org's own drains. The panel reads its list again by itself.
    let page = crate::json::resource(
        move || params.with(|p| p.get("org").unwrap_or_default()),
        |org| get_drains(org, String::new()),
    );
    view! {
        <Suspense fallback=|| view! { <TopBar /><main class="page"><Loading what="drains" /></main> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! { <TopBar /><main class="page"><Failure message=error.to_string() /></main> }.into_any(),
                    Ok(None) => view! { <NotVisiblePage title="No such organisation" /> }.into_any(),
                    Ok(Some(page)) => {
                        let org = page.org.clone();
                        let crumbs = vec![Crumb::link(org.name.clone(), format!("/orgs/{}", org.slug)), Crumb::here("Drains")];
                        view! {
                            <Title text=format!("{} drains", org.name) />
                            <TopBar crumbs />
                            <main class="page page-drains" data-testid="org-drains">
                                <h1>"Audit log drains"</h1>
                                <DrainsPanel page />
                            </main>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
