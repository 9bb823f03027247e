//! `/orgs/:org`: the org's apps and add-ons, each with a glance at its logs.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::{get_org, get_org_sparklines};
use crate::components::grafana::GrafanaSection;
use crate::components::saved_views::SavedViewsSection;
use crate::components::{
    states::{Failure, Loading, NotVisiblePage},
    top_bar::{Crumb, TopBar},
};
use crate::model::{clock_utc, group_thousands, AppKind, AppSparklines, AppSummary};

#[component]
pub fn OrgHomePage() -> impl IntoView {
    let params = use_params_map();
    let org_slug = move || params.read().get("org").unwrap_or_default();
    let org = crate::json::resource(org_slug, get_org);
    let sparks = crate::json::resource(org_slug, get_org_sparklines);
    view! {
        <Suspense fallback=|| view! { <TopBar /><main class="page"><Loading what="apps" /></main> }>
            {move || Suspend::new(async move {
                // Sparklines are a garnish: the page shows without them.
                let sparks = sparks.await.unwrap_or_default();
                match org.await {
                    Err(error) => view! {
                        <TopBar />
                        <main class="page"><Failure message=error.to_string() /></main>
                    }.into_any(),
                    Ok(None) => view! { <NotVisiblePage title="No such organisation" /> }.into_any(),
                    Ok(Some(org)) => {
                        let (apps, addons): (Vec<_>, Vec<_>) =
                            org.apps.into_iter().partition(|app| app.kind == AppKind::Application);
                        let org_slug = org.slug.clone();
                        view! {
                            <Title text=org.name.clone() />
                            <TopBar crumbs=vec![Crumb::here(org.name.clone())] />
                            <main class="page">
                                <div class="page-head">
                                    <h1>{org.name}</h1>
                                    <nav class="tabs" aria-label="This organisation">
                                        <a class="tab" href=format!("/orgs/{org_slug}/audit")>"Audit log"</a>
                                        <a class="tab" href=format!("/orgs/{org_slug}/drains")>"Drains"</a>
                                    </nav>
                                </div>
                                <AppSection title="Applications" org=org_slug.clone() apps sparks=sparks.clone() />
                                <AppSection title="Add-ons" org=org_slug.clone() apps=addons sparks />
                                <SavedViewsSection org=org_slug.clone() />
                                <GrafanaSection org=org_slug />
                            </main>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn AppSection(title: &'static str, org: String, apps: Vec<AppSummary>, sparks: Vec<AppSparklines>) -> impl IntoView {
    let empty = apps.is_empty();
    view! {
        <section class="app-section">
            <h2>{title}</h2>
            <Show when=move || empty>
                <p class="muted">{format!("No {} in this organisation.", title.to_lowercase())}</p>
            </Show>
            <ul class="card-list">
                {apps.into_iter().map(|app| {
                    let href = format!("/orgs/{org}/apps/{}", app.slug);
                    let spark = sparks.iter().find(|spark| spark.app == app.slug).cloned().map(|spark| view! {
                        <span class="sparklines" role="img" aria-label=spark.summary.clone() data-testid="sparklines">
                            <svg viewBox="0 0 100 24" preserveAspectRatio="none" aria-hidden="true">
                                <polyline class="spark-requests" points=spark.requests fill="none"></polyline>
                                <polyline class="spark-errors" points=spark.errors fill="none"></polyline>
                            </svg>
                        </span>
                    });
                    let last = match app.last_log_ns {
                        Some(ts_ns) => format!("last line {} UTC", clock_utc(ts_ns)),
                        None => "never logged".to_string(),
                    };
                    view! {
                        <li class="card">
                            <a class="card-link" href=href>
                                <span class="card-title">{app.name}</span>
                                <span class="badge">{app.runtime}</span>
                                {spark}
                                <span class="card-meta">
                                    {format!(
                                        "{} lines and {} requests in the last hour · {} lines kept · {last}",
                                        group_thousands(app.lines_last_hour),
                                        group_thousands(app.requests_last_hour),
                                        group_thousands(app.service_lines),
                                    )}
                                </span>
                            </a>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}
