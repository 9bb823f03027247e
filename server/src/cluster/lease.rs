//! Which node runs the drains: the one holding a lease, a key of the
//! replicated JetStream key-value bucket `VIGIE_LEASES` whose entries
//! expire [`LEASE_TTL`] after their last write.
//!
//! - A node without the lease tries to create the key every
//!   [`RENEW_EVERY`]; JetStream lets exactly one create succeed.
//! - The holder rewrites it every [`RENEW_EVERY`], each write conditional on
//!   the revision it last wrote, so a holder that lost the key cannot take
//!   it back by writing over another's.
//! - A holder that could not renew for [`STEP_DOWN_AFTER`] (its NATS server
//!   gone, a partition) stops running drains, before the key can expire
//!   and another node take it: two nodes never run the drains at once,
//!   and a dead node's drains move to another within about [`LEASE_TTL`]
//!   plus one [`RENEW_EVERY`].
//! - A node that stops deletes the key after it stopped its drains, so
//!   another takes over at its next try.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::ClusterError;
use crate::shutdown::ShutdownSignal;

const BUCKET: &str = "VIGIE_LEASES";
const DRAINS_KEY: &str = "drains";
/// How long a lease lasts after its last renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(5);
const RENEW_EVERY: Duration = Duration::from_secs(1);
/// A holder that could not renew for this long stops: well under [`LEASE_TTL`].
const STEP_DOWN_AFTER: Duration = Duration::from_secs(3);

/// Opens (or makes) the lease bucket and starts competing for the drains'
/// lease; the receiver says whether this node holds it now.
pub(super) async fn start(
    js: &jetstream::Context,
    node: String,
    replicas: usize,
    shutdown: ShutdownSignal,
) -> Result<(watch::Receiver<bool>, JoinHandle<()>), ClusterError> {
    let bucket =
        open_bucket(js, replicas).await.map_err(|error| ClusterError::Stream { stream: "KV_VIGIE_LEASES", error })?;
    let (holding, held) = watch::channel(false);
    let task = tokio::spawn(compete(bucket, node, holding, shutdown));
    Ok((held, task))
}

/// The bucket, its stream made as the key-value layer would make it (the
/// client's own `create_key_value` asks the server for account details
/// Debian's nats-server 2.9 answers in an older form).
async fn open_bucket(js: &jetstream::Context, replicas: usize) -> Result<kv::Store, String> {
    let config = jetstream::stream::Config {
        name: format!("KV_{BUCKET}"),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: 1,
        max_age: LEASE_TTL,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    };
    super::ensure_stream(js, config).await?;
    js.get_key_value(BUCKET).await.map_err(|error| error.to_string())
}

/// Holds the lease when it can, and says so through `holding`.
async fn compete(bucket: kv::Store, node: String, holding: watch::Sender<bool>, shutdown: ShutdownSignal) {
    let stop = shutdown.fired();
    tokio::pin!(stop);
    // The revision this node last wrote, and when, while it holds the lease.
    let mut held: Option<(u64, Instant)> = None;
    loop {
        held = match held {
            None => match bucket.create(DRAINS_KEY, node.clone().into()).await {
                Ok(revision) => {
                    tracing::info!(node, "this node holds the drains' lease: it runs the drains");
                    holding.send_replace(true);
                    Some((revision, Instant::now()))
                }
                Err(_) => None,
            },
            Some((revision, renewed)) => match bucket.update(DRAINS_KEY, node.clone().into(), revision).await {
                Ok(revision) => Some((revision, Instant::now())),
                Err(error) => {
                    let taken = matches!(
                        bucket.entry(DRAINS_KEY).await,
                        Ok(Some(entry)) if entry.operation == kv::Operation::Put && entry.value != node.as_bytes()
                    );
                    if taken || renewed.elapsed() >= STEP_DOWN_AFTER {
                        tracing::warn!(%error, taken, "the drains' lease is lost: this node stops its drains");
                        holding.send_replace(false);
                        None
                    } else {
                        tracing::warn!(%error, "the drains' lease was not renewed; retrying");
                        Some((revision, renewed))
                    }
                }
            },
        };
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(RENEW_EVERY) => {}
        }
    }
    if let Some((revision, _)) = held {
        holding.send_replace(false);
        // The drains stop with the node; another node may take over now.
        let released =
            tokio::time::timeout(Duration::from_secs(2), bucket.delete_expect_revision(DRAINS_KEY, Some(revision)))
                .await;
        if !matches!(released, Ok(Ok(()))) {
            tracing::info!("the drains' lease was not released; it expires by itself");
        }
    }
}
