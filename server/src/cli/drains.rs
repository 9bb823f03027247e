//! `vigie drain create|list|get|enable|disable|remove|check`: an app's
//! drains (with `--app`) or the org's audit-log drains (without), through
//! the drains API. Listing needs a `read` token, the rest `admin`.

use std::io::Write;

use serde_json::{json, Value};

use super::remote::{encode, Remote};
use super::{refused, CliError};
use crate::drains::config::RecipientFields;
use crate::drains::{CheckReport, DrainView, RecipientConfig};

/// What `vigie drain create` takes: the type and URL, and the type's fields as flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NewDrainArgs {
    /// syslog-tcp, syslog-udp, ovh-tcp, raw-http, elasticsearch, datadog,
    /// newrelic, betterstack, otlp or nats.
    #[arg(value_name = "TYPE")]
    pub recipient_type: String,
    /// Where to: tcp://, tls://, udp://, http(s):// or nats:// (docs/DRAINS.md).
    /// (Not `url`: that names the Vigie server.)
    #[arg(value_name = "URL")]
    pub target: String,
    /// LOG or ACCESSLOG (with --app), AUDITLOG (without).
    #[arg(long, default_value = "LOG")]
    pub kind: String,
    /// A user name (raw-http, elasticsearch, nats).
    #[arg(long)]
    pub username: Option<String>,
    /// The type's secret: password, API key (datadog, newrelic), stream
    /// token (ovh-tcp) or source token (betterstack).
    #[arg(long, env = "VIGIE_DRAIN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Index name prefix (elasticsearch).
    #[arg(long)]
    pub index_prefix: Option<String>,
    /// Extra tags (datadog), such as env:prod,team:web.
    #[arg(long)]
    pub tags: Option<String>,
    /// The JetStream subject (nats).
    #[arg(long)]
    pub subject: Option<String>,
    /// A header sent with each request (otlp), NAME=VALUE; repeatable.
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// now (default), a time (RFC 3339), or back from now such as 2h.
    #[arg(long)]
    pub start: Option<String>,
}

pub enum DrainCommand {
    Create(Box<NewDrainArgs>),
    List,
    Get { id: i64 },
    Enable { id: i64 },
    Disable { id: i64 },
    Remove { id: i64 },
    Check { id: i64 },
}

impl NewDrainArgs {
    /// The recipient's JSON as the API takes it; the error names what is missing.
    pub fn recipient(&self) -> Result<Value, CliError> {
        let fields = RecipientFields {
            recipient_type: self.recipient_type.clone(),
            url: self.target.clone(),
            username: self.username.clone(),
            secret: self.secret.clone(),
            index_prefix: self.index_prefix.clone(),
            tags: self.tags.clone(),
            subject: self.subject.clone(),
            headers: self.headers.clone(),
        };
        let recipient = fields.recipient().map_err(|error| {
            CliError::Config(if error.contains("needs its") && !error.contains("subject") {
                format!("{error}: pass --secret (or set VIGIE_DRAIN_SECRET)")
            } else if error.contains("subject") {
                format!("{error}: pass --subject")
            } else {
                error
            })
        })?;
        Ok(serde_json::to_value(recipient).expect("a recipient serialises"))
    }
}

/// Runs a command against the drains of `app` (or the org's, when `None`).
pub async fn run(remote: Remote, app: Option<String>, command: DrainCommand) -> Result<(), CliError> {
    let client = remote.client()?;
    let unreachable = |source| CliError::Unreachable { url: remote.url.clone(), source };
    let base = match &app {
        Some(app) => remote.org_url(&format!("/apps/{}/drains", encode(app))),
        None => remote.org_url("/drains"),
    };
    let request = match &command {
        DrainCommand::Create(args) => {
            let mut body = json!({ "kind": args.kind.to_ascii_uppercase(), "recipient": args.recipient()? });
            if let Some(start) = &args.start {
                body["start"] = json!(start);
            }
            client.post(&base).json(&body)
        }
        DrainCommand::List => client.get(&base),
        DrainCommand::Get { id } => client.get(format!("{base}/{id}")),
        DrainCommand::Enable { id } => client.post(format!("{base}/{id}/enable")),
        DrainCommand::Disable { id } => client.post(format!("{base}/{id}/disable")),
        DrainCommand::Remove { id } => client.delete(format!("{base}/{id}")),
        DrainCommand::Check { id } => client.post(format!("{base}/{id}/check")),
    };
    let response = request.send().await.map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let body: Value = response.json().await.map_err(|error| CliError::Unreadable(error.to_string()))?;
    let drain = |value: Value| {
        serde_json::from_value::<DrainView>(value).map_err(|error| CliError::Unreadable(error.to_string()))
    };
    let mut out = std::io::stdout().lock();
    match command {
        DrainCommand::Create(_) => {
            let created = drain(body)?;
            writeln!(
                out,
                "Created drain {} ({} to {}).",
                created.id,
                created.kind.as_str(),
                describe(&created.recipient)
            )?;
            print_drain(&mut out, &created)?;
        }
        DrainCommand::List => {
            let drains = body.as_array().into_iter().flatten().cloned().map(drain).collect::<Result<Vec<_>, _>>()?;
            if drains.is_empty() {
                let whose =
                    app.as_deref().map_or_else(|| format!("organisation {}", remote.org), |app| format!("app {app}"));
                writeln!(out, "No drains for {whose}: add one with `vigie drain create`.")?;
            } else {
                writeln!(
                    out,
                    "{:>4}  {:<9} {:<13} {:<8} {:<9} {:>9} {:>8}  RECIPIENT / LAST ERROR",
                    "ID", "KIND", "TYPE", "STATUS", "EXECUTION", "BACKLOG", "RATE/S"
                )?;
            }
            for drain in drains {
                let status = if drain.status == crate::drains::DrainStatus::Enabled { "ENABLED" } else { "DISABLED" };
                let execution = match drain.execution {
                    crate::drains::Execution::Running => "RUNNING",
                    crate::drains::Execution::Retrying => "RETRYING",
                    crate::drains::Execution::Stopped => "STOPPED",
                };
                let note = match (&drain.last_error, drain.execution) {
                    (Some(error), crate::drains::Execution::Retrying) => error.clone(),
                    _ => drain.disabled_reason.clone().unwrap_or_else(|| describe(&drain.recipient)),
                };
                writeln!(
                    out,
                    "{:>4}  {:<9} {:<13} {:<8} {:<9} {:>9} {:>8.1}  {note}",
                    drain.id,
                    drain.kind.as_str(),
                    drain.recipient.type_name(),
                    status,
                    execution,
                    drain.backlog,
                    drain.rate_out_per_sec,
                )?;
            }
        }
        DrainCommand::Get { .. } => print_drain(&mut out, &drain(body)?)?,
        DrainCommand::Enable { id } => {
            let enabled = drain(body)?;
            writeln!(
                out,
                "Drain {id} is enabled: it resumes from offset {} ({} to deliver).",
                enabled.cursor, enabled.backlog
            )?;
        }
        DrainCommand::Disable { id } => {
            let disabled = drain(body)?;
            writeln!(out, "Drain {id} is disabled; it keeps its place (offset {}).", disabled.cursor)?;
        }
        DrainCommand::Remove { id } => {
            let removed = drain(body)?;
            writeln!(out, "Removed drain {id} ({} to {}).", removed.kind.as_str(), describe(&removed.recipient))?;
        }
        DrainCommand::Check { id } => {
            let report: CheckReport =
                serde_json::from_value(body).map_err(|error| CliError::Unreadable(error.to_string()))?;
            if report.ok {
                writeln!(out, "Drain {id}: the recipient took the test message: {}", report.answer)?;
            } else {
                return Err(CliError::Refused {
                    status: 0,
                    message: format!("drain {id}: the recipient did not take the test message: {}", report.answer),
                });
            }
        }
    }
    Ok(())
}

fn describe(recipient: &RecipientConfig) -> String {
    format!("{} {}", recipient.type_name(), recipient.url())
}

fn print_drain(out: &mut impl Write, drain: &DrainView) -> std::io::Result<()> {
    let time = |ns: Option<i64>| ns.map_or_else(|| "never".to_string(), super::tokens::day);
    writeln!(out, "id:            {}", drain.id)?;
    writeln!(out, "kind:          {}", drain.kind.as_str())?;
    writeln!(out, "recipient:     {}", serde_json::to_string(&drain.recipient).unwrap_or_default())?;
    writeln!(
        out,
        "status:        {:?}{}",
        drain.status,
        drain.disabled_reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
    )?;
    writeln!(out, "execution:     {:?}", drain.execution)?;
    writeln!(out, "cursor:        {}", drain.cursor)?;
    writeln!(out, "backlog:       {}", drain.backlog)?;
    writeln!(out, "rate out:      {:.1} lines/s", drain.rate_out_per_sec)?;
    writeln!(out, "last success:  {}", time(drain.last_success_at_ns))?;
    writeln!(out, "last error:    {}", drain.last_error.as_deref().unwrap_or("none"))?;
    for gap in &drain.gaps {
        writeln!(
            out,
            "gap:           offsets {}..{} ({} lines {})",
            gap.from_offset, gap.to_offset, gap.count, gap.reason
        )?;
    }
    Ok(())
}
