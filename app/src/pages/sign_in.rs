//! `/signin`: the console's sign-in form.
//!
//! A plain HTML form posted to `POST /signin` (handled by the server, which
//! sets the session cookie and sends the browser on to `next`), so it works
//! before the page is hydrated and with scripts off. A failed attempt comes
//! back here with `error` in the URL.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::top_bar::TopBar;

#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map();
    let get = move |key: &str| query.with_untracked(|q| q.get(key).unwrap_or_default());
    let message = match get("error").as_str() {
        "wrong" => Some("Wrong login or password.".to_string()),
        "too_many" => Some(format!(
            "Too many failed attempts from this address: wait {} s and try again.",
            get("wait").parse::<u64>().unwrap_or(60)
        )),
        _ => None,
    };
    let signed_out = get("signed_out") == "1";
    let expired = get("expired") == "1";
    // After a wrong password the login is kept: type the password again.
    let retry = !get("login").is_empty();
    view! {
        <Title text="Sign in" />
        <TopBar />
        <main class="page page-sign-in">
            <form class="sign-in" method="post" action="/signin">
                <h1>"Sign in to Vigie"</h1>
                {signed_out.then(|| view! { <p class="notice" role="status">"You are signed out."</p> })}
                {expired.then(|| view! {
                    <p class="notice" role="status">"Your session has ended: sign in again to go back where you were."</p>
                })}
                {message.map(|message| view! { <p class="form-error" role="alert">{message}</p> })}
                <label for="login">"Login"</label>
                <input id="login" name="login" type="text" autocomplete="username" required autofocus=!retry value=get("login") />
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required autofocus=retry />
                <input type="hidden" name="next" value=get("next") />
                <button type="submit" class="primary">"Sign in"</button>
            </form>
        </main>
    }
}
