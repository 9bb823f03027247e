//! Sends the buffer's entries to Vigie, oldest first, one batch of one
//! kind at a time: log records to the Logs API, instance reports to the
//! instance metrics API, custom points to the metrics API. A batch leaves
//! the buffer only once Vigie has answered for it, so an outage only
//! delays it.
//!
//! What Vigie answers decides what happens to a batch:
//!
//! - `200`, or `422` for log lines (the others are stored and must not be
//!   sent again): done;
//! - `429`: sent again after `retry-after`;
//! - `413`: sent again in smaller batches, down to one entry;
//! - `400` (and `413` for one entry): it can never be stored: dropped,
//!   counted and said;
//! - anything else (no answer, `5xx`, `401`, `403`, `404`): sent again
//!   later, waiting a little longer each time up to [`MAX_BACKOFF`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::{watch, Notify};

use super::spool::{Batch, EntryKind, Spool};
use crate::cli::remote::encode;

/// Entries and bytes one request carries at most.
const BATCH_ENTRIES: usize = 1_000;
const BATCH_BYTES: usize = 2 * 1024 * 1024;
/// The longest wait between two tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Where and as whom to send.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: String,
    pub org: String,
    pub app: String,
    pub instance: String,
}

impl Target {
    fn app_url(&self, rest: &str) -> String {
        format!("{}/api/v1/orgs/{}/apps/{}{rest}", self.url.trim_end_matches('/'), encode(&self.org), encode(&self.app))
    }
}

/// What the sender did, for the agent's messages and the bench.
#[derive(Default)]
pub struct SenderCounts {
    pub sent_entries: AtomicU64,
    /// Entries Vigie refused for good (a bad report, a rejected line).
    pub refused_entries: AtomicU64,
}

enum Outcome {
    Done { refused: u64 },
    Retry { after: Option<Duration>, why: String },
    Smaller,
}

/// Sends until `closing` is true and the buffer is empty. `wake` is
/// notified when entries are appended.
pub async fn run(
    spool: Arc<Spool>,
    http: reqwest::Client,
    target: Target,
    wake: Arc<Notify>,
    mut closing: watch::Receiver<bool>,
    counts: Arc<SenderCounts>,
) {
    let mut max_entries = BATCH_ENTRIES;
    let mut backoff = Duration::from_millis(100);
    let mut failing_since: Option<std::time::Instant> = None;
    loop {
        let peek = {
            let spool = spool.clone();
            tokio::task::spawn_blocking(move || spool.peek(max_entries, BATCH_BYTES)).await
        };
        let batch = match peek {
            Ok(Ok(Some(batch))) => batch,
            Ok(Ok(None)) => {
                if *closing.borrow() {
                    return;
                }
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = closing.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            Ok(Err(error)) => {
                tracing::error!("vigie agent: cannot read the buffer: {error}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(error) => {
                tracing::error!("vigie agent: the buffer reader failed: {error}");
                return;
            }
        };
        match send(&http, &target, &batch).await {
            Outcome::Done { refused } => {
                if let Some(since) = failing_since.take() {
                    tracing::info!(
                        "vigie agent: Vigie answers again after {:.0} s; sending what waited",
                        since.elapsed().as_secs_f64()
                    );
                }
                backoff = Duration::from_millis(100);
                max_entries = BATCH_ENTRIES;
                counts.sent_entries.fetch_add(batch.payloads.len() as u64 - refused, Ordering::Relaxed);
                counts.refused_entries.fetch_add(refused, Ordering::Relaxed);
                let spool = spool.clone();
                match tokio::task::spawn_blocking(move || spool.acknowledge(&batch)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => tracing::error!("vigie agent: cannot record what was sent: {error}"),
                    Err(error) => tracing::error!("vigie agent: the buffer failed: {error}"),
                }
            }
            Outcome::Smaller => max_entries = (batch.payloads.len() / 2).max(1),
            Outcome::Retry { after, why } => {
                if failing_since.is_none() {
                    failing_since = Some(std::time::Instant::now());
                    tracing::warn!("vigie agent: {why}; keeping lines and metrics in the buffer until Vigie answers");
                }
                let wait = after.unwrap_or(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

async fn send(http: &reqwest::Client, target: &Target, batch: &Batch) -> Outcome {
    let request = match batch.kind {
        EntryKind::Log => {
            let mut body = Vec::with_capacity(batch.payloads.iter().map(|p| p.len() + 1).sum());
            for payload in &batch.payloads {
                body.extend_from_slice(payload);
                body.push(b'\n');
            }
            http.post(target.app_url(&format!("/logs?instance={}", encode(&target.instance))))
                .header("content-type", "application/x-ndjson")
                .body(body)
        }
        EntryKind::Report | EntryKind::Points => {
            let mut body = b"[".to_vec();
            for (index, payload) in batch.payloads.iter().enumerate() {
                if index > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(payload);
            }
            body.push(b']');
            let path = if batch.kind == EntryKind::Report { "/instances/metrics" } else { "/metrics" };
            http.post(target.app_url(path)).header("content-type", "application/json").body(body)
        }
    };
    let response = match request.timeout(Duration::from_secs(30)).send().await {
        Ok(response) => response,
        Err(error) => {
            return Outcome::Retry { after: None, why: format!("cannot reach Vigie at {}: {error}", target.url) }
        }
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = response.text().await.unwrap_or_default();
    let error = || {
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|body| body["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.clone())
    };
    match status {
        status if status.is_success() => Outcome::Done { refused: 0 },
        StatusCode::UNPROCESSABLE_ENTITY if batch.kind == EntryKind::Log => {
            let rejected = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|body| body["rejected"].as_array().map(Vec::len))
                .unwrap_or(0);
            tracing::warn!("vigie agent: Vigie rejected {rejected} log lines: {}", error());
            Outcome::Done { refused: rejected as u64 }
        }
        StatusCode::TOO_MANY_REQUESTS => Outcome::Retry { after: retry_after, why: error() },
        StatusCode::PAYLOAD_TOO_LARGE if batch.payloads.len() > 1 => Outcome::Smaller,
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::error!(
                "vigie agent: Vigie refused {} entries for good, dropped: {}",
                batch.payloads.len(),
                error()
            );
            Outcome::Done { refused: batch.payloads.len() as u64 }
        }
        status => Outcome::Retry { after: None, why: format!("Vigie answered {}: {}", status.as_u16(), error()) },
    }
}
