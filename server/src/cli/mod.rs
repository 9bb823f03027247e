//! Commands of the `vigie` binary that are clients of a Vigie server.

pub mod agent;
pub mod drains;
pub mod grafana;
pub mod logs;
pub mod remote;
pub mod tokens;

/// Why a command failed, said so the user knows what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot reach Vigie at {url}: {source} (is it running? set --url or VIGIE_URL)")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("{status}: {message}")]
    Refused { status: u16, message: String },
    #[error("the server sent something unreadable: {0}")]
    Unreadable(String),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
    /// The server closed the live stream for good (the token was revoked,
    /// access removed, the session ended): reconnecting would not help.
    #[error("{0}")]
    Ended(String),
}

/// The error a refused request carries: the server's `error` text.
pub async fn refused(response: reqwest::Response) -> CliError {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|body| body["error"].as_str().map(str::to_string))
        .unwrap_or(text);
    CliError::Refused { status, message }
}
