//! The signal that the server is stopping, shared by every long-lived task.
//!
//! A leaf module: listeners, background jobs and live streams all take a
//! [`ShutdownSignal`], whatever floor they live on.

use tokio::sync::watch;

/// Fires once when the server starts shutting down, so long-lived responses
/// (live streams) end and graceful shutdown does not wait on them forever.
/// Cloning it is shallow.
#[derive(Clone)]
pub struct ShutdownSignal(pub watch::Receiver<bool>);

impl ShutdownSignal {
    pub async fn fired(mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}
