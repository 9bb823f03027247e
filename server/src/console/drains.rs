//! The drains port, in-process: the console's drain pages call the same
//! [`Drains`] handle the drains API calls, as the signed-in viewer (whom
//! the audit log names). The server functions have checked the viewer's
//! membership and role before any call gets here.

use futures::future::BoxFuture;
use futures::FutureExt;
use vigie_app::drains::{DrainAction, DrainSummary, NewDrainForm};
use vigie_app::drains_port::DrainsPort;
use vigie_app::model::Viewer;
use vigie_app::port::PortError;

use crate::catalog::Catalog;
use crate::clock::now_ns;
use crate::drains::config::RecipientFields;
use crate::drains::{Actor, DrainError, DrainKind, DrainScope, DrainStatus, DrainView, Drains, Execution, Start};
use crate::query::time_bound::parse_time_bound;

/// Cloning it is shallow.
#[derive(Clone)]
pub struct InProcessDrains {
    pub drains: Drains,
    pub catalog: Catalog,
}

fn summary(view: DrainView) -> DrainSummary {
    DrainSummary {
        id: view.id,
        kind: view.kind.as_str().to_string(),
        recipient_type: view.recipient.type_name().to_string(),
        target: view.recipient.url().to_string(),
        status: match view.status {
            DrainStatus::Enabled => "ENABLED",
            DrainStatus::Disabled => "DISABLED",
        }
        .to_string(),
        execution: match view.execution {
            Execution::Running => "RUNNING",
            Execution::Retrying => "RETRYING",
            Execution::Stopped => "STOPPED",
        }
        .to_string(),
        disabled_reason: view.disabled_reason,
        backlog: view.backlog,
        rate_out_per_sec: view.rate_out_per_sec,
        last_error: view.last_error,
        last_success_ns: view.last_success_at_ns,
        lost_records: view.lost_records,
    }
}

/// What the viewer is told: a wrong field as is, a server failure as an error id only.
fn port_error(error: DrainError) -> PortError {
    match error {
        DrainError::Invalid(message) => PortError(message),
        DrainError::Missing(id) => PortError(format!("no drain {id} here")),
        DrainError::Catalog(crate::catalog::CatalogError::Invalid(message)) => PortError(message),
        other => {
            let id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(error = %other, error_id = %id, "a console drain call failed");
            PortError(format!("the server could not do it; its log says why under error id {id}"))
        }
    }
}

fn actor(by: &Viewer) -> Actor {
    Actor { name: by.actor(), ip: by.ip.clone() }
}

impl InProcessDrains {
    /// Whether the app exists (an org's own drains always do).
    async fn app_exists(&self, org: &str, app: Option<&str>) -> Result<bool, PortError> {
        let Some(app) = app else { return Ok(true) };
        let (catalog, org, app) = (self.catalog.clone(), org.to_string(), app.to_string());
        tokio::task::spawn_blocking(move || catalog.app(&org, &app))
            .await
            .map_err(|error| PortError(error.to_string()))?
            .map(|found| found.is_some())
            .map_err(|error| port_error(error.into()))
    }
}

impl DrainsPort for InProcessDrains {
    fn drains(&self, org: String, app: Option<String>) -> BoxFuture<'_, Result<Option<Vec<DrainSummary>>, PortError>> {
        async move {
            if !self.app_exists(&org, app.as_deref()).await? {
                return Ok(None);
            }
            let views = self.drains.list(&DrainScope { org, app }).await.map_err(port_error)?;
            Ok(Some(views.into_iter().map(summary).collect()))
        }
        .boxed()
    }

    fn create_drain(
        &self,
        org: String,
        app: Option<String>,
        form: NewDrainForm,
        by: Viewer,
    ) -> BoxFuture<'_, Result<DrainSummary, PortError>> {
        async move {
            if !self.app_exists(&org, app.as_deref()).await? {
                return Err(PortError(format!("no app in organisation \"{org}\" by that name")));
            }
            let kind = DrainKind::parse(&form.kind)
                .ok_or_else(|| PortError(format!("unknown kind \"{}\": LOG, ACCESSLOG or AUDITLOG", form.kind)))?;
            let fields = RecipientFields {
                recipient_type: form.recipient_type,
                url: form.url,
                username: Some(form.username),
                secret: Some(form.secret),
                index_prefix: Some(form.index_prefix),
                tags: Some(form.tags),
                subject: Some(form.subject),
                headers: form.headers.lines().map(str::to_string).collect(),
            };
            let recipient = fields.recipient().map_err(PortError)?;
            let start = match form.start.trim() {
                "" | "now" => Start::Now,
                text => {
                    Start::Time(parse_time_bound(text, now_ns()).map_err(|error| PortError(format!("start: {error}")))?)
                }
            };
            let view = self
                .drains
                .create(&DrainScope { org, app }, kind, recipient, start, &actor(&by))
                .await
                .map_err(port_error)?;
            Ok(summary(view))
        }
        .boxed()
    }

    fn drain_action(
        &self,
        org: String,
        app: Option<String>,
        id: i64,
        action: DrainAction,
        by: Viewer,
    ) -> BoxFuture<'_, Result<String, PortError>> {
        async move {
            let scope = DrainScope { org, app };
            let done = match action {
                DrainAction::Enable => {
                    let view = self.drains.enable(&scope, id, &actor(&by)).await.map_err(port_error)?;
                    format!("Drain {id} enabled: it resumes from offset {} ({} to send).", view.cursor, view.backlog)
                }
                DrainAction::Disable => {
                    self.drains.disable(&scope, id, &actor(&by)).await.map_err(port_error)?;
                    format!("Drain {id} disabled: it keeps its place.")
                }
                DrainAction::Remove => {
                    self.drains.remove(&scope, id, &actor(&by)).await.map_err(port_error)?;
                    format!("Drain {id} deleted.")
                }
                DrainAction::Check => {
                    let report = self.drains.check(&scope, id).await.map_err(port_error)?;
                    if report.ok {
                        format!("Drain {id}: the recipient took the test message ({}).", report.answer)
                    } else {
                        return Err(PortError(format!(
                            "Drain {id}: the recipient refused the test message: {}",
                            report.answer
                        )));
                    }
                }
            };
            Ok(done)
        }
        .boxed()
    }
}
