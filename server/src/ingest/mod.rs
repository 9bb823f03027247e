//! Turning what producers send into service log records. Each listener
//! (HTTP, syslog) reads its wire format here and
//! gets back the lines it may store and, for the others, which line was
//! wrong and why. A bad line never costs its neighbours.

pub mod access;
pub mod geoip;
pub mod limits;
pub mod lines;
pub mod routes;
pub mod statsd;
pub mod stored_json;
pub mod syslog;
