//! `betterstack`: Better Stack Logs' HTTP ingestion (`POST {url}`, the
//! source's ingesting host), with the source token as
//! `Authorization: Bearer`, a JSON array of events: `dt` (RFC 3339, UTC),
//! `message`, `level`, and the record's fields under `vigie`. It answers
//! `202`.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::datadog::vigie_attributes;
use super::http_post;
use super::recipient::{Batch, BatchLimits, Delivered, Recipient, SendError};
use super::record::{decode_all, rfc3339};

pub struct BetterStack {
    client: reqwest::Client,
    url: url::Url,
    source_token: String,
}

impl BetterStack {
    pub fn new(client: reqwest::Client, url: url::Url, source_token: String) -> BetterStack {
        BetterStack { client, url, source_token }
    }
}

pub fn events(batch: Batch<'_>) -> Value {
    let events: Vec<Value> = decode_all(batch.source.kind, batch.records)
        .into_iter()
        .map(|decoded| {
            json!({
                "dt": rfc3339(decoded.record.ts_ns, 6),
                "message": decoded.line.message(),
                "level": decoded.line.severity().name(),
                "vigie": vigie_attributes(batch.source, decoded.record.offset, &decoded.line),
            })
        })
        .collect();
    Value::Array(events)
}

impl Recipient for BetterStack {
    fn limits(&self) -> BatchLimits {
        BatchLimits { max_lines: 1_000, max_bytes: 4 << 20 }
    }

    fn send<'a>(&'a mut self, batch: Batch<'a>) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let bearer = format!("Bearer {}", self.source_token);
            let body = serde_json::to_vec(&events(batch)).expect("JSON serialises");
            http_post::send_json(&self.client, &self.url, ("authorization", &bearer, "source token"), false, body).await
        })
    }
}
