//! The console's defences, tried over HTTP as an attacker would: requests
//! forged from another origin, redirects out of the site after sign-in,
//! oversized anonymous bodies, and the headers every answer carries.

mod common;

use common::{serve, TestServer};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, RequestBuilder};
use vigie_server::catalog::Role;

const PASSWORD: &str = "ana's long password";

/// The test server with `ana`, an admin of `acme`.
async fn console() -> TestServer {
    let server = serve().await;
    server.server.catalog.create_user("ana", "Ana Lima", PASSWORD).unwrap();
    server.server.catalog.add_member("acme", "ana", Role::Admin).unwrap();
    server
}

fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// As the console's own page sends it.
fn same_origin(request: RequestBuilder, server: &TestServer) -> RequestBuilder {
    request.header("origin", &server.base).header("sec-fetch-site", "same-origin")
}

/// As a sibling subdomain's page sends it, with the viewer's cookie.
fn from_elsewhere(request: RequestBuilder) -> RequestBuilder {
    request.header("origin", "https://evil.example").header("sec-fetch-site", "same-site")
}

async fn session_cookie(server: &TestServer) -> String {
    let response = same_origin(client().post(format!("{}/signin", server.base)), server)
        .form(&[("login", "ana"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string()
}

fn retention_form(days: &str) -> [(&'static str, String); 5] {
    [
        ("org", "acme".into()),
        ("app", "api".into()),
        ("kind", "service".into()),
        ("max_age_days", days.into()),
        ("max_megabytes", String::new()),
    ]
}

fn audit_records(server: &TestServer) -> usize {
    server.server.store.info(&vigie_server::audit::topic("acme")).map_or(0, |info| info.records as usize)
}

#[tokio::test]
async fn a_server_function_called_from_another_origin_is_refused_and_changes_nothing() {
    let server = console().await;
    let cookie = session_cookie(&server).await;
    let audited = audit_records(&server);
    let url = format!("{}/bff/set_app_retention", server.base);

    let forged = from_elsewhere(client().post(&url)).header(COOKIE, &cookie).form(&retention_form("1"));
    let forged = forged.send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains("another origin"));
    // No Origin at all, and a fetch site that is not this one.
    let bare = client().post(&url).header(COOKIE, &cookie).header("sec-fetch-site", "cross-site");
    assert_eq!(bare.form(&retention_form("1")).send().await.unwrap().status(), 403);
    let silent = client().post(&url).header(COOKIE, &cookie).form(&retention_form("1"));
    assert_eq!(silent.send().await.unwrap().status(), 403, "neither Origin nor Sec-Fetch-Site");
    assert_eq!(audit_records(&server), audited, "nothing was changed, nothing audited");

    let own = same_origin(client().post(&url), &server).header(COOKIE, &cookie).header("accept", "application/json");
    let own = own.form(&retention_form("3")).send().await.unwrap();
    assert_eq!(own.status(), 200, "{}", own.text().await.unwrap());
    assert_eq!(audit_records(&server), audited + 1);
    server.server.stop().await;
}

#[tokio::test]
async fn signing_in_or_out_from_another_origin_is_refused() {
    let server = console().await;
    let signin = from_elsewhere(client().post(format!("{}/signin", server.base))).form(&[
        ("login", "ana"),
        ("password", PASSWORD),
        ("next", "/"),
    ]);
    let signin = signin.send().await.unwrap();
    assert_eq!(signin.status(), 403, "login CSRF");
    assert!(signin.headers().get(SET_COOKIE).is_none());

    let cookie = session_cookie(&server).await;
    let signout = from_elsewhere(client().post(format!("{}/signout", server.base))).header(COOKIE, &cookie);
    assert_eq!(signout.send().await.unwrap().status(), 403);
    let still = client().get(format!("{}/orgs/acme", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(still.status(), 200, "the session was not ended by the forged sign-out");
    server.server.stop().await;
}

#[tokio::test]
async fn after_sign_in_the_browser_goes_only_to_a_path_of_this_site() {
    let server = console().await;
    for (next, expected) in [
        ("/orgs/acme?x=1", "/orgs/acme?x=1"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
    ] {
        let response = same_origin(client().post(format!("{}/signin", server.base)), &server)
            .form(&[("login", "ana"), ("password", PASSWORD), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()[LOCATION], expected, "next={next:?}");
    }
    // The form as a browser encodes it by hand: `next=/%09/evil.example`.
    let response = same_origin(client().post(format!("{}/signin", server.base)), &server)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("login=ana&password={}&next=/%09/evil.example", PASSWORD.replace(' ', "+").replace('\'', "%27")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[LOCATION], "/");
    server.server.stop().await;
}

#[tokio::test]
async fn anonymous_bodies_of_the_console_are_bounded() {
    let server = console().await;
    let big = "x".repeat(200 * 1024);
    let signin = same_origin(client().post(format!("{}/signin", server.base)), &server).form(&[
        ("login", "ana"),
        ("password", big.as_str()),
        ("next", "/"),
    ]);
    assert_eq!(signin.send().await.unwrap().status(), 413);
    let bff = same_origin(client().post(format!("{}/bff/list_orgs", server.base)), &server).body(big.clone());
    assert_eq!(bff.send().await.unwrap().status(), 413);
    server.server.stop().await;
}

#[tokio::test]
async fn an_unknown_api_path_answers_json_and_every_answer_carries_the_security_headers() {
    let server = console().await;
    let missing = client().get(format!("{}/api/v1/nothing/here", server.base)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/json");
    assert_eq!(missing.headers()["x-content-type-options"], "nosniff");
    let body: serde_json::Value = missing.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("/api/v1/openapi.json"));

    let cookie = session_cookie(&server).await;
    let page = client().get(format!("{}/orgs/acme", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let scripts_policy = policy.split(';').find(|directive| directive.trim().starts_with("script-src")).unwrap();
    assert!(!scripts_policy.contains("'unsafe-inline'"), "{policy}");
    assert!(page.headers().contains_key("referrer-policy"));
    let nonce = policy.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce in the policy");
    let html = page.text().await.unwrap();
    let scripts = html.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(html.matches(&format!("nonce=\"{nonce}\"")).count(), scripts, "every script carries the page's nonce");
    server.server.stop().await;
}

fn view_form(org: &str, name: &str, q: &str) -> Vec<(&'static str, String)> {
    vec![
        ("org", org.into()),
        ("app", "api".into()),
        ("name", name.into()),
        ("kind", "access".into()),
        ("q", q.into()),
        ("since", "1h".into()),
        ("until", String::new()),
    ]
}

#[tokio::test]
async fn saved_views_are_checked_refused_across_orgs_and_audited() {
    let server = console().await;
    server
        .server
        .catalog
        .put_org(&vigie_server::catalog::Org { slug: "umbrella".into(), name: "Umbrella".into(), apps: vec![] })
        .unwrap();
    server.server.catalog.create_user("eve", "Eve", PASSWORD).unwrap();
    server.server.catalog.add_member("umbrella", "eve", Role::Member).unwrap();
    let cookie = session_cookie(&server).await;
    let save = |form: Vec<(&'static str, String)>, cookie: String| {
        let request = same_origin(client().post(format!("{}/bff/save_view", server.base)), &server);
        async move {
            let response = request.header(COOKIE, cookie).header("accept", "application/json").form(&form).send().await;
            let response = response.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let audited = audit_records(&server);

    // What is saved is checked first, said for people, and nothing is kept.
    let long = "x".repeat(81);
    for (name, q, said) in [
        ("  ", "status:5xx", "give the view a name"),
        (long.as_str(), "status:5xx", "at most 80 characters"),
        ("two\nlines", "status:5xx", "one line"),
        ("broken", "\"unclosed", "cannot be saved as it is"),
    ] {
        let (status, body) = save(view_form("acme", name, q), cookie.clone()).await;
        assert_eq!(status, 500, "{name:?}: {body}");
        assert!(body.contains(said), "{name:?}: {body}");
    }
    assert!(server.server.catalog.saved_views("acme").unwrap().is_empty());

    let (status, body) = save(view_form("acme", "5xx <b>api</b>", "status:5xx"), cookie.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = save(view_form("acme", "5xx <b>api</b>", "status:4xx"), cookie.clone()).await;
    assert!(status == 500 && body.contains("already exists"), "{status} {body}");
    let saved = server.server.catalog.saved_views("acme").unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!((saved[0].q.as_str(), saved[0].since.as_str(), saved[0].kind.as_str()), ("status:5xx", "1h", "access"));
    assert_eq!(audit_records(&server), audited + 1, "view.saved");

    // A member of another org can neither save into acme nor remove its views.
    let eve = {
        let response = same_origin(client().post(format!("{}/signin", server.base)), &server)
            .form(&[("login", "eve"), ("password", PASSWORD), ("next", "/")])
            .send()
            .await
            .unwrap();
        response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string()
    };
    let (status, body) = save(view_form("acme", "eve's", "status:5xx"), eve.clone()).await;
    assert!(status >= 400 && body.contains("no app"), "{status} {body}");
    let removal = same_origin(client().post(format!("{}/bff/remove_view", server.base)), &server)
        .header(COOKIE, &eve)
        .form(&[("org", "acme".to_string()), ("id", saved[0].id.to_string())])
        .send()
        .await
        .unwrap();
    assert!(removal.status().as_u16() >= 400);
    assert_eq!(server.server.catalog.saved_views("acme").unwrap().len(), 1);
    // And from another origin, not even its own members.
    let forged = from_elsewhere(client().post(format!("{}/bff/remove_view", server.base)))
        .header(COOKIE, &cookie)
        .form(&[("org", "acme".to_string()), ("id", saved[0].id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(server.server.catalog.saved_views("acme").unwrap().len(), 1);
    assert_eq!(audit_records(&server), audited + 1);

    // The access table's columns: known names only, kept as the table reads them.
    let with_columns = |name: &str, cols: &str| {
        let mut form = view_form("acme", name, "status:5xx");
        form.push(("cols", cols.to_string()));
        form
    };
    let (status, body) = save(with_columns("odd", "path,<b>"), cookie.clone()).await;
    assert!(status == 500 && body.contains("the columns are some of method, path"), "{status} {body}");
    let (status, body) = save(with_columns("by path", "path,status,path,agent"), cookie.clone()).await;
    assert_eq!(status, 200, "{body}");
    let saved = server.server.catalog.saved_views("acme").unwrap();
    let by_path = saved.iter().find(|view| view.name == "by path").unwrap();
    assert_eq!(by_path.cols, "path,status,agent");
    assert_eq!(audit_records(&server), audited + 2);
    server.server.stop().await;
}
