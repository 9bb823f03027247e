//! Types that the browser and the server share: what the console shows and
//! what the Logs API returns. No `ssr` or `hydrate` code lives here, so both
//! sides compile exactly the same definitions.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The three kinds of logs; each (org, app, kind) is one topic in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// What an app or add-on prints.
    Service,
    /// One record per HTTP request reaching an app.
    Access,
    /// Who did what in an org.
    Audit,
}

impl LogKind {
    pub const ALL: [LogKind; 3] = [LogKind::Service, LogKind::Access, LogKind::Audit];

    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Service => "service",
            LogKind::Access => "access",
            LogKind::Audit => "audit",
        }
    }

    pub fn parse(text: &str) -> Option<LogKind> {
        LogKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// Severity of a service log line, as the line said or as ingest guessed it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Reads the usual spellings of a level (`WARNING`, `err`, `crit`, ...).
    pub fn parse(text: &str) -> Option<Level> {
        let level = match text.to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" | "dbg" => Level::Debug,
            "info" | "information" | "notice" | "log" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" | "err" => Level::Error,
            "fatal" | "crit" | "critical" | "panic" | "alert" | "emerg" => Level::Fatal,
            _ => return None,
        };
        Some(level)
    }
}

/// One service log line as stored and as shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceLine {
    /// Which instance of the app printed it (`web-1`, `worker-0`, ...).
    pub instance: String,
    pub level: Level,
    /// The text; may span several lines (a stack trace stays one record).
    pub message: String,
    /// Structured fields of a JSON line, beyond level, message and time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// One HTTP request that reached an app.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessLine {
    pub instance: String,
    pub method: String,
    pub host: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub query: String,
    pub status: u16,
    pub bytes_sent: u64,
    pub duration_ms: f64,
    pub client_ip: String,
    /// The client's ISO 3166 country code, from a GeoIP lookup at ingest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// The client's approximate coordinates, in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    pub user_agent: String,
}

/// One admin action, as the org's audit log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditLine {
    /// Who did it: a token (`token 3 "deploy"`) or a user.
    pub actor: String,
    /// What, as `thing.verb`: `token.created`, `retention.changed`, ...
    pub action: String,
    /// What it was done to (`app api`, `token 4`, `member ada`).
    pub target: String,
    /// The address the request came from.
    pub ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
}

/// A stored record as the Logs API returns it: where it is in its topic,
/// when it happened, and what it says. (Read through [`WireRecord`].)
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogRecord<T> {
    /// Position in the topic; monotonic, never reused. The live stream's
    /// event id, so a reconnecting client resumes right after it.
    pub offset: u64,
    /// When it happened, in nanoseconds since the Unix epoch (UTC).
    pub ts_ns: i64,
    #[serde(flatten)]
    pub line: T,
}

pub type ServiceRecord = LogRecord<ServiceLine>;
pub type AccessRecord = LogRecord<AccessLine>;

/// A service or access log line, told apart by its fields, so one list and
/// one live stream carry either kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LogLine {
    /// First: an access line has fields a service line lacks.
    Access(AccessLine),
    Service(ServiceLine),
}

impl From<ServiceLine> for LogLine {
    fn from(line: ServiceLine) -> LogLine {
        LogLine::Service(line)
    }
}

impl From<AccessLine> for LogLine {
    fn from(line: AccessLine) -> LogLine {
        LogLine::Access(line)
    }
}

/// A stored line of either kind, as the logs page shows it.
pub type ShownRecord = LogRecord<LogLine>;

/// Every field a record of any kind may carry, so that a record is read in
/// one pass. With serde's `flatten` (the line's fields beside `offset`) and
/// `untagged` (a [`LogLine`] of either kind), each record would first be
/// buffered, and the browser's bundle would carry two more copies of every
/// line's decoder.
#[derive(Default)]
pub struct WireRecord {
    offset: Option<u64>,
    ts_ns: Option<i64>,
    instance: Option<String>,
    level: Option<Level>,
    message: Option<String>,
    fields: BTreeMap<String, serde_json::Value>,
    method: Option<String>,
    host: Option<String>,
    path: Option<String>,
    query: String,
    status: Option<u16>,
    bytes_sent: Option<u64>,
    duration_ms: Option<f64>,
    client_ip: Option<String>,
    country: Option<String>,
    city: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    user_agent: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    ip: Option<String>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
}

impl<'de> Deserialize<'de> for WireRecord {
    /// By hand, as a map only: serde's derive would also read a record
    /// written as an array, and check each field for a second copy, which
    /// doubled the decoder's size in the browser's bundle.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = WireRecord;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a log record")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<WireRecord, A::Error> {
                let mut wire = WireRecord::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "offset" => wire.offset = map.next_value()?,
                        "ts_ns" => wire.ts_ns = map.next_value()?,
                        "instance" => wire.instance = map.next_value()?,
                        "level" => wire.level = map.next_value()?,
                        "message" => wire.message = map.next_value()?,
                        "fields" => wire.fields = map.next_value()?,
                        "method" => wire.method = map.next_value()?,
                        "host" => wire.host = map.next_value()?,
                        "path" => wire.path = map.next_value()?,
                        "query" => wire.query = map.next_value()?,
                        "status" => wire.status = map.next_value()?,
                        "bytes_sent" => wire.bytes_sent = map.next_value()?,
                        "duration_ms" => wire.duration_ms = map.next_value()?,
                        "client_ip" => wire.client_ip = map.next_value()?,
                        "country" => wire.country = map.next_value()?,
                        "city" => wire.city = map.next_value()?,
                        "lat" => wire.lat = map.next_value()?,
                        "lon" => wire.lon = map.next_value()?,
                        "user_agent" => wire.user_agent = map.next_value()?,
                        "actor" => wire.actor = map.next_value()?,
                        "action" => wire.action = map.next_value()?,
                        "target" => wire.target = map.next_value()?,
                        "ip" => wire.ip = map.next_value()?,
                        "before" => wire.before = map.next_value()?,
                        "after" => wire.after = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(wire)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// A field a record lacks, by name.
type Missing = &'static str;

fn required<T>(value: &mut Option<T>, name: Missing) -> Result<T, Missing> {
    value.take().ok_or(name)
}

/// A line read from a [`WireRecord`]'s fields.
pub trait FromWire: Sized {
    fn from_wire(wire: &mut WireRecord) -> Result<Self, Missing>;
}

impl FromWire for ServiceLine {
    fn from_wire(wire: &mut WireRecord) -> Result<Self, Missing> {
        Ok(ServiceLine {
            instance: required(&mut wire.instance, "instance")?,
            level: required(&mut wire.level, "level")?,
            message: required(&mut wire.message, "message")?,
            fields: std::mem::take(&mut wire.fields),
        })
    }
}

impl FromWire for AccessLine {
    fn from_wire(wire: &mut WireRecord) -> Result<Self, Missing> {
        Ok(AccessLine {
            instance: required(&mut wire.instance, "instance")?,
            method: required(&mut wire.method, "method")?,
            host: required(&mut wire.host, "host")?,
            path: required(&mut wire.path, "path")?,
            query: std::mem::take(&mut wire.query),
            status: required(&mut wire.status, "status")?,
            bytes_sent: required(&mut wire.bytes_sent, "bytes_sent")?,
            duration_ms: required(&mut wire.duration_ms, "duration_ms")?,
            client_ip: required(&mut wire.client_ip, "client_ip")?,
            country: wire.country.take(),
            city: wire.city.take(),
            lat: wire.lat.take(),
            lon: wire.lon.take(),
            user_agent: required(&mut wire.user_agent, "user_agent")?,
        })
    }
}

impl FromWire for AuditLine {
    fn from_wire(wire: &mut WireRecord) -> Result<Self, Missing> {
        Ok(AuditLine {
            actor: required(&mut wire.actor, "actor")?,
            action: required(&mut wire.action, "action")?,
            target: required(&mut wire.target, "target")?,
            ip: required(&mut wire.ip, "ip")?,
            before: wire.before.take(),
            after: wire.after.take(),
        })
    }
}

impl FromWire for LogLine {
    /// An access line when it has an access line's fields (a service line
    /// has none of them), else a service line.
    fn from_wire(wire: &mut WireRecord) -> Result<Self, Missing> {
        if wire.method.is_some() {
            AccessLine::from_wire(wire).map(LogLine::Access)
        } else {
            ServiceLine::from_wire(wire).map(LogLine::Service)
        }
    }
}

impl<'de, T: FromWire> Deserialize<'de> for LogRecord<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut wire = WireRecord::deserialize(deserializer)?;
        let missing = <D::Error as serde::de::Error>::missing_field;
        Ok(LogRecord {
            offset: required(&mut wire.offset, "offset").map_err(missing)?,
            ts_ns: required(&mut wire.ts_ns, "ts_ns").map_err(missing)?,
            line: T::from_wire(&mut wire).map_err(missing)?,
        })
    }
}

/// What an app is, as the org home lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    /// Code the customer deploys.
    Application,
    /// A managed service attached to the org (database, cache, ...).
    Addon,
}

/// An app or add-on of an org, with a glance at its logs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppSummary {
    /// The identifier used in URLs and the API (`api`, `pg-main`).
    pub slug: String,
    /// What a person calls it.
    pub name: String,
    pub kind: AppKind,
    /// Runtime or add-on type: `Rust`, `Python`, `PostgreSQL 16`.
    pub runtime: String,
    /// Service log lines stored for it.
    pub service_lines: u64,
    /// Service log lines of the last hour.
    #[serde(default)]
    pub lines_last_hour: u64,
    /// Access log records (requests) of the last hour.
    #[serde(default)]
    pub requests_last_hour: u64,
    /// Time of its newest service log line, if it ever logged.
    pub last_log_ns: Option<i64>,
}

/// An organisation and what it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrgSummary {
    pub slug: String,
    pub name: String,
    pub apps: Vec<AppSummary>,
}

/// The first screenful of an app's logs, and where live tailing resumes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogPage {
    pub org: OrgSummary,
    pub app: AppSummary,
    /// Oldest first.
    pub records: Vec<ShownRecord>,
    /// The offset the live tail starts from: one past the newest record shown.
    pub next_offset: u64,
    /// A replay whose range holds more lines than the page shows.
    pub more_in_range: bool,
    /// What is wrong with the view's URL, if anything (then no records).
    pub problem: Option<ViewProblem>,
}

/// The logs page as its server function sends it: what the browser needs
/// of a [`LogPage`], what its rows mark, and the parts that only link or
/// submit (the head and its tabs, the bar, the column chooser, *Save
/// view*) drawn as
/// HTML by the server, so the browser carries neither their code nor the
/// filter's parser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogScreen {
    /// The org's slug and name.
    pub org: (String, String),
    /// The app's slug and name.
    pub app: (String, String),
    /// Oldest first.
    pub records: Vec<ShownRecord>,
    /// The offset the live tail starts from: one past the newest record shown.
    pub next_offset: u64,
    /// A replay whose range holds more lines than the page shows.
    pub more_in_range: bool,
    /// Whether the view's URL has a mistake (the bar says which).
    pub has_problem: bool,
    /// The filter's text terms, lower-cased, that the rows mark.
    pub needles: Vec<String>,
    /// The app's name, runtime and tabs.
    pub head_html: String,
    /// The bar above the lines: the filter, the range and the downloads.
    pub bar_html: String,
    /// The access table's column chooser; empty on service logs, and when
    /// the view has a problem.
    pub columns_html: String,
    /// *Save view*; empty when the view has a problem.
    pub save_html: String,
}

/// What the logs page shows, as its URL says (`?q=…&since=…&until=…`), so
/// a reload or a shared link restores exactly that view.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogView {
    /// Service logs (the default) or access logs (`kind=access`).
    pub kind: ViewKind,
    /// The filter as typed (docs/QUERY.md).
    pub q: String,
    /// Replay from this time, as typed (`1h`, `2026-11-25T10:00:00Z`, or a
    /// date-time picker's `2026-11-25T10:00`, read as UTC); live when empty.
    pub since: String,
    /// Replay up to this time; up to now when empty.
    pub until: String,
    /// The access table's columns after the time (`cols=path,status,agent`,
    /// see [`AccessColumn`]); the default ones when empty.
    #[serde(default)]
    pub cols: String,
}

/// How a URL names `columns`: empty for the default ones.
pub fn cols_of(columns: &[AccessColumn]) -> String {
    if columns == AccessColumn::DEFAULT {
        String::new()
    } else {
        columns.iter().map(|column| column.name()).collect::<Vec<_>>().join(",")
    }
}

/// A column of the access-log table, after the time (which is always shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessColumn {
    Method,
    Path,
    Status,
    Duration,
    Bytes,
    Client,
    Host,
    Instance,
    Agent,
}

impl AccessColumn {
    pub const ALL: [AccessColumn; 9] = [
        AccessColumn::Method,
        AccessColumn::Path,
        AccessColumn::Status,
        AccessColumn::Duration,
        AccessColumn::Bytes,
        AccessColumn::Client,
        AccessColumn::Host,
        AccessColumn::Instance,
        AccessColumn::Agent,
    ];
    /// Shown when a view names none: the first six.
    pub const DEFAULT: &'static [AccessColumn] = AccessColumn::ALL.split_at(6).0;

    /// As a URL says it.
    pub fn name(self) -> &'static str {
        match self {
            AccessColumn::Method => "method",
            AccessColumn::Path => "path",
            AccessColumn::Status => "status",
            AccessColumn::Duration => "duration",
            AccessColumn::Bytes => "bytes",
            AccessColumn::Client => "client",
            AccessColumn::Host => "host",
            AccessColumn::Instance => "instance",
            AccessColumn::Agent => "agent",
        }
    }

    /// As its head says it.
    pub fn title(self) -> &'static str {
        match self {
            AccessColumn::Method => "Method",
            AccessColumn::Path => "Path",
            AccessColumn::Status => "Status",
            AccessColumn::Duration => "Duration",
            AccessColumn::Bytes => "Bytes",
            AccessColumn::Client => "Client",
            AccessColumn::Host => "Host",
            AccessColumn::Instance => "Instance",
            AccessColumn::Agent => "User agent",
        }
    }

    /// Its track in the table's grid: the path and the agent share the room left.
    pub fn track(self) -> &'static str {
        match self {
            AccessColumn::Method => "56px",
            AccessColumn::Path => "minmax(0, 2fr)",
            AccessColumn::Status => "52px",
            AccessColumn::Duration | AccessColumn::Bytes => "72px",
            AccessColumn::Client => "170px",
            AccessColumn::Host => "minmax(0, 160px)",
            AccessColumn::Instance => "96px",
            AccessColumn::Agent => "minmax(0, 1fr)",
        }
    }

    pub fn parse(name: &str) -> Option<AccessColumn> {
        AccessColumn::ALL.into_iter().find(|column| column.name() == name.trim())
    }
}

impl LogView {
    /// The access table's columns, in the order `cols` names them (unknown
    /// names and repeats left out), or the default ones.
    pub fn access_columns(&self) -> Vec<AccessColumn> {
        let mut columns: Vec<AccessColumn> = Vec::new();
        for column in self.cols.split(',').filter_map(AccessColumn::parse) {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        if columns.is_empty() {
            AccessColumn::DEFAULT.to_vec()
        } else {
            columns
        }
    }

    /// The same view showing `column` or not: added at its place in
    /// [`AccessColumn::ALL`] among those shown, or removed (the last one
    /// stays).
    pub fn toggling_column(&self, column: AccessColumn) -> LogView {
        let shown = self.access_columns();
        let columns: Vec<AccessColumn> = if shown.contains(&column) {
            shown.iter().copied().filter(|c| *c != column || shown.len() == 1).collect()
        } else {
            AccessColumn::ALL.into_iter().filter(|c| shown.contains(c) || *c == column).collect()
        };
        LogView { cols: cols_of(&columns), ..self.clone() }
    }

    pub fn is_replay(&self) -> bool {
        !self.since.trim().is_empty()
    }

    /// This view's query string (`?q=…`), empty for the plain live view.
    pub fn to_query(&self) -> String {
        let kind = match self.kind {
            ViewKind::Service => String::new(),
            ViewKind::Access => "access".to_string(),
        };
        let pairs: Vec<String> =
            [("kind", &kind), ("q", &self.q), ("since", &self.since), ("until", &self.until), ("cols", &self.cols)]
                .into_iter()
                .filter(|(_, value)| !value.trim().is_empty())
                .map(|(name, value)| format!("{name}={}", url_encode(value.trim())))
                .collect();
        if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        }
    }
}

/// A view of an app's logs that an org's members saved under a name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedView {
    pub id: i64,
    pub name: String,
    pub app: String,
    pub view: LogView,
    /// Who saved it (`user ada`).
    pub created_by: String,
    pub created_at_ns: i64,
}

impl SavedView {
    /// The logs page showing it: the link to open or share.
    pub fn href(&self, org: &str) -> String {
        format!("/orgs/{org}/apps/{}/logs{}", self.app, self.view.to_query())
    }
}

/// Which of an app's logs the page shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewKind {
    #[default]
    Service,
    Access,
}

impl ViewKind {
    /// `access` → Access; anything else is the default, service logs.
    pub fn from_param(text: &str) -> ViewKind {
        if text == "access" {
            ViewKind::Access
        } else {
            ViewKind::Service
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ViewKind::Service => "service",
            ViewKind::Access => "access",
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A mistake in a view's parameters: which one, what is wrong, and for the
/// filter the character it was found at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewProblem {
    /// `q`, `since` or `until`.
    pub param: String,
    pub message: String,
    pub position: Option<usize>,
}

/// The UTC date of nanoseconds since the epoch, `YYYY-MM-DD`.
pub fn day_utc(ts_ns: i64) -> String {
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let days = ts_ns.div_euclid(86_400_000_000_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Formats nanoseconds since the epoch as `HH:MM:SS.mmm` in UTC.
pub fn clock_utc(ts_ns: i64) -> String {
    let ms_of_day = (ts_ns.div_euclid(1_000_000)).rem_euclid(86_400_000);
    let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1_000, rest % 1_000);
    format!("{h:02}:{m:02}:{s:02}.{ms:03}")
}

/// `12345678` → `12,345,678`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_every_kind_read_back_as_the_logs_api_writes_them() {
        let service = ShownRecord {
            offset: 7,
            ts_ns: 42,
            line: LogLine::Service(ServiceLine {
                instance: "web-1".into(),
                level: Level::Warn,
                message: "slow".into(),
                fields: BTreeMap::from([("user".to_string(), serde_json::json!({"id": 3}))]),
            }),
        };
        let access = ShownRecord {
            offset: 8,
            ts_ns: 43,
            line: LogLine::Access(AccessLine {
                instance: "web-2".into(),
                method: "GET".into(),
                host: "api.example".into(),
                path: "/a".into(),
                query: String::new(),
                status: 503,
                bytes_sent: 12,
                duration_ms: 1.5,
                client_ip: "192.0.2.1".into(),
                country: Some("FR".into()),
                city: None,
                lat: Some(48.8),
                lon: Some(2.3),
                user_agent: "curl".into(),
            }),
        };
        let audit = AuditRecord {
            offset: 9,
            ts_ns: 44,
            line: AuditLine {
                actor: "ada".into(),
                action: "token.created".into(),
                target: "token 4".into(),
                ip: "::1".into(),
                before: None,
                after: Some(serde_json::json!({"name": "deploy"})),
            },
        };
        for record in [service, access] {
            let text = serde_json::to_string(&record).unwrap();
            assert_eq!(serde_json::from_str::<ShownRecord>(&text).unwrap(), record, "{text}");
        }
        let text = serde_json::to_string(&audit).unwrap();
        assert_eq!(serde_json::from_str::<AuditRecord>(&text).unwrap(), audit, "{text}");
    }

    #[test]
    fn a_record_missing_a_field_is_refused_with_its_name() {
        let error = serde_json::from_str::<ShownRecord>(r#"{"offset":1,"ts_ns":2,"instance":"w","message":"m"}"#);
        assert!(error.unwrap_err().to_string().contains("missing field `level`"));
        let error = serde_json::from_str::<ShownRecord>(r#"{"offset":1,"ts_ns":2,"instance":"w","method":"GET"}"#);
        assert!(error.unwrap_err().to_string().contains("missing field `host`"));
        let error = serde_json::from_str::<ShownRecord>(r#"{"ts_ns":2,"instance":"w","level":"info","message":"m"}"#);
        assert!(error.unwrap_err().to_string().contains("missing field `offset`"));
    }

    #[test]
    fn fixed_rounds_half_up_with_the_asked_decimals() {
        assert_eq!(fixed(12_345, 1_000, 1), "12.3");
        assert_eq!(fixed(12_350, 1_000, 1), "12.4");
        assert_eq!(fixed(999_999, 1_000, 0), "1000");
        assert_eq!(fixed(1_005, 1_000, 2), "1.01");
        assert_eq!(fixed(40, 1_000, 1), "0.0");
        assert_eq!(describe_bytes(999), "999 B");
        assert_eq!(describe_bytes(12_345), "12.3 kB");
        assert_eq!(describe_bytes(4_500_000), "4.5 MB");
        assert_eq!(describe_bytes(1_200_000_000), "1.2 GB");
    }

    #[test]
    fn group_thousands_puts_a_comma_every_three_digits() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_000), "1,000");
        assert_eq!(group_thousands(12_345_678), "12,345,678");
    }

    #[test]
    fn clock_utc_shows_milliseconds_of_the_day() {
        // 2026-11-24T13:05:09.042Z
        let ts_ns = 1_795_525_509_042_000_000;
        assert_eq!(clock_utc(ts_ns), "13:05:09.042");
        assert_eq!(clock_utc(0), "00:00:00.000");
    }

    #[test]
    fn level_parse_accepts_common_spellings() {
        assert_eq!(Level::parse("WARNING"), Some(Level::Warn));
        assert_eq!(Level::parse("err"), Some(Level::Error));
        assert_eq!(Level::parse("crit"), Some(Level::Fatal));
        assert_eq!(Level::parse("loud"), None);
    }

    #[test]
    fn service_record_serialises_flat_with_offset_and_time() {
        let record = ServiceRecord {
            offset: 7,
            ts_ns: 1,
            line: ServiceLine {
                instance: "web-1".into(),
                level: Level::Warn,
                message: "slow".into(),
                fields: BTreeMap::new(),
            },
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"offset": 7, "ts_ns": 1, "instance": "web-1", "level": "warn", "message": "slow"})
        );
        let back: ServiceRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }
}

/// Who is signed in to the console, and the orgs (slugs) they may see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub login: String,
    pub name: String,
    pub orgs: Vec<String>,
    /// The orgs they administer (a part of `orgs`).
    pub admin_of: Vec<String>,
    /// The address this request came from, for the audit log.
    #[serde(default)]
    pub ip: String,
    /// The display names of `orgs`, in the same order.
    #[serde(default)]
    pub org_names: Vec<String>,
    /// When the session ends (ns since the Unix epoch); the console then
    /// asks to sign in again.
    #[serde(default)]
    pub session_ends_ns: i64,
}

impl Viewer {
    pub fn may_see(&self, org: &str) -> bool {
        self.orgs.iter().any(|slug| slug == org)
    }

    pub fn may_administer(&self, org: &str) -> bool {
        self.admin_of.iter().any(|slug| slug == org)
    }

    /// How the audit log names them.
    pub fn actor(&self) -> String {
        format!("user {}", self.login)
    }
}

/// One kind of an app's logs: how long it is kept and what it takes now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetentionRow {
    pub kind: ViewKind,
    pub max_age_secs: Option<u64>,
    pub max_bytes: Option<u64>,
    pub stored_bytes: u64,
    pub stored_records: u64,
    /// Age of the oldest line kept, in seconds.
    pub oldest_age_secs: Option<u64>,
}

impl RetentionRow {
    /// Bytes stored per day at the rate seen so far (what is stored over
    /// the age of its oldest line, counted as at least an hour).
    pub fn bytes_per_day(&self) -> Option<f64> {
        let age = self.oldest_age_secs?.max(3_600) as f64;
        (self.stored_bytes > 0).then(|| self.stored_bytes as f64 * 86_400.0 / age)
    }

    /// What keeping `days` (and at most `max_bytes`) would take on disk at
    /// the rate seen so far, in words; `None` before anything is stored.
    pub fn estimate(&self, days: Option<f64>, max_bytes: Option<u64>) -> Option<String> {
        let per_day = self.bytes_per_day()?;
        let by_age = days.map(|days| per_day * days);
        let bound = match (by_age, max_bytes) {
            (Some(age), Some(size)) => Some(age.min(size as f64)),
            (Some(age), None) => Some(age),
            (None, Some(size)) => Some(size as f64),
            (None, None) => None,
        };
        Some(match bound {
            Some(bytes) => format!(
                "At the current {} a day, this keeps about {} on disk.",
                describe_bytes(per_day as u64),
                describe_bytes(bytes as u64)
            ),
            None => format!("At the current {} a day, this grows without limit.", describe_bytes(per_day as u64)),
        })
    }
}

/// An app's settings page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppSettings {
    pub org: OrgSummary,
    pub app: AppSummary,
    pub retention: Vec<RetentionRow>,
    /// Whether the viewer may change them (an admin of the org).
    pub may_change: bool,
}

/// An org's "Metrics in Grafana" section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GrafanaView {
    pub org: String,
    pub enabled: bool,
    /// The org's Grafana token: its name and the first characters of its
    /// secret (the rest is never shown).
    pub token_name: Option<String>,
    pub token_hint: Option<String>,
    /// Revoked: every panel says "invalid token" until a reset.
    pub token_revoked: bool,
    /// The Home dashboard in the Grafana Vigie provisions, if any.
    pub home_url: Option<String>,
    pub provisioned_at_ns: Option<i64>,
    pub provision_error: Option<String>,
    pub dashboards: usize,
    /// Whether the viewer may act (an admin of the org).
    pub may_change: bool,
}

pub type AuditRecord = LogRecord<AuditLine>;

/// An org's audit log, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub org: OrgSummary,
    pub records: Vec<AuditRecord>,
}

/// `512 B`, `12.3 kB`, `4.5 MB`, `1.2 GB`.
pub fn describe_bytes(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{} kB", fixed(bytes, 1_000, 1)),
        1_000_000..1_000_000_000 => format!("{} MB", fixed(bytes, 1_000_000, 1)),
        _ => format!("{} GB", fixed(bytes, 1_000_000_000, 1)),
    }
}

/// `value / unit` rounded to `decimals` places (at most 3), written with
/// integer arithmetic: the browser bundle then carries no float formatter.
pub fn fixed(value: u64, unit: u64, decimals: u32) -> String {
    let scale = 10u64.pow(decimals.min(3));
    let scaled = value.saturating_mul(scale).saturating_add(unit / 2) / unit;
    let (whole, frac) = (scaled / scale, scaled % scale);
    match decimals.min(3) {
        0 => format!("{whole}"),
        d => format!("{whole}.{frac:0width$}", width = d as usize),
    }
}

/// `45 minutes`, `3 hours`, `7 days`.
pub fn describe_days(secs: u64) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match secs {
        0..3_600 => plural((secs / 60).max(1), "minute"),
        3_600..86_400 => plural(secs / 3_600, "hour"),
        _ => plural(secs / 86_400, "day"),
    }
}

#[cfg(test)]
mod view_tests {
    use super::*;

    #[test]
    fn a_view_writes_only_its_set_parameters_encoded() {
        assert_eq!(LogView::default().to_query(), "");
        let view = LogView {
            q: "level>=warn \"db down\"".into(),
            since: "1h".into(),
            until: String::new(),
            ..LogView::default()
        };
        assert_eq!(view.to_query(), "?q=level%3E%3Dwarn%20%22db%20down%22&since=1h");
        let access = LogView { kind: ViewKind::Access, q: "status:5xx".into(), ..LogView::default() };
        assert_eq!(access.to_query(), "?kind=access&q=status%3A5xx");
        assert!(view.is_replay());
    }

    #[test]
    fn access_columns_toggle_in_their_place_and_the_default_writes_nothing() {
        let view = LogView { kind: ViewKind::Access, ..LogView::default() };
        assert_eq!(view.access_columns(), AccessColumn::DEFAULT);
        let with_agent = view.toggling_column(AccessColumn::Agent);
        assert_eq!(with_agent.cols, "method,path,status,duration,bytes,client,agent");
        let without_method = with_agent.toggling_column(AccessColumn::Method).toggling_column(AccessColumn::Bytes);
        assert_eq!(without_method.cols, "path,status,duration,client,agent");
        assert_eq!(without_method.to_query(), "?kind=access&cols=path%2Cstatus%2Cduration%2Cclient%2Cagent");
        let host = without_method.toggling_column(AccessColumn::Host);
        assert_eq!(host.access_columns()[4], AccessColumn::Host, "in its place among those shown");
        assert_eq!(with_agent.toggling_column(AccessColumn::Agent).cols, "", "back to the default");
        let odd = LogView { cols: "path,,nope,path,<b>".into(), ..LogView::default() };
        assert_eq!(odd.access_columns(), [AccessColumn::Path]);
        assert_eq!(odd.toggling_column(AccessColumn::Path).access_columns(), [AccessColumn::Path], "one stays");
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;

    #[test]
    fn a_record_of_either_kind_reads_back_as_its_own_kind() {
        let access = serde_json::json!({"offset": 1, "ts_ns": 2, "instance": "web-1", "method": "GET", "host": "h",
            "path": "/", "status": 503, "bytes_sent": 10, "duration_ms": 1.5, "client_ip": "192.0.2.1", "user_agent": "curl"});
        let service =
            serde_json::json!({"offset": 3, "ts_ns": 4, "instance": "web-1", "level": "warn", "message": "hi"});
        let access: ShownRecord = serde_json::from_value(access).unwrap();
        let service: ShownRecord = serde_json::from_value(service).unwrap();
        assert!(matches!(access.line, LogLine::Access(ref line) if line.status == 503));
        assert!(matches!(service.line, LogLine::Service(ref line) if line.message == "hi"));
    }
}

#[cfg(test)]
mod retention_tests {
    use super::*;

    #[test]
    fn the_estimate_follows_the_rate_and_the_tighter_limit() {
        let row = RetentionRow {
            kind: ViewKind::Service,
            max_age_secs: None,
            max_bytes: None,
            stored_bytes: 2_000_000,
            stored_records: 10_000,
            oldest_age_secs: Some(2 * 86_400),
        };
        assert_eq!(row.bytes_per_day(), Some(1_000_000.0));
        assert_eq!(
            row.estimate(Some(7.0), None).unwrap(),
            "At the current 1.0 MB a day, this keeps about 7.0 MB on disk."
        );
        assert_eq!(
            row.estimate(Some(30.0), Some(5_000_000)).unwrap(),
            "At the current 1.0 MB a day, this keeps about 5.0 MB on disk."
        );
        assert!(row.estimate(None, None).unwrap().ends_with("grows without limit."));
        let empty = RetentionRow { stored_bytes: 0, ..row };
        assert_eq!(empty.estimate(Some(7.0), None), None);
        assert_eq!(describe_days(7 * 86_400), "7 days");
        assert_eq!(day_utc(1_795_525_509_000_000_000), "2026-11-24");
        assert_eq!(day_utc(0), "1970-01-01");
        assert_eq!(day_utc(951_782_400_000_000_000), "2000-02-29");
        assert_eq!(describe_days(3_600), "1 hour");
    }
}

/// Why the server ended a console's live stream (`event: end`), and what to
/// tell the viewer. After it the server closes the stream, and the console
/// does not open it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnd {
    pub reason: EndReason,
    /// A sentence for people.
    #[serde(default)]
    pub message: String,
}

/// Why a live stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The viewer's session expired or was ended (signed out).
    SessionEnded,
    /// The viewer is no longer a member of the org.
    AccessRemoved,
    /// The token the stream was opened with was revoked.
    TokenRevoked,
    /// A reason this console does not know yet: it ends the stream all the same.
    #[serde(other)]
    Other,
}

impl StreamEnd {
    /// The `end` event's data; whatever it holds, the stream has ended, so
    /// data this console cannot read still ends it, with a plain sentence.
    pub fn from_event_data(data: &str) -> StreamEnd {
        let mut end = crate::json::decode::<StreamEnd>(data)
            .unwrap_or(StreamEnd { reason: EndReason::Other, message: String::new() });
        if end.message.trim().is_empty() {
            end.message = match end.reason {
                EndReason::SessionEnded => "Your session has ended: sign in again to follow these logs.",
                EndReason::AccessRemoved => "You can no longer read this app's logs.",
                EndReason::TokenRevoked => "The token this stream was opened with was revoked.",
                EndReason::Other => "The server ended this live stream.",
            }
            .to_string();
        }
        end
    }
}

#[cfg(test)]
mod stream_end_tests {
    use super::*;

    #[test]
    fn an_end_event_reads_its_reason_and_sentence_and_any_data_still_ends_the_stream() {
        let end = StreamEnd::from_event_data(r#"{"reason":"access_removed","message":"You were removed from Acme."}"#);
        assert_eq!(end, StreamEnd { reason: EndReason::AccessRemoved, message: "You were removed from Acme.".into() });
        assert_eq!(StreamEnd::from_event_data(r#"{"reason":"session_ended"}"#).reason, EndReason::SessionEnded);
        assert_eq!(
            StreamEnd::from_event_data(r#"{"reason":"token_revoked","message":""}"#).reason,
            EndReason::TokenRevoked
        );
        let unknown = StreamEnd::from_event_data(r#"{"reason":"moon_phase","message":"Gone."}"#);
        assert_eq!((unknown.reason, unknown.message.as_str()), (EndReason::Other, "Gone."));
        let unreadable = StreamEnd::from_event_data("not json");
        assert_eq!(unreadable.reason, EndReason::Other);
        assert!(!unreadable.message.is_empty(), "the viewer is told something");
    }
}

/// The ranges the dashboards offer, back from now (`?range=…`).
pub const CHART_RANGES: [&str; 5] = ["1h", "6h", "24h", "7d", "30d"];

/// The range a dashboard shows when its URL names none.
pub const DEFAULT_CHART_RANGE: &str = "24h";

/// A link among several choices (a range, a metric, an aggregation), and
/// whether it is the one shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub label: String,
    pub href: String,
    pub current: bool,
}

/// A chart as the page shows it, every piece drawn or written on the
/// server: the browser only places it (no plotting or number formatting
/// in the bundle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartView {
    /// A stable name for tests and anchors: the metric's name.
    pub id: String,
    /// `CPU %`, `Memory used (MB)`.
    pub title: String,
    /// Its accessible name: what it shows and each line's maximum.
    pub summary: String,
    /// The SVG drawing of the axes, its text escaped; no user text is
    /// drawn in it (the legend and table carry the names).
    pub svg: String,
    /// One drawing per line, in the legend's order, laid over the axes at
    /// the same size, so the legend can hide and show each.
    pub layers: Vec<String>,
    /// Lines drawn as stacked areas (each layer from 0 to its cumulative values).
    pub stacked: bool,
    /// The time axis, ms since the epoch.
    pub from_ms: i64,
    pub to_ms: i64,
    /// The top of the value axis, in the values' own unit.
    pub y_top: f64,
    /// Where the plot sits in the drawing (left, top, right, bottom, as
    /// fractions of its width and height).
    pub plot: [f64; 4],
    /// The URL parameters a drag across the plot writes its range to
    /// (`from`, `to` on the dashboards; `since`, `until` on the logs page).
    #[serde(default = "default_zoom_params")]
    pub zoom: [String; 2],
    /// Where a click on the plot leads: a URL in which `{series}` becomes
    /// the line under the pointer (URL-encoded), `{since}` and `{until}`
    /// the minute clicked (RFC 3339). `None`: a click does nothing.
    pub click: Option<String>,
    pub legend: Vec<LegendEntry>,
    pub table: ChartTable,
}

impl ChartView {
    /// The table row nearest to `ts_ms`, if the chart has rows.
    pub fn row_near(&self, ts_ms: i64) -> Option<&ChartRow> {
        let rows = &self.table.rows;
        let at = rows.partition_point(|row| row.ts_ms < ts_ms);
        let after = rows.get(at);
        let before = at.checked_sub(1).and_then(|at| rows.get(at));
        match (before, after) {
            (Some(b), Some(a)) => Some(if ts_ms - b.ts_ms <= a.ts_ms - ts_ms { b } else { a }),
            (one, None) | (None, one) => one,
        }
    }

    /// The time at a fraction `x` (0 to 1) across the whole drawing; `None` outside the plot.
    pub fn time_at(&self, x: f64) -> Option<i64> {
        let [left, _, right, _] = self.plot;
        let across = (x - left) / (right - left);
        (0.0..=1.0).contains(&across).then(|| self.from_ms + ((self.to_ms - self.from_ms) as f64 * across) as i64)
    }

    /// Where `ts_ms` is across the whole drawing, as a fraction of its width.
    pub fn x_of(&self, ts_ms: i64) -> f64 {
        let [left, _, right, _] = self.plot;
        left + (right - left) * (ts_ms - self.from_ms) as f64 / (self.to_ms - self.from_ms).max(1) as f64
    }

    /// The value at a fraction `y` (0 at the top) down the whole drawing.
    pub fn value_at(&self, y: f64) -> f64 {
        let [_, top, _, bottom] = self.plot;
        self.y_top * (1.0 - (y - top) / (bottom - top))
    }

    /// The line a click at `value` in `row` is on: for stacked areas, the
    /// band it falls in; otherwise the nearest line (faint ones left out).
    pub fn line_at(&self, row: &ChartRow, value: f64) -> Option<usize> {
        let values: Vec<Option<f64>> = row.cells.iter().map(|cell| cell.value.parse::<f64>().ok()).collect();
        if self.stacked {
            let mut sum = 0.0;
            for (at, cell) in values.iter().enumerate() {
                sum += cell.unwrap_or(0.0);
                if value <= sum {
                    return Some(at);
                }
            }
            return values.iter().rposition(Option::is_some);
        }
        values
            .iter()
            .enumerate()
            .filter(|(at, _)| !self.legend.get(*at).is_some_and(|entry| entry.faint))
            .filter_map(|(at, cell)| cell.map(|v| (at, (v - value).abs())))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(at, _)| at)
    }

    /// Where a click on line `line` at the minute of `ts_ms` leads.
    pub fn click_href(&self, line: usize, ts_ms: i64) -> Option<String> {
        let template = self.click.as_ref()?;
        let series = self.legend.get(line)?.label.clone();
        let minute = ts_ms.div_euclid(60_000) * 60_000;
        Some(
            template
                .replace("{series}", &url_encode(&series))
                .replace("{since}", &url_encode(&rfc3339_utc(minute)))
                .replace("{until}", &url_encode(&rfc3339_utc(minute + 60_000))),
        )
    }
}

fn default_zoom_params() -> [String; 2] {
    ["from".to_string(), "to".to_string()]
}

/// `2026-11-25T14:05:00Z` for ms since the epoch.
pub fn rfc3339_utc(ts_ms: i64) -> String {
    let ns = ts_ms * 1_000_000;
    format!("{}T{}Z", day_utc(ns), &clock_utc(ns)[..8])
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LegendEntry {
    pub label: String,
    /// The line's colour, `#rrggbb`.
    pub colour: String,
    /// `max 43.2`.
    pub note: String,
    /// Drawn faint beside another line (a limit): never the line a click is on.
    #[serde(default)]
    pub faint: bool,
}

/// A chart's numbers: one row per step, one column per line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartTable {
    /// What each cell is: `avg per 5 min step, %`.
    pub caption: String,
    pub columns: Vec<String>,
    pub rows: Vec<ChartRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartRow {
    /// The step's start in ms since the epoch, and written in UTC.
    pub ts_ms: i64,
    pub time: String,
    pub cells: Vec<ChartCell>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartCell {
    /// As shown (`43.2`), empty when the line has no point in the step.
    pub text: String,
    /// The exact value, as the Stats API writes it.
    pub value: String,
}

/// The view the metrics page's URL asks for, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MetricsAsk {
    pub range: String,
    /// A custom range (RFC 3339), which zooming writes; it wins over `range`.
    pub from: String,
    pub to: String,
    pub metric: String,
    pub aggregation: String,
    pub group_by: String,
}

/// `/orgs/:org/apps/:app/metrics`: the app's server metrics per instance
/// and its custom (statsd) metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsPage {
    pub org: OrgSummary,
    pub app: AppSummary,
    pub ranges: Vec<Choice>,
    /// A range back from now: the page follows new points.
    pub live: bool,
    /// `last 24 h`.
    pub range_label: String,
    /// What is wrong with the URL (then no chart is drawn).
    pub problem: Option<String>,
    /// One chart per instance metric the app reports; empty when it reports none.
    pub server_charts: Vec<ChartView>,
    /// The app's statsd metrics, each a link that picks it.
    pub custom_metrics: Vec<Choice>,
    pub picked: Option<PickedMetric>,
}

/// The custom metric the URL picked, its choices and its chart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PickedMetric {
    pub name: String,
    pub kind: String,
    pub aggregations: Vec<Choice>,
    /// `none` and each of its tags.
    pub group_bys: Vec<Choice>,
    /// Why the chart is not drawn, if it is not.
    pub problem: Option<String>,
    pub chart: Option<ChartView>,
}

/// The ranges the HTTP statistics page offers: they are kept 2 days.
pub const HTTP_RANGES: [&str; 4] = ["1h", "6h", "24h", "2d"];

/// `/orgs/:org/apps/:app/http`: the app's HTTP statistics from its access logs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpPage {
    pub org: OrgSummary,
    pub app: AppSummary,
    pub ranges: Vec<Choice>,
    /// A range back from now: the page follows new requests.
    pub live: bool,
    /// `last 24 h`.
    pub range_label: String,
    /// What is wrong with the URL (then nothing else is shown).
    pub problem: Option<String>,
    /// Requests over the range, written out (`12,345`).
    pub total_requests: String,
    /// Requests per second by status class, latency percentiles, bytes out.
    pub charts: Vec<ChartView>,
    /// Each status class with its requests over the range, linking to its access logs.
    pub status_links: Vec<CountLink>,
    /// The most requested paths, most first.
    pub top_paths: Vec<PathRow>,
}

/// A count that links to the logs that make it up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CountLink {
    pub label: String,
    pub count: String,
    pub href: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathRow {
    pub path: String,
    /// Its access logs; none for the paths counted together.
    pub href: Option<String>,
    pub requests: String,
    /// Share of its requests answered 5xx: `2.5 %`.
    pub error_rate: String,
    /// The 99th percentile of its latency: `120 ms`, or `–` when none was timed.
    pub p99: String,
}

/// The request map: cells drawn on the server over the world's outlines
/// (`/world.svg`, the same equirectangular plane: x = longitude + 180,
/// y = 90 − latitude), and the countries with their counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapView {
    /// SVG markup of the cells (one `<a>` a cell, its text escaped).
    pub cells_svg: String,
    /// The countries with most requests, each linking to its access logs.
    pub countries: Vec<CountLink>,
    /// Requests placed on the map, written out.
    pub placed: String,
    /// The map's accessible name: what it shows and where most requests come from.
    pub summary: String,
    /// The attribution the GeoIP data's licence asks for (text, link).
    pub credit: Option<(String, String)>,
}

/// An error line of the app's service logs, linking to it in the logs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorLine {
    /// `14:05:09` (UTC).
    pub time: String,
    pub instance: String,
    pub message: String,
    pub href: String,
}

/// `/orgs/:org/apps/:app`: the app at a glance over the last 24 h.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverviewPage {
    pub org: OrgSummary,
    pub app: AppSummary,
    /// CPU and memory per instance.
    pub server_charts: Vec<ChartView>,
    /// Requests per hour by status class.
    pub requests_chart: Option<ChartView>,
    pub total_requests: String,
    pub status_links: Vec<CountLink>,
    /// p50, p95, p99 over the 24 h (`label` the percentile, `count` the ms).
    pub latency: Vec<CountLink>,
    /// Requests per second over the last whole minute.
    pub requests_per_second: String,
    /// The newest error lines of the last hour, newest first.
    pub errors: Vec<ErrorLine>,
    /// How many error lines the last hour holds (`200+` past what was read).
    pub error_count: String,
    /// The service logs of the last hour at error level and above.
    pub errors_href: String,
    /// The small request map, drawn on the server: it only links, so the
    /// browser needs no map code for it.
    pub map_html: String,
}

/// The ways the request map shows requests.
pub const MAP_MODES: [&str; 2] = ["24h", "realtime"];

/// `/orgs/:org/apps/:app/map`: where the app's requests come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapPage {
    pub org: OrgSummary,
    pub app: AppSummary,
    /// `24h` (a heatmap of the last 24 h) or `realtime` (a dot per request as it comes).
    pub mode: String,
    pub modes: Vec<Choice>,
    pub problem: Option<String>,
    pub map: MapView,
}

/// An app's requests and 5xx responses per hour over 24 h, for its card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppSparklines {
    pub app: String,
    /// SVG `points` of each polyline in a 100 × 24 box.
    pub requests: String,
    pub errors: String,
    /// `1,234 requests, 5 errors (5xx) in 24 h`.
    pub summary: String,
}

/// The logs page's explorer: the view's volume over its range (a live
/// view: the last hour) and its fields' most frequent values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explorer {
    pub chart: Option<ChartView>,
    /// Matching records in the range, written out.
    pub total: String,
    pub range_label: String,
    pub facets: Vec<Facet>,
    pub problem: Option<String>,
}

/// A field of the view and its most frequent values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Facet {
    pub field: String,
    pub values: Vec<FacetValue>,
    /// Matching records with another value or none, written out (empty when 0).
    pub other: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FacetValue {
    pub value: String,
    pub count: String,
    /// The view with `field:value` added to its filter.
    pub include: String,
    /// The view with `-field:value` added.
    pub exclude: String,
}
