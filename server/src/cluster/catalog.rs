//! The catalog shared by the nodes: this node's committed changes are
//! published on `VIGIE_CATALOG`, in the order they were made, and every
//! change of the stream (this node's included) is applied to the local
//! SQLite (a retention: to the local store), idempotently, from the
//! stream's first message at each start.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{pull, DeliverPolicy},
};
use tokio::sync::{mpsc::UnboundedReceiver, watch};
use tokio::task::JoinHandle;

use super::{next_message, publish_acked, ClusterError, CATALOG_STREAM, CATALOG_SUBJECT};
use crate::catalog::changes::CatalogChange;
use crate::catalog::Catalog;
use crate::shutdown::ShutdownSignal;
use crate::store::{Retention, Store, TopicKey, TopicKind};

/// How long a start waits to have applied the catalog's existing changes.
const CATCH_UP: Duration = Duration::from_secs(30);

/// Starts publishing this node's changes and applying everyone's, and
/// returns once the changes already in the stream are applied.
pub(super) async fn start(
    js: &jetstream::Context,
    catalog: Catalog,
    store: Store,
    shutdown: ShutdownSignal,
) -> Result<Vec<JoinHandle<()>>, ClusterError> {
    let existing = js
        .get_stream(CATALOG_STREAM)
        .await
        .map_err(|error| ClusterError::Stream { stream: CATALOG_STREAM, error: error.to_string() })?
        .get_info()
        .await
        .map_err(|error| ClusterError::Stream { stream: CATALOG_STREAM, error: error.to_string() })?
        .state
        .last_sequence;
    let (applied, mut watching) = watch::channel(0u64);
    let mut tasks = vec![tokio::spawn(apply(js.clone(), catalog.clone(), store, applied, shutdown.clone()))];
    if let Some(changes) = catalog.send_changes() {
        tasks.push(tokio::spawn(publish(js.clone(), changes, shutdown)));
    }
    let caught_up = tokio::time::timeout(CATCH_UP, watching.wait_for(|applied| *applied >= existing)).await;
    if !matches!(caught_up, Ok(Ok(_))) {
        return Err(ClusterError::CatalogCatchUp(CATCH_UP, format!("{existing} changes to apply")));
    }
    Ok(tasks)
}

/// Publishes each committed change, in order; a change is retried until
/// published (JetStream drops the copies of a retried one), so the order
/// holds across outages.
async fn publish(js: jetstream::Context, mut changes: UnboundedReceiver<CatalogChange>, shutdown: ShutdownSignal) {
    let node = format!("{:016x}", rand::random::<u64>());
    let stop = shutdown.fired();
    tokio::pin!(stop);
    let mut count = 0u64;
    loop {
        let change = tokio::select! {
            _ = &mut stop => return,
            change = changes.recv() => match change { Some(change) => change, None => return },
        };
        count += 1;
        let id = format!("catalog-{node}-{count}");
        let payload: bytes::Bytes = serde_json::to_vec(&change).expect("a change serialises").into();
        loop {
            let published = tokio::select! {
                _ = &mut stop => return,
                published = publish_acked(&js, CATALOG_SUBJECT, payload.clone(), &id) => published,
            };
            match published {
                Ok(_) => break,
                Err(error) => tracing::error!(%error, "a catalog change is not published yet; retrying"),
            }
        }
    }
}

/// Applies the stream's changes from its first message on, restarting
/// after the last one applied when the consumer fails.
async fn apply(
    js: jetstream::Context,
    catalog: Catalog,
    store: Store,
    applied: watch::Sender<u64>,
    shutdown: ShutdownSignal,
) {
    let stop = shutdown.fired();
    tokio::pin!(stop);
    loop {
        let following = follow(&js, &catalog, &store, &applied);
        tokio::select! {
            _ = &mut stop => return,
            error = following => tracing::warn!(%error, "applying the catalog's changes stopped; resuming in 1 s"),
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Applies a change to the catalog, or a retention to the store. Blocks.
fn apply_change(catalog: &Catalog, store: &Store, change: &CatalogChange) -> Result<(), String> {
    match change {
        CatalogChange::RetentionSet { org, app, kind, max_age_secs, max_bytes } => {
            let kind = TopicKind::parse(kind).ok_or_else(|| format!("no topic kind \"{kind}\""))?;
            let retention = Retention { max_age: max_age_secs.map(Duration::from_secs), max_bytes: *max_bytes };
            store.set_retention(&TopicKey::new(org, app, kind), retention).map_err(|error| error.to_string())
        }
        change => catalog.apply_change(change).map_err(|error| error.to_string()),
    }
}

async fn follow(js: &jetstream::Context, catalog: &Catalog, store: &Store, applied: &watch::Sender<u64>) -> String {
    let stream = match js.get_stream(CATALOG_STREAM).await {
        Ok(stream) => stream,
        Err(error) => return error.to_string(),
    };
    let config = pull::OrderedConfig {
        deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: *applied.borrow() + 1 },
        max_expires: super::PULL_EXPIRES,
        ..Default::default()
    };
    let mut messages = match stream.create_consumer(config).await {
        Ok(consumer) => match consumer.messages().await {
            Ok(messages) => messages,
            Err(error) => return error.to_string(),
        },
        Err(error) => return error.to_string(),
    };
    loop {
        let last_applied = *applied.borrow();
        let message = match next_message(&mut messages, &stream, last_applied).await {
            Ok(message) => message,
            Err(error) => return error,
        };
        let sequence = match message.info() {
            Ok(info) => info.stream_sequence,
            Err(error) => return error.to_string(),
        };
        match serde_json::from_slice::<CatalogChange>(&message.payload) {
            Ok(change) => {
                let (catalog, store) = (catalog.clone(), store.clone());
                match tokio::task::spawn_blocking(move || apply_change(&catalog, &store, &change)).await {
                    Ok(Ok(())) => {}
                    // A change that cannot apply here (an org this node
                    // refused) is skipped, as by every node alike.
                    Ok(Err(error)) => tracing::error!(%error, sequence, "a catalog change does not apply; skipped"),
                    Err(error) => return format!("the apply task failed: {error}"),
                }
            }
            Err(error) => tracing::error!(%error, sequence, "a catalog change does not decode; skipped"),
        }
        applied.send_replace(sequence);
    }
}
