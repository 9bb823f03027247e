//! Pieces the pages share.

pub mod app_tabs;
pub mod chart;
pub mod drains;
pub mod explorer;
pub mod grafana;
pub mod live_tail;
pub mod log_row;
pub mod map;
pub mod post_form;
pub mod refresh;
pub mod saved_views;
pub mod session;
pub mod states;
pub mod time;
pub mod top_bar;
pub mod view_bar;
