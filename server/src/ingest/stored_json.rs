//! NDJSON service lines written straight to their stored form.
//!
//! The general path (`lines::parse_json_line`) reads a line into a JSON
//! tree, takes the known keys out and serialises a `ServiceLine`: two
//! allocations per value. Here the line's values are borrowed as raw text
//! and copied when they are already written as serde_json would write them
//! (strings without escapes, `true`, `false`, `null`); only the rest is
//! parsed and rewritten. The output is byte for byte what the general path
//! stores (a test holds them equal), so readers and searches see one form.
//! Anything unusual (escaped keys, a bad value) returns `None` and the
//! general path handles it, with its error messages.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use vigie_app::model::Level;

use super::lines::{guess_level, parse_time};

/// A JSON object's members, borrowed; a repeated key keeps its last value,
/// as serde_json's own map does.
struct RawObject<'a>(BTreeMap<&'a str, &'a RawValue>);

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = RawObject<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject<'de>, A::Error> {
                let mut members = BTreeMap::new();
                while let Some(key) = map.next_key::<&'de str>()? {
                    members.insert(key, map.next_value::<&'de RawValue>()?);
                }
                Ok(RawObject(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// The stored JSON of one NDJSON service line and its time, or `None` to
/// leave the line to the general path.
pub fn service_payload(text: &str, instance: &str, now_ns: i64, level: Option<Level>) -> Option<(i64, String)> {
    let RawObject(mut members) = serde_json::from_str(text).ok()?;
    let mut take_first = |keys: &[&'static str]| keys.iter().find_map(|key| members.remove(*key));
    let message = string(take_first(&["message", "msg", "log"])?)?;
    let level = match take_first(&["level", "severity", "lvl"]) {
        None => level.or_else(|| guess_level(&message)).unwrap_or_default(),
        Some(raw) => Level::parse(&string(raw)?)?,
    };
    let ts_ns = match take_first(&["ts", "time", "timestamp"]) {
        None => now_ns,
        Some(raw) => parse_time(&serde_json::from_str(raw.get()).ok()?).ok()?,
    };
    let instance = match members.remove("instance") {
        None => Cow::Borrowed(instance),
        Some(raw) => string(raw)?,
    };

    let mut out = String::with_capacity(text.len() + 48);
    out.push_str("{\"instance\":");
    push_string(&mut out, &instance);
    out.push_str(",\"level\":\"");
    out.push_str(level.as_str());
    out.push_str("\",\"message\":");
    push_string(&mut out, &message);
    if !members.is_empty() {
        out.push_str(",\"fields\":{");
        for (i, (key, raw)) in members.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // A key borrowed whole has no escapes, so it has nothing to escape.
            out.push('"');
            out.push_str(key);
            out.push_str("\":");
            push_value(&mut out, raw)?;
        }
        out.push('}');
    }
    out.push('}');
    Some((ts_ns, out))
}

/// A JSON string's text: borrowed when it has no escapes.
fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

fn push_string(out: &mut String, text: &str) {
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&serde_json::to_string(text).expect("a string serialises"));
    } else {
        out.push('"');
        out.push_str(text);
        out.push('"');
    }
}

/// Copies a value already in serde_json's own form; rewrites the others
/// (numbers, escaped strings, arrays and objects) through a JSON tree.
fn push_value(out: &mut String, raw: &RawValue) -> Option<()> {
    let text = raw.get();
    let canonical = matches!(text, "true" | "false" | "null") || (text.starts_with('"') && !text.contains('\\'));
    if canonical {
        out.push_str(text);
    } else {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        out.push_str(&value.to_string());
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::lines::parse_json_line;

    const NOW: i64 = 1_795_525_509_000_000_000;

    /// What the general path stores for the same line.
    fn general(text: &str) -> Option<(i64, String)> {
        parse_json_line(text, "web-1", NOW, None).ok().map(|(ts, line)| (ts, serde_json::to_string(&line).unwrap()))
    }

    #[test]
    fn the_stored_form_is_byte_for_byte_the_general_paths() {
        let lines = [
            r#"{"message":"plain","level":"warn"}"#,
            r#"{"msg":"ERROR guessed from the message","order":42,"amount":1.50,"big":1e3}"#,
            r#"{"message":"both","msg":"kept as a field","log":"too"}"#,
            r#"{"message":"dup","k":1,"k":2}"#,
            r#"{"message":"esc \"quoted\" \u00e9\n","level":"INFO","path":"C:\\tmp","ts":"2026-11-24T13:05:09.042Z"}"#,
            r#"{"message":"unicode é 漢字","nested":{"z":1,"a":[true,null,{"y":"x","b":2}]},"ok":true,"none":null}"#,
            r#"{ "message" : "spaced" , "instance" : "api-3" , "ts" : 1795525509 }"#,
            r#"{"message":"tab	inside"}"#,
            r#"{"message":"x","severity":"critical","lvl":"debug"}"#,
        ];
        for line in lines {
            let fast = service_payload(line, "web-1", NOW, None);
            assert_eq!(fast, general(line), "{line}");
        }
    }

    #[test]
    fn what_it_cannot_take_is_left_to_the_general_path() {
        for line in [
            r#"{"mes\u0073age":"escaped key"}"#,
            r#"{"message":42}"#,
            r#"{"message":"x","level":"loud"}"#,
            r#"{"message":"x","ts":"yesterday"}"#,
            r#"[1,2]"#,
            r#"{"message":"x""#,
        ] {
            assert_eq!(service_payload(line, "web-1", NOW, None), None, "{line}");
        }
    }
}
