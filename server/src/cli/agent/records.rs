//! An app's output turned into service-log records: lines cut from a byte
//! stream ([`LineCutter`]), then gathered into records ([`Assembler`]), each
//! an NDJSON line the Logs API ingests.
//!
//! - A stack trace stays one record, as the console shows it folded under
//!   its first line: a line that starts with white space (`    at f (x.js:1)`,
//!   `\tat com.Foo`, `  File "x.py"`), `Caused by:`, `... 3 more`,
//!   `Traceback (most recent call last):`, `stack backtrace:`, Python's
//!   chaining sentences, Rust's `note: run with RUST_BACKTRACE` or Go's
//!   `goroutine 1 [running]:` continues the record before it; so do the
//!   exception line that ends a Python traceback, the message line of a
//!   Rust panic and every line of a Go goroutine dump. A record is finished when
//!   a line starts a new one, or when its stream says nothing for
//!   [`HOLD`].
//! - A line that is a JSON object with a message (`message`, `msg` or
//!   `log`) is passed on as it is, so its level and fields are kept.
//! - Each record carries the time its first line was read (so lines that
//!   wait in the buffer keep their time) and the stream it came from; its
//!   level is the one its first word names, else `error` on stderr.

use std::time::Duration;

use serde_json::{Map, Value};
use vigie_app::model::Level;

use crate::ingest::lines::{guess_level, MAX_LINE_BYTES};

/// How long a record waits for a continuation line before it is sent.
pub const HOLD: Duration = Duration::from_millis(100);
/// The longest line cut from a stream; a longer one is cut in pieces.
pub const MAX_CUT_BYTES: usize = 32 * 1024;
/// A record stops gathering lines past this many bytes.
const MAX_RECORD_BYTES: usize = 32 * 1024;

/// Where a line came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Stdout,
    Stderr,
    /// A followed file (`--tail`).
    File(String),
    /// The agent itself: the command's exits and restarts, drops.
    Agent,
}

impl Source {
    fn name(&self) -> &str {
        match self {
            Source::Stdout => "stdout",
            Source::Stderr => "stderr",
            Source::File(path) => path,
            Source::Agent => "agent",
        }
    }
}

/// Cuts a byte stream into lines: `\n` ends one (a `\r` before it is
/// dropped), and a line longer than [`MAX_CUT_BYTES`] is cut there.
#[derive(Default)]
pub struct LineCutter {
    partial: Vec<u8>,
}

impl LineCutter {
    /// Feeds bytes; `line` gets each complete line.
    pub fn feed(&mut self, mut bytes: &[u8], mut line: impl FnMut(&str)) {
        while !bytes.is_empty() {
            match memchr::memchr(b'\n', bytes) {
                Some(at) => {
                    let room = MAX_CUT_BYTES.saturating_sub(self.partial.len());
                    if self.partial.is_empty() && at <= MAX_CUT_BYTES {
                        emit(&bytes[..at], &mut line);
                    } else if at <= room {
                        self.partial.extend_from_slice(&bytes[..at]);
                        emit(&std::mem::take(&mut self.partial), &mut line);
                    } else {
                        self.partial.extend_from_slice(&bytes[..room]);
                        emit(&std::mem::take(&mut self.partial), &mut line);
                        bytes = &bytes[room..];
                        continue;
                    }
                    bytes = &bytes[at + 1..];
                }
                None => {
                    let room = MAX_CUT_BYTES - self.partial.len();
                    let take = bytes.len().min(room);
                    self.partial.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if self.partial.len() == MAX_CUT_BYTES {
                        emit(&std::mem::take(&mut self.partial), &mut line);
                    }
                }
            }
        }
    }

    /// The last line, when the stream ended without a newline.
    pub fn finish(&mut self, line: impl FnMut(&str)) {
        if !self.partial.is_empty() {
            emit(&std::mem::take(&mut self.partial), line);
        }
    }
}

fn emit(raw: &[u8], mut line: impl FnMut(&str)) {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    line(&String::from_utf8_lossy(raw));
}

/// The record being gathered.
struct Pending {
    ts_ns: i64,
    text: String,
    awaiting: Awaiting,
}

/// What a trace's shape says the next lines are, past the general rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaiting {
    Nothing,
    /// Inside a Python traceback: its first unindented line (the
    /// exception) ends it.
    PythonException,
    /// A Go goroutine dump (`goroutine 1 [running]:`): every line, until
    /// the stream is quiet (a panicking Go program prints it and exits).
    GoroutineDump,
    /// A Rust panic's first line (`thread 'main' panicked at src/x.rs:2:5:`):
    /// the next line is its message.
    PanicMessage,
}

fn awaiting_after(line: &str) -> Awaiting {
    if line.starts_with(TRACEBACK) {
        Awaiting::PythonException
    } else if is_goroutine_header(line) {
        Awaiting::GoroutineDump
    } else if line.starts_with("thread '") && line.contains("' panicked at ") && line.ends_with(':') {
        Awaiting::PanicMessage
    } else {
        Awaiting::Nothing
    }
}

fn is_goroutine_header(line: &str) -> bool {
    line.starts_with("goroutine ") && line.ends_with("]:")
}

/// Gathers one stream's lines into records.
pub struct Assembler {
    source: Source,
    pending: Option<Pending>,
}

impl Assembler {
    pub fn new(source: Source) -> Assembler {
        Assembler { source, pending: None }
    }

    /// Whether a record waits for more lines.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Takes one line read at `now_ns`; `out` gets each record finished.
    pub fn push(&mut self, line: &str, now_ns: i64, mut out: impl FnMut(String)) {
        if line.trim().is_empty() {
            return; // blank lines inside a trace are dropped, as ingest drops blank lines
        }
        if let Some(pending) = &mut self.pending {
            if pending.text.len() + line.len() < MAX_RECORD_BYTES {
                let joins = match pending.awaiting {
                    Awaiting::PythonException if !starts_indented(line) => Some(Awaiting::Nothing),
                    Awaiting::GoroutineDump => Some(Awaiting::GoroutineDump),
                    Awaiting::PanicMessage => Some(Awaiting::Nothing),
                    awaiting if continues(line) => Some(match awaiting_after(line) {
                        Awaiting::Nothing => awaiting,
                        next => next,
                    }),
                    _ => None,
                };
                if let Some(next) = joins {
                    pending.text.push('\n');
                    pending.text.push_str(line);
                    pending.awaiting = next;
                    return;
                }
            }
        }
        if let Some(json) = self.json_record(line, now_ns) {
            self.flush(&mut out);
            out(json);
            return;
        }
        self.flush(&mut out);
        self.pending = Some(Pending { ts_ns: now_ns, text: line.to_string(), awaiting: awaiting_after(line) });
    }

    /// Finishes the record being gathered, if any.
    pub fn flush(&mut self, mut out: impl FnMut(String)) {
        if let Some(pending) = self.pending.take() {
            out(text_record(&pending.text, pending.ts_ns, &self.source, None));
        }
    }

    /// A line that is a JSON object with a message, as it is, with the
    /// time and (on stderr) the level added where it names none.
    fn json_record(&self, line: &str, now_ns: i64) -> Option<String> {
        let trimmed = line.trim();
        if !trimmed.starts_with('{') {
            return None;
        }
        let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(trimmed) else { return None };
        if !["message", "msg", "log"].iter().any(|key| object.get(*key).is_some_and(Value::is_string)) {
            return None;
        }
        if !["ts", "time", "timestamp"].iter().any(|key| object.contains_key(*key)) {
            object.insert("ts".into(), now_ns.into());
        }
        if self.source == Source::Stderr && !["level", "severity", "lvl"].iter().any(|key| object.contains_key(*key)) {
            object.insert("level".into(), "error".into());
        }
        let json = Value::Object(object).to_string();
        (json.len() <= MAX_LINE_BYTES).then_some(json)
    }
}

const TRACEBACK: &str = "Traceback (most recent call last):";

fn starts_indented(line: &str) -> bool {
    line.starts_with([' ', '\t'])
}

/// Whether a line goes on the record before it rather than starting one.
fn continues(line: &str) -> bool {
    if starts_indented(line) {
        return true;
    }
    const OPENINGS: [&str; 7] = [
        "Caused by:",
        "Suppressed:",
        TRACEBACK,
        "stack backtrace:",
        "note: run with `RUST_BACKTRACE=",
        "During handling of the above exception",
        "The above exception was the direct cause",
    ];
    if OPENINGS.iter().any(|opening| line.starts_with(opening)) || is_goroutine_header(line) {
        return true;
    }
    // Java's `... 12 more`.
    line.strip_prefix("... ").and_then(|rest| rest.strip_suffix(" more")).is_some_and(|n| n.parse::<u32>().is_ok())
}

/// One record as an NDJSON line: the message, its time in ns, its level
/// (`level`, else the one its first word names, else `error` on stderr),
/// the stream it came from. Shortened to fit the Logs API's line limit.
pub fn text_record(text: &str, ts_ns: i64, source: &Source, level: Option<Level>) -> String {
    let level = level.or_else(|| guess_level(text)).or((*source == Source::Stderr).then_some(Level::Error));
    let mut object = Map::new();
    object.insert("ts".into(), ts_ns.into());
    if let Some(level) = level {
        object.insert("level".into(), level.as_str().into());
    }
    object.insert("stream".into(), source.name().into());
    let mut message = text;
    loop {
        object.insert("message".into(), message.into());
        let json = Value::Object(object.clone()).to_string();
        if json.len() <= MAX_LINE_BYTES || message.is_empty() {
            return json;
        }
        // Escapes made it too long: keep the first half, on a char boundary.
        let mut cut = message.len() / 2;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message = &message[..cut];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(source: Source, lines: &[&str]) -> Vec<Value> {
        let mut assembler = Assembler::new(source);
        let mut out = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            assembler.push(line, 1_000 + n as i64, |record| out.push(record));
        }
        assembler.flush(|record| out.push(record));
        out.iter().map(|json| serde_json::from_str(json).unwrap()).collect()
    }

    #[test]
    fn stack_traces_of_several_languages_stay_one_record() {
        let lines = [
            "starting",
            "Error: connect ECONNREFUSED 10.2.0.14:6379",
            "    at TCPConnectWrap.afterConnect (node:net:1607:16)",
            "Exception in thread \"main\" java.lang.IllegalStateException: boom",
            "\tat com.acme.Main.run(Main.java:12)",
            "Caused by: java.io.IOException: gone",
            "\t... 3 more",
            "ERROR:root:task failed",
            "Traceback (most recent call last):",
            "  File \"/app/job.py\", line 3, in <module>",
            "    run()",
            "KeyError: 'customer_id'",
            "",
            "done",
        ];
        let records = records(Source::Stderr, &lines);
        let messages: Vec<&str> = records.iter().map(|r| r["message"].as_str().unwrap()).collect();
        assert_eq!(
            messages,
            [
                "starting",
                "Error: connect ECONNREFUSED 10.2.0.14:6379\n    at TCPConnectWrap.afterConnect (node:net:1607:16)",
                "Exception in thread \"main\" java.lang.IllegalStateException: boom\n\tat com.acme.Main.run(Main.java:12)\nCaused by: java.io.IOException: gone\n\t... 3 more",
                "ERROR:root:task failed\nTraceback (most recent call last):\n  File \"/app/job.py\", line 3, in <module>\n    run()\nKeyError: 'customer_id'",
                "done",
            ]
        );
        // Each keeps the time of its first line; stderr without a level word is an error.
        assert_eq!(
            records.iter().map(|r| r["ts"].as_i64().unwrap()).collect::<Vec<_>>(),
            [1_000, 1_001, 1_003, 1_007, 1_013]
        );
        assert!(records.iter().all(|r| r["level"] == "error" && r["stream"] == "stderr"), "{records:?}");
    }

    #[test]
    fn rust_panics_and_go_goroutine_dumps_stay_one_record() {
        let lines = [
            "thread 'main' panicked at src/main.rs:2:5:",
            "called `Option::unwrap()` on a `None` value",
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
            "panic: runtime error: index out of range [5] with length 3",
            "",
            "goroutine 1 [running]:",
            "main.main()",
            "\t/app/main.go:8 +0x1d",
            "exit status 2",
        ];
        let records = records(Source::Stderr, &lines);
        let messages: Vec<&str> = records.iter().map(|r| r["message"].as_str().unwrap()).collect();
        assert_eq!(
            messages,
            [
                "thread 'main' panicked at src/main.rs:2:5:\ncalled `Option::unwrap()` on a `None` value\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
                "panic: runtime error: index out of range [5] with length 3\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:8 +0x1d\nexit status 2",
            ]
        );
    }

    #[test]
    fn levels_come_from_the_first_word_and_stdout_names_none_without_one() {
        let stdout = records(Source::Stdout, &["WARN disk almost full", "hello", "[debug] cache miss"]);
        let levels: Vec<&Value> = stdout.iter().map(|r| &r["level"]).collect();
        assert_eq!(levels, [&Value::from("warn"), &Value::Null, &Value::from("debug")]);
        let on_stderr = records(Source::Stderr, &["INFO listening on :8080"]);
        assert_eq!(on_stderr[0]["level"], "info");
    }

    #[test]
    fn json_lines_pass_through_with_a_time_added() {
        let records = records(
            Source::Stderr,
            &[r#"{"msg":"paid","order":42}"#, r#"{"message":"x","level":"warn","ts":5}"#, r#"{"no":"message"}"#],
        );
        assert_eq!(records[0], serde_json::json!({"msg": "paid", "order": 42, "ts": 1_000, "level": "error"}));
        assert_eq!(records[1], serde_json::json!({"message": "x", "level": "warn", "ts": 5}));
        assert_eq!(records[2]["message"], r#"{"no":"message"}"#, "a JSON line without a message is text");
    }

    #[test]
    fn lines_are_cut_at_newlines_and_at_the_length_limit() {
        let mut cutter = LineCutter::default();
        let mut lines = Vec::new();
        cutter.feed(b"one\r\ntw", |l| lines.push(l.to_string()));
        cutter.feed(b"o\n\xffthree", |l| lines.push(l.to_string()));
        let long = vec![b'a'; MAX_CUT_BYTES + 10];
        cutter.feed(b"\n", |l| lines.push(l.to_string()));
        cutter.feed(&long, |l| lines.push(l.to_string()));
        cutter.finish(|l| lines.push(l.to_string()));
        assert_eq!(lines[..3], ["one", "two", "\u{fffd}three"]);
        assert_eq!(lines[3].len(), MAX_CUT_BYTES);
        assert_eq!(lines[4].len(), 10);
    }

    #[test]
    fn a_record_fits_the_line_limit_whatever_its_escapes() {
        let text = "\u{1}".repeat(MAX_RECORD_BYTES);
        let json = text_record(&text, 1, &Source::Stdout, None);
        assert!(json.len() <= MAX_LINE_BYTES, "{}", json.len());
        let back: Value = serde_json::from_str(&json).unwrap();
        assert!(!back["message"].as_str().unwrap().is_empty());
    }
}
