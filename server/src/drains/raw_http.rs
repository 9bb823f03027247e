//! `raw-http`: the batch as NDJSON, one record a line (its offset, time,
//! org, app, kind, and the stored line's fields), POSTed gzip-compressed
//! with `Content-Type: application/x-ndjson`, with basic auth when given.
//! Any 2xx acknowledges the batch.

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;

use super::http_post::{self, Post};
use super::recipient::{Batch, BatchLimits, Delivered, Recipient, SendError};
use super::record::write_json_record;

pub struct RawHttp {
    client: reqwest::Client,
    url: url::Url,
    username: Option<String>,
    password: Option<String>,
}

impl RawHttp {
    pub fn new(client: reqwest::Client, url: url::Url, username: Option<String>, password: Option<String>) -> RawHttp {
        RawHttp { client, url, username, password }
    }
}

/// The NDJSON body of a batch.
pub fn ndjson(batch: Batch<'_>) -> Vec<u8> {
    let mut body = Vec::with_capacity(batch.records.iter().map(|r| r.payload.len() + 160).sum());
    for record in batch.records {
        write_json_record(&mut body, batch.source, record);
        body.push(b'\n');
    }
    body
}

impl Recipient for RawHttp {
    fn limits(&self) -> BatchLimits {
        BatchLimits { max_lines: 10_000, max_bytes: 8 << 20 }
    }

    fn send<'a>(&'a mut self, batch: Batch<'a>) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let post = Post {
                client: &self.client,
                url: &self.url,
                content_type: "application/x-ndjson",
                gzip: true,
                headers: HeaderMap::new(),
                basic_auth: self.username.as_deref().map(|user| (user, self.password.as_deref())),
                body: ndjson(batch),
            };
            http_post::send(post).await.map(|(delivered, _)| delivered)
        })
    }
}
