//! The bar at the top of every page: the product mark, where you are, the
//! orgs the viewer can switch to, and who is signed in (with the way out).
//! When the session ends, the page goes to the sign-in form, which says so
//! and brings the viewer back to where they were (`session.rs`).

use leptos::prelude::*;

use crate::api::who_am_i;

/// One step of the breadcrumb: a label, and a link unless it is the page itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Crumb {
    pub label: String,
    pub href: Option<String>,
}

impl Crumb {
    pub fn link(label: impl Into<String>, href: impl Into<String>) -> Crumb {
        Crumb { label: label.into(), href: Some(href.into()) }
    }

    pub fn here(label: impl Into<String>) -> Crumb {
        Crumb { label: label.into(), href: None }
    }
}

#[component]
pub fn TopBar(#[prop(optional)] crumbs: Vec<Crumb>) -> impl IntoView {
    let viewer = crate::json::resource(|| (), |_| who_am_i());
    view! {
        <header class="top-bar">
            <a class="brand" href="/" aria-label="Vigie home">
                <span class="brand-mark" aria-hidden="true">"◉"</span>
                "Vigie"
            </a>
            <nav class="crumbs" aria-label="Breadcrumb">
                {crumbs
                    .into_iter()
                    .map(|crumb| {
                        let label = crumb.label;
                        view! {
                            <span class="crumb-sep" aria-hidden="true">"/"</span>
                            {match crumb.href {
                                Some(href) => view! { <a href=href>{label}</a> }.into_any(),
                                None => view! { <span aria-current="page">{label}</span> }.into_any(),
                            }}
                        }
                    })
                    .collect_view()}
            </nav>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    viewer.await.ok().flatten().map(|viewer| {
                        #[cfg(feature = "hydrate")]
                        crate::components::session::sign_in_again_at(viewer.session_ends_ns);
                        let ends = format!(
                            "Signed in as {}; the session ends {} {} UTC",
                            viewer.login,
                            crate::model::day_utc(viewer.session_ends_ns),
                            &crate::model::clock_utc(viewer.session_ends_ns)[..5],
                        );
                        let switcher = (viewer.orgs.len() > 1).then(|| {
                            let links = viewer
                                .orgs
                                .iter()
                                .zip(&viewer.org_names)
                                .map(|(slug, name)| view! { <li><a href=format!("/orgs/{slug}")>{name.clone()}</a></li> })
                                .collect_view();
                            view! {
                                <details class="org-switcher" data-testid="org-switcher">
                                    <summary>"Organisations"</summary>
                                    <ul>{links}</ul>
                                </details>
                            }
                        });
                        view! {
                            {switcher}
                            <form class="viewer" method="post" action="/signout">
                                <span class="viewer-name" title=ends>{viewer.name}</span>
                                <button type="submit" class="link-button">"Sign out"</button>
                            </form>
                        }
                    })
                })}
            </Suspense>
        </header>
    }
}
