//! Which Vigie a command speaks to and with which token: from flags, then
//! the environment (`VIGIE_URL`, `VIGIE_TOKEN`), then the config file
//! (`$VIGIE_CONFIG`, else `$XDG_CONFIG_HOME/vigie/config.toml`, else
//! `~/.config/vigie/config.toml`):
//!
//! ```toml
//! url = "https://vigie.example.com"
//! token = "vgt_..."
//! org = "acme"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::CliError;

pub const DEFAULT_URL: &str = "http://127.0.0.1:3000";

/// The flags every client command takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RemoteArgs {
    /// The Vigie server [default: the config file's, else http://127.0.0.1:3000].
    #[arg(long, env = "VIGIE_URL", global = true)]
    pub url: Option<String>,
    /// An API token (`vgt_…`) [default: the config file's].
    #[arg(long, env = "VIGIE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// The organisation [default: the config file's].
    #[arg(long, env = "VIGIE_ORG", global = true)]
    pub org: Option<String>,
    /// The config file to read.
    #[arg(long, env = "VIGIE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    url: Option<String>,
    token: Option<String>,
    org: Option<String>,
}

/// A resolved server, token and org.
#[derive(Debug, Clone)]
pub struct Remote {
    pub url: String,
    pub token: Option<String>,
    pub org: String,
}

impl RemoteArgs {
    pub fn resolve(self) -> Result<Remote, CliError> {
        let file = self.read_config()?;
        let org = self.org.or(file.org).ok_or_else(|| {
            CliError::Config(
                "which organisation? pass --org, set VIGIE_ORG, or put org = \"...\" in the config file".into(),
            )
        })?;
        Ok(Remote {
            url: self.url.or(file.url).unwrap_or_else(|| DEFAULT_URL.to_string()),
            token: self.token.or(file.token),
            org,
        })
    }

    fn read_config(&self) -> Result<ConfigFile, CliError> {
        let (path, explicit) = match &self.config {
            Some(path) => (path.clone(), true),
            None => match default_config_path() {
                Some(path) => (path, false),
                None => return Ok(ConfigFile::default()),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|error| CliError::Config(format!("cannot read the config file {}: {error}", path.display()))),
            Err(error) if !explicit && error.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(error) => Err(CliError::Config(format!("cannot read the config file {}: {error}", path.display()))),
        }
    }
}

fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("vigie").join("config.toml"))
}

impl Remote {
    /// An HTTP client that sends the token with every request.
    pub fn client(&self) -> Result<reqwest::Client, CliError> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &self.token {
            let value = format!("Bearer {}", token.trim()).parse().map_err(|_| {
                CliError::Config("the token holds characters a header cannot carry: copy it again".into())
            })?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .default_headers(headers)
            .build()
            .map_err(|source| CliError::Unreachable { url: self.url.clone(), source })
    }

    /// `{url}/api/v1/orgs/{org}` followed by `rest`.
    pub fn org_url(&self, rest: &str) -> String {
        format!("{}/api/v1/orgs/{}{rest}", self.url.trim_end_matches('/'), encode(&self.org))
    }
}

/// Percent-encodes a path segment.
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
