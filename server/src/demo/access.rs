//! Demo HTTP requests: realistic paths, a status mix with some 4xx and 5xx,
//! latencies with a long tail, clients from many countries.

use std::sync::LazyLock;

use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_distr::{weighted::WeightedIndex, Distribution, LogNormal};
use vigie_app::model::AccessLine;

use crate::ingest::access::locate;
use crate::ingest::demo_places::{CLIENT_RANGES, CLIENT_WEIGHTS};
use crate::ingest::geoip::GeoIp;

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "curl/8.11.0",
    "python-requests/2.32.3",
    "okhttp/4.12.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];

pub fn request(rng: &mut SmallRng, app: &str) -> AccessLine {
    let (method, path, host) = if app == "api" {
        let id = rng.random_range(1_000..99_999);
        let (method, path) = [
            ("GET", format!("/v1/orders/{id}")),
            ("GET", "/v1/orders".to_string()),
            ("POST", "/v1/orders".to_string()),
            ("POST", format!("/v1/carts/{id}/items")),
            ("POST", "/v1/payments".to_string()),
            ("GET", "/v1/users/me".to_string()),
            ("GET", "/health".to_string()),
        ]
        .choose(rng)
        .cloned()
        .unwrap();
        (method.to_string(), path, "api.acme-demo.example")
    } else {
        let path =
            ["/", "/products", "/products/blue-kettle", "/cart", "/checkout", "/static/app.4f2c.js", "/favicon.ico"]
                .choose(rng)
                .unwrap()
                .to_string();
        ("GET".to_string(), path, "shop.acme-demo.example")
    };
    let status = *[
        (200u16, 820u32),
        (201, 40),
        (204, 20),
        (301, 10),
        (304, 30),
        (400, 12),
        (401, 14),
        (403, 4),
        (404, 25),
        (422, 6),
        (429, 5),
        (500, 8),
        (502, 3),
        (503, 2),
        (504, 1),
    ]
    .choose_weighted(rng, |(_, weight)| *weight)
    .map(|(status, _)| status)
    .unwrap();
    // Median about 25 ms; one request in a hundred is ten times slower.
    let mut duration_ms = LogNormal::new(25f64.ln(), 0.8).unwrap().sample(rng);
    if rng.random_bool(0.01) {
        duration_ms *= 10.0;
    }
    let bytes_sent = if status == 204 || status == 304 { 0 } else { rng.random_range(120..48_000) };
    let range = WeightedIndex::new(CLIENT_WEIGHTS).unwrap().sample(rng);
    let (_, first, second_from, second_to) = CLIENT_RANGES[range];
    let client_ip = format!(
        "{first}.{}.{}.{}",
        rng.random_range(second_from..=second_to),
        rng.random_range(0..=255),
        rng.random_range(1..=254)
    );
    let query = if path == "/v1/orders" && method == "GET" {
        format!("page={}&limit=20", rng.random_range(1..5))
    } else {
        String::new()
    };
    let mut line = AccessLine {
        instance: format!("{app}-{}", rng.random_range(0..2)),
        method,
        host: host.to_string(),
        path,
        query,
        status,
        bytes_sent,
        duration_ms: (duration_ms * 1000.0).round() / 1000.0,
        client_ip,
        country: None,
        city: None,
        lat: None,
        lon: None,
        user_agent: USER_AGENTS.choose(rng).unwrap().to_string(),
    };
    // Placed as ingest places any client: by a GeoIP lookup.
    locate(&mut line, Some(&DEMO_GEOIP));
    line
}

static DEMO_GEOIP: LazyLock<GeoIp> = LazyLock::new(GeoIp::demo);
