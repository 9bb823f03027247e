//! The dashboards Vigie generates for an org, in Grafana's dashboard JSON
//! model (the classic `schemaVersion` model; the tests validate every one
//! against the JSON Schemas of grafana-foundation-sdk):
//!
//! - **Home**: the apps and add-ons, requests and errors by app, and a
//!   link to every other dashboard;
//! - **Runtime** per app: CPU, memory, network and disk I/O by instance,
//!   and the time left before memory reaches 90% of its limit by linear
//!   prediction (`predict_linear`);
//! - **Add-on** per add-on: its instances and its log lines;
//! - **Access logs** per app: requests/s, status classes, latency
//!   percentiles, bytes, top paths, and a geomap of requests by place;
//! - **Custom metrics** per app: a panel per statsd metric.
//!
//! Each has a stable `uid` (a digest of the org, the kind and the app, so
//! the same dashboard keeps its address across resets), the tag `vigie`,
//! links to the others, and template variables `app` and `instance`. The
//! output depends only on its input, so "reset" is "generate again".

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use vigie_app::model::AppKind;

use crate::metrics::point::{MetricType, Shape};
use crate::metrics::promql::source::metric_name;

/// The Grafana schema version the JSON follows.
pub const SCHEMA_VERSION: u32 = 39;

/// An app of the org, as the dashboards need it.
#[derive(Clone, Debug, PartialEq)]
pub struct AppView {
    pub slug: String,
    pub name: String,
    pub kind: AppKind,
    /// Its statsd metrics (not `instance.*`): name as sent, type.
    pub custom: Vec<(String, MetricType)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrgView {
    pub slug: String,
    pub name: String,
    pub apps: Vec<AppView>,
}

/// One generated dashboard.
#[derive(Clone, Debug, PartialEq)]
pub struct Dashboard {
    pub uid: String,
    pub title: String,
    /// `home`, `runtime`, `addon`, `access` or `custom`.
    pub kind: &'static str,
    pub app: Option<String>,
    pub json: Value,
}

/// A short stable id from parts: Grafana's uids are at most 40 characters.
pub fn stable_id(prefix: &str, parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let hex: String = digest.finalize().iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    format!("{prefix}-{hex}")
}

pub fn datasource_uid(org: &str) -> String {
    stable_id("vigie-ds", &[org])
}

pub fn folder_uid(org: &str) -> String {
    stable_id("vigie-folder", &[org])
}

fn dashboard_uid(org: &str, kind: &str, app: &str) -> String {
    stable_id(&format!("vigie-{kind}"), &[org, kind, app])
}

/// Text as Markdown shows it literally: user text never becomes markup.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\`*_{}[]()<>#+-.!|~&".contains(c) {
            out.push('\\');
        }
        if !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// A PromQL string literal.
fn promql_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// Builds the panels of one dashboard, laid out two to a row.
struct Panels {
    datasource: Value,
    list: Vec<Value>,
    next_y: u32,
    column: u32,
}

impl Panels {
    fn new(datasource: &Value) -> Panels {
        Panels { datasource: datasource.clone(), list: Vec::new(), next_y: 0, column: 0 }
    }

    fn place(&mut self, width: u32, height: u32) -> Value {
        if self.column + width > 24 {
            self.column = 0;
            self.next_y += 8;
        }
        let position = json!({"h": height, "w": width, "x": self.column, "y": self.next_y});
        self.column += width;
        if self.column >= 24 {
            self.column = 0;
            self.next_y += height;
        }
        position
    }

    fn target(&self, ref_id: &str, expr: &str, legend: &str, instant: bool, table: bool) -> Value {
        json!({
            "refId": ref_id,
            "datasource": self.datasource,
            "editorMode": "code",
            "expr": expr,
            "legendFormat": legend,
            "range": !instant,
            "instant": instant,
            "format": if table { "table" } else { "time_series" },
        })
    }

    fn push(&mut self, mut panel: Value, width: u32) {
        let id = self.list.len() + 1;
        panel["id"] = json!(id);
        panel["datasource"] = self.datasource.clone();
        panel["gridPos"] = self.place(width, 8);
        self.list.push(panel);
    }

    /// A time series of one or more queries `(expr, legend)`.
    fn timeseries(&mut self, title: &str, unit: &str, queries: &[(&str, &str)]) {
        let targets: Vec<Value> = queries
            .iter()
            .enumerate()
            .map(|(i, (expr, legend))| self.target(&((b'A' + i as u8) as char).to_string(), expr, legend, false, false))
            .collect();
        self.push(
            json!({
                "type": "timeseries",
                "title": title,
                "targets": targets,
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {
                    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []},
                    "tooltip": {"mode": "multi", "sort": "desc"},
                },
            }),
            12,
        );
    }

    fn stat(&mut self, title: &str, unit: &str, expr: &str, legend: &str) {
        let target = self.target("A", expr, legend, true, false);
        self.push(
            json!({
                "type": "stat",
                "title": title,
                "targets": [target],
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {
                    "graphMode": "none",
                    "colorMode": "value",
                    "justifyMode": "auto",
                    "textMode": "value_and_name",
                    "wideLayout": true,
                    "showPercentChange": false,
                    "reduceOptions": {"calcs": ["lastNotNull"], "values": false, "fields": ""},
                    "percentChangeColorMode": "standard",
                    "orientation": "auto",
                },
            }),
            12,
        );
    }

    fn table(&mut self, title: &str, expr: &str) {
        let target = self.target("A", expr, "", true, true);
        self.push(
            json!({
                "type": "table",
                "title": title,
                "targets": [target],
                "fieldConfig": {"defaults": {}, "overrides": []},
                "options": {"frameIndex": 0, "showHeader": true},
                "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": true}}}],
            }),
            12,
        );
    }

    fn text(&mut self, title: &str, markdown: String) {
        self.push(
            json!({
                "type": "text",
                "title": title,
                "options": {"mode": "markdown", "content": markdown},
            }),
            24,
        );
    }

    /// Requests by place on a world map: the cells' centres as markers.
    fn geomap(&mut self, title: &str, expr: &str) {
        let target = self.target("A", expr, "", true, true);
        self.push(
            json!({
                "type": "geomap",
                "title": title,
                "targets": [target],
                "fieldConfig": {"defaults": {}, "overrides": []},
                "transformations": [{
                    "id": "convertFieldType",
                    "options": {"conversions": [
                        {"targetField": "lat", "destinationType": "number"},
                        {"targetField": "lon", "destinationType": "number"},
                    ]},
                }],
                "options": {
                    "view": {"id": "zero", "lat": 20, "lon": 0, "zoom": 1},
                    "controls": {"showZoom": true, "mouseWheelZoom": true, "showAttribution": true},
                    "basemap": {"type": "default", "name": "Basemap"},
                    "layers": [{
                        "type": "markers",
                        "name": "Requests",
                        "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                        "config": {
                            "size": {"field": "Value", "min": 3, "max": 20, "fixed": 5},
                            "color": {"fixed": "dark-green"},
                            "showLegend": true,
                        },
                        "tooltip": true,
                    }],
                    "tooltip": {"mode": "details"},
                },
            }),
            24,
        );
    }
}

/// What every dashboard of the org shares: tags, time, links, variables.
fn dashboard(uid: &str, title: &str, panels: Panels, variables: Vec<Value>, description: &str) -> Value {
    json!({
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["vigie"],
        "timezone": "browser",
        "editable": true,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "panels": panels.list,
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [{
            "title": "Vigie dashboards",
            "type": "dashboards",
            "icon": "external link",
            "tooltip": "The other dashboards Vigie made for this organisation",
            "tags": ["vigie"],
            "asDropdown": true,
            "targetBlank": false,
            "includeVars": true,
            "keepTime": true,
        }],
    })
}

/// The `app` variable: the org's apps of `kind`, `app` selected.
fn app_variable(apps: &[&AppView], selected: &str) -> Value {
    let options: Vec<Value> =
        apps.iter().map(|app| json!({"text": app.slug, "value": app.slug, "selected": app.slug == selected})).collect();
    json!({
        "type": "custom",
        "name": "app",
        "label": "App",
        "query": apps.iter().map(|app| app.slug.as_str()).collect::<Vec<_>>().join(","),
        "current": {"text": selected, "value": selected},
        "options": options,
        "multi": false,
        "includeAll": false,
        "hide": 0,
    })
}

/// The `instance` variable: the app's instances, all selected.
fn instance_variable(datasource: &Value) -> Value {
    json!({
        "type": "query",
        "name": "instance",
        "label": "Instance",
        "datasource": datasource,
        "query": "label_values(instance_cpu_percent{app=\"$app\"}, instance)",
        "definition": "label_values(instance_cpu_percent{app=\"$app\"}, instance)",
        "current": {"text": "All", "value": "$__all"},
        "options": [],
        "refresh": 2,
        "sort": 1,
        "multi": true,
        "includeAll": true,
        "allValue": ".*",
        "hide": 0,
    })
}

/// Every dashboard of the org, Home first.
pub fn generate(org: &OrgView) -> Vec<Dashboard> {
    let datasource = json!({"type": "prometheus", "uid": datasource_uid(&org.slug)});
    let applications: Vec<&AppView> = org.apps.iter().filter(|app| app.kind == AppKind::Application).collect();
    let addons: Vec<&AppView> = org.apps.iter().filter(|app| app.kind == AppKind::Addon).collect();
    let mut out = Vec::new();

    for app in &applications {
        let selector = "app=\"$app\", instance=~\"$instance\"";
        let mut panels = Panels::new(&datasource);
        runtime_panels(&mut panels, selector);
        let uid = dashboard_uid(&org.slug, "runtime", &app.slug);
        let title = format!("{} · Runtime", app.name);
        let variables = vec![app_variable(&applications, &app.slug), instance_variable(&datasource)];
        let json = dashboard(&uid, &title, panels, variables, "CPU, memory, network and disk of each instance (Vigie)");
        out.push(Dashboard { uid, title, kind: "runtime", app: Some(app.slug.clone()), json });

        let mut panels = Panels::new(&datasource);
        let app_only = "app=\"$app\"";
        panels.timeseries(
            "Requests/s",
            "reqps",
            &[(&format!("sum(rate(http_requests{{{app_only}}}[5m]))"), "requests/s")],
        );
        panels.timeseries(
            "Requests/s by status class",
            "reqps",
            &[(&format!("sum by (status_class) (rate(http_requests{{{app_only}}}[5m]))"), "{{status_class}}")],
        );
        panels.timeseries(
            "Latency percentiles",
            "ms",
            &[(&format!("max by (quantile) (http_latency_ms{{{app_only}}})"), "p{{quantile}}")],
        );
        panels.timeseries(
            "Bytes sent/s",
            "Bps",
            &[(&format!("sum(rate(http_bytes_out{{{app_only}}}[5m]))"), "bytes/s")],
        );
        panels.table(
            "Top paths",
            &format!("topk(10, sum by (path) (increase(http_path_requests{{{app_only}}}[$__range])))"),
        );
        panels.table(
            "Paths with 5xx answers",
            &format!("topk(10, sum by (path) (increase(http_path_server_errors{{{app_only}}}[$__range])))"),
        );
        panels.geomap(
            "Requests by place",
            &format!("sum by (country, lat, lon) (increase(http_place_requests{{{app_only}}}[$__range]))"),
        );
        let uid = dashboard_uid(&org.slug, "access", &app.slug);
        let title = format!("{} · Access logs", app.name);
        let variables = vec![app_variable(&applications, &app.slug), instance_variable(&datasource)];
        let json = dashboard(&uid, &title, panels, variables, "HTTP statistics from the app's access logs (Vigie)");
        out.push(Dashboard { uid, title, kind: "access", app: Some(app.slug.clone()), json });

        let mut panels = Panels::new(&datasource);
        custom_panels(&mut panels, app);
        let uid = dashboard_uid(&org.slug, "custom", &app.slug);
        let title = format!("{} · Custom metrics", app.name);
        let variables = vec![app_variable(&applications, &app.slug), instance_variable(&datasource)];
        let json = dashboard(&uid, &title, panels, variables, "The app's statsd metrics, a panel each (Vigie)");
        out.push(Dashboard { uid, title, kind: "custom", app: Some(app.slug.clone()), json });
    }

    for addon in &addons {
        let mut panels = Panels::new(&datasource);
        runtime_panels(&mut panels, "app=\"$app\", instance=~\"$instance\"");
        panels.timeseries(
            "Log lines/s by level",
            "short",
            &[("sum by (level) (rate(log_lines{app=\"$app\"}[5m]))", "{{level}}")],
        );
        custom_panels(&mut panels, addon);
        let uid = dashboard_uid(&org.slug, "addon", &addon.slug);
        let title = format!("{} · Add-on", addon.name);
        let variables = vec![app_variable(&addons, &addon.slug), instance_variable(&datasource)];
        let json = dashboard(&uid, &title, panels, variables, "The add-on's instances, logs and metrics (Vigie)");
        out.push(Dashboard { uid, title, kind: "addon", app: Some(addon.slug.clone()), json });
    }

    // Home, with links to all of the above.
    let mut panels = Panels::new(&datasource);
    let mut index = format!("## {}\n\n", markdown_text(&org.name));
    for (heading, kind) in [("Apps", AppKind::Application), ("Add-ons", AppKind::Addon)] {
        let members: Vec<&AppView> = org.apps.iter().filter(|app| app.kind == kind).collect();
        if members.is_empty() {
            continue;
        }
        index.push_str(&format!("### {heading}\n\n"));
        for app in members {
            let links: Vec<String> = out
                .iter()
                .filter(|d| d.app.as_deref() == Some(app.slug.as_str()))
                .map(|d| format!("[{}](/d/{})", markdown_text(d.kind_label()), d.uid))
                .collect();
            index.push_str(&format!("- **{}** (`{}`): {}\n", markdown_text(&app.name), app.slug, links.join(" · ")));
        }
        index.push('\n');
    }
    panels.text("Apps and add-ons", index);
    panels.timeseries("Requests/s by app", "reqps", &[("sum by (app) (rate(http_requests[5m]))", "{{app}}")]);
    panels.timeseries(
        "5xx answers/s by app",
        "reqps",
        &[("sum by (app) (rate(http_requests{status_class=\"5xx\"}[5m]))", "{{app}}")],
    );
    panels.timeseries(
        "Error log lines/s by app",
        "short",
        &[("sum by (app) (rate(log_lines{level=~\"error|fatal\"}[5m]))", "{{app}}")],
    );
    panels.stat("Requests in the range", "short", "sum by (app) (increase(http_requests[$__range]))", "{{app}}");
    let uid = dashboard_uid(&org.slug, "home", "");
    let title = format!("{} · Home", org.name);
    let json = dashboard(&uid, &title, panels, Vec::new(), "The organisation at a glance (Vigie)");
    out.insert(0, Dashboard { uid, title, kind: "home", app: None, json });
    out
}

impl Dashboard {
    fn kind_label(&self) -> &'static str {
        match self.kind {
            "runtime" => "Runtime",
            "access" => "Access logs",
            "custom" => "Custom metrics",
            "addon" => "Add-on",
            _ => "Home",
        }
    }
}

fn runtime_panels(panels: &mut Panels, selector: &str) {
    panels.timeseries("CPU", "percent", &[(&format!("instance_cpu_percent{{{selector}}}"), "{{instance}}")]);
    panels.timeseries(
        "Memory",
        "bytes",
        &[
            (&format!("instance_memory_used_bytes{{{selector}}}"), "{{instance}} used"),
            (&format!("instance_memory_limit_bytes{{{selector}}}"), "{{instance}} limit"),
        ],
    );
    panels.timeseries(
        "Network",
        "Bps",
        &[
            (&format!("rate(instance_net_in_bytes{{{selector}}}[5m])"), "{{instance}} in"),
            (&format!("rate(instance_net_out_bytes{{{selector}}}[5m])"), "{{instance}} out"),
        ],
    );
    panels.timeseries(
        "Disk I/O",
        "Bps",
        &[
            (&format!("rate(instance_disk_read_bytes{{{selector}}}[5m])"), "{{instance}} read"),
            (&format!("rate(instance_disk_write_bytes{{{selector}}}[5m])"), "{{instance}} write"),
        ],
    );
    // Memory left to 90% of the limit over its growth per second, by the
    // trend of the last hour: the seconds before it gets there (only
    // instances whose memory grows).
    let used = format!("instance_memory_used_bytes{{{selector}}}");
    let limit = format!("instance_memory_limit_bytes{{{selector}}}");
    panels.stat(
        "Time before memory reaches 90%",
        "s",
        &format!("(0.9 * {limit} - {used}) / ((predict_linear({used}[1h], 3600) - {used}) / 3600) > 0"),
        "{{instance}}",
    );
}

fn custom_panels(panels: &mut Panels, app: &AppView) {
    let custom: Vec<&(String, MetricType)> =
        app.custom.iter().filter(|(name, _)| !name.starts_with("instance.")).collect();
    if custom.is_empty() {
        panels.text(
            "Custom metrics",
            "No statsd metric from this app yet: send some with the tags `vigie_app` and `vigie_token` \
             (see Vigie's docs/METRICS.md), then reset the dashboards to get a panel each."
                .into(),
        );
    }
    for (name, kind) in custom {
        let metric = metric_name(name);
        let app_label = format!("app={}", promql_string("$app"));
        match kind.shape() {
            Shape::Counter => panels.timeseries(
                name,
                "short",
                &[(&format!("sum(rate({metric}{{{app_label}}}[5m]))"), &format!("{metric}/s"))],
            ),
            Shape::Sampled => {
                panels.timeseries(name, "short", &[(&format!("{metric}{{{app_label}}}"), "{{instance}}")])
            }
            Shape::Summary => panels.timeseries(
                name,
                "short",
                &[(&format!("max by (quantile) ({metric}{{{app_label}}})"), "p{{quantile}}")],
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrgView {
        OrgView {
            slug: "acme".into(),
            name: "Acme [corp](javascript:x)".into(),
            apps: vec![
                AppView {
                    slug: "api".into(),
                    name: "API".into(),
                    kind: AppKind::Application,
                    custom: vec![
                        ("shop.orders".into(), MetricType::Counter),
                        ("instance.cpu_percent".into(), MetricType::Gauge),
                    ],
                },
                AppView { slug: "pg".into(), name: "Postgres".into(), kind: AppKind::Addon, custom: vec![] },
            ],
        }
    }

    #[test]
    fn an_org_gets_home_runtime_access_custom_and_addon_dashboards_with_stable_uids() {
        let dashboards = generate(&org());
        let kinds: Vec<&str> = dashboards.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, ["home", "runtime", "access", "custom", "addon"]);
        assert_eq!(generate(&org()), dashboards, "the same input gives the same dashboards");
        assert!(dashboards.iter().all(|d| d.uid.len() <= 40 && d.json["uid"] == d.uid.as_str()));
        let custom = &dashboards[3].json;
        assert_eq!(custom["panels"].as_array().unwrap().len(), 1, "instance metrics are not custom");
        assert_eq!(custom["panels"][0]["targets"][0]["expr"], "sum(rate(shop_orders{app=\"$app\"}[5m]))");
    }

    #[test]
    fn user_text_stays_text_in_markdown() {
        let home = &generate(&org())[0].json;
        let content = home["panels"][0]["options"]["content"].as_str().unwrap();
        assert!(content.contains(r"Acme \[corp\]\(javascript:x\)"), "{content}");
    }
}
