//! `/orgs/:org/apps/:app/settings`: how long each kind of the app's logs is
//! kept, what they take now, and (for the org's admins) a form to change
//! it. A change is written to the org's audit log.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::{get_app_settings, SetAppRetention};
use crate::components::post_form::{FormCall, PostForm};
use crate::components::{
    app_tabs::{AppTab, AppTabs},
    states::{Failure, Loading, NotVisiblePage},
    top_bar::{Crumb, TopBar},
};
use crate::model::{describe_bytes, describe_days, group_thousands, AppSettings, RetentionRow};

#[component]
pub fn AppSettingsPage() -> impl IntoView {
    let params = use_params_map();
    let target = move || params.with(|p| (p.get("org").unwrap_or_default(), p.get("app").unwrap_or_default()));
    let save = FormCall::<SetAppRetention>::new();
    // Read again after each save.
    let settings =
        crate::json::resource(move || (target(), save.version().get()), |((org, app), _)| get_app_settings(org, app));
    view! {
        <Suspense fallback=|| view! { <TopBar /><main class="page"><Loading what="settings" /></main> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Err(error) => view! { <TopBar /><main class="page"><Failure message=error.to_string() /></main> }.into_any(),
                    Ok(None) => view! { <NotVisiblePage title="No such app" /> }.into_any(),
                    Ok(Some(settings)) => view! { <SettingsView settings save /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SettingsView(settings: AppSettings, save: FormCall<SetAppRetention>) -> impl IntoView {
    let AppSettings { org, app, retention, may_change } = settings;
    let base = format!("/orgs/{}/apps/{}", org.slug, app.slug);
    let crumbs = vec![
        Crumb::link(org.name.clone(), format!("/orgs/{}", org.slug)),
        Crumb::link(app.name.clone(), format!("{base}/logs")),
        Crumb::here("Settings"),
    ];
    let outcome = move || {
        save.value().get().map(|result| match result {
            Ok(message) => view! { <p class="notice saved" role="status" data-testid="saved">{message}</p> }.into_any(),
            Err(error) => view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any(),
        })
    };
    let rows = retention
        .into_iter()
        .map(|row| view! { <RetentionCard org=org.slug.clone() app=app.slug.clone() row may_change save /> })
        .collect_view();
    view! {
        <Title text=format!("{} settings", app.name) />
        <TopBar crumbs />
        <main class="page page-settings">
            <div class="page-head">
                <h1>{app.name.clone()}</h1>
                <span class="badge">{app.runtime.clone()}</span>
                <AppTabs org=org.slug.clone() app=app.slug.clone() current=AppTab::Settings />
            </div>
            <h2>"Retention"</h2>
            <p class="muted">
                "Lines older than the age limit, or past the size limit (oldest first), are removed whole segments at a time. "
                {if may_change { "Changes are written to the organisation's audit log." } else { "Only the organisation's admins can change them." }}
            </p>
            {outcome}
            <div class="retention-cards">{rows}</div>
        </main>
    }
}

#[component]
fn RetentionCard(
    org: String,
    app: String,
    row: RetentionRow,
    may_change: bool,
    save: FormCall<SetAppRetention>,
) -> impl IntoView {
    let kind = row.kind.as_str();
    let title = if kind == "access" { "Access logs" } else { "Service logs" };
    let days = RwSignal::new(row.max_age_secs.map(|secs| (secs / 86_400).max(1).to_string()).unwrap_or_default());
    let megabytes =
        RwSignal::new(row.max_bytes.map(|bytes| (bytes / 1_000_000).max(1).to_string()).unwrap_or_default());
    let now = format!(
        "Now: {} lines, {} on disk{}. Kept {}, {}.",
        group_thousands(row.stored_records),
        describe_bytes(row.stored_bytes),
        row.oldest_age_secs.map(|age| format!(", the oldest {} old", describe_days(age))).unwrap_or_default(),
        row.max_age_secs.map_or("for ever".to_string(), |secs| format!("for {}", describe_days(secs))),
        row.max_bytes.map_or("with no size limit".to_string(), |bytes| format!("up to {}", describe_bytes(bytes))),
    );
    // What the limits being typed would mean, before saving.
    let estimate = move || {
        let days = days.with(|text| text.trim().parse::<f64>().ok().filter(|d| *d > 0.0));
        let bytes = megabytes.with(|text| text.trim().parse::<u64>().ok().filter(|m| *m > 0).map(|m| m * 1_000_000));
        row.estimate(days, bytes).unwrap_or_else(|| "Nothing stored yet: no estimate.".to_string())
    };
    view! {
        <section class="card retention-card" data-testid=format!("retention-{kind}")>
            <h3>{title}</h3>
            <p class="retention-now">{now}</p>
            {may_change.then(|| view! {
                <PostForm call=save class="retention-form">
                    <input type="hidden" name="org" value=org.clone() />
                    <input type="hidden" name="app" value=app.clone() />
                    <input type="hidden" name="kind" value=kind />
                    <label>
                        "Keep for "
                        <input type="number" name="max_age_days" min="1" placeholder="ever"
                            aria-label=format!("{title}: days to keep")
                            prop:value=move || days.get()
                            on:input=move |event| days.set(event_target_value(&event)) />
                        " days"
                    </label>
                    <label>
                        "up to "
                        <input type="number" name="max_megabytes" min="1" placeholder="no limit"
                            aria-label=format!("{title}: megabytes to keep")
                            prop:value=move || megabytes.get()
                            on:input=move |event| megabytes.set(event_target_value(&event)) />
                        " MB"
                    </label>
                    <button type="submit">"Save"</button>
                </PostForm>
                <p class="estimate muted" data-testid=format!("estimate-{kind}")>{estimate}</p>
            })}
        </section>
    }
}
