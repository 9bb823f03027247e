//! `/orgs/:org/apps/:app/logs`: an app's service logs, newest at the bottom,
//! following live or replaying a range, narrowed by a filter. The query
//! string holds the view (`?q=…&since=…&until=…`, see [`LogView`]).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::get_log_page;
use crate::components::log_row::{AccessColumnsMenu, FilterLinks};
use crate::components::{
    app_tabs::{AppTab, AppTabs},
    explorer::LogExplorer,
    live_tail::LiveTail,
    saved_views::SaveViewForm,
    states::{Failure, Loading, Missing, NotVisiblePage},
    top_bar::{Crumb, TopBar},
    view_bar::ViewBar,
};
use crate::model::{LogView, ViewKind};

#[component]
pub fn AppLogsPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let target = move || {
        let (org, app) = params.with(|p| (p.get("org").unwrap_or_default(), p.get("app").unwrap_or_default()));
        let view = query.with(|q| LogView {
            kind: ViewKind::from_param(&q.get("kind").unwrap_or_default()),
            q: q.get("q").unwrap_or_default(),
            since: q.get("since").unwrap_or_default(),
            until: q.get("until").unwrap_or_default(),
            cols: q.get("cols").unwrap_or_default(),
        });
        (org, app, view)
    };
    let page = crate::json::resource(target, |(org, app, view)| get_log_page(org, app, view));
    view! {
        <Suspense fallback=|| view! { <TopBar /><main class="page"><Loading what="logs" /></main> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! {
                        <TopBar />
                        <main class="page"><Failure message=error.to_string() /></main>
                    }.into_any(),
                    Ok(None) => view! { <NotVisiblePage title="No such app" /> }.into_any(),
                    Ok(Some(page)) => {
                        let (_, _, view) = target();
                        let base = format!("/orgs/{}/apps/{}/logs", page.org.slug, page.app.slug);
                        // The rest of a replayed range loads in the browser.
                        let more_from = page.more_in_range.then_some(page.next_offset);
                        // Clicking a status or a country adds it to the filter.
                        provide_context(FilterLinks { base: base.clone(), view: view.clone() });
                        let on_access = view.kind == ViewKind::Access;
                        let crumbs = vec![
                            Crumb::link(page.org.name.clone(), format!("/orgs/{}", page.org.slug)),
                            Crumb::here(page.app.name.clone()),
                        ];
                        view! {
                            <Title text=format!("{} {} logs", page.app.name, view.kind.as_str()) />
                            <TopBar crumbs />
                            <main class="page page-logs">
                                <div class="page-head">
                                    <h1>{page.app.name}</h1>
                                    <span class="badge">{page.app.runtime}</span>
                                    <AppTabs
                                        org=page.org.slug.clone()
                                        app=page.app.slug.clone()
                                        current=if on_access { AppTab::AccessLogs } else { AppTab::ServiceLogs }
                                    />
                                </div>
                                <ViewBar base=base.clone() view=view.clone() problem=page.problem.clone() />
                                {page.problem.is_none().then(|| view! {
                                    <div class="view-tools">
                                        <SaveViewForm org=page.org.slug.clone() app=page.app.slug.clone() view=view.clone() />
                                        {on_access.then(|| view! { <AccessColumnsMenu base=base.clone() view=view.clone() /> })}
                                    </div>
                                })}
                                {match page.problem {
                                    // Nothing to show or follow until the view makes sense.
                                    Some(_) => view! {
                                        <div class="live-tail">
                                            <Missing title="Fix the view to see lines">
                                                <p>"The filter or the range above has a mistake: it is marked in red."</p>
                                            </Missing>
                                        </div>
                                    }.into_any(),
                                    None => view! {
                                        <LogExplorer org=page.org.slug.clone() app=page.app.slug.clone() view=view.clone() />
                                        <LiveTail
                                            org=page.org.slug
                                            app=page.app.slug
                                            view
                                            initial=page.records
                                            next_offset=page.next_offset
                                            more_from=more_from
                                        />
                                    }.into_any(),
                                }}
                            </main>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
