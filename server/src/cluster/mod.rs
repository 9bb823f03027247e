//! Several Vigie nodes on a NATS JetStream cluster (`vigie serve --nats`;
//! the model is in `docs/SCALING.md`). Nothing here runs in the embedded
//! mode.
//!
//! - [`Cluster::append`] is where ingest writes in a cluster: the parsed
//!   records of a topic go to the replicated stream `VIGIE_LOGS`, subject
//!   `vigie.logs.{org}.{app}.{kind}`, and the call returns once JetStream
//!   acknowledged them (a quorum of the stream's replicas has them), then
//!   once this node's store applied them (so the offsets can be answered).
//! - [`logs`] applies the stream, in stream order, to the local store on
//!   every node: a topic's offsets are the same everywhere.
//! - [`catalog`] publishes the catalog's changes on `VIGIE_CATALOG` and
//!   applies everyone's to the local SQLite.
//! - [`lease`] elects the one node that runs the drains, through an
//!   expiring key of a replicated key-value bucket.
//!
//! The invariant the rest relies on: in a cluster, a topic fed through the
//! stream is written by the [`logs`] applier only.

mod catalog;
mod lease;
mod logs;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage, stream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog::Catalog;
use crate::metrics::series::SeriesModel;
use crate::shutdown::ShutdownSignal;
use crate::store::{Store, StoreError, TopicKey};

/// The stream of every topic's records.
pub const LOGS_STREAM: &str = "VIGIE_LOGS";
/// The stream of catalog changes.
pub const CATALOG_STREAM: &str = "VIGIE_CATALOG";
const LOGS_SUBJECTS: &str = "vigie.logs.>";
const CATALOG_SUBJECT: &str = "vigie.catalog";

/// Largest message payload published: under NATS's default 1 MiB limit.
const MAX_MESSAGE_BYTES: usize = 900 * 1024;
/// How long a publish is retried (same message id, so never stored twice)
/// while the cluster elects a leader or the client reconnects.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(20);
/// How long an append waits for this node to apply what it published
/// before answering without offsets.
const LOCAL_APPLY_WAIT: Duration = Duration::from_secs(5);
/// How long a consumer's pull request lasts; its idle heartbeat is half
/// of it, and two missed heartbeats (a server gone) make the ordered
/// consumer recreate itself elsewhere: about 4 s, not the client's 30 s default.
const PULL_EXPIRES: Duration = Duration::from_secs(4);
/// How long a consumer may stay silent before the stream is asked whether
/// it holds more: if so, the consumer is stuck (its server died and it did
/// not recover) and is made again after the last message applied.
const STALL_CHECK: Duration = Duration::from_secs(2);
/// How many published sequences' local offsets are remembered for waiters.
const REMEMBERED_RANGES: usize = 100_000;

/// `vigie serve --nats`.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// NATS server URLs, comma-separated, as `async_nats::connect` takes them.
    pub urls: String,
    /// Replicas of each stream: 3 on a 3-server cluster, 1 on one server.
    pub replicas: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot connect to NATS at {urls}: {error} (are the servers up? is JetStream on, nats-server -js?)")]
    Connect { urls: String, error: String },
    #[error("cannot create or open the JetStream stream {stream}: {error}")]
    Stream { stream: &'static str, error: String },
    #[error("the catalog did not catch up with the cluster within {0:?}: {1}")]
    CatalogCatchUp(Duration, String),
    #[error("cannot read the cluster checkpoint {path}: {error}", path = path.display())]
    Checkpoint { path: PathBuf, error: String },
}

/// A node's link to the cluster; cloning it is shallow.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    js: jetstream::Context,
    /// For callers on blocking threads (syslog, statsd, HTTP ingest's parser).
    runtime: tokio::runtime::Handle,
    /// Names this node's messages (`Nats-Msg-Id`), with `published`.
    node: String,
    published: AtomicU64,
    applied: Applied,
    /// Whether this node holds the drains' lease now.
    drains_lease: watch::Receiver<bool>,
}

/// What this node's store applied: the last stream sequence, and the
/// offsets recent sequences got, for appends waiting to answer them.
#[derive(Default)]
struct Applied {
    last: watch::Sender<u64>,
    /// A std mutex: held for a map operation, never across an await.
    ranges: Mutex<BTreeMap<u64, Option<Range<u64>>>>,
}

impl Applied {
    fn record(&self, ranges: Vec<(u64, Option<Range<u64>>)>) {
        let Some(last) = ranges.last().map(|(seq, _)| *seq) else { return };
        {
            let mut remembered = self.ranges.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            remembered.extend(ranges);
            while remembered.len() > REMEMBERED_RANGES {
                remembered.pop_first();
            }
        }
        self.last.send_if_modified(|applied| {
            let moved = last > *applied;
            *applied = (*applied).max(last);
            moved
        });
    }
}

/// Connects, makes sure the streams exist, catches the catalog up, and
/// starts the tasks that apply the streams and publish catalog changes.
/// Call it before the first-start bootstrap, so a joining node sees the
/// cluster's users.
pub async fn join(
    config: &ClusterConfig,
    data_dir: PathBuf,
    store: Store,
    catalog: Catalog,
    series: SeriesModel,
    shutdown: ShutdownSignal,
) -> Result<(Cluster, Vec<JoinHandle<()>>), ClusterError> {
    let client = async_nats::ConnectOptions::new()
        .name("vigie")
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(config.urls.split(',').map(str::trim).filter(|url| !url.is_empty()).collect::<Vec<_>>());
    let client = tokio::time::timeout(Duration::from_secs(30), client)
        .await
        .map_err(|_| ClusterError::Connect { urls: config.urls.clone(), error: "timed out after 30 s".into() })?
        .map_err(|error| ClusterError::Connect { urls: config.urls.clone(), error: error.to_string() })?;
    let js = jetstream::new(client);
    for (name, subjects) in [(LOGS_STREAM, LOGS_SUBJECTS), (CATALOG_STREAM, CATALOG_SUBJECT)] {
        let stream_config = stream::Config {
            name: name.to_string(),
            subjects: vec![subjects.to_string()],
            num_replicas: config.replicas,
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        ensure_stream(&js, stream_config).await.map_err(|error| ClusterError::Stream { stream: name, error })?;
    }
    let node = format!("{:016x}", rand::random::<u64>());
    let (drains_lease, lease_task) = lease::start(&js, node.clone(), config.replicas, shutdown.clone()).await?;
    let cluster = Cluster {
        inner: Arc::new(Inner {
            js: js.clone(),
            runtime: tokio::runtime::Handle::current(),
            node,
            published: AtomicU64::new(0),
            applied: Applied::default(),
            drains_lease,
        }),
    };
    // What goes through `Store::submit` (the audit log, custom points) is
    // replicated too.
    store.set_upstream(Arc::new(cluster.clone()));
    let mut tasks = catalog::start(&js, catalog, store.clone(), shutdown.clone()).await?;
    tasks.push(lease_task);
    tasks.push(logs::start(cluster.clone(), data_dir, store, series, shutdown).await?);
    Ok((cluster, tasks))
}

/// Gets or creates a stream, retrying while the cluster has no JetStream
/// leader yet (a cluster that just started).
async fn ensure_stream(js: &jetstream::Context, config: stream::Config) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match js.get_or_create_stream(config.clone()).await {
            Ok(_) => return Ok(()),
            Err(error) if Instant::now() < deadline => {
                tracing::info!(%error, stream = config.name, "JetStream not ready; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// The subject of a topic: `vigie.logs.{org}.{app}.{kind}`. Slugs are
/// lowercase letters, digits and dashes, so never a `.`, `*` or `>`.
fn subject_of(key: &TopicKey) -> String {
    format!("vigie.logs.{}.{}.{}", key.org, key.app, key.kind.as_str())
}

/// The records of one message.
type Records = Vec<(i64, String)>;

/// Splits records into messages of at most [`MAX_MESSAGE_BYTES`] (a record
/// larger than that goes alone and is refused by the server).
fn into_messages(records: Records) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Records = Vec::new();
    let mut size = 0;
    for record in records {
        let record_size = record.1.len() + 32;
        if !current.is_empty() && size + record_size > MAX_MESSAGE_BYTES {
            messages.push(serde_json::to_vec(&current).expect("records serialise"));
            current.clear();
            size = 0;
        }
        size += record_size;
        current.push(record);
    }
    if !current.is_empty() {
        messages.push(serde_json::to_vec(&current).expect("records serialise"));
    }
    messages
}

impl Cluster {
    /// Publishes records of a topic and returns once JetStream acknowledged
    /// them, then (at most 5 s later) once this node applied them, with the
    /// offsets they got: `None` when the local store was slower than that,
    /// or when another node's records came between two messages of this batch.
    pub async fn append(&self, key: &TopicKey, records: Records) -> Result<Option<Range<u64>>, StoreError> {
        let subject = subject_of(key);
        let mut sequences = Vec::new();
        for payload in into_messages(records) {
            let id = format!("{}-{}", self.inner.node, self.inner.published.fetch_add(1, Ordering::Relaxed));
            sequences.push(self.publish(&subject, payload.into(), &id).await?);
        }
        let Some(&last) = sequences.iter().max() else { return Ok(None) };
        let mut applied = self.inner.applied.last.subscribe();
        let waited = tokio::time::timeout(LOCAL_APPLY_WAIT, applied.wait_for(|applied| *applied >= last)).await;
        if !matches!(waited, Ok(Ok(_))) {
            tracing::warn!(%key, sequence = last, "acknowledged, but not applied locally within 5 s");
            return Ok(None);
        }
        let remembered = self.inner.applied.ranges.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut offsets: Option<Range<u64>> = None;
        for sequence in sequences {
            let Some(Some(range)) = remembered.get(&sequence).cloned() else { return Ok(None) };
            offsets = match offsets {
                None => Some(range),
                Some(so_far) if so_far.end == range.start => Some(so_far.start..range.end),
                Some(_) => return Ok(None),
            };
        }
        Ok(offsets)
    }

    /// [`Cluster::append`] for blocking threads. Blocks: never call it from the async runtime.
    pub fn append_blocking(&self, key: &TopicKey, records: Records) -> Result<Option<Range<u64>>, StoreError> {
        self.inner.runtime.block_on(self.append(key, records))
    }

    /// Publishes one message and waits for its ack, retrying with the same
    /// message id (JetStream drops the copies) until [`PUBLISH_DEADLINE`].
    async fn publish(&self, subject: &str, payload: bytes::Bytes, id: &str) -> Result<u64, StoreError> {
        publish_acked(&self.inner.js, subject, payload, id).await
    }

    /// Whether this node holds the drains' lease, now and as it changes:
    /// the drains run on the one node that holds it ([`lease`]).
    pub fn drains_lease(&self) -> watch::Receiver<bool> {
        self.inner.drains_lease.clone()
    }

    /// The last stream sequence this node's store applied.
    pub fn applied_sequence(&self) -> u64 {
        *self.inner.applied.last.borrow()
    }
}

impl crate::store::Upstream for Cluster {
    fn submit(&self, key: &TopicKey, records: Records) -> Result<Option<Range<u64>>, StoreError> {
        self.append_blocking(key, records)
    }
}

async fn publish_acked(
    js: &jetstream::Context,
    subject: &str,
    payload: bytes::Bytes,
    id: &str,
) -> Result<u64, StoreError> {
    let deadline = Instant::now() + PUBLISH_DEADLINE;
    loop {
        let message = PublishMessage::build().payload(payload.clone()).message_id(id);
        let attempt = async { js.send_publish(subject.to_string(), message).await?.await }.await;
        match attempt {
            Ok(ack) => return Ok(ack.sequence),
            Err(error) if Instant::now() < deadline => {
                tracing::warn!(%error, subject, "publish not acknowledged; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => {
                return Err(StoreError::Append(format!("the cluster did not acknowledge the records: {error}")));
            }
        }
    }
}

/// The next message of an ordered consumer, or why it must be made again:
/// an error, its end, or a stall while the stream holds messages after
/// `applied`.
async fn next_message(
    messages: &mut jetstream::consumer::pull::Ordered,
    stream: &jetstream::stream::Stream,
    applied: u64,
) -> Result<jetstream::Message, String> {
    use futures::StreamExt;
    loop {
        match tokio::time::timeout(STALL_CHECK, messages.next()).await {
            Ok(Some(Ok(message))) => return Ok(message),
            Ok(Some(Err(error))) => return Err(error.to_string()),
            Ok(None) => return Err("the consumer ended".into()),
            Err(_) => {
                let last = stream.get_info().await.map_err(|error| error.to_string())?.state.last_sequence;
                if last > applied {
                    return Err(format!("the consumer stalled after {applied} while the stream is at {last}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_split_into_messages_under_the_limit_in_order() {
        let line = "x".repeat(1000);
        let records: Records = (0..2000).map(|i| (i, format!("{i}:{line}"))).collect();
        let messages = into_messages(records.clone());
        assert!(messages.len() >= 2);
        assert!(messages.iter().all(|message| message.len() <= MAX_MESSAGE_BYTES + 64 * 1024));
        let back: Records =
            messages.iter().flat_map(|message| serde_json::from_slice::<Records>(message).unwrap()).collect();
        assert_eq!(back, records);
    }

    #[test]
    fn a_topic_is_one_subject() {
        let key = TopicKey::metrics("acme", "api-2");
        assert_eq!(subject_of(&key), "vigie.logs.acme.api-2.metrics");
    }
}
