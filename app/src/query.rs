//! The filter syntax shared by the Logs API, the CLI and the console: what
//! a user types to narrow logs, parsed into terms that must all match.
//! Parsing lives here, with no `ssr` or `hydrate` code, so the console can
//! point at a mistake as the user types; evaluation lives in the server.
//!
//! ```text
//! timeout                     the text contains "timeout" (any case)
//! "connection reset"          a phrase, spaces included
//! Timeout                     with an upper-case letter: exact case
//! /time(out|d out)/           a regular expression
//! level:error  level>=warn    a field equals / compares
//! status:5xx   status>=500    status class, or number comparison
//! method:POST  path:/api/*    `*` matches any run of characters
//! country:FR   instance:web-1
//! fields.order_id:42          a structured field of a JSON line
//! -level:debug  -healthz      a leading `-` negates a term
//! ```
//!
//! Terms are separated by spaces and all must match. Operators: `:` (equals,
//! with `*` wildcards), `!=`, `>`, `>=`, `<`, `<=`. A syntax error names the
//! position (in characters from 0) and what was expected there.

use serde::{Deserialize, Serialize};

/// A parsed filter: every term must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    pub terms: Vec<Term>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Term {
    pub negated: bool,
    pub matcher: Matcher,
    /// Where the term starts, in characters: errors found later (a regular
    /// expression that does not compile) point here.
    pub position: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Matcher {
    /// Text anywhere in the line; `case_sensitive` when the needle has an
    /// upper-case letter.
    Text { needle: String, case_sensitive: bool },
    /// A regular expression over the line's text.
    Regex { pattern: String },
    /// A field compared with a value.
    Field { field: String, op: Op, value: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `:`: equal, `*` matching any run of characters.
    Matches,
    NotEqual,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Matches => ":",
            Op::NotEqual => "!=",
            Op::Greater => ">",
            Op::GreaterOrEqual => ">=",
            Op::Less => "<",
            Op::LessOrEqual => "<=",
        }
    }
}

/// Where a filter went wrong and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterError {
    /// Position in characters from the start of the filter.
    pub position: usize,
    pub expected: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at character {}: expected {}", self.position, self.expected)
    }
}

impl std::error::Error for FilterError {}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The positive text terms of filter `q` (`timeout`, `"db down"`),
    /// lower-cased: what the console marks in the lines it shows. A filter
    /// with a mistake marks nothing.
    pub fn needles(q: &str) -> Vec<String> {
        let terms = Filter::parse(q).map(|filter| filter.terms).unwrap_or_default();
        terms
            .into_iter()
            .filter(|term| !term.negated)
            .filter_map(|term| match term.matcher {
                Matcher::Text { needle, .. } if !needle.is_empty() => Some(needle.to_ascii_lowercase()),
                _ => None,
            })
            .collect()
    }

    /// Parses a filter; an empty or blank text is the filter that keeps all.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let chars: Vec<char> = text.chars().collect();
        let mut at = 0;
        let mut terms = Vec::new();
        loop {
            while chars.get(at).is_some_and(|c| c.is_whitespace()) {
                at += 1;
            }
            if at >= chars.len() {
                return Ok(Filter { terms });
            }
            let position = at;
            let negated = chars[at] == '-' && chars.get(at + 1).is_some_and(|c| !c.is_whitespace());
            if negated {
                at += 1;
            }
            let matcher = match chars[at] {
                '"' => {
                    let needle = quoted(&chars, &mut at)?;
                    if needle.is_empty() {
                        return Err(FilterError { position: at - 2, expected: "text between the quotes".into() });
                    }
                    text_matcher(needle)
                }
                '/' => {
                    // `/a(b|c)/` is a regular expression; `/v1/orders`, a
                    // path, is a plain word.
                    let start = at;
                    match regex(&chars, &mut at) {
                        Ok(pattern) if chars.get(at).is_none_or(|c| c.is_whitespace()) => Matcher::Regex { pattern },
                        Err(error) if error.expected.starts_with("a regular expression between") => return Err(error),
                        _ => {
                            at = start;
                            while chars.get(at).is_some_and(|c| !c.is_whitespace()) {
                                at += 1;
                            }
                            text_matcher(chars[start..at].iter().collect())
                        }
                    }
                }
                _ => field_or_word(&chars, &mut at)?,
            };
            if chars.get(at).is_some_and(|c| !c.is_whitespace()) {
                return Err(FilterError { position: at, expected: "a space before the next term".into() });
            }
            terms.push(Term { negated, matcher, position });
        }
    }
}

/// Text, case-insensitive unless it has an upper-case letter (smart case).
fn text_matcher(needle: String) -> Matcher {
    let case_sensitive = needle.chars().any(char::is_uppercase);
    Matcher::Text { needle, case_sensitive }
}

/// Reads `"..."` starting at the opening quote; `\"` and `\\` escape.
fn quoted(chars: &[char], at: &mut usize) -> Result<String, FilterError> {
    let open = *at;
    *at += 1;
    let mut text = String::new();
    while let Some(&c) = chars.get(*at) {
        *at += 1;
        match c {
            '"' => return Ok(text),
            '\\' if matches!(chars.get(*at), Some('"' | '\\')) => {
                text.push(chars[*at]);
                *at += 1;
            }
            _ => text.push(c),
        }
    }
    Err(FilterError { position: open, expected: "a closing \" for the quote opened here".into() })
}

/// Reads `/.../` starting at the opening slash; `\/` is a slash.
fn regex(chars: &[char], at: &mut usize) -> Result<String, FilterError> {
    let open = *at;
    *at += 1;
    let mut pattern = String::new();
    while let Some(&c) = chars.get(*at) {
        *at += 1;
        match c {
            '/' if pattern.is_empty() => {
                return Err(FilterError {
                    position: open + 1,
                    expected: "a regular expression between the slashes".into(),
                })
            }
            '/' => return Ok(pattern),
            '\\' if chars.get(*at) == Some(&'/') => {
                pattern.push('/');
                *at += 1;
            }
            '\\' => {
                pattern.push('\\');
                if let Some(&next) = chars.get(*at) {
                    pattern.push(next);
                    *at += 1;
                }
            }
            _ => pattern.push(c),
        }
    }
    Err(FilterError { position: open, expected: "a closing / for the regular expression opened here".into() })
}

/// A bare word, or `field OP value`.
fn field_or_word(chars: &[char], at: &mut usize) -> Result<Matcher, FilterError> {
    let start = *at;
    while chars.get(*at).is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        *at += 1;
    }
    let name: String = chars[start..*at].iter().collect();
    let op = match (chars.get(*at), chars.get(*at + 1)) {
        (Some(':'), _) => Some((Op::Matches, 1)),
        (Some('!'), Some('=')) => Some((Op::NotEqual, 2)),
        (Some('>'), Some('=')) => Some((Op::GreaterOrEqual, 2)),
        (Some('<'), Some('=')) => Some((Op::LessOrEqual, 2)),
        (Some('>'), _) => Some((Op::Greater, 1)),
        (Some('<'), _) => Some((Op::Less, 1)),
        _ => None,
    };
    let Some((op, len)) = op.filter(|_| !name.is_empty()) else {
        // A plain word: everything up to the next space.
        while chars.get(*at).is_some_and(|c| !c.is_whitespace()) {
            *at += 1;
        }
        let word: String = chars[start..*at].iter().collect();
        return Ok(text_matcher(word));
    };
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return Err(FilterError { position: start, expected: "a field name such as level or fields.order_id".into() });
    }
    *at += len;
    let value = match chars.get(*at) {
        Some('"') => quoted(chars, at)?,
        Some(c) if !c.is_whitespace() => {
            let from = *at;
            while chars.get(*at).is_some_and(|c| !c.is_whitespace()) {
                *at += 1;
            }
            chars[from..*at].iter().collect()
        }
        _ => {
            return Err(FilterError {
                position: *at,
                expected: format!("a value after \"{name}{}\", such as {}", op.as_str(), example_value(&name)),
            })
        }
    };
    if op != Op::Matches && op != Op::NotEqual && value.parse::<f64>().is_err() && name != "level" {
        return Err(FilterError {
            position: *at - value.chars().count(),
            expected: format!("a number after \"{name}{}\"", op.as_str()),
        });
    }
    Ok(Matcher::Field { field: name, op, value })
}

fn example_value(field: &str) -> &'static str {
    match field {
        "level" => "error",
        "status" => "500 or 5xx",
        "method" => "POST",
        "path" => "/api/*",
        "country" => "FR",
        "duration_ms" => "250",
        _ => "a word or \"quoted text\"",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_text_terms_are_needles() {
        assert_eq!(Filter::needles("Timeout -healthz level>=warn \"db down\" /re/"), ["timeout", "db down"]);
        assert!(Filter::needles("level>=").is_empty(), "a bad filter marks nothing");
    }

    fn field(field: &str, op: Op, value: &str) -> Matcher {
        Matcher::Field { field: field.into(), op, value: value.into() }
    }

    #[test]
    fn terms_of_every_kind_parse() {
        let filter = Filter::parse(
            r#"timeout "conn reset" Panic /time(out)?/ level>=warn status:5xx -path:/health* fields.order_id:42"#,
        )
        .unwrap();
        let matchers: Vec<(bool, Matcher)> = filter.terms.into_iter().map(|t| (t.negated, t.matcher)).collect();
        assert_eq!(
            matchers,
            vec![
                (false, Matcher::Text { needle: "timeout".into(), case_sensitive: false }),
                (false, Matcher::Text { needle: "conn reset".into(), case_sensitive: false }),
                (false, Matcher::Text { needle: "Panic".into(), case_sensitive: true }),
                (false, Matcher::Regex { pattern: "time(out)?".into() }),
                (false, field("level", Op::GreaterOrEqual, "warn")),
                (false, field("status", Op::Matches, "5xx")),
                (true, field("path", Op::Matches, "/health*")),
                (false, field("fields.order_id", Op::Matches, "42")),
            ]
        );
    }

    #[test]
    fn blank_filters_keep_everything_and_a_lone_dash_is_text() {
        assert!(Filter::parse("   ").unwrap().is_empty());
        let filter = Filter::parse("a - b").unwrap();
        assert_eq!(filter.terms.len(), 3);
        assert_eq!(filter.terms[1].matcher, Matcher::Text { needle: "-".into(), case_sensitive: false });
        assert_eq!(Filter::parse("url:http://x").unwrap().terms[0].matcher, field("url", Op::Matches, "http://x"));
    }

    #[test]
    fn errors_name_the_position_and_what_was_expected() {
        let error = Filter::parse(r#"level:error "unclosed"#).unwrap_err();
        assert_eq!(error.position, 12);
        assert!(error.expected.contains("closing \""), "{error}");

        let error = Filter::parse("status>= x").unwrap_err();
        assert_eq!(error.position, 8);
        assert!(error.expected.contains("a value after \"status>=\""), "{error}");

        let error = Filter::parse("duration_ms>slow").unwrap_err();
        assert_eq!(error.position, 12);
        assert!(error.expected.contains("a number"), "{error}");

        let error = Filter::parse("a //").unwrap_err();
        assert_eq!(error.position, 3);

        let error = Filter::parse(r#""a"b"#).unwrap_err();
        assert_eq!((error.position, error.expected.as_str()), (3, "a space before the next term"));
        assert_eq!(error.to_string(), "at character 3: expected a space before the next term");
    }

    #[test]
    fn a_path_is_a_word_not_a_regular_expression() {
        let filter = Filter::parse("/v1/orders /api").unwrap();
        let matchers: Vec<Matcher> = filter.terms.into_iter().map(|t| t.matcher).collect();
        assert_eq!(
            matchers,
            vec![
                Matcher::Text { needle: "/v1/orders".into(), case_sensitive: false },
                Matcher::Text { needle: "/api".into(), case_sensitive: false },
            ]
        );
    }

    #[test]
    fn quotes_and_slashes_can_be_escaped() {
        let filter = Filter::parse(r#""say \"hi\"" /a\/b/ msg:"two words""#).unwrap();
        let matchers: Vec<Matcher> = filter.terms.into_iter().map(|t| t.matcher).collect();
        assert_eq!(
            matchers,
            vec![
                Matcher::Text { needle: "say \"hi\"".into(), case_sensitive: false },
                Matcher::Regex { pattern: "a/b".into() },
                field("msg", Op::Matches, "two words"),
            ]
        );
    }
}
