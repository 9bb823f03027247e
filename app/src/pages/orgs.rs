//! `/`: the organisations this console shows.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::list_orgs;
use crate::components::{
    states::{Failure, Loading, Missing},
    top_bar::TopBar,
};

#[component]
pub fn OrgsPage() -> impl IntoView {
    let orgs = crate::json::resource(|| (), |_| list_orgs());
    view! {
        <Title text="Organisations" />
        <TopBar />
        <main class="page">
            <h1>"Organisations"</h1>
            <Suspense fallback=|| view! { <Loading what="organisations" /> }>
                {move || Suspend::new(async move {
                    match orgs.await {
                        Err(error) => view! { <Failure message=error.to_string() /> }.into_any(),
                        Ok(orgs) if orgs.is_empty() => view! {
                            <Missing title="No organisation yet">
                                <p>
                                    "Start Vigie with " <code>"vigie serve --demo"</code>
                                    " to get a demo organisation whose apps are already logging."
                                </p>
                            </Missing>
                        }.into_any(),
                        Ok(orgs) => view! {
                            <ul class="card-list">
                                {orgs.into_iter().map(|org| view! {
                                    <li class="card">
                                        <a class="card-link" href=format!("/orgs/{}", org.slug)>
                                            <span class="card-title">{org.name}</span>
                                            <span class="card-meta">{format!("{} apps and add-ons", org.apps.len())}</span>
                                        </a>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}
