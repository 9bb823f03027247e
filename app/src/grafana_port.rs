//! The port the org page's "Metrics in Grafana" section goes through
//! (server side only), beside [`ConsolePort`](crate::port::ConsolePort):
//! the org's Grafana status, and reset, enable and disable done as a
//! viewer. `server` implements it in-process on its Grafana service; a
//! client of a remote Vigie's `/api/v1/orgs/{org}/grafana` can too. Server
//! functions find it in the Leptos context as a [`SharedGrafanaPort`].

use futures::future::BoxFuture;
use std::sync::Arc;

use crate::model::{GrafanaView, Viewer};
use crate::port::PortError;

/// What an admin asks of the org's Grafana.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrafanaAction {
    /// RESET ALL DASHBOARDS: a new token, every dashboard generated again.
    Reset,
    Enable,
    Disable,
}

impl GrafanaAction {
    pub fn parse(text: &str) -> Option<GrafanaAction> {
        match text {
            "reset" => Some(GrafanaAction::Reset),
            "enable" => Some(GrafanaAction::Enable),
            "disable" => Some(GrafanaAction::Disable),
            _ => None,
        }
    }
}

pub trait GrafanaPort: Send + Sync + 'static {
    /// The org's Grafana (`may_change` left false: the caller decides);
    /// `None` when there is no such org.
    fn grafana(&self, org: String) -> BoxFuture<'_, Result<Option<GrafanaView>, PortError>>;

    /// Does `action` as `by` (whom the caller checked administers the org)
    /// and writes it to the org's audit log; the status after it.
    fn grafana_action(
        &self,
        org: String,
        action: GrafanaAction,
        by: Viewer,
    ) -> BoxFuture<'_, Result<GrafanaView, PortError>>;
}

pub type SharedGrafanaPort = Arc<dyn GrafanaPort>;
