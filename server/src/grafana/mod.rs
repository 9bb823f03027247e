//! Metrics in Grafana, per org: the dashboards Vigie generates
//! ([`dashboards`]), the org's own read-only Grafana token (kept by the
//! catalog, `crate::catalog::GrafanaLink`), and two ways into a Grafana:
//! file provisioning a user drops into any Grafana ([`export_files`]), and,
//! with `vigie serve --grafana-url URL --grafana-token SA_TOKEN`, the
//! folder, data source and dashboards written over Grafana's HTTP API
//! ([`provision`]).
//!
//! **Reset** is the fix for "invalid token" in every panel: it rotates the
//! org's Grafana token (the old one stops working), generates every
//! dashboard again from its template, writes the data source with the new
//! token and the dashboards over whatever was edited, and audits it.
//! [`GrafanaService`] does it for the API and the console alike.

pub mod dashboards;
pub mod provision;

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use vigie_app::model::AuditLine;

use crate::catalog::{Catalog, CatalogError, GrafanaLink};
use crate::clock::now_ns;
use crate::metrics::series::SeriesModel;
use crate::store::{Store, TopicKey};
use dashboards::{AppView, Dashboard, OrgView};

/// The Grafana Vigie provisions over HTTP (`vigie serve --grafana-url`).
#[derive(Clone, Debug, PartialEq)]
pub struct GrafanaConfig {
    /// Grafana's base URL, `http://grafana:3000`.
    pub url: String,
    /// A Grafana service account token (Editor or Admin).
    pub service_account_token: String,
    /// Vigie's URL as Grafana reaches it: the data source is this plus `/prometheus`.
    pub vigie_url: String,
}

/// A dashboard as listed.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DashboardSummary {
    pub uid: String,
    pub title: String,
    /// `home`, `runtime`, `addon`, `access` or `custom`.
    pub kind: String,
    /// The app or add-on it is about; none for Home.
    pub app: Option<String>,
    /// Its path in Grafana (`/d/UID`).
    pub path: String,
}

/// The org's Grafana token, never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GrafanaToken {
    pub id: i64,
    pub name: String,
    /// The secret's first characters, to recognise it.
    pub hint: String,
    pub created_at_ns: i64,
    /// Revoked: the data source answers "invalid token" until a reset.
    pub revoked: bool,
}

/// What an org's Grafana is.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GrafanaStatus {
    pub enabled: bool,
    pub token: Option<GrafanaToken>,
    /// The Grafana Vigie provisions over HTTP, if the server was given one.
    pub grafana_url: Option<String>,
    /// The Home dashboard in that Grafana.
    pub home_url: Option<String>,
    /// When the dashboards were last written to it (ns since the epoch).
    pub provisioned_at_ns: Option<i64>,
    /// Why the last provisioning failed, if it did.
    pub provision_error: Option<String>,
    /// The generated dashboards.
    pub dashboards: Vec<DashboardSummary>,
}

/// One file of the exported provisioning.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExportFile {
    /// Relative: `dashboards/vigie/UID.json`, `provisioning/dashboards/vigie.yaml`, ….
    pub path: String,
    pub content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GrafanaError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("Grafana is disabled for this organisation: enable it first")]
    Disabled,
    #[error("{0}")]
    Internal(String),
}

/// Who asks, for the audit log.
#[derive(Clone, Debug)]
pub struct Actor {
    pub name: String,
    pub ip: String,
}

/// The org as the dashboards need it. Blocks (catalog, metric topics).
pub fn org_view(catalog: &Catalog, series: &SeriesModel, store: &Store, org: &str) -> Result<OrgView, CatalogError> {
    let found = catalog.org(org)?.ok_or_else(|| CatalogError::Missing(format!("organisation \"{org}\"")))?;
    let apps = found
        .apps
        .into_iter()
        .map(|app| {
            series.catch_up(store, &TopicKey::metrics(org, &app.slug));
            let custom = series.list(org, &app.slug).into_iter().map(|metric| (metric.name, metric.kind)).collect();
            AppView { slug: app.slug, name: app.name, kind: app.kind, custom }
        })
        .collect();
    Ok(OrgView { slug: found.slug, name: found.name, apps })
}

/// The status the API and the console show.
pub fn status(link: &GrafanaLink, generated: &[Dashboard], config: Option<&GrafanaConfig>) -> GrafanaStatus {
    let grafana_url = config.map(|config| config.url.trim_end_matches('/').to_string());
    GrafanaStatus {
        enabled: link.enabled,
        token: link.token.as_ref().map(|token| GrafanaToken {
            id: token.id,
            name: token.name.clone(),
            hint: token.hint.clone(),
            created_at_ns: token.created_at_ns,
            revoked: token.revoked_at_ns.is_some(),
        }),
        home_url: grafana_url.as_ref().and_then(|url| Some(format!("{url}/d/{}", generated.first()?.uid))),
        grafana_url,
        provisioned_at_ns: link.provisioned_at_ns,
        provision_error: link.provision_error.clone(),
        dashboards: generated
            .iter()
            .map(|d| DashboardSummary {
                uid: d.uid.clone(),
                title: d.title.clone(),
                kind: d.kind.to_string(),
                app: d.app.clone(),
                path: format!("/d/{}", d.uid),
            })
            .collect(),
    }
}

/// A YAML scalar: a JSON string is a valid YAML double-quoted scalar.
fn yaml(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// The data source's name in Grafana.
pub fn datasource_name(org: &str) -> String {
    format!("Vigie ({org})")
}

/// File provisioning for any Grafana: the dashboards, a dashboards provider
/// and a data source carrying the org's Grafana token.
pub fn export_files(org: &OrgView, secret: &str, generated: &[Dashboard], vigie_url: &str) -> Vec<ExportFile> {
    let mut files: Vec<ExportFile> = generated
        .iter()
        .map(|d| ExportFile {
            path: format!("dashboards/vigie/{}.json", d.uid),
            content: serde_json::to_string_pretty(&d.json).expect("a dashboard serialises"),
        })
        .collect();
    files.push(ExportFile {
        path: "provisioning/dashboards/vigie.yaml".into(),
        content: format!(
            "# Vigie's dashboards for {org}: copy dashboards/vigie to the path below.\napiVersion: 1\nproviders:\n  - name: {name}\n    folder: \"Vigie\"\n    folderUid: {folder}\n    type: file\n    disableDeletion: false\n    allowUiUpdates: true\n    options:\n      path: /var/lib/grafana/dashboards/vigie\n",
            org = org.slug,
            name = yaml(&format!("vigie-{}", org.slug)),
            folder = yaml(&dashboards::folder_uid(&org.slug)),
        ),
    });
    files.push(ExportFile {
        path: "provisioning/datasources/vigie.yaml".into(),
        content: format!(
            "# Vigie's Prometheus-compatible API, read with {org}'s Grafana token (read-only).\napiVersion: 1\ndatasources:\n  - name: {name}\n    uid: {uid}\n    type: prometheus\n    access: proxy\n    url: {url}\n    basicAuth: true\n    basicAuthUser: \"grafana\"\n    jsonData:\n      httpMethod: POST\n    secureJsonData:\n      basicAuthPassword: {secret}\n    editable: false\n",
            org = org.slug,
            name = yaml(&datasource_name(&org.slug)),
            uid = yaml(&dashboards::datasource_uid(&org.slug)),
            url = yaml(&format!("{}/prometheus", vigie_url.trim_end_matches('/'))),
            secret = yaml(secret),
        ),
    });
    files
}

/// The org's Grafana, for the API and the console; cloning it is shallow.
#[derive(Clone)]
pub struct GrafanaService {
    pub catalog: Catalog,
    pub series: SeriesModel,
    pub store: Store,
    pub config: Option<Arc<GrafanaConfig>>,
}

impl GrafanaService {
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&GrafanaService) -> Result<T, GrafanaError> + Send + 'static,
    ) -> Result<T, GrafanaError> {
        let service = self.clone();
        tokio::task::spawn_blocking(move || work(&service))
            .await
            .map_err(|error| GrafanaError::Internal(format!("a Grafana task failed: {error}")))?
    }

    fn generated(&self, org: &str) -> Result<(OrgView, Vec<Dashboard>), GrafanaError> {
        let view = org_view(&self.catalog, &self.series, &self.store, org)?;
        let generated = dashboards::generate(&view);
        Ok((view, generated))
    }

    pub async fn status(&self, org: &str) -> Result<GrafanaStatus, GrafanaError> {
        let org = org.to_string();
        self.blocking(move |service| {
            let link = service.catalog.grafana_link(&org)?;
            let (_, generated) = service.generated(&org)?;
            Ok(status(&link, &generated, service.config.as_deref()))
        })
        .await
    }

    /// Rotates the token, regenerates the dashboards and writes them to
    /// Grafana (when configured); audited as `grafana.reset`.
    pub async fn reset(&self, org: &str, actor: &Actor) -> Result<GrafanaStatus, GrafanaError> {
        let owned = org.to_string();
        let (before, link, view, generated) = self
            .blocking(move |service| {
                let before = service.catalog.grafana_link(&owned)?;
                let link = service.catalog.rotate_grafana_token(&owned, true)?;
                let (view, generated) = service.generated(&owned)?;
                Ok((before, link, view, generated))
            })
            .await?;
        self.provision_and_record(&view, &link, &generated).await?;
        self.audit(org, actor, "grafana.reset", &before, &generated).await?;
        self.status(org).await
    }

    /// Turns the org's Grafana on (a token made if needed, the dashboards
    /// written) or off (the token revoked); audited.
    pub async fn set_enabled(&self, org: &str, enabled: bool, actor: &Actor) -> Result<GrafanaStatus, GrafanaError> {
        let owned = org.to_string();
        let (before, link, view, generated) = self
            .blocking(move |service| {
                let before = service.catalog.grafana_link(&owned)?;
                let link = service.catalog.set_grafana_enabled(&owned, enabled)?;
                let (view, generated) = service.generated(&owned)?;
                Ok((before, link, view, generated))
            })
            .await?;
        if enabled {
            self.provision_and_record(&view, &link, &generated).await?;
        }
        let action = if enabled { "grafana.enabled" } else { "grafana.disabled" };
        self.audit(org, actor, action, &before, &generated).await?;
        self.status(org).await
    }

    /// File provisioning with the org's current Grafana token.
    pub async fn export(&self, org: &str, vigie_url: &str) -> Result<Vec<ExportFile>, GrafanaError> {
        let (org, vigie_url) = (org.to_string(), vigie_url.to_string());
        self.blocking(move |service| {
            let link = service.catalog.grafana_link(&org)?;
            let secret = match (&link.secret, link.enabled) {
                (Some(secret), true) => secret.clone(),
                _ => return Err(GrafanaError::Disabled),
            };
            let (view, generated) = service.generated(&org)?;
            Ok(export_files(&view, &secret, &generated, &vigie_url))
        })
        .await
    }

    async fn provision_and_record(
        &self,
        view: &OrgView,
        link: &GrafanaLink,
        generated: &[Dashboard],
    ) -> Result<(), GrafanaError> {
        let (Some(config), Some(secret)) = (&self.config, &link.secret) else { return Ok(()) };
        let outcome = provision::provision(config, view, secret, generated).await;
        if let Err(error) = &outcome {
            tracing::warn!(org = %view.slug, %error, "Grafana provisioning failed");
        }
        let (catalog, org, error) = (self.catalog.clone(), view.slug.clone(), outcome.err());
        self.blocking(move |_| Ok(catalog.set_grafana_provisioned(&org, now_ns(), error.as_deref())?)).await
    }

    async fn audit(
        &self,
        org: &str,
        actor: &Actor,
        action: &str,
        before: &GrafanaLink,
        generated: &[Dashboard],
    ) -> Result<(), GrafanaError> {
        let after = self.catalog.clone();
        let owned = org.to_string();
        let link = self.blocking(move |_| Ok(after.grafana_link(&owned)?)).await?;
        let describe = |link: &GrafanaLink| {
            json!({
                "enabled": link.enabled,
                "token": link.token.as_ref().map(|t| json!({"id": t.id, "hint": t.hint, "revoked": t.revoked_at_ns.is_some()})),
            })
        };
        let mut after = describe(&link);
        after["dashboards"] = json!(generated.len());
        let line = AuditLine {
            actor: actor.name.clone(),
            action: action.to_string(),
            target: "grafana".into(),
            ip: actor.ip.clone(),
            before: Some(describe(before)),
            after: Some(after),
        };
        crate::audit::append(&self.store, org, line)
            .await
            .map_err(|error| GrafanaError::Internal(format!("the audit record was not stored: {error}")))
    }
}
