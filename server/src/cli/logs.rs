//! `vigie logs`: reads an app's logs from a Vigie server over its Logs API,
//! like `tail`, `grep` and `tail -f` in one. Works against any Vigie: the
//! URL and token come from flags, the environment or the config file (see
//! [`super::remote`]).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use eventsource_stream::{Event, Eventsource};
use futures::StreamExt;
use serde_json::Value;
use vigie_app::model::StreamEnd;

use super::remote::{encode, Remote};
use super::{refused, CliError};
use crate::http::logs::record_text;
use crate::store::StoredRecord;

#[derive(Debug, Clone)]
pub struct LogsCommand {
    pub remote: Remote,
    pub app: String,
    pub kind: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub search: Option<String>,
    pub follow: bool,
    pub format: Format,
    /// Lines shown when no `--since` is given.
    pub lines: usize,
    /// Lines printed before and after each line found (not with `--follow`).
    pub context: u64,
}

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One line a record, coloured on a terminal (`human`, `text`).
    Human,
    /// One JSON object a line (`json`, `json-stream`).
    Json,
    /// Common Log Format, for access logs (`clf`); other kinds print as `human`.
    Clf,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "human" | "text" => Some(Format::Human),
            "json" | "json-stream" => Some(Format::Json),
            "clf" => Some(Format::Clf),
            _ => None,
        }
    }
}

pub async fn run(command: LogsCommand) -> Result<(), CliError> {
    let client = command.remote.client()?;
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = Printer { format: command.format, colour, stdout: std::io::stdout().lock(), printed_to: None };
    let base = command.remote.org_url(&format!("/apps/{}/logs", encode(&command.app)));
    let url = &command.remote.url;
    let mut params = vec![("kind", command.kind.clone())];
    params.extend(command.until.clone().map(|until| ("until", until)));
    params.extend(command.search.clone().map(|q| ("q", q)));

    // History first: the range asked for, or the last lines.
    let mut next_offset = None;
    match &command.since {
        Some(since) => {
            let mut cursor: Option<String> = None;
            loop {
                let mut query = params.clone();
                query.extend([("since", since.clone()), ("order", "asc".into()), ("limit", "1000".into())]);
                query.extend(cursor.clone().map(|c| ("cursor", c)));
                let page = get_page(&client, url, &base, &query).await?;
                for record in &page.records {
                    out.print_found(record, &command, &client, &base).await?;
                    next_offset = Some(record.offset + 1);
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        None => {
            let mut query = params.clone();
            query.extend([("order", "desc".into()), ("limit", command.lines.clamp(1, 1_000).to_string())]);
            let page = get_page(&client, url, &base, &query).await?;
            for record in page.records.iter().rev() {
                out.print_found(record, &command, &client, &base).await?;
            }
            next_offset = page.records.first().map(|r| r.offset + 1);
        }
    }
    if !command.follow {
        return Ok(());
    }

    // Then live, resuming after the last offset seen whenever the stream drops.
    let mut last_id: Option<u64> = next_offset.map(|next| next.saturating_sub(1));
    let mut retry = Duration::from_millis(500);
    let mut opened = false;
    loop {
        let mut request = client.get(format!("{base}/live")).query(&params);
        if let Some(since) = &command.since {
            if last_id.is_none() {
                request = request.query(&[("since", since)]);
            }
        }
        if let Some(id) = last_id {
            request = request.header("last-event-id", id.to_string());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                retry = Duration::from_millis(500);
                // The server follows the topic from here on: every line
                // appended after this point will come.
                if opened {
                    eprintln!("(the live stream is back)");
                } else {
                    eprintln!("(following new lines; Ctrl-C to stop)");
                    opened = true;
                }
                // The events are parsed from the whole byte stream, so a
                // character cut by a chunk boundary is joined, not replaced.
                let mut events = response.bytes_stream().eventsource();
                while let Some(Ok(event)) = events.next().await {
                    if let Some(id) = handle_event(&event, &mut out)? {
                        last_id = Some(id);
                    }
                }
            }
            Ok(response) => return Err(refused(response).await),
            Err(source) if last_id.is_none() => {
                return Err(CliError::Unreachable { url: url.clone(), source });
            }
            Err(_) => {}
        }
        eprintln!("(the live stream dropped; reconnecting)");
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(Duration::from_secs(10));
    }
}

/// Prints the records or gaps of one Server-Sent Event; returns the offset
/// it carries, if any. `heartbeat` events only keep the connection busy;
/// an `end` event is the server closing the stream for good, an error.
fn handle_event(event: &Event, out: &mut Printer) -> Result<Option<u64>, CliError> {
    let gap = match event.event.as_str() {
        "message" => false,
        "gap" => true,
        // The shape the console reads too; whatever it holds, the stream has ended.
        "end" => return Err(CliError::Ended(StreamEnd::from_event_data(&event.data).message)),
        // `heartbeat`, and kinds this version does not know.
        _ => return Ok(None),
    };
    let id = event.id.trim().parse().ok();
    let items: Vec<Value> =
        serde_json::from_str(&event.data).map_err(|error| CliError::Unreadable(error.to_string()))?;
    for item in items {
        if gap {
            eprintln!(
                "(offsets {} to {} are missing: {})",
                item["from_offset"],
                item["to_offset"],
                item["reason"].as_str().unwrap_or("unknown")
            );
        } else {
            out.print(&to_record(&item)?)?;
        }
    }
    Ok(id)
}

struct Page {
    records: Vec<StoredRecord>,
    next_cursor: Option<String>,
}

async fn get_page(client: &reqwest::Client, url: &str, base: &str, query: &[(&str, String)]) -> Result<Page, CliError> {
    let response = client
        .get(base)
        .query(query)
        .send()
        .await
        .map_err(|source| CliError::Unreachable { url: url.to_string(), source })?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let body: Value = response.json().await.map_err(|error| CliError::Unreadable(error.to_string()))?;
    for gap in body["gaps"].as_array().into_iter().flatten() {
        eprintln!(
            "(offsets {} to {} are missing: {})",
            gap["from_offset"],
            gap["to_offset"],
            gap["reason"].as_str().unwrap_or("unknown")
        );
    }
    let records = body["records"].as_array().into_iter().flatten().map(to_record).collect::<Result<_, _>>()?;
    Ok(Page { records, next_cursor: body["next_cursor"].as_str().map(str::to_string) })
}

/// A record of the API (offset and time beside the payload's fields) back
/// into a stored record.
fn to_record(item: &Value) -> Result<StoredRecord, CliError> {
    let mut fields =
        item.as_object().cloned().ok_or_else(|| CliError::Unreadable("a record is not an object".into()))?;
    let offset = fields.remove("offset").and_then(|v| v.as_u64());
    let ts_ns = fields.remove("ts_ns").and_then(|v| v.as_i64());
    let (Some(offset), Some(ts_ns)) = (offset, ts_ns) else {
        return Err(CliError::Unreadable("a record has no offset or ts_ns".into()));
    };
    Ok(StoredRecord { offset, ts_ns, payload: Value::Object(fields).to_string().into() })
}

struct Printer {
    format: Format,
    colour: bool,
    stdout: std::io::StdoutLock<'static>,
    /// With `--context`: the last offset printed, so overlapping contexts
    /// print each line once.
    printed_to: Option<u64>,
}

impl Printer {
    /// A record found; with `--context N`, the N lines before and after it
    /// too (unfiltered, read by offset), groups apart separated by `--`.
    async fn print_found(
        &mut self,
        record: &StoredRecord,
        command: &LogsCommand,
        client: &reqwest::Client,
        base: &str,
    ) -> Result<(), CliError> {
        if command.context == 0 || command.follow {
            return self.print(record);
        }
        let query = [
            ("kind", command.kind.clone()),
            ("offset", record.offset.to_string()),
            ("before", command.context.to_string()),
            ("after", command.context.to_string()),
        ];
        let response = client
            .get(format!("{base}/context"))
            .query(&query)
            .send()
            .await
            .map_err(|source| CliError::Unreachable { url: base.to_string(), source })?;
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        let body: Value = response.json().await.map_err(|error| CliError::Unreadable(error.to_string()))?;
        let around = body["records"].as_array().cloned().unwrap_or_default();
        let first = around.first().and_then(|item| item["offset"].as_u64()).unwrap_or(record.offset);
        if self.printed_to.is_some_and(|last| first > last + 1) {
            writeln!(self.stdout, "--")?;
        }
        for item in &around {
            let line = to_record(item)?;
            if self.printed_to.is_some_and(|last| line.offset <= last) {
                continue;
            }
            self.print(&line)?;
            self.printed_to = Some(line.offset);
        }
        Ok(())
    }

    fn print(&mut self, record: &StoredRecord) -> Result<(), CliError> {
        match self.format {
            Format::Json => {
                writeln!(self.stdout, "{}", crate::http::logs::record_json(record))?;
                return Ok(());
            }
            Format::Clf => {
                if let Some(line) = clf(record) {
                    writeln!(self.stdout, "{line}")?;
                    return Ok(());
                }
            }
            Format::Human => {}
        }
        let line = record_text(record);
        if !self.colour {
            writeln!(self.stdout, "{line}")?;
            return Ok(());
        }
        let fields: Value = serde_json::from_str(&record.payload).unwrap_or_default();
        let status = fields["status"].as_u64().unwrap_or_default();
        let colour = match (fields["level"].as_str(), status) {
            (Some("error" | "fatal"), _) | (_, 500..) => "\x1b[31m",
            (Some("warn"), _) | (_, 400..=499) => "\x1b[33m",
            (Some("debug" | "trace"), _) => "\x1b[2m",
            _ => "",
        };
        let (time, rest) = line.split_once(' ').unwrap_or((&line, ""));
        writeln!(self.stdout, "\x1b[2m{time}\x1b[0m {colour}{rest}\x1b[0m")?;
        Ok(())
    }
}

/// An access record in the Common Log Format
/// (`client - - [10/Oct/2026:13:55:36 +0000] "GET /path?q HTTP/1.1" 200 2326`);
/// `None` for a record that is not an access line.
fn clf(record: &StoredRecord) -> Option<String> {
    let line: vigie_app::model::AccessLine = serde_json::from_str(&record.payload).ok()?;
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(record.ts_ns as i128).ok()?;
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let target = if line.query.is_empty() { line.path } else { format!("{}?{}", line.path, line.query) };
    let client = if line.client_ip.is_empty() { "-".to_string() } else { line.client_ip };
    Some(format!(
        "{client} - - [{:02}/{}/{}:{:02}:{:02}:{:02} +0000] \"{} {} HTTP/1.1\" {} {}",
        time.day(),
        MONTHS[time.month() as usize - 1],
        time.year(),
        time.hour(),
        time.minute(),
        time.second(),
        line.method,
        target.replace('"', "%22"),
        line.status,
        line.bytes_sent
    ))
}
