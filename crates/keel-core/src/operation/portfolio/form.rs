//! Typed fields an administrator defines as data, without code changes: the attributes of a
//! configuration item class (8.2.6) and the order form of a catalogue offering (8.2.4).
//!
//! Definitions and answers are JSON. [`parse_defs`] checks a definition once when it is saved;
//! [`validate`] parses answers against it on the server, whatever the client checked. Values
//! that name other records (a user, a CI) are returned as [`Reference`]s for the caller to check
//! exist, since this crate does no I/O.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Number,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    Boolean,
    /// One of `options`.
    Choice,
    /// A user's id.
    User,
    /// A configuration item's id.
    Ci,
}

/// One field of a definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Machine name: lower-case letters, digits and `_`, starting with a letter.
    pub name: String,
    /// Shown to people; defaults to the name.
    #[serde(default)]
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    /// The allowed values of a `choice`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Longest text accepted (default and ceiling 4,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// A hint shown under the field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
}

pub const MAX_TEXT: usize = 4000;
pub const MAX_FIELDS: usize = 60;

/// A field that failed: `field` is the path for a problem document (`attributes.ram_gb`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct FormError {
    pub field: String,
    pub detail: String,
}

fn err(prefix: &str, name: &str, detail: impl Into<String>) -> FormError {
    FormError {
        field: if name.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{name}")
        },
        detail: detail.into(),
    }
}

/// A value naming another record, for the caller to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference<'a> {
    pub field: &'a str,
    pub kind: FieldKind,
    pub id: i64,
}

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some('a'..='z'))
        && n.len() <= 40
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Parse and check a definition (a JSON array of fields); `prefix` names it in errors.
pub fn parse_defs(v: &Value, prefix: &str) -> Result<Vec<FieldDef>, FormError> {
    let defs: Vec<FieldDef> =
        serde_json::from_value(v.clone()).map_err(|e| err(prefix, "", e.to_string()))?;
    if defs.len() > MAX_FIELDS {
        return Err(err(prefix, "", format!("at most {MAX_FIELDS} fields")));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(defs.len());
    for mut d in defs {
        if !valid_name(&d.name) {
            return Err(err(
                prefix,
                &d.name,
                "a field name is lower-case letters, digits and _ (at most 40), starting with a letter",
            ));
        }
        if !seen.insert(d.name.clone()) {
            return Err(err(prefix, &d.name, "defined twice"));
        }
        if d.kind == FieldKind::Choice {
            if d.options.is_empty() {
                return Err(err(prefix, &d.name, "a choice needs options"));
            }
            let distinct: std::collections::BTreeSet<_> = d.options.iter().collect();
            if distinct.len() != d.options.len() || d.options.iter().any(|o| o.trim().is_empty()) {
                return Err(err(
                    prefix,
                    &d.name,
                    "options must be distinct and non-empty",
                ));
            }
        } else if !d.options.is_empty() {
            return Err(err(prefix, &d.name, "only a choice has options"));
        }
        if d.max_length.is_some_and(|m| m == 0 || m > MAX_TEXT) {
            return Err(err(
                prefix,
                &d.name,
                format!("max_length is 1 to {MAX_TEXT}"),
            ));
        }
        if let (Some(a), Some(b)) = (d.min, d.max)
            && a > b
        {
            return Err(err(prefix, &d.name, "min is above max"));
        }
        if d.label.trim().is_empty() {
            d.label = d.name.replace('_', " ");
        }
        out.push(d);
    }
    Ok(out)
}

/// Parse the one-line-per-field notation of the web UI into a definition:
/// `name | type | label | required | option, option …` (only name and type are needed).
pub fn parse_lines(text: &str, prefix: &str) -> Result<Vec<FieldDef>, FormError> {
    let mut out = vec![];
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let bad = |d: String| err(prefix, "", format!("line {}: {d}", i + 1));
        let (name, ty) = match parts.as_slice() {
            [n, t, ..] => (*n, *t),
            _ => {
                return Err(bad(format!(
                    "`{line}` is not `name | type | label | required | options`"
                )));
            }
        };
        let kind: FieldKind =
            serde_json::from_value(Value::String(ty.to_lowercase())).map_err(|_| {
                bad(format!(
                    "`{ty}` is not one of: text, number, date, boolean, choice, user, ci"
                ))
            })?;
        let required = match parts.get(3).copied().unwrap_or("") {
            "required" => true,
            "" | "optional" => false,
            other => return Err(bad(format!("`{other}` is not `required` or `optional`"))),
        };
        out.push(json_def(
            name,
            kind,
            parts.get(2).copied().unwrap_or(""),
            required,
            parts.get(4).copied().unwrap_or(""),
        ));
    }
    parse_defs(&Value::Array(out), prefix)
}

fn json_def(name: &str, kind: FieldKind, label: &str, required: bool, options: &str) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(name.into()));
    m.insert(
        "type".into(),
        serde_json::to_value(kind).unwrap_or(Value::Null),
    );
    m.insert("label".into(), Value::String(label.into()));
    m.insert("required".into(), Value::Bool(required));
    let opts: Vec<Value> = options
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| Value::String(o.into()))
        .collect();
    if !opts.is_empty() {
        m.insert("options".into(), Value::Array(opts));
    }
    Value::Object(m)
}

/// Text from a form post or JSON: HTML forms send everything as strings.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn one(d: &FieldDef, v: &Value, prefix: &str) -> Result<Option<Value>, FormError> {
    let e = |detail: String| err(prefix, &d.name, detail);
    if v.is_null() || matches!(v, Value::String(s) if s.trim().is_empty()) {
        return Ok(None);
    }
    let Some(text) = as_text(v) else {
        return Err(e("must be a single value".into()));
    };
    let value = match d.kind {
        FieldKind::Text => {
            let max = d.max_length.unwrap_or(MAX_TEXT);
            if text.chars().count() > max {
                return Err(e(format!("longer than {max} characters")));
            }
            if text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
            {
                return Err(e("contains control characters".into()));
            }
            Value::String(text)
        }
        FieldKind::Number => {
            let n: f64 = text
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| e(format!("`{text}` is not a number")))?;
            if d.min.is_some_and(|m| n < m) || d.max.is_some_and(|m| n > m) {
                let range = match (d.min, d.max) {
                    (Some(a), Some(b)) => format!("between {a} and {b}"),
                    (Some(a), None) => format!("at least {a}"),
                    (None, Some(b)) => format!("at most {b}"),
                    (None, None) => unreachable!("checked above"),
                };
                return Err(e(format!("must be {range}")));
            }
            serde_json::Number::from_f64(n)
                .map(|x| {
                    if n.fract() == 0.0 && n.abs() < 9e15 {
                        Value::from(n as i64)
                    } else {
                        Value::Number(x)
                    }
                })
                .ok_or_else(|| e("not a finite number".into()))?
        }
        FieldKind::Date => {
            let d: jiff::civil::Date = text
                .parse()
                .map_err(|_| e(format!("`{text}` is not a date (YYYY-MM-DD)")))?;
            Value::String(d.to_string())
        }
        FieldKind::Boolean => match text.as_str() {
            "true" | "on" | "yes" | "1" => Value::Bool(true),
            "false" | "off" | "no" | "0" => Value::Bool(false),
            _ => return Err(e(format!("`{text}` is not true or false"))),
        },
        FieldKind::Choice => {
            if !d.options.contains(&text) {
                return Err(e(format!(
                    "`{text}` is not one of: {}",
                    d.options.join(", ")
                )));
            }
            Value::String(text)
        }
        FieldKind::User | FieldKind::Ci => {
            let id: i64 = text
                .parse()
                .ok()
                .filter(|i| *i > 0)
                .ok_or_else(|| e(format!("`{text}` is not an id")))?;
            Value::from(id)
        }
    };
    Ok(Some(value))
}

/// Parse `input` against `defs`: every value typed, required fields present, nothing unknown.
/// Empty values are dropped; the result holds only answered fields, in definition order.
pub fn validate(
    defs: &[FieldDef],
    input: &Map<String, Value>,
    prefix: &str,
) -> Result<Map<String, Value>, FormError> {
    if let Some(k) = input.keys().find(|k| !defs.iter().any(|d| &d.name == *k)) {
        return Err(err(prefix, k, "no such field"));
    }
    let mut out = Map::new();
    for d in defs {
        match input
            .get(&d.name)
            .map(|v| one(d, v, prefix))
            .transpose()?
            .flatten()
        {
            Some(v) => {
                out.insert(d.name.clone(), v);
            }
            None if d.required => return Err(err(prefix, &d.name, "is required")),
            None => {}
        }
    }
    Ok(out)
}

/// The user and CI ids among validated `values`.
pub fn references<'a>(defs: &'a [FieldDef], values: &Map<String, Value>) -> Vec<Reference<'a>> {
    defs.iter()
        .filter(|d| matches!(d.kind, FieldKind::User | FieldKind::Ci))
        .filter_map(|d| {
            values
                .get(&d.name)
                .and_then(Value::as_i64)
                .map(|id| Reference {
                    field: &d.name,
                    kind: d.kind,
                    id,
                })
        })
        .collect()
}

/// Apply a patch to stored values: a value sets a field, `null` clears it.
pub fn merge(current: &Map<String, Value>, patch: &Map<String, Value>) -> Map<String, Value> {
    let mut out = current.clone();
    for (k, v) in patch {
        if v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn defs() -> Vec<FieldDef> {
        parse_defs(
            &json!([
                {"name": "hostname", "type": "text", "required": true, "max_length": 63},
                {"name": "ram_gb", "type": "number", "min": 0, "max": 4096},
                {"name": "env", "type": "choice", "options": ["prod", "test"]},
                {"name": "bought", "type": "date"},
                {"name": "virtual", "type": "boolean"},
                {"name": "owner", "type": "user"},
                {"name": "host", "type": "ci"}
            ]),
            "attributes",
        )
        .expect("valid")
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn answers_are_typed_and_form_strings_accepted() {
        let d = defs();
        let out = validate(
            &d,
            &obj(json!({"hostname": " web-01 ", "ram_gb": "16", "env": "prod", "bought": "2025-02-03",
                        "virtual": "on", "owner": "7", "host": 9})),
            "attributes",
        )
        .expect("valid");
        assert_eq!(
            Value::Object(out.clone()),
            json!({"hostname": "web-01", "ram_gb": 16, "env": "prod", "bought": "2025-02-03",
                   "virtual": true, "owner": 7, "host": 9})
        );
        let refs = references(&d, &out);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[1].kind, FieldKind::Ci);
    }

    #[test]
    fn errors_name_the_field() {
        let d = defs();
        let e = |v: Value| {
            validate(&d, &obj(v), "attributes")
                .expect_err("invalid")
                .field
        };
        assert_eq!(e(json!({})), "attributes.hostname");
        assert_eq!(
            e(json!({"hostname": "a", "ram_gb": "lots"})),
            "attributes.ram_gb"
        );
        assert_eq!(
            e(json!({"hostname": "a", "ram_gb": 5000})),
            "attributes.ram_gb"
        );
        assert_eq!(e(json!({"hostname": "a", "env": "dev"})), "attributes.env");
        assert_eq!(
            e(json!({"hostname": "a", "bought": "03/02/2025"})),
            "attributes.bought"
        );
        assert_eq!(
            e(json!({"hostname": "a", "colour": "red"})),
            "attributes.colour"
        );
        assert_eq!(e(json!({"hostname": "a", "owner": -1})), "attributes.owner");
        assert_eq!(e(json!({"hostname": ["a"]})), "attributes.hostname");
        assert_eq!(
            e(json!({"hostname": "x".repeat(64)})),
            "attributes.hostname"
        );
    }

    #[test]
    fn definitions_are_checked() {
        let bad = |v: Value| parse_defs(&v, "attributes").expect_err("invalid");
        bad(json!([{"name": "A", "type": "text"}]));
        bad(json!([{"name": "a", "type": "choice"}]));
        bad(json!([{"name": "a", "type": "text"}, {"name": "a", "type": "date"}]));
        bad(json!([{"name": "a", "type": "colour"}]));
        bad(json!([{"name": "a", "type": "number", "min": 3, "max": 1}]));
        assert_eq!(defs()[1].label, "ram gb");
    }

    #[test]
    fn line_notation_round_trips() {
        let defs = parse_lines(
            "model | choice | Model | required | 13 inch, 15 inch\n\nneeded_by | date | Needed by\nfor_user|user",
            "form",
        )
        .expect("valid");
        assert_eq!(defs.len(), 3);
        assert_eq!(defs[0].options, vec!["13 inch", "15 inch"]);
        assert!(defs[0].required && !defs[1].required);
        assert_eq!(defs[2].label, "for user");
        assert!(
            parse_lines("x | colour", "form")
                .expect_err("bad")
                .detail
                .starts_with("line 1:")
        );
        assert!(parse_lines("x", "form").is_err());
        assert!(parse_lines("x | text | X | maybe", "form").is_err());
    }

    #[test]
    fn merge_sets_and_clears() {
        let m = merge(
            &obj(json!({"a": 1, "b": 2})),
            &obj(json!({"a": null, "c": 3})),
        );
        assert_eq!(Value::Object(m), json!({"b": 2, "c": 3}));
    }

    proptest! {
        /// Whatever arrives, validation either refuses or returns only declared, typed fields.
        #[test]
        fn validate_output_only_declared(s in ".{0,80}", n in proptest::num::f64::ANY) {
            let d = defs();
            for input in [json!({"hostname": s.clone()}), json!({"hostname": "h", "ram_gb": n}),
                          json!({"hostname": "h", "env": s.clone(), "bought": s.clone()})] {
                if let Ok(out) = validate(&d, &obj(input), "a") {
                    prop_assert!(out.contains_key("hostname"));
                    for (k, v) in &out {
                        let def = d.iter().find(|f| &f.name == k).expect("declared");
                        // Re-validating the output is a fixed point.
                        let again = one(def, v, "a").expect("valid");
                        prop_assert_eq!(again.as_ref(), Some(v));
                    }
                }
            }
        }
    }
}
