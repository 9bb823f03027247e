//! How each demo app talks: the shape of its service log lines.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::json;
use vigie_app::model::{Level, ServiceLine};

#[derive(Clone, Copy, Debug)]
pub enum Voice {
    /// JSON lines from a Rust service (tracing's JSON output).
    RustApi,
    /// Plain text from a Node.js server, with the odd JS stack trace.
    NodeWeb,
    /// A Python job runner, with tracebacks.
    PythonWorker,
    /// PostgreSQL's own log.
    Postgres,
}

const ROUTES: &[&str] = &["/v1/orders", "/v1/orders/{id}", "/v1/carts/{id}/items", "/v1/payments", "/v1/users/me"];
const JOBS: &[&str] =
    &["send_invoice_email", "charge_subscription", "sync_stripe_events", "generate_pdf_receipt", "expire_carts"];
const TABLES: &[&str] = &["orders", "order_items", "users", "payments", "carts"];

impl Voice {
    /// This app's share of the org's service log lines.
    pub fn share(self) -> f64 {
        match self {
            Voice::RustApi => 0.4,
            Voice::NodeWeb => 0.25,
            Voice::PythonWorker => 0.25,
            Voice::Postgres => 0.1,
        }
    }

    fn instances(self) -> &'static [&'static str] {
        match self {
            Voice::RustApi => &["api-0", "api-1", "api-2"],
            Voice::NodeWeb => &["web-0", "web-1"],
            Voice::PythonWorker => &["worker-0"],
            Voice::Postgres => &["pg-main-0"],
        }
    }

    pub fn line(self, rng: &mut SmallRng) -> ServiceLine {
        let instance = self.instances().choose(rng).expect("instances").to_string();
        let (level, message, fields) = match self {
            Voice::RustApi => rust_api(rng),
            Voice::NodeWeb => node_web(rng),
            Voice::PythonWorker => python_worker(rng),
            Voice::Postgres => postgres(rng),
        };
        ServiceLine { instance, level, message, fields }
    }
}

type Said = (Level, String, BTreeMap<String, serde_json::Value>);

fn fields<const N: usize>(pairs: [(&str, serde_json::Value); N]) -> BTreeMap<String, serde_json::Value> {
    pairs.into_iter().map(|(key, value)| (key.to_string(), value)).collect()
}

fn trace_id(rng: &mut SmallRng) -> String {
    format!("{:016x}", rng.random::<u64>())
}

fn rust_api(rng: &mut SmallRng) -> Said {
    let route = *ROUTES.choose(rng).unwrap();
    let roll = rng.random_range(0..100);
    match roll {
        0..=59 => {
            let ms = rng.random_range(2..80);
            (Level::Info, "request completed".into(), fields([("route", json!(route)), ("duration_ms", json!(ms)), ("trace_id", json!(trace_id(rng)))]))
        }
        60..=74 => (Level::Debug, format!("cache {} for {route}", if rng.random_bool(0.8) { "hit" } else { "miss" }), fields([("cache", json!("redis"))])),
        75..=84 => {
            let order = rng.random_range(10_000..99_999);
            (Level::Info, format!("order {order} confirmed"), fields([("order_id", json!(order)), ("items", json!(rng.random_range(1..7)))]))
        }
        85..=93 => (Level::Warn, format!("slow query on {}: {} ms", TABLES.choose(rng).unwrap(), rng.random_range(300..2_500)), fields([("threshold_ms", json!(250))])),
        94..=97 => (Level::Error, "payment provider returned 502, retrying in 2s".into(), fields([("attempt", json!(rng.random_range(1..4))), ("provider", json!("stripe"))])),
        _ => (
            Level::Error,
            "thread 'tokio-runtime-worker' panicked at src/orders/repository.rs:214:41:\ncalled `Option::unwrap()` on a `None` value\nstack backtrace:\n   0: rust_begin_unwind\n   1: core::panicking::panic_fmt\n   2: orders_api::orders::repository::OrderRepository::load_items\n   3: orders_api::orders::handlers::get_order::{{closure}}".into(),
            fields([("trace_id", json!(trace_id(rng)))]),
        ),
    }
}

fn node_web(rng: &mut SmallRng) -> Said {
    let pages = ["/", "/products", "/products/blue-kettle", "/cart", "/checkout", "/account"];
    let page = pages.choose(rng).unwrap();
    let roll = rng.random_range(0..100);
    let none = BTreeMap::new();
    match roll {
        0..=64 => (Level::Info, format!("GET {page} rendered in {}ms", rng.random_range(8..140)), none),
        65..=79 => (Level::Debug, format!("[next] revalidated {page}"), none),
        80..=91 => (Level::Warn, format!("API call to orders-api took {}ms (budget 500ms)", rng.random_range(500..3_000)), none),
        92..=97 => (Level::Error, "Error: connect ECONNREFUSED 10.2.0.14:6379\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)\n    at RedisClient.connect (/app/node_modules/redis/dist/lib/client/index.js:421:19)".into(), none),
        _ => (Level::Info, "Server listening on http://0.0.0.0:8080".into(), none),
    }
}

fn python_worker(rng: &mut SmallRng) -> Said {
    let job = JOBS.choose(rng).unwrap();
    let id = rng.random_range(100_000..999_999);
    let roll = rng.random_range(0..100);
    let none = BTreeMap::new();
    match roll {
        0..=39 => (Level::Info, format!("Task {job}[{id}] received"), none),
        40..=79 => (Level::Info, format!("Task {job}[{id}] succeeded in {:.3}s", rng.random_range(0.01..4.0)), none),
        80..=91 => (Level::Warn, format!("Task {job}[{id}] retry: Retry in 30s: ConnectionResetError(104, 'Connection reset by peer')"), none),
        _ => (
            Level::Error,
            format!("Task {job}[{id}] raised unexpected: KeyError('customer_id')\nTraceback (most recent call last):\n  File \"/app/.venv/lib/python3.12/site-packages/celery/app/trace.py\", line 453, in trace_task\n    R = retval = fun(*args, **kwargs)\n  File \"/app/billing/tasks.py\", line 88, in {job}\n    customer = payload[\"customer_id\"]\nKeyError: 'customer_id'"),
            none,
        ),
    }
}

fn postgres(rng: &mut SmallRng) -> Said {
    let table = TABLES.choose(rng).unwrap();
    let roll = rng.random_range(0..100);
    let none = BTreeMap::new();
    match roll {
        0..=34 => (Level::Info, "checkpoint starting: time".into(), none),
        35..=59 => (Level::Info, format!("checkpoint complete: wrote {} buffers ({:.1}%); 0 WAL file(s) added, 0 removed, 1 recycled; write={:.3} s", rng.random_range(20..4_000), rng.random_range(0.1..12.0), rng.random_range(0.5..30.0)), none),
        60..=74 => (Level::Info, format!("automatic vacuum of table \"app.public.{table}\": index scans: 1"), none),
        75..=89 => (Level::Warn, format!("duration: {:.3} ms  statement: SELECT * FROM {table} WHERE customer_id = $1 ORDER BY created_at DESC", rng.random_range(1_000.0..8_000.0)), none),
        _ => (Level::Error, format!("duplicate key value violates unique constraint \"{table}_pkey\"\nDETAIL:  Key (id)=({}) already exists.\nSTATEMENT:  INSERT INTO {table} (id, created_at) VALUES ($1, now())", rng.random_range(1..90_000)), none),
    }
}
