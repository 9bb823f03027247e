//! Records as the Logs API writes them: a JSON object per record (its
//! payload with `offset` and `ts_ns` first, written without re-parsing),
//! arrays of them and of gaps, and one line of text as people read it.
//! The API, the live streams, downloads and the CLI all write records
//! through these.

use crate::store::{Gap, StoredRecord};

/// One record as a human reads it: time (UTC), then the instance with the
/// level and message of a service line or the request of an access line,
/// or who did what of an audit record.
pub fn record_text(record: &StoredRecord) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(record.ts_ns as i128)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| record.ts_ns.to_string());
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&record.payload) else {
        return format!("{time} {}", record.payload);
    };
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let instance = text("instance");
    if value.get("action").is_some() {
        return format!("{time} {} {} {} from {}", text("actor"), text("action"), text("target"), text("ip"));
    }
    if value.get("status").is_some() {
        format!(
            "{time} {instance} {} {}{} {} {}ms {} {}",
            text("method"),
            text("path"),
            value
                .get("query")
                .and_then(|q| q.as_str())
                .filter(|q| !q.is_empty())
                .map(|q| format!("?{q}"))
                .unwrap_or_default(),
            value["status"],
            value.get("duration_ms").map(|d| d.to_string()).unwrap_or_default(),
            text("client_ip"),
            text("country"),
        )
    } else {
        format!("{time} {instance} {} {}", text("level").to_uppercase(), text("message"))
    }
}

/// The stretches of offsets a read could not return, and why, as JSON.
pub fn gaps_value(gaps: &[Gap]) -> serde_json::Value {
    let gaps: Vec<serde_json::Value> = gaps
        .iter()
        .map(|gap| {
            serde_json::json!({
                "from_offset": gap.offsets.start,
                "to_offset": gap.offsets.end,
                "reason": gap.reason.as_str(),
            })
        })
        .collect();
    serde_json::Value::Array(gaps)
}

/// [`gaps_value`] written as text.
pub fn gaps_json(gaps: &[Gap]) -> String {
    gaps_value(gaps).to_string()
}

/// A JSON array of records, each its payload object with `offset` and
/// `ts_ns` first, written without re-parsing the payloads.
pub fn records_json(records: &[StoredRecord]) -> String {
    let mut out = String::with_capacity(2 + records.iter().map(|r| r.payload.len() + 40).sum::<usize>());
    out.push('[');
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&record_json(record));
    }
    out.push(']');
    out
}

pub fn record_json(record: &StoredRecord) -> String {
    let head = format!("{{\"offset\":{},\"ts_ns\":{}", record.offset, record.ts_ns);
    let inner = record.payload.trim().strip_prefix('{').and_then(|rest| rest.strip_suffix('}')).map(str::trim);
    match inner {
        Some("") => format!("{head}}}"),
        Some(fields) => format!("{head},{fields}}}"),
        // Not an object: keep it whole rather than lose it.
        None => format!("{head},\"payload\":{}}}", record.payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: &str) -> StoredRecord {
        StoredRecord { offset: 3, ts_ns: 9, payload: payload.into() }
    }

    #[test]
    fn record_json_puts_offset_and_time_before_the_payload_fields() {
        let json: serde_json::Value = serde_json::from_str(&records_json(&[
            record(r#"{"message":"a","level":"info"}"#),
            record("{ }"),
            record("[1]"),
        ]))
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"offset": 3, "ts_ns": 9, "message": "a", "level": "info"},
                {"offset": 3, "ts_ns": 9},
                {"offset": 3, "ts_ns": 9, "payload": [1]},
            ])
        );
    }
}
