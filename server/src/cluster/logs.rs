//! Applies `VIGIE_LOGS` to this node's store, in stream order, exactly
//! once, so a topic's offsets are the same on every node.
//!
//! `DATA_DIR/cluster/applied.json` holds the last stream sequence applied
//! and each topic's end (its count of records from the stream) at that
//! point; it is rewritten (aside, then renamed) after each burst. On start:
//! - a topic whose local end is past its checkpointed end was appended to
//!   after the checkpoint (a crash between the two): the next that many
//!   records of its messages are already there and are skipped;
//! - a topic whose local end is behind (a lost or older disk) means the
//!   checkpoint cannot be trusted: the whole stream is replayed from the
//!   first message, skipping, per topic, the records the store has.
//!
//! A message that does not decode is skipped by every node alike.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::{next_message, Cluster, ClusterError, Records, LOGS_STREAM, LOGS_SUBJECTS};
use crate::metrics::series::SeriesModel;
use crate::shutdown::ShutdownSignal;
use crate::store::{Store, StoreError, TopicKey, TopicKind};

/// Most messages applied in one burst (one checkpoint write).
const BURST_MESSAGES: usize = 1_000;

#[derive(Default, Serialize, Deserialize)]
struct Checkpoint {
    last_sequence: u64,
    /// (org, app, kind, records from the stream).
    ends: Vec<(String, String, String, u64)>,
}

/// Where the applier is; owned by its task, handed to blocking threads.
struct ApplyState {
    path: PathBuf,
    last_sequence: u64,
    /// Records of the stream each topic holds, as of `last_sequence`.
    ends: BTreeMap<TopicKey, u64>,
    /// Records of each topic's next messages already in the store.
    skip: HashMap<TopicKey, u64>,
}

impl ApplyState {
    /// Blocks (file I/O).
    fn load(data_dir: &Path, store: &Store) -> Result<ApplyState, ClusterError> {
        let path = data_dir.join("cluster").join("applied.json");
        let checkpoint: Checkpoint = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|error| ClusterError::Checkpoint { path: path.clone(), error: error.to_string() })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Checkpoint::default(),
            Err(error) => return Err(ClusterError::Checkpoint { path, error: error.to_string() }),
        };
        let mut ends = BTreeMap::new();
        for (org, app, kind, end) in checkpoint.ends {
            if let Some(kind) = TopicKind::parse(&kind) {
                ends.insert(TopicKey::new(&org, &app, kind), end);
            }
        }
        let behind = ends.iter().any(|(key, end)| store.next_offset(key) < *end);
        let (last_sequence, ends) = if behind {
            tracing::warn!("the local store is behind its cluster checkpoint: replaying the whole stream");
            (0, BTreeMap::new())
        } else {
            (checkpoint.last_sequence, ends)
        };
        let skip = store
            .topics()
            .into_iter()
            .map(|topic| {
                let end = ends.get(&topic.key).copied().unwrap_or(0);
                (topic.key, topic.next_offset.saturating_sub(end))
            })
            .filter(|(_, skip)| *skip > 0)
            .collect();
        Ok(ApplyState { path, last_sequence, ends, skip })
    }

    /// Applies one message; returns the offsets its records have (also when
    /// they were already there). Blocks (store appends).
    fn apply(&mut self, store: &Store, key: &TopicKey, records: Records) -> Result<Option<Range<u64>>, StoreError> {
        let count = records.len() as u64;
        let end = self.ends.get(key).copied().unwrap_or(0);
        let skip = self.skip.get(key).copied().unwrap_or(0).min(count);
        if skip > 0 {
            *self.skip.get_mut(key).expect("a skip count") -= skip;
        }
        if skip < count {
            store.append_batch(key, records.into_iter().skip(skip as usize).collect())?;
        }
        self.ends.insert(key.clone(), end + count);
        Ok((count > 0).then(|| end..end + count))
    }

    /// Writes the checkpoint aside, then renames it over the old one. Blocks.
    fn save(&self) -> std::io::Result<()> {
        let checkpoint = Checkpoint {
            last_sequence: self.last_sequence,
            ends: self
                .ends
                .iter()
                .map(|(key, end)| (key.org.clone(), key.app.clone(), key.kind.as_str().to_string(), *end))
                .collect(),
        };
        let dir = self.path.parent().expect("the checkpoint is in a directory");
        std::fs::create_dir_all(dir)?;
        let aside = self.path.with_extension("json.new");
        std::fs::write(&aside, serde_json::to_vec(&checkpoint).expect("a checkpoint serialises"))?;
        std::fs::rename(aside, &self.path)
    }
}

/// The topic of a subject `vigie.logs.{org}.{app}.{kind}`.
fn topic_of(subject: &str) -> Option<TopicKey> {
    let mut parts = subject.strip_prefix("vigie.logs.")?.split('.');
    let (org, app, kind) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(TopicKey::new(org, app, TopicKind::parse(kind)?))
}

/// One message as received: its stream sequence, topic and records.
type Received = (u64, Option<(TopicKey, Records)>);

/// Loads the checkpoint and starts the applier task.
pub(super) async fn start(
    cluster: Cluster,
    data_dir: PathBuf,
    store: Store,
    series: SeriesModel,
    shutdown: ShutdownSignal,
) -> Result<JoinHandle<()>, ClusterError> {
    let loading = store.clone();
    let state =
        tokio::task::spawn_blocking(move || ApplyState::load(&data_dir, &loading)).await.map_err(|error| {
            ClusterError::Checkpoint { path: "cluster/applied.json".into(), error: error.to_string() }
        })??;
    cluster.inner.applied.last.send_replace(state.last_sequence);
    tracing::info!(from_sequence = state.last_sequence + 1, "applying the cluster's topics");
    Ok(tokio::spawn(run(cluster, state, store, series, shutdown)))
}

/// Follows the stream from the state's sequence on; a failure (a server
/// gone, the store refusing) restarts it from the last sequence applied.
async fn run(cluster: Cluster, mut state: ApplyState, store: Store, series: SeriesModel, shutdown: ShutdownSignal) {
    let stop = shutdown.fired();
    tokio::pin!(stop);
    loop {
        let following = follow(&cluster, &mut state, &store, &series);
        tokio::select! {
            _ = &mut stop => return,
            error = following => tracing::warn!(%error, "applying the cluster's topics stopped; resuming in 1 s"),
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Applies messages until something fails; returns what failed.
async fn follow(cluster: &Cluster, state: &mut ApplyState, store: &Store, series: &SeriesModel) -> String {
    let stream = match cluster.inner.js.get_stream(LOGS_STREAM).await {
        Ok(stream) => stream,
        Err(error) => return error.to_string(),
    };
    let config = pull::OrderedConfig {
        filter_subject: LOGS_SUBJECTS.to_string(),
        deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: state.last_sequence + 1 },
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
        let first = match next_message(&mut messages, &stream, state.last_sequence).await {
            Ok(message) => message,
            Err(error) => return error,
        };
        let mut received = vec![first];
        // What already arrived joins the burst; an error is met by the next round.
        while received.len() < BURST_MESSAGES {
            match messages.next().now_or_never() {
                Some(Some(Ok(message))) => received.push(message),
                _ => break,
            }
        }
        let mut burst: Vec<Received> = Vec::with_capacity(received.len());
        for message in received {
            let sequence = match message.info() {
                Ok(info) => info.stream_sequence,
                Err(error) => return error.to_string(),
            };
            let decoded =
                topic_of(message.subject.as_str()).zip(serde_json::from_slice::<Records>(&message.payload).ok());
            if decoded.is_none() {
                tracing::error!(sequence, subject = %message.subject, "a message of the stream does not decode; skipped");
            }
            burst.push((sequence, decoded));
        }
        let (handed, store, series) = (std::mem::replace(state, ApplyState::empty()), store.clone(), series.clone());
        let applied = tokio::task::spawn_blocking(move || apply_burst(handed, &store, &series, burst)).await;
        let (back, ranges, failure) = match applied {
            Ok(result) => result,
            Err(error) => return format!("the apply task failed: {error}"),
        };
        *state = back;
        cluster.inner.applied.record(ranges);
        if let Some(failure) = failure {
            return failure;
        }
    }
}

impl ApplyState {
    fn empty() -> ApplyState {
        ApplyState { path: PathBuf::new(), last_sequence: 0, ends: BTreeMap::new(), skip: HashMap::new() }
    }
}

/// Applies a burst in order, brings metric series up to date, and saves the
/// checkpoint; stops at the first store failure. Blocks.
#[allow(clippy::type_complexity)]
fn apply_burst(
    mut state: ApplyState,
    store: &Store,
    series: &SeriesModel,
    burst: Vec<Received>,
) -> (ApplyState, Vec<(u64, Option<Range<u64>>)>, Option<String>) {
    let mut ranges = Vec::with_capacity(burst.len());
    let mut metrics = BTreeSet::new();
    let mut failure = None;
    for (sequence, decoded) in burst {
        if sequence <= state.last_sequence {
            continue;
        }
        let range = match decoded {
            Some((key, records)) => match state.apply(store, &key, records) {
                Ok(range) => {
                    if key.kind == TopicKind::Metrics {
                        metrics.insert(key);
                    }
                    range
                }
                Err(error) => {
                    failure = Some(error.to_string());
                    break;
                }
            },
            None => None,
        };
        state.last_sequence = sequence;
        ranges.push((sequence, range));
    }
    for key in metrics {
        series.catch_up(store, &key);
    }
    if let Err(error) = state.save() {
        failure.get_or_insert(format!("cannot write {}: {error}", state.path.display()));
    }
    (state, ranges, failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(range: Range<i64>) -> Records {
        range.map(|i| (i, format!("{{\"message\":\"line {i}\"}}"))).collect()
    }

    #[test]
    fn subjects_name_topics() {
        assert_eq!(
            topic_of("vigie.logs.acme.api.service"),
            Some(TopicKey::new("acme", "api", TopicKind::parse("service").unwrap()))
        );
        assert_eq!(topic_of("vigie.logs.acme.api"), None);
        assert_eq!(topic_of("vigie.logs.acme.api.service.more"), None);
        assert_eq!(topic_of("vigie.logs.acme.api.nonsense"), None);
    }

    /// A crash after appending but before the checkpoint: the messages
    /// applied again after the restart are skipped, a half-applied one is
    /// completed, and the offsets are those of a node that never crashed.
    #[test]
    fn messages_applied_again_after_a_crash_are_skipped_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let key = TopicKey::new("acme", "api", TopicKind::parse("service").unwrap());
        let store = Store::open(dir.path()).unwrap();
        let mut state = ApplyState::load(dir.path(), &store).unwrap();
        assert_eq!(state.apply(&store, &key, lines(0..3)).unwrap(), Some(0..3));
        state.last_sequence = 1;
        state.save().unwrap();
        // Applied, not checkpointed: message 2 whole, and 1 record of message 3.
        store.append_batch(&key, lines(3..5)).unwrap();
        store.append_batch(&key, lines(5..6)).unwrap();
        drop(state);

        let mut state = ApplyState::load(dir.path(), &store).unwrap();
        assert_eq!(state.last_sequence, 1);
        assert_eq!(state.apply(&store, &key, lines(3..5)).unwrap(), Some(3..5));
        assert_eq!(state.apply(&store, &key, lines(5..8)).unwrap(), Some(5..8));
        let stored: Vec<i64> = store.read(&key, 0, 100).records.iter().map(|record| record.ts_ns).collect();
        assert_eq!(stored, (0..8).collect::<Vec<_>>());
    }

    /// A store behind its checkpoint (a lost disk) replays from the first
    /// message and skips what it still has.
    #[test]
    fn a_store_behind_its_checkpoint_replays_the_whole_stream() {
        let dir = tempfile::tempdir().unwrap();
        let key = TopicKey::new("acme", "api", TopicKind::parse("service").unwrap());
        {
            let store = Store::open(dir.path().join("old")).unwrap();
            let mut state = ApplyState::load(dir.path(), &store).unwrap();
            state.apply(&store, &key, lines(0..4)).unwrap();
            state.last_sequence = 2;
            state.save().unwrap();
        }
        let store = Store::open(dir.path().join("new")).unwrap();
        store.append_batch(&key, lines(0..2)).unwrap();
        let mut state = ApplyState::load(dir.path(), &store).unwrap();
        assert_eq!(state.last_sequence, 0);
        assert_eq!(state.apply(&store, &key, lines(0..4)).unwrap(), Some(0..4));
        assert_eq!(store.next_offset(&key), 4);
    }
}
