//! The request map: the world's outlines (`/world.svg`, a static asset,
//! never inside the WebAssembly) under the cells the server drew, a circle
//! per 1° cell sized by its requests, each a link to its country's access
//! logs with its counts as a tooltip; and, in realtime mode, a dot that
//! blinks where each request comes from as the access stream brings it.

use leptos::prelude::*;

use crate::model::MapView;

/// The part of the equirectangular plane the map shows (x = longitude +
/// 180, y = 90 − latitude): latitudes 84° N to 58° S.
pub const VIEW_BOX: &str = "0 6 360 142";

#[component]
pub fn RequestMap(
    map: MapView,
    /// Follow this app's access stream and blink a dot per request.
    #[prop(optional)]
    realtime: Option<(String, String)>,
    #[prop(optional)] small: bool,
) -> impl IntoView {
    let MapView { cells_svg, countries, placed, summary, credit } = map;
    let credit =
        credit.map(|(text, link)| view! { <p class="map-credit muted"><a href=link rel="noopener">{text}</a></p> });
    let drawing = format!(
        "<svg class=\"map-svg\" viewBox=\"{VIEW_BOX}\" preserveAspectRatio=\"xMidYMid meet\">\
         <image href=\"/world.svg\" x=\"0\" y=\"6\" width=\"360\" height=\"142\"/>\
         <g class=\"map-cells\">{cells_svg}</g></svg>"
    );
    let countries = countries
        .into_iter()
        .map(|country| {
            let code = country.label.clone();
            let title = format!("Access logs from {}", country.label);
            view! {
                <li>
                    <a href=country.href data-country=code title=title>{country.label}</a>
                    " " <span class="muted">{country.count}</span>
                </li>
            }
        })
        .collect_view();
    let live = realtime.map(|(org, app)| view! { <RealtimeDots org app /> });
    view! {
        <figure class="request-map" class:small=small data-placed=placed.clone()>
            <div class="map-frame" role="group" aria-label=summary>
                <div class="map-layer" inner_html=drawing></div>
                {live}
            </div>
            <figcaption>
                <ul class="map-countries" aria-label="Requests by country">{countries}</ul>
                {credit}
            </figcaption>
        </figure>
    }
}

/// A request seen at a cell, drawn for [`DOT_MS`].
#[derive(Clone, Debug, PartialEq)]
struct Dot {
    /// Unique per flush and cell, so a cell hit again blinks again.
    key: u64,
    x: f64,
    y: f64,
    country: String,
    requests: u64,
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    born_ms: f64,
}

/// How long a dot stays.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const DOT_MS: f64 = 2_000.0;

/// Dots where requests come from, as the access stream brings them.
#[component]
fn RealtimeDots(org: String, app: String) -> impl IntoView {
    let dots = RwSignal::new(Vec::<Dot>::new());
    let seen = RwSignal::new(0u64);
    // Whether the access stream is open now (tests wait for it).
    let open = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    realtime::start(format!("/bff/orgs/{org}/apps/{app}/live?kind=access"), dots, seen, open);
    #[cfg(not(feature = "hydrate"))]
    let _ = (org, app);
    view! {
        <svg class="map-dots" viewBox=VIEW_BOX preserveAspectRatio="xMidYMid meet" aria-hidden="true">
            <For each=move || dots.get() key=|dot| dot.key let:dot>
                <circle
                    class="map-dot"
                    cx=format!("{:.1}", dot.x)
                    cy=format!("{:.1}", dot.y)
                    r=format!("{:.2}", 1.2 + (dot.requests as f64).log10().max(0.0))
                    data-country=dot.country
                    data-requests=dot.requests.to_string()
                ></circle>
            </For>
        </svg>
        <p class="map-live muted" data-testid="realtime-count" data-stream=move || if open.get() { "open" } else { "closed" } aria-live="off">
            {move || format!("{} requests since the map opened", crate::model::group_thousands(seen.get()))}
        </p>
    }
}

#[cfg(feature = "hydrate")]
mod realtime {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;
    use std::time::Duration;

    use futures::StreamExt;
    use gloo_net::eventsource::futures::EventSource;
    use leptos::prelude::*;
    use serde::Deserialize;

    use super::{Dot, DOT_MS};

    /// The fields of an access record the map reads; the rest are skipped.
    #[derive(Deserialize)]
    struct Placed {
        country: Option<String>,
        lat: Option<f64>,
        lon: Option<f64>,
    }

    /// How often arrivals become dots: every request blinks within this.
    const FLUSH_MS: u64 = 250;

    /// Follows the access stream until the map leaves the page; every
    /// [`FLUSH_MS`] the cells hit since the last flush become new dots and
    /// dots older than [`DOT_MS`] go.
    pub fn start(url: String, dots: RwSignal<Vec<Dot>>, seen: RwSignal<u64>, open: RwSignal<bool>) {
        let arrivals: Inbox = Rc::default();
        let inbox = arrivals.clone();
        let (abort, registration) = futures::future::AbortHandle::new_pair();
        leptos::task::spawn_local(async move {
            let follow = follow(url, inbox, seen, open);
            let _ = futures::future::Abortable::new(follow, registration).await;
        });
        let flushes = std::cell::Cell::new(0u64);
        let flush = move || {
            let now = js_sys::Date::now();
            let hits: Vec<_> = arrivals.borrow_mut().drain().collect();
            let flush_no = flushes.get() + 1;
            flushes.set(flush_no);
            dots.update(|dots| {
                dots.retain(|dot| now - dot.born_ms < DOT_MS);
                for ((cell_x, cell_y), (country, x, y, requests)) in hits {
                    let cell = ((cell_x + 180) as u64) * 1_000 + (cell_y + 90) as u64;
                    dots.push(Dot { key: flush_no * 1_000_000 + cell, x, y, country, requests, born_ms: now });
                }
            });
        };
        let interval = set_interval_with_handle(flush, Duration::from_millis(FLUSH_MS)).ok();
        on_cleanup(move || {
            abort.abort();
            if let Some(interval) = interval {
                interval.clear();
            }
        });
    }

    /// Requests since the last flush by cell: country, where to draw, how many.
    type Inbox = Rc<RefCell<HashMap<(i32, i32), (String, f64, f64, u64)>>>;

    async fn follow(url: String, inbox: Inbox, seen: RwSignal<u64>, open: RwSignal<bool>) {
        loop {
            if let Ok(mut stream) = EventSource::new(&url) {
                if let (Ok(mut opened), Ok(mut batches)) = (stream.subscribe("open"), stream.subscribe("message")) {
                    leptos::task::spawn_local(async move {
                        while let Some(Ok(_)) = opened.next().await {
                            open.set(true);
                        }
                    });
                    while let Some(Ok((_, event))) = batches.next().await {
                        let Some(data) = event.data().as_string() else { continue };
                        let Ok(batch) = crate::json::decode::<Vec<Placed>>(&data) else { continue };
                        seen.update(|seen| *seen += batch.len() as u64);
                        let mut inbox = inbox.borrow_mut();
                        for record in batch {
                            let (Some(lat), Some(lon)) = (record.lat, record.lon) else { continue };
                            let cell = (lon.floor() as i32, lat.floor() as i32);
                            let entry = inbox.entry(cell).or_insert_with(|| {
                                (record.country.unwrap_or_default(), lon.floor() + 180.5, 89.5 - lat.floor(), 0)
                            });
                            entry.3 += 1;
                        }
                    }
                }
                stream.close();
            }
            open.set(false);
            crate::components::live_tail::stream::sleep(Duration::from_secs(2)).await;
        }
    }
}
