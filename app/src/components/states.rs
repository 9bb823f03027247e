//! What a page shows while it waits, when something failed, and when there
//! is nothing to show yet.

use leptos::prelude::*;

use crate::components::session::{is_session_ended, SessionEnded};

#[component]
pub fn Loading(#[prop(into)] what: String) -> impl IntoView {
    view! {
        <div class="state state-loading" role="status">
            <span class="spinner" aria-hidden="true"></span>
            {format!("Loading {what}…")}
        </div>
    }
}

/// Something failed; a session that ended under the page leads to the
/// sign-in form instead.
#[component]
pub fn Failure(#[prop(into)] message: String) -> impl IntoView {
    if is_session_ended(&message) {
        return view! { <SessionEnded /> }.into_any();
    }
    view! {
        <div class="state state-error" role="alert">
            <strong>"Something went wrong. "</strong>
            {message}
            " "
            <a href="" class="retry">"Retry"</a>
        </div>
    }
    .into_any()
}

#[component]
pub fn Missing(#[prop(into)] title: String, children: Children) -> impl IntoView {
    view! {
        <div class="state state-missing">
            <h2>{title}</h2>
            {children()}
        </div>
    }
}

/// A whole page saying that what was asked for is not there, in the same
/// words whether it does not exist or the viewer may not see it.
#[component]
pub fn NotVisiblePage(#[prop(into)] title: String) -> impl IntoView {
    view! {
        <leptos_meta::Title text="Not found" />
        <crate::components::top_bar::TopBar />
        <main class="page">
            <Missing title>
                <p>"It does not exist, or you cannot see it. " <a href="/">"See your organisations"</a> "."</p>
            </Missing>
        </main>
    }
}
