//! Web pages for every register, derived from its declaration like its API: the list with its
//! filters and CSV export, a form to add a record, and each record's page with its edit form and
//! history. A form that is refused is shown again with the values entered and the field marked.

use crate::kernel::register::{self as registers, Rec, parse_filters};
use crate::platform::db::{Db, Q};
use crate::platform::error::{AppError, AppResult};
use crate::platform::ui::{
    FormFields, WebUser, clear_flash, flash, form_error, page_error, redirect_with_flash,
    unprocessable_if, viewer,
};
use crate::platform::web::AppState;
use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use keel_core::register::{self as core, FieldSpec, Register, Target, Type, V};
use minijinja::value::Serde;
use minijinja::{Value as MV, context};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/registers/{name}", get(list_page).post(create_submit))
        .route(
            "/registers/{name}/{id}",
            get(record_page).post(update_submit),
        )
}

fn find(name: &str) -> AppResult<&'static Register> {
    crate::kernel::process::register(name)
        .ok_or_else(|| AppError::NotFound(format!("register {name}")))
}

#[derive(Serialize)]
struct Opt {
    value: String,
    label: String,
}

#[derive(Serialize)]
struct FormField {
    name: &'static str,
    label: &'static str,
    help: &'static str,
    /// line, text, day, month, instant, number, choice, bool, select, multi, key
    input: &'static str,
    required: bool,
    value: String,
    values: Vec<String>,
    options: Vec<Opt>,
}

/// Choices for a reference: small tables in full; CIs and work items are typed in by id/number.
async fn options(db: &Db, t: Target) -> AppResult<Option<Vec<Opt>>> {
    let sql = match t {
        Target::User => "SELECT id, name FROM users WHERE disabled = 0 ORDER BY name".to_string(),
        Target::Group => "SELECT id, name FROM support_groups ORDER BY name".to_string(),
        Target::Customer => "SELECT id, name FROM customers ORDER BY name".to_string(),
        Target::Table(t) if t.choices && t.prefix.is_none() => format!(
            "SELECT {key}, {label} FROM {table} ORDER BY {label}",
            key = t.key,
            label = t.label,
            table = t.table
        ),
        Target::Record(r) => {
            let r = registers::reg(r);
            let rows: Vec<(i64, Option<String>)> = db
                .all(Q::new(format!(
                    "SELECT id, CAST({} AS TEXT) FROM {} ORDER BY id DESC LIMIT 500",
                    r.label, r.table
                )))
                .await?;
            return Ok(Some(
                rows.into_iter()
                    .map(|(id, l)| Opt {
                        value: id.to_string(),
                        label: l.unwrap_or_else(|| id.to_string()),
                    })
                    .collect(),
            ));
        }
        Target::Table(_) | Target::Item(_) => return Ok(None),
    };
    let rows: Vec<(i64, String)> = db.all(Q::new(sql)).await?;
    Ok(Some(
        rows.into_iter()
            .map(|(id, l)| Opt {
                value: id.to_string(),
                label: l,
            })
            .collect(),
    ))
}

async fn form_fields(
    db: &Db,
    r: &Register,
    current: Option<&Rec>,
    entered: Option<&FormFields>,
) -> AppResult<Vec<FormField>> {
    let mut out = vec![];
    for f in r.fields {
        let v = current
            .and_then(|c| c.vals.get(f.name))
            .cloned()
            .unwrap_or(V::Null);
        let (input, options) = match f.ty {
            Type::Line(_) => ("line", None),
            Type::Text(_) => ("text", None),
            Type::Day => ("day", None),
            Type::Month => ("month", None),
            Type::Instant => ("instant", None),
            Type::Int { .. } | Type::Decimal { .. } => ("number", None),
            Type::Choice(c) => (
                "choice",
                Some(
                    c.iter()
                        .map(|x| Opt {
                            value: x.to_string(),
                            label: x.replace('_', " "),
                        })
                        .collect(),
                ),
            ),
            Type::Bool => ("bool", None),
            Type::Ref(t) => match options(db, t).await? {
                Some(o) => ("select", Some(o)),
                None => ("key", None),
            },
            Type::Refs(t) => match options(db, t).await? {
                Some(o) => ("multi", Some(o)),
                None => ("keys", None),
            },
        };
        let mut value = core::to_text(f, &v);
        if current.is_none()
            && value.is_empty()
            && let Some(d) = f.default
        {
            value = d.to_string();
        }
        let mut values = match &v {
            V::Many(ks) => ks.clone(),
            _ => vec![],
        };
        if let Some(e) = entered {
            value = e.get(f.name);
            values = e.all(f.name);
        }
        out.push(FormField {
            name: f.name,
            label: f.label,
            help: f.help,
            input,
            required: f.required && f.default.is_none(),
            value,
            values,
            options: options.unwrap_or_default(),
        });
    }
    Ok(out)
}

/// A posted form as the JSON the API takes: every field present (blank clears), lists for
/// multi-selects and typed-in lists split on commas.
fn form_input(r: &Register, f: &FormFields) -> Map<String, Value> {
    let mut m = Map::new();
    for spec in r.fields {
        match spec.ty {
            Type::Refs(t) if !offers_choices(t) => {
                let items: Vec<Value> = f
                    .get(spec.name)
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| json!(s))
                    .collect();
                m.insert(spec.name.into(), Value::Array(items));
            }
            Type::Refs(_) => {
                m.insert(
                    spec.name.into(),
                    Value::Array(f.all(spec.name).into_iter().map(Value::String).collect()),
                );
            }
            Type::Bool => {
                m.insert(
                    spec.name.into(),
                    json!(if f.opt(spec.name).is_some_and(|v| v == "true") {
                        "true"
                    } else {
                        "false"
                    }),
                );
            }
            _ => {
                if let Some(v) = f.opt(spec.name) {
                    m.insert(spec.name.into(), Value::String(v));
                }
            }
        }
    }
    m
}

/// What a list shows of a record: the label, then up to six more fields.
fn columns(r: &Register) -> Vec<&'static FieldSpec> {
    let mut cols: Vec<&'static FieldSpec> = r.field(r.label).into_iter().collect();
    cols.extend(
        r.fields
            .iter()
            .filter(|f| f.name != r.label && !matches!(f.ty, Type::Text(_)))
            .take(6),
    );
    cols
}

fn shown(f: &FieldSpec, rec: &Rec) -> String {
    match rec.labels.get(f.name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => match (f.ty, rec.vals.get(f.name)) {
            (Type::Bool, Some(V::Int(i))) => if *i != 0 { "yes" } else { "no" }.into(),
            (Type::Instant, Some(V::Int(ms))) => jiff::Timestamp::from_millisecond(*ms)
                .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            (Type::Choice(_), Some(V::Text(t))) => t.replace('_', " "),
            (_, Some(v)) => core::to_text(f, v),
            _ => String::new(),
        },
    }
}

/// Whether a reference's form offers every record as a choice (else the key is typed in).
fn offers_choices(t: Target) -> bool {
    match t {
        Target::Item(_) => false,
        Target::Table(t) => t.choices && t.prefix.is_none(),
        _ => true,
    }
}

/// Where the record a reference points at has a page.
fn href(f: &FieldSpec, rec: &Rec) -> Option<String> {
    let v = rec.vals.get(f.name)?;
    match (f.ty, v) {
        (Type::Ref(Target::Record(r)), V::Int(i)) => Some(format!("/registers/{r}/{i}")),
        (Type::Ref(Target::Table(t)), V::Int(i)) => t.page.map(|p| p.replace("{}", &i.to_string())),
        (Type::Ref(Target::Table(t)), V::Text(k)) => t.page.map(|p| p.replace("{}", k)),
        (Type::Ref(Target::Item(k)), V::Text(n)) => Some(format!("/{}/{n}", k.collection())),
        _ => None,
    }
}

#[derive(Serialize)]
struct Cell {
    text: String,
    href: Option<String>,
}

async fn list_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let r = find(&name)?;
        p.require(r.read)?;
        let filters = parse_filters(r, &q)?;
        let (recs, next) = registers::list(
            &st.db,
            r,
            &filters,
            q.get("cursor").map(String::as_str),
            100,
        )
        .await?;
        let form = if p.can(r.write) {
            form_fields(&st.db, r, None, None).await?
        } else {
            vec![]
        };
        Ok::<_, AppError>((r, recs, next, form))
    }
    .await;
    match r {
        Ok((r, recs, next, form)) => clear_flash(render_list(
            &st,
            &p,
            r,
            &recs,
            next,
            form,
            &q,
            None,
            flash(&headers),
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

#[allow(clippy::too_many_arguments)]
fn render_list(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    r: &Register,
    recs: &[Rec],
    next: Option<String>,
    form: Vec<FormField>,
    q: &HashMap<String, String>,
    error: Option<AppError>,
    flash: Option<String>,
) -> Response {
    let cols = columns(r);
    let rows: Vec<Value> = recs
        .iter()
        .map(|rec| {
            json!({
                "id": rec.id,
                "cells": cols.iter().map(|f| Cell { text: shown(f, rec), href: None }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let filters: Vec<Value> = r
        .filterable()
        .filter(|f| matches!(f.ty, Type::Choice(_) | Type::Bool))
        .map(|f| {
            let opts: Vec<&str> = match f.ty {
                Type::Choice(c) => c.to_vec(),
                _ => vec!["true", "false"],
            };
            json!({"name": f.name, "label": f.label, "options": opts, "value": q.get(f.name).cloned().unwrap_or_default()})
        })
        .collect();
    let query: String = q
        .iter()
        .filter(|(k, v)| k.as_str() != "cursor" && !v.is_empty())
        .map(|(k, v)| {
            format!(
                "{}={}&",
                crate::platform::ui::urlencode(k),
                crate::platform::ui::urlencode(v)
            )
        })
        .collect();
    let (error_field, error) = form_error(&error);
    st.ui.render(
        "register.html",
        context! {
            me => viewer(p), flash => flash,
            reg => context! { name => r.name, title => r.title, clause => r.clause, summary => r.summary },
            columns => MV::from(Serde(cols.iter().map(|f| f.label).collect::<Vec<_>>())),
            rows => MV::from(Serde(&rows)), next => next, query => query,
            filters => MV::from(Serde(&filters)),
            form => MV::from(Serde(&form)), can_write => p.can(r.write),
            error => error, error_field => error_field,
        },
    )
}

async fn create_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(name): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let r = match find(&name) {
        Ok(r) => r,
        Err(e) => return page_error(&st, Some(&p), e),
    };
    let res = async {
        f.check_csrf(&p)?;
        registers::create(&st.db, &p, r, &form_input(r, &f)).await
    }
    .await;
    match res {
        Ok(rec) => redirect_with_flash(
            &format!("/registers/{}/{}", r.name, rec.id),
            &format!("Added to {}.", r.title.to_lowercase()),
        ),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            let shown = async {
                let (recs, next) = registers::list(&st.db, r, &vec![], None, 100).await?;
                let form = form_fields(&st.db, r, None, Some(&f)).await?;
                Ok::<_, AppError>((recs, next, form))
            }
            .await;
            match shown {
                Ok((recs, next, form)) => unprocessable_if(
                    render_list(
                        &st,
                        &p,
                        r,
                        &recs,
                        next,
                        form,
                        &HashMap::new(),
                        Some(e),
                        None,
                    ),
                    true,
                ),
                Err(e) => page_error(&st, Some(&p), e),
            }
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn history(db: &Db, r: &Register, id: i64) -> AppResult<Vec<Value>> {
    let rows: Vec<(i64, String, String, String)> = db
        .all(
            Q::new("SELECT at, actor, action, changes FROM audit_log WHERE entity_type = $1 AND entity_id = $2 ORDER BY seq DESC LIMIT 100")
                .bind(r.entity)
                .bind(id.to_string()),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(at, actor, action, changes)| {
            let changes: Value = serde_json::from_str(&changes).unwrap_or(Value::Null);
            let fields: Vec<String> = changes
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.get("field").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            json!({"at": at, "actor": actor, "action": action, "fields": fields.join(", ")})
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn render_record(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    r: &Register,
    rec: &Rec,
    form: Vec<FormField>,
    hist: Vec<Value>,
    error: Option<AppError>,
    flash: Option<String>,
) -> Response {
    let fields: Vec<Value> = r
        .fields
        .iter()
        .map(|f| json!({"label": f.label, "text": shown(f, rec), "href": href(f, rec)}))
        .collect();
    let (error_field, error) = form_error(&error);
    st.ui.render(
        "register_record.html",
        context! {
            me => viewer(p), flash => flash,
            reg => context! { name => r.name, title => r.title, clause => r.clause, summary => r.summary },
            id => rec.id, label => shown(r.field(r.label).unwrap_or(&r.fields[0]), rec),
            version => rec.version,
            fields => MV::from(Serde(&fields)), form => MV::from(Serde(&form)),
            history => MV::from(Serde(&hist)), can_write => p.can(r.write),
            error => error, error_field => error_field,
        },
    )
}

async fn record_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let r = find(&name)?;
        p.require(r.read)?;
        let id: i64 = id
            .parse()
            .map_err(|_| AppError::NotFound(format!("record {id}")))?;
        let rec = registers::get(&st.db, r, id).await?;
        let form = if p.can(r.write) {
            form_fields(&st.db, r, Some(&rec), None).await?
        } else {
            vec![]
        };
        let hist = if p.can(keel_core::access::Action::ReadAudit) {
            history(&st.db, r, id).await?
        } else {
            vec![]
        };
        Ok::<_, AppError>((r, rec, form, hist))
    }
    .await;
    match r {
        Ok((r, rec, form, hist)) => clear_flash(render_record(
            &st,
            &p,
            r,
            &rec,
            form,
            hist,
            None,
            flash(&headers),
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn update_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((name, id)): Path<(String, String)>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let found = async {
        let r = find(&name)?;
        let id: i64 = id
            .parse()
            .map_err(|_| AppError::NotFound(format!("record {id}")))?;
        Ok::<_, AppError>((r, id))
    }
    .await;
    let (r, id) = match found {
        Ok(x) => x,
        Err(e) => return page_error(&st, Some(&p), e),
    };
    let res = async {
        f.check_csrf(&p)?;
        let version = f.get("version").parse().ok();
        registers::update(&st.db, &p, r, id, &form_input(r, &f), version).await
    }
    .await;
    let back = format!("/registers/{}/{id}", r.name);
    match res {
        Ok(_) => redirect_with_flash(&back, "Saved."),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Stale { .. })) => {
            let shown = async {
                let rec = registers::get(&st.db, r, id).await?;
                let form = form_fields(&st.db, r, Some(&rec), Some(&f)).await?;
                let hist = history(&st.db, r, id).await?;
                Ok::<_, AppError>((rec, form, hist))
            }
            .await;
            match shown {
                Ok((rec, form, hist)) => unprocessable_if(
                    render_record(&st, &p, r, &rec, form, hist, Some(e), None),
                    true,
                ),
                Err(e) => page_error(&st, Some(&p), e),
            }
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}
