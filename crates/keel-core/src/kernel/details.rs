//! Process-specific fields of a work item ("details"), declared per kind as data.
//!
//! The kernel stores every kind in one table; what a process adds beyond the shared columns
//! (a problem's root cause, a known error's workaround …) is declared here and kept in one JSON
//! object per item. Declaring the fields lets the kernel validate them, audit each one as its own
//! field, and let a lifecycle require them, without a schema change per process.

use serde_json::{Map, Value};

/// One declared detail field; every value is text, bounded, optionally from a vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub max: usize,
    /// Allowed values, when the field is a choice.
    pub choices: Option<&'static [&'static str]>,
    /// A calendar date, `YYYY-MM-DD` (e.g. a risk's next review).
    pub date: bool,
}

impl Field {
    pub const fn text(name: &'static str, label: &'static str, max: usize) -> Field {
        Field {
            name,
            label,
            max,
            choices: None,
            date: false,
        }
    }

    pub const fn date(name: &'static str, label: &'static str) -> Field {
        Field {
            name,
            label,
            max: 10,
            choices: None,
            date: true,
        }
    }

    pub const fn choice(
        name: &'static str,
        label: &'static str,
        choices: &'static [&'static str],
    ) -> Field {
        Field {
            name,
            label,
            max: 64,
            choices: Some(choices),
            date: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct DetailError {
    /// `details.<name>`, for the problem's `field`.
    pub field: String,
    pub detail: String,
}

fn err(name: &str, detail: impl Into<String>) -> DetailError {
    DetailError {
        field: format!("details.{name}"),
        detail: detail.into(),
    }
}

/// Apply `changes` to `current`: a string sets a field (trimmed; empty clears it), `null` clears
/// it. Unknown names, non-strings, over-long text and values outside a choice are refused.
pub fn apply(
    fields: &[Field],
    current: &Map<String, Value>,
    changes: &Map<String, Value>,
) -> Result<Map<String, Value>, DetailError> {
    let mut out = current.clone();
    for (name, v) in changes {
        let f = fields.iter().find(|f| f.name == name).ok_or_else(|| {
            let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
            err(
                name,
                if known.is_empty() {
                    "this kind has no detail fields".to_string()
                } else {
                    format!("unknown field (fields: {})", known.join(", "))
                },
            )
        })?;
        match v {
            Value::Null => {
                out.remove(name);
            }
            Value::String(s) => {
                let s = s.trim();
                if s.is_empty() {
                    out.remove(name);
                    continue;
                }
                if s.chars().count() > f.max {
                    return Err(err(name, format!("at most {} characters", f.max)));
                }
                if let Some(c) = f.choices
                    && !c.contains(&s)
                {
                    return Err(err(name, format!("must be one of: {}", c.join(", "))));
                }
                if f.date && s.parse::<jiff::civil::Date>().is_err() {
                    return Err(err(name, "must be a date YYYY-MM-DD"));
                }
                out.insert(name.clone(), Value::String(s.to_string()));
            }
            _ => return Err(err(name, "must be a string or null")),
        }
    }
    Ok(out)
}

/// Is the named detail set?
pub fn has(details: &Map<String, Value>, name: &str) -> bool {
    details
        .get(name)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: &[Field] = &[
        Field::text("root_cause", "Root cause", 10),
        Field::choice("origin", "Origin", &["incident", "trend"]),
        Field::date("review", "Review"),
    ];

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn set_clear_and_refuse() {
        let d = apply(
            FIELDS,
            &Map::new(),
            &map(json!({"root_cause": " disk ", "origin": "trend"})),
        )
        .expect("ok");
        assert_eq!(
            Value::Object(d.clone()),
            json!({"root_cause": "disk", "origin": "trend"})
        );
        assert!(has(&d, "root_cause"));
        let d = apply(FIELDS, &d, &map(json!({"root_cause": null, "origin": ""}))).expect("ok");
        assert!(d.is_empty());
        let e = apply(FIELDS, &d, &map(json!({"colour": "red"}))).expect_err("unknown");
        assert_eq!(e.field, "details.colour");
        let e = apply(FIELDS, &d, &map(json!({"origin": "gut"}))).expect_err("choice");
        assert!(e.detail.contains("incident, trend"));
        let e = apply(FIELDS, &d, &map(json!({"root_cause": "x".repeat(11)}))).expect_err("long");
        assert_eq!(e.field, "details.root_cause");
        assert!(apply(FIELDS, &d, &map(json!({"root_cause": 3}))).is_err());
        assert!(apply(&[], &d, &map(json!({"x": "y"}))).is_err());
        let e = apply(FIELDS, &d, &map(json!({"review": "next week"}))).expect_err("date");
        assert_eq!(e.field, "details.review");
        assert!(apply(FIELDS, &d, &map(json!({"review": "2027-02-28"}))).is_ok());
        assert!(apply(FIELDS, &d, &map(json!({"review": "2027-02-30"}))).is_err());
    }
}
