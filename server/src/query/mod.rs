//! Evaluating the filter syntax (parsed by `vigie_app::query`) against
//! stored records, and reading the time bounds of a query.
//!
//! A record's *text* is every string value in it (the message, the path,
//! the user agent, structured fields, ...): a text term matches when any of
//! them contains it. A field term looks the field up at the top of the
//! record, then among its structured `fields`; a record without the field
//! does not match (and does match the negated term).
//!
//! Speed: a record is parsed only if it may match. Each positive text term
//! whose needle JSON writes unchanged is first looked for in the raw
//! payload bytes, which rejects most records of a rare-word search without
//! parsing them.

pub mod context;
pub mod encode;
pub mod live;
pub mod search;
pub mod stats;
pub mod time_bound;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use memchr::memmem;
use regex::Regex;
use serde_json::Value;
use vigie_app::model::Level;
use vigie_app::query::{Filter, FilterError, Matcher, Op};

/// A filter ready to run over many records.
pub struct CompiledFilter {
    terms: Vec<CompiledTerm>,
}

impl std::fmt::Debug for CompiledFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CompiledFilter({} terms)", self.terms.len())
    }
}

struct CompiledTerm {
    negated: bool,
    matcher: CompiledMatcher,
    /// A necessary condition on the raw payload, for positive text terms.
    prefilter: Option<Prefilter>,
}

enum CompiledMatcher {
    Text(TextNeedle),
    Regex(Regex),
    Field { path: Vec<String>, op: Op, value: String, number: Option<f64>, level: Option<Level> },
}

enum TextNeedle {
    Exact(Box<memmem::Finder<'static>>),
    AnyCase(AhoCorasick),
}

impl TextNeedle {
    fn new(needle: &str, case_sensitive: bool) -> TextNeedle {
        if case_sensitive {
            TextNeedle::Exact(Box::new(memmem::Finder::new(needle.as_bytes()).into_owned()))
        } else {
            let searcher = AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .build([needle])
                .expect("one literal pattern builds");
            TextNeedle::AnyCase(searcher)
        }
    }

    fn is_in(&self, haystack: &[u8]) -> bool {
        match self {
            TextNeedle::Exact(finder) => finder.find(haystack).is_some(),
            TextNeedle::AnyCase(searcher) => searcher.is_match(haystack),
        }
    }
}

type Prefilter = TextNeedle;

impl CompiledFilter {
    /// True when it keeps every record (an empty query).
    pub fn keeps_all(&self) -> bool {
        self.terms.is_empty()
    }

    /// Compiles a parsed filter; a regular expression that does not compile
    /// is reported at its term's position.
    pub fn compile(filter: &Filter) -> Result<CompiledFilter, FilterError> {
        let mut terms = Vec::with_capacity(filter.terms.len());
        for term in &filter.terms {
            let (matcher, prefilter) = match &term.matcher {
                Matcher::Text { needle, case_sensitive } => {
                    // JSON writes these characters escaped, so the raw bytes
                    // cannot be searched for them.
                    let raw_safe = !needle.chars().any(|c| c == '"' || c == '\\' || c.is_control());
                    let prefilter = (raw_safe && !term.negated).then(|| TextNeedle::new(needle, *case_sensitive));
                    (CompiledMatcher::Text(TextNeedle::new(needle, *case_sensitive)), prefilter)
                }
                Matcher::Regex { pattern } => {
                    let regex = Regex::new(pattern).map_err(|error| FilterError {
                        position: term.position,
                        expected: format!("a valid regular expression ({})", last_line(&error.to_string())),
                    })?;
                    (CompiledMatcher::Regex(regex), None)
                }
                Matcher::Field { field, op, value } => {
                    let path = field.split('.').map(str::to_string).collect();
                    let number = value.parse::<f64>().ok();
                    let level = (field == "level").then(|| Level::parse(value)).flatten();
                    if field == "level" && level.is_none() {
                        return Err(FilterError {
                            position: term.position,
                            expected: format!(
                                "a level (trace, debug, info, warn, error, fatal) after \"level{}\"",
                                op.as_str()
                            ),
                        });
                    }
                    (CompiledMatcher::Field { path, op: *op, value: value.clone(), number, level }, None)
                }
            };
            terms.push(CompiledTerm { negated: term.negated, matcher, prefilter });
        }
        Ok(CompiledFilter { terms })
    }

    /// Parses and compiles in one go.
    pub fn parse(text: &str) -> Result<CompiledFilter, FilterError> {
        CompiledFilter::compile(&Filter::parse(text)?)
    }

    pub fn keeps_everything(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether a stored payload (a JSON object) passes every term.
    pub fn matches(&self, payload: &[u8]) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        for term in &self.terms {
            if let Some(prefilter) = &term.prefilter {
                if !prefilter.is_in(payload) {
                    return false;
                }
            }
        }
        let Ok(record) = serde_json::from_slice::<Value>(payload) else { return false };
        self.terms.iter().all(|term| term.matcher.matches(&record) != term.negated)
    }
}

impl CompiledMatcher {
    fn matches(&self, record: &Value) -> bool {
        match self {
            CompiledMatcher::Text(needle) => any_string(record, &mut |text| needle.is_in(text.as_bytes())),
            CompiledMatcher::Regex(regex) => any_string(record, &mut |text| regex.is_match(text)),
            CompiledMatcher::Field { path, op, value, number, level } => {
                let Some(found) = lookup(record, path) else { return false };
                compare(found, *op, value, *number, *level)
            }
        }
    }
}

/// Whether `test` holds for any string value in `value`, keys excluded.
fn any_string(value: &Value, test: &mut impl FnMut(&str) -> bool) -> bool {
    match value {
        Value::String(text) => test(text),
        Value::Array(items) => items.iter().any(|item| any_string(item, test)),
        Value::Object(map) => map.values().any(|item| any_string(item, test)),
        _ => false,
    }
}

/// `a.b` in the record, or among its structured `fields`.
fn lookup<'a>(record: &'a Value, path: &[String]) -> Option<&'a Value> {
    let walk = |mut at: &'a Value| {
        for key in path {
            at = at.get(key)?;
        }
        Some(at)
    };
    walk(record).or_else(|| record.get("fields").and_then(walk))
}

fn compare(found: &Value, op: Op, value: &str, number: Option<f64>, level: Option<Level>) -> bool {
    if let Some(wanted) = level {
        let Some(have) = found.as_str().and_then(Level::parse) else { return false };
        return match op {
            Op::Matches => have == wanted,
            Op::NotEqual => have != wanted,
            Op::Greater => have > wanted,
            Op::GreaterOrEqual => have >= wanted,
            Op::Less => have < wanted,
            Op::LessOrEqual => have <= wanted,
        };
    }
    let have_number = match found {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => text.parse::<f64>().ok(),
        _ => None,
    };
    match op {
        Op::Matches => equals(found, have_number, value, number),
        Op::NotEqual => !equals(found, have_number, value, number),
        ordering => match (have_number, number) {
            (Some(have), Some(wanted)) => match ordering {
                Op::Greater => have > wanted,
                Op::GreaterOrEqual => have >= wanted,
                Op::Less => have < wanted,
                _ => have <= wanted,
            },
            _ => false,
        },
    }
}

/// `:` semantics: numbers by value, `5xx` as a class of numbers, text
/// case-insensitively with `*` wildcards.
fn equals(found: &Value, have_number: Option<f64>, value: &str, number: Option<f64>) -> bool {
    if let (Some(have), Some(wanted)) = (have_number, number) {
        return have == wanted;
    }
    if let (Some(have), Some(class)) = (have_number, status_class(value)) {
        return (have / 100.0).floor() as u32 == class;
    }
    let text = match found {
        Value::String(text) => text.clone(),
        Value::Null => return false,
        other => other.to_string(),
    };
    wildcard_match(&text.to_ascii_lowercase(), &value.to_ascii_lowercase())
}

/// `5xx` → 5.
fn status_class(value: &str) -> Option<u32> {
    let bytes = value.as_bytes();
    (bytes.len() == 3 && bytes[0].is_ascii_digit() && bytes[1..].eq_ignore_ascii_case(b"xx"))
        .then(|| (bytes[0] - b'0') as u32)
}

/// `*` matches any run of characters; everything else is literal.
fn wildcard_match(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return text == pattern;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or(text).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = r#"{"instance":"api-1","level":"warn","message":"upstream Timeout after 30 s","fields":{"order_id":42,"route":"/v1/orders"}}"#;
    const ACCESS: &str = r#"{"instance":"web-0","method":"POST","host":"shop.example","path":"/api/cart/items","status":503,"bytes_sent":120,"duration_ms":1250.5,"client_ip":"90.1.2.3","country":"FR","user_agent":"curl/8.11.0"}"#;

    fn keeps(filter: &str, payload: &str) -> bool {
        CompiledFilter::parse(filter).unwrap().matches(payload.as_bytes())
    }

    #[test]
    fn text_terms_use_smart_case_and_search_every_string_value() {
        assert!(keeps("timeout", SERVICE));
        assert!(!keeps("Timeouts", SERVICE));
        assert!(keeps("Timeout", SERVICE));
        assert!(!keeps("TIMEOUT", SERVICE), "an upper-case needle is exact");
        assert!(keeps("/v1/orders", SERVICE), "structured fields are text too");
        assert!(!keeps("instance", SERVICE), "keys are not text");
        assert!(keeps("\"after 30 s\"", SERVICE));
        assert!(keeps("/Time(out|d out)/", SERVICE));
        assert!(!keeps("/time(out|d out)/", SERVICE), "a regular expression is exact unless it says (?i)");
    }

    #[test]
    fn fields_compare_by_number_level_class_and_wildcard() {
        assert!(keeps("status>=500", ACCESS));
        assert!(keeps("status:5xx", ACCESS));
        assert!(!keeps("status:4xx", ACCESS));
        assert!(keeps("method:post path:/api/*", ACCESS));
        assert!(keeps("path:*/items", ACCESS));
        assert!(!keeps("path:/api/*/users", ACCESS));
        assert!(keeps("country:FR duration_ms>1000", ACCESS));
        assert!(keeps("level>=warn", SERVICE));
        assert!(!keeps("level>=error", SERVICE));
        assert!(keeps("order_id:42 fields.order_id:42", SERVICE), "structured fields by name or path");
        assert!(!keeps("user:bob", SERVICE), "a missing field does not match");
        assert!(keeps("-user:bob", SERVICE), "and matches when negated");
        assert!(keeps("-level:debug -healthz", SERVICE));
        assert!(keeps("status!=200", ACCESS));
    }

    #[test]
    fn compile_errors_point_at_the_term() {
        let error = CompiledFilter::parse("status:5xx /a(b/").unwrap_err();
        assert_eq!(error.position, 11);
        assert!(error.expected.starts_with("a valid regular expression"), "{error}");
        let error = CompiledFilter::parse("level:loud").unwrap_err();
        assert_eq!(error.position, 0);
        assert!(error.expected.contains("trace, debug"), "{error}");
    }

    #[test]
    fn the_raw_prefilter_never_rejects_a_record_that_matches() {
        // Escaped in JSON: searched after parsing, not in the raw bytes.
        let payload = r#"{"message":"she said \"hi\"\nthen left"}"#;
        assert!(keeps("\"said \\\"hi\\\"\"", payload));
        assert!(keeps("left", payload));
    }

    #[test]
    fn wildcards_anchor_at_both_ends() {
        assert!(wildcard_match("/api/cart", "/api/*"));
        assert!(wildcard_match("/api/cart", "*cart"));
        assert!(wildcard_match("abc", "a*b*c"));
        assert!(!wildcard_match("ab", "a*b*c"));
        assert!(!wildcard_match("a", "a*a"));
    }
}
