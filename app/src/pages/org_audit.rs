//! `/orgs/:org/audit`: who did what in the org, newest first, for its
//! admins: the time, the actor, the action and its target, the address it
//! came from, and what changed.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::get_audit_page;
use crate::components::{
    states::{Failure, Loading, Missing, NotVisiblePage},
    top_bar::{Crumb, TopBar},
};
use crate::model::{clock_utc, day_utc, AuditRecord};

#[component]
pub fn OrgAuditPage() -> impl IntoView {
    let params = use_params_map();
    let audit = crate::json::resource(move || params.with(|p| p.get("org").unwrap_or_default()), get_audit_page);
    view! {
        <Suspense fallback=|| view! { <TopBar /><main class="page"><Loading what="the audit log" /></main> }>
            {move || Suspend::new(async move {
                match audit.await {
                    Err(error) => view! { <TopBar /><main class="page"><Failure message=error.to_string() /></main> }.into_any(),
                    Ok(None) => view! { <NotVisiblePage title="No such organisation" /> }.into_any(),
                    Ok(Some(page)) => {
                        let crumbs = vec![
                            Crumb::link(page.org.name.clone(), format!("/orgs/{}", page.org.slug)),
                            Crumb::here("Audit log"),
                        ];
                        let empty = page.records.is_empty();
                        view! {
                            <Title text=format!("{} audit log", page.org.name) />
                            <TopBar crumbs />
                            <main class="page">
                                <h1>"Audit log"</h1>
                                <p class="muted">"Every admin action in this organisation, newest first. Times in UTC."</p>
                                {if empty {
                                    view! {
                                        <Missing title="Nothing yet">
                                            <p>"Token, app, member and retention changes appear here as they happen."</p>
                                        </Missing>
                                    }.into_any()
                                } else {
                                    view! {
                                        <table class="audit-table" data-testid="audit">
                                            <thead>
                                                <tr>
                                                    <th scope="col">"When"</th>
                                                    <th scope="col">"Who"</th>
                                                    <th scope="col">"Did"</th>
                                                    <th scope="col">"To"</th>
                                                    <th scope="col">"From"</th>
                                                    <th scope="col">"Change"</th>
                                                </tr>
                                            </thead>
                                            <tbody>
                                                {page.records.into_iter().map(|record| view! { <AuditRow record /> }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any()
                                }}
                            </main>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn AuditRow(record: AuditRecord) -> impl IntoView {
    let line = record.line;
    let show = |value: Option<serde_json::Value>| value.map_or("—".to_string(), |value| value.to_string());
    let change = if line.before.is_none() && line.after.is_none() {
        String::new()
    } else {
        format!("{} → {}", show(line.before), show(line.after))
    };
    view! {
        <tr data-offset=record.offset>
            <td class="nowrap">{format!("{} {}", day_utc(record.ts_ns), clock_utc(record.ts_ns))}</td>
            <td>{line.actor}</td>
            <td><code>{line.action}</code></td>
            <td>{line.target}</td>
            <td class="nowrap">{line.ip}</td>
            <td class="audit-change"><code>{change}</code></td>
        </tr>
    }
}
