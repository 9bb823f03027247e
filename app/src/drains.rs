//! Drains as the console shows them, and the form that creates one: the
//! types the browser and the server share (no `ssr` or `hydrate` code).

use serde::{Deserialize, Serialize};

use crate::model::{AppSummary, OrgSummary};

/// Every recipient type, as the API's `type` names them, with a label.
pub const RECIPIENT_TYPES: [(&str, &str); 10] = [
    ("raw-http", "HTTP (NDJSON)"),
    ("syslog-tcp", "Syslog over TCP or TLS"),
    ("syslog-udp", "Syslog over UDP"),
    ("ovh-tcp", "OVHcloud Logs Data Platform"),
    ("elasticsearch", "Elasticsearch"),
    ("datadog", "Datadog"),
    ("newrelic", "New Relic"),
    ("betterstack", "Better Stack"),
    ("otlp", "OpenTelemetry (OTLP/HTTP)"),
    ("nats", "NATS JetStream"),
];

/// One drain in a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrainSummary {
    pub id: i64,
    /// `LOG`, `ACCESSLOG` or `AUDITLOG`.
    pub kind: String,
    pub recipient_type: String,
    /// Where it sends (a URL's password hidden).
    pub target: String,
    /// `ENABLED` or `DISABLED`.
    pub status: String,
    /// `RUNNING`, `RETRYING` or `STOPPED`.
    pub execution: String,
    pub disabled_reason: Option<String>,
    pub backlog: u64,
    pub rate_out_per_sec: f64,
    pub last_error: Option<String>,
    pub last_success_ns: Option<i64>,
    /// Records retention removed before they were delivered.
    pub lost_records: u64,
}

/// An app's drains (or the org's, for its audit log), and whether the
/// viewer may change them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrainsPage {
    pub org: OrgSummary,
    /// `None` for the org's audit-log drains.
    pub app: Option<AppSummary>,
    pub drains: Vec<DrainSummary>,
    pub may_change: bool,
}

/// A new drain as the form gives it; which fields count depends on the type
/// (a field the form leaves out is empty).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewDrainForm {
    pub kind: String,
    pub recipient_type: String,
    pub url: String,
    pub username: String,
    /// The type's password, API key or token.
    pub secret: String,
    pub index_prefix: String,
    pub tags: String,
    pub subject: String,
    /// OTLP headers, one `NAME=VALUE` a line.
    pub headers: String,
    /// Empty or `now`, a time, or back from now (`2h`).
    pub start: String,
}

/// What one action on a drain does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DrainAction {
    Enable,
    Disable,
    Remove,
    Check,
}

impl DrainAction {
    pub fn parse(text: &str) -> Option<DrainAction> {
        match text {
            "enable" => Some(DrainAction::Enable),
            "disable" => Some(DrainAction::Disable),
            "remove" => Some(DrainAction::Remove),
            "check" => Some(DrainAction::Check),
            _ => None,
        }
    }
}

/// Which fields a recipient type takes beyond its URL, for the form.
pub struct TypeFields {
    pub url_hint: &'static str,
    pub username: bool,
    /// The label of its secret, if it has one, and whether it is required.
    pub secret: Option<(&'static str, bool)>,
    pub index_prefix: bool,
    pub tags: bool,
    pub subject: bool,
    pub headers: bool,
}

pub fn type_fields(recipient_type: &str) -> TypeFields {
    let none = TypeFields {
        url_hint: "https://logs.example.com/in",
        username: false,
        secret: None,
        index_prefix: false,
        tags: false,
        subject: false,
        headers: false,
    };
    match recipient_type {
        "raw-http" => TypeFields { username: true, secret: Some(("Password", false)), ..none },
        "syslog-tcp" => TypeFields { url_hint: "tcp://logs.example.com:514 or tls://…:6514", ..none },
        "syslog-udp" => TypeFields { url_hint: "udp://logs.example.com:514", ..none },
        "ovh-tcp" => {
            TypeFields { url_hint: "tls://HOST.logs.ovh.com:6514", secret: Some(("Stream token", true)), ..none }
        }
        "elasticsearch" => TypeFields {
            url_hint: "https://es.example.com:9200",
            username: true,
            secret: Some(("Password", false)),
            index_prefix: true,
            ..none
        },
        "datadog" => TypeFields {
            url_hint: "https://http-intake.logs.SITE/api/v2/logs",
            secret: Some(("API key", true)),
            tags: true,
            ..none
        },
        "newrelic" => {
            TypeFields { url_hint: "the Log API endpoint of your region", secret: Some(("API key", true)), ..none }
        }
        "betterstack" => {
            TypeFields { url_hint: "https://INGESTING_HOST", secret: Some(("Source token", true)), ..none }
        }
        "otlp" => TypeFields { url_hint: "http://collector:4318/v1/logs", headers: true, ..none },
        "nats" => TypeFields {
            url_hint: "nats://nats.example.com:4222",
            username: true,
            secret: Some(("Password", false)),
            subject: true,
            ..none
        },
        _ => none,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_says_which_fields_it_takes() {
        for (name, _) in RECIPIENT_TYPES {
            let fields = type_fields(name);
            assert!(!fields.url_hint.is_empty());
        }
        assert_eq!(type_fields("datadog").secret, Some(("API key", true)));
        assert!(type_fields("nats").subject);
        assert!(!type_fields("syslog-udp").username);
        assert_eq!(DrainAction::parse("remove"), Some(DrainAction::Remove));
    }
}
