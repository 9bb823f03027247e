//! What the integration tests share: a real server on port 0 with one org,
//! and a client for it.

#![allow(dead_code)] // each test file uses its own part of this

use serde_json::Value;
use vigie_app::model::AppKind;
use vigie_server::catalog::{App, Org, Permissions};
use vigie_server::{start, GeoIpSource, RunningServer, ServeConfig};

pub const LOGS: &str = "/api/v1/orgs/acme/apps/api/logs";

pub struct TestServer {
    pub server: RunningServer,
    pub base: String,
    /// An admin token of `acme`.
    pub token: String,
    /// A client that sends `token`.
    pub http: reqwest::Client,
    _data_dir: tempfile::TempDir,
}

/// A server with one org, `acme`, holding the app `api`, and an admin
/// token of it that [`TestServer::http`] sends.
pub async fn serve() -> TestServer {
    serve_with(|_| {}).await
}

/// [`serve`], with the config changed by `adjust` first.
pub async fn serve_with(adjust: impl FnOnce(&mut ServeConfig)) -> TestServer {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig {
        grafana: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_path_buf(),
        site_root: data_dir.path().join("site"),
        demo: None,
        store: Default::default(),
        geoip: GeoIpSource::Demo,
        ingest: Default::default(),
        syslog_tcp: Some("127.0.0.1:0".parse().unwrap()),
        syslog_udp: Some("127.0.0.1:0".parse().unwrap()),
        statsd: None,
        drains: Default::default(),
    };
    adjust(&mut config);
    let server = start(config).await.unwrap();
    server
        .catalog
        .put_org(&Org {
            slug: "acme".into(),
            name: "Acme".into(),
            apps: vec![App {
                slug: "api".into(),
                name: "Acme API".into(),
                kind: AppKind::Application,
                runtime: "Rust".into(),
            }],
        })
        .unwrap();
    let (_, token) = server.catalog.create_token("acme", "tests", Permissions::ALL, "tests").unwrap();
    let base = format!("http://{}", server.addr);
    TestServer { server, base, http: client_with(&token), token, _data_dir: data_dir }
}

/// A client that sends `token` with every request.
pub fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

impl TestServer {
    pub async fn post(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

/// A hundred service lines, one second apart, ending now: every tenth an
/// error about a timeout, the others info lines.
pub async fn hundred_lines(server: &TestServer) -> i64 {
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let body: String = (0..100)
        .map(|n| {
            let (level, message) = if n % 10 == 0 { ("error", "upstream timeout") } else { ("info", "request done") };
            format!("{{\"ts\":{},\"level\":\"{level}\",\"message\":\"{message} #{n}\"}}\n", now_s - 99 + n)
        })
        .collect();
    let (status, reply) = server.post(LOGS, "application/x-ndjson", &body).await;
    assert_eq!(status, 200, "{reply}");
    now_s
}

/// A time in ms since the epoch, as RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
    time.format(&time::format_description::well_known::Rfc3339).unwrap()
}
pub mod receiver;
