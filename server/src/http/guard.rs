//! What every request passes before a handler: the console's requests
//! that change state must come from the console's own origin, anonymous
//! bodies are bounded, and every response carries the security headers.
//!
//! **Origin.** The console's session is a cookie, and a browser sends it
//! with a form or `fetch` from any site. SameSite=Lax does not stop a
//! sibling subdomain (on a PaaS, customers' apps live there), so every
//! request to the console's routes (`/bff/…`, `/signin`, `/signout`) that
//! is not a GET or HEAD must say it comes from here: its `Origin` names
//! this host, or, without an `Origin`, `Sec-Fetch-Site` is `same-origin`
//! or `none` (typed by the user). Anything else is a 403. The token-checked
//! API (`/api/…`) reads no cookie, so a forged request there has no
//! credential to borrow.
//!
//! **Headers.** Pages get a Content-Security-Policy whose scripts are
//! allowed by the nonce Leptos puts on its own (no `unsafe-inline` for
//! scripts); every response gets `frame-ancestors 'none'` (through that
//! policy or a default one), `X-Content-Type-Options: nosniff` and a
//! `Referrer-Policy`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The largest body the console's routes take (server functions' arguments,
/// the sign-in form): far above any real one, far below what would cost memory.
pub const CONSOLE_MAX_BODY_BYTES: usize = 64 * 1024;

/// Routes of the console that a session cookie authorises.
fn is_console_route(path: &str) -> bool {
    path.starts_with("/bff/") || path == "/signin" || path == "/signout"
}

/// Refuses a console request that changes state from another origin, and
/// bounds the body of every console request.
pub async fn console_requests(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !is_console_route(path) {
        return next.run(request).await;
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        if let Err(why) = same_origin(request.headers()) {
            tracing::warn!(path, why, "refused a console request from another origin");
            return ApiError::new(StatusCode::FORBIDDEN, format!("refused: {why}")).into_response();
        }
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {} KiB, the most a console request takes", CONSOLE_MAX_BODY_BYTES >> 10),
        )
        .into_response()
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > CONSOLE_MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, CONSOLE_MAX_BODY_BYTES).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(_) => too_large(),
    }
}

/// Whether the request says it comes from this host: `Err` says why not.
pub fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok());
    match headers.get(header::ORIGIN) {
        Some(origin) => {
            let origin = origin.to_str().map_err(|_| "the Origin header is not text")?;
            // `null` (a sandboxed frame, a redirect across sites) is no origin of ours.
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .ok_or("the request comes from another origin")?;
            let host = host.ok_or("the request names no Host")?;
            if authority.eq_ignore_ascii_case(host) {
                Ok(())
            } else {
                Err("the request comes from another origin")
            }
        }
        None => match headers.get("sec-fetch-site").and_then(|value| value.to_str().ok()) {
            Some("same-origin" | "none") => Ok(()),
            Some(_) => Err("the request comes from another site"),
            None => Err("the request says neither its Origin nor its Sec-Fetch-Site"),
        },
    }
}

/// The policy of a page whose scripts carry `nonce`.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The policy of every other response: nothing runs, nothing frames it.
const DEFAULT_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Adds the security headers to every response; a page's own policy (set
/// with its nonce while it rendered) is kept.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DEFAULT_POLICY));
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Any path under `/api/` that no route takes: JSON, as the rest of the API.
pub async fn api_not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no API route {} {}: the routes are listed at /api/v1/openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn only_this_hosts_origin_passes() {
        let host = ("host", "console.example:3000");
        assert!(same_origin(&headers(&[host, ("origin", "http://console.example:3000")])).is_ok());
        assert!(same_origin(&headers(&[host, ("origin", "https://console.example:3000")])).is_ok());
        for origin in [
            "https://evil.example",
            "http://console.example",
            "http://console.example:3000.evil.example",
            "http://app.console.example:3000",
            "null",
            "console.example:3000",
        ] {
            let mut forged = headers(&[host, ("sec-fetch-site", "same-origin")]);
            forged.insert("origin", HeaderValue::from_str(origin).unwrap());
            assert!(same_origin(&forged).is_err(), "{origin}");
        }
    }

    #[test]
    fn without_an_origin_the_fetch_site_decides_and_silence_is_refused() {
        let host = ("host", "console.example");
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-origin")])).is_ok());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "none")])).is_ok());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-site")])).is_err());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&headers(&[host])).is_err());
    }
}
