//! The org page's "Metrics in Grafana" section: whether the org's Grafana
//! is on, its read-only Grafana token (masked), its dashboards, and for
//! the org's admins Enable / Disable and **RESET ALL DASHBOARDS**, which
//! asks for a confirmation first (edits made in the Vigie folder are lost).
//! Its server functions sit beside it and go through the
//! [`GrafanaPort`](crate::grafana_port::GrafanaPort).

use leptos::prelude::*;

use crate::components::post_form::{FormCall, PostForm};
use crate::components::states::Failure;
use crate::model::{clock_utc, day_utc, GrafanaView};

#[cfg(feature = "ssr")]
fn grafana_port() -> Result<crate::grafana_port::SharedGrafanaPort, ServerFnError> {
    use_context::<crate::grafana_port::SharedGrafanaPort>()
        .ok_or_else(|| ServerFnError::new("the console is not connected to Vigie's Grafana service"))
}

/// The org's Grafana, for a member of the org; `may_change` for its admins.
#[server(prefix = "/bff")]
pub async fn get_grafana(org: String) -> Result<Option<GrafanaView>, ServerFnError> {
    let viewer = crate::api::viewer().await?;
    if !viewer.may_see(&org) {
        return Ok(None);
    }
    let view = grafana_port()?.grafana(org.clone()).await.map_err(ServerFnError::new)?;
    Ok(view.map(|view| GrafanaView { may_change: viewer.may_administer(&org), ..view }))
}

/// `reset`, `enable` or `disable` the org's Grafana: admins of the org only.
#[server(prefix = "/bff", endpoint = "act_on_grafana")]
pub async fn act_on_grafana(org: String, action: String) -> Result<String, ServerFnError> {
    use crate::grafana_port::GrafanaAction;
    let viewer = crate::api::viewer().await?;
    if !viewer.may_see(&org) {
        return Err(ServerFnError::new(format!("no organisation \"{org}\"")));
    }
    if !viewer.may_administer(&org) {
        return Err(ServerFnError::new("only the organisation's admins can change its Grafana: ask one of them"));
    }
    let Some(action) = GrafanaAction::parse(&action) else {
        return Err(ServerFnError::new(format!("unknown action \"{action}\": reset, enable or disable")));
    };
    let after = grafana_port()?.grafana_action(org, action, viewer).await.map_err(ServerFnError::new)?;
    Ok(match action {
        GrafanaAction::Reset => format!(
            "All {} dashboards are back to their initial state, with a new Grafana token ({}).",
            after.dashboards,
            after.token_hint.unwrap_or_default()
        ),
        GrafanaAction::Enable => "Grafana is enabled for this organisation.".to_string(),
        GrafanaAction::Disable => "Grafana is disabled: its token no longer works.".to_string(),
    })
}

#[component]
pub fn GrafanaSection(#[prop(into)] org: String) -> impl IntoView {
    let act = FormCall::<ActOnGrafana>::new();
    // Read again after each action.
    let status = crate::json::resource(move || (org.clone(), act.version().get()), |(org, _)| get_grafana(org));
    let outcome = move || {
        act.value().get().map(|result| match result {
            Ok(message) => {
                view! { <p class="notice saved" role="status" data-testid="grafana-outcome">{message}</p> }.into_any()
            }
            Err(error) => view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any(),
        })
    };
    view! {
        <section class="app-section grafana-section" aria-labelledby="grafana-title" data-testid="grafana">
            <h2 id="grafana-title">"Metrics in Grafana"</h2>
            {outcome}
            <Suspense fallback=|| view! { <p class="muted">"Loading Grafana…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Err(error) => view! { <Failure message=error.to_string() /> }.into_any(),
                        Ok(None) => ().into_any(),
                        Ok(Some(view)) => view! { <GrafanaStatus view act /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn GrafanaStatus(view: GrafanaView, act: FormCall<ActOnGrafana>) -> impl IntoView {
    let GrafanaView {
        org,
        enabled,
        token_name,
        token_hint,
        token_revoked,
        home_url,
        provisioned_at_ns,
        provision_error,
        dashboards,
        may_change,
    } = view;
    let provisioned = match provisioned_at_ns {
        Some(ns) => format!("last written to Grafana {} {} UTC", day_utc(ns), clock_utc(ns)).into_any(),
        None => view! { "not written to a Grafana by Vigie: export them with " <code>"vigie grafana export"</code> }
            .into_any(),
    };
    let token = match (token_hint, token_name) {
        (Some(hint), Some(name)) => view! {
            <code data-testid="grafana-token">{hint}</code>
            " "
            <span class="muted">{name}</span>
            {token_revoked.then(|| view! { <span class="badge badge-warn">"revoked: panels say “invalid token”"</span> })}
        }
        .into_any(),
        _ => view! { <span class="muted">"none"</span> }.into_any(),
    };
    let action_form = move |action: &'static str, label: &'static str, class: &'static str| {
        let org = org.clone();
        view! {
            <PostForm call=act class="grafana-form">
                <input type="hidden" name="org" value=org />
                <input type="hidden" name="action" value=action />
                <button type="submit" class=class>{label}</button>
            </PostForm>
        }
    };
    view! {
        <dl class="grafana-status">
            <dt>"Status"</dt>
            <dd data-testid="grafana-enabled">{if enabled { "Enabled" } else { "Disabled" }}</dd>
            <dt>"Grafana token"</dt>
            <dd>{token}</dd>
            <dt>"Dashboards"</dt>
            <dd>
                {format!("{dashboards} dashboards, ")}
                {provisioned}
                {home_url.map(|url| view! { " · " <a href=url rel="noopener">"Open Home in Grafana"</a> })}
            </dd>
        </dl>
        {provision_error.map(|error| view! {
            <p class="form-error" role="alert">{format!("The last provisioning failed: {error}")}</p>
        })}
        {if !may_change {
            view! { <p class="muted">"Only the organisation's admins can change its Grafana."</p> }.into_any()
        } else {
            view! {
                <div class="grafana-actions">
                    {if enabled {
                        action_form("disable", "Disable", "secondary").into_any()
                    } else {
                        action_form("enable", "Enable", "secondary").into_any()
                    }}
                    <details class="grafana-reset">
                        <summary class="danger" data-testid="grafana-reset">"RESET ALL DASHBOARDS"</summary>
                        <div role="alertdialog" aria-labelledby="grafana-reset-warning">
                            <p id="grafana-reset-warning">
                                "Every dashboard in the Vigie folder goes back to its initial state: edits made there are lost. "
                                "The organisation gets a new Grafana token and the current one stops working."
                            </p>
                            {action_form("reset", "Yes, reset all dashboards", "danger")}
                        </div>
                    </details>
                </div>
            }
            .into_any()
        }}
    }
}
