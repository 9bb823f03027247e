//! The drains panel: an app's drains (the app's Drains tab) or the org's
//! audit-log drains (a section of the org's page): the list with status
//! badges, backlog and rate; for the org's admins, a create form whose
//! fields follow the recipient type, and check, enable, disable and remove
//! (the last two asking first). Its server functions sit beside it; every
//! change they make is audited as done by the viewer.

use leptos::prelude::*;

use crate::components::post_form::{FormCall, PostForm};
use crate::drains::{type_fields, DrainSummary, DrainsPage, NewDrainForm, RECIPIENT_TYPES};
use crate::model::{clock_utc, day_utc, group_thousands};

#[cfg(feature = "ssr")]
fn drains_port() -> Result<crate::drains_port::SharedDrainsPort, ServerFnError> {
    use_context::<crate::drains_port::SharedDrainsPort>()
        .ok_or_else(|| ServerFnError::new("the console is not connected to Vigie's drains"))
}

#[cfg(feature = "ssr")]
async fn viewer() -> Result<crate::model::Viewer, ServerFnError> {
    let parts: http::request::Parts = leptos_axum::extract().await?;
    parts.extensions.get::<crate::model::Viewer>().cloned().ok_or_else(|| ServerFnError::new(crate::api::SIGNED_OUT))
}

/// `app` as a scope: empty for the org's own drains.
#[cfg(feature = "ssr")]
fn scope(app: &str) -> Option<String> {
    (!app.is_empty()).then(|| app.to_string())
}

/// An app's drains (`app` empty: the org's audit-log drains, for its admins only).
#[server(prefix = "/bff", endpoint = "get_drains")]
pub async fn get_drains(org: String, app: String) -> Result<Option<DrainsPage>, ServerFnError> {
    let viewer = viewer().await?;
    let admin = viewer.may_administer(&org);
    if !viewer.may_see(&org) || (app.is_empty() && !admin) {
        return Ok(None);
    }
    let console = use_context::<crate::port::SharedConsolePort>()
        .ok_or_else(|| ServerFnError::new("the console is not connected to a Vigie store"))?;
    let Some(summary) = console.org(org.clone()).await.map_err(ServerFnError::new)? else { return Ok(None) };
    let app_summary = match scope(&app) {
        None => None,
        Some(slug) => match summary.apps.iter().find(|candidate| candidate.slug == slug) {
            Some(found) => Some(found.clone()),
            None => return Ok(None),
        },
    };
    let Some(drains) = drains_port()?.drains(org, scope(&app)).await.map_err(ServerFnError::new)? else {
        return Ok(None);
    };
    Ok(Some(DrainsPage { org: summary, app: app_summary, drains, may_change: admin }))
}

/// Creates a drain from the form (its fields are `form[kind]`, `form[url]`, ...).
/// Admins of the org only.
#[server(prefix = "/bff", endpoint = "create_drain")]
pub async fn create_drain(org: String, app: String, form: NewDrainForm) -> Result<String, ServerFnError> {
    let viewer = viewer().await?;
    if !viewer.may_see(&org) {
        return Err(ServerFnError::new(format!("no organisation \"{org}\"")));
    }
    if !viewer.may_administer(&org) {
        return Err(ServerFnError::new("only the organisation's admins can add drains: ask one of them"));
    }
    let created = drains_port()?.create_drain(org, scope(&app), form, viewer).await.map_err(ServerFnError::new)?;
    Ok(format!("Drain {} created: it sends {} to {}.", created.id, created.kind, created.target))
}

/// Enables, disables, removes or checks a drain. Admins of the org only.
#[server(prefix = "/bff", endpoint = "drain_action")]
pub async fn run_drain_action(org: String, app: String, id: i64, action: String) -> Result<String, ServerFnError> {
    let viewer = viewer().await?;
    if !viewer.may_see(&org) {
        return Err(ServerFnError::new(format!("no organisation \"{org}\"")));
    }
    if !viewer.may_administer(&org) {
        return Err(ServerFnError::new("only the organisation's admins can change drains: ask one of them"));
    }
    let action = crate::drains::DrainAction::parse(&action)
        .ok_or_else(|| ServerFnError::new(format!("unknown action \"{action}\": enable, disable, remove or check")))?;
    drains_port()?.drain_action(org, scope(&app), id, action, viewer).await.map_err(ServerFnError::new)
}

/// How often an open drains panel reads the list again (backlog, rate, status).
const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The drains of `app` (empty: the org's), listed and read again every few
/// seconds and after each change, and the forms to change them (which stay
/// as typed while the list changes).
#[component]
pub fn DrainsPanel(page: DrainsPage) -> impl IntoView {
    let create = FormCall::<CreateDrain>::new();
    let act = FormCall::<RunDrainAction>::new();
    let DrainsPage { org, app, drains, may_change } = page;
    let what = if app.is_some() {
        "this app's logs, as they are stored,"
    } else {
        "the organisation's audit log, as it is written,"
    };
    let app_slug = app.as_ref().map(|app| app.slug.clone()).unwrap_or_default();
    let kinds: &'static [(&'static str, &'static str)] = if app.is_some() {
        &[("LOG", "Service logs"), ("ACCESSLOG", "Access logs")]
    } else {
        &[("AUDITLOG", "Audit log")]
    };
    // The rows as first rendered (the same on the server and in the
    // browser), then read again in the browser every few seconds and after
    // each change: a signal, not a resource, so nothing suspends and the
    // form below keeps what is typed in it.
    let rows = RwSignal::new(drains);
    let tick = RwSignal::new(0u64);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || tick.update(|n| *n += 1), REFRESH_EVERY) {
            on_cleanup(move || handle.clear());
        }
    });
    let (list_org, list_app) = (org.slug.clone(), app_slug.clone());
    Effect::new(move |previous: Option<()>| {
        tick.track();
        create.version().track();
        act.version().track();
        if previous.is_none() {
            return;
        }
        let (org, app) = (list_org.clone(), list_app.clone());
        leptos::task::spawn_local(async move {
            if let Ok(Some(page)) = get_drains(org, app).await {
                rows.set(page.drains);
            }
        });
    });
    // The row asking "really?" (remove, disable): kept here, so a refresh of the list keeps it.
    let confirming = RwSignal::new(None::<(i64, &'static str)>);
    // Answered once the action is done.
    Effect::new(move |_| {
        act.version().track();
        confirming.set(None);
    });
    let outcome = move |message: Option<Result<String, ServerFnError>>| {
        message.map(|result| match result {
            Ok(message) => {
                view! { <p class="notice saved" role="status" data-testid="drain-outcome">{message}</p> }.into_any()
            }
            Err(error) => {
                view! { <p class="form-error" role="alert" data-testid="drain-outcome">{error.to_string()}</p> }
                    .into_any()
            }
        })
    };
    let (row_org, row_app) = (org.slug.clone(), app_slug.clone());
    let table = move |drains: Vec<DrainSummary>| {
        if drains.is_empty() {
            return view! { <p class="muted">"No drains yet: logs stay in Vigie only."</p> }.into_any();
        }
        let rows = drains
            .into_iter()
            .map(|drain| view! { <DrainRow org=row_org.clone() app=row_app.clone() drain may_change act confirming /> })
            .collect_view();
        view! {
            <table class="drains-table">
                <thead>
                    <tr>
                        <th scope="col">"Drain"</th>
                        <th scope="col">"Sends"</th>
                        <th scope="col">"To"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Backlog"</th>
                        <th scope="col">"Rate"</th>
                        <th scope="col">"Last success / error"</th>
                        {may_change.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <p class="muted">
            {format!("Drains forward {what} to your own tools, at least once: ")}
            "a recipient that is down gets everything when it is back. Times in UTC."
        </p>
        <section class="drains" data-testid="drains">
            {move || outcome(act.value().get())}
            {move || table(rows.get())}
            {may_change.then(|| view! {
                {move || outcome(create.value().get())}
                <NewDrainFields org=org.slug.clone() app=app_slug.clone() kinds create />
            })}
        </section>
    }
}

#[component]
fn DrainRow(
    org: String,
    app: String,
    drain: DrainSummary,
    may_change: bool,
    act: FormCall<RunDrainAction>,
    confirming: RwSignal<Option<(i64, &'static str)>>,
) -> impl IntoView {
    let id = drain.id;
    let enabled = drain.status == "ENABLED";
    let execution = drain.execution.to_ascii_lowercase();
    let last = match (&drain.last_error, drain.last_success_ns) {
        (Some(error), _) if drain.execution == "RETRYING" || !enabled => error.clone(),
        (_, Some(ns)) => format!("delivered {} {} UTC", day_utc(ns), clock_utc(ns)),
        (Some(error), None) => error.clone(),
        (None, None) => "nothing delivered yet".into(),
    };
    let status_note = drain.disabled_reason.clone().unwrap_or_default();
    let lost = (drain.lost_records > 0)
        .then(|| view! { <span class="drain-lost">{format!(" · {} lost to retention", group_thousands(drain.lost_records))}</span> });
    let form = move |action: &'static str, label: &'static str, class: &'static str| {
        let (org, app) = (org.clone(), app.clone());
        view! {
            <PostForm call=act class="drain-action">
                <input type="hidden" name="org" value=org />
                <input type="hidden" name="app" value=app />
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="action" value=action />
                <button type="submit" class=class>{label}</button>
            </PostForm>
        }
    };
    let ask = move |action: &'static str, label: &'static str| {
        view! { <button type="button" class="link-button" on:click=move |_| confirming.set(Some((id, action)))>{label}</button> }
    };
    let actions = may_change.then(move || {
        let toggle = if enabled { ask("disable", "Disable").into_any() } else { form("enable", "Enable", "link-button").into_any() };
        let check = form("check", "Check", "link-button");
        let remove = ask("remove", "Delete");
        let confirm_form = form.clone();
        let confirm = move || {
            confirming.get().filter(|(row, _)| *row == id).map(|(_, action)| {
                let question = if action == "remove" {
                    format!("Delete drain {id}? What it has not sent stays in Vigie.")
                } else {
                    format!("Disable drain {id}? It keeps its place and resumes when enabled.")
                };
                let yes = if action == "remove" { "Yes, delete" } else { "Yes, disable" };
                let label = question.clone();
                view! {
                    <div class="drain-confirm" role="alertdialog" aria-label=label>
                        <span>{question}</span>
                        {confirm_form(action, yes, "danger")}
                        <button type="button" class="link-button" on:click=move |_| confirming.set(None)>"Cancel"</button>
                    </div>
                }
            })
        };
        view! {
            <td class="drain-actions">
                <div class="drain-buttons">{check}{toggle}{remove}</div>
                {confirm}
            </td>
        }
    });
    view! {
        <tr data-testid=format!("drain-{id}")>
            <td>{format!("#{id}")}</td>
            <td><code>{drain.kind.clone()}</code></td>
            <td class="drain-target"><span class="badge">{drain.recipient_type.clone()}</span>" "{drain.target.clone()}</td>
            <td>
                <span class=format!("drain-status drain-status-{}", drain.status.to_ascii_lowercase()) title=status_note>{drain.status.clone()}</span>
                " "
                <span class=format!("drain-exec drain-exec-{execution}")>{drain.execution.clone()}</span>
            </td>
            <td class="num">{group_thousands(drain.backlog)}{lost}</td>
            <td class="num">{format!("{:.1}/s", drain.rate_out_per_sec)}</td>
            <td class="drain-last">{last}</td>
            {actions}
        </tr>
    }
}

#[component]
fn NewDrainFields(
    org: String,
    app: String,
    kinds: &'static [(&'static str, &'static str)],
    create: FormCall<CreateDrain>,
) -> impl IntoView {
    let chosen = RwSignal::new("raw-http".to_string());
    let fields = move || type_fields(&chosen.get());
    let options = RECIPIENT_TYPES
        .into_iter()
        .map(|(name, label)| view! { <option value=name selected=move || chosen.get() == name>{label}</option> })
        .collect_view();
    let kind_options = kinds.iter().map(|(name, label)| view! { <option value=*name>{*label}</option> }).collect_view();
    view! {
        <PostForm call=create class="card drain-form" testid="new-drain">
            <h3>"Add a drain"</h3>
            <input type="hidden" name="org" value=org />
            <input type="hidden" name="app" value=app />
            <label>"Logs " <select name="form[kind]">{kind_options}</select></label>
            <label>
                "Recipient "
                <select name="form[recipient_type]" on:change=move |event| chosen.set(event_target_value(&event))>{options}</select>
            </label>
            <label class="wide">
                "URL "
                <input type="text" name="form[url]" required maxlength="2048" placeholder=move || fields().url_hint />
            </label>
            <label hidden=move || !fields().username>"User name " <input type="text" name="form[username]" maxlength="1024" autocomplete="off" /></label>
            <label hidden=move || fields().secret.is_none()>
                {move || fields().secret.map_or("Secret", |(label, _)| label)}
                " "
                <input type="password" name="form[secret]" maxlength="1024" autocomplete="new-password"
                    required=move || fields().secret.is_some_and(|(_, required)| required) />
            </label>
            <label hidden=move || !fields().index_prefix>"Index prefix " <input type="text" name="form[index_prefix]" maxlength="200" placeholder="vigie" /></label>
            <label hidden=move || !fields().tags>"Tags " <input type="text" name="form[tags]" maxlength="1024" placeholder="env:prod,team:web" /></label>
            <label hidden=move || !fields().subject>
                "Subject "
                <input type="text" name="form[subject]" maxlength="256" placeholder="logs.acme.api" required=move || fields().subject />
            </label>
            <label class="wide" hidden=move || !fields().headers>
                "Headers (NAME=VALUE, one a line) "
                <textarea name="form[headers]" rows="2" maxlength="4096"></textarea>
            </label>
            <label>"Start " <input type="text" name="form[start]" maxlength="64" placeholder="now, 2h, or 2026-11-25T10:00:00Z" /></label>
            <button type="submit" class="primary">"Add drain"</button>
        </PostForm>
    }
}
