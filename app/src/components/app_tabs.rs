//! The tabs of an app's pages: its logs, its dashboards, its drains and its settings.

use leptos::prelude::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AppTab {
    ServiceLogs,
    AccessLogs,
    Metrics,
    Http,
    Drains,
    Settings,
}

impl AppTab {
    const ALL: [AppTab; 6] =
        [AppTab::ServiceLogs, AppTab::AccessLogs, AppTab::Metrics, AppTab::Http, AppTab::Drains, AppTab::Settings];

    fn label(self) -> &'static str {
        match self {
            AppTab::ServiceLogs => "Service logs",
            AppTab::AccessLogs => "Access logs",
            AppTab::Metrics => "Metrics",
            AppTab::Http => "HTTP",
            AppTab::Drains => "Drains",
            AppTab::Settings => "Settings",
        }
    }

    fn path(self) -> &'static str {
        match self {
            AppTab::ServiceLogs => "logs",
            AppTab::AccessLogs => "logs?kind=access",
            AppTab::Metrics => "metrics",
            AppTab::Http => "http",
            AppTab::Drains => "drains",
            AppTab::Settings => "settings",
        }
    }
}

#[component]
pub fn AppTabs(#[prop(into)] org: String, #[prop(into)] app: String, current: AppTab) -> impl IntoView {
    let tabs = AppTab::ALL
        .into_iter()
        .map(|tab| {
            let here = tab == current;
            view! {
                <a class="tab" class:active=here aria-current=here.then_some("page") href=format!("/orgs/{org}/apps/{app}/{}", tab.path())>
                    {tab.label()}
                </a>
            }
        })
        .collect_view();
    view! { <nav class="tabs" aria-label="Views of this app">{tabs}</nav> }
}
