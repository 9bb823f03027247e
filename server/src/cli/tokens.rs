//! `vigie tokens create|list|revoke`: an org's API tokens, through the
//! Logs API with an admin token.

use std::io::Write;

use serde_json::{json, Value};

use super::remote::Remote;
use super::{refused, CliError};
use crate::catalog::TokenInfo;

pub enum TokensCommand {
    Create { name: String, permissions: String },
    List,
    Revoke { id: i64 },
}

pub async fn run(remote: Remote, command: TokensCommand) -> Result<(), CliError> {
    let client = remote.client()?;
    let unreachable = |source| CliError::Unreachable { url: remote.url.clone(), source };
    let request = match &command {
        TokensCommand::Create { name, permissions } => {
            client.post(remote.org_url("/tokens")).json(&json!({ "name": name, "permissions": permissions }))
        }
        TokensCommand::List => client.get(remote.org_url("/tokens")),
        TokensCommand::Revoke { id } => client.delete(remote.org_url(&format!("/tokens/{id}"))),
    };
    let response = request.send().await.map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let body: Value = response.json().await.map_err(|error| CliError::Unreadable(error.to_string()))?;
    let mut out = std::io::stdout().lock();
    let token = |value: &Value| {
        serde_json::from_value::<TokenInfo>(value.clone()).map_err(|error| CliError::Unreadable(error.to_string()))
    };
    match command {
        TokensCommand::Create { .. } => {
            let created = token(&body["token"])?;
            writeln!(
                out,
                "Created token {} \"{}\" ({}) in {}.",
                created.id, created.name, created.permissions, created.org
            )?;
            writeln!(out, "Its secret, shown this once; keep it somewhere safe:")?;
            writeln!(out, "{}", body["secret"].as_str().unwrap_or_default())?;
        }
        TokensCommand::List => {
            let tokens = body.as_array().into_iter().flatten().map(token).collect::<Result<Vec<_>, _>>()?;
            if tokens.is_empty() {
                writeln!(out, "No tokens in {}: create one with `vigie tokens create --name NAME`.", remote.org)?;
            } else {
                writeln!(
                    out,
                    "{:>4}  {:<24} {:<14} {:<12} {:<20} STATE",
                    "ID", "NAME", "PERMISSIONS", "SECRET", "CREATED"
                )?;
            }
            for token in tokens {
                let state = match token.revoked_at_ns {
                    Some(at) => format!("revoked {}", day(at)),
                    None => "active".to_string(),
                };
                writeln!(
                    out,
                    "{:>4}  {:<24} {:<14} {:<12} {:<20} {state}",
                    token.id,
                    token.name,
                    token.permissions.to_string(),
                    token.hint,
                    day(token.created_at_ns)
                )?;
            }
        }
        TokensCommand::Revoke { .. } => {
            let revoked = token(&body)?;
            writeln!(out, "Revoked token {} \"{}\": it no longer works.", revoked.id, revoked.name)?;
        }
    }
    Ok(())
}

pub(crate) fn day(ts_ns: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(ts_ns as i128)
        .ok()
        .and_then(|time| time.format(&format).ok())
        .unwrap_or_default()
}
