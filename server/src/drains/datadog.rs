//! `datadog`: the HTTP logs intake, v2 (`POST {url}` such as
//! `https://http-intake.logs.SITE/api/v2/logs`), with the account's key in
//! `DD-API-KEY`, a gzip-compressed JSON array of log entries:
//! `ddsource` (`vigie`), `ddtags` (org, app, kind, instance, and the
//! drain's own tags), `hostname` (the instance), `service` (the app),
//! `message`, `status` (the severity), `timestamp` (ms since the epoch), and
//! the record's own fields under `vigie`. The intake takes at most 1,000
//! entries and 5 MB per request and answers `202`.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::http_post;
use super::recipient::{Batch, BatchLimits, Delivered, Recipient, SendError};
use super::record::{decode_all, DrainSource, Line};

pub struct Datadog {
    client: reqwest::Client,
    url: url::Url,
    api_key: String,
    tags: Option<String>,
}

impl Datadog {
    pub fn new(client: reqwest::Client, url: url::Url, api_key: String, tags: Option<String>) -> Datadog {
        Datadog { client, url, api_key, tags }
    }
}

/// The entries of a batch, as the intake documents them.
pub fn entries(batch: Batch<'_>, extra_tags: Option<&str>) -> Value {
    let entries: Vec<Value> = decode_all(batch.source.kind, batch.records)
        .into_iter()
        .map(|decoded| {
            let mut tags = format!(
                "org:{},app:{},kind:{},instance:{}",
                batch.source.org,
                batch.source.service(),
                batch.source.kind.as_str().to_ascii_lowercase(),
                decoded.line.instance()
            );
            if let Some(extra) = extra_tags.filter(|extra| !extra.is_empty()) {
                tags.push(',');
                tags.push_str(extra);
            }
            json!({
                "ddsource": "vigie",
                "ddtags": tags,
                "hostname": decoded.line.instance(),
                "service": batch.source.service(),
                "message": decoded.line.message(),
                "status": decoded.line.severity().name(),
                "timestamp": decoded.record.ts_ns / 1_000_000,
                "vigie": vigie_attributes(batch.source, decoded.record.offset, &decoded.line),
            })
        })
        .collect();
    Value::Array(entries)
}

/// Where a record comes from and its own fields, for the services that keep attributes.
pub fn vigie_attributes(source: &DrainSource, offset: u64, line: &Line) -> Value {
    let mut attributes =
        json!({ "org": source.org, "app": source.app, "kind": source.kind.as_str(), "offset": offset });
    if let (Some(map), Value::Object(fields)) = (attributes.as_object_mut(), line.fields()) {
        for (name, value) in fields {
            map.entry(name).or_insert(value);
        }
    }
    attributes
}

impl Recipient for Datadog {
    fn limits(&self) -> BatchLimits {
        BatchLimits { max_lines: 1_000, max_bytes: 3 << 20 }
    }

    fn send<'a>(&'a mut self, batch: Batch<'a>) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&entries(batch, self.tags.as_deref())).expect("JSON serialises");
            http_post::send_json(&self.client, &self.url, ("DD-API-KEY", &self.api_key, "API key"), true, body).await
        })
    }
}
