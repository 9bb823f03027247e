//! Any path the console does not know.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{states::Missing, top_bar::TopBar};

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <TopBar />
        <main class="page">
            <Missing title="This page does not exist">
                <p>"Check the address, or start from " <a href="/">"your organisations"</a> "."</p>
            </Missing>
        </main>
    }
}
