//! The one trait every recipient type implements, and the table that
//! builds one from its settings. A recipient turns a batch of records into
//! its service's wire format and sends it; it answers `Ok` only once the
//! service acknowledged the whole batch, which is what lets the drain move
//! its cursor. Retries, backoff and disabling are the drain's (see
//! `delivery.rs`), never the recipient's.
//!
//! Adding a recipient type (Pulsar, say) is one more file beside the
//! others with a type implementing [`Recipient`], one variant in
//! `config::RecipientConfig`, and one arm in [`build`].

use std::time::Duration;

use futures::future::BoxFuture;

use super::config::RecipientConfig;
use super::record::DrainSource;
use super::{betterstack, datadog, elasticsearch, nats, newrelic, otlp, raw_http, syslog, DrainSettings};
use crate::store::StoredRecord;

/// A batch to deliver, in offset order.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    pub source: &'a DrainSource,
    pub records: &'a [StoredRecord],
}

/// What the recipient answered to a delivered batch (`HTTP 202 Accepted`,
/// `JetStream ack: stream LOGS seq 12`).
#[derive(Clone, Debug, PartialEq)]
pub struct Delivered {
    pub answer: String,
}

/// A failed delivery: what the recipient said or what went wrong, and how
/// long it asked to be left alone (`Retry-After`).
#[derive(Clone, Debug, PartialEq)]
pub struct SendError {
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub fn new(message: impl Into<String>) -> SendError {
        SendError { message: message.into(), retry_after: None }
    }
}

/// How big a batch one request may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_lines: usize,
    pub max_bytes: usize,
}

pub trait Recipient: Send + Sync {
    /// The most one [`Recipient::send`] takes; the drain's own settings may lower it.
    fn limits(&self) -> BatchLimits {
        BatchLimits { max_lines: usize::MAX, max_bytes: usize::MAX }
    }

    /// Delivers the batch; `Ok` once the recipient acknowledged all of it.
    fn send<'a>(&'a mut self, batch: Batch<'a>) -> BoxFuture<'a, Result<Delivered, SendError>>;
}

/// Builds the recipient a drain's settings describe.
pub fn build(
    config: &RecipientConfig,
    settings: &DrainSettings,
    http: &reqwest::Client,
) -> Result<Box<dyn Recipient>, String> {
    let url = config.validate()?;
    super::targets::check_literal(&url, settings.allow_private_targets)?;
    Ok(match config {
        RecipientConfig::SyslogTcp { .. } => Box::new(syslog::SyslogStream::new(url, None, settings)),
        RecipientConfig::OvhTcp { token, .. } => {
            Box::new(syslog::SyslogStream::new(url, Some(token.clone()), settings))
        }
        RecipientConfig::SyslogUdp { .. } => Box::new(syslog::SyslogUdp::new(url, settings)),
        RecipientConfig::RawHttp { username, password, .. } => {
            Box::new(raw_http::RawHttp::new(http.clone(), url, username.clone(), password.clone()))
        }
        RecipientConfig::Elasticsearch { index_prefix, username, password, .. } => {
            Box::new(elasticsearch::Elasticsearch::new(
                http.clone(),
                url,
                index_prefix.clone(),
                username.clone(),
                password.clone(),
            ))
        }
        RecipientConfig::Datadog { api_key, tags, .. } => {
            Box::new(datadog::Datadog::new(http.clone(), url, api_key.clone(), tags.clone()))
        }
        RecipientConfig::Newrelic { api_key, .. } => {
            Box::new(newrelic::NewRelic::new(http.clone(), url, api_key.clone()))
        }
        RecipientConfig::Betterstack { source_token, .. } => {
            Box::new(betterstack::BetterStack::new(http.clone(), url, source_token.clone()))
        }
        RecipientConfig::Otlp { headers, .. } => Box::new(otlp::Otlp::new(http.clone(), url, headers.clone())?),
        RecipientConfig::Nats { subject, username, password, .. } => {
            Box::new(nats::Nats::new(url, subject.clone(), username.clone(), password.clone(), settings))
        }
    })
}
