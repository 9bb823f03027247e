//! Charts drawn on the server (`plotters`, SVG backend): one function turns
//! lines of `(ms, value)` points into a [`ChartView`] whose drawing, legend,
//! table and accessible name agree. No user text (metric, tag or instance
//! names) is drawn inside the SVG: it carries axes, ticks and lines only,
//! and the names go into HTML that Leptos escapes. The SVG backend escapes
//! what it writes anyway (`SVGBackend::escape_and_push`).

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::model::{clock_utc, day_utc, ChartCell, ChartRow, ChartTable, ChartView, LegendEntry};

/// Line colours, readable on the light and the dark theme.
pub const PALETTE: [&str; 8] = ["#3b7ddd", "#e07b24", "#1f9d6b", "#cf4a86", "#8b6bd6", "#b38f00", "#2aa3b8", "#9a6b4f"];

/// Drawn in this colour, axes and ticks become `currentColor`, so they
/// follow the theme's text colour.
const INK: RGBColor = RGBColor(1, 2, 3);
const INK_SVG: &str = "#010203";

/// The drawing's own size: about what it is shown at, so its text stays readable.
const WIDTH: u32 = 560;
const HEIGHT: u32 = 210;
/// Around the plot: the margin, the time axis below, the value axis left.
const MARGIN: u32 = 10;
const X_LABELS: u32 = 24;
const Y_LABELS: u32 = 64;

/// Where the plot sits in the drawing, as fractions of its width and
/// height: left, top, right, bottom. The browser maps a pointer to a time
/// and a value with it.
pub fn plot_box() -> [f64; 4] {
    let (w, h) = (WIDTH as f64, HEIGHT as f64);
    [
        (MARGIN + Y_LABELS) as f64 / w,
        MARGIN as f64 / h,
        (WIDTH - MARGIN) as f64 / w,
        (HEIGHT - MARGIN - X_LABELS) as f64 / h,
    ]
}

/// One line to draw.
pub struct Line {
    pub label: String,
    pub points: Vec<(i64, f64)>,
    /// Drawn thin and faint, with the colour of the line before it (a limit
    /// beside what it limits).
    pub faint: bool,
    /// Its own colour (`#rrggbb`) rather than the palette's next.
    pub colour: Option<&'static str>,
}

/// How a chart writes its values.
pub struct Scale {
    /// Values are divided by it for display (`1e6` for MB).
    pub divisor: f64,
}

impl Scale {
    pub const ONE: Scale = Scale { divisor: 1.0 };

    /// A value on the axis: as short as it can be (`0`, `250`, `1.5`).
    pub fn tick(&self, value: f64) -> String {
        let shown = format!("{:.2}", value / self.divisor);
        shown.trim_end_matches('0').trim_end_matches('.').to_string()
    }

    /// A value as the table and the legend show it: 3 significant digits
    /// at least, never an exponent.
    pub fn show(&self, value: f64) -> String {
        let shown = value / self.divisor;
        let magnitude = shown.abs();
        if magnitude >= 100.0 || magnitude == 0.0 {
            format!("{shown:.1}")
        } else if magnitude >= 1.0 {
            format!("{shown:.2}")
        } else {
            format!("{shown:.4}")
        }
    }
}

/// What a chart is, beside its lines.
pub struct ChartSpec {
    pub id: String,
    pub title: String,
    /// The start of the accessible name: `CPU % per instance, last 24 h`.
    pub summary_head: String,
    /// The table's caption.
    pub caption: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub scale: Scale,
    /// Lines drawn as areas stacked on each other, the first at the bottom
    /// (the table and legend still give each line's own values).
    pub stacked: bool,
    /// Where a click on the plot leads (see [`ChartView::click`]).
    pub click: Option<String>,
    /// The URL parameters a drag writes (see [`ChartView::zoom`]); `from`, `to` when `None`.
    pub zoom: Option<[String; 2]>,
}

/// Draws the chart and writes its legend, table and accessible name.
pub fn chart_view(spec: ChartSpec, lines: &[Line]) -> ChartView {
    let mut colours = Vec::with_capacity(lines.len());
    let mut next = 0;
    for line in lines {
        if let Some(colour) = line.colour {
            colours.push(colour);
        } else if line.faint && next > 0 {
            colours.push(PALETTE[(next - 1) % PALETTE.len()]);
        } else {
            colours.push(PALETTE[next % PALETTE.len()]);
            next += 1;
        }
    }
    let max_of = |line: &Line| {
        line.points
            .iter()
            .map(|(_, value)| *value)
            .fold(None, |max: Option<f64>, v| Some(max.map_or(v, |max| max.max(v))))
    };
    let legend: Vec<LegendEntry> = lines
        .iter()
        .zip(&colours)
        .map(|(line, colour)| LegendEntry {
            label: line.label.clone(),
            colour: colour.to_string(),
            note: max_of(line).map_or_else(|| "no points".to_string(), |max| format!("max {}", spec.scale.show(max))),
            faint: line.faint,
        })
        .collect();
    let summary = if lines.is_empty() {
        format!("{}: no points", spec.summary_head)
    } else {
        let parts: Vec<String> = legend.iter().map(|entry| format!("{} {}", entry.label, entry.note)).collect();
        format!("{}: {}", spec.summary_head, parts.join(", "))
    };
    let top = y_top(&spec, lines);
    let svg = draw_svg(|area| plot_axes(area, &spec, top));
    let stacks = if spec.stacked { stacked(lines) } else { Vec::new() };
    let layers = lines
        .iter()
        .zip(&colours)
        .enumerate()
        .map(|(at, (line, colour))| {
            draw_svg(|area| match stacks.get(at) {
                Some(stack) => plot_area(area, &spec, top, stack, colour),
                None => plot_line(area, &spec, top, line, colour),
            })
        })
        .collect();
    let table = table_of(&spec, lines);
    ChartView {
        id: spec.id,
        title: spec.title,
        summary,
        svg,
        layers,
        stacked: spec.stacked,
        from_ms: spec.from_ms,
        to_ms: spec.to_ms,
        y_top: top,
        plot: plot_box(),
        zoom: spec.zoom.unwrap_or_else(|| ["from".to_string(), "to".to_string()]),
        click: spec.click,
        legend,
        table,
    }
}

fn table_of(spec: &ChartSpec, lines: &[Line]) -> ChartTable {
    let mut times: Vec<i64> = lines.iter().flat_map(|line| line.points.iter().map(|(ts, _)| *ts)).collect();
    times.sort_unstable();
    times.dedup();
    // Seconds only when steps are shorter than a minute.
    let clock_digits = if times.iter().all(|ts| ts % 60_000 == 0) { 5 } else { 8 };
    let rows = times
        .into_iter()
        .map(|ts_ms| ChartRow {
            ts_ms,
            time: format!("{} {}", day_utc(ts_ms * 1_000_000), &clock_utc(ts_ms * 1_000_000)[..clock_digits]),
            cells: lines
                .iter()
                .map(|line| match line.points.binary_search_by_key(&ts_ms, |(ts, _)| *ts) {
                    Ok(at) => {
                        let value = line.points[at].1;
                        ChartCell { text: spec.scale.show(value), value: value.to_string() }
                    }
                    Err(_) => ChartCell { text: String::new(), value: String::new() },
                })
                .collect(),
        })
        .collect();
    ChartTable { caption: spec.caption.clone(), columns: lines.iter().map(|line| line.label.clone()).collect(), rows }
}

/// One drawing of the chart's size: the axes, or one line. A failure
/// (never expected for a string target) draws nothing.
fn draw_svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<(), Box<dyn std::error::Error>>,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        if draw(&root).and_then(|_| root.present().map_err(Into::into)).is_err() {
            return String::new();
        }
    }
    // Axes and ticks take the theme's text colour; the drawing scales to its box.
    svg.replace(INK_SVG, "currentColor").replacen(
        &format!("<svg width=\"{WIDTH}\" height=\"{HEIGHT}\""),
        // The figure around it carries the name; the drawing is hidden from assistive technology.
        "<svg aria-hidden=\"true\" focusable=\"false\"",
        1,
    )
}

/// The top of the value axis: a tenth above the highest point (or stack).
fn y_top(spec: &ChartSpec, lines: &[Line]) -> f64 {
    let stacks = if spec.stacked { stacked(lines) } else { Vec::new() };
    let max = lines
        .iter()
        .flat_map(|line| line.points.iter().map(|(_, value)| *value))
        .chain(stacks.iter().flat_map(|stack| stack.iter().map(|(_, value)| *value)))
        .fold(0.0f64, f64::max);
    if max > 0.0 {
        max * 1.1
    } else {
        1.0
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Plot<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<plotters::coord::types::RangedCoordi64, RangedCoordf64>>;

/// The chart's coordinates on `area`: the same for the axes and every line,
/// so the layers line up.
fn coordinates<'a>(area: &Area<'a>, spec: &ChartSpec, top: f64) -> Result<Plot<'a>, Box<dyn std::error::Error>> {
    let chart = ChartBuilder::on(area)
        .margin(MARGIN)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(spec.from_ms..spec.to_ms, 0.0..top)?;
    Ok(chart)
}

fn plot_axes(area: &Area<'_>, spec: &ChartSpec, top: f64) -> Result<(), Box<dyn std::error::Error>> {
    let span_ms = spec.to_ms - spec.from_ms;
    let mut chart = ChartBuilder::on(area)
        .margin(MARGIN)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(
            (spec.from_ms..spec.to_ms).with_key_points(time_ticks(spec.from_ms, spec.to_ms)),
            0.0..top,
        )?;
    let scale = &spec.scale;
    chart
        .configure_mesh()
        .x_labels(12)
        .y_labels(5)
        .x_label_formatter(&|ms| {
            let ns = ms * 1_000_000;
            if span_ms > 2 * 86_400_000 {
                day_utc(ns)[5..].to_string()
            } else {
                clock_utc(ns)[..5].to_string()
            }
        })
        .y_label_formatter(&|value| scale.tick(*value))
        .axis_style(INK)
        .bold_line_style(INK.mix(0.12))
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 14).into_font().color(&INK))
        .draw()?;
    Ok(())
}

/// One line; a step without a point breaks it rather than bridging it.
fn plot_line(
    area: &Area<'_>,
    spec: &ChartSpec,
    top: f64,
    line: &Line,
    colour: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut chart = coordinates(area, spec, top)?;
    let colour = parse_colour(colour);
    let style = if line.faint { colour.mix(0.6).stroke_width(1) } else { colour.stroke_width(2) };
    let step = line.points.windows(2).map(|pair| pair[1].0 - pair[0].0).min().unwrap_or(0);
    let mut run: Vec<(i64, f64)> = Vec::new();
    for &(ts, value) in &line.points {
        if run.last().is_some_and(|(last, _)| ts - last > step) {
            chart.draw_series(LineSeries::new(std::mem::take(&mut run), style))?;
        }
        run.push((ts, value));
    }
    chart.draw_series(LineSeries::new(run, style))?;
    Ok(())
}

/// One band of a stack: from 0 up to its cumulative values (drawn under
/// the bands above it, which the page lays over it).
fn plot_area(
    area: &Area<'_>,
    spec: &ChartSpec,
    top: f64,
    stack: &[(i64, f64)],
    colour: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut chart = coordinates(area, spec, top)?;
    let colour = parse_colour(colour);
    chart.draw_series(
        AreaSeries::new(stack.iter().copied(), 0.0, colour.mix(0.45)).border_style(colour.stroke_width(1)),
    )?;
    Ok(())
}

/// Each line's points added to those of the lines before it, step by step
/// (a step a line has no point in counts as 0 for it).
fn stacked(lines: &[Line]) -> Vec<Vec<(i64, f64)>> {
    let mut times: Vec<i64> = lines.iter().flat_map(|line| line.points.iter().map(|(ts, _)| *ts)).collect();
    times.sort_unstable();
    times.dedup();
    let mut below = vec![0.0; times.len()];
    lines
        .iter()
        .map(|line| {
            times
                .iter()
                .zip(below.iter_mut())
                .map(|(ts, sum)| {
                    let value = line.points.binary_search_by_key(ts, |(at, _)| *at).map_or(0.0, |at| line.points[at].1);
                    *sum += value;
                    (*ts, *sum)
                })
                .collect()
        })
        .collect()
}

/// Whole hours or days between `from_ms` and `to_ms`, 4 to 8 of them.
fn time_ticks(from_ms: i64, to_ms: i64) -> Vec<i64> {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    let span = to_ms - from_ms;
    let every = [
        10 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        HOUR,
        2 * HOUR,
        3 * HOUR,
        4 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        2 * DAY,
        5 * DAY,
        7 * DAY,
    ]
    .into_iter()
    .find(|every| span / every <= 7)
    .unwrap_or(30 * DAY);
    let first = (from_ms + every - 1).div_euclid(every) * every;
    (0..).map(|n| first + n * every).take_while(|tick| *tick <= to_ms).collect()
}

fn parse_colour(hex: &str) -> RGBColor {
    let byte = |at: usize| u8::from_str_radix(hex.get(at..at + 2).unwrap_or("00"), 16).unwrap_or(0);
    RGBColor(byte(1), byte(3), byte(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ChartSpec {
        ChartSpec {
            id: "x".into(),
            title: "X".into(),
            summary_head: "X per instance, last 1 h".into(),
            caption: "avg".into(),
            from_ms: 0,
            to_ms: 60_000,
            scale: Scale::ONE,
            stacked: false,
            click: None,
            zoom: None,
        }
    }

    #[test]
    fn names_never_reach_the_drawing_and_the_summary_gives_each_line_its_maximum() {
        let lines = [Line {
            label: "<img src=x onerror=alert(1)>".into(),
            points: vec![(0, 1.5), (10_000, 43.25)],
            faint: false,
            colour: None,
        }];
        let view = chart_view(spec(), &lines);
        assert!(view.svg.starts_with("<svg"), "{}", &view.svg[..80.min(view.svg.len())]);
        assert!(!view.svg.contains("img"));
        assert_eq!(view.layers.len(), 1);
        assert!(view.layers[0].contains("<polyline") && !view.layers[0].contains("img"), "{}", view.layers[0]);
        assert!(!view.svg.contains(INK_SVG), "axes follow the theme");
        assert_eq!(view.summary, "X per instance, last 1 h: <img src=x onerror=alert(1)> max 43.25");
        assert_eq!(view.table.rows.len(), 2);
        assert_eq!(view.table.rows[1].cells[0].value, "43.25");
    }

    #[test]
    fn stacked_lines_add_up_step_by_step_and_a_missing_point_counts_as_zero() {
        let line = |points: Vec<(i64, f64)>| Line { label: String::new(), points, faint: false, colour: None };
        let stacks = stacked(&[line(vec![(0, 1.0), (10, 2.0)]), line(vec![(10, 5.0)])]);
        assert_eq!(stacks, vec![vec![(0, 1.0), (10, 2.0)], vec![(0, 1.0), (10, 7.0)]]);
    }

    #[test]
    fn values_keep_three_significant_digits() {
        assert_eq!(Scale::ONE.show(1234.56), "1234.6");
        assert_eq!(Scale::ONE.show(43.256), "43.26");
        assert_eq!(Scale::ONE.show(0.012345), "0.0123");
        assert_eq!(Scale { divisor: 1e6 }.show(412_300_000.0), "412.3");
    }
}
