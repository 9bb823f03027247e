//! What a user writes to create a drain: which logs (its kind) and where
//! to (its recipient, one variant per recipient type), with the limits each
//! field must keep. Secrets (passwords, API keys, tokens) are kept in the
//! catalog and never shown back: [`RecipientConfig::redacted`] is what the
//! API and the audit log show.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vigie_app::model::LogKind;

use crate::audit::ORG_TOPICS;
use crate::store::TopicKey;

/// Which logs a drain forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DrainKind {
    /// An app's service logs.
    Log,
    /// An app's access logs.
    Accesslog,
    /// The org's audit log (org drains only).
    Auditlog,
}

impl DrainKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DrainKind::Log => "LOG",
            DrainKind::Accesslog => "ACCESSLOG",
            DrainKind::Auditlog => "AUDITLOG",
        }
    }

    pub fn parse(text: &str) -> Option<DrainKind> {
        [DrainKind::Log, DrainKind::Accesslog, DrainKind::Auditlog]
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(text))
    }

    pub fn log_kind(self) -> LogKind {
        match self {
            DrainKind::Log => LogKind::Service,
            DrainKind::Accesslog => LogKind::Access,
            DrainKind::Auditlog => LogKind::Audit,
        }
    }

    /// The topic a drain of this kind reads: the app's, or the org's audit topic.
    pub fn topic(self, org: &str, app: Option<&str>) -> TopicKey {
        TopicKey::new(org, app.unwrap_or(ORG_TOPICS), self.log_kind())
    }
}

/// Where a drain delivers, and how. The `type` names the recipient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RecipientConfig {
    /// RFC 5424 syslog over TCP with octet counting (RFC 6587), or over TLS
    /// (RFC 5425) with a `tls://` URL.
    SyslogTcp {
        /// `tcp://HOST:PORT` or `tls://HOST:PORT`.
        url: String,
    },
    /// RFC 5424 syslog over UDP (RFC 5426), one message per datagram.
    SyslogUdp {
        /// `udp://HOST:PORT`.
        url: String,
    },
    /// Syslog over TCP or TLS to OVHcloud Logs Data Platform: the stream's
    /// token goes in each message's structured data.
    OvhTcp {
        /// `tcp://HOST:PORT` or `tls://HOST:PORT`.
        url: String,
        /// The `X-OVH-TOKEN` of the stream.
        token: String,
    },
    /// NDJSON POSTed gzip-compressed, one record a line.
    RawHttp {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    /// The `_bulk` API, into one index a day: `PREFIX-YYYY.MM.DD`.
    Elasticsearch {
        /// The cluster's base URL (`/_bulk` is added).
        url: String,
        #[serde(default = "default_index_prefix")]
        index_prefix: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    /// The HTTP logs intake (v2): the full intake URL of the account's site.
    Datadog {
        /// Such as `https://http-intake.logs.SITE/api/v2/logs`.
        url: String,
        api_key: String,
        /// Added to `ddtags` (`env:prod,team:web`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tags: Option<String>,
    },
    /// The Log API, gzip-compressed.
    Newrelic {
        /// The Log API endpoint of the account's region.
        url: String,
        /// A license or ingest key, sent as `Api-Key`.
        api_key: String,
    },
    /// Better Stack Logs: the source's ingesting URL and token.
    Betterstack { url: String, source_token: String },
    /// OTLP/HTTP protobuf logs, to a collector's `/v1/logs`.
    Otlp {
        /// The full logs endpoint, such as `http://collector:4318/v1/logs`.
        url: String,
        /// Headers sent with each request (an API key, for instance).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    /// NATS JetStream: each record published to a subject, each publish acknowledged.
    Nats {
        /// `nats://HOST:PORT`.
        url: String,
        /// The subject, bound to a stream.
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
}

fn default_index_prefix() -> String {
    "vigie".into()
}

/// A recipient as a form or the command line gives it: its type, URL, and
/// the fields each type takes (`secret` is the type's password, API key or
/// token). Fields a type does not take are ignored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecipientFields {
    pub recipient_type: String,
    pub url: String,
    pub username: Option<String>,
    pub secret: Option<String>,
    pub index_prefix: Option<String>,
    pub tags: Option<String>,
    pub subject: Option<String>,
    /// OTLP headers, `NAME=VALUE`.
    pub headers: Vec<String>,
}

impl RecipientFields {
    /// The recipient these fields describe; the error names what is missing.
    pub fn recipient(&self) -> Result<RecipientConfig, String> {
        let nonempty = |value: &Option<String>| value.as_ref().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let secret = |name: &str| {
            nonempty(&self.secret).ok_or_else(|| format!("a {} drain needs its {name}", self.recipient_type))
        };
        let url = self.url.trim().to_string();
        Ok(match self.recipient_type.as_str() {
            "syslog-tcp" => RecipientConfig::SyslogTcp { url },
            "syslog-udp" => RecipientConfig::SyslogUdp { url },
            "ovh-tcp" => RecipientConfig::OvhTcp { url, token: secret("stream token")? },
            "raw-http" => {
                RecipientConfig::RawHttp { url, username: nonempty(&self.username), password: nonempty(&self.secret) }
            }
            "elasticsearch" => RecipientConfig::Elasticsearch {
                url,
                index_prefix: nonempty(&self.index_prefix).unwrap_or_else(default_index_prefix),
                username: nonempty(&self.username),
                password: nonempty(&self.secret),
            },
            "datadog" => RecipientConfig::Datadog { url, api_key: secret("API key")?, tags: nonempty(&self.tags) },
            "newrelic" => RecipientConfig::Newrelic { url, api_key: secret("API key")? },
            "betterstack" => RecipientConfig::Betterstack { url, source_token: secret("source token")? },
            "otlp" => {
                let mut headers = BTreeMap::new();
                for header in self.headers.iter().filter(|h| !h.trim().is_empty()) {
                    let (name, value) =
                        header.split_once('=').ok_or_else(|| format!("header \"{header}\": write NAME=VALUE"))?;
                    headers.insert(name.trim().to_string(), value.trim().to_string());
                }
                RecipientConfig::Otlp { url, headers }
            }
            "nats" => RecipientConfig::Nats {
                url,
                subject: nonempty(&self.subject).ok_or("a nats drain needs its subject")?,
                username: nonempty(&self.username),
                password: nonempty(&self.secret),
            },
            other => return Err(format!("unknown drain type \"{other}\": use {}", TYPES.join(", "))),
        })
    }
}

/// Every recipient type, as `type` names them.
pub const TYPES: [&str; 10] = [
    "syslog-tcp",
    "syslog-udp",
    "ovh-tcp",
    "raw-http",
    "elasticsearch",
    "datadog",
    "newrelic",
    "betterstack",
    "otlp",
    "nats",
];

/// What replaces a secret in what is shown.
pub const HIDDEN: &str = "********";

const MAX_URL: usize = 2_048;
const MAX_FIELD: usize = 1_024;
const MAX_HEADERS: usize = 20;

impl RecipientConfig {
    pub fn type_name(&self) -> &'static str {
        match self {
            RecipientConfig::SyslogTcp { .. } => "syslog-tcp",
            RecipientConfig::SyslogUdp { .. } => "syslog-udp",
            RecipientConfig::OvhTcp { .. } => "ovh-tcp",
            RecipientConfig::RawHttp { .. } => "raw-http",
            RecipientConfig::Elasticsearch { .. } => "elasticsearch",
            RecipientConfig::Datadog { .. } => "datadog",
            RecipientConfig::Newrelic { .. } => "newrelic",
            RecipientConfig::Betterstack { .. } => "betterstack",
            RecipientConfig::Otlp { .. } => "otlp",
            RecipientConfig::Nats { .. } => "nats",
        }
    }

    pub fn url(&self) -> &str {
        match self {
            RecipientConfig::SyslogTcp { url }
            | RecipientConfig::SyslogUdp { url }
            | RecipientConfig::OvhTcp { url, .. }
            | RecipientConfig::RawHttp { url, .. }
            | RecipientConfig::Elasticsearch { url, .. }
            | RecipientConfig::Datadog { url, .. }
            | RecipientConfig::Newrelic { url, .. }
            | RecipientConfig::Betterstack { url, .. }
            | RecipientConfig::Otlp { url, .. }
            | RecipientConfig::Nats { url, .. } => url,
        }
    }

    /// The URL's schemes this type takes.
    fn schemes(&self) -> &'static [&'static str] {
        match self {
            RecipientConfig::SyslogTcp { .. } | RecipientConfig::OvhTcp { .. } => &["tcp", "tls"],
            RecipientConfig::SyslogUdp { .. } => &["udp"],
            RecipientConfig::Nats { .. } => &["nats"],
            _ => &["http", "https"],
        }
    }

    /// Checks every field against its limits; the error names the field.
    pub fn validate(&self) -> Result<url::Url, String> {
        let raw = self.url();
        if raw.len() > MAX_URL {
            return Err(format!("recipient.url: at most {MAX_URL} characters"));
        }
        let url = url::Url::parse(raw).map_err(|error| format!("recipient.url \"{raw}\": {error}"))?;
        let schemes = self.schemes();
        if !schemes.contains(&url.scheme()) {
            return Err(format!(
                "recipient.url: a {} recipient takes {} URLs, not {}://",
                self.type_name(),
                schemes.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(" or "),
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("recipient.url: no host".into());
        }
        if !url.scheme().starts_with("http") && url.port().is_none() {
            return Err(format!("recipient.url: give the port ({}://HOST:PORT)", url.scheme()));
        }
        let mut fields: Vec<(&str, &str)> = Vec::new();
        match self {
            RecipientConfig::OvhTcp { token, .. } => fields.push(("token", token)),
            RecipientConfig::RawHttp { username, password, .. } | RecipientConfig::Nats { username, password, .. } => {
                fields.extend(username.as_deref().map(|v| ("username", v)));
                fields.extend(password.as_deref().map(|v| ("password", v)));
            }
            RecipientConfig::Elasticsearch { index_prefix, username, password, .. } => {
                let valid = !index_prefix.is_empty()
                    && index_prefix.len() <= 200
                    && index_prefix
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
                    && !index_prefix.starts_with(['-', '_', '.']);
                if !valid {
                    return Err("recipient.index_prefix: 1 to 200 lowercase letters, digits, `-`, `_` or `.`, not starting with one of those three".into());
                }
                fields.extend(username.as_deref().map(|v| ("username", v)));
                fields.extend(password.as_deref().map(|v| ("password", v)));
            }
            RecipientConfig::Datadog { api_key, tags, .. } => {
                fields.push(("api_key", api_key));
                fields.extend(tags.as_deref().map(|v| ("tags", v)));
            }
            RecipientConfig::Newrelic { api_key, .. } => fields.push(("api_key", api_key)),
            RecipientConfig::Betterstack { source_token, .. } => fields.push(("source_token", source_token)),
            RecipientConfig::Otlp { headers, .. } => {
                if headers.len() > MAX_HEADERS {
                    return Err(format!("recipient.headers: at most {MAX_HEADERS}"));
                }
                for (name, value) in headers {
                    reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("recipient.headers: \"{name}\" cannot name a header"))?;
                    reqwest::header::HeaderValue::from_str(value)
                        .map_err(|_| format!("recipient.headers.{name}: a header value is visible ASCII"))?;
                    fields.push(("headers", value));
                }
            }
            RecipientConfig::SyslogTcp { .. } | RecipientConfig::SyslogUdp { .. } => {}
        }
        if let RecipientConfig::Nats { subject, .. } = self {
            let valid = !subject.is_empty()
                && subject.len() <= 256
                && subject.split('.').all(|token| {
                    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic() && b != b'*' && b != b'>')
                });
            if !valid {
                return Err(
                    "recipient.subject: a NATS subject (dot-separated tokens, no wildcards), at most 256 characters"
                        .into(),
                );
            }
        }
        for (name, value) in fields {
            if value.len() > MAX_FIELD {
                return Err(format!("recipient.{name}: at most {MAX_FIELD} characters"));
            }
            if value.chars().any(char::is_control) {
                return Err(format!("recipient.{name}: no control characters"));
            }
            if name != "headers" && name != "tags" && value.is_empty() {
                return Err(format!("recipient.{name}: empty"));
            }
        }
        Ok(url)
    }

    /// The settings with every secret replaced by [`HIDDEN`], and a URL's
    /// password too: what the API, the console and the audit log show.
    pub fn redacted(&self) -> RecipientConfig {
        let hide = |secret: &mut String| *secret = HIDDEN.to_string();
        let hide_some = |secret: &mut Option<String>| {
            if let Some(secret) = secret {
                *secret = HIDDEN.to_string();
            }
        };
        let mut shown = self.clone();
        match &mut shown {
            RecipientConfig::OvhTcp { token, .. } => hide(token),
            RecipientConfig::RawHttp { password, .. }
            | RecipientConfig::Elasticsearch { password, .. }
            | RecipientConfig::Nats { password, .. } => hide_some(password),
            RecipientConfig::Datadog { api_key, .. } | RecipientConfig::Newrelic { api_key, .. } => hide(api_key),
            RecipientConfig::Betterstack { source_token, .. } => hide(source_token),
            RecipientConfig::Otlp { headers, .. } => headers.values_mut().for_each(hide),
            RecipientConfig::SyslogTcp { .. } | RecipientConfig::SyslogUdp { .. } => {}
        }
        let url = match &mut shown {
            RecipientConfig::SyslogTcp { url }
            | RecipientConfig::SyslogUdp { url }
            | RecipientConfig::OvhTcp { url, .. }
            | RecipientConfig::RawHttp { url, .. }
            | RecipientConfig::Elasticsearch { url, .. }
            | RecipientConfig::Datadog { url, .. }
            | RecipientConfig::Newrelic { url, .. }
            | RecipientConfig::Betterstack { url, .. }
            | RecipientConfig::Otlp { url, .. }
            | RecipientConfig::Nats { url, .. } => url,
        };
        if let Ok(mut parsed) = url::Url::parse(url) {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some(HIDDEN));
                *url = parsed.to_string();
            }
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> RecipientConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_recipient_reads_from_its_type_and_fields() {
        let recipient = parse(r#"{"type":"syslog-tcp","url":"tls://logs.example.com:6514"}"#);
        assert_eq!(recipient.type_name(), "syslog-tcp");
        assert!(recipient.validate().is_ok());
        let elastic = parse(r#"{"type":"elasticsearch","url":"https://es.example.com:9200"}"#);
        assert!(matches!(elastic, RecipientConfig::Elasticsearch { ref index_prefix, .. } if index_prefix == "vigie"));
        assert!(serde_json::from_str::<RecipientConfig>(r#"{"type":"pulsar","url":"x"}"#).is_err());
        assert!(serde_json::from_str::<RecipientConfig>(r#"{"type":"raw-http","url":"http://a","extra":1}"#).is_err());
    }

    #[test]
    fn validation_names_the_field_that_is_wrong() {
        let udp_over_http = parse(r#"{"type":"syslog-udp","url":"http://a:514"}"#);
        assert!(udp_over_http.validate().unwrap_err().contains("udp://"));
        let no_port = parse(r#"{"type":"syslog-tcp","url":"tcp://logs.example.com"}"#);
        assert!(no_port.validate().unwrap_err().contains("port"));
        let long_key =
            RecipientConfig::Datadog { url: "https://a/api/v2/logs".into(), api_key: "k".repeat(2_000), tags: None };
        assert!(long_key.validate().unwrap_err().starts_with("recipient.api_key"));
        let wildcard = parse(r#"{"type":"nats","url":"nats://a:4222","subject":"logs.>"}"#);
        assert!(wildcard.validate().unwrap_err().starts_with("recipient.subject"));
        let bad_prefix = parse(r#"{"type":"elasticsearch","url":"http://a","index_prefix":"Logs"}"#);
        assert!(bad_prefix.validate().unwrap_err().starts_with("recipient.index_prefix"));
    }

    #[test]
    fn fields_make_the_recipient_of_their_type_and_say_what_is_missing() {
        let fields = |recipient_type: &str, secret: Option<&str>| RecipientFields {
            recipient_type: recipient_type.into(),
            url: "https://logs.example.com/in".into(),
            secret: secret.map(str::to_string),
            ..RecipientFields::default()
        };
        assert_eq!(
            fields("datadog", Some("k")).recipient(),
            Ok(RecipientConfig::Datadog { url: "https://logs.example.com/in".into(), api_key: "k".into(), tags: None })
        );
        assert!(fields("datadog", None).recipient().unwrap_err().contains("API key"));
        assert!(fields("nats", None).recipient().unwrap_err().contains("subject"));
        assert!(fields("pulsar", None).recipient().unwrap_err().contains("syslog-tcp, syslog-udp"));
        let otlp = RecipientFields { headers: vec!["x-key = v".into()], ..fields("otlp", None) };
        assert!(matches!(otlp.recipient(), Ok(RecipientConfig::Otlp { headers, .. }) if headers["x-key"] == "v"));
    }

    #[test]
    fn redaction_hides_every_secret_and_a_url_password() {
        let recipient = parse(
            r#"{"type":"raw-http","url":"https://bob:hunter2@logs.example.com/in","username":"bob","password":"hunter2"}"#,
        );
        let shown = serde_json::to_string(&recipient.redacted()).unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("bob"), "{shown}");
        let otlp = parse(r#"{"type":"otlp","url":"http://c:4318/v1/logs","headers":{"x-api-key":"s3cret"}}"#);
        assert!(!serde_json::to_string(&otlp.redacted()).unwrap().contains("s3cret"));
    }
}
