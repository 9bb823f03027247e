//! Syslog drains received by a real rsyslog (Debian's `rsyslog`, installed
//! by `scripts/setup test`): run unprivileged-style with its own config in
//! a temporary directory, listening on loopback TCP and UDP ports, writing
//! the RFC 5424 fields it parsed as JSON lines through a template. The
//! tests read that file and check what rsyslog understood: host name (the
//! instance), app name, severity, facility, message id, structured data,
//! and messages with newlines and UTF-8.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{serve_with, TestServer, LOGS};
use serde_json::{json, Value};
use vigie_server::drains::DrainSettings;

const DRAINS: &str = "/api/v1/orgs/acme/apps/api/drains";

struct Rsyslog {
    child: Child,
    dir: tempfile::TempDir,
    tcp_port: u16,
    udp_port: u16,
}

fn free_ports() -> (u16, u16) {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    (tcp.local_addr().unwrap().port(), udp.local_addr().unwrap().port())
}

/// A test authority and a certificate it signed for `localhost`, made by
/// the `openssl` command: `(ca.pem, server.pem, server.key)` in `dir`.
fn certificates(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl").args(args).current_dir(dir).stderr(Stdio::null()).status().unwrap();
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Vigie test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
}

impl Rsyslog {
    fn start() -> Rsyslog {
        Rsyslog::start_with_tls(false)
    }

    /// With `tls`, its TCP input speaks TLS (RFC 5425) with a certificate
    /// of `certificates` (in its directory) for `localhost`.
    fn start_with_tls(tls: bool) -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let (tcp_port, udp_port) = free_ports();
        let out = dir.path().join("received.json");
        let (global_tls, imtcp_tls) = if tls {
            let (ca, cert, key) = certificates(dir.path());
            (
                format!(
                    r#" DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="{}" DefaultNetstreamDriverCertFile="{}" DefaultNetstreamDriverKeyFile="{}""#,
                    ca.display(),
                    cert.display(),
                    key.display()
                ),
                r#" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon""#.to_string(),
            )
        } else {
            (String::new(), String::new())
        };
        let config = format!(
            r#"global(workDirectory="{work}" parser.escapeControlCharactersOnReceive="off"{global_tls})
module(load="imtcp"{imtcp_tls})
module(load="imudp")
template(name="fields" type="list" option.jsonf="on") {{
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="time" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}}
ruleset(name="drain") {{ action(type="omfile" file="{out}" template="fields") }}
input(type="imtcp" port="{tcp_port}" address="127.0.0.1" ruleset="drain")
input(type="imudp" port="{udp_port}" address="127.0.0.1" ruleset="drain")
"#,
            work = dir.path().display(),
            out = out.display(),
        );
        let config_path = dir.path().join("rsyslog.conf");
        std::fs::write(&config_path, config).unwrap();
        // Debian puts it in /usr/sbin, which a user's PATH may lack.
        let program =
            if std::path::Path::new("/usr/sbin/rsyslogd").exists() { "/usr/sbin/rsyslogd" } else { "rsyslogd" };
        let child = Command::new(program)
            .arg("-n")
            .arg("-f")
            .arg(&config_path)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd runs (scripts/setup test installs it)");
        let rsyslog = Rsyslog { child, dir, tcp_port, udp_port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", tcp_port)).is_err() {
            assert!(Instant::now() < deadline, "rsyslogd did not listen on {tcp_port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        rsyslog
    }

    fn received_path(&self) -> PathBuf {
        self.dir.path().join("received.json")
    }

    /// Polls the file rsyslog writes until `n` messages are in it.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(self.received_path()).unwrap_or_default();
            // Whole lines only: rsyslog may be writing the last one.
            let whole = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
            let messages: Vec<Value> = whole.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
            if messages.len() >= n {
                return messages;
            }
            assert!(Instant::now() < deadline, "rsyslog wrote {} of {n} messages: {text}", messages.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn server() -> TestServer {
    serve_with(|config| {
        config.drains = DrainSettings {
            allow_private_targets: true,
            batch_wait: Duration::from_millis(50),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(400),
            ..DrainSettings::default()
        }
    })
    .await
}

async fn create(server: &TestServer, body: Value) -> Value {
    let (status, drain) = server.post(DRAINS, "application/json", &body.to_string()).await;
    assert_eq!(status, 201, "{drain}");
    drain
}

/// The message as sent: after the byte order mark RFC 5424 puts before UTF-8 text.
fn text(message: &Value) -> &str {
    let msg = message["msg"].as_str().unwrap();
    msg.strip_prefix('\u{feff}').unwrap_or_else(|| panic!("a UTF-8 MSG starts with a BOM: {msg:?}"))
}

#[tokio::test]
async fn rsyslog_reads_every_field_of_service_lines_sent_over_tcp() {
    let rsyslog = Rsyslog::start();
    let server = server().await;
    create(&server, json!({"kind": "LOG", "recipient": {"type": "syslog-tcp", "url": format!("tcp://127.0.0.1:{}", rsyslog.tcp_port)}})).await;
    let lines = [
        json!({"instance": "web-1", "level": "info", "message": "started on :8080", "ts": "2026-11-25T10:00:00.123456Z"}),
        json!({"instance": "web-2", "level": "error", "message": "panicked at 'boom'\n  at src/main.rs:12\n  at core::ops", "ts": "2026-11-25T10:00:01Z"}),
        json!({"instance": "worker-0", "level": "warn", "message": "café ☕ naïve — 日本語 \"quoted\" ]bracket[", "ts": "2026-11-25T10:00:02Z"}),
    ];
    let body: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let (status, reply) = server.post(LOGS, "application/x-ndjson", &body).await;
    assert_eq!(status, 200, "{reply}");
    let got = rsyslog.wait_for(3).await;
    assert_eq!(got[0]["hostname"], "web-1");
    assert_eq!(got[0]["app"], "api");
    assert_eq!(got[0]["msgid"], "LOG");
    assert_eq!(got[0]["procid"], "-");
    assert_eq!((got[0]["severity"].as_str(), got[0]["facility"].as_str()), (Some("6"), Some("1")));
    assert_eq!(got[0]["time"], "2026-11-25T10:00:00.123456Z");
    assert_eq!(got[0]["sd"], "[vigie@32473 org=\"acme\" offset=\"0\"]");
    assert_eq!(text(&got[0]), "started on :8080");
    assert_eq!(got[1]["severity"], "3");
    assert_eq!(text(&got[1]), "panicked at 'boom'\n  at src/main.rs:12\n  at core::ops", "newlines kept");
    assert_eq!(got[2]["hostname"], "worker-0");
    assert_eq!(got[2]["severity"], "4");
    assert_eq!(text(&got[2]), "café ☕ naïve — 日本語 \"quoted\" ]bracket[", "UTF-8 kept");
}

#[tokio::test]
async fn rsyslog_reads_access_lines_sent_over_udp_with_their_fields_as_structured_data() {
    let rsyslog = Rsyslog::start();
    let server = server().await;
    create(&server, json!({"kind": "ACCESSLOG", "recipient": {"type": "syslog-udp", "url": format!("udp://127.0.0.1:{}", rsyslog.udp_port)}})).await;
    let access = [
        json!({"instance": "web-1", "method": "GET", "path": "/v1/orders", "status": 200, "client_ip": "2.3.4.5", "duration_ms": 12.5}),
        json!({"instance": "web-1", "method": "POST", "path": "/v1/pay", "status": 502, "client_ip": "2.3.4.6", "duration_ms": 30.0}),
    ];
    let body: String = access.iter().map(|line| format!("{line}\n")).collect();
    let (status, reply) =
        server.post(&format!("{LOGS}?kind=access&host=shop.example"), "application/x-ndjson", &body).await;
    assert_eq!(status, 200, "{reply}");
    let got = rsyslog.wait_for(2).await;
    assert_eq!(got[0]["msgid"], "ACCESSLOG");
    assert_eq!(got[0]["severity"], "6");
    assert_eq!(got[1]["severity"], "3", "a 5xx is an error");
    let sd = got[1]["sd"].as_str().unwrap();
    for field in [
        "method=\"POST\"",
        "path=\"/v1/pay\"",
        "status=\"502\"",
        "client_ip=\"2.3.4.6\"",
        "host=\"shop.example\"",
        "offset=\"1\"",
    ] {
        assert!(sd.contains(field), "{field} in {sd}");
    }
    assert!(text(&got[1]).starts_with("POST shop.example/v1/pay 502 "), "{}", text(&got[1]));
}

#[tokio::test]
async fn an_ovh_drain_puts_the_stream_token_in_structured_data_and_check_reports_the_write() {
    let rsyslog = Rsyslog::start();
    let server = server().await;
    let drain = create(&server, json!({"kind": "LOG", "recipient": {"type": "ovh-tcp", "url": format!("tcp://127.0.0.1:{}", rsyslog.tcp_port), "token": "ovh-stream-token"}})).await;
    assert_eq!(drain["recipient"]["token"], "********");
    let (status, report) = server.post(&format!("{DRAINS}/{}/check", drain["id"]), "application/json", "").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["answer"].as_str().unwrap().contains("taken by 127.0.0.1"), "{report}");
    let (status, _) = server.post(LOGS, "text/plain", "hello ovh\n").await;
    assert_eq!(status, 200);
    let got = rsyslog.wait_for(2).await;
    assert!(text(&got[0]).starts_with("Vigie drain check"), "{}", got[0]);
    assert_eq!(text(&got[1]), "hello ovh");
    let sd = got[1]["sd"].as_str().unwrap();
    assert!(sd.starts_with("[X-OVH-TOKEN@16739 X-OVH-TOKEN=\"ovh-stream-token\"][vigie@32473 "), "{sd}");
}

#[tokio::test]
async fn rsyslog_reads_messages_sent_over_tls_to_a_certificate_of_a_trusted_private_authority() {
    let rsyslog = Rsyslog::start_with_tls(true);
    let ca = rsyslog.dir.path().join("ca.pem");
    let server = serve_with(|config| {
        config.drains = DrainSettings {
            allow_private_targets: true,
            batch_wait: Duration::from_millis(50),
            extra_ca_file: Some(ca),
            ..DrainSettings::default()
        }
    })
    .await;
    let drain = create(&server, json!({"kind": "LOG", "recipient": {"type": "syslog-tcp", "url": format!("tls://localhost:{}", rsyslog.tcp_port)}})).await;
    let (_, report) = server.post(&format!("{DRAINS}/{}/check", drain["id"]), "application/json", "").await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["answer"].as_str().unwrap().ends_with("over TLS"), "{report}");
    let (status, _) = server.post(LOGS, "text/plain", "over tls ✓\n").await;
    assert_eq!(status, 200);
    let got = rsyslog.wait_for(2).await;
    assert_eq!(text(&got[1]), "over tls ✓");
    assert_eq!(got[1]["app"], "api");

    // Without the authority, the certificate is not trusted: the check says so.
    let untrusting =
        serve_with(|config| config.drains = DrainSettings { allow_private_targets: true, ..DrainSettings::default() })
            .await;
    let drain = create(&untrusting, json!({"kind": "LOG", "recipient": {"type": "syslog-tcp", "url": format!("tls://localhost:{}", rsyslog.tcp_port)}})).await;
    let (_, report) = untrusting.post(&format!("{DRAINS}/{}/check", drain["id"]), "application/json", "").await;
    assert_eq!(report["ok"], false);
    assert!(report["answer"].as_str().unwrap().contains("TLS with localhost"), "{report}");
}
