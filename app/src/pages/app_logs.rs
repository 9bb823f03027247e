//! `/orgs/:org/apps/:app/logs`: an app's service logs, newest at the bottom,
//! following live or replaying a range, narrowed by a filter. The query
//! string holds the view (`?q=…&since=…&until=…`, see [`LogView`]).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::get_log_page;
use crate::components::log_row::FilterLinks;
use crate::components::{
    explorer::LogExplorer,
    live_tail::LiveTail,
    states::{Failure, Loading, Missing, NotVisiblePage},
    top_bar::{Crumb, TopBar},
};
#[cfg(feature = "ssr")]
use crate::model::LogPage;

/// A *Save view* form is sent in place in the browser; on the server there
/// is nothing to send.
#[cfg(feature = "hydrate")]
use crate::components::saved_views::save_in_place;
#[cfg(not(feature = "hydrate"))]
fn save_in_place(_: leptos::ev::SubmitEvent) {}
use crate::model::{LogScreen, LogView, ViewKind};

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
                    Ok(Some(screen)) => {
                        let LogScreen { org, app, needles, head_html, bar_html, columns_html, save_html, .. } = screen;
                        let (_, _, view) = target();
                        let base = format!("/orgs/{}/apps/{}/logs", org.0, app.0);
                        // The rest of a replayed range loads in the browser.
                        let more_from = screen.more_in_range.then_some(screen.next_offset);
                        // Clicking a status or a country adds it to the filter.
                        provide_context(FilterLinks { base, view: view.clone() });
                        let crumbs = vec![Crumb::link(org.1, format!("/orgs/{}", org.0)), Crumb::here(app.1.clone())];
                        view! {
                            <Title text=format!("{} {} logs", app.1, view.kind.as_str()) />
                            <TopBar crumbs />
                            <main class="page page-logs">
                                <div class="page-head" inner_html=head_html></div>
                                <div inner_html=bar_html></div>
                                {match screen.has_problem {
                                    // Nothing to show or follow until the view makes sense.
                                    true => view! {
                                        <div class="live-tail">
                                            <Missing title="Fix the view to see lines">
                                                <p>"The filter or the range above has a mistake: it is marked in red."</p>
                                            </Missing>
                                        </div>
                                    }.into_any(),
                                    false => view! {
                                        <div class="view-tools">
                                            <div inner_html=save_html on:submit=save_in_place></div>
                                            <div class="columns-slot" inner_html=columns_html></div>
                                        </div>
                                        <LogExplorer org=org.0.clone() app=app.0.clone() view=view.clone() />
                                        <LiveTail
                                            org=org.0
                                            app=app.0
                                            view
                                            needles
                                            initial=screen.records
                                            next_offset=screen.next_offset
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

/// The page as [`get_log_page`] sends it: `page` with the marks of its
/// filter, and its head, bar and column chooser drawn as HTML (links and
/// plain forms, which need no code in the browser).
#[cfg(feature = "ssr")]
pub fn screen(page: LogPage, view: LogView) -> LogScreen {
    use crate::components::app_tabs::{AppTab, AppTabs};
    use crate::components::{log_row::AccessColumnsMenu, saved_views::SaveViewForm, view_bar::ViewBar};
    let LogPage { org, app, records, next_offset, more_in_range, problem } = page;
    let base = format!("/orgs/{}/apps/{}/logs", org.slug, app.slug);
    let save_html = match problem {
        None => view! { <SaveViewForm org=org.slug.clone() app=app.slug.clone() view=view.clone() /> }.to_html(),
        Some(_) => String::new(),
    };
    let columns_html = if view.kind == ViewKind::Access && problem.is_none() {
        view! { <AccessColumnsMenu base=base.clone() view=view.clone() /> }.to_html()
    } else {
        String::new()
    };
    let current = if view.kind == ViewKind::Access { AppTab::AccessLogs } else { AppTab::ServiceLogs };
    let head_html = view! {
        <h1>{app.name.clone()}</h1>
        <span class="badge">{app.runtime}</span>
        <AppTabs org=org.slug.clone() app=app.slug.clone() current />
    }
    .to_html();
    LogScreen {
        org: (org.slug, org.name),
        app: (app.slug, app.name),
        records,
        next_offset,
        more_in_range,
        has_problem: problem.is_some(),
        needles: crate::query::Filter::needles(&view.q),
        head_html,
        bar_html: view! { <ViewBar base view=view.clone() problem /> }.to_html(),
        columns_html,
        save_html,
    }
}
