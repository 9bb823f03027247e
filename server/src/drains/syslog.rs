//! `syslog-tcp`, `syslog-udp` and `ovh-tcp`: each record as one RFC 5424
//! message.
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [vigie@32473 org=".." offset=".." ...] MSG
//! ```
//!
//! - PRI: facility `user` (1) for service and access logs, `log audit` (13)
//!   for the audit log; severity from the line's level (or the access
//!   status: 5xx error, 4xx warning).
//! - TIMESTAMP in UTC with microseconds; HOSTNAME the instance; APP-NAME the
//!   app (`vigie-audit` for the audit log); MSGID the kind (`LOG`,
//!   `ACCESSLOG`, `AUDITLOG`).
//! - Structured data under the documentation enterprise number 32473
//!   (RFC 5612): the org, the offset, and an access line's fields;
//!   `ovh-tcp` adds `[X-OVH-TOKEN@16739 X-OVH-TOKEN="…"]` first.
//! - MSG: the message in UTF-8 after a BOM, newlines kept.
//!
//! Over TCP each message is octet-counted (RFC 6587 `LEN SP MSG`), over TLS
//! too (RFC 5425, rustls with the web PKI roots); a batch is one write, and
//! it counts as acknowledged once the connection took it (syslog has no
//! application acknowledgement). A connection the peer closed is noticed
//! before writing and opened again. Over UDP (RFC 5426) each message is one
//! datagram, cut to fit one.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::config::DrainKind;
use super::recipient::{Batch, BatchLimits, Delivered, Recipient, SendError};
use super::record::{rfc3339, DrainSource, Line};
use super::{targets, DrainSettings};
use crate::store::StoredRecord;

/// The enterprise number of Vigie's structured data: the one RFC 5612
/// reserves for documentation and examples.
pub const SD_ENTERPRISE: u32 = 32473;
/// Largest UDP message: an IPv4 datagram's payload.
const MAX_DATAGRAM: usize = 65_507;

/// One record as an RFC 5424 message (without framing).
pub fn message(source: &DrainSource, record: &StoredRecord, ovh_token: Option<&str>) -> Vec<u8> {
    let line = Line::decode(source.kind, &record.payload);
    let facility = if source.kind == DrainKind::Auditlog { 13 } else { 1 };
    let pri = facility * 8 + line.severity() as u8;
    let mut out = String::with_capacity(record.payload.len() + 200);
    let _ = write!(
        out,
        "<{pri}>1 {} {} {} - {} ",
        rfc3339(record.ts_ns, 6),
        header_field(line.instance(), 255),
        header_field(source.service(), 48),
        source.kind.as_str()
    );
    if let Some(token) = ovh_token {
        out.push_str("[X-OVH-TOKEN@16739 X-OVH-TOKEN=\"");
        push_param_value(&mut out, token);
        out.push_str("\"]");
    }
    let _ = write!(out, "[vigie@{SD_ENTERPRISE} org=\"");
    push_param_value(&mut out, &source.org);
    let _ = write!(out, "\" offset=\"{}\"", record.offset);
    if let Line::Access(access) = &line {
        let fields: [(&str, String); 7] = [
            ("method", access.method.clone()),
            ("host", access.host.clone()),
            ("path", access.path.clone()),
            ("status", access.status.to_string()),
            ("bytes", access.bytes_sent.to_string()),
            ("duration_ms", access.duration_ms.to_string()),
            ("client_ip", access.client_ip.clone()),
        ];
        for (name, value) in fields {
            let _ = write!(out, " {name}=\"");
            push_param_value(&mut out, &value);
            out.push('"');
        }
    }
    out.push_str("] \u{feff}");
    out.push_str(&line.message());
    out.into_bytes()
}

/// A header field: printable US-ASCII only (others become `_`), cut to
/// `max`, `-` when empty (RFC 5424 section 6).
fn header_field(text: &str, max: usize) -> String {
    let field: String = text.chars().take(max).map(|c| if c.is_ascii_graphic() { c } else { '_' }).collect();
    if field.is_empty() {
        "-".into()
    } else {
        field
    }
}

/// A PARAM-VALUE: `"`, `\` and `]` escaped with a backslash (section 6.3.3).
fn push_param_value(out: &mut String, value: &str) {
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// What a TCP or TLS connection is to the sender.
trait Connection: AsyncRead + AsyncWrite + Send + Sync + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin> Connection for T {}

/// `syslog-tcp` and `ovh-tcp`: octet-counted messages over TCP or TLS.
pub struct SyslogStream {
    host: String,
    port: u16,
    tls: bool,
    ovh_token: Option<String>,
    allow_private: bool,
    connect_timeout: Duration,
    extra_ca_file: Option<std::path::PathBuf>,
    connection: Option<Box<dyn Connection>>,
}

impl SyslogStream {
    pub fn new(url: url::Url, ovh_token: Option<String>, settings: &DrainSettings) -> SyslogStream {
        SyslogStream {
            host: url.host_str().unwrap_or_default().to_string(),
            port: url.port().unwrap_or(if url.scheme() == "tls" { 6514 } else { 514 }),
            tls: url.scheme() == "tls",
            ovh_token,
            allow_private: settings.allow_private_targets,
            connect_timeout: settings.request_timeout.min(Duration::from_secs(10)),
            extra_ca_file: settings.extra_ca_file.clone(),
            connection: None,
        }
    }

    async fn connect(&self) -> Result<Box<dyn Connection>, SendError> {
        let addrs = targets::resolve(&self.host, self.port, self.allow_private).await.map_err(SendError::new)?;
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&addrs[..]))
            .await
            .map_err(|_| SendError::new(format!("cannot connect to {}:{}: timed out", self.host, self.port)))?
            .map_err(|error| SendError::new(format!("cannot connect to {}:{}: {error}", self.host, self.port)))?;
        let _ = tcp.set_nodelay(true);
        if !self.tls {
            return Ok(Box::new(tcp));
        }
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|error| SendError::new(format!("{} cannot name a TLS server: {error}", self.host)))?;
        let ca_file = self.extra_ca_file.clone();
        let extra = tokio::task::spawn_blocking(move || targets::extra_roots(ca_file.as_deref()))
            .await
            .map_err(|error| SendError::new(error.to_string()))?
            .map_err(SendError::new)?;
        let tls = tokio::time::timeout(self.connect_timeout, tls_connector(extra).connect(name, tcp))
            .await
            .map_err(|_| SendError::new(format!("TLS with {}:{} timed out", self.host, self.port)))?
            .map_err(|error| SendError::new(format!("TLS with {}:{} failed: {error}", self.host, self.port)))?;
        Ok(Box::new(tls))
    }

    /// The open connection, unless the peer closed it (checked without waiting).
    fn still_open(&mut self) -> bool {
        let Some(connection) = self.connection.as_mut() else { return false };
        let mut probe = [0u8; 512];
        match connection.read(&mut probe).now_or_never() {
            None | Some(Ok(1..)) => true,
            Some(Ok(0)) | Some(Err(_)) => false,
        }
    }
}

impl Recipient for SyslogStream {
    fn limits(&self) -> BatchLimits {
        BatchLimits { max_lines: 10_000, max_bytes: 4 << 20 }
    }

    fn send<'a>(&'a mut self, batch: Batch<'a>) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let mut frames = Vec::with_capacity(batch.records.iter().map(|r| r.payload.len() + 160).sum());
            for record in batch.records {
                let message = message(batch.source, record, self.ovh_token.as_deref());
                frames.extend_from_slice(format!("{} ", message.len()).as_bytes());
                frames.extend_from_slice(&message);
            }
            if !self.still_open() {
                self.connection = Some(self.connect().await?);
            }
            let connection = self.connection.as_mut().expect("connected above");
            let written = async {
                connection.write_all(&frames).await?;
                connection.flush().await
            }
            .await;
            if let Err(error) = written {
                self.connection = None;
                return Err(SendError::new(format!("writing to {}:{} failed: {error}", self.host, self.port)));
            }
            Ok(Delivered {
                answer: format!(
                    "{} message(s), {} bytes, taken by {}:{}{}",
                    batch.records.len(),
                    frames.len(),
                    self.host,
                    self.port,
                    if self.tls { " over TLS" } else { "" }
                ),
            })
        })
    }
}

/// TLS with the web PKI's roots and `extra` ones (`--drain-ca-file`),
/// made at each connection (they are rare: a drain keeps its connection).
fn tls_connector(extra: Vec<rustls::pki_types::CertificateDer<'static>>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    roots.add_parsable_certificates(extra);
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// `syslog-udp`: one datagram per message.
pub struct SyslogUdp {
    host: String,
    port: u16,
    allow_private: bool,
    socket: Option<UdpSocket>,
}

impl SyslogUdp {
    pub fn new(url: url::Url, settings: &DrainSettings) -> SyslogUdp {
        SyslogUdp {
            host: url.host_str().unwrap_or_default().to_string(),
            port: url.port().unwrap_or(514),
            allow_private: settings.allow_private_targets,
            socket: None,
        }
    }

    async fn connect(&self) -> Result<UdpSocket, SendError> {
        let addrs = targets::resolve(&self.host, self.port, self.allow_private).await.map_err(SendError::new)?;
        let target = addrs[0];
        let local: std::net::SocketAddr =
            if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
        let socket = UdpSocket::bind(local).await.map_err(|error| SendError::new(format!("no UDP socket: {error}")))?;
        socket
            .connect(target)
            .await
            .map_err(|error| SendError::new(format!("cannot reach {}:{}: {error}", self.host, self.port)))?;
        Ok(socket)
    }
}

impl Recipient for SyslogUdp {
    fn limits(&self) -> BatchLimits {
        BatchLimits { max_lines: 1_000, max_bytes: 4 << 20 }
    }

    fn send<'a>(&'a mut self, batch: Batch<'a>) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            if self.socket.is_none() {
                self.socket = Some(self.connect().await?);
            }
            let socket = self.socket.as_ref().expect("bound above");
            for record in batch.records {
                let mut datagram = message(batch.source, record, None);
                if datagram.len() > MAX_DATAGRAM {
                    let mut cut = MAX_DATAGRAM;
                    while cut > 0 && (datagram[cut] & 0b1100_0000) == 0b1000_0000 {
                        cut -= 1;
                    }
                    datagram.truncate(cut);
                }
                if let Err(error) = socket.send(&datagram).await {
                    self.socket = None;
                    return Err(SendError::new(format!("sending to {}:{} failed: {error}", self.host, self.port)));
                }
            }
            Ok(Delivered { answer: format!("{} datagram(s) sent to {}:{}", batch.records.len(), self.host, self.port) })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(kind: DrainKind) -> DrainSource {
        DrainSource { org: "acme".into(), app: Some("api".into()), kind }
    }

    fn record(payload: &str) -> StoredRecord {
        StoredRecord { offset: 42, ts_ns: 1_764_374_400_123_456_789, payload: payload.into() }
    }

    #[test]
    fn a_service_line_is_an_rfc5424_message_with_its_place_in_structured_data() {
        let message = message(
            &source(DrainKind::Log),
            &record(r#"{"instance":"web 1","level":"error","message":"boom\nat main.rs:1 é"}"#),
            None,
        );
        assert_eq!(
            String::from_utf8(message).unwrap(),
            "<11>1 2025-11-29T00:00:00.123456Z web_1 api - LOG [vigie@32473 org=\"acme\" offset=\"42\"] \u{feff}boom\nat main.rs:1 é"
        );
    }

    #[test]
    fn access_fields_and_the_ovh_token_go_in_structured_data_escaped() {
        let access = r#"{"instance":"w","method":"GET","host":"h","path":"/a]\"b","status":404,"bytes_sent":1,"duration_ms":2.5,"client_ip":"1.2.3.4","user_agent":"ua"}"#;
        let text = String::from_utf8(message(&source(DrainKind::Accesslog), &record(access), Some("t\"k"))).unwrap();
        assert!(text.starts_with("<12>1 "), "{text}");
        assert!(text.contains(" ACCESSLOG [X-OVH-TOKEN@16739 X-OVH-TOKEN=\"t\\\"k\"][vigie@32473 org=\"acme\" offset=\"42\" method=\"GET\" host=\"h\" path=\"/a\\]\\\"b\" status=\"404\""), "{text}");
    }

    #[test]
    fn audit_records_use_the_log_audit_facility() {
        let audit = r#"{"actor":"token 1","action":"drain.created","target":"drain 2","ip":"::1"}"#;
        let org = DrainSource { org: "acme".into(), app: None, kind: DrainKind::Auditlog };
        let text = String::from_utf8(message(&org, &record(audit), None)).unwrap();
        assert!(text.starts_with("<109>1 2025-11-29T00:00:00.123456Z vigie vigie-audit - AUDITLOG "), "{text}");
        assert!(text.ends_with("token 1 drain.created drain 2"));
    }
}
