//! Every parser gets arbitrary input: property tests of each wire format
//! Vigie reads (syslog messages and their TCP framing, statsd lines, access
//! and service lines, the filter syntax and time bounds, Gorilla chunks and
//! store frames), fed with arbitrary bytes and with near-valid input (valid
//! messages built from generated parts, then mutated).
//!
//! The properties, for every parser: it never panics; every rejection is
//! clear (an `Err` whose message names what was wrong, or a drop counted
//! under a named reason); what it accepts can be stored and read back; and
//! where an encoder exists (syslog framing, statsd lines, access and
//! service lines, time bounds, Gorilla chunks, store frames), what it
//! writes reads back exactly.
//!
//! Each property runs a few thousand cases in a normal `cargo test` (the
//! whole file in well under 30 s in a debug build). For a long run, set
//! `VIGIE_PROPTEST_CASES` to the cases each property runs, in release mode:
//!
//! ```text
//! VIGIE_PROPTEST_CASES=200000 cargo test --release -p vigie --test parsers_arbitrary_input
//! ```
//!
//! A failure prints the smallest input proptest found; add it as a unit test
//! at the bottom of the parser's file along with the fix.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, UtcOffset};
use vigie_app::model::{AccessLine, Level, ServiceLine};
use vigie_server::ingest::access::{parse_access_body, Defaults};
use vigie_server::ingest::lines::{parse_body_stored, parse_json_line, LineFormat, ParsedLines, MAX_LINE_BYTES};
use vigie_server::ingest::statsd::parse::{lines as statsd_lines, parse_line, Malformed, Reading};
use vigie_server::ingest::stored_json::service_payload;
use vigie_server::ingest::syslog::framing::Framer;
use vigie_server::ingest::syslog::parse::{parse_message, SyslogRecord};
use vigie_server::ingest::syslog::{DropReason, MAX_MESSAGE_BYTES};
use vigie_server::metrics::gorilla::{decode as gorilla_decode, ChunkWriter, SealedChunk};
use vigie_server::metrics::point::MetricType;
use vigie_server::query::time_bound::{parse_duration_ns, parse_time_bound};
use vigie_server::query::CompiledFilter;
use vigie_server::store::frame::{self, Codec, FrameError, HEADER_LEN, MAGIC, MAGIC_COLUMNS, MAGIC_INDEXED};
use vigie_server::store::index::{self, Required};

/// The cases each property runs: `VIGIE_PROPTEST_CASES` when set, else
/// `default` (sized so the whole file stays well under 30 s in debug).
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("VIGIE_PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(default);
    // Failing inputs become unit tests beside their parser, not files here.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// 2026-11-24T13:05:09Z, the time of arrival in these tests.
const NOW_NS: i64 = 1_795_525_509_000_000_000;
const TOKEN: &str = "vgt_0123456789abcdefghijABCDEFGHIJ0123456789";

// ---------------------------------------------------------------------------
// Near-valid input: valid text, then a few edits anywhere in it.

#[derive(Clone, Debug)]
enum Edit {
    Delete { at: Index, len: usize },
    Insert { at: Index, text: String },
    Replace { at: Index, with: char },
    Truncate { at: Index },
    Repeat { at: Index, len: usize },
}

/// Text that syntax cares about: delimiters, escapes, digits, signs.
fn syntax_bits() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\\[\\]<>{}=\":,|@#/\\\\ -]{1,3}",
        "[0-9]{1,4}",
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\u{feff}".to_string()),
        Just("-".to_string()),
        Just("inf".to_string()),
        Just("NaN".to_string()),
        Just("1e400".to_string()),
        Just("9999999999999999999999".to_string()),
        any::<String>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1..8usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<Index>(), syntax_bits()).prop_map(|(at, text)| Edit::Insert { at, text }),
        (any::<Index>(), any::<char>()).prop_map(|(at, with)| Edit::Replace { at, with }),
        any::<Index>().prop_map(|at| Edit::Truncate { at }),
        (any::<Index>(), 1..12usize).prop_map(|(at, len)| Edit::Repeat { at, len }),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let at = |index: &Index| index.index(chars.len() + 1);
        match edit {
            Edit::Delete { at: index, len } => {
                let start = at(index);
                let end = (start + len).min(chars.len());
                chars.drain(start..end);
            }
            Edit::Insert { at: index, text } => {
                let start = at(index);
                chars.splice(start..start, text.chars());
            }
            Edit::Replace { at: index, with } => {
                if !chars.is_empty() {
                    let i = index.index(chars.len());
                    chars[i] = *with;
                }
            }
            Edit::Truncate { at: index } => chars.truncate(at(index)),
            Edit::Repeat { at: index, len } => {
                let start = at(index);
                let end = (start + len).min(chars.len());
                let copy: Vec<char> = chars[start..end].to_vec();
                chars.splice(end..end, copy);
            }
        }
    }
    chars.into_iter().collect()
}

/// `valid`, or `valid` with up to four edits.
fn near(valid: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (valid, prop::collection::vec(edit(), 0..4)).prop_map(|(text, edits)| apply(&text, &edits))
}

/// A JSON value of any kind, with the strings and numbers parsers trip on.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter_map("JSON has no NaN or infinity", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        (-1e6..1e6f64).prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        "[a-z \"\\\\\n\t/]{0,8}".prop_map(Value::String),
        prop_oneof![Just("warn"), Just("ERROR"), Just("loud"), Just("")].prop_map(|s| Value::String(s.into())),
        prop_oneof![Just("2026-11-24T13:05:09.042Z"), Just("9999-12-31T23:59:59Z"), Just("0000-01-01T00:00:00Z")]
            .prop_map(|s| Value::String(s.into())),
        prop_oneof![Just("inf"), Just("NaN"), Just("1e400"), Just("-1"), Just("200"), Just("0.5")]
            .prop_map(|s| Value::String(s.into())),
        prop_oneof![Just(1e300), Just(-1e300), Just(1e15), Just(-1e11), Just(599.0), Just(0.0)].prop_map(|f| json!(f)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A JSON object's text with keys from `keys` (repeats allowed, which a
/// `Map` cannot hold) and any values, spaced or not.
fn json_object_text(keys: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (prop::collection::vec((keys, json_value()), 0..7), any::<bool>()).prop_map(|(members, spaced)| {
        let sep = if spaced { " , " } else { "," };
        let members: Vec<String> =
            members.iter().map(|(key, value)| format!("{}:{}", Value::String(key.clone()), value)).collect();
        format!("{{{}}}", members.join(sep))
    })
}

/// Keys service and access lines read, and others.
fn line_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop_oneof![
            Just("message"), Just("msg"), Just("log"), Just("level"), Just("severity"), Just("lvl"),
            Just("instance"), Just("ts"), Just("time"), Just("timestamp"), Just("method"), Just("verb"),
            Just("path"), Just("uri"), Just("url"), Just("query"), Just("status"), Just("status_code"),
            Just("bytes_sent"), Just("bytes"), Just("duration_ms"), Just("duration_s"), Just("request_time"),
            Just("client_ip"), Just("user_agent"), Just("host"), Just("fields"),
        ]
        .prop_map(String::from),
        1 => "[a-z_]{1,8}",
        1 => any::<String>(),
    ]
}

/// Lines joined into one body, blank ones and `\r\n` endings among them.
fn body_of(lines: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((lines, any::<bool>()), 0..6).prop_map(|lines| {
        let mut body = Vec::new();
        for (line, crlf) in lines {
            body.extend_from_slice(line.as_bytes());
            body.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        body
    })
}

fn level_of_severity(severity: u8) -> Level {
    [Level::Fatal, Level::Fatal, Level::Fatal, Level::Error, Level::Warn, Level::Info, Level::Info, Level::Debug]
        [severity as usize]
}

/// A time within what nanoseconds since the epoch hold (1677 to 2262).
fn any_ts_ns() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), 0..4_102_444_800_000_000_000i64, Just(i64::MIN), Just(i64::MAX), Just(0)]
}

/// `ts_ns` in RFC 3339, at `offset_minutes` from UTC.
fn rfc3339(ts_ns: i64, offset_minutes: i16) -> String {
    let offset = UtcOffset::from_whole_seconds(offset_minutes as i32 * 60).unwrap();
    OffsetDateTime::from_unix_timestamp_nanos(ts_ns as i128).unwrap().to_offset(offset).format(&Rfc3339).unwrap()
}

/// Offsets that RFC 3339 and the Combined Log Format can write.
fn offset_minutes() -> impl Strategy<Value = i16> {
    prop_oneof![Just(0i16), -(23i16 * 60 + 59)..=(23 * 60 + 59)]
}

// ---------------------------------------------------------------------------
// Syslog messages, RFC 5424 and RFC 3164.

/// A parsed message, or the reason it is dropped: the checks every frame
/// must pass, valid or not.
fn check_syslog(frame: &str) -> Result<(), TestCaseError> {
    match parse_message(frame, NOW_NS) {
        Ok(message) => {
            prop_assert!(!message.app.is_empty() && message.app != "-", "no app in {frame:?}");
            match &message.record {
                SyslogRecord::Service(_, line) => {
                    let stored = serde_json::to_string(line).unwrap();
                    prop_assert_eq!(&serde_json::from_str::<ServiceLine>(&stored).unwrap(), line);
                }
                SyslogRecord::Access(_, line) => check_access_line(line)?,
            }
        }
        Err(reason) => {
            let from_the_parser =
                [DropReason::Unparsable, DropReason::NoApp, DropReason::BadKind, DropReason::BadAccessLine];
            prop_assert!(from_the_parser.contains(&reason), "{reason:?} for {frame:?}");
            prop_assert!(!reason.as_str().is_empty());
        }
    }
    Ok(())
}

/// RFC 5424's PARAM-VALUE escapes `"`, `\` and `]`.
fn sd_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace(']', "\\]")
}

#[derive(Clone, Debug)]
struct Rfc5424 {
    pri: u8,
    ts_ns: Option<i64>,
    offset_minutes: i16,
    host: String,
    app: String,
    procid: String,
    msgid: String,
    instance: Option<String>,
    extra: Vec<(String, String)>,
    text: String,
    /// An access log line instead of `text`, sent with `kind="access"`.
    access: Option<Request>,
}

impl Rfc5424 {
    fn frame(&self) -> String {
        let ts = self.ts_ns.map_or("-".to_string(), |ts| rfc3339(ts, self.offset_minutes));
        let mut ours = format!("[vigie@53595 token=\"{TOKEN}\"");
        if let Some(instance) = &self.instance {
            ours += &format!(" instance=\"{}\"", sd_escape(instance));
        }
        if self.access.is_some() {
            ours += " kind=\"access\"";
        }
        ours.push(']');
        let mut theirs = String::new();
        if !self.extra.is_empty() {
            theirs.push_str("[ex@32473");
            for (name, value) in &self.extra {
                theirs += &format!(" {name}=\"{}\"", sd_escape(value));
            }
            theirs.push(']');
        }
        let text = match &self.access {
            Some(request) => format!(" {}", request.combined()),
            None if self.text.is_empty() => String::new(),
            None => format!(" {}", self.text),
        };
        let (pri, host, app, procid, msgid) = (self.pri, &self.host, &self.app, &self.procid, &self.msgid);
        format!("<{pri}>1 {ts} {host} {app} {procid} {msgid} {ours}{theirs}{text}")
    }
}

fn rfc5424() -> impl Strategy<Value = Rfc5424> {
    (
        (0u8..192, prop::option::of(0..4_102_444_800_000_000_000i64), offset_minutes()),
        ("[a-zA-Z0-9][a-zA-Z0-9.-]{0,30}", "[a-z][a-z0-9-]{0,20}"),
        (prop_oneof![Just("-".to_string()), "[0-9]{1,6}", "[a-z][a-z0-9]{0,8}"], "-|[A-Z]{1,8}"),
        prop::option::of("[a-z0-9-]{1,12}"),
        prop::collection::btree_map("[a-z]{1,8}", "[ -~é]{0,12}", 0..3),
        prop_oneof![Just(String::new()), "[!-z|~][ -~é漢🙂]{0,60}".prop_map(|text| text.trim_end().to_string())],
        prop::option::weighted(0.2, request()),
    )
        .prop_map(|((pri, ts_ns, offset_minutes), (host, app), (procid, msgid), instance, extra, text, access)| {
            Rfc5424 {
                pri,
                ts_ns,
                offset_minutes,
                host,
                app,
                procid,
                msgid,
                instance,
                extra: extra.into_iter().collect(),
                text,
                access,
            }
        })
}

#[derive(Clone, Debug)]
struct Rfc3164 {
    pri: u8,
    month: u8,
    day: u8,
    hms: (u8, u8, u8),
    host: String,
    tag: String,
    pid: Option<u32>,
    text: String,
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

impl Rfc3164 {
    fn frame(&self) -> String {
        let (hour, minute, second) = self.hms;
        let pid = self.pid.map_or(String::new(), |pid| format!("[{pid}]"));
        format!(
            "<{}>{} {:>2} {hour:02}:{minute:02}:{second:02} {} {}{pid}: {TOKEN} {}",
            self.pri,
            MONTHS[self.month as usize - 1],
            self.day,
            self.host,
            self.tag,
            self.text
        )
    }

    /// The time it says, in the year of [`NOW_NS`].
    fn ts_ns(&self) -> i64 {
        let month = Month::try_from(self.month).unwrap();
        let date = Date::from_calendar_date(2026, month, self.day).unwrap();
        let (hour, minute, second) = self.hms;
        let time = date.with_hms(hour, minute, second).unwrap().assume_utc();
        time.unix_timestamp_nanos() as i64
    }
}

fn rfc3164() -> impl Strategy<Value = Rfc3164> {
    (
        (0u8..192, 1u8..=12, 1u8..=28, (0u8..24, 0u8..60, 0u8..60)),
        ("[a-z][a-z0-9.-]{0,20}", "[a-z][a-z0-9_-]{0,15}", prop::option::of(0u32..4_000_000)),
        "[!-z|~][ -~é]{0,60}".prop_map(|text| text.trim_end().to_string()),
    )
        .prop_map(|((pri, month, day, hms), (host, tag, pid), text)| Rfc3164 {
            pri,
            month,
            day,
            hms,
            host,
            tag,
            pid,
            text,
        })
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn syslog_any_text_is_a_message_or_a_named_drop(
        frame in prop_oneof![
            any::<String>(),
            prop::collection::vec(any::<u8>(), 0..200).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
            "<[0-9]{1,4}>1? ?\\PC{0,80}",
            "<[0-9]{1,3}>1 [-0-9T:.Z+]{0,30} [ -~]{0,60}",
            "<[0-9]{1,3}>[A-Z][a-z]{2} [ 0-9]{1,3} [0-9:]{0,9} [ -~]{0,60}",
        ]
    ) {
        check_syslog(&frame)?;
    }

    #[test]
    fn syslog_rfc5424_built_from_parts_reads_back_its_parts(message in rfc5424()) {
        let frame = message.frame();
        let parsed = parse_message(&frame, NOW_NS).map_err(|reason| TestCaseError::fail(format!("{reason:?}: {frame}")))?;
        prop_assert_eq!(parsed.app, message.app.as_str());
        prop_assert_eq!(parsed.token.as_deref(), Some(TOKEN));
        let instance = message.instance.as_ref().unwrap_or(&message.host);
        if let Some(request) = &message.access {
            let SyslogRecord::Access(ts_ns, mut line) = parsed.record else {
                return Err(TestCaseError::fail(format!("not read as an access line: {frame}")));
            };
            let (expected_ts_ns, expected) = request.expected(&Defaults { instance, host: "", now_ns: 0 });
            prop_assert!((line.duration_ms - expected.duration_ms).abs() < 1e-6, "{}", frame);
            line.duration_ms = expected.duration_ms;
            prop_assert_eq!((ts_ns, line), (expected_ts_ns, expected), "{}", frame);
            return Ok(());
        }
        let SyslogRecord::Service(ts_ns, line) = &parsed.record else { panic!("{frame}: {parsed:?}") };
        prop_assert_eq!(*ts_ns, message.ts_ns.unwrap_or(NOW_NS), "{}", frame);
        prop_assert_eq!(&line.instance, instance);
        prop_assert_eq!(line.level, level_of_severity(message.pri % 8));
        prop_assert_eq!(&line.message, &message.text, "{}", frame);
        for (name, value) in &message.extra {
            prop_assert_eq!(&line.fields[&format!("ex@32473.{name}")], &Value::String(value.clone()), "{}", frame);
        }
        prop_assert_eq!(line.fields.contains_key("msgid"), message.msgid != "-");
        prop_assert_eq!(line.fields.contains_key("procid"), message.procid != "-");
        check_syslog(&frame)?;
    }

    #[test]
    fn syslog_rfc3164_built_from_parts_reads_back_its_parts(message in rfc3164()) {
        let frame = message.frame();
        let parsed = parse_message(&frame, NOW_NS).map_err(|reason| TestCaseError::fail(format!("{reason:?}: {frame}")))?;
        prop_assert_eq!(parsed.app, message.tag.as_str(), "{}", frame);
        prop_assert_eq!(parsed.token.as_deref(), Some(TOKEN));
        let SyslogRecord::Service(ts_ns, line) = &parsed.record else { panic!("{frame}: {parsed:?}") };
        prop_assert_eq!(*ts_ns, message.ts_ns(), "{}", frame);
        prop_assert_eq!(&line.instance, &message.host);
        prop_assert_eq!(line.level, level_of_severity(message.pri % 8));
        prop_assert_eq!(&line.message, &message.text, "{}", frame);
    }

    #[test]
    fn syslog_near_valid_messages_are_read_or_dropped_with_a_reason(
        frame in prop_oneof![near(rfc5424().prop_map(|m| m.frame())), near(rfc3164().prop_map(|m| m.frame()))]
    ) {
        check_syslog(&frame)?;
    }
}

// ---------------------------------------------------------------------------
// Syslog over TCP: octet counting and newline framing.

type Frames = Vec<Result<Vec<u8>, DropReason>>;

/// What a connection carrying `stream` in reads cut at `cuts` yields,
/// checking the framer's promises on the way.
fn frames_of(stream: &[u8], cuts: &[Index]) -> Result<Frames, TestCaseError> {
    let mut ends: Vec<usize> = cuts.iter().map(|cut| cut.index(stream.len() + 1)).collect();
    ends.push(stream.len());
    ends.sort_unstable();
    let mut framer = Framer::default();
    let mut frames = Vec::new();
    let mut start = 0;
    let mut check = |frame: Result<&[u8], DropReason>| {
        frames.push(frame.map(<[u8]>::to_vec));
    };
    for end in ends {
        framer.buf.extend_from_slice(&stream[start..end]);
        start = end;
        framer.drain(false, &mut check);
    }
    framer.drain(true, &mut check);
    prop_assert!(framer.buf.is_empty(), "bytes left after the end of the stream");
    for frame in &frames {
        match frame {
            Ok(frame) => prop_assert!(frame.len() <= MAX_MESSAGE_BYTES),
            Err(reason) => prop_assert!(matches!(reason, DropReason::TooLong | DropReason::Unparsable)),
        }
    }
    Ok(frames)
}

fn octet_counted(message: &[u8]) -> Vec<u8> {
    [format!("{} ", message.len()).as_bytes(), message].concat()
}

/// Pieces of a syslog TCP stream, well framed or not.
fn stream_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..40),
        4 => prop::collection::vec(any::<u8>(), 0..60).prop_map(|message| octet_counted(&message)),
        4 => "<[0-9]{1,3}>[ -~]{0,60}\r?\n".prop_map(String::into_bytes),
        2 => "[0-9 \n\r\0<]{1,12}".prop_map(String::into_bytes),
        1 => (prop_oneof![Just(b'x'), Just(b'<'), Just(b'7')], (MAX_MESSAGE_BYTES - 2)..(MAX_MESSAGE_BYTES + 3), any::<bool>())
            .prop_map(|(byte, len, newline)| {
                let mut line = vec![byte; len];
                if newline {
                    line.push(b'\n');
                }
                line
            }),
        1 => ((MAX_MESSAGE_BYTES - 2)..(MAX_MESSAGE_BYTES + 3)).prop_map(|len| octet_counted(&vec![b'x'; len])),
    ]
}

/// A message and how it is framed (octet-counted, or ended by a newline).
fn framed_message() -> impl Strategy<Value = (bool, Vec<u8>)> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..120).prop_map(|message| (true, message)),
        ("<", prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..120))
            .prop_map(|(open, rest)| (false, [open.as_bytes(), &rest].concat())),
    ]
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn syslog_framing_cuts_the_same_messages_whatever_the_reads(
        pieces in prop::collection::vec(stream_piece(), 0..8),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let stream = pieces.concat();
        prop_assert_eq!(frames_of(&stream, &cuts)?, frames_of(&stream, &[])?);
    }

    #[test]
    fn syslog_framing_of_any_bytes_cuts_the_same_messages_whatever_the_reads(
        stream in prop::collection::vec(any::<u8>(), 0..400),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        prop_assert_eq!(frames_of(&stream, &cuts)?, frames_of(&stream, &[])?);
    }

    #[test]
    fn syslog_framing_gives_back_every_framed_message_exactly(
        messages in prop::collection::vec(framed_message(), 0..10),
        cuts in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        let mut stream = Vec::new();
        for (counted, message) in &messages {
            if *counted {
                stream.extend(octet_counted(message));
            } else {
                stream.extend_from_slice(message);
                stream.push(b'\n');
            }
        }
        let expected: Frames = messages.into_iter().map(|(_, message)| Ok(message)).collect();
        prop_assert_eq!(frames_of(&stream, &cuts)?, expected);
    }
}

// ---------------------------------------------------------------------------
// statsd lines.

/// The checks every line must pass: read into a sample that holds what the
/// protocol promises, or refused for a named reason.
fn check_statsd(line: &[u8]) -> Result<(), TestCaseError> {
    match parse_line(line) {
        Ok(sample) => {
            prop_assert!(!sample.name.is_empty());
            prop_assert!(sample.sample_rate > 0.0 && sample.sample_rate <= 1.0);
            match sample.reading {
                Reading::Numbers(_) => prop_assert!(sample.numbers().all(f64::is_finite)),
                Reading::GaugeSet(value) | Reading::GaugeDelta(value) => prop_assert!(value.is_finite()),
                Reading::SetMember(member) => prop_assert!(!member.is_empty()),
            }
            for (name, value) in sample.tags.iter() {
                prop_assert!(!name.contains(',') && !value.contains(','));
            }
        }
        Err(reason) => {
            prop_assert!(Malformed::ALL.contains(&reason));
            prop_assert!(!reason.as_str().is_empty());
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum StatsdValue {
    Numbers(MetricType, Vec<f64>),
    GaugeSet(f64),
    GaugeDelta(f64),
    Set(String),
}

#[derive(Clone, Debug)]
struct StatsdLine {
    name: String,
    value: StatsdValue,
    sample_rate: Option<f64>,
    tags: Vec<(String, String)>,
    /// DogStatsD sections Vigie skips (`c:…`, `T…`).
    skipped: Vec<String>,
    tags_first: bool,
}

impl StatsdLine {
    fn text(&self) -> String {
        let (value, code) = match &self.value {
            StatsdValue::Numbers(kind, values) => {
                let code = match kind {
                    MetricType::Counter => "c",
                    MetricType::Timer => "ms",
                    MetricType::Histogram => "h",
                    _ => "d",
                };
                (values.iter().map(f64::to_string).collect::<Vec<_>>().join(":"), code)
            }
            StatsdValue::GaugeSet(value) => (value.to_string(), "g"),
            StatsdValue::GaugeDelta(value) if value.is_sign_negative() => (value.to_string(), "g"),
            StatsdValue::GaugeDelta(value) => (format!("+{value}"), "g"),
            StatsdValue::Set(member) => (member.clone(), "s"),
        };
        let mut sections = Vec::new();
        if let Some(rate) = self.sample_rate {
            sections.push(format!("@{rate}"));
        }
        if !self.tags.is_empty() {
            let tags: Vec<String> = self
                .tags
                .iter()
                .map(|(name, value)| if value.is_empty() { name.clone() } else { format!("{name}:{value}") })
                .collect();
            sections.push(format!("#{}", tags.join(",")));
        }
        if self.tags_first {
            sections.reverse();
        }
        sections.extend(self.skipped.iter().cloned());
        let sections: String = sections.iter().map(|section| format!("|{section}")).collect();
        format!("{}:{value}|{code}{sections}", self.name)
    }
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        -1e6..1e6f64,
        (-1000i32..1000).prop_map(f64::from)
    ]
}

fn statsd_line() -> impl Strategy<Value = StatsdLine> {
    let kind = prop_oneof![
        Just(MetricType::Counter),
        Just(MetricType::Timer),
        Just(MetricType::Histogram),
        Just(MetricType::Distribution)
    ];
    let value = prop_oneof![
        (kind, prop::collection::vec(finite(), 1..4)).prop_map(|(kind, values)| StatsdValue::Numbers(kind, values)),
        finite().prop_map(|value| StatsdValue::GaugeSet(value.abs())),
        finite().prop_map(StatsdValue::GaugeDelta),
        "[^|\n\r]{1,20}".prop_map(StatsdValue::Set),
    ];
    (
        "[a-zA-Z0-9_.-]{1,30}",
        value,
        prop::option::of(prop_oneof![Just(1.0), (1e-9..=1.0f64)]),
        prop::collection::vec(("[a-z_]{1,10}", "[^,|\n\r]{0,10}"), 0..4),
        prop::collection::vec(prop_oneof!["c:[a-z0-9]{1,12}", "T[0-9]{10}"], 0..2),
        any::<bool>(),
    )
        .prop_map(|(name, value, sample_rate, tags, skipped, tags_first)| StatsdLine {
            name,
            value,
            sample_rate,
            tags,
            skipped,
            tags_first,
        })
}

proptest! {
    #![proptest_config(cases(3_000))]

    #[test]
    fn statsd_any_datagram_is_read_line_by_line_or_refused_with_a_reason(
        datagram in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            "[a-z.:|@#,0-9+\\-eE\n]{0,80}".prop_map(String::into_bytes),
        ]
    ) {
        for line in statsd_lines(&datagram) {
            prop_assert!(!line.is_empty() && !line.contains(&b'\n'));
            check_statsd(line)?;
        }
    }

    #[test]
    fn statsd_near_valid_lines_are_read_or_refused_with_a_reason(line in near(statsd_line().prop_map(|l| l.text()))) {
        check_statsd(line.as_bytes())?;
    }

    #[test]
    fn statsd_lines_written_from_parts_read_back_the_same(line in statsd_line()) {
        let text = line.text();
        let sample = parse_line(text.as_bytes()).map_err(|reason| TestCaseError::fail(format!("{reason:?}: {text}")))?;
        prop_assert_eq!(sample.name, line.name.as_str());
        prop_assert_eq!(sample.sample_rate, line.sample_rate.unwrap_or(1.0), "{}", text);
        let tags: Vec<(String, String)> = sample.tags.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        prop_assert_eq!(tags, line.tags.clone(), "{}", text);
        match &line.value {
            StatsdValue::Numbers(kind, values) => {
                prop_assert_eq!(sample.kind, *kind);
                prop_assert_eq!(&sample.numbers().collect::<Vec<_>>(), values, "{}", text);
            }
            StatsdValue::GaugeSet(value) => prop_assert_eq!(sample.reading, Reading::GaugeSet(*value), "{}", text),
            StatsdValue::GaugeDelta(value) => prop_assert_eq!(sample.reading, Reading::GaugeDelta(*value), "{}", text),
            StatsdValue::Set(member) => prop_assert_eq!(sample.reading, Reading::SetMember(member), "{}", text),
        }
    }
}

// ---------------------------------------------------------------------------
// Access lines: Combined Log Format and JSON.

const DEFAULTS: Defaults<'static> = Defaults { instance: "web-1", host: "shop.example", now_ns: NOW_NS };

/// An accepted access line is an HTTP request that can be stored and read back.
fn check_access_line(line: &AccessLine) -> Result<(), TestCaseError> {
    prop_assert!((100..=599).contains(&line.status));
    let stored = serde_json::to_string(line).unwrap();
    let read = serde_json::from_str::<AccessLine>(&stored);
    prop_assert!(read.as_ref().is_ok_and(|read| read == line), "stored as {stored}, read back as {read:?}");
    Ok(())
}

/// Every non-blank line of a body is accepted or rejected with its number
/// and a reason, and accepted ones are checked by `check`.
fn check_body<T>(
    body: &[u8],
    parsed: &ParsedLines<T>,
    mut check: impl FnMut(&T) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let lines = body.split(|b| *b == b'\n').count();
    let non_blank = body
        .split(|b| *b == b'\n')
        .filter(|line| !line.strip_suffix(b"\r").unwrap_or(line).iter().all(u8::is_ascii_whitespace))
        .count();
    prop_assert_eq!(parsed.accepted.len() + parsed.rejected.len(), non_blank);
    for rejected in &parsed.rejected {
        prop_assert!((1..=lines).contains(&rejected.line));
        prop_assert!(!rejected.error.trim().is_empty());
    }
    for (_, line) in &parsed.accepted {
        check(line)?;
    }
    Ok(())
}

#[derive(Clone, Debug)]
struct Request {
    ts_ns: i64,
    offset_minutes: i16,
    client_ip: String,
    method: String,
    path: String,
    query: String,
    status: u16,
    bytes_sent: Option<u64>,
    referer: String,
    user_agent: String,
    duration_ms: Option<u32>,
}

impl Request {
    /// Apache's escaping of quoted fields: `"` and `\` get a backslash.
    fn combined(&self) -> String {
        let offset = UtcOffset::from_whole_seconds(self.offset_minutes as i32 * 60).unwrap();
        let at = OffsetDateTime::from_unix_timestamp_nanos(self.ts_ns as i128).unwrap().to_offset(offset);
        let format = time::macros::format_description!(
            "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
        );
        let escape = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
        let target = if self.query.is_empty() { self.path.clone() } else { format!("{}?{}", self.path, self.query) };
        let bytes = self.bytes_sent.map_or("-".to_string(), |bytes| bytes.to_string());
        let mut line = format!(
            "{} - - [{}] \"{} {target} HTTP/1.1\" {} {bytes} \"{}\" \"{}\"",
            self.client_ip,
            at.format(&format).unwrap(),
            self.method,
            self.status,
            escape(&self.referer),
            escape(&self.user_agent)
        );
        if let Some(ms) = self.duration_ms {
            line += &format!(" {}.{:03}", ms / 1000, ms % 1000);
        }
        line
    }

    /// What it says, with `defaults` for what it does not.
    fn expected(&self, defaults: &Defaults<'_>) -> (i64, AccessLine) {
        let line = AccessLine {
            instance: defaults.instance.to_string(),
            method: self.method.clone(),
            host: defaults.host.to_string(),
            path: self.path.clone(),
            query: self.query.clone(),
            status: self.status,
            bytes_sent: self.bytes_sent.unwrap_or(0),
            duration_ms: self.duration_ms.map_or(0.0, f64::from),
            client_ip: self.client_ip.clone(),
            country: None,
            city: None,
            lat: None,
            lon: None,
            user_agent: if self.user_agent == "-" { String::new() } else { self.user_agent.clone() },
        };
        (self.ts_ns.div_euclid(1_000_000_000) * 1_000_000_000, line)
    }
}

fn request() -> impl Strategy<Value = Request> {
    (
        (-2_208_988_800_000_000_000..4_102_444_800_000_000_000i64, offset_minutes()),
        prop_oneof![
            any::<std::net::IpAddr>().prop_map(|ip| ip.to_string()),
            "[a-z0-9.:-]{1,20}".prop_filter("a word", |ip| ip != "-")
        ],
        ("[A-Z]{1,7}", "/[a-zA-Z0-9/._~%-]{0,30}", "|[a-zA-Z0-9=&%.]{1,20}"),
        (100u16..=599, prop::option::of(any::<u64>())),
        ("-|https://[a-z.]{1,12}/", "[ -~é]{0,40}"),
        prop::option::of(0u32..100_000_000),
    )
        .prop_map(
            |(
                (ts_ns, offset_minutes),
                client_ip,
                (method, path, query),
                (status, bytes_sent),
                (referer, user_agent),
                duration_ms,
            )| {
                Request {
                    ts_ns,
                    offset_minutes,
                    client_ip,
                    method,
                    path,
                    query,
                    status,
                    bytes_sent,
                    referer,
                    user_agent,
                    duration_ms,
                }
            },
        )
}

#[derive(Clone, Debug)]
struct JsonRequest {
    ts: Value,
    ts_ns: i64,
    line: AccessLine,
    query_apart: bool,
    status_as_text: bool,
}

impl JsonRequest {
    fn text(&self) -> String {
        let line = &self.line;
        let path = if self.query_apart || line.query.is_empty() {
            line.path.clone()
        } else {
            format!("{}?{}", line.path, line.query)
        };
        let mut object = json!({
            "ts": self.ts,
            "method": line.method,
            "path": path,
            "status": if self.status_as_text { json!(line.status.to_string()) } else { json!(line.status) },
            "bytes_sent": line.bytes_sent,
            "duration_ms": line.duration_ms,
            "client_ip": line.client_ip,
            "user_agent": line.user_agent,
            "instance": line.instance,
            "host": line.host,
        });
        if self.query_apart {
            object["query"] = json!(line.query);
        }
        object.to_string()
    }
}

/// A time as a JSON line may write it, and the nanoseconds it means.
fn json_ts() -> impl Strategy<Value = (Value, i64)> {
    prop_oneof![
        (any_ts_ns(), offset_minutes()).prop_map(|(ts_ns, offset)| (json!(rfc3339(ts_ns, offset)), ts_ns)),
        (1_000_000_000_000_000_000..i64::MAX).prop_map(|ts_ns| (json!(ts_ns), ts_ns)),
        (-9_223_372_036..9_223_372_036i64).prop_map(|seconds| (json!(seconds), seconds * 1_000_000_000)),
        (100_000_000_000..9_223_372_036_854i64).prop_map(|ms| (json!(ms), ms * 1_000_000)),
    ]
}

fn json_request() -> impl Strategy<Value = JsonRequest> {
    (
        json_ts(),
        ("[A-Z]{1,7}", "/[a-zA-Z0-9/._~%-]{0,30}", "|[a-zA-Z0-9=&%.?]{1,20}", 100u16..=599),
        // Sizes are read as JSON numbers (f64): exact up to 2^53 bytes.
        (0..1u64 << 53, prop_oneof![0.0..1e9f64, Just(0.0)], any::<String>(), any::<String>()),
        ("[a-z0-9-]{1,12}", "[a-z.]{1,20}", any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (ts, ts_ns),
                (method, path, query, status),
                (bytes_sent, duration_ms, client_ip, user_agent),
                (instance, host, query_apart, status_as_text),
            )| {
                let query_apart = query_apart || query.contains('?');
                let line = AccessLine {
                    instance,
                    method,
                    host,
                    path,
                    query,
                    status,
                    bytes_sent,
                    duration_ms,
                    client_ip,
                    country: None,
                    city: None,
                    lat: None,
                    lon: None,
                    user_agent,
                };
                JsonRequest { ts, ts_ns, line, query_apart, status_as_text }
            },
        )
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn access_any_body_is_read_or_each_bad_line_says_what_is_wrong(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            body_of(near(request().prop_map(|r| r.combined()))),
            body_of(near(json_request().prop_map(|r| r.text()))),
            body_of(json_object_text(line_key())),
        ],
        json_format in any::<bool>(),
    ) {
        let format = if json_format { LineFormat::Ndjson } else { LineFormat::Text };
        let parsed = parse_access_body(&body, format, &DEFAULTS, None);
        check_body(&body, &parsed, check_access_line)?;
    }

    #[test]
    fn access_combined_lines_written_from_fields_read_back_the_same(request in request()) {
        let text = request.combined();
        let parsed = parse_access_body(text.as_bytes(), LineFormat::Text, &DEFAULTS, None);
        prop_assert!(parsed.rejected.is_empty(), "{text}: {:?}", parsed.rejected);
        let (ts_ns, mut line) = parsed.accepted[0].clone();
        let (expected_ts_ns, expected) = request.expected(&DEFAULTS);
        prop_assert!((line.duration_ms - expected.duration_ms).abs() < 1e-6, "{} for {}", line.duration_ms, text);
        line.duration_ms = expected.duration_ms;
        prop_assert_eq!((ts_ns, line), (expected_ts_ns, expected), "{}", text);
    }

    #[test]
    fn access_json_lines_written_from_fields_read_back_the_same(request in json_request()) {
        let text = request.text();
        let parsed = parse_access_body(text.as_bytes(), LineFormat::Ndjson, &DEFAULTS, None);
        prop_assert!(parsed.rejected.is_empty(), "{text}: {:?}", parsed.rejected);
        prop_assert_eq!(&parsed.accepted[0], &(request.ts_ns, request.line.clone()), "{}", text);
    }
}

// ---------------------------------------------------------------------------
// Service lines: NDJSON and text.

/// A stored service line is a `ServiceLine` that reads back to the same text.
fn check_stored(payload: &str) -> Result<(), TestCaseError> {
    let line: ServiceLine =
        serde_json::from_str(payload).map_err(|error| TestCaseError::fail(format!("{error}: {payload}")))?;
    prop_assert_eq!(&serde_json::to_string(&line).unwrap(), payload);
    Ok(())
}

/// Keys a service line reads itself, which fields cannot have.
const SERVICE_KEYS: [&str; 10] =
    ["message", "msg", "log", "level", "severity", "lvl", "instance", "ts", "time", "timestamp"];

fn service_line() -> impl Strategy<Value = (i64, Value, ServiceLine)> {
    let fields = prop::collection::btree_map(
        prop_oneof!["[a-z_]{1,8}", any::<String>()]
            .prop_filter("not a key lines read", |key| !SERVICE_KEYS.contains(&key.as_str())),
        json_value(),
        0..4,
    );
    (
        json_ts(),
        any::<String>(),
        "[a-z0-9-]{1,12}",
        prop_oneof![
            Just(Level::Trace),
            Just(Level::Debug),
            Just(Level::Info),
            Just(Level::Warn),
            Just(Level::Error),
            Just(Level::Fatal)
        ],
        fields,
    )
        .prop_map(|((ts, ts_ns), message, instance, level, fields)| {
            (ts_ns, ts, ServiceLine { instance, level, message, fields })
        })
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn service_any_body_is_stored_or_each_bad_line_says_what_is_wrong(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            body_of(json_object_text(line_key())),
            body_of(near(json_object_text(line_key()))),
        ],
        json_format in any::<bool>(),
    ) {
        let format = if json_format { LineFormat::Ndjson } else { LineFormat::Text };
        let parsed = parse_body_stored(&body, format, "web-1", NOW_NS);
        check_body(&body, &parsed, |payload: &String| check_stored(payload))?;
        if format == LineFormat::Text {
            // Text lines are never refused for what they say.
            prop_assert!(parsed.rejected.iter().all(|rejected| rejected.error.contains("UTF-8")));
        }
    }

    #[test]
    fn service_ndjson_fast_path_stores_exactly_what_the_general_path_stores(
        text in prop_oneof![json_object_text(line_key()), near(json_object_text(line_key()))],
        level in prop::option::of(Just(Level::Warn)),
    ) {
        let general = parse_json_line(&text, "web-1", NOW_NS, level)
            .map(|(ts_ns, line)| (ts_ns, serde_json::to_string(&line).unwrap()));
        if let Some(fast) = service_payload(&text, "web-1", NOW_NS, level) {
            prop_assert_eq!(Ok(fast), general.clone(), "{}", text);
        }
        if let Err(error) = general {
            prop_assert!(!error.trim().is_empty());
        }
    }

    #[test]
    fn service_ndjson_lines_written_from_fields_read_back_the_same((ts_ns, ts, line) in service_line()) {
        let mut object: Map<String, Value> = line.fields.clone().into_iter().collect();
        object.insert("message".into(), json!(line.message));
        object.insert("level".into(), json!(line.level.as_str()));
        object.insert("instance".into(), json!(line.instance));
        object.insert("ts".into(), ts);
        let text = Value::Object(object).to_string();
        let parsed = parse_body_stored(text.as_bytes(), LineFormat::Ndjson, "default", NOW_NS);
        prop_assert!(parsed.rejected.is_empty(), "{text}: {:?}", parsed.rejected);
        let (stored_ts_ns, payload) = &parsed.accepted[0];
        prop_assert_eq!(*stored_ts_ns, ts_ns, "{}", text);
        prop_assert_eq!(serde_json::from_str::<ServiceLine>(payload).unwrap(), line, "{}", text);
    }

    #[test]
    fn service_text_lines_are_stored_word_for_word(text in "[^\n]{0,200}") {
        let parsed = parse_body_stored(text.as_bytes(), LineFormat::Text, "web-1", NOW_NS);
        let line = text.strip_suffix('\r').unwrap_or(&text);
        if line.bytes().all(|b| b.is_ascii_whitespace()) {
            prop_assert!(parsed.accepted.is_empty() && parsed.rejected.is_empty());
        } else {
            let (ts_ns, payload) = &parsed.accepted[0];
            let stored: ServiceLine = serde_json::from_str(payload).unwrap();
            prop_assert_eq!((*ts_ns, stored.message.as_str(), stored.instance.as_str()), (NOW_NS, line, "web-1"));
        }
    }
}

#[test]
fn a_service_line_over_the_limit_is_rejected_alone_whatever_its_format() {
    let mut body = vec![b'{'; MAX_LINE_BYTES + 1];
    body.extend_from_slice(b"\n{\"msg\":\"ok\"}\n");
    for format in [LineFormat::Ndjson, LineFormat::Text] {
        let parsed = parse_body_stored(&body, format, "web-1", NOW_NS);
        assert_eq!((parsed.accepted.len(), parsed.rejected[0].line), (1, 1));
    }
}

// ---------------------------------------------------------------------------
// The filter syntax and time bounds.

/// Filters built from the pieces the syntax is made of.
fn filter_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z]{1,6}",
        prop_oneof![Just("level"), Just("status"), Just("fields.order_id"), Just("path"), Just("a..b"), Just(".x")]
            .prop_map(String::from),
        prop_oneof![Just(":"), Just("!="), Just(">"), Just(">="), Just("<"), Just("<="), Just("!")]
            .prop_map(String::from),
        prop_oneof![Just("\""), Just("/"), Just("\\"), Just("-"), Just(" "), Just("*"), Just("."), Just("5xx")]
            .prop_map(String::from),
        prop_oneof![Just("("), Just(")"), Just("|"), Just("["), Just("{2}"), Just("?"), Just("+"), Just("(?i)")]
            .prop_map(String::from),
        "[0-9.eE-]{1,5}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..14).prop_map(|pieces| pieces.concat())
}

const PAYLOADS: [&str; 3] = [
    r#"{"instance":"api-1","level":"warn","message":"upstream Timeout after 30 s","fields":{"order_id":42,"route":"/v1/orders","nested":{"a":[1,"x",null]}}}"#,
    r#"{"instance":"web-0","method":"POST","host":"shop.example","path":"/api/cart/items","status":503,"bytes_sent":120,"duration_ms":1250.5,"client_ip":"90.1.2.3","country":"FR","user_agent":"curl/8.11.0"}"#,
    r#"{"message":"é漢 \"quoted\" \\ back","level":"LOUD","status":"5xx"}"#,
];

/// What a time bound accepted means, checked from first principles.
fn check_time_bound(text: &str, now_ns: i64) -> Result<(), TestCaseError> {
    match parse_time_bound(text, now_ns) {
        Ok(ts_ns) => {
            let trimmed = text.trim();
            if trimmed == "now" {
                prop_assert_eq!(ts_ns, now_ns);
            } else if let Ok(time) = OffsetDateTime::parse(trimmed, &Rfc3339) {
                prop_assert_eq!(ts_ns as i128, time.unix_timestamp_nanos(), "{:?}", text);
            } else {
                let ago = parse_duration_ns(trimmed);
                prop_assert!(ago.is_some_and(|ago| ago >= 0), "{text:?} read as {ts_ns}");
                prop_assert_eq!(ts_ns as i128, now_ns as i128 - ago.unwrap() as i128, "{:?}", text);
            }
        }
        Err(error) => prop_assert!(!error.trim().is_empty() && error.contains(text.trim()), "{error}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(3_000))]

    #[test]
    fn filters_parse_or_name_the_position_and_what_was_expected(
        text in prop_oneof![any::<String>(), filter_text()],
        payload in prop_oneof![prop::sample::select(PAYLOADS.to_vec()).prop_map(String::from), json_value().prop_map(|v| v.to_string()), any::<String>()],
    ) {
        match CompiledFilter::parse(&text) {
            Ok(filter) => {
                filter.matches(payload.as_bytes());
                for payload in PAYLOADS {
                    filter.matches(payload.as_bytes());
                }
            }
            Err(error) => {
                prop_assert!(!error.expected.trim().is_empty());
                prop_assert!(error.position <= text.chars().count(), "{error} in {text:?}");
            }
        }
    }

    #[test]
    fn time_bounds_are_a_time_or_say_what_is_accepted(
        text in prop_oneof![
            any::<String>(),
            " ?(now|[0-9]{1,20}[smhdwx]?([0-9]{1,6}[smhdw])?) ?",
            "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|z|[+-][0-9]{2}:[0-9]{2})",
            near((any_ts_ns(), offset_minutes()).prop_map(|(ts, offset)| rfc3339(ts, offset))),
        ],
        now_ns in prop_oneof![Just(NOW_NS), 0..=i64::MAX],
    ) {
        check_time_bound(&text, now_ns)?;
    }

    #[test]
    fn time_bounds_written_as_rfc3339_or_durations_read_back_exactly(
        (ts_ns, offset) in (any_ts_ns(), offset_minutes()),
        parts in prop::collection::vec((0i64..100_000, prop::sample::select(vec![('s', 1i64), ('m', 60), ('h', 3_600), ('d', 86_400), ('w', 604_800)])), 1..4),
    ) {
        prop_assert_eq!(parse_time_bound(&rfc3339(ts_ns, offset), NOW_NS), Ok(ts_ns));
        let text: String = parts.iter().map(|(count, (unit, _))| format!("{count}{unit}")).collect();
        let ago: i128 = parts.iter().map(|(count, (_, seconds))| (count * seconds) as i128 * 1_000_000_000).sum();
        match i64::try_from(ago) {
            Ok(ago) => prop_assert_eq!(parse_time_bound(&text, NOW_NS), Ok(NOW_NS - ago), "{}", text),
            Err(_) => prop_assert!(parse_time_bound(&text, NOW_NS).is_err(), "{}", text),
        }
    }
}

// ---------------------------------------------------------------------------
// Gorilla chunks and store frames.

/// Strictly increasing times: steady spacing, jitter, or any jumps.
fn chunk_times() -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        (any::<i64>(), prop::collection::vec(prop_oneof![Just(10_000i64), 1..20_000i64, 1..i64::MAX], 0..200))
            .prop_map(|(first, gaps)| {
                let mut times = vec![first];
                for gap in gaps {
                    match times.last().unwrap().checked_add(gap) {
                        Some(next) => times.push(next),
                        None => break,
                    }
                }
                times
            }),
        prop::collection::btree_set(any::<i64>(), 1..50).prop_map(|times| times.into_iter().collect()),
    ]
}

/// A column's values: any bits, decimals of a few digits, or a steady value.
fn chunk_column(points: usize) -> impl Strategy<Value = Vec<f64>> {
    let value = prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        (-10_000_000i64..10_000_000, 0..7i32).prop_map(|(m, e)| m as f64 / 10f64.powi(e)),
        prop::sample::select(vec![0.0, -0.0, f64::MAX, f64::MIN_POSITIVE, f64::INFINITY, f64::NAN, 1e-300]),
    ];
    prop_oneof![
        prop::collection::vec(value.clone(), points),
        value.prop_map(move |steady| vec![steady; points]),
        (0..1_000i64, 0..3i32)
            .prop_map(move |(start, e)| (0..points as i64).map(|i| (start + i % 7) as f64 / 10f64.powi(e)).collect()),
    ]
}

fn chunk() -> impl Strategy<Value = (Vec<i64>, Vec<Vec<f64>>)> {
    (chunk_times(), 0..5usize).prop_flat_map(|(times, columns)| {
        let points = times.len();
        (Just(times), prop::collection::vec(chunk_column(points), columns))
    })
}

/// A frame whose header and CRC check, whatever its body says.
fn checked_frame() -> impl Strategy<Value = Vec<u8>> {
    let varint = prop_oneof![
        any::<u64>(),
        prop::sample::select(vec![0u64, 1, 2, 127, 128, u64::MAX, u64::MAX - 1, i64::MAX as u64, 1 << 63])
    ];
    let record = (varint.clone(), varint, prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(ts, len, payload)| {
        let mut bytes = Vec::new();
        for mut n in [ts, len] {
            while n >= 0x80 {
                bytes.push((n as u8) | 0x80);
                n >>= 7;
            }
            bytes.push(n as u8);
        }
        bytes.extend(payload);
        bytes
    });
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(record, 0..4).prop_map(|records| records.concat()),
    ];
    (
        prop_oneof![any::<u64>(), (0..64u64).prop_map(|back| u64::MAX - back)],
        prop_oneof![1..5u32, any::<u32>()],
        (any::<i64>(), any::<i64>()),
        prop_oneof![Just(0u8), Just(1), Just(2), any::<u8>()],
        prop_oneof![(0..128u32).boxed(), any::<u32>().boxed()],
        body,
        // Without a token index ("VGF1"), or with one of some length ("VGF2").
        prop_oneof![Just(None), (0..80u32).prop_map(Some), any::<u32>().prop_map(Some)],
        // With columns ("VGF3": a columns section of any bytes after the index).
        any::<bool>(),
    )
        .prop_map(|(first_offset, count, (min_ts, max_ts), codec, raw_len, body, index_len, columns)| {
            let raw_len = if codec == 0 { body.len() as u32 } else { raw_len };
            let mut frame = Vec::with_capacity(HEADER_LEN + body.len());
            let magic = match (columns, index_len.is_some()) {
                (true, _) => &MAGIC_COLUMNS,
                (false, true) => &MAGIC_INDEXED,
                (false, false) => &MAGIC,
            };
            frame.extend_from_slice(magic);
            frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
            frame.extend_from_slice(&[0; 4]);
            frame.extend_from_slice(&first_offset.to_le_bytes());
            frame.extend_from_slice(&count.to_le_bytes());
            frame.extend_from_slice(&min_ts.to_le_bytes());
            frame.extend_from_slice(&max_ts.to_le_bytes());
            let index_len = index_len.unwrap_or(0).to_le_bytes();
            frame.extend_from_slice(&[codec, index_len[0], index_len[1], index_len[2]]);
            frame.extend_from_slice(&raw_len.to_le_bytes());
            frame.extend_from_slice(&body);
            let crc = crc32c::crc32c(&frame[12..]);
            frame[8..12].copy_from_slice(&crc.to_le_bytes());
            frame
        })
}

fn check_frame(bytes: &[u8]) -> Result<(), TestCaseError> {
    // A search reads a frame's token index alone, before its CRC is checked.
    if let Ok((meta, _, _)) = frame::parse_header(bytes) {
        if let Some(section) = frame::index_section(bytes, &meta) {
            let mut required = Required::none();
            required.token(b"zanzibar");
            required.trigrams_of(b"zanzibar");
            let _ = index::may_hold(section, &required);
        }
    }
    // A count reads a frame's columns alone.
    if let Ok(view) = frame::view(bytes) {
        if let Some(columns) = view.columns() {
            if let Ok(times) = columns.times() {
                prop_assert_eq!(times.len(), view.meta.count as usize);
            }
            if let Ok(Some(column)) = columns.column("status") {
                prop_assert_eq!(column.ids.len(), view.meta.count as usize);
                prop_assert!(column.ids.iter().all(|id| (*id as usize) <= column.texts.len()));
            }
        }
    }
    match frame::decode(bytes) {
        Ok(records) => {
            let meta = frame::check(bytes).unwrap();
            prop_assert_eq!(records.len(), meta.count as usize);
            for (i, record) in records.iter().enumerate() {
                prop_assert_eq!(record.offset, meta.first_offset + i as u64);
            }
        }
        Err(FrameError::Short) => {}
        Err(FrameError::Corrupt(why)) => prop_assert!(!why.is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(3_000))]

    #[test]
    fn gorilla_any_bytes_decode_or_report_damage(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        points in prop_oneof![0..400u32, any::<u32>()],
        columns in 0..6u16,
        scaled in any::<bool>(),
    ) {
        let chunk = SealedChunk { bytes: Box::default(), points, columns, first_ts_ms: 0, last_ts_ms: 0, scaled };
        let mut seen = 0u32;
        let whole = chunk.decode_bytes(&bytes, |_, values| {
            assert_eq!(values.len(), columns as usize);
            seen += 1;
            true
        });
        prop_assert!(seen <= points);
        prop_assert!(!whole || seen == points, "whole with {seen} of {points} points");
        let mut seen = 0u32;
        let whole = gorilla_decode(&bytes, points, columns as usize, |_, _| {
            seen += 1;
            true
        });
        prop_assert!(!whole || seen == points);
    }

    #[test]
    fn gorilla_chunks_give_back_every_time_and_value_bit_for_bit((times, columns) in chunk()) {
        let mut writer = ChunkWriter::new(columns.len());
        let points: Vec<(i64, Vec<u64>)> =
            times.iter().enumerate().map(|(i, ts)| (*ts, columns.iter().map(|column| column[i].to_bits()).collect())).collect();
        for (ts, values) in &points {
            writer.append(*ts, &values.iter().map(|bits| f64::from_bits(*bits)).collect::<Vec<_>>());
        }
        let mut open = Vec::new();
        let whole = gorilla_decode(writer.bytes(), writer.points(), columns.len(), |ts, values| {
            open.push((ts, values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()));
            true
        });
        prop_assert!(whole);
        prop_assert_eq!(&open, &points);
        let sealed = writer.seal();
        let mut back = Vec::new();
        let whole = sealed.decode(|ts, values| {
            back.push((ts, values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()));
            true
        });
        prop_assert!(whole);
        prop_assert_eq!(&back, &points, "scaled: {}", sealed.scaled);
        prop_assert_eq!((sealed.first_ts_ms, sealed.last_ts_ms), (times[0], *times.last().unwrap()));
    }

    #[test]
    fn store_frames_of_any_bytes_are_refused_or_read_whole(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            checked_frame(),
            (checked_frame(), any::<Index>(), any::<u8>()).prop_map(|(mut frame, at, flip)| {
                let at = at.index(frame.len());
                frame[at] ^= flip;
                frame
            }),
        ]
    ) {
        check_frame(&bytes)?;
    }

    #[test]
    fn store_frames_give_back_every_record_exactly(
        first_offset in prop_oneof![any::<u64>().prop_map(|n| n >> 1), Just(0u64)],
        records in prop::collection::vec((any_ts_ns(), prop_oneof![
            any::<String>(),
            "[a-z ]{0,200}",
            (0..3u8, "[a-c]{1,2}", any::<bool>()).prop_map(|(status, path, flat)| if flat {
                format!(r#"{{"status":{},"path":"/{path}"}}"#, 200 + 100 * status as u16)
            } else {
                format!(r#"{{"fields":{{"status":{status}}},"path":["/{path}"]}}"#)
            }),
        ]), 1..40),
        codec in prop::sample::select(vec![Codec::Raw, Codec::Lz4, Codec::Zstd { level: 1 }, Codec::Zstd { level: 19 }]),
        index in any::<bool>(),
        columns in any::<bool>(),
    ) {
        let borrowed: Vec<(i64, &str)> = records.iter().map(|(ts, payload)| (*ts, payload.as_str())).collect();
        let mut out = vec![0xAA; 3];
        let meta = frame::encode_with(first_offset, &borrowed, codec, frame::Parts { index, columns }, &mut out);
        let bytes = &out[3..];
        prop_assert_eq!(meta.len as usize, bytes.len());
        prop_assert_eq!(frame::check(bytes), Ok(meta));
        let decoded = frame::decode(bytes).unwrap();
        let back: Vec<(u64, i64, &str)> = decoded.iter().map(|r| (r.offset, r.ts_ns, &*r.payload)).collect();
        let expected: Vec<(u64, i64, &str)> =
            borrowed.iter().enumerate().map(|(i, (ts, payload))| (first_offset + i as u64, *ts, *payload)).collect();
        prop_assert_eq!(back, expected);
        check_frame(bytes)?;
    }
}
