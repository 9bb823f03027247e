//! `vigie grafana status|reset|enable|disable|export`: an org's Grafana
//! through the API (`/api/v1/orgs/{org}/grafana…`); every action but
//! `status` needs an admin token.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::remote::Remote;
use super::{refused, CliError};

pub enum GrafanaCommand {
    Status,
    Reset,
    Enable,
    Disable,
    /// Writes file provisioning under `dir`; `vigie_url` is Vigie's URL as
    /// Grafana reaches it (default: the `--url` used).
    Export {
        dir: PathBuf,
        vigie_url: Option<String>,
    },
}

pub async fn run(remote: Remote, command: GrafanaCommand) -> Result<(), CliError> {
    let client = remote.client()?;
    let unreachable = |source| CliError::Unreachable { url: remote.url.clone(), source };
    let request = match &command {
        GrafanaCommand::Status => client.get(remote.org_url("/grafana")),
        GrafanaCommand::Reset => client.post(remote.org_url("/grafana/reset")),
        GrafanaCommand::Enable => client.post(remote.org_url("/grafana/enable")),
        GrafanaCommand::Disable => client.post(remote.org_url("/grafana/disable")),
        GrafanaCommand::Export { vigie_url, .. } => client
            .get(remote.org_url("/grafana/export"))
            .query(&[("vigie_url", vigie_url.clone().unwrap_or_else(|| remote.url.trim_end_matches('/').to_string()))]),
    };
    let response = request.send().await.map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let body: Value = response.json().await.map_err(|error| CliError::Unreadable(error.to_string()))?;
    let mut out = std::io::stdout().lock();
    match command {
        GrafanaCommand::Export { dir, .. } => {
            let files = body["files"].as_array().ok_or_else(|| CliError::Unreadable("no files".into()))?;
            for file in files {
                let (Some(path), Some(content)) = (file["path"].as_str(), file["content"].as_str()) else {
                    return Err(CliError::Unreadable("a file without path or content".into()));
                };
                let target = inside(&dir, path)?;
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&target, content)?;
                writeln!(out, "wrote {}", target.display())?;
            }
            writeln!(
                out,
                "Copy {0}/provisioning/* into Grafana's provisioning directory and {0}/dashboards/vigie to \
                 /var/lib/grafana/dashboards/vigie (docs/GRAFANA.md).",
                dir.display()
            )?;
        }
        _ => print_status(&mut out, &remote.org, &body)?,
    }
    Ok(())
}

/// `path` under `dir`, refusing any that would leave it.
fn inside(dir: &Path, path: &str) -> Result<PathBuf, CliError> {
    let relative = Path::new(path);
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(CliError::Unreadable(format!("the server sent a file path outside the directory: {path}")));
    }
    Ok(dir.join(relative))
}

fn print_status(out: &mut impl Write, org: &str, status: &Value) -> Result<(), CliError> {
    let enabled = status["enabled"].as_bool().unwrap_or(false);
    writeln!(out, "Grafana for {org}: {}", if enabled { "enabled" } else { "disabled" })?;
    match &status["token"] {
        Value::Object(token) => writeln!(
            out,
            "Token: {} \"{}\" {}…{}",
            token["id"],
            token["name"].as_str().unwrap_or_default(),
            token["hint"].as_str().unwrap_or_default(),
            if token["revoked"].as_bool() == Some(true) { " (revoked: run `vigie grafana reset`)" } else { "" }
        )?,
        _ => writeln!(out, "Token: none")?,
    }
    if let Some(url) = status["grafana_url"].as_str() {
        writeln!(out, "Grafana: {url}")?;
    }
    if let Some(error) = status["provision_error"].as_str() {
        writeln!(out, "Last provisioning failed: {error}")?;
    }
    let dashboards = status["dashboards"].as_array().map_or(&[][..], Vec::as_slice);
    writeln!(out, "Dashboards ({}):", dashboards.len())?;
    for dashboard in dashboards {
        writeln!(
            out,
            "  {:<28} {}",
            dashboard["path"].as_str().unwrap_or_default(),
            dashboard["title"].as_str().unwrap_or_default()
        )?;
    }
    Ok(())
}
