//! Syslog ingest, for platforms that ship app output by syslog: TCP
//! (RFC 6587: octet-counted `LEN SP MSG` or one message per line, told
//! apart per message) and UDP (RFC 5426: one message per datagram),
//! carrying RFC 5424 or RFC 3164 messages.
//!
//! `parse.rs` says how a message names its app and token. Here: which
//! messages are stored and what becomes of the others. Syslog has no
//! answer channel, so a message that cannot be stored (unparsable, no app,
//! no or a bad token, an app the token's org does not have, over the size
//! limit, over the app's rate on UDP) is dropped, counted by reason in
//! [`SyslogCounters`] (served at `/metrics`) and logged at most every few
//! seconds; it never costs the valid messages around it. Over TCP an app
//! over its rate is slowed down (the connection is read later), not
//! dropped. `listener.rs` owns the sockets.

/// Public for the property tests in `tests/parsers_arbitrary_input.rs`.
pub mod framing;
pub mod listener;
pub mod parse;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use self::parse::{parse_message, SyslogRecord};
use crate::catalog::Catalog;
use crate::ingest::access::locate;
use crate::ingest::http::IngestState;
use crate::ingest::routes::{IngestRoutes, Refusal};
use crate::store::{Store, StoreError, TopicKey};

/// Longest message accepted, in bytes, framing excluded.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why a message was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Unparsable,
    NotUtf8,
    TooLong,
    NoApp,
    BadKind,
    BadAccessLine,
    NoToken,
    BadToken,
    NotAllowed,
    UnknownApp,
    RateLimited,
}

impl DropReason {
    pub const ALL: [DropReason; 11] = [
        DropReason::Unparsable,
        DropReason::NotUtf8,
        DropReason::TooLong,
        DropReason::NoApp,
        DropReason::BadKind,
        DropReason::BadAccessLine,
        DropReason::NoToken,
        DropReason::BadToken,
        DropReason::NotAllowed,
        DropReason::UnknownApp,
        DropReason::RateLimited,
    ];

    /// The label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Unparsable => "unparsable",
            DropReason::NotUtf8 => "not_utf8",
            DropReason::TooLong => "too_long",
            DropReason::NoApp => "no_app_name",
            DropReason::BadKind => "bad_kind",
            DropReason::BadAccessLine => "bad_access_line",
            DropReason::NoToken => "no_token",
            DropReason::BadToken => "unknown_or_revoked_token",
            DropReason::NotAllowed => "token_may_not_ingest",
            DropReason::UnknownApp => "unknown_app",
            DropReason::RateLimited => "rate_limited",
        }
    }

    /// What the sender should do, for the server's log.
    fn advice(self) -> &'static str {
        match self {
            DropReason::Unparsable => "send RFC 5424 or RFC 3164 messages, starting with <PRI>",
            DropReason::NotUtf8 => "send messages in UTF-8",
            DropReason::TooLong => "keep messages under 64 KiB",
            DropReason::NoApp => "set APP-NAME (RFC 5424) or TAG (RFC 3164) to the app's slug",
            DropReason::BadKind => "set kind=\"service\" or kind=\"access\" in the [vigie] element",
            DropReason::BadAccessLine => "send access logs as Combined Log Format or JSON",
            DropReason::NoToken => "put an ingest token in [vigie token=\"vgt_…\"] or as the message's first word",
            DropReason::BadToken => "the token is unknown or revoked: create one with `vigie tokens create`",
            DropReason::NotAllowed => "use a token with the ingest permission",
            DropReason::UnknownApp => "the token's org has no app by that APP-NAME",
            DropReason::RateLimited => "the app is over its lines per second; UDP cannot wait, TCP would",
        }
    }
}

/// Messages stored and dropped since start, by reason.
#[derive(Debug, Default)]
pub struct SyslogCounters {
    pub stored: AtomicU64,
    /// TCP connections closed at once because the most allowed were open.
    pub refused_connections: AtomicU64,
    /// TCP connections closed because they sent nothing for too long.
    pub idle_closed: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    /// When a drop was last written to the server's log, to write at most
    /// one every few seconds however many there are.
    last_warned: Mutex<Option<Instant>>,
}

impl SyslogCounters {
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].load(Ordering::Relaxed)
    }

    /// A TCP connection closed at once: as many as allowed were open.
    pub fn count_refused_connection(&self, peer: SocketAddr) {
        let total = self.refused_connections.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(%peer, total, "syslog TCP: connection refused, the most allowed are open (--syslog-tcp-connections)");
    }

    /// A TCP connection closed after sending nothing for too long.
    pub fn count_idle_closed(&self) {
        self.idle_closed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_drop(&self, reason: DropReason, peer: SocketAddr) {
        self.count_drops(reason, 1, peer);
    }

    pub fn count_drops(&self, reason: DropReason, count: u64, peer: SocketAddr) {
        let total = self.dropped[reason as usize].fetch_add(count, Ordering::Relaxed) + count;
        let mut last = self.last_warned.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_none_or(|at| at.elapsed() > Duration::from_secs(5)) {
            *last = Some(Instant::now());
            tracing::warn!(%peer, reason = reason.as_str(), total, "syslog message dropped: {}", reason.advice());
        }
    }

    /// Prometheus text exposition of these counters.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP vigie_syslog_messages_total Syslog messages received, by outcome.");
        let _ = writeln!(out, "# TYPE vigie_syslog_messages_total counter");
        let _ =
            writeln!(out, "vigie_syslog_messages_total{{outcome=\"stored\"}} {}", self.stored.load(Ordering::Relaxed));
        for reason in DropReason::ALL {
            let _ = writeln!(
                out,
                "vigie_syslog_messages_total{{outcome=\"dropped\",reason=\"{}\"}} {}",
                reason.as_str(),
                self.dropped(reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP vigie_syslog_tcp_connections_closed_total Syslog TCP connections Vigie closed, by why."
        );
        let _ = writeln!(out, "# TYPE vigie_syslog_tcp_connections_closed_total counter");
        let _ = writeln!(
            out,
            "vigie_syslog_tcp_connections_closed_total{{reason=\"too_many\"}} {}",
            self.refused_connections.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "vigie_syslog_tcp_connections_closed_total{{reason=\"idle\"}} {}",
            self.idle_closed.load(Ordering::Relaxed)
        );
    }
}

/// Where a token may store an app's lines: its org, or why not.
type Verdict = Result<String, DropReason>;

/// Messages of one read, grouped by topic and ready to append.
#[derive(Debug, Default)]
pub struct PreparedBatch {
    pub topics: Vec<(TopicKey, Vec<(i64, String)>)>,
}

impl PreparedBatch {
    pub fn lines(&self) -> usize {
        self.topics.iter().map(|(_, lines)| lines.len()).sum()
    }
}

/// A batch being filled, message by message: parsed, its token checked
/// and grouped by topic at once, so the bytes it came from can be reused.
pub struct Preparing<'a> {
    ingest: &'a SyslogIngest,
    now_ns: i64,
    peer: SocketAddr,
    /// Most reads carry one app's lines: the last verdicts are kept here so
    /// the shared cache is asked once per read, not once per line.
    recent: Vec<(String, String, Verdict)>,
    batch: PreparedBatch,
}

impl Preparing<'_> {
    /// Adds one frame (or counts why it is dropped).
    pub fn add(&mut self, frame: Result<&[u8], DropReason>) {
        if let Err(reason) = self.add_one(frame) {
            self.ingest.counters.count_drop(reason, self.peer);
        }
    }

    pub fn finish(self) -> PreparedBatch {
        self.batch
    }

    fn add_one(&mut self, frame: Result<&[u8], DropReason>) -> Result<(), DropReason> {
        let text = std::str::from_utf8(frame?).map_err(|_| DropReason::NotUtf8)?;
        let message = parse_message(text, self.now_ns)?;
        let token = message.token.as_deref().ok_or(DropReason::NoToken)?;
        let org = match self.recent.iter().find(|(t, a, _)| t == token && a == message.app) {
            Some((_, _, verdict)) => verdict.clone()?,
            None => {
                let verdict = self.ingest.route(token, message.app);
                self.recent.push((token.to_string(), message.app.to_string(), verdict.clone()));
                verdict?
            }
        };
        let kind = message.record.kind();
        let (ts_ns, payload) = match message.record {
            SyslogRecord::Service(ts_ns, line) => (ts_ns, serde_json::to_string(&line)),
            SyslogRecord::Access(ts_ns, mut line) => {
                locate(&mut line, self.ingest.ingest.geoip.as_deref());
                (ts_ns, serde_json::to_string(&line))
            }
        };
        let payload = payload.map_err(|_| DropReason::Unparsable)?;
        let topics = &mut self.batch.topics;
        let index =
            match topics.iter().position(|(key, _)| key.kind == kind && key.app == message.app && key.org == org) {
                Some(index) => index,
                None => {
                    topics.push((TopicKey::new(&org, message.app, kind), Vec::new()));
                    topics.len() - 1
                }
            };
        topics[index].1.push((ts_ns, payload));
        Ok(())
    }
}

/// Shared by every syslog socket: checks tokens (with a short cache),
/// groups messages by topic, and stores them.
pub struct SyslogIngest {
    pub store: Store,
    pub catalog: Catalog,
    pub ingest: IngestState,
    pub counters: Arc<SyslogCounters>,
    routes: IngestRoutes,
}

impl SyslogIngest {
    pub fn new(store: Store, catalog: Catalog, ingest: IngestState, counters: Arc<SyslogCounters>) -> SyslogIngest {
        let routes = IngestRoutes::new(catalog.clone());
        SyslogIngest { store, catalog, ingest, counters, routes }
    }

    /// Starts a batch of messages that arrived at `now_ns` from `peer`.
    pub fn batch(&self, now_ns: i64, peer: SocketAddr) -> Preparing<'_> {
        Preparing { ingest: self, now_ns, peer, recent: Vec::new(), batch: PreparedBatch::default() }
    }

    /// The org a token may send `app`'s lines to, or why not.
    fn route(&self, token: &str, app: &str) -> Verdict {
        self.routes.route(token, app).map_err(|refusal| match refusal {
            Refusal::BadToken => DropReason::BadToken,
            Refusal::NotAllowed => DropReason::NotAllowed,
            Refusal::UnknownApp => DropReason::UnknownApp,
        })
    }

    /// Appends a prepared batch, topic by topic (blocking: run it off the
    /// async threads).
    pub fn append(&self, batch: PreparedBatch) -> Result<(), StoreError> {
        for (key, lines) in batch.topics {
            let count = lines.len() as u64;
            match &self.ingest.cluster {
                None => {
                    self.store.append_batch(&key, lines)?;
                }
                Some(cluster) => {
                    cluster.append_blocking(&key, lines)?;
                }
            }
            self.counters.stored.fetch_add(count, Ordering::Relaxed);
        }
        Ok(())
    }
}
