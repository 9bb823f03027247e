//! Every Logs API route names an org and checks the caller's token against
//! it: `Authorization: Bearer vgt_…`.
//!
//! A token of another org gets exactly the answer a missing org or app
//! gets (404, same text), so no caller learns what other orgs hold. Only
//! once the org is the token's own does a missing permission say so (403).

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, StatusCode};

use super::error::ApiError;
use super::AppState;
pub use crate::catalog::Caller;
use crate::catalog::{Authentication, Catalog, Permission};

/// Checks that the request's token belongs to `org` and allows `need`;
/// with `app`, also that the org has that app. The catalog is read on a
/// blocking thread.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    peer: &ConnectInfo<SocketAddr>,
    org: &str,
    app: Option<&str>,
    need: Permission,
) -> Result<Caller, ApiError> {
    let secret = bearer(headers)?.to_string();
    let ip = client_ip(headers, peer);
    let (catalog, org, app) = (state.catalog.clone(), org.to_string(), app.map(str::to_string));
    tokio::task::spawn_blocking(move || check_token(&catalog, secret, &org, app.as_deref(), need, ip))
        .await
        .map_err(ApiError::internal)?
}

/// [`authorize`]'s checks. Blocks (SQLite): call it from a blocking thread.
fn check_token(
    catalog: &Catalog,
    secret: String,
    org: &str,
    app: Option<&str>,
    need: Permission,
    ip: IpAddr,
) -> Result<Caller, ApiError> {
    let token = match catalog.authenticate(&secret).map_err(ApiError::internal)? {
        Authentication::Valid(token) => token,
        Authentication::Revoked(token) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "the token \"{}\" ({}) is revoked: create another with `vigie tokens create --org {} --name NAME`",
                    token.name, token.hint, token.org
                ),
            ))
        }
        Authentication::Unknown => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the token is not known: check it is copied whole, or create one with `vigie tokens create`",
            ))
        }
    };
    let not_found = || match app {
        Some(app) => ApiError::no_such_app(org, app),
        None => ApiError::no_such_org(org),
    };
    if token.org != org {
        return Err(not_found());
    }
    if let Some(app) = app {
        if catalog.app(org, app).map_err(ApiError::internal)?.is_none() {
            return Err(not_found());
        }
    }
    if !token.permissions.allows(need) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the token \"{}\" may {} but not {}: use a token with the {} permission",
                token.name,
                token.permissions,
                need.as_str(),
                need.as_str()
            ),
        ));
    }
    Ok(Caller { token, ip, secret })
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no token: send `Authorization: Bearer <token>` (the CLI reads --token, VIGIE_TOKEN or its config file)",
        )
    };
    let value = headers.get(header::AUTHORIZATION).ok_or_else(missing)?;
    let text = value.to_str().map_err(|_| missing())?;
    let (scheme, token) = text.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(missing());
    }
    Ok(token.trim())
}

/// The peer's address. A `X-Forwarded-For` is only believed from a proxy on
/// this machine.
pub fn client_ip(headers: &HeaderMap, peer: &ConnectInfo<SocketAddr>) -> IpAddr {
    let peer_ip = peer.0.ip();
    if peer_ip.is_loopback() {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
            .and_then(|list| list.split(',').next_back())
            .and_then(|last| last.trim().parse().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer_ip
}
