//! One service log line: time, instance, level, message. A multi-line
//! message (a stack trace) shows its first line with an expander.

use leptos::prelude::*;

use crate::model::{clock_utc, ServiceRecord};

/// The texts a filter looks for, lower-cased, to mark in the lines shown.
pub type Needles = std::sync::Arc<Vec<String>>;

/// The positive text terms of a filter (`timeout`, `"db down"`), lower-cased.
pub fn needles_of(q: &str) -> Needles {
    let terms = crate::query::Filter::parse(q).map(|filter| filter.terms).unwrap_or_default();
    let needles = terms
        .into_iter()
        .filter(|term| !term.negated)
        .filter_map(|term| match term.matcher {
            crate::query::Matcher::Text { needle, .. } if !needle.is_empty() => Some(needle.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    std::sync::Arc::new(needles)
}

/// `text` cut into pieces, each true when a needle matches it (ignoring
/// ASCII case, which keeps byte positions).
pub fn highlight(text: &str, needles: &[String]) -> Vec<(String, bool)> {
    let lower = text.to_ascii_lowercase();
    let mut found: Vec<(usize, usize)> = needles
        .iter()
        .flat_map(|needle| lower.match_indices(needle.as_str()).map(|(at, m)| (at, at + m.len())))
        .collect();
    found.sort_unstable();
    let mut pieces = Vec::new();
    let mut at = 0;
    for (start, end) in found {
        if end <= at {
            continue;
        }
        let start = start.max(at);
        if start > at {
            pieces.push((text[at..start].to_string(), false));
        }
        pieces.push((text[start..end].to_string(), true));
        at = end;
    }
    if at < text.len() || pieces.is_empty() {
        pieces.push((text[at..].to_string(), false));
    }
    pieces
}

fn marked(text: &str, needles: &[String]) -> impl IntoView {
    highlight(text, needles)
        .into_iter()
        .map(|(piece, hit)| if hit { view! { <mark>{piece}</mark> }.into_any() } else { piece.into_any() })
        .collect_view()
}

#[component]
pub fn LogRow(record: ServiceRecord, #[prop(optional)] needles: Needles) -> impl IntoView {
    let line = record.line;
    let level = line.level.as_str();
    let mut message_lines = line.message.lines();
    let first = message_lines.next().unwrap_or_default().to_string();
    let rest: Vec<&str> = message_lines.collect();
    let fields = line
        .fields
        .iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => format!("{key}={text}"),
            other => format!("{key}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let message = if rest.is_empty() {
        view! { <span class="msg-text">{marked(&first, &needles)}</span> }.into_any()
    } else {
        let more = format!("+{} lines", rest.len());
        let body = rest.join("\n");
        view! {
            <details class="msg-fold">
                <summary><span class="msg-text">{marked(&first, &needles)}</span>" "<span class="fold-count">{more}</span></summary>
                <pre class="msg-more">{marked(&body, &needles)}</pre>
            </details>
        }
        .into_any()
    };
    view! {
        <div class=format!("log-row level-{level}") data-offset=record.offset>
            <time class="log-time">{clock_utc(record.ts_ns)}</time>
            <span class="log-instance">{line.instance}</span>
            <span class=format!("log-level level-badge-{level}")>{level}</span>
            <span class="log-msg">
                {message}
                {(!fields.is_empty()).then(|| view! { <span class="log-fields">{fields}</span> })}
            </span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_are_marked_whatever_their_case_and_overlaps_merge() {
        let needles = vec!["timeout".to_string(), "out of".to_string()];
        assert_eq!(
            highlight("DB Timeout out of pool", &needles),
            [
                ("DB ".to_string(), false),
                ("Timeout".to_string(), true),
                (" ".to_string(), false),
                ("out of".to_string(), true),
                (" pool".to_string(), false),
            ]
        );
        assert_eq!(highlight("é timeout", &needles[..1]), [("é ".to_string(), false), ("timeout".to_string(), true)]);
        assert_eq!(highlight("nothing here", &needles), [("nothing here".to_string(), false)]);
    }

    #[test]
    fn only_positive_text_terms_are_needles() {
        assert_eq!(*needles_of("Timeout -healthz level>=warn \"db down\" /re/"), ["timeout", "db down"]);
        assert!(needles_of("level>=").is_empty(), "a bad filter marks nothing");
    }
}
