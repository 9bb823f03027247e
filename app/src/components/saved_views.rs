//! Saved views: on the logs page, a form that names the view shown (its
//! kind, filter and range) for every member of the org; on the org page,
//! the list of them, each a link that opens it (and can be shared), with
//! who saved it and a button to remove it. Both changes are audited.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::api::{get_saved_views, RemoveView, SaveView};
use crate::components::post_form::{FormCall, PostForm};
use crate::model::{rfc3339_utc, LogView, SavedView, ViewKind};

/// *Save view* on the logs page: a name, then a link to the saved view.
/// Drawn by the server ([`crate::pages::app_logs::screen`]): a plain form,
/// which [`save_in_place`] sends without leaving the page once it runs in
/// the browser. The outcome goes in the slot after the form.
#[component]
pub fn SaveViewForm(org: String, app: String, view: LogView) -> impl IntoView {
    view! {
        <details class="save-view">
            <summary>"Save view"</summary>
            <form method="post" action=SaveView::url() class="save-view-form">
                <input type="hidden" name="org" value=org />
                <input type="hidden" name="app" value=app />
                <input type="hidden" name="kind" value=view.kind.as_str() />
                <input type="hidden" name="q" value=view.q />
                <input type="hidden" name="since" value=view.since />
                <input type="hidden" name="until" value=view.until />
                <input type="hidden" name="cols" value=view.cols />
                <label>
                    "Name "
                    <input type="text" name="name" required maxlength="80" autocomplete="off" placeholder="5xx on checkout" />
                </label>
                <button type="submit">"Save"</button>
            </form>
            <span class="save-view-slot"></span>
        </details>
    }
}

/// What *Save view* says once saved: a link to the view (its name is text).
#[cfg(feature = "ssr")]
pub fn saved_outcome(saved: &SavedView, org: &str) -> String {
    view! {
        <span class="notice saved" role="status" data-testid="save-view-outcome">
            "Saved as " <a href=saved.href(org)>{saved.name.clone()}</a> ", listed on the organisation's page."
        </span>
    }
    .to_html()
}

/// Sends a *Save view* form in place (the page keeps its lines) and puts
/// the outcome after it: what the server drew ([`saved_outcome`]), or the
/// error, as text.
#[cfg(feature = "hydrate")]
pub fn save_in_place(event: leptos::ev::SubmitEvent) {
    use crate::components::post_form::browser;
    use wasm_bindgen::JsCast;
    let form = event.target().and_then(|target| target.dyn_into::<web_sys::HtmlFormElement>().ok());
    let (Some(form), Some(fields)) = (form, browser::fields(&event)) else { return };
    event.prevent_default();
    leptos::task::spawn_local(async move {
        let said: Result<String, ServerFnError> = browser::call(&form.action(), fields).await;
        let Some(slot) = form.next_element_sibling() else { return };
        match said {
            Ok(html) => slot.set_inner_html(&html),
            Err(error) => {
                slot.set_inner_html("");
                let Ok(said) = document().create_element("span") else { return };
                said.set_class_name("form-error");
                let _ = said.set_attribute("role", "alert");
                let _ = said.set_attribute("data-testid", "save-view-outcome");
                said.set_text_content(Some(&error.to_string()));
                let _ = slot.append_child(&said);
            }
        }
    });
}

/// The org page's *Saved views*: each a link that opens it, read again
/// after a removal.
#[component]
pub fn SavedViewsSection(#[prop(into)] org: String) -> impl IntoView {
    let remove = FormCall::<RemoveView>::new();
    let list_org = org.clone();
    let views =
        crate::json::resource(move || (list_org.clone(), remove.version().get()), |(org, _)| get_saved_views(org));
    let failed = move || {
        remove.value().get().and_then(Result::err).map(|error| {
            view! { <p class="form-error" role="alert">{error.to_string()}</p> }
        })
    };
    view! {
        <section class="app-section" data-testid="saved-views" aria-labelledby="saved-views">
            <h2 id="saved-views">"Saved views"</h2>
            {failed}
            <Suspense fallback=|| view! { <p class="muted">"Loading the saved views…"</p> }>
                {move || {
                    let org = org.clone();
                    Suspend::new(async move {
                        match views.await {
                            Err(error) => view! {
                                <p class="state-error" role="alert">{error.to_string()}</p>
                            }.into_any(),
                            Ok(views) if views.is_empty() => view! {
                                <p class="muted">"No saved view yet: on an app's logs page, set a filter and a range, then Save view."</p>
                            }.into_any(),
                            Ok(views) => view! { <SavedViewsTable org views remove /> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn SavedViewsTable(org: String, views: Vec<SavedView>, remove: FormCall<RemoveView>) -> impl IntoView {
    let rows = views
        .into_iter()
        .map(|saved| {
            let range = match (saved.view.since.as_str(), saved.view.until.as_str()) {
                ("", _) => "live".to_string(),
                (since, "") => format!("since {since}"),
                (since, until) => format!("{since} to {until}"),
            };
            let columns = match (saved.view.kind, saved.view.cols.is_empty()) {
                (ViewKind::Service, _) => "–".to_string(),
                (ViewKind::Access, true) => "default".to_string(),
                (ViewKind::Access, false) => {
                    saved.view.access_columns().iter().map(|column| column.title()).collect::<Vec<_>>().join(", ")
                }
            };
            let (href, org) = (saved.href(&org), org.clone());
            view! {
                <tr>
                    <td><a href=href>{saved.name.clone()}</a></td>
                    <td>{saved.app.clone()}</td>
                    <td>{saved.view.kind.as_str()}</td>
                    <td><code>{saved.view.q.clone()}</code></td>
                    <td>{range}</td>
                    <td>{columns}</td>
                    <td class="muted">{saved_at(&saved)}</td>
                    <td>
                        <PostForm call=remove class="inline-form">
                            <input type="hidden" name="org" value=org />
                            <input type="hidden" name="id" value=saved.id.to_string() />
                            <button type="submit" aria-label=format!("Remove the view {}", saved.name)>"Remove"</button>
                        </PostForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="saved-views">
            <thead>
                <tr>
                    <th scope="col">"View"</th>
                    <th scope="col">"App"</th>
                    <th scope="col">"Logs"</th>
                    <th scope="col">"Filter"</th>
                    <th scope="col">"Range"</th>
                    <th scope="col">"Columns"</th>
                    <th scope="col">"Saved by"</th>
                    <th scope="col"><span class="visually-hidden">"Remove"</span></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// `user ada, 2026-11-29 07:30 UTC`.
fn saved_at(saved: &SavedView) -> String {
    let time = rfc3339_utc(saved.created_at_ns.div_euclid(1_000_000));
    format!("{}, {} UTC", saved.created_by, time.get(..16).unwrap_or(&time).replace('T', " "))
}
