//! Turning what producers send into records of the topics. Every ingest
//! path has the same rooms, as Vector's sources do: its wire format
//! (parsed and unit tested), its listener or handler, its config beside it.
//!
//! - [`http`]: log lines posted to the Logs API (NDJSON, text, Combined Log Format);
//! - [`syslog`]: RFC 5424 / RFC 3164 over TCP and UDP;
//! - [`statsd`]: statsd / DogStatsD over UDP, folded into metric points;
//! - [`instances`]: an agent's reports of an instance's server metrics;
//! - [`points`]: custom metric points an agent folded (its statsd, a scrape).
//!
//! The line formats that several paths share live beside them: service
//! lines ([`lines`], [`stored_json`]) and access lines ([`access`], placed
//! by [`geoip`]). A bad line never costs its neighbours: each path gets
//! back the lines it may store and, for the others, which was wrong and why.
//!
//! Ingest sits above the store, the catalog and the read models, and below
//! the HTTP layer, which it never imports.

pub mod access;
pub mod demo_places;
pub mod geoip;
pub mod http;
pub mod instances;
pub mod limits;
pub mod lines;
pub mod points;
pub mod routes;
pub mod statsd;
pub mod stored_json;
pub mod syslog;
