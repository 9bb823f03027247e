//! The HTTP surface: the public Logs API under `/api/v1`, the console
//! (server-rendered Leptos pages and their server functions under `/bff`),
//! and the static site (`/pkg`, `/favicon.svg`).

pub mod admin;
pub mod auth;
pub mod download;
pub mod drains;
pub mod error;
pub mod grafana;
pub mod guard;
pub mod ingest;
pub mod live;
pub mod log_context;
pub mod log_stats;
pub mod logs;
pub mod openapi;
pub mod prometheus;
pub mod session;
pub mod stats;

use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use vigie_app::{port::SharedConsolePort, shell, stats_port::SharedStatsPort, App};

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::ingest::statsd::StatsdCounters;
use crate::ingest::syslog::SyslogCounters;
use crate::metrics::http_stats::HttpStatsModel;
use crate::metrics::series::SeriesModel;
use crate::shutdown::ShutdownSignal;
use crate::store::Store;

/// Runs catalog or store work (SQLite, Argon2, file reads) on a blocking
/// thread, so no handler stalls the async runtime.
pub async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, error::ApiError> + Send + 'static,
) -> Result<T, error::ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(error::ApiError::internal)?
}

/// What every handler can reach; cloning it is shallow.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: Store,
    pub catalog: Catalog,
    pub ingest: crate::ingest::http::IngestState,
    pub syslog_counters: Arc<SyslogCounters>,
    pub statsd_counters: Arc<StatsdCounters>,
    /// The time-series read model the Stats API reads.
    pub series: SeriesModel,
    /// HTTP statistics from the access logs.
    pub http_stats: HttpStatsModel,
    /// The console's port: every console read goes through it.
    pub console: SharedConsolePort,
    /// The dashboards' port: every console chart reads through it.
    pub stats: SharedStatsPort,
    /// Encoded live batches shared by followers of a topic.
    pub live_batches: Arc<crate::query::live::SharedBatches>,
    /// Failed console sign-ins per client address.
    pub sign_in_attempts: Arc<session::SignInAttempts>,
    pub shutdown: ShutdownSignal,
    /// Each org's Grafana: dashboards, token, provisioning.
    pub grafana: crate::grafana::GrafanaService,
    /// Every drain and its delivery loop.
    pub drains: crate::drains::Drains,
    /// The drain pages' port.
    pub drains_console: vigie_app::drains_port::SharedDrainsPort,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        state.leptos_options.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let console = state.console.clone();
    let stats = state.stats.clone();
    let grafana: vigie_app::grafana_port::SharedGrafanaPort =
        Arc::new(crate::console::grafana::InProcessGrafana { service: state.grafana.clone() });
    let drains_console = state.drains_console.clone();
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    // The bundle, served as the smallest file the browser accepts: release
    // builds leave brotli and gzip copies beside each file (scripts/build-site).
    let pkg = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    Router::new()
        .nest_service(
            "/pkg",
            tower_http::set_header::SetResponseHeader::overriding(
                tower_http::services::ServeDir::new(pkg).precompressed_br().precompressed_gzip(),
                axum::http::header::VARY,
                axum::http::HeaderValue::from_static("accept-encoding"),
            ),
        )
        .merge(openapi::api().0.layer(tower_http::decompression::RequestDecompressionLayer::new()))
        .route("/bff/orgs/{org}/apps/{app}/live", get(logs::console_live_logs))
        .route("/bff/orgs/{org}/apps/{app}/download", get(download::download))
        .route("/bff/orgs/{org}/apps/{app}/records", get(logs::console_records))
        .route("/signin", axum::routing::post(session::sign_in))
        .route("/signout", axum::routing::post(session::sign_out))
        .route("/api/{*rest}", axum::routing::any(guard::api_not_found))
        .route("/prometheus/{*rest}", axum::routing::any(prometheus::not_found))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(own_metrics))
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(console.clone());
                provide_context(stats.clone());
                provide_context(grafana.clone());
                provide_context(drains_console.clone());
                page_policy_with_nonce();
            },
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::resolve_session))
        .layer(axum::middleware::from_fn(guard::console_requests))
        .layer(axum::middleware::from_fn(guard::security_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// While a page renders: its Content-Security-Policy allows the scripts
/// that carry this response's nonce (Leptos puts it on its own).
fn page_policy_with_nonce() {
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    if let Ok(policy) = axum::http::HeaderValue::from_str(&guard::page_policy(&nonce)) {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, policy);
    }
}

/// Vigie's own counters in the Prometheus text format: what ingest dropped
/// and why, and the size of the metric read model. Only totals over all orgs, nothing of any org's data.
async fn own_metrics(axum::extract::State(state): axum::extract::State<AppState>) -> impl axum::response::IntoResponse {
    let mut out = String::new();
    state.syslog_counters.render(&mut out);
    state.statsd_counters.render(&mut out);
    state.series.counts().render(&mut out);
    state.drains.render(&mut out);
    {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP vigie_http_stats_unreadable_records_total Access records HTTP statistics could not read."
        );
        let _ = writeln!(out, "# TYPE vigie_http_stats_unreadable_records_total counter");
        let _ = writeln!(out, "vigie_http_stats_unreadable_records_total {}", state.http_stats.unreadable());
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
