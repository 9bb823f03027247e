//! A form that calls a server function. Before the page runs scripts it is
//! a plain HTML form posting to the function, which answers a form's post
//! by sending the browser back to the page. Once hydrated, a submission
//! posts the same fields with `fetch` and stays on the page: the function's
//! answer, or its error, becomes the [`FormCall`]'s value.
//!
//! Leptos's `ActionForm` and `ServerAction` do the same through a generic
//! form decoder and the machinery of actions, which cost every page with a
//! form tens of KB of WebAssembly (docs/PERFORMANCE.md). Here the browser
//! sends the form's own fields, named as the function's arguments, and
//! reads the answer as every server function's answer is read
//! ([`crate::json`]).

use std::marker::PhantomData;

use leptos::prelude::*;
use leptos::server_fn::error::FromServerFnError;
use leptos::server_fn::ServerFn;
use serde::de::DeserializeOwned;

/// What a form's server function `S` last answered, and how many answers
/// it has had (to read something again after each).
pub struct FormCall<S: ServerFn> {
    value: RwSignal<Option<Result<S::Output, S::Error>>>,
    version: RwSignal<usize>,
    function: PhantomData<fn() -> S>,
}

impl<S: ServerFn> Clone for FormCall<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: ServerFn> Copy for FormCall<S> {}

impl<S> FormCall<S>
where
    S: ServerFn,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    pub fn new() -> Self {
        FormCall { value: RwSignal::new(None), version: RwSignal::new(0), function: PhantomData }
    }

    /// The last answer; `None` until the form is first sent.
    pub fn value(&self) -> ReadSignal<Option<Result<S::Output, S::Error>>> {
        self.value.read_only()
    }

    /// How many answers came, errors included.
    pub fn version(&self) -> ReadSignal<usize> {
        self.version.read_only()
    }
}

impl<S> Default for FormCall<S>
where
    S: ServerFn,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    fn default() -> Self {
        FormCall::new()
    }
}

/// `<form method="post">` to server function `S`, whose fields are named
/// as its arguments; sent in place once the page is hydrated, its answer
/// going to `call`. (Its class and test id are props: spreading
/// attributes onto a component costs every page with a form its own code.)
#[component]
pub fn PostForm<S>(
    call: FormCall<S>,
    class: &'static str,
    #[prop(optional)] testid: Option<&'static str>,
    children: Children,
) -> impl IntoView
where
    S: ServerFn,
    S::Output: DeserializeOwned + Send + Sync + 'static,
    S::Error: FromServerFnError + Send + Sync + 'static,
{
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        if event.default_prevented() {
            return;
        }
        event.prevent_default();
        #[cfg(feature = "hydrate")]
        if let Some(fields) = browser::fields(&event) {
            leptos::task::spawn_local(async move {
                let answer = browser::call(S::url(), fields).await;
                if !call.value.is_disposed() {
                    call.value.set(Some(answer));
                    call.version.update(|version| *version += 1);
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = call;
    };
    view! {
        <form method="post" action=S::url() class=class data-testid=testid on:submit=on_submit>
            {children()}
        </form>
    }
}

#[cfg(feature = "hydrate")]
pub(crate) mod browser {
    use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
    use wasm_bindgen::JsCast;

    /// Why a form's answer is not the function's value.
    enum Failure {
        /// The request did not reach the function, or its answer was cut.
        Unsent(String),
        /// The function failed; its error as it encoded it.
        Refused(String),
        /// The answer is not the function's value.
        Unreadable(String),
    }

    impl Failure {
        fn into_error<E: FromServerFnError>(self) -> E {
            match self {
                Failure::Unsent(message) => E::from_server_fn_error(ServerFnErrorErr::Request(message)),
                Failure::Refused(encoded) => E::de(encoded.into()),
                Failure::Unreadable(message) => E::from_server_fn_error(ServerFnErrorErr::Deserialization(message)),
            }
        }
    }

    /// The submitted form's fields, URL-encoded as a form posts them.
    pub fn fields(event: &leptos::ev::SubmitEvent) -> Option<web_sys::UrlSearchParams> {
        let form = event.target()?.dyn_into::<web_sys::HtmlFormElement>().ok()?;
        let data = web_sys::FormData::new_with_form(&form).ok()?;
        web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data).ok()
    }

    /// Posts `fields` to server function `url`: its answer, or its error.
    pub async fn call<T: serde::de::DeserializeOwned, E: FromServerFnError>(
        url: &str,
        fields: web_sys::UrlSearchParams,
    ) -> Result<T, E> {
        let answer = send(url, fields)
            .await
            .and_then(|text| crate::json::decode(&text).map_err(|error| Failure::Unreadable(error.to_string())));
        answer.map_err(Failure::into_error)
    }

    /// Posts `fields` to `url`, asking for JSON rather than being sent back
    /// to the page; the answer's text.
    async fn send(url: &str, fields: web_sys::UrlSearchParams) -> Result<String, Failure> {
        let unsent = |error: gloo_net::Error| Failure::Unsent(error.to_string());
        let response = gloo_net::http::Request::post(url)
            .header("Accept", "application/json")
            .body(fields)
            .map_err(unsent)?
            .send()
            .await
            .map_err(unsent)?;
        let text = response.text().await.map_err(unsent)?;
        if response.ok() {
            Ok(text)
        } else {
            Err(Failure::Refused(text))
        }
    }
}
