//! Dashboards that show a range back from now ask for their data again
//! every few seconds while the tab is in sight, so new points appear
//! without a reload (statsd flushes every 10 s, instances report every
//! few seconds).

#[cfg(feature = "hydrate")]
use leptos::prelude::*;

/// How often a live dashboard asks again.
pub const REFRESH_MS: u64 = 5_000;

/// Calls `refetch` every [`REFRESH_MS`] while `live()` holds and the page
/// is visible, until the component that asked leaves the page.
pub fn refresh_while_live(refetch: impl Fn() + 'static, live: impl Fn() -> bool + 'static) {
    refresh_every_while(REFRESH_MS, refetch, live);
}

/// As [`refresh_while_live`], every `every_ms`.
pub fn refresh_every_while(every_ms: u64, refetch: impl Fn() + 'static, live: impl Fn() -> bool + 'static) {
    #[cfg(feature = "hydrate")]
    {
        let tick = move || {
            if live() && !document().hidden() {
                refetch();
            }
        };
        if let Ok(handle) = set_interval_with_handle(tick, std::time::Duration::from_millis(every_ms)) {
            on_cleanup(move || handle.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (every_ms, refetch, live);
}
