//! The tabs of an app's pages: its overview, its logs, its dashboards, its drains and its settings.

use leptos::prelude::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AppTab {
    Overview,
    ServiceLogs,
    AccessLogs,
    Metrics,
    Http,
    Map,
    Drains,
    Settings,
}

impl AppTab {
    const ALL: [AppTab; 8] = [
        AppTab::Overview,
        AppTab::ServiceLogs,
        AppTab::AccessLogs,
        AppTab::Metrics,
        AppTab::Http,
        AppTab::Map,
        AppTab::Drains,
        AppTab::Settings,
    ];

    fn label(self) -> &'static str {
        match self {
            AppTab::Overview => "Overview",
            AppTab::ServiceLogs => "Service logs",
            AppTab::AccessLogs => "Access logs",
            AppTab::Metrics => "Metrics",
            AppTab::Http => "HTTP",
            AppTab::Map => "Map",
            AppTab::Drains => "Drains",
            AppTab::Settings => "Settings",
        }
    }

    fn path(self) -> &'static str {
        match self {
            AppTab::Overview => "",
            AppTab::ServiceLogs => "logs",
            AppTab::AccessLogs => "logs?kind=access",
            AppTab::Metrics => "metrics",
            AppTab::Http => "http",
            AppTab::Map => "map",
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
                <a class="tab" class:active=here aria-current=here.then_some("page") href=if tab.path().is_empty() { format!("/orgs/{org}/apps/{app}") } else { format!("/orgs/{org}/apps/{app}/{}", tab.path()) }>
                    {tab.label()}
                </a>
            }
        })
        .collect_view();
    view! { <nav class="tabs" aria-label="Views of this app">{tabs}</nav> }
}
