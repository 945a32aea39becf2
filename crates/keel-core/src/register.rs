//! Registers: the record sets a process keeps beside its work items — suppliers and contracts,
//! agreements, budgets and costs, capacity plans, outages, continuity plans, security controls.
//!
//! Each register is declared as data (a [`Register`] with typed [`FieldSpec`]s). Storage, the
//! API (with its OpenAPI description), CSV export, the audit trail and the web pages are derived
//! from the declaration by `keel::kernel::register`, so a process adds only what is its own:
//! cross-field rules ([`Register::rules`]), stamps ([`Stamp`]) and computed views (availability,
//! attainment, budget variance) in its own module. Like the work-item kernel, one machine, many
//! registers — never a copy per register.
//!
//! Values are parsed here, not merely checked ("parse, don't validate"): what leaves [`parse`] is
//! typed, bounded and complete, and the only checks left to storage are that referenced records
//! exist.

use crate::access::Action;
use crate::kernel::Kind;
use crate::text::Line;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a reference field points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    User,
    Group,
    Customer,
    /// A record another process keeps in its own table (a service, a CI, an asset), as that
    /// process declares the table.
    Table(&'static Table),
    /// A record of another register, by id.
    Record(&'static str),
    /// A work item of this kind, by number (`INC-000042`).
    Item(Kind),
}

impl Target {
    /// Whether references are text keys (a number, a tag) rather than numeric ids.
    pub fn text_key(self) -> bool {
        matches!(self, Target::Item(_)) || matches!(self, Target::Table(t) if t.prefix.is_some())
    }
}

/// A process's table that registers may refer to, declared by that process.
#[derive(Debug, PartialEq, Eq)]
pub struct Table {
    pub table: &'static str,
    /// The key column: `id`, or a text key such as an asset's `tag`.
    pub key: &'static str,
    /// Text keys are this prefix and digits (`AST-000001`); `None` for numeric ids.
    pub prefix: Option<&'static str>,
    /// The column people know a record by.
    pub label: &'static str,
    /// What one record is called in messages ("asset").
    pub what: &'static str,
    /// Offer every record as a choice on forms (for small tables).
    pub choices: bool,
    /// A record's page, `{}` standing for its key.
    pub page: Option<&'static str>,
}

/// A field's type: how it is parsed from JSON (or a form's text) and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// One line of text, trimmed, no control characters, at most this many characters.
    Line(usize),
    /// Free text, at most this many characters.
    Text(usize),
    /// A calendar day, `YYYY-MM-DD`.
    Day,
    /// A month, `YYYY-MM`.
    Month,
    /// An instant (RFC 3339; a zone-less `YYYY-MM-DDTHH:MM` is UTC), stored as epoch ms.
    Instant,
    /// A whole number within bounds.
    Int {
        min: i64,
        max: i64,
    },
    /// A decimal with at most three places (money, percentages), stored exactly as thousandths;
    /// bounds in thousandths.
    Decimal {
        min: i64,
        max: i64,
    },
    Choice(&'static [&'static str]),
    Bool,
    /// One referenced record.
    Ref(Target),
    /// Several referenced records (kept in one link table).
    Refs(Target),
}

/// One declared field. `name` is the JSON name and the column.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub ty: Type,
    pub required: bool,
    /// Used on create when the field is not given (as if the client had sent this text).
    pub default: Option<&'static str>,
    pub help: &'static str,
}

impl FieldSpec {
    pub const fn new(name: &'static str, label: &'static str, ty: Type) -> FieldSpec {
        FieldSpec {
            name,
            label,
            ty,
            required: false,
            default: None,
            help: "",
        }
    }
    pub const fn required(mut self) -> FieldSpec {
        self.required = true;
        self
    }
    pub const fn default(mut self, v: &'static str) -> FieldSpec {
        self.default = Some(v);
        self
    }
    pub const fn help(mut self, h: &'static str) -> FieldSpec {
        self.help = h;
        self
    }
    /// Whether the value lives in the register's own table (not in the link table).
    pub fn is_column(&self) -> bool {
        !matches!(self.ty, Type::Refs(_))
    }
}

/// When a field takes a value, record who and when (e.g. `status = approved` stamps
/// `approved_by` with the actor and `approved_on` with today), unless the client gave them.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub field: &'static str,
    pub value: &'static str,
    pub by: Option<&'static str>,
    pub on: Option<&'static str>,
}

/// A parsed, typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V {
    Null,
    Int(i64),
    Text(String),
    /// Ids (or, for [`Target::Item`], numbers as text) of a [`Type::Refs`] field.
    Many(Vec<String>),
}

impl V {
    pub fn is_null(&self) -> bool {
        match self {
            V::Null => true,
            V::Many(v) => v.is_empty(),
            _ => false,
        }
    }
    pub fn int(&self) -> Option<i64> {
        match self {
            V::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn text(&self) -> Option<&str> {
        match self {
            V::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// A record's values by field name; every declared field is present (absent ones are `Null`).
pub type Values = BTreeMap<&'static str, V>;

/// A value refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

pub fn field_error(field: &str, detail: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        detail: detail.into(),
    }
}

/// Cross-field rules of a register: the values after the change, and before it on an update.
pub type Rules = fn(&Values, Option<&Values>) -> Result<(), FieldError>;

fn no_rules(_: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    Ok(())
}

/// One register, declared.
#[derive(Debug, Clone, Copy)]
pub struct Register {
    /// The API collection and page path, e.g. `continuity-plans`.
    pub name: &'static str,
    /// The audit trail's entity type, e.g. `continuity_plan`.
    pub entity: &'static str,
    /// Plural title for pages, e.g. "Continuity plans".
    pub title: &'static str,
    /// The clause it serves, e.g. `8.7.2`.
    pub clause: &'static str,
    /// One sentence on what the register is for.
    pub summary: &'static str,
    pub table: &'static str,
    pub fields: &'static [FieldSpec],
    /// The field that names a record in lists and references.
    pub label: &'static str,
    pub read: Action,
    pub write: Action,
    pub rules: Rules,
    pub stamps: &'static [Stamp],
}

impl Register {
    /// Every register needs all of these; the optional parts are the builder methods below.
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        name: &'static str,
        entity: &'static str,
        title: &'static str,
        clause: &'static str,
        table: &'static str,
        fields: &'static [FieldSpec],
        label: &'static str,
        access: (Action, Action),
    ) -> Register {
        Register {
            name,
            entity,
            title,
            clause,
            summary: "",
            table,
            fields,
            label,
            read: access.0,
            write: access.1,
            rules: no_rules,
            stamps: &[],
        }
    }
    pub const fn summary(mut self, s: &'static str) -> Register {
        self.summary = s;
        self
    }
    pub const fn rules(mut self, r: Rules) -> Register {
        self.rules = r;
        self
    }
    pub const fn stamps(mut self, s: &'static [Stamp]) -> Register {
        self.stamps = s;
        self
    }
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }
    /// Fields a list can be filtered by with `?name=value`: references, choices and flags.
    pub fn filterable(&self) -> impl Iterator<Item = &'static FieldSpec> {
        self.fields.iter().filter(|f| {
            matches!(
                f.ty,
                Type::Ref(_) | Type::Refs(_) | Type::Choice(_) | Type::Bool | Type::Month
            )
        })
    }
}

/// Parse thousandths from `12`, `12.5`, `-0.125`: at most three places, no exponent.
pub fn parse_milli(raw: &str) -> Option<i64> {
    let t = raw.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 3
        || int.len() > 15
    {
        return None;
    }
    let i: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f = frac.to_string();
    while f.len() < 3 {
        f.push('0');
    }
    let v = i.checked_mul(1000)?.checked_add(f.parse::<i64>().ok()?)?;
    Some(if neg { -v } else { v })
}

/// Thousandths as the shortest decimal text (`12500` → `12.5`).
pub fn format_milli(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let (i, f) = (a / 1000, a % 1000);
    if f == 0 {
        format!("{sign}{i}")
    } else {
        let s = format!("{f:03}");
        format!("{sign}{i}.{}", s.trim_end_matches('0'))
    }
}

/// Epoch ms from RFC 3339, or a zone-less `YYYY-MM-DDTHH:MM[:SS]` read as UTC (what an HTML
/// `datetime-local` input sends).
pub fn parse_instant(raw: &str) -> Option<i64> {
    let t = raw.trim();
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let dt: jiff::civil::DateTime = t.parse().ok()?;
    jiff::tz::TimeZone::UTC
        .to_timestamp(dt)
        .ok()
        .map(|t| t.as_millisecond())
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parse one field's JSON value. Empty text is `Null`, so "required" means "given and not blank".
pub fn parse_value(f: &FieldSpec, v: &Value) -> Result<V, FieldError> {
    let bad = |d: &str| field_error(f.name, d);
    if v.is_null() {
        return Ok(V::Null);
    }
    if let Type::Refs(t) = f.ty {
        let items: Vec<Value> = match v {
            Value::Array(a) => a.clone(),
            Value::String(s) if s.trim().is_empty() => vec![],
            other => vec![other.clone()],
        };
        let mut out = Vec::new();
        for it in items {
            let s = as_text(&it).ok_or_else(|| bad("must be a list of references"))?;
            let s = s.trim().to_string();
            if s.is_empty() {
                continue;
            }
            out.push(parse_key(f.name, t, &s)?);
        }
        out.sort();
        out.dedup();
        return Ok(V::Many(out));
    }
    let s = match f.ty {
        Type::Text(_) => match v {
            Value::String(s) => s.clone(),
            _ => return Err(bad("must be text")),
        },
        _ => as_text(v).ok_or_else(|| bad("must be a single value"))?,
    };
    if s.trim().is_empty() {
        return Ok(V::Null);
    }
    Ok(match f.ty {
        Type::Line(max) => V::Text(
            Line::parse(&s, max)
                .map_err(|e| bad(&e.to_string()))?
                .into_string(),
        ),
        Type::Text(max) => {
            if s.chars().count() > max {
                return Err(bad(&format!("must be at most {max} characters")));
            }
            V::Text(s)
        }
        Type::Day => {
            let d: jiff::civil::Date = s
                .trim()
                .parse()
                .map_err(|_| bad("must be a date, YYYY-MM-DD"))?;
            V::Text(d.to_string())
        }
        Type::Month => {
            V::Text(parse_month(s.trim()).ok_or_else(|| bad("must be a month, YYYY-MM"))?)
        }
        Type::Instant => {
            V::Int(parse_instant(&s).ok_or_else(|| bad("must be an instant (RFC 3339)"))?)
        }
        Type::Int { min, max } => {
            let i: i64 = s
                .trim()
                .parse()
                .map_err(|_| bad("must be a whole number"))?;
            if i < min || i > max {
                return Err(bad(&format!("must be between {min} and {max}")));
            }
            V::Int(i)
        }
        Type::Decimal { min, max } => {
            let m = parse_milli(&s)
                .ok_or_else(|| bad("must be a number with at most three decimal places"))?;
            if m < min || m > max {
                return Err(bad(&format!(
                    "must be between {} and {}",
                    format_milli(min),
                    format_milli(max)
                )));
            }
            V::Int(m)
        }
        Type::Choice(opts) => {
            let t = s.trim();
            match opts.iter().find(|o| **o == t) {
                Some(o) => V::Text(o.to_string()),
                None => return Err(bad(&format!("must be one of: {}", opts.join(", ")))),
            }
        }
        Type::Bool => V::Int(match s.trim() {
            "true" | "on" | "1" | "yes" => 1,
            "false" | "off" | "0" | "no" => 0,
            _ => return Err(bad("must be true or false")),
        }),
        Type::Ref(t) => match parse_key(f.name, t, s.trim())? {
            k if t.text_key() => V::Text(k),
            k => V::Int(k.parse().map_err(|_| bad("must be an id"))?),
        },
        Type::Refs(_) => unreachable!("handled above"),
    })
}

/// A reference's key: an id, or a work item's number / an asset's tag, upper-cased.
fn parse_key(field: &str, t: Target, s: &str) -> Result<String, FieldError> {
    match t {
        Target::Item(kind) => {
            let up = s.to_ascii_uppercase();
            match kind.parse_number(&up) {
                Some(_) => Ok(up),
                None => Err(field_error(
                    field,
                    format!("must be a {} number ({}-…)", kind.as_str(), kind.prefix()),
                )),
            }
        }
        Target::Table(Table {
            prefix: Some(prefix),
            what,
            ..
        }) => {
            let up = s.to_ascii_uppercase();
            match up.strip_prefix(prefix) {
                Some(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => Ok(up),
                _ => Err(field_error(
                    field,
                    format!("must be an {what} tag ({prefix}…)"),
                )),
            }
        }
        _ => s
            .parse::<i64>()
            .ok()
            .filter(|i| *i > 0)
            .map(|i| i.to_string())
            .ok_or_else(|| field_error(field, "must be an id")),
    }
}

/// `YYYY-MM` normalised, or None.
pub fn parse_month(s: &str) -> Option<String> {
    let (y, m) = s.split_once('-')?;
    let y: i16 = y.parse().ok().filter(|y| (1900..=9999).contains(y))?;
    let m: i8 = m.parse().ok().filter(|m| (1..=12).contains(m))?;
    Some(format!("{y:04}-{m:02}"))
}

/// Parse a create (`before` is None) or an update: unknown fields are refused, absent fields
/// keep their value (or take their default on create), `null` or blank clears, required fields
/// must end up set, then the register's rules run.
pub fn parse(
    reg: &Register,
    input: &Map<String, Value>,
    before: Option<&Values>,
) -> Result<Values, FieldError> {
    for k in input.keys() {
        if reg.field(k).is_none() {
            return Err(field_error(k, "is not a field of this register"));
        }
    }
    let mut out = Values::new();
    for f in reg.fields {
        let v = match (input.get(f.name), before) {
            (Some(v), _) => parse_value(f, v)?,
            (None, Some(b)) => b.get(f.name).cloned().unwrap_or(V::Null),
            (None, None) => match f.default {
                Some(d) => parse_value(f, &Value::String(d.to_string()))?,
                None => match f.ty {
                    Type::Refs(_) => V::Many(vec![]),
                    _ => V::Null,
                },
            },
        };
        if f.required && v.is_null() {
            return Err(field_error(f.name, "is required"));
        }
        out.insert(f.name, v);
    }
    (reg.rules)(&out, before)?;
    Ok(out)
}

/// Apply the register's stamps to a parsed record: who (`actor`) and when (`today`).
pub fn stamp(reg: &Register, vals: &mut Values, before: Option<&Values>, actor: i64, today: &str) {
    for s in reg.stamps {
        let now = vals.get(s.field).and_then(V::text) == Some(s.value);
        let was = before.and_then(|b| b.get(s.field)).and_then(V::text) == Some(s.value);
        if now && !was {
            if let Some(by) = s.by
                && vals.get(by).is_none_or(V::is_null)
            {
                vals.insert(by, V::Int(actor));
            }
            if let Some(on) = s.on
                && vals.get(on).is_none_or(V::is_null)
            {
                vals.insert(on, V::Text(today.to_string()));
            }
        }
    }
}

/// A value as JSON for the API: decimals as numbers, flags as booleans, instants as RFC 3339.
pub fn to_json(f: &FieldSpec, v: &V) -> Value {
    match (f.ty, v) {
        (_, V::Null) => match f.ty {
            Type::Refs(_) => Value::Array(vec![]),
            _ => Value::Null,
        },
        (Type::Bool, V::Int(i)) => Value::Bool(*i != 0),
        (Type::Decimal { .. }, V::Int(m)) => format_milli(*m)
            .parse::<serde_json::Number>()
            .map(Value::Number)
            .unwrap_or(Value::Null),
        (Type::Instant, V::Int(ms)) => jiff::Timestamp::from_millisecond(*ms)
            .map(|t| Value::String(t.to_string()))
            .unwrap_or(Value::Null),
        (Type::Refs(Target::Item(_)), V::Many(ks)) => {
            Value::Array(ks.iter().map(|k| Value::String(k.clone())).collect())
        }
        (Type::Refs(_), V::Many(ks)) => Value::Array(
            ks.iter()
                .filter_map(|k| k.parse::<i64>().ok())
                .map(Value::from)
                .collect(),
        ),
        (_, V::Int(i)) => Value::from(*i),
        (_, V::Text(t)) => Value::String(t.clone()),
        (_, V::Many(ks)) => Value::Array(ks.iter().map(|k| Value::String(k.clone())).collect()),
    }
}

/// A value as form text (the inverse of [`parse_value`] for one-value fields).
pub fn to_text(f: &FieldSpec, v: &V) -> String {
    match (f.ty, v) {
        (_, V::Null) => String::new(),
        (Type::Decimal { .. }, V::Int(m)) => format_milli(*m),
        (Type::Bool, V::Int(i)) => if *i != 0 { "true" } else { "false" }.to_string(),
        (Type::Instant, V::Int(ms)) => jiff::Timestamp::from_millisecond(*ms)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default(),
        (_, V::Int(i)) => i.to_string(),
        (_, V::Text(t)) => t.clone(),
        (_, V::Many(ks)) => ks.join(","),
    }
}

/// The fields whose value differs between two versions of a record.
pub fn changed(reg: &Register, a: &Values, b: &Values) -> Vec<&'static str> {
    reg.fields
        .iter()
        .filter(|f| a.get(f.name) != b.get(f.name))
        .map(|f| f.name)
        .collect()
}

/// Helpers for rules.
pub fn text<'a>(v: &'a Values, k: &str) -> Option<&'a str> {
    v.get(k).and_then(V::text)
}
pub fn int(v: &Values, k: &str) -> Option<i64> {
    v.get(k).and_then(V::int)
}
pub fn set(v: &Values, k: &str) -> bool {
    v.get(k).is_some_and(|x| !x.is_null())
}

/// `a` must not be before `b` when both are set (days compare as text, instants as numbers).
pub fn not_before(v: &Values, later: &str, earlier: &str) -> Result<(), FieldError> {
    let bad = || field_error(later, format!("must not be before {earlier}"));
    match (v.get(later), v.get(earlier)) {
        (Some(V::Text(a)), Some(V::Text(b))) if a < b => Err(bad()),
        (Some(V::Int(a)), Some(V::Int(b))) if a < b => Err(bad()),
        _ => Ok(()),
    }
}

/// When `field` is `value`, each of `needs` must be set.
pub fn requires(v: &Values, field: &str, value: &str, needs: &[&str]) -> Result<(), FieldError> {
    if text(v, field) == Some(value) {
        for n in needs {
            if !set(v, n) {
                return Err(field_error(
                    n,
                    format!("is required when {field} is {value}"),
                ));
            }
        }
    }
    Ok(())
}

/// What is wrong with a set of registers' declarations (an empty list when nothing is): unique
/// names, a label that is a field, references to registers of the set, defaults that parse,
/// no field shadowing a stored column, stamps naming fields.
pub fn problems(regs: &[&Register]) -> Vec<String> {
    let mut out = vec![];
    let mut names = std::collections::HashSet::new();
    for r in regs {
        if !names.insert(r.name) {
            out.push(format!("{}: declared twice", r.name));
        }
        if r.field(r.label).is_none() {
            out.push(format!("{}: label {} is not a field", r.name, r.label));
        }
        for f in r.fields {
            if let Type::Ref(Target::Record(t)) | Type::Refs(Target::Record(t)) = f.ty
                && !regs.iter().any(|x| x.name == t)
            {
                out.push(format!(
                    "{}.{} refers to {t}, not a register",
                    r.name, f.name
                ));
            }
            if let Some(d) = f.default
                && parse_value(f, &Value::String(d.into())).is_err()
            {
                out.push(format!("{}.{}: default {d} does not parse", r.name, f.name));
            }
            if ["id", "version", "created_at", "updated_at", "created_by"].contains(&f.name) {
                out.push(format!("{}.{}: a stored column's name", r.name, f.name));
            }
        }
        for s in r.stamps {
            if r.field(s.field).is_none()
                || s.by.is_some_and(|b| r.field(b).is_none())
                || s.on.is_some_and(|b| r.field(b).is_none())
            {
                out.push(format!(
                    "{}: stamp {} names a missing field",
                    r.name, s.field
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    static FIELDS: &[FieldSpec] = &[
        FieldSpec::new("name", "Name", Type::Line(20)).required(),
        FieldSpec::new("status", "Status", Type::Choice(&["draft", "approved"])).default("draft"),
        FieldSpec::new(
            "amount",
            "Amount",
            Type::Decimal {
                min: 0,
                max: 1_000_000_000,
            },
        ),
        FieldSpec::new("starts", "Starts", Type::Day),
        FieldSpec::new("ends", "Ends", Type::Day),
        FieldSpec::new("at", "At", Type::Instant),
        FieldSpec::new("on", "On", Type::Bool),
        FieldSpec::new("owner_id", "Owner", Type::Ref(Target::User)),
        FieldSpec::new("approved_by", "Approved by", Type::Ref(Target::User)),
        FieldSpec::new("approved_on", "Approved on", Type::Day),
        FieldSpec::new(
            "incident",
            "Incident",
            Type::Ref(Target::Item(crate::operation::resolution::incident::KIND)),
        ),
        FieldSpec::new(
            "services",
            "Services",
            Type::Refs(Target::Table(&crate::operation::portfolio::service::TABLE)),
        ),
    ];
    fn rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
        not_before(v, "ends", "starts")
    }
    static REG: Register = Register::new(
        "things",
        "thing",
        "Things",
        "8.0",
        "things",
        FIELDS,
        "name",
        (Action::ReadAssurance, Action::ManageAssurance),
    )
    .rules(rules)
    .stamps(&[Stamp {
        field: "status",
        value: "approved",
        by: Some("approved_by"),
        on: Some("approved_on"),
    }]);

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn create_parses_types_and_defaults() {
        let v = parse(
            &REG,
            &obj(
                json!({"name": " Disk ", "amount": "12.50", "starts": "2026-01-05",
                "at": "2026-01-05T10:00", "on": "on", "owner_id": 3, "incident": "inc-000007",
                "services": [2, "1", 2]}),
            ),
            None,
        )
        .expect("parses");
        assert_eq!(v["name"], V::Text("Disk".into()));
        assert_eq!(v["status"], V::Text("draft".into()));
        assert_eq!(v["amount"], V::Int(12_500));
        assert_eq!(v["on"], V::Int(1));
        assert_eq!(v["owner_id"], V::Int(3));
        assert_eq!(v["incident"], V::Text("INC-000007".into()));
        assert_eq!(v["services"], V::Many(vec!["1".into(), "2".into()]));
        assert_eq!(v["at"], V::Int(1_767_607_200_000));
        assert_eq!(to_json(&FIELDS[2], &v["amount"]), json!(12.5));
        assert_eq!(to_json(&FIELDS[5], &v["at"]), json!("2026-01-05T10:00:00Z"));
    }

    #[test]
    fn errors_name_the_field() {
        let e = |v: Value| parse(&REG, &obj(v), None).expect_err("refused").field;
        assert_eq!(e(json!({})), "name");
        assert_eq!(e(json!({"name": "   "})), "name");
        assert_eq!(e(json!({"name": "x", "bogus": 1})), "bogus");
        assert_eq!(e(json!({"name": "x", "status": "gone"})), "status");
        assert_eq!(e(json!({"name": "x", "amount": "1.2345"})), "amount");
        assert_eq!(e(json!({"name": "x", "amount": -1})), "amount");
        assert_eq!(e(json!({"name": "x", "starts": "2026-13-01"})), "starts");
        assert_eq!(
            e(json!({"name": "x", "incident": "CHG-000001"})),
            "incident"
        );
        assert_eq!(e(json!({"name": "x", "owner_id": "me"})), "owner_id");
        assert_eq!(
            e(json!({"name": "x", "starts": "2026-02-01", "ends": "2026-01-01"})),
            "ends"
        );
    }

    #[test]
    fn update_keeps_absent_fields_and_null_clears() {
        let a = parse(&REG, &obj(json!({"name": "a", "amount": 5})), None).expect("a");
        let b = parse(&REG, &obj(json!({"amount": null})), Some(&a)).expect("b");
        assert_eq!(b["name"], V::Text("a".into()));
        assert_eq!(b["amount"], V::Null);
        assert_eq!(changed(&REG, &a, &b), vec!["amount"]);
        assert!(parse(&REG, &obj(json!({"name": null})), Some(&a)).is_err());
    }

    #[test]
    fn stamps_fill_who_and_when_once() {
        let a = parse(&REG, &obj(json!({"name": "a"})), None).expect("a");
        let mut b = parse(&REG, &obj(json!({"status": "approved"})), Some(&a)).expect("b");
        stamp(&REG, &mut b, Some(&a), 9, "2026-11-26");
        assert_eq!(b["approved_by"], V::Int(9));
        assert_eq!(b["approved_on"], V::Text("2026-11-26".into()));
        let mut c = parse(&REG, &obj(json!({"name": "b"})), Some(&b)).expect("c");
        stamp(&REG, &mut c, Some(&b), 10, "2026-12-01");
        assert_eq!(
            c["approved_by"],
            V::Int(9),
            "already approved: not re-stamped"
        );
    }

    #[test]
    fn milli_text() {
        assert_eq!(parse_milli("99.95"), Some(99_950));
        assert_eq!(parse_milli("-0.5"), Some(-500));
        assert_eq!(parse_milli(".5"), Some(500));
        assert_eq!(parse_milli("1e3"), None);
        assert_eq!(parse_milli(""), None);
        assert_eq!(format_milli(99_950), "99.95");
        assert_eq!(format_milli(-500), "-0.5");
        assert_eq!(parse_month("2026-7"), Some("2026-07".into()));
        assert_eq!(parse_month("2026-13"), None);
    }

    proptest! {
        #[test]
        fn milli_round_trips(m in -999_999_999_999i64..999_999_999_999) {
            prop_assert_eq!(parse_milli(&format_milli(m)), Some(m));
        }

        #[test]
        fn form_text_round_trips(m in 0i64..1_000_000_000, ms in 0i64..4_000_000_000_000) {
            let amount = &FIELDS[2];
            prop_assert_eq!(parse_value(amount, &json!(to_text(amount, &V::Int(m)))), Ok(V::Int(m)));
            let at = &FIELDS[5];
            let minute = ms - ms % 60_000;
            prop_assert_eq!(parse_value(at, &json!(to_text(at, &V::Int(minute)))), Ok(V::Int(minute)));
        }
    }
}
