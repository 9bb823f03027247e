//! An org's Grafana end to end. Grafana itself cannot run here, so a local
//! server stands in for it: it implements the endpoints Vigie calls
//! (`/api/folders`, `/api/datasources`, `/api/dashboards/db`) as Grafana's
//! HTTP API documents them and records every request that strays from that
//! form. Against it: the broken-token story (revoke → "invalid token" →
//! RESET ALL DASHBOARDS → a new token works and the dashboards are back as
//! generated). Then `vigie grafana export` writes dashboards that validate
//! against Grafana's JSON Schemas (server/tests/grafana-schemas).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Json;
use common::{serve_with, TestServer};
use serde_json::{json, Value};
use vigie_app::model::AppKind;
use vigie_server::catalog::{App, GRAFANA_TOKEN_NAME};
use vigie_server::grafana::GrafanaConfig;
use vigie_server::store::TopicKey;

const SA_TOKEN: &str = "glsa_service_account_for_tests";

/// What the stand-in Grafana holds, and what it refused.
#[derive(Default)]
struct Grafana {
    folders: BTreeMap<String, Value>,
    datasources: BTreeMap<String, Value>,
    dashboards: BTreeMap<String, Value>,
    violations: Vec<String>,
}

type Shared = Arc<Mutex<Grafana>>;

fn refuse(grafana: &Shared, status: StatusCode, why: String) -> axum::response::Response {
    grafana.lock().unwrap().violations.push(why.clone());
    (status, Json(json!({ "message": why }))).into_response()
}

/// The checks every call gets: the service account token, and a JSON
/// object body (for POST and PUT) with only documented keys.
#[allow(clippy::result_large_err)] // a refusal is the response itself
fn check(
    grafana: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    keys: &[&str],
) -> Result<Value, axum::response::Response> {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {SA_TOKEN}")) {
        return Err(refuse(
            grafana,
            StatusCode::UNAUTHORIZED,
            format!("{method} {uri}: not the service account token"),
        ));
    }
    if *method == Method::GET {
        return Ok(Value::Null);
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return Err(refuse(
            grafana,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{method} {uri}: not application/json"),
        ));
    }
    let body: Value = match serde_json::from_slice(body) {
        Ok(Value::Object(body)) => Value::Object(body),
        _ => {
            return Err(refuse(
                grafana,
                StatusCode::BAD_REQUEST,
                format!("{method} {uri}: the body is not a JSON object"),
            ))
        }
    };
    if let Some(unknown) = body.as_object().unwrap().keys().find(|key| !keys.contains(&key.as_str())) {
        return Err(refuse(grafana, StatusCode::BAD_REQUEST, format!("{method} {uri}: undocumented key {unknown}")));
    }
    Ok(body)
}

fn valid_uid(uid: &Value) -> bool {
    uid.as_str().is_some_and(|uid| {
        !uid.is_empty() && uid.len() <= 40 && uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

const DATASOURCE_KEYS: &[&str] = &[
    "name",
    "type",
    "url",
    "access",
    "uid",
    "database",
    "user",
    "basicAuth",
    "basicAuthUser",
    "withCredentials",
    "isDefault",
    "jsonData",
    "secureJsonData",
    "version",
];

fn datasource_problem(body: &Value) -> Option<String> {
    for required in ["name", "type", "url", "access"] {
        if !body[required].is_string() {
            return Some(format!("data source without {required}"));
        }
    }
    if !["proxy", "direct"].contains(&body["access"].as_str().unwrap()) {
        return Some("access must be proxy or direct".into());
    }
    if !valid_uid(&body["uid"]) {
        return Some("bad data source uid".into());
    }
    None
}

/// Grafana shows a data source without its secrets.
fn shown(datasource: &Value) -> Value {
    let mut shown = datasource.clone();
    let fields: BTreeMap<String, bool> = datasource["secureJsonData"]
        .as_object()
        .map(|m| m.keys().map(|k| (k.clone(), true)).collect())
        .unwrap_or_default();
    shown.as_object_mut().unwrap().remove("secureJsonData");
    shown["secureJsonFields"] = json!(fields);
    shown
}

async fn api(
    State(grafana): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    path: Option<Path<Vec<(String, String)>>>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let _ = path;
    let route = uri.path().to_string();
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["api", "folders", uid]) => {
            if let Err(refused) = check(&grafana, &method, &uri, &headers, &body, &[]) {
                return refused;
            }
            match grafana.lock().unwrap().folders.get(*uid) {
                Some(folder) => Json(folder.clone()).into_response(),
                None => (StatusCode::NOT_FOUND, Json(json!({"message": "folder not found"}))).into_response(),
            }
        }
        ("POST", ["api", "folders"]) => {
            let body =
                match check(&grafana, &method, &uri, &headers, &body, &["uid", "title", "parentUid", "description"]) {
                    Ok(body) => body,
                    Err(refused) => return refused,
                };
            if body["title"].as_str().is_none_or(str::is_empty) || !valid_uid(&body["uid"]) {
                return refuse(&grafana, StatusCode::BAD_REQUEST, "a folder needs a title and a valid uid".into());
            }
            let uid = body["uid"].as_str().unwrap().to_string();
            let mut state = grafana.lock().unwrap();
            if state.folders.contains_key(&uid) {
                return (StatusCode::CONFLICT, Json(json!({"message": "a folder with the same uid already exists"})))
                    .into_response();
            }
            let folder = json!({"id": state.folders.len() + 1, "uid": uid, "title": body["title"], "url": format!("/dashboards/f/{uid}"), "version": 1});
            state.folders.insert(uid, folder.clone());
            Json(folder).into_response()
        }
        ("GET", ["api", "datasources", "uid", uid]) => {
            if let Err(refused) = check(&grafana, &method, &uri, &headers, &body, &[]) {
                return refused;
            }
            match grafana.lock().unwrap().datasources.get(*uid) {
                Some(datasource) => Json(shown(datasource)).into_response(),
                None => (StatusCode::NOT_FOUND, Json(json!({"message": "Data source not found"}))).into_response(),
            }
        }
        ("POST", ["api", "datasources"]) | ("PUT", ["api", "datasources", "uid", _]) => {
            let body = match check(&grafana, &method, &uri, &headers, &body, DATASOURCE_KEYS) {
                Ok(body) => body,
                Err(refused) => return refused,
            };
            if let Some(problem) = datasource_problem(&body) {
                return refuse(&grafana, StatusCode::BAD_REQUEST, problem);
            }
            let uid = body["uid"].as_str().unwrap().to_string();
            let mut state = grafana.lock().unwrap();
            let exists = state.datasources.contains_key(&uid);
            let message = match (method.as_str(), exists, segments.get(3)) {
                ("POST", true, _) => {
                    return (
                        StatusCode::CONFLICT,
                        Json(json!({"message": "data source with the same name already exists"})),
                    )
                        .into_response()
                }
                ("PUT", false, _) => {
                    return (StatusCode::NOT_FOUND, Json(json!({"message": "Data source not found"}))).into_response()
                }
                ("PUT", true, Some(path_uid)) if *path_uid != uid => {
                    drop(state);
                    return refuse(&grafana, StatusCode::BAD_REQUEST, "the body's uid is not the path's".into());
                }
                ("POST", ..) => "Datasource added",
                _ => "Datasource updated",
            };
            state.datasources.insert(uid, body.clone());
            Json(json!({"datasource": shown(&body), "id": 1, "message": message, "name": body["name"]})).into_response()
        }
        ("POST", ["api", "dashboards", "db"]) => {
            let body = match check(
                &grafana,
                &method,
                &uri,
                &headers,
                &body,
                &["dashboard", "folderUid", "folderId", "overwrite", "message"],
            ) {
                Ok(body) => body,
                Err(refused) => return refused,
            };
            let dashboard = &body["dashboard"];
            if dashboard["title"].as_str().is_none_or(str::is_empty) || !valid_uid(&dashboard["uid"]) {
                return refuse(&grafana, StatusCode::BAD_REQUEST, "a dashboard needs a title and a valid uid".into());
            }
            let mut state = grafana.lock().unwrap();
            if !body["folderUid"].as_str().is_some_and(|folder| state.folders.contains_key(folder)) {
                drop(state);
                return refuse(&grafana, StatusCode::BAD_REQUEST, "folderUid names no folder".into());
            }
            let uid = dashboard["uid"].as_str().unwrap().to_string();
            if state.dashboards.contains_key(&uid) && body["overwrite"] != json!(true) {
                return (
                    StatusCode::PRECONDITION_FAILED,
                    Json(json!({"message": "A dashboard with the same uid already exists", "status": "name-exists"})),
                )
                    .into_response();
            }
            state.dashboards.insert(uid.clone(), json!({"dashboard": dashboard, "folderUid": body["folderUid"]}));
            Json(json!({"id": state.dashboards.len(), "uid": uid, "url": format!("/d/{uid}/x"), "status": "success", "version": 1, "slug": "x"}))
                .into_response()
        }
        _ => refuse(&grafana, StatusCode::NOT_FOUND, format!("{method} {uri}: not an endpoint Vigie should call")),
    }
}

async fn fake_grafana() -> (String, Shared) {
    let state: Shared = Arc::default();
    let router = axum::Router::new().fallback(api).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, state)
}

/// `acme` with the app `api` and the add-on `pg`, a custom metric and
/// some instance reports; Vigie provisioning into `grafana_url`.
async fn server_with(grafana_url: Option<String>) -> TestServer {
    let server = serve_with(|config| {
        config.grafana = grafana_url.map(|url| GrafanaConfig {
            url,
            service_account_token: SA_TOKEN.into(),
            vigie_url: String::new(),
        })
    })
    .await;
    let pg = App { slug: "pg".into(), name: "Postgres".into(), kind: AppKind::Addon, runtime: "PostgreSQL".into() };
    server.server.catalog.create_app("acme", &pg).unwrap();
    let now_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let record = json!({"interval_s": 10, "points": [{"name": "shop.orders", "type": "counter", "values": [3]}]});
    server
        .server
        .store
        .append_batch(&TopicKey::metrics("acme", "api"), vec![(now_ns - 60_000_000_000, record.to_string())])
        .unwrap();
    let report = json!({"instance": "api-1", "cpu_percent": 12.5, "memory_used_bytes": 4e8, "memory_limit_bytes": 1e9});
    let (status, reply) =
        server.post("/api/v1/orgs/acme/apps/api/instances/metrics", "application/json", &report.to_string()).await;
    assert_eq!(status, 200, "{reply}");
    server
}

/// A query as Grafana's data source sends it: a form POST with basic auth.
async fn grafana_query(datasource_url: &str, password: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{datasource_url}/api/v1/query"))
        .basic_auth("grafana", Some(password))
        .form(&[("query", "sum(instance_cpu_percent)")])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_revoked_grafana_token_breaks_every_panel_until_reset_restores_token_and_dashboards() {
    let (grafana_url, grafana) = fake_grafana().await;
    let server = server_with(Some(grafana_url.clone())).await;
    let (_, status) = server.get_json("/api/v1/orgs/acme/grafana").await;
    assert_eq!((status["enabled"].clone(), status["token"].clone()), (json!(false), Value::Null), "{status}");

    let (code, status) = server.post("/api/v1/orgs/acme/grafana/enable", "application/json", "").await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["token"]["name"], GRAFANA_TOKEN_NAME);
    assert_eq!(status["provision_error"], Value::Null, "{status}");
    assert!(status["provisioned_at_ns"].is_i64());
    let kinds: Vec<&str> =
        status["dashboards"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["home", "runtime", "access", "custom", "addon"]);
    assert_eq!(status["home_url"], format!("{grafana_url}/d/{}", status["dashboards"][0]["uid"].as_str().unwrap()));

    // Grafana got the folder, the data source and every dashboard.
    let (datasource, initial) = {
        let state = grafana.lock().unwrap();
        assert_eq!(state.folders.len(), 1);
        assert_eq!(state.dashboards.len(), 5);
        (state.datasources.values().next().unwrap().clone(), state.dashboards.clone())
    };
    let datasource_url = datasource["url"].as_str().unwrap().to_string();
    assert_eq!(datasource_url, format!("{}/prometheus", server.base));
    let first_secret = datasource["secureJsonData"]["basicAuthPassword"].as_str().unwrap().to_string();
    let (code, answer) = grafana_query(&datasource_url, &first_secret).await;
    assert_eq!((code, answer["data"]["result"][0]["value"][1].clone()), (200, json!("12.5")), "{answer}");

    // The token is revoked (from the org's token list): every panel now says "invalid token".
    let token_id = status["token"]["id"].as_i64().unwrap();
    let revoked =
        server.http.delete(format!("{}/api/v1/orgs/acme/tokens/{token_id}", server.base)).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    let (code, answer) = grafana_query(&datasource_url, &first_secret).await;
    assert_eq!(code, 401, "{answer}");
    assert!(answer["error"].as_str().unwrap().starts_with("invalid token"), "{answer}");
    let (_, status) = server.get_json("/api/v1/orgs/acme/grafana").await;
    assert_eq!(status["token"]["revoked"], true);

    // Someone edits a dashboard in the Vigie folder meanwhile.
    let home_uid = status["dashboards"][0]["uid"].as_str().unwrap().to_string();
    let mut edited = initial[&home_uid]["dashboard"].clone();
    edited["title"] = json!("Edited by hand");
    let response = reqwest::Client::new()
        .post(format!("{grafana_url}/api/dashboards/db"))
        .bearer_auth(SA_TOKEN)
        .json(&json!({"dashboard": edited, "folderUid": initial[&home_uid]["folderUid"], "overwrite": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // RESET ALL DASHBOARDS: a new token that works, the old one still refused,
    // and the dashboards back to what was first generated.
    let (code, status) = server.post("/api/v1/orgs/acme/grafana/reset", "application/json", "").await;
    assert_eq!(code, 200, "{status}");
    assert_ne!(status["token"]["id"].as_i64().unwrap(), token_id);
    assert_eq!(status["token"]["revoked"], false);
    let (datasources, dashboards) = {
        let state = grafana.lock().unwrap();
        (state.datasources.clone(), state.dashboards.clone())
    };
    assert_eq!(datasources.len(), 1, "the data source is updated, not duplicated");
    let new_secret =
        datasources.values().next().unwrap()["secureJsonData"]["basicAuthPassword"].as_str().unwrap().to_string();
    assert_ne!(new_secret, first_secret);
    let (code, answer) = grafana_query(&datasource_url, &new_secret).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(grafana_query(&datasource_url, &first_secret).await.0, 401);
    assert_eq!(dashboards, initial, "every dashboard is back to its initial JSON");

    // The reset is in the org's audit log.
    let (_, audit) = server.get_json("/api/v1/orgs/acme/audit").await;
    let actions: Vec<&str> = audit["records"].as_array().unwrap().iter().filter_map(|r| r["action"].as_str()).collect();
    assert!(actions.contains(&"grafana.reset") && actions.contains(&"grafana.enabled"), "{audit}");

    // A reader may see the status, not reset.
    let (_, reader) = server
        .server
        .catalog
        .create_token("acme", "reader", vigie_server::catalog::Permissions::parse("read").unwrap(), "t")
        .unwrap();
    let reader = common::client_with(&reader);
    assert_eq!(reader.get(format!("{}/api/v1/orgs/acme/grafana", server.base)).send().await.unwrap().status(), 200);
    assert_eq!(
        reader.post(format!("{}/api/v1/orgs/acme/grafana/reset", server.base)).send().await.unwrap().status(),
        403
    );

    assert_eq!(grafana.lock().unwrap().violations, Vec::<String>::new(), "requests Grafana's API would refuse");
    server.server.stop().await;
}

fn schema(file: &str, definition: Option<&str>) -> jsonschema::Validator {
    let path = format!("{}/tests/grafana-schemas/{file}", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let schema = match definition {
        None => schema,
        Some(definition) => json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$ref": format!("#/definitions/{definition}"),
            "definitions": schema["definitions"],
        }),
    };
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, value: &Value, what: &str) {
    let errors: Vec<String> =
        validator.iter_errors(value).map(|error| format!("{} at {}", error, error.instance_path())).collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

async fn vigie(args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie")).args(args).output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

#[tokio::test]
async fn vigie_grafana_export_writes_dashboards_that_grafana_s_schemas_accept() {
    let server = server_with(None).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let remote = ["--url", server.base.as_str(), "--org", "acme", "--token", server.token.as_str()];

    let (ok, _, stderr) = vigie(&[&["grafana", "export"][..], &remote, &["--dir", out]].concat()).await;
    assert!(!ok && stderr.contains("disabled"), "{stderr}");
    let (ok, stdout, stderr) = vigie(&[&["grafana", "enable"][..], &remote].concat()).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Grafana for acme: enabled") && stdout.contains("Dashboards (5)"), "{stdout}");
    let (ok, stdout, stderr) = vigie(&[&["grafana", "export"][..], &remote, &["--dir", out]].concat()).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("provisioning/datasources/vigie.yaml"), "{stdout}");

    let dashboard_schema = schema("dashboard.jsonschema.json", None);
    let query_schema = schema("prometheus.jsonschema.json", None);
    let mut panel_kinds = std::collections::BTreeSet::new();
    let mut count = 0;
    for entry in std::fs::read_dir(dir.path().join("dashboards/vigie")).unwrap() {
        let path = entry.unwrap().path();
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        count += 1;
        assert_valid(&dashboard_schema, &dashboard, &path.display().to_string());
        // The schema is strict: a key Grafana does not know is refused.
        let mut stray = dashboard.clone();
        stray["panels"][0]["colour"] = json!("red");
        assert!(!dashboard_schema.is_valid(&stray));
        for panel in dashboard["panels"].as_array().unwrap() {
            let kind = panel["type"].as_str().unwrap();
            panel_kinds.insert(kind.to_string());
            let what = format!("{} / {}", dashboard["title"], panel["title"]);
            assert_valid(&schema(&format!("{kind}.jsonschema.json"), Some("Options")), &panel["options"], &what);
            for target in panel["targets"].as_array().into_iter().flatten() {
                assert_valid(&query_schema, target, &what);
                // And Vigie's own PromQL evaluator takes every query (Grafana's variables filled in).
                let expr = target["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__range", "1h")
                    .replace("$app", "api")
                    .replace("$instance", ".*");
                let response = server
                    .http
                    .get(format!("{}/prometheus/api/v1/query", server.base))
                    .query(&[("query", expr.as_str())])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "{what}: {expr}: {}", response.text().await.unwrap());
            }
        }
    }
    assert_eq!(count, 5);
    assert_eq!(
        panel_kinds.into_iter().collect::<Vec<_>>(),
        ["geomap", "stat", "table", "text", "timeseries"],
        "each kind validated at least once"
    );

    // The data source carries the org's Grafana token, which reads Vigie.
    let datasource = std::fs::read_to_string(dir.path().join("provisioning/datasources/vigie.yaml")).unwrap();
    assert!(datasource.contains(&format!("url: \"{}/prometheus\"", server.base)), "{datasource}");
    let secret = datasource.lines().find_map(|line| line.trim().strip_prefix("basicAuthPassword: ")).unwrap();
    let secret: String = serde_json::from_str(secret).unwrap();
    assert_eq!(grafana_query(&format!("{}/prometheus", server.base), &secret).await.0, 200);
    let provider = std::fs::read_to_string(dir.path().join("provisioning/dashboards/vigie.yaml")).unwrap();
    assert!(provider.contains("folder: \"Vigie\"") && provider.contains("type: file"), "{provider}");

    // status, and reset from the command line.
    let (ok, stdout, stderr) = vigie(&[&["grafana", "reset"][..], &remote].concat()).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Grafana for acme: enabled"), "{stdout}");
    assert_eq!(grafana_query(&format!("{}/prometheus", server.base), &secret).await.0, 401, "reset rotated the token");
    server.server.stop().await;
}
