//! The console's drain pages and server functions over HTTP, as a browser
//! sends them: members see an app's drains, only admins change them (and
//! see the org's audit-log drains), every change is audited as the user,
//! and another org's drains stay out of sight. (In a real browser:
//! end2end/tests/drains.test.mjs.)

mod common;

use common::receiver::Receiver;
use common::{serve_with, TestServer};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::Client;
use vigie_app::model::AppKind;
use vigie_server::catalog::{App, Org, Role};
use vigie_server::drains::DrainSettings;

const PASSWORD: &str = "ana's long password";

fn browser() -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("sec-fetch-site", reqwest::header::HeaderValue::from_static("same-origin"));
    Client::builder().redirect(Policy::none()).default_headers(headers).build().unwrap()
}

async fn console() -> (TestServer, String) {
    let server =
        serve_with(|config| config.drains = DrainSettings { allow_private_targets: true, ..DrainSettings::default() })
            .await;
    let catalog = &server.server.catalog;
    catalog.create_user("ana", "Ana Lima", PASSWORD).unwrap();
    catalog.add_member("acme", "ana", Role::Member).unwrap();
    let web = App { slug: "web".into(), name: "Rival web".into(), kind: AppKind::Application, runtime: "Go".into() };
    catalog.put_org(&Org { slug: "rival".into(), name: "Rival Corp".into(), apps: vec![web] }).unwrap();
    let response = browser()
        .post(format!("{}/signin", server.base))
        .form(&[("login", "ana"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    (server, cookie)
}

async fn call(server: &TestServer, cookie: &str, endpoint: &str, form: &[(&str, &str)]) -> (u16, String) {
    let response = browser()
        .post(format!("{}/bff/{endpoint}", server.base))
        .header(COOKIE, cookie)
        .header("accept", "application/json")
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn page(server: &TestServer, cookie: &str, path: &str) -> String {
    browser().get(format!("{}{path}", server.base)).header(COOKIE, cookie).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn members_see_an_apps_drains_admins_change_them_and_each_change_is_audited_as_the_user() {
    let (server, cookie) = console().await;
    let receiver = Receiver::start().await;
    let url = receiver.url("/in");
    let new_drain = [
        ("org", "acme"),
        ("app", "api"),
        ("form[kind]", "LOG"),
        ("form[recipient_type]", "raw-http"),
        ("form[url]", url.as_str()),
        ("form[secret]", "hunter2"),
        ("form[username]", "u"),
    ];
    let (status, body) = call(&server, &cookie, "create_drain", &new_drain).await;
    assert!(status >= 400 && body.contains("only the organisation's admins"), "a member may not: {status} {body}");

    server.server.catalog.add_member("acme", "ana", Role::Admin).unwrap();
    let (status, body) = call(&server, &cookie, "create_drain", &new_drain).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Drain 1 created"), "{body}");
    let missing_key = [
        ("org", "acme"),
        ("app", "api"),
        ("form[kind]", "LOG"),
        ("form[recipient_type]", "datadog"),
        ("form[url]", "https://intake.example.com/"),
    ];
    let (status, body) = call(&server, &cookie, "create_drain", &missing_key).await;
    assert!(status >= 400 && body.contains("needs its API key"), "{status} {body}");

    let html = page(&server, &cookie, "/orgs/acme/apps/api/drains").await;
    assert!(
        html.contains("data-testid=\"drain-1\"") && html.contains("raw-http") && html.contains("ENABLED"),
        "the page lists it"
    );
    assert!(!html.contains("hunter2"), "no secret in the page");

    let (status, body) =
        call(&server, &cookie, "drain_action", &[("org", "acme"), ("app", "api"), ("id", "1"), ("action", "check")])
            .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("took the test message (HTTP 200"), "{body}");
    let (status, body) =
        call(&server, &cookie, "drain_action", &[("org", "acme"), ("app", "api"), ("id", "1"), ("action", "disable")])
            .await;
    assert_eq!(status, 200, "{body}");
    let drains = server.server.catalog.drains("acme", Some("api")).unwrap();
    assert!(!drains[0].enabled);
    assert_eq!(drains[0].disabled_reason.as_deref(), Some("disabled by user ana"));

    let audit = server.server.store.latest(&vigie_server::audit::topic("acme"), 2);
    let lines: Vec<serde_json::Value> = audit.iter().map(|r| serde_json::from_str(&r.payload).unwrap()).collect();
    assert_eq!((lines[0]["action"].as_str(), lines[0]["actor"].as_str()), (Some("drain.created"), Some("user ana")));
    assert_eq!(lines[0]["ip"], "127.0.0.1");
    assert!(!lines[0].to_string().contains("hunter2"));
    assert_eq!(lines[1]["action"], "drain.disabled");

    // The org's audit-log drains: on the org's Drains page, for admins.
    let org_drain = [
        ("org", "acme"),
        ("app", ""),
        ("form[kind]", "AUDITLOG"),
        ("form[recipient_type]", "raw-http"),
        ("form[url]", url.as_str()),
    ];
    let (status, body) = call(&server, &cookie, "create_drain", &org_drain).await;
    assert_eq!(status, 200, "{body}");
    let html = page(&server, &cookie, "/orgs/acme").await;
    assert!(html.contains("href=\"/orgs/acme/drains\""), "the org page links to its drains");
    let html = page(&server, &cookie, "/orgs/acme/drains").await;
    assert!(html.contains("Audit log drains") && html.contains("AUDITLOG"), "the org's drains page lists it");
    server.server.catalog.add_member("acme", "ana", Role::Member).unwrap();
    let html = page(&server, &cookie, "/orgs/acme/drains").await;
    assert!(!html.contains("Audit log drains") && !html.contains("AUDITLOG"), "not for members");

    // Another org's: not there, whatever is asked.
    let (status, body) = call(&server, &cookie, "get_drains", &[("org", "rival"), ("app", "web")]).await;
    assert_eq!((status, body.as_str()), (200, "null"));
    let (status, body) =
        call(&server, &cookie, "drain_action", &[("org", "rival"), ("app", "web"), ("id", "1"), ("action", "remove")])
            .await;
    assert!(status >= 400 && body.contains("no organisation"), "{status} {body}");
    server.server.stop().await;
}
