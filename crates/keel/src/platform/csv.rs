//! CSV answers: RFC 4180 text, a list of any records as CSV, and the response that carries it.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

fn csv_cell(s: &str) -> String {
    // Cells that a spreadsheet would run as a formula are prefixed with a quote (CSV injection).
    let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Rows as CSV text (RFC 4180), header first.
pub fn csv(header: &[String], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Any list of records as CSV: `id` first, then one column per top-level field in name order,
/// nested values written as JSON, lists of plain values joined with `; `.
pub fn list_csv<T: serde::Serialize>(name: &str, items: &[T]) -> Response {
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = items
        .iter()
        .filter_map(|i| match serde_json::to_value(i) {
            Ok(serde_json::Value::Object(m)) => Some(m),
            _ => None,
        })
        .collect();
    let mut header: Vec<String> = vec![];
    for r in &rows {
        for k in r.keys() {
            if !header.contains(k) {
                header.push(k.clone());
            }
        }
    }
    header.sort_by_key(|h| (h != "id", h.clone()));
    let cell = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(a)) if a.iter().all(|x| x.is_string() || x.is_number()) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
    };
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| header.iter().map(|h| cell(r.get(h))).collect())
        .collect();
    csv_response(name, csv(&header, &body))
}

pub fn csv_response(name: &str, body: String) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}
