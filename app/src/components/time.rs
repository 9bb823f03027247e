//! Times as the viewer wants them: UTC, as the server renders the page, or
//! the browser's local time, a choice remembered in the browser
//! (`localStorage`, key `vigie.times`). Hovering a time shows its full
//! date and how long ago it was.

use leptos::prelude::*;

use crate::model::{clock_utc, day_utc};

/// Whether times are shown in the browser's local time (else UTC).
#[derive(Clone, Copy, Debug)]
pub struct LocalTimes(pub RwSignal<bool>);

/// Provides the choice to the whole app. The first paint is UTC on both
/// sides; [`restore_local_times`] applies the stored choice once a page is
/// hydrated.
pub fn provide_local_times() {
    provide_context(LocalTimes(RwSignal::new(false)));
}

/// In the browser, applies the choice stored by an earlier visit. Called
/// once the page's own view is hydrated: a change made before would not
/// reach the page's HTML, which hydration takes as it is.
#[cfg(feature = "hydrate")]
pub fn restore_local_times() {
    if let Some(LocalTimes(local)) = use_context::<LocalTimes>() {
        if browser::stored_choice().as_deref() == Some("local") {
            local.set(true);
        }
    }
}

/// The toggle between UTC and local time, for a toolbar.
#[component]
pub fn TimeZoneToggle() -> impl IntoView {
    let local = use_context::<LocalTimes>().map(|choice| choice.0).unwrap_or_else(|| RwSignal::new(false));
    let toggle = move |_| {
        let now_local = !local.get_untracked();
        local.set(now_local);
        #[cfg(feature = "hydrate")]
        browser::store_choice(if now_local { "local" } else { "utc" });
    };
    view! {
        <button
            class="action tz-toggle"
            data-testid="time-zone"
            title="Show times in UTC or in this browser's time zone"
            on:click=toggle
        >
            {move || if local.get() { "Times in local time" } else { "Times in UTC" }}
        </button>
    }
}

/// One time, `HH:MM:SS.mmm`, in UTC or (`local`) the browser's zone. It
/// reads no signal: a list renders it anew when the choice changes.
#[component]
pub fn LogTime(ts_ns: i64, local: bool, #[prop(optional)] role: Option<&'static str>) -> impl IntoView {
    let shown = clock_utc(if local { ts_ns + local_offset_ns(ts_ns) } else { ts_ns });
    let on_hover = move |_event: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        browser::describe_on_hover(&_event, ts_ns);
    };
    view! {
        <time class="log-time" role=role title=format!("{} {} UTC", day_utc(ts_ns), clock_utc(ts_ns)) on:mouseenter=on_hover>
            {shown}
        </time>
    }
}

/// How far the browser's local time is ahead of UTC at `ts_ns` (0 on the server).
fn local_offset_ns(_ts_ns: i64) -> i64 {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64((_ts_ns / 1_000_000) as f64));
        // getTimezoneOffset is UTC minus local, in minutes.
        -(date.get_timezone_offset() as i64) * 60_000_000_000
    }
    #[cfg(not(feature = "hydrate"))]
    0
}

/// `12 s ago`, `5 min ago`, `3 h ago`, `2 days ago`.
pub fn ago(elapsed_ns: i64) -> String {
    let secs = (elapsed_ns / 1_000_000_000).max(0);
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3_600 => format!("{} min ago", secs / 60),
        3_600..86_400 => format!("{} h ago", secs / 3_600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

#[cfg(feature = "hydrate")]
pub(crate) mod browser {
    use wasm_bindgen::JsCast;

    use super::ago;
    use crate::model::{clock_utc, day_utc};

    const STORAGE_KEY: &str = "vigie.times";

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    /// A choice the viewer made in this browser, by `localStorage` key.
    pub fn remembered(key: &str) -> Option<String> {
        storage()?.get_item(key).ok()?
    }

    pub fn remember(key: &str, choice: &str) {
        if let Some(storage) = storage() {
            let _ = storage.set_item(key, choice);
        }
    }

    pub fn stored_choice() -> Option<String> {
        remembered(STORAGE_KEY)
    }

    pub fn store_choice(choice: &str) {
        remember(STORAGE_KEY, choice);
    }

    /// Sets the hovered time's title to its full date and how long ago.
    pub fn describe_on_hover(event: &web_sys::MouseEvent, ts_ns: i64) {
        let Some(element) = event.current_target().and_then(|target| target.dyn_into::<web_sys::Element>().ok()) else {
            return;
        };
        let now_ns = (js_sys::Date::now() * 1e6) as i64;
        let title = format!("{} {} UTC · {}", day_utc(ts_ns), clock_utc(ts_ns), ago(now_ns - ts_ns));
        let _ = element.set_attribute("title", &title);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_counts_in_the_largest_whole_unit() {
        assert_eq!(ago(12_000_000_000), "12 s ago");
        assert_eq!(ago(5 * 60_000_000_000 + 1), "5 min ago");
        assert_eq!(ago(3 * 3_600_000_000_000), "3 h ago");
        assert_eq!(ago(2 * 86_400_000_000_000), "2 days ago");
        assert_eq!(ago(-5), "0 s ago");
    }
}
