//! `/orgs/:org/apps/:app/logs`: an app's service logs, newest at the bottom,
//! following live.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::get_service_log_page;
use crate::components::{
    live_tail::LiveTail,
    states::{Failure, Loading, Missing},
    top_bar::{Crumb, TopBar},
};

#[component]
pub fn AppLogsPage() -> impl IntoView {
    let params = use_params_map();
    let target = move || params.with(|p| (p.get("org").unwrap_or_default(), p.get("app").unwrap_or_default()));
    let page = Resource::new(target, |(org, app)| get_service_log_page(org, app));
    view! {
        <Suspense fallback=|| view! { <TopBar /><main class="page"><Loading what="logs" /></main> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! {
                        <TopBar />
                        <main class="page"><Failure message=error.to_string() /></main>
                    }.into_any(),
                    Ok(None) => view! {
                        <Title text="Not found" />
                        <TopBar />
                        <main class="page">
                            <Missing title="No such app">
                                <p>"It does not exist, or you cannot see it. " <a href="/">"See your organisations"</a> "."</p>
                            </Missing>
                        </main>
                    }.into_any(),
                    Ok(Some(page)) => {
                        let crumbs = vec![
                            Crumb::link(page.org.name.clone(), format!("/orgs/{}", page.org.slug)),
                            Crumb::here(page.app.name.clone()),
                        ];
                        view! {
                            <Title text=format!("{} logs", page.app.name) />
                            <TopBar crumbs />
                            <main class="page page-logs">
                                <div class="page-head">
                                    <h1>{page.app.name}</h1>
                                    <span class="badge">{page.app.runtime}</span>
                                    <nav class="tabs" aria-label="Views of this app">
                                        <a class="tab active" aria-current="page" href="">"Service logs"</a>
                                    </nav>
                                </div>
                                <LiveTail
                                    org=page.org.slug
                                    app=page.app.slug
                                    initial=page.records
                                    next_offset=page.next_offset
                                />
                            </main>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
