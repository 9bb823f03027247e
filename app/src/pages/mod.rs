//! One file per page of the console.

pub mod app_drains;
pub mod app_http;
pub mod app_logs;
pub mod app_map;
pub mod app_metrics;
pub mod app_overview;
pub mod app_settings;
pub mod not_found;
pub mod org_audit;
pub mod org_drains;
pub mod org_home;
pub mod orgs;
pub mod sign_in;
