//! One syslog message, RFC 5424 or RFC 3164, into what Vigie stores.
//!
//! Which app: the APP-NAME (RFC 5424) or TAG (RFC 3164), an app slug of the
//! token's org. Which org and whether it may send: an ingest token, in the
//! structured data element `vigie` (or any `vigie@…`) as `token="vgt_…"`,
//! or, for RFC 3164 which has no structured data, as the first word of the
//! message. The same element may set `instance` (else the HOSTNAME is the
//! instance) and `kind` (`service`, the default, or `access`, whose message
//! is then a Combined Log Format line or a JSON object).
//!
//! The severity becomes the level; a message that is a JSON object is read
//! like an NDJSON line (its own `level`, `ts` and fields win); PROCID, MSGID
//! and the other structured data are kept as fields.

use std::collections::BTreeMap;

use chrono::{Datelike, Utc};
use serde_json::Value;
use syslog_loose::{Message, ProcId, SyslogSeverity, Variant};
use vigie_app::model::{AccessLine, Level, LogKind, ServiceLine};

use super::DropReason;
use crate::catalog::secrets::looks_like_token;
use crate::ingest::access::{parse_combined, parse_json_access, Defaults};
use crate::ingest::lines::{parse_json_line, parse_text_line};

/// A message read off the wire, before its token is checked.
#[derive(Debug, PartialEq)]
pub struct SyslogMessage<'a> {
    pub app: &'a str,
    pub token: Option<String>,
    pub record: SyslogRecord,
}

/// The stored form of a message and its time.
#[derive(Debug, PartialEq)]
pub enum SyslogRecord {
    Service(i64, ServiceLine),
    Access(i64, AccessLine),
}

impl SyslogRecord {
    pub fn kind(&self) -> LogKind {
        match self {
            SyslogRecord::Service(..) => LogKind::Service,
            SyslogRecord::Access(..) => LogKind::Access,
        }
    }
}

/// Our structured data element's name: `vigie`, or `vigie@PEN` as RFC 5424
/// asks of private elements.
fn is_ours(id: &str) -> bool {
    id == "vigie" || id.starts_with("vigie@")
}

/// Reads one frame (without its framing); `now_ns` is the time of arrival,
/// used when the message carries no time, and its year completes RFC 3164
/// dates that carry none.
pub fn parse_message(frame: &str, now_ns: i64) -> Result<SyslogMessage<'_>, DropReason> {
    let frame = frame.trim_end_matches(['\n', '\r', '\0']);
    let year = time::OffsetDateTime::from_unix_timestamp_nanos(now_ns as i128)
        .map(|now| now.year())
        .unwrap_or_else(|_| Utc::now().year());
    let message: Message<&str> =
        syslog_loose::parse_message_with_year_exact_tz(frame, |_| year, Some(Utc), Variant::Either)
            .map_err(|_| DropReason::Unparsable)?;
    if message.facility.is_none() {
        // Without a <PRI> this is not syslog but a stray line.
        return Err(DropReason::Unparsable);
    }
    let app = message.appname.filter(|app| !app.is_empty() && *app != "-").ok_or(DropReason::NoApp)?;

    let mut token = None;
    let mut instance = message.hostname.filter(|host| *host != "-").map(str::to_string);
    let mut kind = LogKind::Service;
    let mut fields: BTreeMap<String, Value> = BTreeMap::new();
    for element in &message.structured_data {
        if is_ours(element.id) {
            for (name, value) in element.params() {
                match *name {
                    "token" => token = Some(value),
                    "instance" => instance = Some(value),
                    "kind" => {
                        kind = match LogKind::parse(&value) {
                            Some(kind @ (LogKind::Service | LogKind::Access)) => kind,
                            _ => return Err(DropReason::BadKind),
                        }
                    }
                    other => {
                        fields.insert(other.to_string(), Value::String(value));
                    }
                }
            }
        } else if element.id != "timeQuality" {
            for (name, value) in element.params() {
                fields.insert(format!("{}.{name}", element.id), Value::String(value));
            }
        }
    }

    let mut text = message.msg.trim_start_matches('\u{feff}');
    if token.is_none() {
        let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
        if looks_like_token(first) {
            token = Some(first.to_string());
            text = rest;
        }
    }
    let instance = instance.unwrap_or_else(|| "default".to_string());
    let ts_ns = message.timestamp.and_then(|ts| ts.timestamp_nanos_opt()).unwrap_or(now_ns);
    match &message.procid {
        Some(ProcId::PID(pid)) => fields.insert("procid".into(), Value::from(*pid)),
        Some(ProcId::Name(name)) => fields.insert("procid".into(), Value::String(name.to_string())),
        None => None,
    };
    if let Some(msgid) = message.msgid.filter(|id| *id != "-") {
        fields.insert("msgid".into(), Value::String(msgid.to_string()));
    }

    let record = match kind {
        LogKind::Access => {
            let defaults = Defaults { instance: &instance, host: "", now_ns: ts_ns };
            let parsed = if text.starts_with('{') {
                parse_json_access(text, &defaults)
            } else {
                parse_combined(text, &defaults)
            };
            let (ts_ns, line) = parsed.map_err(|_| DropReason::BadAccessLine)?;
            SyslogRecord::Access(ts_ns, line)
        }
        _ => {
            let level = message.severity.map(level_of);
            let (ts_ns, mut line) = match text.starts_with('{') {
                true => parse_json_line(text, &instance, ts_ns, level)
                    .unwrap_or_else(|_| (ts_ns, text_line(text, &instance, level))),
                false => (ts_ns, text_line(text, &instance, level)),
            };
            for (name, value) in fields {
                line.fields.entry(name).or_insert(value);
            }
            SyslogRecord::Service(ts_ns, line)
        }
    };
    Ok(SyslogMessage { app, token, record })
}

fn text_line(text: &str, instance: &str, level: Option<Level>) -> ServiceLine {
    let mut line = parse_text_line(text, instance);
    if let Some(level) = level {
        line.level = level;
    }
    line
}

fn level_of(severity: SyslogSeverity) -> Level {
    match severity {
        SyslogSeverity::SEV_EMERG | SyslogSeverity::SEV_ALERT | SyslogSeverity::SEV_CRIT => Level::Fatal,
        SyslogSeverity::SEV_ERR => Level::Error,
        SyslogSeverity::SEV_WARNING => Level::Warn,
        SyslogSeverity::SEV_NOTICE | SyslogSeverity::SEV_INFO => Level::Info,
        SyslogSeverity::SEV_DEBUG => Level::Debug,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_525_509_000_000_000; // 2026-11-24T13:05:09Z
    const TOKEN: &str = "vgt_0123456789abcdefghijABCDEFGHIJ0123456789";

    fn service<'a>(message: &'a SyslogMessage<'_>) -> (i64, &'a ServiceLine) {
        match &message.record {
            SyslogRecord::Service(ts_ns, line) => (*ts_ns, line),
            other => panic!("expected a service line, got {other:?}"),
        }
    }

    #[test]
    fn rfc5424_takes_app_token_instance_level_and_time_from_their_fields() {
        let frame = format!(
            "<11>1 2026-11-24T13:05:09.042Z web-2 api 4242 ORD [timeQuality tzKnown=\"1\"][vigie@53595 token=\"{TOKEN}\" region=\"par\"] payment refused\n"
        );
        let message = parse_message(&frame, NOW).unwrap();
        assert_eq!(message.app, "api");
        assert_eq!(message.token.as_deref(), Some(TOKEN));
        let (ts_ns, line) = service(&message);
        assert_eq!(ts_ns, 1_795_525_509_042_000_000);
        assert_eq!(line.instance, "web-2");
        assert_eq!(line.level, Level::Error);
        assert_eq!(line.message, "payment refused");
        assert_eq!(line.fields["procid"], Value::from(4242));
        assert_eq!(line.fields["msgid"], "ORD");
        assert_eq!(line.fields["region"], "par");
        assert!(!line.fields.contains_key("token"), "the token is never stored");
        assert!(!line.fields.keys().any(|key| key.starts_with("timeQuality")));
    }

    #[test]
    fn rfc3164_carries_its_token_as_the_first_word_and_gets_this_year() {
        let frame = format!("<12>Nov 24 13:05:09 worker-0 billing[77]: {TOKEN} disk almost full");
        let message = parse_message(&frame, NOW).unwrap();
        assert_eq!(message.app, "billing");
        assert_eq!(message.token.as_deref(), Some(TOKEN));
        let (ts_ns, line) = service(&message);
        assert_eq!(ts_ns, 1_795_525_509_000_000_000);
        assert_eq!((line.instance.as_str(), line.level), ("worker-0", Level::Warn));
        assert_eq!(line.message, "disk almost full");
    }

    #[test]
    fn a_json_message_is_read_like_an_ndjson_line_with_the_severity_as_default_level() {
        let frame = format!(
            "<13>1 2026-11-24T13:05:09Z web-1 api - - [vigie token=\"{TOKEN}\"] {{\"msg\":\"paid\",\"order\":42}}"
        );
        let message = parse_message(&frame, NOW).unwrap();
        let (_, line) = service(&message);
        assert_eq!((line.message.as_str(), line.level), ("paid", Level::Info));
        assert_eq!(line.fields["order"], 42);
    }

    #[test]
    fn access_kind_reads_a_combined_log_format_message() {
        let frame = format!(
            "<14>1 2026-11-24T13:05:09Z web-1 shop - - [vigie token=\"{TOKEN}\" kind=\"access\"] 203.0.113.9 - - [24/Nov/2026:13:05:09 +0000] \"GET /cart?x=1 HTTP/1.1\" 503 12 \"-\" \"curl/8\" 0.250"
        );
        let message = parse_message(&frame, NOW).unwrap();
        let SyslogRecord::Access(_, line) = &message.record else { panic!("{message:?}") };
        assert_eq!((line.method.as_str(), line.path.as_str(), line.status), ("GET", "/cart", 503));
        assert_eq!(line.instance, "web-1");
    }

    #[test]
    fn what_cannot_be_placed_is_dropped_with_its_reason() {
        assert_eq!(parse_message("just some words", NOW).unwrap_err(), DropReason::Unparsable);
        assert_eq!(parse_message("<13>1 2026-11-24T13:05:09Z host - - - - hello", NOW).unwrap_err(), DropReason::NoApp);
        let bad_kind = format!("<13>1 2026-11-24T13:05:09Z h api - - [vigie token=\"{TOKEN}\" kind=\"metrics\"] x");
        assert_eq!(parse_message(&bad_kind, NOW).unwrap_err(), DropReason::BadKind);
        let bad_access = format!("<13>1 2026-11-24T13:05:09Z h api - - [vigie token=\"{TOKEN}\" kind=\"access\"] x");
        assert_eq!(parse_message(&bad_access, NOW).unwrap_err(), DropReason::BadAccessLine);
        let no_token = parse_message("<13>1 2026-11-24T13:05:09Z h api - - - hello", NOW).unwrap();
        assert_eq!(no_token.token, None);
    }
}
