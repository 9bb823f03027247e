//! The port the console's drain pages go through (server side only),
//! beside [`ConsolePort`](crate::port::ConsolePort): list an app's (or the
//! org's) drains, create one, enable, disable, remove or check it. `server`
//! implements it in-process on its drains; a client of a remote Vigie's
//! drains API can implement it too. Changes are audited as done by the
//! viewer. Server functions find it in the Leptos context as a
//! [`SharedDrainsPort`].

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::drains::{DrainAction, DrainSummary, NewDrainForm};
use crate::model::Viewer;
use crate::port::PortError;

pub trait DrainsPort: Send + Sync + 'static {
    /// The drains of `app` of `org`, or of the org when `app` is `None`;
    /// `None` when there is no such app.
    fn drains(&self, org: String, app: Option<String>) -> BoxFuture<'_, Result<Option<Vec<DrainSummary>>, PortError>>;

    /// Creates a drain; the error says which field is wrong.
    fn create_drain(
        &self,
        org: String,
        app: Option<String>,
        form: NewDrainForm,
        by: Viewer,
    ) -> BoxFuture<'_, Result<DrainSummary, PortError>>;

    /// Enables, disables, removes or checks a drain; returns what to tell
    /// the viewer (for a check, the recipient's answer).
    fn drain_action(
        &self,
        org: String,
        app: Option<String>,
        id: i64,
        action: DrainAction,
        by: Viewer,
    ) -> BoxFuture<'_, Result<String, PortError>>;
}

pub type SharedDrainsPort = Arc<dyn DrainsPort>;
