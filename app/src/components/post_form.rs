//! A form that calls a server function. Before the page runs scripts it is
//! a plain HTML form posting to the function (which answers form posts);
//! once hydrated it calls the function in place through its
//! [`ServerAction`], the arguments read from the fields by the caller.
//!
//! Leptos's `ActionForm` does the same, but reads the fields through a
//! generic form decoder (`serde_qs`) that weighed about 30 KB gzip in every
//! page with a form; reading six known forms by name takes a few lines each.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// The fields of a form being sent, by name.
pub struct Fields {
    #[cfg(feature = "hydrate")]
    data: web_sys::FormData,
}

impl Fields {
    /// The field's text; empty when the form has no such field.
    pub fn text(&self, name: &str) -> String {
        #[cfg(feature = "hydrate")]
        return self.data.get(name).as_string().unwrap_or_default();
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = name;
            String::new()
        }
    }

    /// The field's text, `None` when the form has no such field.
    pub fn optional(&self, name: &str) -> Option<String> {
        #[cfg(feature = "hydrate")]
        return self.data.get(name).as_string();
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = name;
            None
        }
    }
}

/// `<form method="post">` to server function `S`, called in place once the
/// page is hydrated with the arguments `read` makes of the fields. Its
/// answer is `action`'s value, as with Leptos's `ActionForm`.
#[component]
pub fn PostForm<S>(action: ServerAction<S>, read: fn(&Fields) -> S, children: Children) -> impl IntoView
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        if event.default_prevented() {
            return;
        }
        event.prevent_default();
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let form = event.target().and_then(|target| target.dyn_into::<web_sys::HtmlFormElement>().ok());
            if let Some(data) = form.and_then(|form| web_sys::FormData::new_with_form(&form).ok()) {
                action.dispatch(read(&Fields { data }));
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (action, read);
    };
    view! {
        <form method="post" action=S::url() on:submit=on_submit>
            {children()}
        </form>
    }
}
