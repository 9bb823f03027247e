//! PromQL over Vigie's read models, for the Prometheus-compatible API
//! (`http::prometheus`) that Grafana and `promtool` query.
//!
//! [`source`] says which Prometheus series the read models make (names,
//! labels, delta or sampled); [`eval`] evaluates an expression parsed by
//! `promql-parser` over a grid of steps; this module ties them together
//! and writes answers in the Prometheus HTTP API's JSON shapes. Everything
//! here reads one org's data: the caller picks the org from its token.

pub mod eval;
pub mod source;

use std::collections::BTreeSet;

use promql_parser::parser::Expr;
use serde_json::{json, Value as Json};

use eval::{Evaluator, Grid, Value};
use source::{Labels, Selector, Source};

/// Longest query text read.
pub const MAX_QUERY_BYTES: usize = 16_384;
/// Most steps a range query may have (Prometheus's own limit).
pub const MAX_STEPS: i64 = 11_000;
/// Most `match[]` selectors one listing takes.
pub const MAX_MATCHERS: usize = 50;
/// How long a query may run (Prometheus's default `--query.timeout`); a
/// shorter `timeout` parameter is honoured.
pub const MAX_QUERY_TIME: std::time::Duration = std::time::Duration::from_secs(120);

/// Why a query was not answered, in Prometheus's error types.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The query or a parameter is wrong (HTTP 400, `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// The query is well formed but cannot be evaluated (HTTP 422, `execution`).
    #[error("{0}")]
    Execution(String),
    /// The query ran past its time limit (HTTP 503, `timeout`).
    #[error("query timed out in expression evaluation (limit {0} s): narrow it, or take a larger step")]
    Timeout(u64),
}

impl EvalError {
    pub fn error_type(&self) -> &'static str {
        match self {
            EvalError::BadData(_) => "bad_data",
            EvalError::Execution(_) => "execution",
            EvalError::Timeout(_) => "timeout",
        }
    }
}

/// Parses a PromQL expression.
pub fn parse(query: &str) -> Result<Expr, EvalError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(EvalError::BadData(format!("the query is longer than {MAX_QUERY_BYTES} bytes")));
    }
    if query.trim().is_empty() {
        return Err(EvalError::BadData("invalid parameter \"query\": the query is empty".into()));
    }
    promql_parser::parser::parse(query)
        .map_err(|error| EvalError::BadData(format!("invalid parameter \"query\": {error}")))
}

/// Parses a series selector of `match[]`.
pub fn parse_selector(text: &str) -> Result<Selector, EvalError> {
    match parse(text)? {
        Expr::VectorSelector(selector) => Ok(Selector::new(selector.name.as_deref(), &selector.matchers)),
        _ => Err(EvalError::BadData(format!("invalid parameter \"match[]\": {text} is not a series selector"))),
    }
}

/// Evaluates `expr` on `grid` and writes the answer's `data` as the
/// Prometheus API does: `vector`, `scalar` or `string` for an instant
/// query, `matrix` for a range query.
///
/// Blocks (reads chunk files and logs): call it from a blocking thread.
pub fn query(source: &Source, expr: &Expr, grid: Grid, timeout: std::time::Duration) -> Result<Json, EvalError> {
    let timeout = timeout.min(MAX_QUERY_TIME);
    let evaluator = Evaluator { source, grid, deadline: std::time::Instant::now() + timeout, timeout };
    let value = evaluator.eval(expr)?;
    if !grid.ranged {
        let at = timestamp(grid.start_ms);
        return Ok(match value {
            Value::Scalar(values) => json!({"resultType": "scalar", "result": [at, number(values[0])]}),
            Value::Str(text) => json!({"resultType": "string", "result": [at, text]}),
            Value::Vector(mut rows) => {
                // In label order, unless the query asks for an order itself.
                if !matches!(expr, Expr::Call(call) if call.func.name.starts_with("sort")) {
                    rows.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                let result: Vec<Json> = rows
                    .into_iter()
                    .filter_map(|row| {
                        Some(json!({"metric": row.labels, "value": [at.clone(), number(row.values[0]?)]}))
                    })
                    .collect();
                json!({"resultType": "vector", "result": result})
            }
        });
    }
    let rows = match value {
        Value::Scalar(values) => {
            vec![eval::Row { labels: Labels::new(), values: values.into_iter().map(Some).collect() }]
        }
        Value::Vector(rows) => rows,
        Value::Str(_) => {
            return Err(EvalError::BadData(
                "invalid expression type \"string\" for range query, must be Scalar or instant Vector".into(),
            ))
        }
    };
    let mut rows: Vec<eval::Row> = rows;
    rows.sort_by(|a, b| a.labels.cmp(&b.labels));
    let result: Vec<Json> = rows
        .into_iter()
        .map(|row| {
            let values: Vec<Json> = row
                .values
                .iter()
                .enumerate()
                .filter_map(|(step, value)| Some(json!([timestamp(grid.at(step)), number((*value)?)])))
                .collect();
            json!({"metric": row.labels, "values": values})
        })
        .collect();
    Ok(json!({"resultType": "matrix", "result": result}))
}

/// The series `selectors` match (every series without any), labels only.
///
/// Blocks: call it from a blocking thread.
pub fn series(source: &Source, selectors: &[Selector], range_ms: (i64, i64)) -> Result<Vec<Labels>, EvalError> {
    let everything = [Selector::everything()];
    let selectors = if selectors.is_empty() { &everything[..] } else { selectors };
    let mut found = BTreeSet::new();
    for selector in selectors {
        for series in source.list(selector, range_ms)? {
            found.insert(series.labels);
        }
    }
    Ok(found.into_iter().collect())
}

/// The label names of the series `selectors` match.
pub fn label_names(source: &Source, selectors: &[Selector], range_ms: (i64, i64)) -> Result<Vec<String>, EvalError> {
    let names: BTreeSet<String> =
        series(source, selectors, range_ms)?.into_iter().flat_map(|labels| labels.into_keys()).collect();
    Ok(names.into_iter().collect())
}

/// The values of one label among the series `selectors` match.
pub fn label_values(
    source: &Source,
    name: &str,
    selectors: &[Selector],
    range_ms: (i64, i64),
) -> Result<Vec<String>, EvalError> {
    let values: BTreeSet<String> =
        series(source, selectors, range_ms)?.into_iter().filter_map(|mut labels| labels.remove(name)).collect();
    Ok(values.into_iter().collect())
}

/// A time as the Prometheus API writes it: seconds, a float only when needed.
pub fn timestamp(ms: i64) -> Json {
    if ms % 1_000 == 0 {
        json!(ms / 1_000)
    } else {
        json!(ms as f64 / 1_000.0)
    }
}

/// A sample value as the Prometheus API writes it: a string, as Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)` does.
pub fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests;
