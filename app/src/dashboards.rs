//! What the dashboards read and how it becomes charts (server side only):
//! the server functions in `api.rs` call these with the viewer already
//! checked. Reads go through the stats port; drawing is
//! [`components::chart::draw`](crate::components::chart::draw).

use crate::components::chart::draw::{chart_view, ChartSpec, Line, Scale};
use crate::model::{
    clock_utc, day_utc, group_thousands, url_encode, AppSparklines, AppSummary, ChartView, Choice, CountLink,
    ErrorLine, HttpPage, MapPage, MapView, MetricsPage, OrgSummary, OverviewPage, PathRow, PickedMetric, CHART_RANGES,
    HTTP_RANGES, MAP_MODES,
};
use crate::port::PortError;
use crate::stats_port::{
    HttpRequest, HttpSummary, MetricSummary, PlaceStats, SeriesLines, SeriesRequest, SharedStatsPort, StatsRefusal,
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

pub use crate::model::MetricsAsk;

trait AskHref {
    fn href(&self, base: &str) -> String;
}

impl AskHref for MetricsAsk {
    /// The page's URL with these parameters (empty ones left out).
    fn href(&self, base: &str) -> String {
        let params: Vec<String> = [
            ("range", &self.range),
            ("from", &self.from),
            ("to", &self.to),
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

/// The time a dashboard shows: a range back from now (then it follows
/// new points live) or a custom one.
pub struct Span {
    pub from_ms: i64,
    pub to_ms: i64,
    pub label: String,
    pub live: bool,
}

/// The longest custom range, in ms.
const LONGEST_SPAN_MS: i64 = 31 * 86_400_000;

/// The span a dashboard's URL asks for: `from`/`to` (RFC 3339) when given,
/// else `range` among `offered` (or `24h`); the error says what is wrong.
pub fn span_of(range: &str, from: &str, to: &str, offered: &[&str], now_ms: i64) -> Result<Span, String> {
    if from.is_empty() && to.is_empty() {
        let range = if range.is_empty() { crate::model::DEFAULT_CHART_RANGE } else { range };
        return match range_ms(range).filter(|_| offered.contains(&range)) {
            Some(span_ms) => {
                Ok(Span { from_ms: now_ms - span_ms, to_ms: now_ms, label: range_label(range), live: true })
            }
            None => Err(format!("range: \"{range}\" is none of {}", offered.join(", "))),
        };
    }
    let parse = |name: &str, text: &str| {
        let text = text.trim();
        // A date-time picker's `2026-11-25T14:00` (or with seconds) is read as UTC.
        let full = match text.len() {
            16 => format!("{text}:00Z"),
            19 => format!("{text}Z"),
            _ => text.to_string(),
        };
        time::OffsetDateTime::parse(&full, &time::format_description::well_known::Rfc3339)
            .map(|time| (time.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|_| format!("{name}: \"{text}\" is not an RFC 3339 time such as 2026-11-25T14:00:00Z"))
    };
    let from_ms = parse("from", from)?;
    let to_ms = if to.is_empty() { now_ms } else { parse("to", to)? };
    if to_ms - from_ms < 60_000 {
        return Err("from: the range must be at least a minute long, from before to".to_string());
    }
    if to_ms - from_ms > LONGEST_SPAN_MS {
        return Err("from: a range is at most 31 days long".to_string());
    }
    let (from_ns, to_ns) = (from_ms * 1_000_000, to_ms * 1_000_000);
    let to_day = if day_utc(from_ns) == day_utc(to_ns) { String::new() } else { format!("{} ", day_utc(to_ns)) };
    let label = format!("{} {} to {to_day}{}", day_utc(from_ns), &clock_utc(from_ns)[..5], &clock_utc(to_ns)[..5]);
    Ok(Span { from_ms, to_ms, label, live: false })
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
    let custom = !ask.from.is_empty() || !ask.to.is_empty();
    let range = if ask.range.is_empty() { crate::model::DEFAULT_CHART_RANGE.to_string() } else { ask.range.clone() };
    let ranges = CHART_RANGES
        .iter()
        .map(|choice| Choice {
            label: choice.to_string(),
            href: MetricsAsk { range: choice.to_string(), from: String::new(), to: String::new(), ..ask.clone() }
                .href(&base),
            current: !custom && *choice == range,
        })
        .collect();
    let Some(metrics) = stats.metrics(org.slug.clone(), app.slug.clone()).await? else { return Ok(None) };
    let custom_metrics = metrics
        .iter()
        .filter(|metric| !metric.name.starts_with("instance."))
        .map(|metric| Choice {
            label: metric.name.clone(),
            href: MetricsAsk {
                range: ask.range.clone(),
                from: ask.from.clone(),
                to: ask.to.clone(),
                metric: metric.name.clone(),
                ..MetricsAsk::default()
            }
            .href(&base),
            current: metric.name == ask.metric,
        })
        .collect();
    let span = span_of(&ask.range, &ask.from, &ask.to, &CHART_RANGES, now_ms);
    let mut page = MetricsPage {
        range_label: span.as_ref().map(|span| span.label.clone()).unwrap_or_default(),
        live: span.as_ref().is_ok_and(|span| span.live),
        org,
        app,
        ranges,
        problem: None,
        server_charts: Vec::new(),
        custom_metrics,
        picked: None,
    };
    let span = match span {
        Ok(span) => span,
        Err(problem) => {
            page.problem = Some(problem);
            return Ok(Some(page));
        }
    };
    let (from_ms, to_ms) = (span.from_ms, span.to_ms);
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
        zoom: None,
        // The instance's service logs at the minute clicked.
        click: Some(format!(
            "/orgs/{}/apps/{}/logs?q=instance%3A%22{{series}}%22&since={{since}}&until={{until}}",
            window.org, window.app
        )),
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
        click: None,
        zoom: None,
    };
    picked.chart = Some(chart_view(spec, &lines));
    Ok(picked)
}

/// The status classes, as the access-log filter names them, with their colours.
const STATUS_CLASSES: [(&str, &str); 5] =
    [("1xx", "#8b6bd6"), ("2xx", "#1f9d6b"), ("3xx", "#3b7ddd"), ("4xx", "#d08a00"), ("5xx", "#d64545")];

/// How many paths the HTTP page lists.
pub const TOP_PATHS: usize = 20;

/// A link to the app's access logs over a span, filtered by `q`.
fn access_logs_href(org: &str, app: &str, (since, until): (&str, &str), q: &str) -> String {
    let until = if until.is_empty() { String::new() } else { format!("&until={}", url_encode(until)) };
    format!("/orgs/{org}/apps/{app}/logs?kind=access&q={}&since={}{until}", url_encode(q), url_encode(since))
}

/// A span as the logs page's `since` and `until` write it.
fn logs_bounds(span: &Span, range: &str) -> (String, String) {
    if span.live {
        let range = if range.is_empty() { crate::model::DEFAULT_CHART_RANGE } else { range };
        (range.to_string(), String::new())
    } else {
        (crate::model::rfc3339_utc(span.from_ms), crate::model::rfc3339_utc(span.to_ms))
    }
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
    (range, from, to): (String, String, String),
    now_ms: i64,
) -> Result<HttpPage, PortError> {
    let base = format!("/orgs/{}/apps/{}/http", org.slug, app.slug);
    let custom = !from.is_empty() || !to.is_empty();
    let shown = if range.is_empty() { crate::model::DEFAULT_CHART_RANGE } else { range.as_str() };
    let ranges = HTTP_RANGES
        .iter()
        .map(|choice| Choice {
            label: choice.to_string(),
            href: format!("{base}?range={choice}"),
            current: !custom && *choice == shown,
        })
        .collect();
    let span = span_of(&range, &from, &to, &HTTP_RANGES, now_ms).and_then(|span| {
        if span.to_ms - span.from_ms > 2 * 86_400_000 {
            Err("from: HTTP statistics are kept 2 days: pick a shorter range".to_string())
        } else {
            Ok(span)
        }
    });
    let mut page = HttpPage {
        range_label: span.as_ref().map(|span| span.label.clone()).unwrap_or_default(),
        live: span.as_ref().is_ok_and(|span| span.live),
        org,
        app,
        ranges,
        problem: None,
        total_requests: String::new(),
        charts: Vec::new(),
        status_links: Vec::new(),
        top_paths: Vec::new(),
    };
    let span = match span {
        Ok(span) => span,
        Err(problem) => {
            page.problem = Some(format!("{problem} (HTTP statistics are kept 2 days)"));
            return Ok(page);
        }
    };
    let (since, until) = logs_bounds(&span, &range);
    let bounds = (since.as_str(), until.as_str());
    let request = HttpRequest { from_ms: span.from_ms, to_ms: span.to_ms, step_ms: None, top: TOP_PATHS };
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
            href: access_logs_href(&org_slug, &app_slug, bounds, &format!("status:{label}")),
        })
        .collect();
    page.top_paths = summary
        .top_paths
        .iter()
        .map(|path| PathRow {
            path: path.path.clone(),
            href: (path.path != "(other paths)")
                .then(|| access_logs_href(&org_slug, &app_slug, bounds, &path_term(&path.path))),
            requests: group_thousands(path.requests),
            error_rate: format!("{:.1} %", path.server_errors as f64 * 100.0 / path.requests.max(1) as f64),
            p99: path.p99_ms.map_or_else(|| "–".to_string(), |ms| format!("{} ms", Scale::ONE.show(ms))),
        })
        .collect();
    page.charts = http_charts(&summary, &page.range_label, &org_slug, &app_slug, false);
    Ok(page)
}

/// The HTTP page's charts; with `per_hour`, requests are shown per hour
/// (their exact values stay per second, as the Stats API gives them).
fn http_charts(summary: &HttpSummary, range_label: &str, org: &str, app: &str, per_hour: bool) -> Vec<ChartView> {
    let (per, per_divisor) = if per_hour { ("hour", 1.0 / 3_600.0) } else { ("second", 1.0) };
    let step_s = summary.step_ms as f64 / 1_000.0;
    let step = step_words(summary.step_ms);
    // The access logs of the minute clicked; of its status class on the requests chart.
    let minute = format!("/orgs/{org}/apps/{app}/logs?kind=access&since={{since}}&until={{until}}");
    let spec = |id: &str, title: &str, what: &str, caption: String, divisor: f64, stacked: bool| ChartSpec {
        click: Some(if stacked { format!("{minute}&q=status%3A{{series}}") } else { minute.clone() }),
        zoom: None,
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
                &format!("Requests per {per} by status class"),
                &format!("Requests per {per} by status class, stacked"),
                format!("requests per {per} in each {step} step, by status class"),
                per_divisor,
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

/// XML text and attribute escaping for markup written here rather than by Leptos.
fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The outline of a country by its ISO code, as `public/world.svg` draws
/// it (an SVG path's `d`), read once on the server; the bundle has none.
#[cfg(feature = "ssr")]
fn country_outline(code: &str) -> Option<&'static str> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static OUTLINES: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    let outlines = OUTLINES.get_or_init(|| {
        include_str!("../../public/world.svg")
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("<path data-cc=\"")?;
                let (code, rest) = rest.split_once('"')?;
                let d = rest.strip_prefix(" d=\"")?.split_once('"')?.0;
                Some((code, d))
            })
            .collect()
    });
    outlines.get(code).copied()
}

#[cfg(not(feature = "ssr"))]
fn country_outline(_code: &str) -> Option<&'static str> {
    None
}

/// Most cells a map draws (places come most requested first).
const MAP_CELLS: usize = 2_000;
/// How many countries a map lists.
const MAP_COUNTRIES: usize = 12;

/// The request map of `places`: a circle per 1° cell sized and shaded by
/// its share of the busiest cell, each a link to the access logs of its
/// country over `bounds`, with its counts as a tooltip.
pub fn map_view(places: &[PlaceStats], org: &str, app: &str, bounds: (&str, &str), what: &str) -> MapView {
    use std::fmt::Write;
    let busiest = places.iter().map(|place| place.requests).max().unwrap_or(0).max(1) as f64;
    let mut cells_svg = String::new();
    for place in places.iter().take(MAP_CELLS) {
        let share = place.requests as f64 / busiest;
        let country = escape_xml(&place.country);
        let href = escape_xml(&access_logs_href(org, app, bounds, &format!("country:{}", place.country)));
        let _ = write!(
            cells_svg,
            "<a href=\"{href}\" data-country=\"{country}\" data-lat=\"{}\" data-lon=\"{}\" data-requests=\"{}\">\
             <title>{country} {:.1}, {:.1}: {} requests</title>\
             <circle class=\"map-cell\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{:.2}\" fill-opacity=\"{:.2}\"/></a>",
            place.lat,
            place.lon,
            place.requests,
            place.lat,
            place.lon,
            group_thousands(place.requests),
            place.lon + 180.0,
            90.0 - place.lat,
            0.7 + 3.3 * share.sqrt(),
            0.35 + 0.55 * share,
        );
    }
    let mut by_country: Vec<(String, u64)> = Vec::new();
    for place in places {
        match by_country.iter_mut().find(|(country, _)| *country == place.country) {
            Some((_, requests)) => *requests += place.requests,
            None => by_country.push((place.country.clone(), place.requests)),
        }
    }
    by_country.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    // Under the cells, each country with requests is its own outline: a
    // link to its access logs, its total as a tooltip. Only codes the
    // outlines know are drawn, so a producer's text never becomes a shape.
    let mut outlines = String::new();
    for (country, requests) in &by_country {
        let Some(outline) = country_outline(country) else { continue };
        let href = escape_xml(&access_logs_href(org, app, bounds, &format!("country:{country}")));
        let _ = write!(
            outlines,
            "<a href=\"{href}\" class=\"map-country-link\" data-country=\"{country}\">\
             <title>{country}: {} requests</title>\
             <path class=\"map-country\" d=\"{outline}\"/></a>",
            group_thousands(*requests),
        );
    }
    cells_svg.insert_str(0, &outlines);
    let placed: u64 = by_country.iter().map(|(_, requests)| requests).sum();
    let countries: Vec<CountLink> = by_country
        .iter()
        .take(MAP_COUNTRIES)
        .map(|(country, requests)| CountLink {
            label: country.clone(),
            count: group_thousands(*requests),
            href: access_logs_href(org, app, bounds, &format!("country:{country}")),
        })
        .collect();
    let summary = if countries.is_empty() {
        format!("Map of {what}: no request placed")
    } else {
        let most: Vec<String> =
            countries.iter().take(3).map(|country| format!("{} {}", country.label, country.count)).collect();
        format!("Map of {what}: {} requests placed, most from {}", group_thousands(placed), most.join(", "))
    };
    MapView { cells_svg, countries, placed: group_thousands(placed), summary, credit: None }
}

/// The request map page: the last 24 h as a heatmap, or realtime (the
/// page draws each request as it comes; the heatmap stays beneath).
pub async fn map_page(
    org: OrgSummary,
    app: AppSummary,
    stats: SharedStatsPort,
    mode: String,
    now_ms: i64,
) -> Result<MapPage, PortError> {
    let mode = if mode.is_empty() { MAP_MODES[0].to_string() } else { mode };
    let base = format!("/orgs/{}/apps/{}/map", org.slug, app.slug);
    let modes = MAP_MODES
        .iter()
        .map(|choice| Choice {
            label: if *choice == "24h" { "Last 24 h".to_string() } else { "Realtime".to_string() },
            href: format!("{base}?mode={choice}"),
            current: *choice == mode,
        })
        .collect();
    let empty = MapView {
        cells_svg: String::new(),
        countries: Vec::new(),
        placed: "0".into(),
        summary: String::new(),
        credit: None,
    };
    let mut page = MapPage { org, app, mode: mode.clone(), modes, problem: None, map: empty };
    if !MAP_MODES.contains(&mode.as_str()) {
        page.problem = Some(format!("mode: \"{mode}\" is none of {}", MAP_MODES.join(", ")));
        return Ok(page);
    }
    let request = HttpRequest { from_ms: now_ms - 86_400_000, to_ms: now_ms, step_ms: Some(86_400_000), top: 0 };
    let summary = stats.http(page.org.slug.clone(), page.app.slug.clone(), request).await.map_err(refusal_to_port)?;
    page.map = map_view(&summary.places, &page.org.slug, &page.app.slug, ("24h", ""), "the last 24 h's requests");
    page.map.credit = stats.places_credit();
    Ok(page)
}

/// How many error lines the overview reads, and shows.
const OVERVIEW_ERRORS_READ: usize = 200;
const OVERVIEW_ERRORS_SHOWN: usize = 8;

/// An app's overview: the last 24 h at a glance, each tile linking to its page.
pub async fn overview_page(
    org: OrgSummary,
    app: AppSummary,
    stats: SharedStatsPort,
    console: crate::port::SharedConsolePort,
    now_ms: i64,
) -> Result<OverviewPage, PortError> {
    let (org_slug, app_slug) = (org.slug.clone(), app.slug.clone());
    let label = range_label("24h");
    let window = Window { org: &org_slug, app: &app_slug, from_ms: now_ms - 86_400_000, to_ms: now_ms, label: &label };
    let metrics = stats.metrics(org_slug.clone(), app_slug.clone()).await?.unwrap_or_default();
    // Every read below at once: each runs on a blocking thread of its own.
    let charts = futures::future::try_join_all(
        INSTANCE_CHARTS
            .iter()
            .take(2)
            .filter(|chart| metrics.iter().any(|metric| metric.name == chart.metric))
            .map(|chart| instance_chart(&stats, &window, chart)),
    );
    let day = HttpRequest { from_ms: now_ms - 86_400_000, to_ms: now_ms, step_ms: Some(3_600_000), top: 0 };
    let summary = async { stats.http(org_slug.clone(), app_slug.clone(), day).await.map_err(refusal_to_port) };
    // Requests per second over the last whole minute.
    let minute_end = now_ms.div_euclid(60_000) * 60_000;
    let last_minute = HttpRequest { from_ms: minute_end - 60_000, to_ms: minute_end, step_ms: Some(60_000), top: 0 };
    let recent = async { stats.http(org_slug.clone(), app_slug.clone(), last_minute).await.map_err(refusal_to_port) };
    let errors_view = crate::model::LogView {
        kind: crate::model::ViewKind::Service,
        q: "level>=error".to_string(),
        since: "1h".to_string(),
        until: String::new(),
        cols: String::new(),
    };
    let errors_href = format!("/orgs/{org_slug}/apps/{app_slug}/logs{}", errors_view.to_query());
    let error_page = console.log_page(org_slug.clone(), app_slug.clone(), errors_view, OVERVIEW_ERRORS_READ);
    let (server_charts, summary, recent, error_page) = futures::try_join!(charts, summary, recent, error_page)?;
    let bounds = ("24h", "");
    let status_links = STATUS_CLASSES
        .iter()
        .enumerate()
        .filter(|(class, _)| *class > 0 || summary.total.status[0] > 0)
        .map(|(class, (label, _))| CountLink {
            label: label.to_string(),
            count: group_thousands(summary.total.status[class]),
            href: access_logs_href(&org_slug, &app_slug, bounds, &format!("status:{label}")),
        })
        .collect();
    let http_href = format!("/orgs/{org_slug}/apps/{app_slug}/http?range=24h");
    let latency = ["p50", "p95", "p99"]
        .iter()
        .zip(summary.total.latency_ms)
        .map(|(label, ms)| CountLink {
            label: label.to_string(),
            count: ms.map_or_else(|| "–".to_string(), |ms| format!("{} ms", Scale::ONE.show(ms))),
            href: http_href.clone(),
        })
        .collect();
    let requests_chart = (summary.total.requests > 0).then(|| {
        let charts = http_charts(&summary, &label, &org_slug, &app_slug, true);
        charts.into_iter().next().expect("the requests chart comes first")
    });
    let requests_per_second = Scale::ONE.show(recent.total.requests as f64 / 60.0);
    let (errors, error_count) = match error_page {
        Some(page) => {
            let count = if page.more_in_range {
                format!("{}+", group_thousands(page.records.len() as u64))
            } else {
                group_thousands(page.records.len() as u64)
            };
            let lines = page
                .records
                .iter()
                .rev()
                .take(OVERVIEW_ERRORS_SHOWN)
                .filter_map(|record| match &record.line {
                    crate::model::LogLine::Service(line) => Some(error_line(&org_slug, &app_slug, record.ts_ns, line)),
                    crate::model::LogLine::Access(_) => None,
                })
                .collect();
            (lines, count)
        }
        None => (Vec::new(), "0".to_string()),
    };
    let mut map = map_view(&summary.places, &org_slug, &app_slug, bounds, "the last 24 h's requests");
    map.credit = stats.places_credit();
    let map_html = {
        use leptos::prelude::*;
        view! { <crate::components::map::RequestMap map small=true /> }.to_html()
    };
    Ok(OverviewPage {
        org,
        app,
        server_charts,
        requests_chart,
        total_requests: group_thousands(summary.total.requests),
        status_links,
        latency,
        requests_per_second,
        errors,
        error_count,
        errors_href,
        map_html,
    })
}

/// An error line and a link to it: its instance's logs from its time on.
fn error_line(org: &str, app: &str, ts_ns: i64, line: &crate::model::ServiceLine) -> ErrorLine {
    let ts_ms = ts_ns.div_euclid(1_000_000);
    let view = crate::model::LogView {
        kind: crate::model::ViewKind::Service,
        q: format!("instance:\"{}\"", line.instance.replace('\\', "\\\\").replace('"', "\\\"")),
        since: crate::model::rfc3339_utc(ts_ms),
        until: crate::model::rfc3339_utc(ts_ms + 1_000),
        cols: String::new(),
    };
    let first_line = line.message.lines().next().unwrap_or_default();
    ErrorLine {
        time: clock_utc(ts_ns)[..8].to_string(),
        instance: line.instance.clone(),
        message: first_line.chars().take(200).collect(),
        href: format!("/orgs/{org}/apps/{app}/logs{}", view.to_query()),
    }
}

/// Each app's requests and 5xx responses per hour over the last 24 h.
pub async fn sparklines(org: &OrgSummary, stats: SharedStatsPort, now_ms: i64) -> Vec<AppSparklines> {
    let mut out = Vec::new();
    for app in &org.apps {
        let day = HttpRequest { from_ms: now_ms - 86_400_000, to_ms: now_ms, step_ms: Some(3_600_000), top: 0 };
        let Ok(summary) = stats.http(org.slug.clone(), app.slug.clone(), day).await else { continue };
        if summary.total.requests == 0 {
            continue;
        }
        let hours: Vec<i64> = (0..24).map(|hour| summary.from_ms + hour * 3_600_000).collect();
        let per_hour = |pick: &dyn Fn(&crate::stats_port::HttpStepStats) -> u64| -> Vec<u64> {
            hours.iter().map(|ts| summary.steps.iter().find(|step| step.ts_ms == *ts).map_or(0, pick)).collect()
        };
        let requests = per_hour(&|step| step.requests);
        let errors = per_hour(&|step| step.status[4]);
        out.push(AppSparklines {
            app: app.slug.clone(),
            requests: spark_points(&requests),
            errors: spark_points(&errors),
            summary: format!(
                "{} requests, {} errors (5xx) in the last 24 h",
                group_thousands(summary.total.requests),
                group_thousands(summary.total.status[4])
            ),
        });
    }
    out
}

/// A polyline's points for `values` in a 100 × 24 box (2 units of margin).
fn spark_points(values: &[u64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = 100.0 / (values.len().max(2) - 1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(at, value)| format!("{:.1},{:.1}", at as f64 * step, 22.0 - 20.0 * *value as f64 / max))
        .collect();
    points.join(" ")
}

/// Levels as the volume histogram stacks them, lowest first, with their colours.
const LEVEL_COLOURS: [(&str, &str); 6] = [
    ("trace", "#8a94a6"),
    ("debug", "#8b6bd6"),
    ("info", "#3b7ddd"),
    ("warn", "#d08a00"),
    ("error", "#d64545"),
    ("fatal", "#9a1b1b"),
];

/// The fields whose values the explorer counts, by kind of log.
pub fn explorer_fields(kind: crate::model::ViewKind) -> Vec<String> {
    let fields: &[&str] = match kind {
        crate::model::ViewKind::Service => &["level", "instance"],
        crate::model::ViewKind::Access => &["status", "method", "path", "country", "instance"],
    };
    fields.iter().map(|field| field.to_string()).collect()
}

/// A filter term for `field` equal to `value`: quoted unless it is a plain word.
fn field_term(field: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !value.starts_with('-');
    if plain {
        format!("{field}:{value}")
    } else {
        format!("{field}:\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The logs page's explorer for `view`: its volume per step, stacked by
/// level (service lines) or status class (access lines), and each field's
/// most frequent values, each a link that narrows the view to it (or, the
/// second link, leaves it out).
pub fn explorer(volume: crate::port::LogVolume, base: &str, view: &crate::model::LogView) -> crate::model::Explorer {
    use crate::model::{Explorer, Facet, FacetValue, LogView};
    let range_label = if view.is_replay() { "the range shown".to_string() } else { "the last hour".to_string() };
    if let Some(problem) = volume.problem {
        return Explorer { chart: None, total: String::new(), range_label, facets: Vec::new(), problem: Some(problem) };
    }
    let with_term = |term: String| {
        let q = if view.q.trim().is_empty() { term } else { format!("{} {term}", view.q.trim()) };
        format!("{base}{}", LogView { q, ..view.clone() }.to_query())
    };
    let facets = volume
        .facets
        .iter()
        .map(|(field, values, other)| Facet {
            field: field.clone(),
            values: values
                .iter()
                .map(|(value, count)| FacetValue {
                    value: value.clone(),
                    count: group_thousands(*count),
                    include: with_term(field_term(field, value)),
                    exclude: with_term(format!("-{}", field_term(field, value))),
                })
                .collect(),
            other: if *other == 0 { String::new() } else { group_thousands(*other) },
        })
        .collect();
    let series: Vec<(&str, &'static str)> =
        if view.kind == crate::model::ViewKind::Access { STATUS_CLASSES.to_vec() } else { LEVEL_COLOURS.to_vec() };
    let lines: Vec<Line> = series
        .iter()
        .filter(|(name, _)| {
            volume.buckets.iter().any(|(_, counts)| counts.iter().any(|(key, n)| key == name && *n > 0))
        })
        .map(|(name, colour)| Line {
            label: name.to_string(),
            points: volume
                .buckets
                .iter()
                .map(|(ts, counts)| (*ts, counts.iter().find(|(key, _)| key == name).map_or(0.0, |(_, n)| *n as f64)))
                .collect(),
            faint: false,
            colour: Some(colour),
        })
        .collect();
    let step = step_words(volume.step_ms);
    let split = if view.kind == crate::model::ViewKind::Access { "status class" } else { "level" };
    // A click opens that step alone, the filter kept.
    let step_view = LogView { since: "{since}".into(), until: "{until}".into(), ..view.clone() };
    let click =
        format!("{base}{}", step_view.to_query()).replace("%7Bsince%7D", "{since}").replace("%7Buntil%7D", "{until}");
    let chart = (!lines.is_empty()).then(|| {
        chart_view(
            ChartSpec {
                id: "logs.volume".to_string(),
                title: format!("Lines per {step}"),
                summary_head: format!("Matching lines per {step} by {split}, {range_label}"),
                caption: format!("matching lines in each {step} step, by {split}"),
                from_ms: volume.from_ms,
                to_ms: volume.to_ms,
                scale: Scale::ONE,
                stacked: true,
                click: Some(click),
                zoom: Some(["since".to_string(), "until".to_string()]),
            },
            &lines,
        )
    });
    Explorer { chart, total: group_thousands(volume.total), range_label, facets, problem: None }
}
