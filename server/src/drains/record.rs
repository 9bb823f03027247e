//! A stored record as recipients see it: the line decoded by its kind, and
//! what every format needs from it (instance, severity, one-line message,
//! times). Recipients encode from here, so a service, access or audit line
//! means the same thing in every format.

use std::borrow::Cow;
use std::fmt::Write;

use serde_json::Value;
use vigie_app::model::{AccessLine, AuditLine, Level, ServiceLine};

use super::config::DrainKind;
use crate::store::StoredRecord;

/// Where a drain's records come from.
#[derive(Clone, Debug, PartialEq)]
pub struct DrainSource {
    pub org: String,
    /// `None` for the org's audit log.
    pub app: Option<String>,
    pub kind: DrainKind,
}

impl DrainSource {
    /// The name recipients give the source (syslog APP-NAME, `service`):
    /// the app, or `vigie-audit` for an org's audit log.
    pub fn service(&self) -> &str {
        self.app.as_deref().unwrap_or("vigie-audit")
    }
}

/// A record's line, decoded by the drain's kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    Service(ServiceLine),
    Access(AccessLine),
    Audit(AuditLine),
    /// What the kind's form does not read (never written by Vigie itself).
    Other(Value),
}

/// The severities of syslog (RFC 5424, section 6.2.1), which OTLP and the
/// log services map from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Informational = 6,
    Debug = 7,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Informational => "info",
            Severity::Debug => "debug",
        }
    }
}

impl Line {
    pub fn decode(kind: DrainKind, payload: &str) -> Line {
        let decoded = match kind {
            DrainKind::Log => serde_json::from_str(payload).map(Line::Service),
            DrainKind::Accesslog => serde_json::from_str(payload).map(Line::Access),
            DrainKind::Auditlog => serde_json::from_str(payload).map(Line::Audit),
        };
        decoded.unwrap_or_else(|_| Line::Other(serde_json::from_str(payload).unwrap_or(Value::String(payload.into()))))
    }

    /// The instance that wrote it (`vigie` for audit records).
    pub fn instance(&self) -> &str {
        match self {
            Line::Service(line) => &line.instance,
            Line::Access(line) => &line.instance,
            Line::Audit(_) | Line::Other(_) => "vigie",
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            Line::Service(line) => match line.level {
                Level::Trace | Level::Debug => Severity::Debug,
                Level::Info => Severity::Informational,
                Level::Warn => Severity::Warning,
                Level::Error => Severity::Error,
                Level::Fatal => Severity::Critical,
            },
            Line::Access(line) if line.status >= 500 => Severity::Error,
            Line::Access(line) if line.status >= 400 => Severity::Warning,
            Line::Access(_) => Severity::Informational,
            Line::Audit(_) => Severity::Notice,
            Line::Other(_) => Severity::Informational,
        }
    }

    /// The text a person reads: the service line's message; for an access
    /// line `METHOD host/path?query STATUS BYTES DURATION client`; for an
    /// audit record `actor action target`.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            Line::Service(line) => Cow::Borrowed(&line.message),
            Line::Access(line) => {
                let mut text = format!("{} {}{}", line.method, line.host, line.path);
                if !line.query.is_empty() {
                    let _ = write!(text, "?{}", line.query);
                }
                let _ = write!(
                    text,
                    " {} {} B {} ms {} \"{}\"",
                    line.status, line.bytes_sent, line.duration_ms, line.client_ip, line.user_agent
                );
                Cow::Owned(text)
            }
            Line::Audit(line) => Cow::Owned(format!("{} {} {}", line.actor, line.action, line.target)),
            Line::Other(Value::String(text)) => Cow::Borrowed(text),
            Line::Other(value) => Cow::Owned(value.to_string()),
        }
    }

    /// The line's own fields as a JSON object (what the store holds).
    pub fn fields(&self) -> Value {
        let value = match self {
            Line::Service(line) => serde_json::to_value(line),
            Line::Access(line) => serde_json::to_value(line),
            Line::Audit(line) => serde_json::to_value(line),
            Line::Other(value) => Ok(value.clone()),
        };
        value.unwrap_or(Value::Null)
    }
}

/// A record and its decoded line.
pub struct Decoded<'a> {
    pub record: &'a StoredRecord,
    pub line: Line,
}

pub fn decode_all<'a>(kind: DrainKind, records: &'a [StoredRecord]) -> Vec<Decoded<'a>> {
    records.iter().map(|record| Decoded { record, line: Line::decode(kind, &record.payload) }).collect()
}

/// RFC 3339 in UTC with `digits` of fraction (1 to 9; RFC 5424 allows 6 at most).
pub fn rfc3339(ts_ns: i64, digits: usize) -> String {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let nanos = ts_ns.rem_euclid(1_000_000_000) as u32;
    let time = time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let digits = digits.clamp(1, 9);
    let fraction = format!("{nanos:09}");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z",
        time.year(),
        time.month() as u8,
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        &fraction[..digits]
    )
}

/// `YYYY.MM.DD` of a time, in UTC (daily index names).
pub fn day(ts_ns: i64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp(ts_ns.div_euclid(1_000_000_000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}.{:02}.{:02}", time.year(), time.month() as u8, time.day())
}

/// One record as a JSON object: where it comes from, when, and the stored
/// line's fields, written without decoding the line (the stored payload is
/// an object; its members are spliced in).
pub fn write_json_record(out: &mut Vec<u8>, source: &DrainSource, record: &StoredRecord) {
    let _ = write!(
        VecWriter(out),
        "{{\"offset\":{},\"ts_ns\":{},\"timestamp\":\"{}\",\"org\":{},\"app\":{},\"kind\":\"{}\"",
        record.offset,
        record.ts_ns,
        rfc3339(record.ts_ns, 9),
        Value::String(source.org.clone()),
        source.app.as_ref().map_or(Value::Null, |app| Value::String(app.clone())),
        source.kind.as_str(),
    );
    let payload = record.payload.trim();
    match payload.strip_prefix('{').map(str::trim_start) {
        Some("}") => out.push(b'}'),
        Some(rest) => {
            out.push(b',');
            out.extend_from_slice(rest.as_bytes());
        }
        None => {
            out.extend_from_slice(b",\"payload\":");
            out.extend_from_slice(Value::String(payload.to_string()).to_string().as_bytes());
            out.push(b'}');
        }
    }
}

/// `fmt::Write` into a byte vector.
pub struct VecWriter<'a>(pub &'a mut Vec<u8>);

impl Write for VecWriter<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// The offset a `check`'s test record carries: no stored record has it,
/// so recipients that deduplicate by record (Elasticsearch ids, JetStream
/// message ids) never take a real record for the test one.
pub const CHECK_OFFSET: u64 = u64::MAX;

/// The record a `check` sends: a service, access or audit line, as the
/// drain's kind stores them, saying it is a test.
pub fn check_record(kind: DrainKind, now_ns: i64) -> StoredRecord {
    let payload = match kind {
        DrainKind::Log => serde_json::json!({
            "instance": "vigie",
            "level": "info",
            "message": "Vigie drain check: this test message shows the drain reaches you",
        }),
        DrainKind::Accesslog => serde_json::json!({
            "instance": "vigie", "method": "GET", "host": "vigie.check", "path": "/drain-check",
            "status": 200, "bytes_sent": 0, "duration_ms": 0.0, "client_ip": "127.0.0.1",
            "user_agent": "vigie-drain-check",
        }),
        DrainKind::Auditlog => serde_json::json!({
            "actor": "vigie", "action": "drain.checked", "target": "this drain", "ip": "127.0.0.1",
        }),
    };
    StoredRecord { offset: CHECK_OFFSET, ts_ns: now_ns, payload: payload.to_string().into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> DrainSource {
        DrainSource { org: "acme".into(), app: Some("api".into()), kind: DrainKind::Log }
    }

    #[test]
    fn a_json_record_carries_its_place_and_the_stored_fields() {
        let record = StoredRecord {
            offset: 4,
            ts_ns: 1_764_374_400_123_456_789,
            payload: r#"{"instance":"web-1","level":"warn","message":"slow\nquery é"}"#.into(),
        };
        let mut out = Vec::new();
        write_json_record(&mut out, &source(), &record);
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["offset"], 4);
        assert_eq!(value["timestamp"], "2025-11-29T00:00:00.123456789Z");
        assert_eq!(value["app"], "api");
        assert_eq!(value["kind"], "LOG");
        assert_eq!(value["message"], "slow\nquery é");
    }

    #[test]
    fn severities_follow_levels_and_statuses() {
        let service = Line::decode(DrainKind::Log, r#"{"instance":"w","level":"error","message":"boom"}"#);
        assert_eq!(service.severity(), Severity::Error);
        assert_eq!(service.instance(), "w");
        let access = Line::decode(
            DrainKind::Accesslog,
            r#"{"instance":"w","method":"GET","host":"h","path":"/p","status":503,"bytes_sent":1,"duration_ms":2.5,"client_ip":"1.2.3.4","user_agent":"ua"}"#,
        );
        assert_eq!(access.severity(), Severity::Error);
        assert_eq!(access.message(), "GET h/p 503 1 B 2.5 ms 1.2.3.4 \"ua\"");
        assert!(matches!(Line::decode(DrainKind::Log, "not json"), Line::Other(_)));
    }

    #[test]
    fn times_are_written_in_utc_with_the_fraction_asked() {
        assert_eq!(rfc3339(1_764_374_400_123_456_789, 6), "2025-11-29T00:00:00.123456Z");
        assert_eq!(day(1_764_374_400_123_456_789), "2025.11.29");
    }
}
