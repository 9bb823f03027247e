//! Service log lines sent as NDJSON or as plain text.
//!
//! NDJSON: one JSON object per line. `message` (or `msg`, `log`) is the
//! text and is required; `level` (or `severity`, `lvl`), `instance`, and
//! `ts` (or `time`, `timestamp`: RFC 3339, or a number of seconds,
//! milliseconds or nanoseconds since the epoch) are read when present;
//! every other key is kept as a structured field.
//!
//! Plain text: each line is a message; a leading level word (`ERROR`,
//! `[warn]`, `level=info`) sets its level.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use vigie_app::model::{Level, ServiceLine};

/// Longest line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A line that was not stored, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RejectedLine {
    /// 1-based line number in the request body.
    pub line: usize,
    pub error: String,
}

/// What a request body turned into.
#[derive(Debug, PartialEq)]
pub struct ParsedLines<T> {
    /// `(ts_ns, line)` in the order they were sent.
    pub accepted: Vec<(i64, T)>,
    pub rejected: Vec<RejectedLine>,
}

/// Which wire format the body is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFormat {
    Ndjson,
    Text,
}

/// Splits `body` into lines and parses each with `parse`, which gets the
/// line's text and returns its time and record or what was wrong. Blank
/// lines are skipped; an oversized or non-UTF-8 line is rejected alone.
pub fn parse_lines<T>(body: &[u8], mut parse: impl FnMut(&str) -> Result<(i64, T), String>) -> ParsedLines<T> {
    let mut parsed = ParsedLines { accepted: Vec::new(), rejected: Vec::new() };
    for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let result = if raw.len() > MAX_LINE_BYTES {
            Err(format!(
                "the line is {} bytes; the limit is {MAX_LINE_BYTES}: split it or send it as several lines",
                raw.len()
            ))
        } else {
            match std::str::from_utf8(raw) {
                Err(error) => Err(format!("the line is not valid UTF-8 (invalid byte at {})", error.valid_up_to())),
                Ok(text) => parse(text),
            }
        };
        match result {
            Ok(line) => parsed.accepted.push(line),
            Err(error) => parsed.rejected.push(RejectedLine { line: index + 1, error }),
        }
    }
    parsed
}

/// Service lines in their stored form, the JSON text of a `ServiceLine`:
/// what ingest appends. `instance` is used where a line names none,
/// `now_ns` where it carries no time. NDJSON lines take the direct path of
/// `stored_json` when they can.
pub fn parse_body_stored(body: &[u8], format: LineFormat, instance: &str, now_ns: i64) -> ParsedLines<String> {
    let stored = |(ts_ns, line): (i64, ServiceLine)| (ts_ns, serde_json::to_string(&line).expect("a line serialises"));
    parse_lines(body, |text| match format {
        LineFormat::Ndjson => match super::stored_json::service_payload(text, instance, now_ns, None) {
            Some(direct) => Ok(direct),
            None => parse_json_line(text, instance, now_ns, None).map(stored),
        },
        LineFormat::Text => Ok(stored((now_ns, parse_text_line(text, instance)))),
    })
}

/// One NDJSON service line; `level` is used when the object names none
/// (else the level is guessed from the message).
pub fn parse_json_line(
    text: &str,
    instance: &str,
    now_ns: i64,
    level: Option<Level>,
) -> Result<(i64, ServiceLine), String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("invalid JSON at column {}: {error}", error.column()))?;
    let Value::Object(mut object) = value else {
        return Err("expected a JSON object such as {\"message\": \"...\"}".to_string());
    };
    let message = match take_first(&mut object, &["message", "msg", "log"]) {
        Some(Value::String(message)) => message,
        Some(other) => return Err(format!("\"message\" must be a string, not {}", json_type(&other))),
        None => return Err("the object has no \"message\" (or \"msg\") string".to_string()),
    };
    let level = match take_first(&mut object, &["level", "severity", "lvl"]) {
        None => level.or_else(|| guess_level(&message)).unwrap_or_default(),
        Some(Value::String(text)) => Level::parse(&text)
            .ok_or_else(|| format!("unknown level \"{text}\": use trace, debug, info, warn, error or fatal"))?,
        Some(other) => return Err(format!("\"level\" must be a string, not {}", json_type(&other))),
    };
    let instance = match object.remove("instance") {
        None => instance.to_string(),
        Some(Value::String(name)) => name,
        Some(other) => return Err(format!("\"instance\" must be a string, not {}", json_type(&other))),
    };
    let ts_ns = match take_first(&mut object, &["ts", "time", "timestamp"]) {
        None => now_ns,
        Some(value) => parse_time(&value)?,
    };
    let fields: BTreeMap<String, Value> = object.into_iter().collect();
    Ok((ts_ns, ServiceLine { instance, level, message, fields }))
}

pub(crate) fn parse_text_line(text: &str, instance: &str) -> ServiceLine {
    ServiceLine {
        instance: instance.to_string(),
        level: guess_level(text).unwrap_or_default(),
        message: text.to_string(),
        fields: BTreeMap::new(),
    }
}

/// Reads a level from the first word of a message: `ERROR ...`,
/// `[warn] ...`, `level=info ...`, `E0312 ...` is not one.
pub(crate) fn guess_level(message: &str) -> Option<Level> {
    let first = message.split_whitespace().next()?;
    let word = first.strip_prefix("level=").unwrap_or(first);
    let word = word.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | ':' | '<' | '>'));
    Level::parse(word)
}

pub(crate) fn take_first(object: &mut Map<String, Value>, keys: &[&str]) -> Option<Value> {
    keys.iter().find_map(|key| object.remove(*key))
}

pub(crate) fn parse_time(value: &Value) -> Result<i64, String> {
    match value {
        Value::String(text) => {
            let time = OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|_| format!("\"ts\" \"{text}\" is not an RFC 3339 time such as 2026-11-24T13:05:09.042Z"))?;
            i64::try_from(time.unix_timestamp_nanos()).map_err(|_| out_of_range(value))
        }
        Value::Number(number) => {
            // Seconds, milliseconds or nanoseconds, told apart by size;
            // whole numbers exactly (an f64 would round nanoseconds).
            let ts_ns = match number.as_i64() {
                Some(n) if n < 100_000_000_000 => n.checked_mul(1_000_000_000),
                Some(n) if n < 100_000_000_000_000 => n.checked_mul(1_000_000),
                Some(n) => Some(n),
                None => {
                    let n = number.as_f64().unwrap_or_default();
                    let ts_ns = if n < 1e11 {
                        n * 1e9
                    } else if n < 1e14 {
                        n * 1e6
                    } else {
                        n
                    };
                    // `as` would saturate: 2^63 ns is past what i64 holds.
                    (-(2f64.powi(63))..2f64.powi(63)).contains(&ts_ns).then_some(ts_ns as i64)
                }
            };
            ts_ns.ok_or_else(|| out_of_range(value))
        }
        other => Err(format!("\"ts\" must be an RFC 3339 string or a number, not {}", json_type(other))),
    }
}

/// Nanoseconds since the epoch in an i64 reach from 1677 to 2262.
fn out_of_range(ts: &Value) -> String {
    format!("\"ts\" {ts} is outside the years 1677 to 2262")
}

pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_525_509_000_000_000;

    /// What ingest stores for `body`, read back as lines.
    fn parse_body(body: &[u8], format: LineFormat, instance: &str, now_ns: i64) -> ParsedLines<ServiceLine> {
        let stored = parse_body_stored(body, format, instance, now_ns);
        let accepted = stored
            .accepted
            .into_iter()
            .map(|(ts_ns, payload)| (ts_ns, serde_json::from_str(&payload).expect("stored lines are service lines")))
            .collect();
        ParsedLines { accepted, rejected: stored.rejected }
    }

    #[test]
    fn ndjson_reads_known_keys_and_keeps_the_rest_as_fields() {
        let body = br#"{"msg":"paid","level":"WARNING","instance":"web-2","ts":"2026-11-24T13:05:09.042Z","order":42}"#;
        let parsed = parse_body(body, LineFormat::Ndjson, "default", NOW);
        assert!(parsed.rejected.is_empty());
        let (ts_ns, line) = &parsed.accepted[0];
        assert_eq!(*ts_ns, 1_795_525_509_042_000_000);
        assert_eq!(line.message, "paid");
        assert_eq!(line.level, Level::Warn);
        assert_eq!(line.instance, "web-2");
        assert_eq!(line.fields.get("order"), Some(&serde_json::json!(42)));
    }

    #[test]
    fn a_bad_line_is_reported_by_number_and_its_neighbours_are_kept() {
        let body = b"{\"message\":\"one\"}\n{not json\n\n[1,2]\n{\"message\":\"five\",\"ts\":1795525509}\n";
        let parsed = parse_body(body, LineFormat::Ndjson, "web-1", NOW);
        let messages: Vec<_> = parsed.accepted.iter().map(|(_, l)| l.message.as_str()).collect();
        assert_eq!(messages, ["one", "five"]);
        assert_eq!(parsed.accepted[1].0, 1_795_525_509_000_000_000);
        assert_eq!(parsed.rejected.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4]);
        assert!(parsed.rejected[0].error.starts_with("invalid JSON at column 2"), "{}", parsed.rejected[0].error);
        assert!(parsed.rejected[1].error.contains("expected a JSON object"));
    }

    #[test]
    fn ndjson_without_a_message_or_with_a_bad_level_says_what_to_fix() {
        let body = b"{\"text\":\"x\"}\n{\"message\":\"y\",\"level\":\"loud\"}";
        let parsed = parse_body(body, LineFormat::Ndjson, "web-1", NOW);
        assert!(parsed.accepted.is_empty());
        assert!(parsed.rejected[0].error.contains("no \"message\""));
        assert!(parsed.rejected[1].error.contains("unknown level \"loud\""));
    }

    #[test]
    fn text_lines_get_a_level_from_their_first_word_and_the_time_of_arrival() {
        let body = b"ERROR db timeout\r\n[warn] retrying\nlevel=debug cache miss\nplain words\n";
        let parsed = parse_body(body, LineFormat::Text, "worker-0", NOW);
        let levels: Vec<_> = parsed.accepted.iter().map(|(_, l)| l.level).collect();
        assert_eq!(levels, [Level::Error, Level::Warn, Level::Debug, Level::Info]);
        assert!(parsed.accepted.iter().all(|(ts, l)| *ts == NOW && l.instance == "worker-0"));
        assert_eq!(parsed.accepted[0].1.message, "ERROR db timeout");
    }

    #[test]
    fn an_oversized_or_non_utf8_line_is_rejected_alone() {
        let mut body = vec![b'a'; MAX_LINE_BYTES + 1];
        body.extend_from_slice(b"\nok\n\xff\xfe\n");
        let parsed = parse_body(&body, LineFormat::Text, "w", NOW);
        assert_eq!(parsed.accepted.len(), 1);
        assert_eq!(parsed.rejected.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 3]);
        assert!(parsed.rejected[0].error.contains("the limit is 65536"));
        assert!(parsed.rejected[1].error.contains("not valid UTF-8"));
    }

    #[test]
    fn times_are_exact_to_the_nanosecond_or_refused_when_out_of_range() {
        // Found by tests/parsers_arbitrary_input.rs: whole nanoseconds went
        // through an f64 (rounded to 256 ns), and times past 2262 wrapped
        // or saturated.
        let ts = |text: &str| parse_json_line(text, "w", NOW, None).map(|(ts_ns, _)| ts_ns);
        assert_eq!(ts(r#"{"msg":"x","ts":1795525509042123457}"#), Ok(1_795_525_509_042_123_457));
        assert_eq!(ts(r#"{"msg":"x","ts":1795525509042}"#), Ok(1_795_525_509_042_000_000));
        assert_eq!(ts(r#"{"msg":"x","ts":-5}"#), Ok(-5_000_000_000));
        assert_eq!(ts(r#"{"msg":"x","ts":1795525509.5}"#), Ok(1_795_525_509_500_000_000));
        for out_of_range in
            ["\"2300-01-01T00:00:00Z\"", "99999999999", "99999999999999", "1e300", "18446744073709551615"]
        {
            let error = ts(&format!(r#"{{"msg":"x","ts":{out_of_range}}}"#)).unwrap_err();
            assert!(error.contains("outside the years 1677 to 2262"), "{out_of_range}: {error}");
        }
    }

    #[test]
    fn a_stored_number_reads_back_as_the_very_same_number() {
        // Found by tests/parsers_arbitrary_input.rs: serde_json's default
        // float parser read this back one unit in the last place off, so
        // the stored line and what readers saw differed.
        let stored =
            r#"{"instance":"web-1","level":"info","message":"","fields":{"method":[[-3.7204562584574777e+74]]}}"#;
        let line: ServiceLine = serde_json::from_str(stored).unwrap();
        assert_eq!(serde_json::to_string(&line).unwrap(), stored);
    }
}
