//! The public API's routes and its OpenAPI 3 document, made from the same
//! handler annotations, so no route can be served without being described.
//! The document is at `GET /api/v1/openapi.json`.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{admin, drains, grafana, ingest, log_context, log_stats, logs, prometheus, stats, AppState};

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigie Logs and Stats API",
        description = "Logs and metrics of your apps: ingest, search, follow live, query metric series, and the org's tokens, apps, members, \
                       retention and audit log. Every route takes `Authorization: Bearer <token>`; a token \
                       belongs to one org and may read, ingest or administer it. Filter syntax: docs/QUERY.md."
    ),
    modifiers(&BearerToken),
    tags(
        (name = "ingest", description = "Sending log lines"),
        (name = "logs", description = "Searching and following logs"),
        (name = "stats", description = "Metrics of an app: statsd series queried by range, step and aggregation, and HTTP statistics from its access logs"),
        (name = "admin", description = "An org's tokens, apps, members, retention and audit log"),
        (name = "grafana", description = "An org's Grafana: its dashboards, its read-only token, reset, enable, disable, export (docs/GRAFANA.md)"),
        (name = "prometheus", description = "The Prometheus HTTP query API (a PromQL subset, docs/PROMETHEUS.md) for Grafana and promtool: the token's org decides what is read"),
        (name = "drains", description = "Logs forwarded, at least once, to syslog, HTTP, Elasticsearch, Datadog, New Relic, Better Stack, OTLP or NATS: an app's service and access logs, and the org's audit log (docs/DRAINS.md)"),
    )
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("vgt_…")
                    .description(Some("An API token; create one with `vigie tokens create`"))
                    .build(),
            ),
        );
        // Prometheus clients (Grafana, promtool) send the token as basic auth's password.
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("Any user name, an API token as the password (the Prometheus API only)"))
                    .build(),
            ),
        );
    }
}

/// The API's routes and their document.
pub fn api() -> (Router<AppState>, Document) {
    let (router, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ingest::post_logs, logs::get_logs))
        .routes(routes!(logs::live_logs))
        .routes(routes!(log_stats::log_stats))
        .routes(routes!(log_context::log_context))
        .routes(routes!(logs::live_logs_ws))
        .routes(routes!(admin::get_retention, admin::set_retention))
        .routes(routes!(admin::list_apps, admin::create_app))
        .routes(routes!(logs::get_audit))
        .routes(routes!(stats::list_metrics, stats::post_metric_points))
        .routes(routes!(stats::query_metric))
        .routes(routes!(stats::http_stats))
        .routes(routes!(stats::post_instance_metrics))
        .routes(routes!(admin::list_tokens, admin::create_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::list_members, admin::add_member))
        .routes(routes!(grafana::status))
        .routes(routes!(grafana::reset))
        .routes(routes!(grafana::enable))
        .routes(routes!(grafana::disable))
        .routes(routes!(grafana::export))
        .routes(routes!(prometheus::query_get, prometheus::query_post))
        .routes(routes!(prometheus::query_range_get, prometheus::query_range_post))
        .routes(routes!(prometheus::labels_get, prometheus::labels_post))
        .routes(routes!(prometheus::label_values))
        .routes(routes!(prometheus::series_get, prometheus::series_post))
        .routes(routes!(prometheus::metadata))
        .routes(routes!(prometheus::query_exemplars, prometheus::query_exemplars_post))
        .routes(routes!(prometheus::buildinfo))
        .routes(routes!(drains::list_app_drains, drains::create_app_drain))
        .routes(routes!(drains::get_app_drain, drains::remove_app_drain))
        .routes(routes!(drains::enable_app_drain))
        .routes(routes!(drains::disable_app_drain))
        .routes(routes!(drains::check_app_drain))
        .routes(routes!(drains::list_org_drains, drains::create_org_drain))
        .routes(routes!(drains::get_org_drain, drains::remove_org_drain))
        .routes(routes!(drains::enable_org_drain))
        .routes(routes!(drains::disable_org_drain))
        .routes(routes!(drains::check_org_drain))
        .split_for_parts();
    document.info.version = env!("CARGO_PKG_VERSION").to_string();
    let served = document.clone();
    let router = router.route(DOCUMENT_PATH, get(move || async move { Json(served) }));
    (router, document)
}
