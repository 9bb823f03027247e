//! One service log line: time, instance, level, message. A multi-line
//! message (a stack trace) shows its first line with an expander.

use leptos::prelude::*;

use crate::model::{clock_utc, ServiceRecord};

#[component]
pub fn LogRow(record: ServiceRecord) -> impl IntoView {
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
        view! { <span class="msg-text">{first}</span> }.into_any()
    } else {
        let more = format!("+{} lines", rest.len());
        let body = rest.join("\n");
        view! {
            <details class="msg-fold">
                <summary><span class="msg-text">{first}</span>" "<span class="fold-count">{more}</span></summary>
                <pre class="msg-more">{body}</pre>
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
