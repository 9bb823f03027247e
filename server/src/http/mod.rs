//! The HTTP surface: the public Logs API under `/api/v1`, the console
//! (server-rendered Leptos pages and their server functions under `/bff`),
//! and the static site (`/pkg`, `/favicon.svg`).

pub mod admin;
pub mod auth;
pub mod error;
pub mod ingest;
pub mod logs;

use axum::extract::FromRef;
use axum::routing::{delete, get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::sync::watch;
use vigie_app::{port::SharedConsolePort, shell, App};

use crate::catalog::Catalog;
use crate::store::Store;

/// What every handler can reach; cloning it is shallow.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: Store,
    pub catalog: Catalog,
    pub ingest: ingest::IngestState,
    pub shutdown: ShutdownSignal,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        state.leptos_options.clone()
    }
}

/// Fires once when the server starts shutting down, so long-lived responses
/// (live streams) end and graceful shutdown does not wait on them forever.
#[derive(Clone)]
pub struct ShutdownSignal(pub watch::Receiver<bool>);

impl ShutdownSignal {
    pub async fn fired(mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

pub fn router(state: AppState, console: SharedConsolePort) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .merge(api_routes())
        .route("/bff/orgs/{org}/apps/{app}/live", get(logs::console_live_logs))
        .route("/healthz", get(|| async { "ok" }))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(console.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The public API; every route checks the caller's token (see [`auth`]).
fn api_routes() -> Router<AppState> {
    let ingest = Router::new()
        .route("/api/v1/orgs/{org}/apps/{app}/logs", post(ingest::post_logs).get(logs::get_logs))
        .layer(tower_http::decompression::RequestDecompressionLayer::new());
    Router::new()
        .merge(ingest)
        .route("/api/v1/orgs/{org}/apps/{app}/logs/live", get(logs::live_logs))
        .route("/api/v1/orgs/{org}/apps/{app}/retention", get(admin::get_retention).put(admin::set_retention))
        .route("/api/v1/orgs/{org}/apps", get(admin::list_apps).post(admin::create_app))
        .route("/api/v1/orgs/{org}/audit", get(logs::get_audit))
        .route("/api/v1/orgs/{org}/tokens", get(admin::list_tokens).post(admin::create_token))
        .route("/api/v1/orgs/{org}/tokens/{id}", delete(admin::revoke_token))
        .route("/api/v1/orgs/{org}/members", get(admin::list_members).post(admin::add_member))
}
