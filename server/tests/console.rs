//! The console as a browser sees it over HTTP: sign-in, the session
//! cookie, and that a signed-in user sees their own orgs and nothing of
//! the others. (The same in a real browser: end2end/.)

mod common;

use common::{serve, TestServer, LOGS};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use vigie_app::model::AppKind;
use vigie_server::catalog::{App, Org, Role};

const PASSWORD: &str = "ana's long password";

/// The test server, with `ana` a member of `acme` and an org `rival` she
/// does not belong to.
async fn console() -> TestServer {
    let server = serve().await;
    let catalog = &server.server.catalog;
    catalog.create_user("ana", "Ana Lima", PASSWORD).unwrap();
    catalog.add_member("acme", "ana", Role::Member).unwrap();
    let web = App { slug: "web".into(), name: "Rival web".into(), kind: AppKind::Application, runtime: "Go".into() };
    catalog.put_org(&Org { slug: "rival".into(), name: "Rival Corp".into(), apps: vec![web] }).unwrap();
    server
}

/// A browser on the console's own page that does not follow redirects, so
/// each answer can be read: it says its requests are same-origin, as a
/// browser's `fetch` and forms do.
fn browser() -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("sec-fetch-site", reqwest::header::HeaderValue::from_static("same-origin"));
    Client::builder().redirect(Policy::none()).default_headers(headers).build().unwrap()
}

async fn sign_in(server: &TestServer, password: &str, next: &str) -> Response {
    browser()
        .post(format!("{}/signin", server.base))
        .form(&[("login", "ana"), ("password", password), ("next", next)])
        .send()
        .await
        .unwrap()
}

/// Signs in as ana and returns the `Cookie` header to send.
async fn session_cookie(server: &TestServer) -> String {
    let response = sign_in(server, PASSWORD, "/").await;
    assert_eq!(response.status(), 303);
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_string()
}

async fn page(server: &TestServer, path: &str, cookie: Option<&str>) -> Response {
    let mut request = browser().get(format!("{}{path}", server.base));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

fn location(response: &Response) -> &str {
    response.headers()[LOCATION].to_str().unwrap()
}

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in_and_back_to_it() {
    let server = console().await;
    server.post(LOGS, "text/plain", "WARN disk 91% full").await;
    let wanted = "/orgs/acme/apps/api/logs";
    let refused = page(&server, wanted, None).await;
    assert_eq!(refused.status(), 303);
    assert_eq!(location(&refused), "/signin?next=%2Forgs%2Facme%2Fapps%2Fapi%2Flogs");

    let form = page(&server, location(&refused), None).await.text().await.unwrap();
    assert!(form.contains(r#"action="/signin""#) && form.contains(r#"value="/orgs/acme/apps/api/logs""#), "{form}");

    let signed_in = sign_in(&server, PASSWORD, wanted).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), wanted);
    let cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for attribute in ["vigie_session=vgs_", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: a Secure cookie would never come back");

    let session = cookie.split(';').next().unwrap();
    let html = page(&server, wanted, Some(session)).await;
    assert_eq!(html.status(), 200);
    let html = html.text().await.unwrap();
    assert!(html.contains("Acme API") && html.contains("disk 91% full") && html.contains("level-warn"));
    assert!(html.contains("Ana Lima") && html.contains("Sign out"), "the top bar names who is signed in");
    server.server.stop().await;
}

#[tokio::test]
async fn a_wrong_password_says_so_and_five_failures_hold_the_client_back() {
    let server = console().await;
    let wrong = sign_in(&server, "guess", "/orgs/acme").await;
    assert_eq!(wrong.status(), 303);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(location(&wrong).starts_with("/signin?error=wrong&next=%2Forgs%2Facme"), "{}", location(&wrong));
    let html = page(&server, location(&wrong), None).await.text().await.unwrap();
    assert!(html.contains("Wrong login or password."));
    assert!(html.contains(r#"value="ana""#), "the login is kept in the form");

    for _ in 1..5 {
        assert!(location(&sign_in(&server, "guess", "/").await).contains("error=wrong"));
    }
    let held = sign_in(&server, PASSWORD, "/").await;
    assert!(location(&held).contains("error=too_many"), "even the right password waits: {}", location(&held));
    assert!(held.headers().get(SET_COOKIE).is_none());
    let html = page(&server, location(&held), None).await.text().await.unwrap();
    assert!(html.contains("Too many failed attempts"), "{html}");
    server.server.stop().await;
}

#[tokio::test]
async fn a_member_sees_only_their_orgs_and_another_orgs_pages_and_stream_are_missing() {
    let server = console().await;
    let cookie = session_cookie(&server).await;
    let home = page(&server, "/", Some(&cookie)).await.text().await.unwrap();
    assert!(home.contains("Acme") && !home.contains("Rival Corp"), "{home}");

    let other_org = page(&server, "/orgs/rival", Some(&cookie)).await.text().await.unwrap();
    assert!(!other_org.contains("Rival web") && other_org.contains("No such"), "{other_org}");
    let other_app = page(&server, "/orgs/rival/apps/web/logs", Some(&cookie)).await.text().await.unwrap();
    assert!(other_app.contains("No such app") && !other_app.contains("Rival web"));

    let live = |path: &'static str| page(&server, path, Some(&cookie));
    assert_eq!(live("/bff/orgs/rival/apps/web/live").await.status(), 404, "the same 404 as a missing app");
    assert_eq!(live("/bff/orgs/acme/apps/ghost/live").await.status(), 404);
    let own = live("/bff/orgs/acme/apps/api/live").await;
    assert_eq!(own.status(), 200);
    assert_eq!(own.headers()["content-type"], "text/event-stream");
    let signed_out = page(&server, "/bff/orgs/acme/apps/api/live", None).await;
    assert_eq!(signed_out.status(), 401);
    server.server.stop().await;
}

#[tokio::test]
async fn signing_out_ends_the_session_for_good() {
    let server = console().await;
    let cookie = session_cookie(&server).await;
    let out = browser().post(format!("{}/signout", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(location(&out), "/signin?signed_out=1");
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    let after = page(&server, "/", Some(&cookie)).await;
    assert_eq!(after.status(), 303, "the old cookie no longer opens pages");
    assert!(page(&server, "/signin?signed_out=1", None).await.text().await.unwrap().contains("You are signed out."));
    server.server.stop().await;
}

#[tokio::test]
async fn behind_a_tls_proxy_on_this_machine_the_cookie_is_secure() {
    let server = console().await;
    let response = browser()
        .post(format!("{}/signin", server.base))
        .header("x-forwarded-proto", "https")
        .form(&[("login", "ana"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert!(response.headers()[SET_COOKIE].to_str().unwrap().contains("; Secure"));
    server.server.stop().await;
}

#[tokio::test]
async fn the_download_streams_the_views_lines_to_members_only() {
    let server = console().await;
    let body: String =
        (0..2_500).map(|n| format!("{} line {n}\n", if n % 2 == 0 { "ERROR" } else { "INFO" })).collect();
    let (status, _) = server.post(LOGS, "text/plain", &body).await;
    assert_eq!(status, 200);
    let cookie = session_cookie(&server).await;

    let download = page(&server, "/bff/orgs/acme/apps/api/download?q=level:error&format=ndjson", Some(&cookie)).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/x-ndjson");
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment; filename=\"acme-api-service-") && disposition.ends_with(".ndjson\""));
    let text = download.text().await.unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 1_250, "every matching line, across pages of the store");
    assert_eq!(lines[0]["message"], "ERROR line 0");
    assert_eq!(lines[1_249]["message"], "ERROR line 2498");

    let as_text =
        page(&server, "/bff/orgs/acme/apps/api/download?q=%22line%202499%22&format=text", Some(&cookie)).await;
    let as_text = as_text.text().await.unwrap();
    assert!(as_text.ends_with(" default INFO INFO line 2499\n") && as_text.lines().count() == 1, "{as_text}");

    assert_eq!(page(&server, "/bff/orgs/rival/apps/web/download", Some(&cookie)).await.status(), 404);
    assert_eq!(page(&server, "/bff/orgs/acme/apps/api/download", None).await.status(), 401);
    let bad = page(&server, "/bff/orgs/acme/apps/api/download?q=status>=abc", Some(&cookie)).await;
    assert_eq!(bad.status(), 400);
    server.server.stop().await;
}

#[tokio::test]
async fn a_replayed_range_loads_in_chunks_with_the_date_pickers_times_to_members_only() {
    let server = console().await;
    let body: String = (0..2_500).map(|n| format!("INFO line {n}\n")).collect();
    let (status, _) = server.post(LOGS, "text/plain", &body).await;
    assert_eq!(status, 200);
    let cookie = session_cookie(&server).await;
    // A date-time picker's values (no seconds, no zone: UTC), as the page's URL has them.
    let minute = |offset: i64| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        chrono::DateTime::from_timestamp(now + offset * 60, 0).unwrap().format("%Y-%m-%dT%H:%M").to_string()
    };
    let range = format!("since={}&until={}&q=line", minute(-5), minute(5));

    let mut cursor = 0;
    let mut seen = Vec::new();
    loop {
        let url = format!("/bff/orgs/acme/apps/api/records?{range}&cursor={cursor}&limit=1000");
        let response = page(&server, &url, Some(&cookie)).await;
        assert_eq!(response.status(), 200, "{url}");
        let chunk: serde_json::Value = response.json().await.unwrap();
        let records = chunk["records"].as_array().unwrap();
        seen.extend(records.iter().map(|record| record["message"].as_str().unwrap().to_string()));
        match chunk["next_cursor"].as_u64() {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(seen.len(), 2_500, "every line of the range, once, oldest first");
    assert_eq!((seen[0].as_str(), seen[2_499].as_str()), ("INFO line 0", "INFO line 2499"));

    assert_eq!(page(&server, "/bff/orgs/rival/apps/web/records", Some(&cookie)).await.status(), 404);
    assert_eq!(page(&server, "/bff/orgs/acme/apps/api/records", None).await.status(), 401);
    let too_many = page(&server, "/bff/orgs/acme/apps/api/records?limit=10001", Some(&cookie)).await;
    assert_eq!(too_many.status(), 400);
    server.server.stop().await;
}

/// Calls the settings form's server function as the browser's form does.
async fn set_retention(server: &TestServer, cookie: &str, days: &str) -> (u16, String) {
    let response = browser()
        .post(format!("{}/bff/set_app_retention", server.base))
        .header(COOKIE, cookie)
        .header("accept", "application/json")
        .form(&[("org", "acme"), ("app", "api"), ("kind", "service"), ("max_age_days", days), ("max_megabytes", "")])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn only_an_admin_changes_retention_and_the_change_is_audited_with_who_and_from_where() {
    let server = console().await;
    let cookie = session_cookie(&server).await;
    let (status, body) = set_retention(&server, &cookie, "7").await;
    assert!(status >= 400, "a member may not: {status} {body}");
    assert!(body.contains("only the organisation's admins"), "{body}");

    server.server.catalog.add_member("acme", "ana", Role::Admin).unwrap();
    let (status, body) = set_retention(&server, &cookie, "0").await;
    assert!(status >= 400 && body.contains("at least 1"), "{status} {body}");
    let (status, body) = set_retention(&server, &cookie, "7").await;
    assert_eq!(status, 200, "{body}");
    let key = vigie_server::store::TopicKey::new("acme", "api", vigie_app::model::LogKind::Service);
    let retention = server.server.store.info(&key).map(|info| info.retention);
    assert_eq!(retention.and_then(|r| r.max_age), Some(std::time::Duration::from_secs(7 * 86_400)));

    let audit = server.server.store.latest(&vigie_server::audit::topic("acme"), 1);
    let line: serde_json::Value = serde_json::from_str(&audit[0].payload).unwrap();
    assert_eq!(line["actor"], "user ana");
    assert_eq!(line["action"], "retention.changed");
    assert_eq!(line["target"], "app api service logs");
    assert_eq!(line["ip"], "127.0.0.1");
    assert_eq!(line["after"]["max_age_secs"], 604_800);

    let page = page(&server, "/orgs/acme/audit", Some(&cookie)).await.text().await.unwrap();
    assert!(page.contains("retention.changed") && page.contains("user ana"), "the audit page lists it");
    server.server.stop().await;
}

#[tokio::test]
async fn the_bundle_is_served_precompressed_to_browsers_that_accept_it() {
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let wasm = b"\0asm the bundle".repeat(100);
    let gzipped = {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&wasm).unwrap();
        encoder.finish().unwrap()
    };
    std::fs::write(pkg.join("vigie.wasm"), &wasm).unwrap();
    std::fs::write(pkg.join("vigie.wasm.gz"), &gzipped).unwrap();
    let root = site.path().to_path_buf();
    let server = common::serve_with(|config| config.site_root = root).await;
    let url = format!("{}/pkg/vigie.wasm", server.base);
    let client = Client::new();

    let compressed = client.get(&url).header("accept-encoding", "gzip, br").send().await.unwrap();
    assert_eq!(compressed.status(), 200);
    assert_eq!(compressed.headers()["content-encoding"], "gzip");
    assert_eq!(compressed.headers()["content-type"], "application/wasm");
    assert_eq!(compressed.headers()["vary"], "accept-encoding", "a shared cache keeps one copy per encoding");
    assert_eq!(compressed.bytes().await.unwrap().as_ref(), gzipped.as_slice());

    let plain = client.get(&url).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.unwrap().as_ref(), wasm.as_slice());
}
