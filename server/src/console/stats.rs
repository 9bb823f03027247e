//! The stats port, in-process: the console's dashboards read the metric
//! read model directly, with the same queries the Stats API runs (never the
//! Stats API over the network). Every call runs on a blocking thread: it
//! reads the catalog, catches the model up with the metric topic and
//! queries it.

use futures::future::BoxFuture;
use futures::FutureExt;
use vigie_app::model::LogKind;
use vigie_app::port::PortError;
use vigie_app::stats_port::{
    HttpRequest, HttpStepStats, HttpSummary, MetricSummary, PathStats, PlaceStats, SeriesLine, SeriesLines,
    SeriesRequest, StatsPort, StatsRefusal,
};

use super::{off_runtime, port_error, InProcessConsole};
use crate::metrics::http_stats::{self, HttpStep};
use crate::metrics::series::{default_step_ms, Aggregation, QueryError, SeriesQuery};
use crate::store::TopicKey;

impl InProcessConsole {
    /// Whether `app` of `org` exists. Blocks (reads the catalog).
    fn app_exists(&self, org: &str, app: &str) -> Result<bool, PortError> {
        self.catalog.app(org, app).map(|found| found.is_some()).map_err(port_error)
    }

    /// The app's metrics, the model caught up first. Blocks.
    fn read_metrics(&self, org: &str, app: &str) -> Result<Option<Vec<MetricSummary>>, PortError> {
        if !self.app_exists(org, app)? {
            return Ok(None);
        }
        self.series.catch_up(&self.store, &TopicKey::metrics(org, app));
        let list = self.series.list(org, app);
        Ok(Some(
            list.into_iter()
                .map(|info| MetricSummary {
                    name: info.name,
                    kind: info.kind.as_str().to_string(),
                    series: info.series,
                    tags: info.tags.into_keys().collect(),
                    aggregations: info
                        .aggregations
                        .iter()
                        .map(|aggregation| aggregation.as_str().to_string())
                        .collect(),
                })
                .collect(),
        ))
    }

    /// One metric's lines. Blocks.
    fn read_series(&self, org: &str, app: &str, request: SeriesRequest) -> Result<SeriesLines, StatsRefusal> {
        match self.app_exists(org, app) {
            Ok(true) => {}
            Ok(false) => return Err(StatsRefusal::NoSuchApp),
            Err(error) => return Err(StatsRefusal::Failed(error)),
        }
        let aggregation = request
            .aggregation
            .as_deref()
            .map(|text| {
                Aggregation::parse(text).ok_or_else(|| {
                    let all: Vec<&str> = Aggregation::ALL.iter().map(|a| a.as_str()).collect();
                    StatsRefusal::BadQuery(format!("aggregation: \"{text}\" is none of {}", all.join(", ")))
                })
            })
            .transpose()?;
        let query = SeriesQuery {
            org: org.to_string(),
            app: app.to_string(),
            name: request.name.clone(),
            kind: None,
            from_ms: request.from_ms,
            to_ms: request.to_ms,
            step_ms: request.step_ms.unwrap_or_else(|| default_step_ms(request.to_ms - request.from_ms)),
            aggregation,
            filter: Vec::new(),
            group_by: request.group_by.clone(),
        };
        self.series.catch_up(&self.store, &TopicKey::metrics(org, app));
        let answer = self.series.query(&query).map_err(|error| match error {
            QueryError::NoSuchMetric(name) => StatsRefusal::NoSuchMetric(name),
            other => StatsRefusal::BadQuery(other.to_string()),
        })?;
        Ok(SeriesLines {
            name: answer.name,
            kind: answer.kind.as_str().to_string(),
            aggregation: answer.aggregation.as_str().to_string(),
            step_ms: answer.step_ms,
            from_ms: query.from_ms.div_euclid(answer.step_ms) * answer.step_ms,
            to_ms: query.to_ms,
            lines: answer
                .series
                .into_iter()
                .map(|series| SeriesLine {
                    // In group_by's order, as the page names its lines.
                    tags: request
                        .group_by
                        .iter()
                        .map(|tag| (tag.clone(), series.tags.get(tag).cloned().unwrap_or_default()))
                        .collect(),
                    points: series.points,
                })
                .collect(),
        })
    }
}

impl InProcessConsole {
    /// The app's HTTP statistics, the model caught up with the access topic first. Blocks.
    fn read_http(&self, org: &str, app: &str, request: HttpRequest) -> Result<HttpSummary, StatsRefusal> {
        match self.app_exists(org, app) {
            Ok(true) => {}
            Ok(false) => return Err(StatsRefusal::NoSuchApp),
            Err(error) => return Err(StatsRefusal::Failed(error)),
        }
        let step_ms = request.step_ms.unwrap_or_else(|| http_stats::default_step_ms(request.to_ms - request.from_ms));
        self.http_stats.catch_up(&self.store, &TopicKey::new(org, app, LogKind::Access));
        let stats = self
            .http_stats
            .query(org, app, request.from_ms, request.to_ms, step_ms, request.top)
            .map_err(|error| StatsRefusal::BadQuery(error.to_string()))?;
        let step = |step: &HttpStep| HttpStepStats {
            ts_ms: step.ts_ms,
            requests: step.requests,
            status: [
                step.status.informational,
                step.status.success,
                step.status.redirect,
                step.status.client_error,
                step.status.server_error,
            ],
            bytes_out: step.bytes_out,
            latency_ms: [step.latency_ms.p50, step.latency_ms.p95, step.latency_ms.p99],
        };
        Ok(HttpSummary {
            step_ms,
            from_ms: stats.total.ts_ms,
            to_ms: request.to_ms,
            steps: stats.steps.iter().map(step).collect(),
            total: step(&stats.total),
            top_paths: stats
                .top_paths
                .into_iter()
                .map(|path| PathStats {
                    path: path.path,
                    requests: path.requests,
                    server_errors: path.server_errors,
                    p99_ms: path.p99_ms,
                })
                .collect(),
            places: stats
                .places
                .into_iter()
                .map(|place| PlaceStats {
                    country: place.country,
                    lat: place.lat,
                    lon: place.lon,
                    requests: place.requests,
                })
                .collect(),
        })
    }
}

impl StatsPort for InProcessConsole {
    fn places_credit(&self) -> Option<(String, String)> {
        self.places_credit.clone()
    }

    fn metrics(&self, org: String, app: String) -> BoxFuture<'_, Result<Option<Vec<MetricSummary>>, PortError>> {
        let this = self.clone();
        off_runtime(move || this.read_metrics(&org, &app)).boxed()
    }

    fn series(
        &self,
        org: String,
        app: String,
        request: SeriesRequest,
    ) -> BoxFuture<'_, Result<SeriesLines, StatsRefusal>> {
        let this = self.clone();
        async move {
            tokio::task::spawn_blocking(move || this.read_series(&org, &app, request))
                .await
                .map_err(|error| StatsRefusal::Failed(port_error(error)))?
        }
        .boxed()
    }

    fn http(&self, org: String, app: String, request: HttpRequest) -> BoxFuture<'_, Result<HttpSummary, StatsRefusal>> {
        let this = self.clone();
        async move {
            tokio::task::spawn_blocking(move || this.read_http(&org, &app, request))
                .await
                .map_err(|error| StatsRefusal::Failed(port_error(error)))?
        }
        .boxed()
    }
}
