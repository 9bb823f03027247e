//! `elasticsearch`: the `_bulk` API (`POST {url}/_bulk`,
//! `Content-Type: application/x-ndjson`, basic auth when given). Each
//! record is a `create` into the daily index `PREFIX-YYYY.MM.DD` of its own
//! time, with a stable `_id` (org, app, kind, offset), so a batch sent again
//! after a crash or a timeout adds nothing: the copies already there answer
//! `409` and count as delivered. The document is the record's JSON with
//! `@timestamp`.
//!
//! A bulk answer is `200` even when items failed: the batch is acknowledged
//! only when every item is `2xx` or `409`; otherwise it is sent again (all
//! of it: the ones that went in answer `409` the second time), and a
//! rejected item's `error.type` and `reason` are the drain's last error.

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::http_post::{self, Post};
use super::recipient::{Batch, BatchLimits, Delivered, Recipient, SendError};
use super::record::{day, rfc3339, write_json_record, DrainSource, CHECK_OFFSET};
use crate::store::StoredRecord;

pub struct Elasticsearch {
    client: reqwest::Client,
    bulk_url: url::Url,
    index_prefix: String,
    username: Option<String>,
    password: Option<String>,
}

impl Elasticsearch {
    pub fn new(
        client: reqwest::Client,
        mut url: url::Url,
        index_prefix: String,
        username: Option<String>,
        password: Option<String>,
    ) -> Elasticsearch {
        let path = format!("{}/_bulk", url.path().trim_end_matches('/'));
        url.set_path(&path);
        Elasticsearch { client, bulk_url: url, index_prefix, username, password }
    }
}

/// A record's `_id`: the same record always gets the same one (a check's
/// test record gets one of its own each time).
pub fn document_id(source: &DrainSource, record: &StoredRecord) -> String {
    let app = source.app.as_deref().unwrap_or("_org");
    if record.offset == CHECK_OFFSET {
        return format!("{}-{app}-{}-check-{}", source.org, source.kind.as_str(), record.ts_ns);
    }
    format!("{}-{app}-{}-{}", source.org, source.kind.as_str(), record.offset)
}

/// The bulk body: an action line and a document line per record.
pub fn bulk_body(batch: Batch<'_>, index_prefix: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(batch.records.iter().map(|r| r.payload.len() + 300).sum());
    for record in batch.records {
        let action = serde_json::json!({"create": {
            "_index": format!("{index_prefix}-{}", day(record.ts_ns)),
            "_id": document_id(batch.source, record),
        }});
        body.extend_from_slice(action.to_string().as_bytes());
        body.push(b'\n');
        body.extend_from_slice(format!("{{\"@timestamp\":\"{}\",", rfc3339(record.ts_ns, 9)).as_bytes());
        let mut document = Vec::with_capacity(record.payload.len() + 160);
        write_json_record(&mut document, batch.source, record);
        body.extend_from_slice(&document[1..]);
        body.push(b'\n');
    }
    body
}

/// Reads a bulk answer: `Ok` when every item went in (or was there already).
pub fn read_bulk_answer(text: &str) -> Result<usize, String> {
    let answer: Value =
        serde_json::from_str(text).map_err(|_| format!("not a bulk answer: {}", http_post::shorten(text)))?;
    let items = answer["items"]
        .as_array()
        .ok_or_else(|| format!("no items in the bulk answer: {}", http_post::shorten(text)))?;
    if answer["errors"] != Value::Bool(true) {
        return Ok(items.len());
    }
    let failed: Vec<&Value> = items
        .iter()
        .filter_map(|item| item.as_object()?.values().next())
        .filter(|result| !matches!(result["status"].as_u64(), Some(200..=299 | 409)))
        .collect();
    match failed.first() {
        None => Ok(items.len()),
        Some(first) => Err(format!(
            "{} of {} documents refused; first: {} {}: {}",
            failed.len(),
            items.len(),
            first["status"],
            first["error"]["type"].as_str().unwrap_or("error"),
            first["error"]["reason"].as_str().unwrap_or_default()
        )),
    }
}

impl Recipient for Elasticsearch {
    fn limits(&self) -> BatchLimits {
        BatchLimits { max_lines: 5_000, max_bytes: 8 << 20 }
    }

    fn send<'a>(&'a mut self, batch: Batch<'a>) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let post = Post {
                client: &self.client,
                url: &self.bulk_url,
                content_type: "application/x-ndjson",
                gzip: false,
                headers: HeaderMap::new(),
                basic_auth: self.username.as_deref().map(|user| (user, self.password.as_deref())),
                body: bulk_body(batch, &self.index_prefix),
            };
            let (delivered, text) = http_post::send(post).await?;
            let items = read_bulk_answer(&text).map_err(SendError::new)?;
            Ok(Delivered {
                answer: format!(
                    "{}; {items} documents indexed or already there",
                    delivered.answer.split(':').next().unwrap_or("HTTP 200")
                ),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drains::config::DrainKind;

    #[test]
    fn a_bulk_body_creates_each_record_in_its_day_index_with_a_stable_id() {
        let source = DrainSource { org: "acme".into(), app: Some("api".into()), kind: DrainKind::Log };
        let records =
            [StoredRecord { offset: 7, ts_ns: 1_764_374_400_000_000_000, payload: r#"{"message":"hi"}"#.into() }];
        let body = String::from_utf8(bulk_body(Batch { source: &source, records: &records }, "logs")).unwrap();
        let lines: Vec<Value> = body.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines[0]["create"]["_index"], "logs-2025.11.29");
        assert_eq!(lines[0]["create"]["_id"], "acme-api-LOG-7");
        assert_eq!(lines[1]["@timestamp"], "2025-11-29T00:00:00.000000000Z");
        assert_eq!(lines[1]["message"], "hi");
        assert!(body.ends_with('\n'));
    }

    #[test]
    fn conflicts_count_as_delivered_and_other_item_errors_fail_the_batch() {
        let conflict = r#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}"#;
        assert_eq!(read_bulk_answer(conflict), Ok(2));
        let refused = r#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}}]}"#;
        let error = read_bulk_answer(refused).unwrap_err();
        assert!(error.contains("1 of 2") && error.contains("es_rejected_execution_exception: queue full"), "{error}");
    }
}
