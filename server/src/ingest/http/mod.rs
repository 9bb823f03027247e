//! Log lines posted over HTTP (`POST /api/v1/orgs/{org}/apps/{app}/logs`):
//! what ingest needs besides the store ([`IngestState`]), and one batch
//! taken from its body to its topic ([`store_batch`]). The route itself
//! (the token, the body's size and content type, the answer) belongs to
//! the HTTP layer, a floor above, which calls down into this one.
//!
//! A batch over the line limit or the app's rate is refused whole and
//! nothing of it is stored; otherwise its valid lines are stored and the
//! bad ones listed by number with the reason.

use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;
use vigie_app::model::LogKind;

use super::access::{parse_access_body, Defaults};
use super::geoip::GeoIp;
use super::limits::{IngestLimits, RateLimiter};
use super::lines::{parse_body_stored, LineFormat, RejectedLine};
use crate::clock::now_ns;
use crate::cluster::Cluster;
use crate::store::{Store, StoreError, TopicKey};

/// Largest request body accepted (once unzipped), in bytes.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// What ingest needs besides the store; cloning it is shallow.
#[derive(Clone)]
pub struct IngestState {
    pub limits: IngestLimits,
    pub rate: Arc<RateLimiter>,
    pub geoip: Option<Arc<GeoIp>>,
    /// In a cluster (`--nats`), where records go instead of the local
    /// store: the replicated stream (see `crate::cluster`).
    pub cluster: Option<Cluster>,
}

impl IngestState {
    pub fn new(limits: IngestLimits, geoip: Option<Arc<GeoIp>>) -> IngestState {
        IngestState { limits, rate: Arc::new(RateLimiter::new(limits.lines_per_sec)), geoip, cluster: None }
    }
}

/// One posted batch: its lines, how they are written, and the defaults
/// for what a line leaves out.
pub struct Batch {
    pub key: TopicKey,
    pub format: LineFormat,
    pub body: bytes::Bytes,
    /// The instance recorded for lines that name none.
    pub instance: String,
    /// Access logs: the host recorded for lines that name none.
    pub host: String,
}

/// Why a batch was refused whole (nothing of it stored).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the batch has {lines} lines; the limit is {limit}: send smaller batches")]
    TooManyLines { lines: usize, limit: usize },
    #[error("app \"{app}\" is over its {per_sec} lines per second: nothing of this batch was stored; send it again in {retry_after_secs} s")]
    OverRate { app: String, per_sec: f64, retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of a batch's lines.
#[derive(Debug, Serialize)]
pub struct Stored {
    pub accepted: usize,
    /// The offsets given to the accepted lines, in order.
    #[serde(skip)]
    pub offsets: Option<Range<u64>>,
    pub rejected: Vec<RejectedLine>,
}

/// Checks a batch against the line limit and the app's rate, then parses
/// it and appends its valid lines to the topic, both on a blocking thread
/// (a body of 10 MiB is tens of milliseconds of parsing).
pub async fn store_batch(store: &Store, ingest: &IngestState, batch: Batch) -> Result<Stored, Refused> {
    let body = &batch.body;
    let lines = memchr::memchr_iter(b'\n', body).count() + usize::from(!body.is_empty() && !body.ends_with(b"\n"));
    let limits = ingest.limits;
    if lines > limits.batch_lines {
        return Err(Refused::TooManyLines { lines, limit: limits.batch_lines });
    }
    let (org, app) = (&batch.key.org, &batch.key.app);
    if let Err(wait) = ingest.rate.take(org, app, lines) {
        return Err(Refused::OverRate {
            app: app.clone(),
            per_sec: limits.lines_per_sec,
            retry_after_secs: wait.as_secs() + 1,
        });
    }
    let (store, geoip, cluster) = (store.clone(), ingest.geoip.clone(), ingest.cluster.clone());
    tokio::task::spawn_blocking(move || parse_and_append(&store, cluster.as_ref(), geoip.as_deref(), batch))
        .await
        .map_err(|error| StoreError::Append(format!("the ingest task failed: {error}")))?
}

/// Parses a batch and appends its valid lines. Blocks: call it from a blocking thread.
fn parse_and_append(
    store: &Store,
    cluster: Option<&Cluster>,
    geoip: Option<&GeoIp>,
    batch: Batch,
) -> Result<Stored, Refused> {
    let now = now_ns();
    let (payloads, rejected) = if batch.key.kind == LogKind::Access {
        let defaults = Defaults { instance: &batch.instance, host: &batch.host, now_ns: now };
        let parsed = parse_access_body(&batch.body, batch.format, &defaults, geoip);
        let payloads = parsed
            .accepted
            .iter()
            .map(|(ts_ns, line)| (*ts_ns, serde_json::to_string(line).expect("an access line serialises")))
            .collect::<Vec<_>>();
        (payloads, parsed.rejected)
    } else {
        let parsed = parse_body_stored(&batch.body, batch.format, &batch.instance, now);
        (parsed.accepted, parsed.rejected)
    };
    let accepted = payloads.len();
    let offsets = match cluster {
        _ if payloads.is_empty() => None,
        None => Some(store.append_batch(&batch.key, payloads)?),
        Some(cluster) => cluster.append_blocking(&batch.key, payloads)?,
    };
    Ok(Stored { accepted, offsets, rejected })
}
