//! Console sign-in: the session cookie, and who may see which page.
//!
//! `POST /signin` (a plain HTML form, so it works before the page is
//! hydrated) checks the password and sets `vigie_session`: HttpOnly,
//! SameSite=Lax, Path=/, and Secure when the request came over TLS
//! (`X-Forwarded-Proto: https` from a proxy on this machine). Failed
//! attempts are limited per client address. `POST /signout` ends the
//! session.
//!
//! [`resolve_session`] runs before every request: it puts the signed-in
//! [`Viewer`] in the request's extensions, where server functions and the
//! console's live stream find it, and sends a browser that asks for a
//! console page without a session to `/signin?next=…`. Which org a viewer
//! may see is checked by each server function (`app/src/api.rs`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use vigie_app::model::Viewer;

use super::auth::client_ip;
use super::error::ApiError;
use super::AppState;
use crate::catalog::SESSION_TTL;

/// The cookie that carries the session secret.
pub const SESSION_COOKIE: &str = "vigie_session";

/// Failed sign-ins allowed per client address in [`ATTEMPT_WINDOW`].
pub const MAX_FAILED_ATTEMPTS: u32 = 5;
const ATTEMPT_WINDOW: Duration = Duration::from_secs(60);

/// Failed sign-ins per client address, forgotten after [`ATTEMPT_WINDOW`].
#[derive(Default)]
pub struct SignInAttempts {
    /// A std `Mutex`: held for a lookup, never across an `.await`.
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl SignInAttempts {
    /// Seconds to wait before trying again, when over the limit.
    fn wait_secs(&self, ip: IpAddr) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (count, since) = failures.get(&ip)?;
        let left = ATTEMPT_WINDOW.checked_sub(since.elapsed())?;
        (*count >= MAX_FAILED_ATTEMPTS).then(|| left.as_secs() + 1)
    }

    fn failed(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.len() > 100_000 {
            failures.retain(|_, (_, since)| since.elapsed() < ATTEMPT_WINDOW);
        }
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= ATTEMPT_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    fn succeeded(&self, ip: IpAddr) {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&ip);
    }
}

/// The session secret the request's cookie carries, if any.
pub fn session_secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| cookie.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

/// Paths that never look at the viewer: the token-checked API, static
/// files, probes. A browser sends its cookie with each of them, so the
/// session is not looked up there.
fn without_viewer(path: &str) -> bool {
    const NONE: [&str; 6] = ["/api/", "/prometheus/", "/pkg/", "/healthz", "/metrics", "/favicon"];
    NONE.iter().any(|prefix| path.starts_with(prefix))
}

/// Paths that are not console pages: they answer for themselves (server
/// functions' own checks, the sign-in page) or need no viewer.
fn is_console_page(path: &str) -> bool {
    !without_viewer(path) && !["/bff/", "/signin", "/signout"].iter().any(|prefix| path.starts_with(prefix))
}

/// The viewer of a console route (`/bff/…`) who may see `app` of `org`: a
/// 401 without a session, and for an org they are not a member of the
/// same 404 as for a missing app.
pub async fn console_viewer(
    state: &AppState,
    viewer: Option<axum::Extension<Viewer>>,
    org: &str,
    app: &str,
) -> Result<Viewer, ApiError> {
    let Some(axum::Extension(viewer)) = viewer else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "your console session has ended: sign in again at /signin",
        ));
    };
    if !viewer.may_see(org) {
        return Err(ApiError::no_such_app(org, app));
    }
    let (catalog, org_slug, app_slug) = (state.catalog.clone(), org.to_string(), app.to_string());
    let found = tokio::task::spawn_blocking(move || catalog.app(&org_slug, &app_slug))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    if found.is_none() {
        return Err(ApiError::no_such_app(org, app));
    }
    Ok(viewer)
}

pub async fn resolve_session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let secret = if without_viewer(request.uri().path()) { None } else { session_secret(request.headers()) };
    let viewer = match secret {
        None => None,
        Some(secret) => {
            let (catalog, secret) = (state.catalog.clone(), secret.to_string());
            match tokio::task::spawn_blocking(move || catalog.session(&secret)).await {
                Ok(Ok(viewer)) => viewer,
                Ok(Err(error)) => {
                    tracing::error!(%error, "could not read a console session");
                    None
                }
                Err(error) => {
                    tracing::error!(%error, "the session lookup failed");
                    None
                }
            }
        }
    };
    let path = request.uri().path();
    let asks_for_page = matches!(*request.method(), Method::GET | Method::HEAD) && is_console_page(path);
    match viewer {
        Some(mut viewer) => {
            if let Some(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
                viewer.ip = client_ip(request.headers(), peer).to_string();
            }
            request.extensions_mut().insert(viewer);
        }
        None if asks_for_page => {
            let wanted = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            return Redirect::to(&format!("/signin?next={}", url_encode(wanted))).into_response();
        }
        None => {}
    }
    next.run(request).await
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    login: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /signin`.
pub async fn sign_in(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let ip = client_ip(&headers, &peer);
    let next = safe_next(&form.next);
    let back = |error: &str| {
        Redirect::to(&format!("/signin?error={error}&next={}&login={}", url_encode(next), url_encode(&form.login)))
            .into_response()
    };
    if let Some(wait) = state.sign_in_attempts.wait_secs(ip) {
        tracing::warn!(%ip, "sign-in refused: too many failed attempts");
        return back(&format!("too_many&wait={wait}"));
    }
    let (catalog, login, password) = (state.catalog.clone(), form.login.clone(), form.password.clone());
    // Argon2 takes tens of milliseconds: off the async threads.
    let checked = tokio::task::spawn_blocking(move || {
        catalog.check_password(&login, &password)?.map(|_| catalog.start_session(&login)).transpose()
    })
    .await;
    match checked {
        Ok(Ok(Some(secret))) => {
            state.sign_in_attempts.succeeded(ip);
            tracing::info!(login = %form.login, %ip, "signed in to the console");
            let mut cookie =
                format!("{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}", SESSION_TTL.as_secs());
            if over_tls(&headers, &peer) {
                cookie.push_str("; Secure");
            }
            let mut response = Redirect::to(next).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Ok(Ok(None)) => {
            state.sign_in_attempts.failed(ip);
            back("wrong")
        }
        Ok(Err(error)) => ApiError::internal(error).into_response(),
        Err(error) => ApiError::internal(error).into_response(),
    }
}

/// `POST /signout`.
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(secret) = session_secret(&headers) {
        let (catalog, secret) = (state.catalog.clone(), secret.to_string());
        if let Ok(Err(error)) = tokio::task::spawn_blocking(move || catalog.end_session(&secret)).await {
            tracing::error!(%error, "could not end a console session");
        }
    }
    let mut response = Redirect::to("/signin?signed_out=1").into_response();
    let expired = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Where to go after signing in: a path on this site, never another site.
/// Browsers drop tabs and newlines from URLs and read `\\` as `/`, so a
/// path holding any of them, or starting with `//`, is refused, and what is
/// left must resolve to this site when joined to it.
fn safe_next(next: &str) -> &str {
    const HERE: &str = "http://console.invalid/";
    let plain = next.starts_with('/')
        && !next.starts_with("//")
        && !next.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    let stays_here = plain
        && url::Url::parse(HERE).and_then(|here| here.join(next)).is_ok_and(|joined| joined.as_str().starts_with(HERE));
    if stays_here && !next.starts_with("/signin") {
        next
    } else {
        "/"
    }
}

fn over_tls(headers: &HeaderMap, peer: &ConnectInfo<SocketAddr>) -> bool {
    peer.0.ip().is_loopback()
        && headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

fn url_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next("/orgs/acme?x=1"), "/orgs/acme?x=1");
        for outside in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "/\u{0}//evil.example",
            "/x\\..\\\\evil.example",
            "",
            "orgs",
            "/signin?next=/",
        ] {
            assert_eq!(safe_next(outside), "/", "{outside}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; vigie_session=vgs_abc; other=1"));
        assert_eq!(session_secret(&headers), Some("vgs_abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("vigie_sessionx=1"));
        assert_eq!(session_secret(&headers), None);
    }

    #[test]
    fn five_failures_make_a_client_wait_and_a_success_forgets_them() {
        let attempts = SignInAttempts::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..MAX_FAILED_ATTEMPTS {
            assert_eq!(attempts.wait_secs(ip), None);
            attempts.failed(ip);
        }
        let wait = attempts.wait_secs(ip).unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(attempts.wait_secs("192.0.2.8".parse().unwrap()), None, "another client is not held back");
        attempts.succeeded(ip);
        assert_eq!(attempts.wait_secs(ip), None);
    }
}
