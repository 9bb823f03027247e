//! When the viewer's session ends, whichever way (it expired, they signed
//! out in another tab, the server ended their live stream), the page goes
//! to the sign-in form, which says so (`/signin?expired=1`) and brings the
//! viewer back to where they were.

use leptos::prelude::*;

/// The sign-in form for a viewer whose session ended on `next` (a path
/// and its query).
pub fn sign_in_again_url(next: &str) -> String {
    format!("/signin?expired=1&next={}", crate::model::url_encode(next))
}

/// Whether a server function's error says the request came without a live
/// session.
pub fn is_session_ended(error: &str) -> bool {
    error.contains(crate::api::SIGNED_OUT)
}

/// What a page says, for the moment it takes to reach the sign-in form,
/// when a server function found the session ended.
#[component]
pub fn SessionEnded() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    Effect::new(|_| sign_in_again());
    view! {
        <div class="state state-loading" role="status">
            "Your session has ended: on to the sign-in form…"
        </div>
    }
}

/// Sends the page to the sign-in form, which says the session has ended
/// and brings the viewer back here.
#[cfg(feature = "hydrate")]
pub fn sign_in_again() {
    let Some(window) = web_sys::window() else { return };
    let here = window.location();
    let next = format!("{}{}", here.pathname().unwrap_or_default(), here.search().unwrap_or_default());
    let _ = here.assign(&sign_in_again_url(&next));
}

/// Sends the page to the sign-in form when the session ends, so the viewer
/// is told instead of finding a list that stopped moving.
#[cfg(feature = "hydrate")]
pub fn sign_in_again_at(ends_ns: i64) {
    if ends_ns <= 0 {
        return;
    }
    let left_ms = (ends_ns / 1_000_000) as f64 - js_sys::Date::now();
    // Timers hold up to about 24 days; sessions are far shorter.
    let wait = std::time::Duration::from_millis(left_ms.clamp(0.0, 2_000_000_000.0) as u64 + 1_000);
    set_timeout(sign_in_again, wait);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_form_is_told_the_session_ended_and_where_to_come_back() {
        assert_eq!(
            sign_in_again_url("/orgs/demo/apps/api/logs?q=a b"),
            "/signin?expired=1&next=%2Forgs%2Fdemo%2Fapps%2Fapi%2Flogs%3Fq%3Da%20b"
        );
        assert!(is_session_ended(&format!("error running server function: {}", crate::api::SIGNED_OUT)));
        assert!(!is_session_ended("the catalog could not be read"));
    }
}
