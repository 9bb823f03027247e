//! The Grafana port, in-process: the org page's "Metrics in Grafana"
//! section reads and acts through the same service as the API's
//! `/api/v1/orgs/{org}/grafana` routes (`crate::grafana::GrafanaService`),
//! so a reset from the console rotates, regenerates, provisions and audits
//! exactly as one from the API.

use futures::future::BoxFuture;
use futures::FutureExt;
use vigie_app::grafana_port::{GrafanaAction, GrafanaPort};
use vigie_app::model::{GrafanaView, Viewer};
use vigie_app::port::PortError;

use super::port_error;
use crate::catalog::CatalogError;
use crate::grafana::{Actor, GrafanaError, GrafanaService, GrafanaStatus};

/// The Grafana service as the console's port; cloning it is shallow.
#[derive(Clone)]
pub struct InProcessGrafana {
    pub service: GrafanaService,
}

fn view_of(org: String, status: GrafanaStatus) -> GrafanaView {
    GrafanaView {
        org,
        enabled: status.enabled,
        token_name: status.token.as_ref().map(|token| token.name.clone()),
        token_hint: status.token.as_ref().map(|token| token.hint.clone()),
        token_revoked: status.token.as_ref().is_some_and(|token| token.revoked),
        home_url: status.home_url,
        provisioned_at_ns: status.provisioned_at_ns,
        provision_error: status.provision_error,
        dashboards: status.dashboards.len(),
        may_change: false,
    }
}

impl GrafanaPort for InProcessGrafana {
    fn grafana(&self, org: String) -> BoxFuture<'_, Result<Option<GrafanaView>, PortError>> {
        async move {
            match self.service.status(&org).await {
                Ok(status) => Ok(Some(view_of(org, status))),
                Err(GrafanaError::Catalog(CatalogError::Missing(_))) => Ok(None),
                Err(error) => Err(port_error(error)),
            }
        }
        .boxed()
    }

    fn grafana_action(
        &self,
        org: String,
        action: GrafanaAction,
        by: Viewer,
    ) -> BoxFuture<'_, Result<GrafanaView, PortError>> {
        async move {
            let actor = Actor { name: by.actor(), ip: by.ip.clone() };
            let status = match action {
                GrafanaAction::Reset => self.service.reset(&org, &actor).await,
                GrafanaAction::Enable => self.service.set_enabled(&org, true, &actor).await,
                GrafanaAction::Disable => self.service.set_enabled(&org, false, &actor).await,
            };
            status.map(|status| view_of(org, status)).map_err(port_error)
        }
        .boxed()
    }
}
