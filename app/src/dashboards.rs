//! What the dashboards read and how it becomes charts (server side only):
//! the server functions in `api.rs` call these with the viewer already
//! checked. Reads go through the stats port; drawing is
//! [`components::chart::draw`](crate::components::chart::draw).

use crate::components::chart::draw::{chart_view, ChartSpec, Line, Scale};
use crate::model::{
    group_thousands, url_encode, AppSummary, ChartView, Choice, CountLink, HttpPage, MetricsPage, OrgSummary, PathRow,
    PickedMetric, CHART_RANGES, HTTP_RANGES,
};
use crate::port::PortError;
use crate::stats_port::{
    HttpRequest, HttpSummary, MetricSummary, SeriesLines, SeriesRequest, SharedStatsPort, StatsRefusal,
};

/// The tag that names an instance in instance reports.
const INSTANCE_TAG: &str = "instance";

/// A server-metrics chart: which metric, drawn how.
struct InstanceChart {
    metric: &'static str,
    title: &'static str,
    /// `CPU %` in `CPU % per instance, last 24 h`.
    what: &'static str,
    aggregation: &'static str,
    unit: &'static str,
    divisor: f64,
    /// A second metric drawn faint beside each line (the memory limit).
    beside: Option<(&'static str, &'static str)>,
}

/// The server-metrics page's charts, in order.
const INSTANCE_CHARTS: [InstanceChart; 6] = [
    InstanceChart {
        metric: "instance.cpu_percent",
        title: "CPU %",
        what: "CPU % (100 = one core)",
        aggregation: "avg",
        unit: "%",
        divisor: 1.0,
        beside: None,
    },
    InstanceChart {
        metric: "instance.memory_used_bytes",
        title: "Memory used against limit (MB)",
        what: "Memory used against limit, MB,",
        aggregation: "avg",
        unit: "MB",
        divisor: 1e6,
        beside: Some(("instance.memory_limit_bytes", "max")),
    },
    InstanceChart {
        metric: "instance.net_in_bytes",
        title: "Network in (kB/s)",
        what: "Network in, kB/s,",
        aggregation: "rate",
        unit: "kB/s",
        divisor: 1e3,
        beside: None,
    },
    InstanceChart {
        metric: "instance.net_out_bytes",
        title: "Network out (kB/s)",
        what: "Network out, kB/s,",
        aggregation: "rate",
        unit: "kB/s",
        divisor: 1e3,
        beside: None,
    },
    InstanceChart {
        metric: "instance.disk_read_bytes",
        title: "Disk read (kB/s)",
        what: "Disk read, kB/s,",
        aggregation: "rate",
        unit: "kB/s",
        divisor: 1e3,
        beside: None,
    },
    InstanceChart {
        metric: "instance.disk_write_bytes",
        title: "Disk write (kB/s)",
        what: "Disk write, kB/s,",
        aggregation: "rate",
        unit: "kB/s",
        divisor: 1e3,
        beside: None,
    },
];

/// The view the metrics page's URL asks for, as typed.
#[derive(Clone, Debug, Default)]
pub struct MetricsAsk {
    pub range: String,
    pub metric: String,
    pub aggregation: String,
    pub group_by: String,
}

impl MetricsAsk {
    /// The page's URL with these parameters (empty ones left out).
    fn href(&self, base: &str) -> String {
        let params: Vec<String> = [
            ("range", &self.range),
            ("metric", &self.metric),
            ("aggregation", &self.aggregation),
            ("group_by", &self.group_by),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", url_encode(value)))
        .collect();
        if params.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", params.join("&"))
        }
    }
}

/// A range's length in ms, if it is one the dashboards offer.
pub fn range_ms(range: &str) -> Option<i64> {
    match range {
        "1h" => Some(3_600_000),
        "6h" => Some(6 * 3_600_000),
        "24h" => Some(86_400_000),
        "2d" => Some(2 * 86_400_000),
        "7d" => Some(7 * 86_400_000),
        "30d" => Some(30 * 86_400_000),
        _ => None,
    }
}

fn range_label(range: &str) -> String {
    match range {
        "1h" => "last 1 h".into(),
        "6h" => "last 6 h".into(),
        "24h" => "last 24 h".into(),
        "2d" => "last 2 days".into(),
        "7d" => "last 7 days".into(),
        "30d" => "last 30 days".into(),
        other => format!("range {other}"),
    }
}

/// The metrics page of `app`, `None` when the org has no such app.
pub async fn metrics_page(
    org: OrgSummary,
    app: AppSummary,
    stats: SharedStatsPort,
    ask: MetricsAsk,
    now_ms: i64,
) -> Result<Option<MetricsPage>, PortError> {
    let base = format!("/orgs/{}/apps/{}/metrics", org.slug, app.slug);
    let range = if ask.range.is_empty() { crate::model::DEFAULT_CHART_RANGE.to_string() } else { ask.range.clone() };
    let ranges = CHART_RANGES
        .iter()
        .map(|choice| Choice {
            label: choice.to_string(),
            href: MetricsAsk { range: choice.to_string(), ..ask.clone() }.href(&base),
            current: *choice == range,
        })
        .collect();
    let Some(metrics) = stats.metrics(org.slug.clone(), app.slug.clone()).await? else { return Ok(None) };
    let custom_metrics = metrics
        .iter()
        .filter(|metric| !metric.name.starts_with("instance."))
        .map(|metric| Choice {
            label: metric.name.clone(),
            href: MetricsAsk { range: ask.range.clone(), metric: metric.name.clone(), ..MetricsAsk::default() }
                .href(&base),
            current: metric.name == ask.metric,
        })
        .collect();
    let mut page = MetricsPage {
        range_label: range_label(&range),
        org,
        app,
        ranges,
        problem: None,
        server_charts: Vec::new(),
        custom_metrics,
        picked: None,
    };
    let Some(span_ms) = range_ms(&range) else {
        page.problem = Some(format!("range: \"{range}\" is none of {}", CHART_RANGES.join(", ")));
        return Ok(Some(page));
    };
    let (from_ms, to_ms) = (now_ms - span_ms, now_ms);
    let window = Window { org: &page.org.slug, app: &page.app.slug, from_ms, to_ms, label: &page.range_label };
    for chart in &INSTANCE_CHARTS {
        if metrics.iter().any(|metric| metric.name == chart.metric) {
            page.server_charts.push(instance_chart(&stats, &window, chart).await?);
        }
    }
    if !ask.metric.is_empty() {
        page.picked = Some(picked_metric(&stats, &window, &metrics, &ask, &base).await?);
    }
    Ok(Some(page))
}

/// What every chart of a page shares.
struct Window<'a> {
    org: &'a str,
    app: &'a str,
    from_ms: i64,
    to_ms: i64,
    label: &'a str,
}

impl Window<'_> {
    async fn read(
        &self,
        stats: &SharedStatsPort,
        name: &str,
        aggregation: Option<&str>,
        group_by: &[&str],
    ) -> Result<SeriesLines, StatsRefusal> {
        let request = SeriesRequest {
            name: name.to_string(),
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            step_ms: None,
            aggregation: aggregation.map(str::to_string),
            group_by: group_by.iter().map(|tag| tag.to_string()).collect(),
        };
        stats.series(self.org.to_string(), self.app.to_string(), request).await
    }
}

fn refusal_to_port(refusal: StatsRefusal) -> PortError {
    match refusal {
        StatsRefusal::Failed(error) => error,
        other => PortError(other.to_string()),
    }
}

/// A line's name: its group's tag values (`api-1`), or `fallback` without groups.
fn line_label(tags: &[(String, String)], fallback: &str) -> String {
    if tags.is_empty() {
        return fallback.to_string();
    }
    let values: Vec<String> =
        tags.iter().map(|(tag, value)| if value.is_empty() { format!("(no {tag})") } else { value.clone() }).collect();
    values.join(", ")
}

fn step_words(step_ms: i64) -> String {
    match step_ms {
        ms if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms => format!("{} s", ms / 1_000),
    }
}

async fn instance_chart(
    stats: &SharedStatsPort,
    window: &Window<'_>,
    chart: &InstanceChart,
) -> Result<ChartView, PortError> {
    let used =
        window.read(stats, chart.metric, Some(chart.aggregation), &[INSTANCE_TAG]).await.map_err(refusal_to_port)?;
    let beside = match chart.beside {
        Some((metric, aggregation)) => match window.read(stats, metric, Some(aggregation), &[INSTANCE_TAG]).await {
            Ok(lines) => Some(lines),
            Err(StatsRefusal::NoSuchMetric(_)) => None,
            Err(refusal) => return Err(refusal_to_port(refusal)),
        },
        None => None,
    };
    let mut lines = Vec::new();
    for line in used.lines {
        let label = line_label(&line.tags, chart.metric);
        let limit = beside.as_ref().and_then(|beside| beside.lines.iter().find(|other| other.tags == line.tags));
        lines.push(Line { label: label.clone(), points: line.points, faint: false, colour: None });
        if let Some(limit) = limit {
            lines.push(Line {
                label: format!("{label} limit"),
                points: limit.points.clone(),
                faint: true,
                colour: None,
            });
        }
    }
    let spec = ChartSpec {
        id: chart.metric.to_string(),
        title: chart.title.to_string(),
        summary_head: format!("{} per instance, {}", chart.what, window.label),
        caption: format!(
            "{}: {} per {} step, in {}",
            chart.metric,
            used.aggregation,
            step_words(used.step_ms),
            chart.unit
        ),
        from_ms: used.from_ms,
        to_ms: used.to_ms,
        scale: Scale { divisor: chart.divisor },
        stacked: false,
    };
    Ok(chart_view(spec, &lines))
}

async fn picked_metric(
    stats: &SharedStatsPort,
    window: &Window<'_>,
    metrics: &[MetricSummary],
    ask: &MetricsAsk,
    base: &str,
) -> Result<PickedMetric, PortError> {
    let Some(metric) = metrics.iter().find(|metric| metric.name == ask.metric) else {
        return Ok(PickedMetric {
            name: ask.metric.clone(),
            kind: String::new(),
            aggregations: Vec::new(),
            group_bys: Vec::new(),
            problem: Some(format!("metric: this app has no metric \"{}\"", ask.metric)),
            chart: None,
        });
    };
    let aggregation = if ask.aggregation.is_empty() {
        metric.aggregations.first().cloned().unwrap_or_default()
    } else {
        ask.aggregation.clone()
    };
    let aggregations = metric
        .aggregations
        .iter()
        .map(|choice| Choice {
            label: choice.clone(),
            href: MetricsAsk { aggregation: choice.clone(), ..ask.clone() }.href(base),
            current: *choice == aggregation,
        })
        .collect();
    let group_bys = std::iter::once(String::new())
        .chain(metric.tags.iter().cloned())
        .map(|tag| Choice {
            label: if tag.is_empty() { "none".to_string() } else { tag.clone() },
            href: MetricsAsk { group_by: tag.clone(), ..ask.clone() }.href(base),
            current: tag == ask.group_by,
        })
        .collect();
    let mut picked = PickedMetric {
        name: metric.name.clone(),
        kind: metric.kind.clone(),
        aggregations,
        group_bys,
        problem: None,
        chart: None,
    };
    if !metric.aggregations.contains(&aggregation) {
        picked.problem = Some(format!(
            "aggregation: a {} gives {}, not \"{aggregation}\"",
            metric.kind,
            metric.aggregations.join(", ")
        ));
        return Ok(picked);
    }
    if !ask.group_by.is_empty() && !metric.tags.contains(&ask.group_by) {
        picked.problem = Some(format!("group_by: \"{}\" has no tag \"{}\"", metric.name, ask.group_by));
        return Ok(picked);
    }
    let group_by: Vec<&str> = if ask.group_by.is_empty() { Vec::new() } else { vec![ask.group_by.as_str()] };
    let answer = match window.read(stats, &metric.name, Some(&aggregation), &group_by).await {
        Ok(answer) => answer,
        Err(StatsRefusal::BadQuery(message)) => {
            picked.problem = Some(message);
            return Ok(picked);
        }
        Err(refusal) => return Err(refusal_to_port(refusal)),
    };
    let lines: Vec<Line> = answer
        .lines
        .into_iter()
        .map(|line| Line {
            label: line_label(&line.tags, &metric.name),
            points: line.points,
            faint: false,
            colour: None,
        })
        .collect();
    let by = if ask.group_by.is_empty() { String::new() } else { format!(" by {}", ask.group_by) };
    let spec = ChartSpec {
        id: metric.name.clone(),
        title: format!("{} ({}{by})", metric.name, answer.aggregation),
        summary_head: format!("{} {}{by}, {}", metric.name, answer.aggregation, window.label),
        caption: format!("{}: {} per {} step", metric.name, answer.aggregation, step_words(answer.step_ms)),
        from_ms: answer.from_ms,
        to_ms: answer.to_ms,
        scale: Scale::ONE,
        stacked: false,
    };
    picked.chart = Some(chart_view(spec, &lines));
    Ok(picked)
}

/// The status classes, as the access-log filter names them, with their colours.
const STATUS_CLASSES: [(&str, &str); 5] =
    [("1xx", "#8b6bd6"), ("2xx", "#1f9d6b"), ("3xx", "#3b7ddd"), ("4xx", "#d08a00"), ("5xx", "#d64545")];

/// How many paths the HTTP page lists.
pub const TOP_PATHS: usize = 20;

/// A link to the app's access logs over the last `range`, filtered by `q`.
fn access_logs_href(org: &str, app: &str, range: &str, q: &str) -> String {
    format!("/orgs/{org}/apps/{app}/logs?kind=access&q={}&since={}", url_encode(q), url_encode(range))
}

/// A path as a filter term: quoted, with quotes and backslashes escaped.
fn path_term(path: &str) -> String {
    format!("path:\"{}\"", path.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The HTTP statistics page of `app` over `range` (`1h` … `2d`, default 24 h).
pub async fn http_page(
    org: OrgSummary,
    app: AppSummary,
    stats: SharedStatsPort,
    range: String,
    now_ms: i64,
) -> Result<HttpPage, PortError> {
    let base = format!("/orgs/{}/apps/{}/http", org.slug, app.slug);
    let range = if range.is_empty() { crate::model::DEFAULT_CHART_RANGE.to_string() } else { range };
    let ranges = HTTP_RANGES
        .iter()
        .map(|choice| Choice {
            label: choice.to_string(),
            href: format!("{base}?range={choice}"),
            current: *choice == range,
        })
        .collect();
    let mut page = HttpPage {
        range_label: range_label(&range),
        org,
        app,
        ranges,
        problem: None,
        total_requests: String::new(),
        charts: Vec::new(),
        status_links: Vec::new(),
        top_paths: Vec::new(),
    };
    let Some(span_ms) = range_ms(&range).filter(|_| HTTP_RANGES.contains(&range.as_str())) else {
        page.problem =
            Some(format!("range: \"{range}\" is none of {} (HTTP statistics are kept 2 days)", HTTP_RANGES.join(", ")));
        return Ok(page);
    };
    let request = HttpRequest { from_ms: now_ms - span_ms, to_ms: now_ms, top: TOP_PATHS };
    let summary = stats.http(page.org.slug.clone(), page.app.slug.clone(), request).await.map_err(refusal_to_port)?;
    let (org_slug, app_slug) = (page.org.slug.clone(), page.app.slug.clone());
    page.total_requests = group_thousands(summary.total.requests);
    page.status_links = STATUS_CLASSES
        .iter()
        .enumerate()
        .filter(|(class, _)| *class > 0 || summary.total.status[0] > 0)
        .map(|(class, (label, _))| CountLink {
            label: label.to_string(),
            count: group_thousands(summary.total.status[class]),
            href: access_logs_href(&org_slug, &app_slug, &range, &format!("status:{label}")),
        })
        .collect();
    page.top_paths = summary
        .top_paths
        .iter()
        .map(|path| PathRow {
            path: path.path.clone(),
            href: (path.path != "(other paths)")
                .then(|| access_logs_href(&org_slug, &app_slug, &range, &path_term(&path.path))),
            requests: group_thousands(path.requests),
            error_rate: format!("{:.1} %", path.server_errors as f64 * 100.0 / path.requests.max(1) as f64),
        })
        .collect();
    page.charts = http_charts(&summary, &page.range_label);
    Ok(page)
}

fn http_charts(summary: &HttpSummary, range_label: &str) -> Vec<ChartView> {
    let step_s = summary.step_ms as f64 / 1_000.0;
    let step = step_words(summary.step_ms);
    let spec = |id: &str, title: &str, what: &str, caption: String, divisor: f64, stacked: bool| ChartSpec {
        id: id.to_string(),
        title: title.to_string(),
        summary_head: format!("{what}, {range_label}"),
        caption,
        from_ms: summary.from_ms,
        to_ms: summary.to_ms,
        scale: Scale { divisor },
        stacked,
    };
    let with_1xx = summary.total.status[0] > 0;
    let requests: Vec<Line> = STATUS_CLASSES
        .iter()
        .enumerate()
        .filter(|(class, _)| *class > 0 || with_1xx)
        .map(|(class, (label, colour))| Line {
            label: label.to_string(),
            points: summary.steps.iter().map(|step| (step.ts_ms, step.status[class] as f64 / step_s)).collect(),
            faint: false,
            colour: Some(colour),
        })
        .collect();
    let latency: Vec<Line> = ["p50", "p95", "p99"]
        .iter()
        .enumerate()
        .map(|(at, label)| Line {
            label: label.to_string(),
            points: summary.steps.iter().filter_map(|step| step.latency_ms[at].map(|ms| (step.ts_ms, ms))).collect(),
            faint: false,
            colour: None,
        })
        .collect();
    let bytes = [Line {
        label: "bytes out".to_string(),
        points: summary.steps.iter().map(|step| (step.ts_ms, step.bytes_out as f64 / step_s)).collect(),
        faint: false,
        colour: None,
    }];
    vec![
        chart_view(
            spec(
                "http.requests",
                "Requests per second by status class",
                "Requests per second by status class, stacked",
                format!("requests per second in each {step} step, by status class"),
                1.0,
                true,
            ),
            &requests,
        ),
        chart_view(
            spec(
                "http.latency",
                "Latency (ms)",
                "Latency percentiles in ms",
                format!("latency percentiles of each {step} step, in ms"),
                1.0,
                false,
            ),
            &latency,
        ),
        chart_view(
            spec(
                "http.bytes_out",
                "Bytes out (kB/s)",
                "Bytes sent per second, kB/s",
                format!("bytes sent per second in each {step} step, in kB/s"),
                1e3,
                false,
            ),
            &bytes,
        ),
    ]
}
