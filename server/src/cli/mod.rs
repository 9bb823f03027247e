//! Commands of the `vigie` binary that are clients of a Vigie server.

pub mod logs;
