//! `newrelic`: the Log API (`POST {url}`, the endpoint of the account's
//! region), with the key in `Api-Key`, a gzip-compressed JSON body in the
//! detailed form: one block whose `common.attributes` say where the logs
//! come from (`service.name`, org, kind) and whose `logs` are
//! `{timestamp (ms), message, attributes: {level, hostname, ...}}`. The API
//! takes at most 1 MB compressed per request and answers `202`.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::datadog::vigie_attributes;
use super::http_post;
use super::recipient::{Batch, BatchLimits, Delivered, Recipient, SendError};
use super::record::decode_all;

pub struct NewRelic {
    client: reqwest::Client,
    url: url::Url,
    api_key: String,
}

impl NewRelic {
    pub fn new(client: reqwest::Client, url: url::Url, api_key: String) -> NewRelic {
        NewRelic { client, url, api_key }
    }
}

pub fn body(batch: Batch<'_>) -> Value {
    let logs: Vec<Value> = decode_all(batch.source.kind, batch.records)
        .into_iter()
        .map(|decoded| {
            let mut attributes = vigie_attributes(batch.source, decoded.record.offset, &decoded.line);
            attributes["level"] = json!(decoded.line.severity().name());
            attributes["hostname"] = json!(decoded.line.instance());
            json!({
                "timestamp": decoded.record.ts_ns / 1_000_000,
                "message": decoded.line.message(),
                "attributes": attributes,
            })
        })
        .collect();
    json!([{
        "common": { "attributes": {
            "service.name": batch.source.service(),
            "vigie.org": batch.source.org,
            "vigie.kind": batch.source.kind.as_str(),
            "logtype": batch.source.kind.as_str().to_ascii_lowercase(),
        }},
        "logs": logs,
    }])
}

impl Recipient for NewRelic {
    fn limits(&self) -> BatchLimits {
        // 1 MB compressed per request: 2 MB of text stays well under it.
        BatchLimits { max_lines: 2_000, max_bytes: 2 << 20 }
    }

    fn send<'a>(&'a mut self, batch: Batch<'a>) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&body(batch)).expect("JSON serialises");
            http_post::send_json(&self.client, &self.url, ("Api-Key", &self.api_key, "API key"), true, body).await
        })
    }
}
