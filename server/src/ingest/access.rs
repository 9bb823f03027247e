//! HTTP access log lines, as NDJSON or in the Combined Log Format.
//!
//! NDJSON: one object per request. `method`, `path` and `status` are
//! required; `ts` (or `time`, `timestamp`), `host`, `query`, `bytes_sent`
//! (or `bytes`), `duration_ms` (or `duration_s`, `request_time` in
//! seconds), `client_ip` (or `ip`, `remote_addr`), `user_agent` (or `ua`)
//! and `instance` are read when present. A `path` holding `?query` is split.
//!
//! Combined Log Format (Apache's and nginx's default), optionally followed
//! by the request time in seconds (nginx's `$request_time`):
//!
//! ```text
//! 203.0.113.9 - - [24/Nov/2026:13:05:09 +0000] "GET /v1/orders?page=2 HTTP/1.1" 200 512 "-" "curl/8.5" 0.012
//! ```
//!
//! Either way the client's country, city and coordinates are added from
//! the GeoIP database when it knows the address.

use std::net::IpAddr;

use serde_json::Value;
use time::OffsetDateTime;
use vigie_app::model::AccessLine;

use super::geoip::GeoIp;
use super::lines::{json_type, parse_lines, parse_time, take_first, LineFormat, ParsedLines};

/// Access log lines of one request body. `host` and `instance` are used
/// where a line names none; `now_ns` where it carries no time.
pub fn parse_access_body(
    body: &[u8],
    format: LineFormat,
    defaults: &Defaults<'_>,
    geoip: Option<&GeoIp>,
) -> ParsedLines<AccessLine> {
    parse_lines(body, |text| {
        let (ts_ns, mut line) = match format {
            LineFormat::Ndjson => parse_json_access(text, defaults)?,
            LineFormat::Text => parse_combined(text, defaults)?,
        };
        locate(&mut line, geoip);
        Ok((ts_ns, line))
    })
}

pub struct Defaults<'a> {
    pub instance: &'a str,
    pub host: &'a str,
    pub now_ns: i64,
}

/// Fills the line's location from its client address.
pub fn locate(line: &mut AccessLine, geoip: Option<&GeoIp>) {
    let Some(geoip) = geoip else { return };
    let Ok(ip) = line.client_ip.parse::<IpAddr>() else { return };
    if let Some(place) = geoip.locate(ip) {
        line.country = place.country.or(line.country.take());
        line.city = place.city.or(line.city.take());
        line.lat = place.lat.or(line.lat);
        line.lon = place.lon.or(line.lon);
    }
}

pub(crate) fn parse_json_access(text: &str, defaults: &Defaults<'_>) -> Result<(i64, AccessLine), String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("invalid JSON at column {}: {error}", error.column()))?;
    let Value::Object(mut object) = value else {
        return Err("expected a JSON object such as {\"method\": \"GET\", \"path\": \"/\", \"status\": 200}".into());
    };
    let mut string = |keys: &[&str], required: bool| -> Result<Option<String>, String> {
        match take_first(&mut object, keys) {
            None | Some(Value::Null) if required => Err(format!("the object has no \"{}\"", keys[0])),
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(format!("\"{}\" must be a string, not {}", keys[0], json_type(&other))),
        }
    };
    let method = string(&["method", "verb"], true)?.unwrap_or_default();
    let target = string(&["path", "uri", "url"], true)?.unwrap_or_default();
    let query = string(&["query", "query_string"], false)?;
    let host = string(&["host"], false)?.unwrap_or_else(|| defaults.host.to_string());
    let client_ip = string(&["client_ip", "ip", "remote_addr"], false)?.unwrap_or_default();
    let user_agent = string(&["user_agent", "ua", "http_user_agent"], false)?.unwrap_or_default();
    let instance = string(&["instance"], false)?.unwrap_or_else(|| defaults.instance.to_string());
    let mut number = |keys: &[&str]| -> Result<Option<f64>, String> {
        match take_first(&mut object, keys) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(text)) => {
                let number = text.parse::<f64>().ok().filter(|n| n.is_finite());
                number.map(Some).ok_or_else(|| format!("\"{}\" must be a number, not \"{text}\"", keys[0]))
            }
            Some(other) => Err(format!("\"{}\" must be a number, not {}", keys[0], json_type(&other))),
        }
    };
    let status = number(&["status", "status_code"])?.ok_or("the object has no \"status\"")?;
    let bytes_sent = number(&["bytes_sent", "bytes", "body_bytes_sent", "size"])?.unwrap_or(0.0);
    let duration_ms = match number(&["duration_ms"])? {
        Some(ms) => ms,
        None => number(&["duration_s", "request_time"])?.map_or(0.0, |seconds| seconds * 1000.0),
    };
    let ts_ns = match take_first(&mut object, &["ts", "time", "timestamp"]) {
        None => defaults.now_ns,
        Some(value) => parse_time(&value)?,
    };
    let (path, query) = split_target(&target, query);
    Ok((
        ts_ns,
        AccessLine {
            instance,
            method,
            host,
            path,
            query,
            status: check_status(status)?,
            bytes_sent: bytes_sent.max(0.0) as u64,
            duration_ms: check_duration(duration_ms)?,
            client_ip,
            country: None,
            city: None,
            lat: None,
            lon: None,
            user_agent,
        },
    ))
}

fn check_status(status: f64) -> Result<u16, String> {
    if (100.0..=599.0).contains(&status) && status.fract() == 0.0 {
        Ok(status as u16)
    } else {
        Err(format!("\"status\" {status} is not an HTTP status (100 to 599)"))
    }
}

/// JSON, the stored form, has no infinity or NaN: such a duration would be
/// stored as `null` and the line could not be read back.
fn check_duration(duration_ms: f64) -> Result<f64, String> {
    if duration_ms.is_finite() {
        Ok(duration_ms)
    } else {
        Err(format!("the request time {duration_ms} ms is not a finite number"))
    }
}

fn split_target(target: &str, query: Option<String>) -> (String, String) {
    match (target.split_once('?'), query) {
        (_, Some(query)) => (target.split('?').next().unwrap_or_default().to_string(), query),
        (Some((path, query)), None) => (path.to_string(), query.to_string()),
        (None, None) => (target.to_string(), String::new()),
    }
}

/// One Combined Log Format line (or Common, without referer and agent).
pub(crate) fn parse_combined(text: &str, defaults: &Defaults<'_>) -> Result<(i64, AccessLine), String> {
    const EXAMPLE: &str = "expected the Combined Log Format: IP - USER [TIME] \"METHOD PATH PROTOCOL\" STATUS BYTES \"REFERER\" \"AGENT\"";
    let mut rest = text.trim();
    let word = |rest: &mut &str| -> Option<String> {
        let trimmed = rest.trim_start();
        let (token, after) = if let Some(quoted) = trimmed.strip_prefix('"') {
            let end = closing_quote(quoted)?;
            (unescape(&quoted[..end]), &quoted[end + 1..])
        } else if let Some(bracketed) = trimmed.strip_prefix('[') {
            let end = bracketed.find(']')?;
            (bracketed[..end].to_string(), &bracketed[end + 1..])
        } else {
            let end = trimmed.find(' ').unwrap_or(trimmed.len());
            (trimmed[..end].to_string(), &trimmed[end..])
        };
        *rest = after;
        (!trimmed.is_empty()).then_some(token)
    };
    let client_ip = word(&mut rest).ok_or(EXAMPLE)?;
    let _identity = word(&mut rest).ok_or(EXAMPLE)?;
    let _user = word(&mut rest).ok_or(EXAMPLE)?;
    let time = word(&mut rest).ok_or(EXAMPLE)?;
    let request = word(&mut rest).ok_or(EXAMPLE)?;
    let status = word(&mut rest).ok_or(EXAMPLE)?;
    let bytes = word(&mut rest).ok_or(EXAMPLE)?;
    let _referer = word(&mut rest);
    let user_agent = word(&mut rest).unwrap_or_default();
    let request_time = word(&mut rest);

    let ts_ns = parse_clf_time(&time)?;
    let mut parts = request.split(' ');
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(method), Some(target)) if !method.is_empty() => (method.to_string(), target),
        _ => return Err(format!("the request \"{request}\" is not \"METHOD PATH PROTOCOL\"")),
    };
    let status: f64 = status.parse().map_err(|_| format!("the status \"{status}\" is not a number"))?;
    let bytes_sent =
        if bytes == "-" { 0 } else { bytes.parse().map_err(|_| format!("the size \"{bytes}\" is not a number"))? };
    let duration_ms = match request_time {
        None => 0.0,
        Some(seconds) => {
            seconds.parse::<f64>().map_err(|_| format!("the request time \"{seconds}\" is not a number of seconds"))?
                * 1000.0
        }
    };
    let (path, query) = split_target(target, None);
    Ok((
        ts_ns,
        AccessLine {
            instance: defaults.instance.to_string(),
            method,
            host: defaults.host.to_string(),
            path,
            query,
            status: check_status(status)?,
            bytes_sent,
            duration_ms: check_duration(duration_ms)?,
            client_ip,
            country: None,
            city: None,
            lat: None,
            lon: None,
            user_agent: if user_agent == "-" { String::new() } else { user_agent },
        },
    ))
}

/// A quoted field's text: `\"` and `\\` are the quote and the backslash
/// they escape (Apache's escaping); any other backslash is kept as it is.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(escaped @ ('"' | '\\'))) => {
                out.push(escaped);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

fn closing_quote(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn parse_clf_time(text: &str) -> Result<i64, String> {
    let format = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
    );
    let time = OffsetDateTime::parse(text, &format)
        .map_err(|_| format!("the time \"{text}\" is not like 24/Nov/2026:13:05:09 +0000"))?;
    // Nanoseconds since the epoch in an i64 reach from 1677 to 2262.
    i64::try_from(time.unix_timestamp_nanos())
        .map_err(|_| format!("the time \"{text}\" is outside the years 1677 to 2262"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: Defaults<'static> = Defaults { instance: "web-1", host: "shop.example", now_ns: 7 };

    #[test]
    fn combined_log_format_reads_every_field_and_the_request_time() {
        let body = br#"203.0.113.9 - frank [24/Nov/2026:13:05:09 +0100] "GET /v1/orders?page=2 HTTP/1.1" 502 512 "https://shop.example/" "Mozilla/5.0 (X11; \"quoted\")" 0.250"#;
        let parsed = parse_access_body(body, LineFormat::Text, &DEFAULTS, None);
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        let (ts_ns, line) = &parsed.accepted[0];
        assert_eq!(*ts_ns, 1_795_521_909_000_000_000);
        assert_eq!((line.method.as_str(), line.path.as_str(), line.query.as_str()), ("GET", "/v1/orders", "page=2"));
        assert_eq!((line.status, line.bytes_sent, line.duration_ms), (502, 512, 250.0));
        assert_eq!(line.client_ip, "203.0.113.9");
        assert_eq!(line.user_agent, "Mozilla/5.0 (X11; \"quoted\")");
        assert_eq!((line.host.as_str(), line.instance.as_str()), ("shop.example", "web-1"));
    }

    #[test]
    fn common_log_format_and_dashes_are_read() {
        let body = b"::1 - - [01/Jan/2026:00:00:00 +0000] \"HEAD / HTTP/1.0\" 304 -";
        let parsed = parse_access_body(body, LineFormat::Text, &DEFAULTS, None);
        let (_, line) = &parsed.accepted[0];
        assert_eq!((line.status, line.bytes_sent, line.user_agent.as_str()), (304, 0, ""));
    }

    #[test]
    fn bad_lines_say_which_field_is_wrong() {
        let body = b"1.2.3.4 - - [yesterday] \"GET / HTTP/1.1\" 200 1\n1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] \"GET\" 200 1\n1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 999 1\nnonsense";
        let parsed = parse_access_body(body, LineFormat::Text, &DEFAULTS, None);
        assert!(parsed.accepted.is_empty());
        let errors: Vec<&str> = parsed.rejected.iter().map(|r| r.error.as_str()).collect();
        assert!(errors[0].contains("the time \"yesterday\""), "{errors:?}");
        assert!(errors[1].contains("METHOD PATH PROTOCOL"), "{errors:?}");
        assert!(errors[2].contains("999 is not an HTTP status"), "{errors:?}");
        assert!(errors[3].contains("Combined Log Format"), "{errors:?}");
    }

    #[test]
    fn ndjson_reads_aliases_splits_the_query_and_converts_seconds() {
        let body = br#"{"ts":1795525509,"verb":"POST","url":"/pay?x=1","status":"201","bytes":10,"request_time":0.5,"remote_addr":"198.51.100.4","ua":"k6"}
{"method":"GET","status":200}"#;
        let parsed = parse_access_body(body, LineFormat::Ndjson, &DEFAULTS, None);
        let (ts_ns, line) = &parsed.accepted[0];
        assert_eq!(*ts_ns, 1_795_525_509_000_000_000);
        assert_eq!((line.method.as_str(), line.path.as_str(), line.query.as_str()), ("POST", "/pay", "x=1"));
        assert_eq!((line.status, line.bytes_sent, line.duration_ms), (201, 10, 500.0));
        assert_eq!((line.client_ip.as_str(), line.user_agent.as_str()), ("198.51.100.4", "k6"));
        assert_eq!(parsed.rejected[0].line, 2);
        assert!(parsed.rejected[0].error.contains("no \"path\""));
    }

    #[test]
    fn an_escaped_backslash_in_a_quoted_field_is_one_backslash() {
        // Found by tests/parsers_arbitrary_input.rs: Apache writes a user
        // agent `\` as `"\\"`, which was read as two backslashes.
        let body = br#"0.0.0.0 - - [01/Jan/1970:00:00:00 +0000] "A / HTTP/1.1" 100 - "-" "\\""#;
        let parsed = parse_access_body(body, LineFormat::Text, &DEFAULTS, None);
        assert_eq!(parsed.accepted[0].1.user_agent, "\\");
        let body = br#"::1 - - [01/Jan/1970:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "a\"b\\\"c\d""#;
        let parsed = parse_access_body(body, LineFormat::Text, &DEFAULTS, None);
        assert_eq!(parsed.accepted[0].1.user_agent, r#"a"b\"c\d"#);
    }

    #[test]
    fn a_time_outside_what_nanoseconds_hold_is_refused_not_wrapped() {
        // Found by tests/parsers_arbitrary_input.rs.
        let body = b"::1 - - [01/Jan/2300:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1";
        let parsed = parse_access_body(body, LineFormat::Text, &DEFAULTS, None);
        assert!(parsed.rejected[0].error.contains("outside the years 1677 to 2262"), "{:?}", parsed.rejected);
    }

    #[test]
    fn an_infinite_or_nan_request_time_is_refused_not_stored_unreadable() {
        // Found by tests/parsers_arbitrary_input.rs: `inf` was accepted and
        // stored as `"duration_ms":null`, which no reader could parse.
        let body = "0.0.0.0 - - [01/Jan/1970:00:00:00 +0000] \"A / HTTP/1.1\" 100 - \"-\" \"Aaéaaé\"inf\n\
            {\"method\":\"GET\",\"path\":\"/\",\"status\":200,\"duration_ms\":\"NaN\"}\n\
            {\"method\":\"GET\",\"path\":\"/\",\"status\":200,\"duration_s\":1e308}";
        let combined = parse_access_body(body.as_bytes(), LineFormat::Text, &DEFAULTS, None);
        assert!(combined.rejected[0].error.contains("request time inf ms is not a finite number"), "{combined:?}");
        let json = parse_access_body(body.as_bytes(), LineFormat::Ndjson, &DEFAULTS, None);
        let errors: Vec<&str> = json.rejected.iter().map(|r| r.error.as_str()).collect();
        assert!(errors[1].contains("\"duration_ms\" must be a number, not \"NaN\""), "{errors:?}");
        assert!(errors[2].contains("not a finite number"), "{errors:?}");
    }
}
