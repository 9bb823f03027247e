//! The PromQL evaluator: an expression parsed by `promql-parser`,
//! evaluated over every step of a [`Grid`] at once. An instant vector is a
//! set of rows, each a label set and one optional value per step; a scalar
//! is one value per step. Range vectors exist only as the argument of a
//! function (`rate(x[5m])`), which reads each row's samples in its window.
//!
//! What is evaluated, and how it differs from Prometheus, is in
//! docs/PROMETHEUS.md; anything else is refused with a `bad_data` error
//! that names it.

use std::collections::{BTreeMap, HashMap};

use promql_parser::label::Labels as LabelList;
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Call, Expr, LabelModifier, MatrixSelector, Offset, VectorMatchCardinality,
    VectorSelector,
};

use super::source::{Labels, Samples, Selector, Source, NAME};
use super::EvalError;

/// How far back an instant selector looks for a sample (Prometheus's default).
pub const LOOKBACK_MS: i64 = 300_000;

/// Most values (rows × steps) one expression may hold: 32 MB of them.
pub const MAX_CELLS: usize = 2_000_000;

/// The times an expression is evaluated at: `start_ms`, then every
/// `step_ms` up to `end_ms` included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Positive; an instant query has one step whatever it says.
    pub step_ms: i64,
    /// False for an instant query: its reads may use the finest points.
    pub ranged: bool,
}

impl Grid {
    pub fn instant(at_ms: i64) -> Grid {
        Grid { start_ms: at_ms, end_ms: at_ms, step_ms: 1, ranged: false }
    }

    /// How many steps: at least one.
    pub fn steps(&self) -> usize {
        ((self.end_ms - self.start_ms) / self.step_ms + 1) as usize
    }

    pub fn at(&self, index: usize) -> i64 {
        self.start_ms + index as i64 * self.step_ms
    }
}

/// One series of an instant vector: its labels and its value at each step.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub labels: Labels,
    pub values: Vec<Option<f64>>,
}

/// What an expression evaluates to.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(Vec<f64>),
    Vector(Vec<Row>),
    Str(String),
}

pub struct Evaluator<'a> {
    pub source: &'a Source<'a>,
    pub grid: Grid,
    /// Past it, evaluation stops with [`EvalError::Timeout`]: checked at
    /// each read and each series a range function goes through.
    pub deadline: std::time::Instant,
    pub timeout: std::time::Duration,
}

fn bad(message: impl Into<String>) -> EvalError {
    EvalError::BadData(message.into())
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(duration)) => duration.as_millis() as i64,
        Some(Offset::Neg(duration)) => -(duration.as_millis() as i64),
    }
}

/// Functions over a range vector: `(window samples, eval time, range, row) → value`.
const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "present_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "predict_linear",
];

/// Functions of one instant vector, value by value.
const MATH_FUNCTIONS: &[&str] = &["abs", "ceil", "floor", "exp", "ln", "log2", "log10", "sqrt", "sgn"];

impl Evaluator<'_> {
    pub fn eval(&self, expr: &Expr) -> Result<Value, EvalError> {
        match expr {
            Expr::NumberLiteral(number) => Ok(Value::Scalar(vec![number.val; self.grid.steps()])),
            Expr::StringLiteral(text) => Ok(Value::Str(text.val.clone())),
            Expr::Paren(inner) => self.eval(&inner.expr),
            Expr::Unary(unary) => Ok(match self.eval(&unary.expr)? {
                Value::Scalar(values) => Value::Scalar(values.into_iter().map(|v| -v).collect()),
                Value::Vector(rows) => Value::Vector(merge_rows(
                    rows.into_iter()
                        .map(|row| Row {
                            labels: without_name(row.labels),
                            values: row.values.into_iter().map(|v| v.map(|v| -v)).collect(),
                        })
                        .collect(),
                )?),
                Value::Str(_) => return Err(bad("a string cannot be negated")),
            }),
            Expr::VectorSelector(selector) => Ok(Value::Vector(self.instant_selector(selector)?)),
            Expr::MatrixSelector(_) => Err(bad(
                "a range vector (x[5m]) is only read through a function here: rate(), increase(), avg_over_time()…",
            )),
            Expr::Subquery(_) => Err(bad("subqueries (x[1h:1m]) are not supported by Vigie")),
            Expr::Call(call) => self.call(call),
            Expr::Aggregate(aggregate) => self.aggregate(aggregate),
            Expr::Binary(binary) => self.binary(binary),
            Expr::Extension(_) => Err(bad("this expression is not supported by Vigie")),
        }
    }

    fn check_time(&self) -> Result<(), EvalError> {
        if std::time::Instant::now() > self.deadline {
            return Err(EvalError::Timeout(self.timeout.as_secs()));
        }
        Ok(())
    }

    fn check_cells(&self, rows: usize) -> Result<(), EvalError> {
        if rows.saturating_mul(self.grid.steps()) > MAX_CELLS {
            return Err(EvalError::Execution(format!(
                "the query would hold {rows} series × {} steps: narrow its selectors or take a larger step",
                self.grid.steps()
            )));
        }
        Ok(())
    }

    fn read(&self, selector: &VectorSelector, back_ms: i64, precision_ms: i64) -> Result<Vec<Samples>, EvalError> {
        self.check_time()?;
        if selector.at.is_some() {
            return Err(bad("the @ modifier is not supported by Vigie"));
        }
        let offset = offset_ms(&selector.offset);
        let from_ms = self.grid.start_ms - offset - back_ms;
        let to_ms = self.grid.end_ms - offset;
        let level = self.source.level_for(from_ms, if self.grid.ranged { precision_ms } else { 0 });
        let samples = self.source.select(
            &Selector::new(selector.name.as_deref(), &selector.matchers),
            Some((from_ms, to_ms)),
            level,
        )?;
        self.check_cells(samples.len())?;
        Ok(samples)
    }

    /// Each series' newest sample at or before each step, within the lookback.
    fn instant_selector(&self, selector: &VectorSelector) -> Result<Vec<Row>, EvalError> {
        let offset = offset_ms(&selector.offset);
        let samples = self.read(selector, LOOKBACK_MS, self.grid.step_ms)?;
        Ok(samples
            .into_iter()
            .filter_map(|series| {
                let values: Vec<Option<f64>> = (0..self.grid.steps())
                    .map(|index| {
                        let t = self.grid.at(index) - offset;
                        let window = window(&series.points, t - LOOKBACK_MS, t);
                        window.last().map(|(_, value)| *value)
                    })
                    .collect();
                values.iter().any(Option::is_some).then_some(Row { labels: series.labels, values })
            })
            .collect())
    }

    fn scalar_arg(&self, expr: &Expr, function: &str) -> Result<Vec<f64>, EvalError> {
        match self.eval(expr)? {
            Value::Scalar(values) => Ok(values),
            _ => Err(bad(format!("{function}: expected a number as this argument"))),
        }
    }

    fn vector_arg(&self, expr: &Expr, function: &str) -> Result<Vec<Row>, EvalError> {
        match self.eval(expr)? {
            Value::Vector(rows) => Ok(rows),
            _ => Err(bad(format!("{function}: expected an instant vector as this argument"))),
        }
    }

    fn call(&self, call: &Call) -> Result<Value, EvalError> {
        let name = call.func.name;
        let args: Vec<&Expr> = call.args.args.iter().map(|arg| arg.as_ref()).collect();
        let steps = self.grid.steps();
        if RANGE_FUNCTIONS.contains(&name) {
            let (matrix, param) = match (name, args.as_slice()) {
                ("quantile_over_time", [q, m]) => (*m, Some(self.scalar_arg(q, name)?)),
                ("predict_linear", [m, t]) => (*m, Some(self.scalar_arg(t, name)?)),
                (_, [m]) => (*m, None),
                _ => return Err(bad(format!("{name}: wrong number of arguments"))),
            };
            let Expr::MatrixSelector(MatrixSelector { vs, range }) = matrix else {
                return Err(bad(format!(
                    "{name}: expected a range vector such as x[5m] (subqueries are not supported)"
                )));
            };
            let range_ms = range.as_millis() as i64;
            let offset = offset_ms(&vs.offset);
            let precision = if self.grid.ranged { self.grid.step_ms.min(range_ms) } else { range_ms };
            let samples = self.read(vs, range_ms, precision)?;
            let mut rows = Vec::with_capacity(samples.len());
            for series in samples {
                self.check_time()?;
                let values: Vec<Option<f64>> = (0..steps)
                    .map(|index| {
                        let t = self.grid.at(index) - offset;
                        let points = window(&series.points, t - range_ms, t);
                        range_function(name, points, &series, t, range_ms, param.as_ref().map(|p| p[index]))
                    })
                    .collect();
                if values.iter().any(Option::is_some) {
                    let labels = if name == "last_over_time" { series.labels } else { without_name(series.labels) };
                    rows.push(Row { labels, values });
                }
            }
            return Ok(Value::Vector(merge_rows(rows)?));
        }
        if MATH_FUNCTIONS.contains(&name) {
            let [arg] = args.as_slice() else { return Err(bad(format!("{name}: takes one argument"))) };
            let rows = self.vector_arg(arg, name)?;
            let f = |v: f64| match name {
                "abs" => v.abs(),
                "ceil" => v.ceil(),
                "floor" => v.floor(),
                "exp" => v.exp(),
                "ln" => v.ln(),
                "log2" => v.log2(),
                "log10" => v.log10(),
                "sqrt" => v.sqrt(),
                _ => {
                    if v > 0.0 {
                        1.0
                    } else if v < 0.0 {
                        -1.0
                    } else {
                        v
                    }
                }
            };
            return Ok(Value::Vector(map_rows(rows, f)?));
        }
        match (name, args.as_slice()) {
            ("time", []) => Ok(Value::Scalar((0..steps).map(|i| self.grid.at(i) as f64 / 1_000.0).collect())),
            ("vector", [arg]) => {
                let values = self.scalar_arg(arg, name)?;
                Ok(Value::Vector(vec![Row { labels: Labels::new(), values: values.into_iter().map(Some).collect() }]))
            }
            ("scalar", [arg]) => {
                let rows = self.vector_arg(arg, name)?;
                Ok(Value::Scalar(
                    (0..steps)
                        .map(|i| {
                            let mut present = rows.iter().filter_map(|row| row.values[i]);
                            match (present.next(), present.next()) {
                                (Some(value), None) => value,
                                _ => f64::NAN,
                            }
                        })
                        .collect(),
                ))
            }
            ("round", [arg, rest @ ..]) if rest.len() <= 1 => {
                let to = match rest {
                    [to] => self.scalar_arg(to, name)?.first().copied().unwrap_or(1.0),
                    _ => 1.0,
                };
                let rows = self.vector_arg(arg, name)?;
                map_rows(rows, |v| (v / to).round() * to).map(Value::Vector)
            }
            ("clamp_min" | "clamp_max", [arg, bound]) => {
                let bound = self.scalar_arg(bound, name)?.first().copied().unwrap_or(f64::NAN);
                let rows = self.vector_arg(arg, name)?;
                let max = name == "clamp_max";
                map_rows(rows, |v| if max { v.min(bound) } else { v.max(bound) }).map(Value::Vector)
            }
            ("clamp", [arg, low, high]) => {
                let low = self.scalar_arg(low, name)?.first().copied().unwrap_or(f64::NAN);
                let high = self.scalar_arg(high, name)?.first().copied().unwrap_or(f64::NAN);
                let rows = self.vector_arg(arg, name)?;
                map_rows(rows, |v| v.max(low).min(high)).map(Value::Vector)
            }
            ("sort" | "sort_desc", [arg]) => {
                let mut rows = self.vector_arg(arg, name)?;
                let key = |row: &Row| row.values.first().copied().flatten().unwrap_or(f64::NAN);
                rows.sort_by(|a, b| key(a).total_cmp(&key(b)));
                if name == "sort_desc" {
                    rows.reverse();
                }
                Ok(Value::Vector(rows))
            }
            _ => {
                Err(bad(format!("the function {name}() is not supported by Vigie (supported: see docs/PROMETHEUS.md)")))
            }
        }
    }

    fn aggregate(&self, aggregate: &AggregateExpr) -> Result<Value, EvalError> {
        let op = aggregate.op.to_string();
        let op = op.as_str();
        if !["sum", "avg", "min", "max", "count", "group", "topk", "bottomk"].contains(&op) {
            return Err(bad(format!(
                "the aggregation {op} is not supported by Vigie (supported: see docs/PROMETHEUS.md)"
            )));
        }
        let rows = self.vector_arg(&aggregate.expr, op)?;
        let steps = self.grid.steps();
        let mut groups: BTreeMap<Labels, Vec<usize>> = BTreeMap::new();
        for (index, row) in rows.iter().enumerate() {
            groups.entry(group_key(&row.labels, &aggregate.modifier)).or_default().push(index);
        }
        if op == "topk" || op == "bottomk" {
            let param = aggregate.param.as_ref().ok_or_else(|| bad(format!("{op} needs k: {op}(5, …)")))?;
            let k = self.scalar_arg(param, op)?;
            let mut kept: Vec<Vec<Option<f64>>> = rows.iter().map(|_| vec![None; steps]).collect();
            for members in groups.values() {
                for step in 0..steps {
                    let mut present: Vec<(usize, f64)> =
                        members.iter().filter_map(|&m| Some((m, rows[m].values[step]?))).collect();
                    present.sort_by(|a, b| if op == "topk" { b.1.total_cmp(&a.1) } else { a.1.total_cmp(&b.1) });
                    let k = if k[step].is_finite() && k[step] >= 1.0 { k[step] as usize } else { 0 };
                    for (member, value) in present.into_iter().take(k) {
                        kept[member][step] = Some(value);
                    }
                }
            }
            let rows = rows
                .into_iter()
                .zip(kept)
                .filter(|(_, values)| values.iter().any(Option::is_some))
                .map(|(row, values)| Row { labels: row.labels, values })
                .collect();
            return Ok(Value::Vector(rows));
        }
        let mut out = Vec::with_capacity(groups.len());
        for (labels, members) in groups {
            let values: Vec<Option<f64>> = (0..steps)
                .map(|step| {
                    let present = members.iter().filter_map(|&m| rows[m].values[step]);
                    let (mut n, mut sum, mut min, mut max) = (0usize, 0.0, f64::INFINITY, f64::NEG_INFINITY);
                    for value in present {
                        n += 1;
                        sum += value;
                        min = if value < min || min.is_nan() { value } else { min };
                        max = if value > max || max.is_nan() { value } else { max };
                    }
                    (n > 0).then(|| match op {
                        "sum" => sum,
                        "avg" => sum / n as f64,
                        "min" => min,
                        "max" => max,
                        "count" => n as f64,
                        _ => 1.0,
                    })
                })
                .collect();
            if values.iter().any(Option::is_some) {
                out.push(Row { labels, values });
            }
        }
        Ok(Value::Vector(out))
    }

    fn binary(&self, binary: &BinaryExpr) -> Result<Value, EvalError> {
        let op = binary.op.to_string();
        let op = op.as_str();
        if op == "atan2" {
            return Err(bad("the operator atan2 is not supported by Vigie"));
        }
        let modifier = binary.modifier.as_ref();
        let return_bool = modifier.is_some_and(|m| m.return_bool);
        let matching = modifier.and_then(|m| m.matching.clone());
        if let Some(modifier) = modifier {
            if matches!(modifier.card, VectorMatchCardinality::ManyToOne(_) | VectorMatchCardinality::OneToMany(_)) {
                return Err(bad("group_left and group_right are not supported by Vigie"));
            }
            if modifier.fill_values.lhs.is_some() || modifier.fill_values.rhs.is_some() {
                return Err(bad("fill modifiers are not supported by Vigie"));
            }
        }
        let comparison = ["==", "!=", ">", "<", ">=", "<="].contains(&op);
        let lhs = self.eval(&binary.lhs)?;
        let rhs = self.eval(&binary.rhs)?;
        match (lhs, rhs) {
            (Value::Scalar(a), Value::Scalar(b)) => Ok(Value::Scalar(
                a.into_iter()
                    .zip(b)
                    .map(|(a, b)| if comparison { f64::from(compare(op, a, b) as u8) } else { arithmetic(op, a, b) })
                    .collect(),
            )),
            (Value::Vector(rows), Value::Scalar(s)) | (Value::Scalar(s), Value::Vector(rows))
                if ["and", "or", "unless"].contains(&op) =>
            {
                let _ = (rows, s);
                Err(bad(format!("{op} needs instant vectors on both sides")))
            }
            (Value::Vector(rows), Value::Scalar(s)) => vector_scalar(rows, &s, op, comparison, return_bool, false),
            (Value::Scalar(s), Value::Vector(rows)) => vector_scalar(rows, &s, op, comparison, return_bool, true),
            (Value::Vector(left), Value::Vector(right)) => match op {
                "and" | "or" | "unless" => Ok(Value::Vector(set_operation(op, left, right, &matching))),
                _ => vector_vector(left, right, op, comparison, return_bool, &matching),
            },
            _ => Err(bad(format!("the operator {op} does not apply to strings"))),
        }
    }
}

/// The samples of `points` in `(from_ms, to_ms]`.
fn window(points: &[(i64, f64)], from_ms: i64, to_ms: i64) -> &[(i64, f64)] {
    let start = points.partition_point(|(ts, _)| *ts <= from_ms);
    let end = points.partition_point(|(ts, _)| *ts <= to_ms);
    &points[start..end.max(start)]
}

fn range_function(
    name: &str,
    points: &[(i64, f64)],
    series: &Samples,
    t_ms: i64,
    range_ms: i64,
    param: Option<f64>,
) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let values = || points.iter().map(|(_, v)| *v);
    let n = points.len() as f64;
    let range_s = range_ms as f64 / 1_000.0;
    Some(match name {
        "rate" | "increase" | "delta" if series.delta => {
            let sum: f64 = values().sum();
            if name == "rate" {
                sum / range_s
            } else {
                sum
            }
        }
        "rate" | "increase" | "delta" => extrapolated(points, t_ms, range_ms, name != "delta", name == "rate")?,
        "irate" if series.delta => points.last()?.1 / (series.interval_ms as f64 / 1_000.0),
        "irate" => {
            let [.., (t0, v0), (t1, v1)] = points else { return None };
            let change = if v1 < v0 { *v1 } else { v1 - v0 };
            change / ((t1 - t0) as f64 / 1_000.0)
        }
        "avg_over_time" => values().sum::<f64>() / n,
        "min_over_time" => values().fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m }),
        "max_over_time" => values().fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m }),
        "sum_over_time" => values().sum(),
        "count_over_time" => n,
        "last_over_time" => points.last()?.1,
        "present_over_time" => 1.0,
        "stddev_over_time" | "stdvar_over_time" => {
            let mean = values().sum::<f64>() / n;
            let variance = values().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            if name == "stddev_over_time" {
                variance.sqrt()
            } else {
                variance
            }
        }
        "quantile_over_time" => {
            let q = param?;
            let mut sorted: Vec<f64> = values().collect();
            sorted.sort_by(f64::total_cmp);
            quantile(q, &sorted)
        }
        "predict_linear" => {
            let (slope, intercept) = linear_regression(points, t_ms)?;
            slope * param? + intercept
        }
        _ => return None,
    })
}

/// Prometheus's quantile of sorted values (linear between ranks).
fn quantile(q: f64, sorted: &[f64]) -> f64 {
    if q.is_nan() || sorted.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, (rank.ceil() as usize).min(sorted.len() - 1));
    let weight = rank - rank.floor();
    sorted[low] * (1.0 - weight) + sorted[high] * weight
}

/// Least squares over `(seconds from t_ms, value)`: slope per second and the value at `t_ms`.
fn linear_regression(points: &[(i64, f64)], t_ms: i64) -> Option<(f64, f64)> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mut sx, mut sy, mut sxy, mut sxx) = (0.0, 0.0, 0.0, 0.0);
    let constant = points.iter().all(|(_, v)| *v == points[0].1);
    for (ts, y) in points {
        let x = (ts - t_ms) as f64 / 1_000.0;
        sx += x;
        sy += y;
        sxy += x * y;
        sxx += x * x;
    }
    if constant {
        return Some((0.0, points[0].1));
    }
    let covariance = sxy - sx * sy / n;
    let variance = sxx - sx * sx / n;
    if variance == 0.0 {
        return None;
    }
    let slope = covariance / variance;
    Some((slope, sy / n - slope * sx / n))
}

/// Prometheus's `extrapolatedRate` for a cumulative series.
fn extrapolated(points: &[(i64, f64)], t_ms: i64, range_ms: i64, is_counter: bool, is_rate: bool) -> Option<f64> {
    let [(first_ts, first), .., (last_ts, last)] = points else { return None };
    let mut result = last - first;
    if is_counter {
        for pair in points.windows(2) {
            if pair[1].1 < pair[0].1 {
                result += pair[0].1;
            }
        }
    }
    let range_start = t_ms - range_ms;
    let mut to_start = (first_ts - range_start) as f64 / 1_000.0;
    let to_end = (t_ms - last_ts) as f64 / 1_000.0;
    let sampled = (last_ts - first_ts) as f64 / 1_000.0;
    let average = sampled / (points.len() - 1) as f64;
    if is_counter && result > 0.0 && *first >= 0.0 {
        let to_zero = sampled * (first / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold { to_start } else { average / 2.0 };
    interval += if to_end < threshold { to_end } else { average / 2.0 };
    let mut factor = interval / sampled;
    if is_rate {
        factor /= range_ms as f64 / 1_000.0;
    }
    Some(result * factor)
}

fn arithmetic(op: &str, a: f64, b: f64) -> f64 {
    match op {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" => a / b,
        "%" => a % b,
        "^" => a.powf(b),
        _ => f64::NAN,
    }
}

fn compare(op: &str, a: f64, b: f64) -> bool {
    match op {
        "==" => a == b,
        "!=" => a != b,
        ">" => a > b,
        "<" => a < b,
        ">=" => a >= b,
        _ => a <= b,
    }
}

fn without_name(mut labels: Labels) -> Labels {
    labels.remove(NAME);
    labels
}

fn label_names(list: &LabelList) -> &[String] {
    &list.labels
}

fn group_key(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        None => Labels::new(),
        Some(LabelModifier::Include(names)) => label_names(names)
            .iter()
            .filter_map(|name| labels.get(name).filter(|v| !v.is_empty()).map(|v| (name.clone(), v.clone())))
            .collect(),
        Some(LabelModifier::Exclude(names)) => labels
            .iter()
            .filter(|(name, _)| name.as_str() != NAME && !label_names(names).contains(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
    }
}

/// The labels two sides are matched on.
fn signature(labels: &Labels, matching: &Option<LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(names)) => {
            label_names(names).iter().filter_map(|name| labels.get(name).map(|v| (name.clone(), v.clone()))).collect()
        }
        Some(LabelModifier::Exclude(names)) => labels
            .iter()
            .filter(|(name, _)| name.as_str() != NAME && !label_names(names).contains(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        None => without_name(labels.clone()),
    }
}

/// Rows with the same labels become one; two values at one step are an error.
fn merge_rows(rows: Vec<Row>) -> Result<Vec<Row>, EvalError> {
    let mut merged: BTreeMap<Labels, Vec<Option<f64>>> = BTreeMap::new();
    for row in rows {
        match merged.get_mut(&row.labels) {
            None => {
                merged.insert(row.labels, row.values);
            }
            Some(values) => {
                for (into, value) in values.iter_mut().zip(row.values) {
                    if value.is_some() {
                        if into.is_some() {
                            return Err(EvalError::Execution(
                                "vector cannot contain metrics with the same labelset".into(),
                            ));
                        }
                        *into = value;
                    }
                }
            }
        }
    }
    Ok(merged.into_iter().map(|(labels, values)| Row { labels, values }).collect())
}

fn map_rows(rows: Vec<Row>, f: impl Fn(f64) -> f64) -> Result<Vec<Row>, EvalError> {
    merge_rows(
        rows.into_iter()
            .map(|row| Row {
                labels: without_name(row.labels),
                values: row.values.into_iter().map(|v| v.map(&f)).collect(),
            })
            .collect(),
    )
}

fn vector_scalar(
    rows: Vec<Row>,
    scalar: &[f64],
    op: &str,
    comparison: bool,
    return_bool: bool,
    scalar_first: bool,
) -> Result<Value, EvalError> {
    let rows = rows
        .into_iter()
        .map(|row| {
            let keep_name = comparison && !return_bool;
            let values = row
                .values
                .into_iter()
                .zip(scalar)
                .map(|(value, s)| {
                    let v = value?;
                    let (a, b) = if scalar_first { (*s, v) } else { (v, *s) };
                    if !comparison {
                        Some(arithmetic(op, a, b))
                    } else if return_bool {
                        Some(f64::from(compare(op, a, b) as u8))
                    } else {
                        compare(op, a, b).then_some(v)
                    }
                })
                .collect();
            Row { labels: if keep_name { row.labels } else { without_name(row.labels) }, values }
        })
        .filter(|row| row.values.iter().any(Option::is_some))
        .collect();
    merge_rows(rows).map(Value::Vector)
}

fn vector_vector(
    left: Vec<Row>,
    right: Vec<Row>,
    op: &str,
    comparison: bool,
    return_bool: bool,
    matching: &Option<LabelModifier>,
) -> Result<Value, EvalError> {
    let mut by_signature: HashMap<Labels, Vec<&Row>> = HashMap::new();
    for row in &right {
        by_signature.entry(signature(&row.labels, matching)).or_default().push(row);
    }
    let mut out = Vec::new();
    for row in left {
        let Some(candidates) = by_signature.get(&signature(&row.labels, matching)) else { continue };
        let mut values = Vec::with_capacity(row.values.len());
        for (step, value) in row.values.iter().enumerate() {
            let mut matched = candidates.iter().filter_map(|other| other.values[step]);
            let (Some(a), Some(b)) = (*value, matched.next()) else {
                values.push(None);
                continue;
            };
            if matched.next().is_some() {
                return Err(EvalError::Execution(
                    "found duplicate series for the match group on the right-hand side: \
                     many-to-many matching is not allowed (use on() or ignoring())"
                        .into(),
                ));
            }
            values.push(if !comparison {
                Some(arithmetic(op, a, b))
            } else if return_bool {
                Some(f64::from(compare(op, a, b) as u8))
            } else {
                compare(op, a, b).then_some(a)
            });
        }
        let mut labels = row.labels;
        if !comparison || return_bool {
            labels.remove(NAME);
        }
        match matching {
            Some(LabelModifier::Include(names)) => labels.retain(|name, _| label_names(names).contains(name)),
            Some(LabelModifier::Exclude(names)) => labels.retain(|name, _| !label_names(names).contains(name)),
            None => {}
        }
        if values.iter().any(Option::is_some) {
            out.push(Row { labels, values });
        }
    }
    merge_rows(out).map(Value::Vector)
}

fn set_operation(op: &str, left: Vec<Row>, right: Vec<Row>, matching: &Option<LabelModifier>) -> Vec<Row> {
    let steps = left.first().or(right.first()).map_or(0, |row| row.values.len());
    let present = |rows: &[Row]| {
        let mut map: HashMap<Labels, Vec<bool>> = HashMap::new();
        for row in rows {
            let entry = map.entry(signature(&row.labels, matching)).or_insert_with(|| vec![false; steps]);
            for (into, value) in entry.iter_mut().zip(&row.values) {
                *into |= value.is_some();
            }
        }
        map
    };
    let on_right = present(&right);
    let keep = |row: Row, wanted: bool, other: &HashMap<Labels, Vec<bool>>| {
        let there = other.get(&signature(&row.labels, matching));
        let values: Vec<Option<f64>> = row
            .values
            .iter()
            .enumerate()
            .map(|(step, value)| value.filter(|_| there.is_some_and(|p| p[step]) == wanted))
            .collect();
        Row { labels: row.labels, values }
    };
    let mut out: Vec<Row> = match op {
        "and" => left.into_iter().map(|row| keep(row, true, &on_right)).collect(),
        "unless" => left.into_iter().map(|row| keep(row, false, &on_right)).collect(),
        _ => {
            let on_left = present(&left);
            let mut rows = left;
            rows.extend(right.into_iter().map(|row| keep(row, false, &on_left)));
            rows
        }
    };
    out.retain(|row| row.values.iter().any(Option::is_some));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_open_on_the_left_and_closed_on_the_right() {
        let points = [(0, 1.0), (10, 2.0), (20, 3.0)];
        assert_eq!(window(&points, 0, 20), &[(10, 2.0), (20, 3.0)]);
        assert_eq!(window(&points, 20, 30), &[] as &[(i64, f64)]);
    }

    #[test]
    fn rate_of_a_cumulative_counter_extrapolates_as_prometheus_does() {
        // A counter growing 1 a second, sampled every 10 s over a 60 s window.
        let points: Vec<(i64, f64)> = (1..=6).map(|i| (i * 10_000, (i * 10) as f64)).collect();
        let rate = extrapolated(&points, 60_000, 60_000, true, true).unwrap();
        assert!((rate - 1.0).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn predict_linear_follows_a_line() {
        let points: Vec<(i64, f64)> = (0..10).map(|i| (i * 10_000, 5.0 + 2.0 * i as f64)).collect();
        let (slope, intercept) = linear_regression(&points, 90_000).unwrap();
        assert!((slope - 0.2).abs() < 1e-9 && (intercept - 23.0).abs() < 1e-9);
    }

    #[test]
    fn quantiles_interpolate_between_ranks() {
        assert_eq!(quantile(0.5, &[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(quantile(1.0, &[1.0, 2.0]), 2.0);
    }
}
