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
//! parsing them. Before that, whole frames are skipped unread when their
//! token index (see `store::index`) lacks a token or trigram that every
//! matching record must hold: [`CompiledFilter::required`] derives those
//! from the terms where it is certain, and from no other.

pub mod context;
pub mod encode;
pub mod live;
pub mod search;
pub mod stats;
pub mod time_bound;

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use memchr::memmem;
use regex::Regex;
use serde_json::Value;
use vigie_app::model::Level;
use vigie_app::query::{Filter, FilterError, Matcher, Op};

use crate::store::columns::ColumnsSection;
use crate::store::frame::{FrameError, FrameMeta};
use crate::store::index::{is_word, Required};

/// A filter ready to run over many records.
pub struct CompiledFilter {
    terms: Vec<CompiledTerm>,
    /// What every record that passes holds, for skipping frames.
    required: Required,
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
        let mut required = Required::none();
        for term in &filter.terms {
            if !term.negated {
                require(&mut required, &term.matcher);
            }
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
        Ok(CompiledFilter { terms, required })
    }

    /// The tokens and trigrams every record that passes holds: a frame
    /// whose token index lacks one is skipped unread.
    pub fn required(&self) -> &Required {
        &self.required
    }

    /// The same filter, reading every frame (no skipping by token index):
    /// what a query gave before the index existed, to compare with.
    pub fn without_index(mut self) -> CompiledFilter {
        self.required = Required::none();
        self
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

/// A filter read against a frame's columns: for each term, its column
/// and whether each of the column's values passes it.
pub struct ColumnFilter {
    /// (column name, passes by id; id 0 is never decided).
    terms: Vec<(String, Vec<bool>)>,
}

/// What the columns say of one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passes,
    Fails,
    /// Only the record itself can say (a field absent at its top level,
    /// where the filter also looks among its `fields`, or not a scalar).
    AskTheRecord,
}

impl CompiledFilter {
    /// The names of the top-level fields this filter reads, if it reads
    /// nothing else (only `field:value` terms on single names): then
    /// columns can decide it.
    pub fn column_names(&self) -> Option<Vec<&str>> {
        self.terms
            .iter()
            .map(|term| match &term.matcher {
                CompiledMatcher::Field { path, .. } if path.len() == 1 => Some(path[0].as_str()),
                _ => None,
            })
            .collect()
    }

    /// This filter over columns: `columns` holds, for each name of
    /// [`CompiledFilter::column_names`] in order, the JSON texts of its
    /// values. `None` when a text does not parse (then ask the records).
    pub fn for_columns(&self, columns: &[&[String]]) -> Option<ColumnFilter> {
        let mut terms = Vec::with_capacity(self.terms.len());
        for (term, texts) in self.terms.iter().zip(columns) {
            let CompiledMatcher::Field { path, op, value, number, level } = &term.matcher else { return None };
            let mut passes = vec![false];
            for text in texts.iter() {
                let found: Value = serde_json::from_str(text).ok()?;
                passes.push(compare(&found, *op, value, *number, *level) != term.negated);
            }
            terms.push((path[0].clone(), passes));
        }
        Some(ColumnFilter { terms })
    }
}

impl CompiledFilter {
    /// Whether the columns of a frame show that no record of `part` passes
    /// this filter, whose terms all read the top-level fields `names`
    /// ([`CompiledFilter::column_names`]). False whenever a record may pass
    /// or the columns cannot tell.
    pub fn rules_out(
        &self,
        section: &ColumnsSection,
        meta: &FrameMeta,
        part: Range<u64>,
        names: &[&str],
    ) -> Result<bool, FrameError> {
        if !names.iter().all(|name| section.has(name)) {
            return Ok(false);
        }
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            columns.push(section.column(name)?.expect("the section has it"));
        }
        let texts: Vec<&[String]> = columns.iter().map(|column| column.texts.as_slice()).collect();
        let Some(filter) = self.for_columns(&texts) else { return Ok(false) };
        Ok(part.into_iter().all(|offset| {
            let at = (offset - meta.first_offset) as usize;
            filter.verdict(columns.iter().map(|column| column.ids[at])) == Verdict::Fails
        }))
    }
}

impl ColumnFilter {
    /// The names of the columns read, one per term.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|(name, _)| name.as_str())
    }

    /// The verdict on a record whose ids in the columns of
    /// [`ColumnFilter::names`] are `ids` (in order): it fails as soon as
    /// one term surely fails; it passes when every term surely passes.
    pub fn verdict(&self, ids: impl Iterator<Item = u16>) -> Verdict {
        let mut verdict = Verdict::Passes;
        for ((_, passes), id) in self.terms.iter().zip(ids) {
            if id == 0 {
                verdict = Verdict::AskTheRecord;
            } else if !passes[id as usize] {
                return Verdict::Fails;
            }
        }
        verdict
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

/// Adds to `required` what every record that `matcher` keeps must hold in
/// its token index; nothing where that is not certain.
///
/// The index holds the tokens and trigrams of a payload's raw bytes, and of
/// each string as it reads when the payload has an escape. So a needle with
/// none of the bytes JSON escapes (`"`, `\`, control characters) that is
/// in a string of the record is in the raw bytes or in that string's text.
fn require(required: &mut Required, matcher: &Matcher) {
    let escaped = |bytes: &[u8]| bytes.iter().any(|b| matches!(b, b'"' | b'\\') || *b < 0x20);
    match matcher {
        // Text terms look into strings only: a string holding the needle
        // holds its trigrams, and the words the needle bounds on both sides.
        Matcher::Text { needle, .. } => {
            let bytes = needle.as_bytes();
            if escaped(bytes) {
                return;
            }
            required.trigrams_of(bytes);
            for (start, end) in word_runs(bytes) {
                if start > 0 && end < bytes.len() {
                    required.token(&bytes[start..end]);
                }
            }
        }
        // `field:value` compares the field's whole text (a string's, or the
        // JSON of another value) with a pattern whose `*` match anything.
        // Numbers compare by value and levels by rank, so their text says
        // nothing. The words a literal part bounds (or an anchored end) are
        // whole tokens of a string, a key, or true/false/null: all indexed.
        // Numbers are not indexed, and JSON rewrites them (`1e2` reads
        // `100.0`), so a token of digits and `e` is required only when the
        // pattern cannot match a number's text (it has a byte no number has)
        // nor span one inside an object or array (it has no `[]{},:`).
        Matcher::Field { field, op: Op::Matches, value } => {
            let numeric = value.parse::<f64>().is_ok() || status_class(value).is_some();
            let lower = value.to_ascii_lowercase();
            let bytes = lower.as_bytes();
            if field == "level" || numeric || escaped(bytes) {
                return;
            }
            let structural = bytes.iter().any(|b| b"[]{},:".contains(b));
            let beyond_numbers = bytes.iter().any(|b| !b.is_ascii_digit() && !b"e.+-*".contains(b));
            let digits_too = beyond_numbers && !structural;
            let parts: Vec<&[u8]> = bytes.split(|b| *b == b'*').collect();
            for (i, part) in parts.iter().enumerate() {
                let (left_anchored, right_anchored) = (i == 0, i + 1 == parts.len());
                for (start, end) in word_runs(part) {
                    let token = &part[start..end];
                    let whole = (start > 0 || left_anchored) && (end < part.len() || right_anchored);
                    let number_like = token.iter().all(|b| b.is_ascii_digit() || *b == b'e');
                    if whole && (digits_too || !number_like) {
                        required.token(token);
                    }
                }
            }
        }
        Matcher::Field { .. } | Matcher::Regex { .. } => {}
    }
}

/// The `(start, end)` of each maximal run of word bytes.
fn word_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if !is_word(bytes[at]) {
            at += 1;
            continue;
        }
        let start = at;
        while at < bytes.len() && is_word(bytes[at]) {
            at += 1;
        }
        runs.push((start, at));
    }
    runs
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
    fn only_terms_that_every_match_must_satisfy_require_anything_of_the_token_index() {
        let required = |filter: &str| CompiledFilter::parse(filter).unwrap().required().len();
        for nothing in [
            "",
            "status>=500",
            "status:503",
            "status:5xx",
            "level:error",
            "-timeout",
            "/time(out)?/",
            "ab",
            "path:*",
            "ms:*.0",
            "order_id:1*2",
            "\"a\\\"b\"",
        ] {
            assert_eq!(required(nothing), 0, "{nothing}");
        }
        // Trigrams tim, ime, meo, eou, out.
        assert_eq!(required("timeout"), 5);
        assert_eq!(required("timeout -level:debug status>=500"), 5);
        // "a b c": trigrams "a b", " b ", "b c", and the word b.
        assert_eq!(required("\"a b c\""), 4);
        // path:/api/*/items: the words api and items; path:/v1/orders/42: v1, orders, 42.
        assert_eq!(required("path:/api/*/items"), 2);
        assert_eq!(required("path:/v1/orders/42"), 3);
        assert_eq!(CompiledFilter::parse("timeout").unwrap().without_index().required().len(), 0);
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
