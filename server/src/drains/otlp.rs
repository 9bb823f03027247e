//! `otlp`: OTLP/HTTP logs in protobuf (`POST {url}`, a collector's
//! `/v1/logs`, `Content-Type: application/x-protobuf`, gzip), built with
//! the `opentelemetry-proto` types.
//!
//! One `ResourceLogs` per instance in the batch, whose resource says
//! `service.name` (the app, `vigie-audit` for the audit log),
//! `service.instance.id` (the instance) and `vigie.org`; one scope `vigie`;
//! a `LogRecord` per record: its time, the severity number and text of its
//! level (an access line: INFO, WARN for a 4xx, ERROR for a 5xx), the
//! message as body, and as attributes the service line's own fields, an
//! access line's fields under the OpenTelemetry semantic conventions
//! (`http.request.method`, `url.path`, `http.response.status_code`, ...),
//! or an audit record's. The collector answers `200`; `429`, `502`, `503`
//! and `504` are retried, honouring `Retry-After`, as the OTLP
//! specification asks.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use vigie_app::model::Level;

use super::http_post::{self, Post};
use super::recipient::{Batch, BatchLimits, Delivered, Recipient, SendError};
use super::record::{decode_all, Line};

pub struct Otlp {
    client: reqwest::Client,
    url: url::Url,
    headers: HeaderMap,
}

impl Otlp {
    pub fn new(client: reqwest::Client, url: url::Url, headers: BTreeMap<String, String>) -> Result<Otlp, String> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("\"{name}\" cannot name a header"))?;
            let value = HeaderValue::from_str(&value).map_err(|_| format!("the value of {name} cannot be a header"))?;
            map.insert(name, value);
        }
        Ok(Otlp { client, url, headers: map })
    }
}

fn string(value: impl Into<String>) -> Option<AnyValue> {
    Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) })
}

fn key_value(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue { key: key.to_string(), value, ..Default::default() }
}

/// A JSON value as an OTLP value, keeping its shape.
fn any(value: &Value) -> Option<AnyValue> {
    let value = match value {
        Value::Null => return None,
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        Value::Array(items) => {
            any_value::Value::ArrayValue(ArrayValue { values: items.iter().filter_map(any).collect() })
        }
        Value::Object(map) => any_value::Value::KvlistValue(KeyValueList {
            values: map.iter().map(|(k, v)| key_value(k, any(v))).collect(),
        }),
    };
    Some(AnyValue { value: Some(value) })
}

fn severity(line: &Line) -> (SeverityNumber, &'static str) {
    let level = match line {
        Line::Service(service) => service.level,
        Line::Access(access) if access.status >= 500 => Level::Error,
        Line::Access(access) if access.status >= 400 => Level::Warn,
        _ => Level::Info,
    };
    match level {
        Level::Trace => (SeverityNumber::Trace, "TRACE"),
        Level::Debug => (SeverityNumber::Debug, "DEBUG"),
        Level::Info => (SeverityNumber::Info, "INFO"),
        Level::Warn => (SeverityNumber::Warn, "WARN"),
        Level::Error => (SeverityNumber::Error, "ERROR"),
        Level::Fatal => (SeverityNumber::Fatal, "FATAL"),
    }
}

fn attributes(line: &Line, offset: u64) -> Vec<KeyValue> {
    let mut attributes =
        vec![key_value("vigie.offset", Some(AnyValue { value: Some(any_value::Value::IntValue(offset as i64)) }))];
    let int = |n: i64| Some(AnyValue { value: Some(any_value::Value::IntValue(n)) });
    match line {
        Line::Service(service) => {
            attributes.extend(service.fields.iter().map(|(name, value)| key_value(name, any(value))));
        }
        Line::Access(access) => {
            attributes.extend([
                key_value("http.request.method", string(&access.method)),
                key_value("server.address", string(&access.host)),
                key_value("url.path", string(&access.path)),
                key_value("http.response.status_code", int(access.status as i64)),
                key_value("http.response.body.size", int(access.bytes_sent as i64)),
                key_value(
                    "vigie.duration_ms",
                    Some(AnyValue { value: Some(any_value::Value::DoubleValue(access.duration_ms)) }),
                ),
                key_value("client.address", string(&access.client_ip)),
                key_value("user_agent.original", string(&access.user_agent)),
            ]);
            if !access.query.is_empty() {
                attributes.push(key_value("url.query", string(&access.query)));
            }
            if let Some(country) = &access.country {
                attributes.push(key_value("geo.country.iso_code", string(country)));
            }
            if let Some(city) = &access.city {
                attributes.push(key_value("geo.locality.name", string(city)));
            }
        }
        Line::Audit(audit) => {
            attributes.extend([
                key_value("vigie.actor", string(&audit.actor)),
                key_value("vigie.action", string(&audit.action)),
                key_value("vigie.target", string(&audit.target)),
                key_value("client.address", string(&audit.ip)),
            ]);
            if let Some(before) = &audit.before {
                attributes.push(key_value("vigie.before", any(before)));
            }
            if let Some(after) = &audit.after {
                attributes.push(key_value("vigie.after", any(after)));
            }
        }
        Line::Other(value) => attributes.push(key_value("vigie.record", any(value))),
    }
    attributes
}

/// The export request of a batch: one resource per instance, in first-seen order.
pub fn export_request(batch: Batch<'_>) -> ExportLogsServiceRequest {
    let mut by_instance: Vec<(String, Vec<LogRecord>)> = Vec::new();
    for decoded in decode_all(batch.source.kind, batch.records) {
        let (number, text) = severity(&decoded.line);
        let record = LogRecord {
            time_unix_nano: decoded.record.ts_ns.max(0) as u64,
            observed_time_unix_nano: decoded.record.ts_ns.max(0) as u64,
            severity_number: number as i32,
            severity_text: text.to_string(),
            body: string(decoded.line.message()),
            attributes: attributes(&decoded.line, decoded.record.offset),
            ..Default::default()
        };
        let instance = decoded.line.instance();
        match by_instance.iter_mut().find(|(name, _)| name == instance) {
            Some((_, records)) => records.push(record),
            None => by_instance.push((instance.to_string(), vec![record])),
        }
    }
    let resource_logs = by_instance
        .into_iter()
        .map(|(instance, log_records)| ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    key_value("service.name", string(batch.source.service())),
                    key_value("service.instance.id", string(instance)),
                    key_value("vigie.org", string(&batch.source.org)),
                    key_value("vigie.kind", string(batch.source.kind.as_str())),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "vigie".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

impl Recipient for Otlp {
    fn limits(&self) -> BatchLimits {
        BatchLimits { max_lines: 2_000, max_bytes: 4 << 20 }
    }

    fn send<'a>(&'a mut self, batch: Batch<'a>) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let post = Post {
                client: &self.client,
                url: &self.url,
                content_type: "application/x-protobuf",
                gzip: true,
                headers: self.headers.clone(),
                basic_auth: None,
                body: export_request(batch).encode_to_vec(),
            };
            let (delivered, _) = http_post::send(post).await?;
            Ok(Delivered { answer: delivered.answer.split(':').next().unwrap_or_default().to_string() })
        })
    }
}
