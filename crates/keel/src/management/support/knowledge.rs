//! Clause 7.6 — knowledge: articles with immutable versions, written and reviewed by staff,
//! published for requesters, retired when obsolete; linked to services and known errors; found
//! by full-text search (requesters search published articles before raising a ticket).

use crate::kernel::search::words;
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Backend, Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, ApiQuery, double_option};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::FieldChange;
use keel_core::management::support::knowledge::LIFECYCLE;
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const MAX_BODY: usize = 200_000;

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: i64,
    number: String,
    state: String,
    owner_id: i64,
    owner_name: String,
    service_id: Option<i64>,
    service_name: Option<String>,
    known_error: Option<String>,
    review_date: Option<String>,
    latest_version: i64,
    published_version: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

const ROW_SQL: &str = "SELECT a.id, a.number, a.state, a.owner_id, o.name AS owner_name, a.service_id, s.name AS service_name, \
    k.number AS known_error, a.review_date, a.latest_version, a.published_version, a.version, a.created_at, a.updated_at \
    FROM knowledge_articles a JOIN users o ON o.id = a.owner_id LEFT JOIN services s ON s.id = a.service_id \
    LEFT JOIN work_items k ON k.id = a.known_error_id";

/// An article as a reader sees it: requesters the published version, staff the latest.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Article {
    pub number: String,
    /// draft, review, published or retired.
    pub state: String,
    pub title: String,
    pub body: String,
    /// The version shown here.
    pub shown_version: i64,
    pub latest_version: i64,
    pub published_version: Option<i64>,
    pub owner: String,
    pub owner_id: i64,
    pub service: Option<String>,
    pub service_id: Option<i64>,
    /// The known error (`KE-…`) it documents, if any.
    pub known_error: Option<String>,
    /// When the owner must review it (YYYY-MM-DD).
    pub review_date: Option<String>,
    /// Increases with every change; send it back as `version` to update.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// States the lifecycle allows next.
    pub next_states: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
#[schema(as = ArticleVersion)]
pub struct Version {
    pub version: i64,
    pub title: String,
    pub body: String,
    pub author: Option<String>,
    #[serde(skip)]
    pub created_at: i64,
}

fn staff(p: &Principal) -> bool {
    p.can(Action::ReadInternalItems)
}

async fn row(db: &Db, number: &str) -> AppResult<Row> {
    db.opt(Q::new(format!("{ROW_SQL} WHERE a.number = $1")).bind(number.to_uppercase()))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("article {number}")))
}

async fn row_tx(tx: &mut Tx, number: &str) -> AppResult<Row> {
    tx.opt(Q::new(format!("{ROW_SQL} WHERE a.number = $1")).bind(number.to_uppercase()))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("article {number}")))
}

/// The version `p` may read, or not found (requesters: published and not retired).
fn visible_version(p: &Principal, r: &Row) -> AppResult<i64> {
    if staff(p) {
        return Ok(r.latest_version);
    }
    match r.published_version {
        Some(v) if r.state != "retired" => Ok(v),
        _ => Err(AppError::NotFound(format!("article {}", r.number))),
    }
}

async fn view(db: &Db, p: &Principal, r: Row) -> AppResult<Article> {
    let shown = visible_version(p, &r)?;
    let (title, body): (String, String) = db
        .one(
            Q::new(
                "SELECT title, body FROM knowledge_versions WHERE article_id = $1 AND version = $2",
            )
            .bind(r.id)
            .bind(shown),
        )
        .await?;
    Ok(Article {
        number: r.number,
        next_states: if staff(p) {
            LIFECYCLE
                .next_states(&r.state)
                .into_iter()
                .map(String::from)
                .collect()
        } else {
            vec![]
        },
        state: r.state,
        title,
        body,
        shown_version: shown,
        latest_version: r.latest_version,
        published_version: r.published_version,
        owner: r.owner_name,
        owner_id: r.owner_id,
        service: r.service_name,
        service_id: r.service_id,
        known_error: r.known_error,
        review_date: r.review_date,
        version: r.version,
        created_at: iso(r.created_at),
        updated_at: iso(r.updated_at),
    })
}

fn parse_title(t: &str) -> AppResult<String> {
    Ok(Line::parse(t, 200)
        .map_err(|e| AppError::invalid("title", e))?
        .into_string())
}

fn parse_body(b: &str) -> AppResult<String> {
    if b.trim().is_empty() {
        return Err(AppError::invalid("body", "must not be empty"));
    }
    bounded(b, MAX_BODY).map_err(|e| AppError::invalid("body", e))
}

fn parse_date(d: &str) -> AppResult<String> {
    d.trim()
        .parse::<jiff::civil::Date>()
        .map(|d| d.to_string())
        .map_err(|_| AppError::invalid("review_date", format!("`{d}` is not a date (YYYY-MM-DD)")))
}

async fn known_error_id(tx: &mut Tx, number: &str) -> AppResult<i64> {
    let bad = || {
        AppError::invalid(
            "known_error",
            format!("`{number}` is not a known error (KE-…)"),
        )
    };
    if keel_core::operation::resolution::problem::KNOWN_ERROR
        .parse_number(number)
        .is_none()
    {
        return Err(bad());
    }
    let id: Option<(i64,)> = tx
        .opt(
            Q::new("SELECT id FROM work_items WHERE number = $1 AND kind = 'known_error'")
                .bind(number.to_uppercase()),
        )
        .await?;
    id.map(|(i,)| i).ok_or_else(bad)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewArticle {
    pub title: String,
    pub body: String,
    pub service_id: Option<i64>,
    /// A known error's number (`KE-000001`).
    pub known_error: Option<String>,
    /// YYYY-MM-DD; the owner is reminded when it comes.
    pub review_date: Option<String>,
    /// Defaults to the author.
    pub owner_id: Option<i64>,
}

pub async fn create(db: &Db, p: &Principal, a: NewArticle) -> AppResult<Article> {
    p.require(Action::WriteKnowledge)?;
    let title = parse_title(&a.title)?;
    let body = parse_body(&a.body)?;
    let review = a.review_date.as_deref().map(parse_date).transpose()?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    if let Some(s) = a.service_id {
        crate::directory::exists(&mut tx, "services", s, "service_id").await?;
    }
    let owner = a.owner_id.unwrap_or(p.user_id);
    if a.owner_id.is_some() {
        crate::directory::exists(&mut tx, "users", owner, "owner_id").await?;
    }
    let ke = match a.known_error.as_deref() {
        Some(n) => Some(known_error_id(&mut tx, n).await?),
        None => None,
    };
    let number = crate::platform::db::next_number(&mut tx, "knowledge", "KB").await?;
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO knowledge_articles (number, state, owner_id, service_id, known_error_id, review_date, latest_version, version, created_at, updated_at) \
                    VALUES ($1, 'draft', $2, $3, $4, $5, 1, 1, $6, $6) RETURNING id")
                .bind(number.as_str())
                .bind(owner)
                .bind(a.service_id)
                .bind(ke)
                .bind(review.clone())
                .bind(now),
        )
        .await?;
    tx.exec(
        Q::new("INSERT INTO knowledge_versions (article_id, version, title, body, author_id, created_at) VALUES ($1, 1, $2, $3, $4, $5)")
            .bind(id)
            .bind(title.as_str())
            .bind(body.as_str())
            .bind(p.user_id)
            .bind(now),
    )
    .await?;
    let ch = |f: &str, v: Value| FieldChange {
        field: f.into(),
        old: Value::Null,
        new: v,
    };
    append(
        &mut tx,
        &p.actor(),
        "create",
        "knowledge",
        &number,
        vec![
            ch("title", json!(title)),
            ch("body", json!(body)),
            ch("state", json!("draft")),
            ch("owner_id", json!(owner)),
            ch("service_id", json!(a.service_id)),
            ch("known_error", json!(a.known_error)),
            ch("review_date", json!(review)),
        ],
    )
    .await?;
    tx.commit().await?;
    view(db, p, row(db, &number).await?).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticlePatch {
    /// A new title or body writes a new version (a published article returns to draft; its
    /// published version stays visible until the new one is published).
    pub title: Option<String>,
    pub body: Option<String>,
    /// review (submit), draft (send back), published and retired (publishers only).
    pub state: Option<String>,
    pub owner_id: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub review_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub service_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub known_error: Option<Option<String>>,
    /// The `version` you read; a stale one gets 412.
    pub version: Option<i64>,
}

pub async fn update(
    db: &Db,
    p: &Principal,
    number: &str,
    patch: ArticlePatch,
) -> AppResult<Article> {
    p.require(Action::WriteKnowledge)?;
    let mut tx = db.begin().await?;
    let before = row_tx(&mut tx, number).await?;
    if let Some(v) = patch.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let (old_title, old_body): (String, String) = tx
        .one(
            Q::new(
                "SELECT title, body FROM knowledge_versions WHERE article_id = $1 AND version = $2",
            )
            .bind(before.id)
            .bind(before.latest_version),
        )
        .await?;
    let title = patch
        .title
        .as_deref()
        .map(parse_title)
        .transpose()?
        .unwrap_or_else(|| old_title.clone());
    let body = patch
        .body
        .as_deref()
        .map(parse_body)
        .transpose()?
        .unwrap_or_else(|| old_body.clone());
    let now = now_ms();
    let mut changes = vec![];
    let mut ch = |f: &str, old: Value, new: Value| {
        if old != new {
            changes.push(FieldChange {
                field: f.into(),
                old,
                new,
            });
        }
    };
    let mut latest = before.latest_version;
    let mut state = before.state.clone();
    if title != old_title || body != old_body {
        if state == "retired" {
            return Err(AppError::Conflict(format!(
                "{} is retired; revive it as a draft first",
                before.number
            )));
        }
        latest += 1;
        tx.exec(
            Q::new("INSERT INTO knowledge_versions (article_id, version, title, body, author_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(before.id)
                .bind(latest)
                .bind(title.as_str())
                .bind(body.as_str())
                .bind(p.user_id)
                .bind(now),
        )
        .await?;
        ch("title", json!(old_title), json!(title));
        ch("body", json!(old_body), json!(body));
        ch(
            "latest_version",
            json!(before.latest_version),
            json!(latest),
        );
        if state == "published" || state == "review" {
            state = "draft".into();
        }
    }
    let mut published = before.published_version;
    if let Some(to) = patch.state.as_deref().filter(|s| *s != state) {
        let to = LIFECYCLE.check(&state, to, |_| true)?;
        if matches!(to, "published" | "retired") {
            p.require(Action::PublishKnowledge)?;
        }
        if to == "published" {
            published = Some(latest);
        }
        state = to.to_string();
    }
    ch("state", json!(before.state), json!(state));
    ch(
        "published_version",
        json!(before.published_version),
        json!(published),
    );
    let owner = patch.owner_id.unwrap_or(before.owner_id);
    if owner != before.owner_id {
        crate::directory::exists(&mut tx, "users", owner, "owner_id").await?;
        ch("owner_id", json!(before.owner_id), json!(owner));
    }
    let review = match patch.review_date {
        Some(Some(d)) => Some(parse_date(&d)?),
        Some(None) => None,
        None => before.review_date.clone(),
    };
    ch("review_date", json!(before.review_date), json!(review));
    let service = patch.service_id.unwrap_or(before.service_id);
    if service != before.service_id {
        if let Some(s) = service {
            crate::directory::exists(&mut tx, "services", s, "service_id").await?;
        }
        ch("service_id", json!(before.service_id), json!(service));
    }
    let ke_id = match &patch.known_error {
        Some(Some(n)) => Some(known_error_id(&mut tx, n).await?),
        Some(None) => None,
        None => match &before.known_error {
            Some(n) => Some(known_error_id(&mut tx, n).await?),
            None => None,
        },
    };
    if let Some(k) = &patch.known_error {
        ch(
            "known_error",
            json!(before.known_error),
            json!(k.as_ref().map(|n| n.to_uppercase())),
        );
    }
    if changes.is_empty() {
        drop(tx);
        return view(db, p, before).await;
    }
    let n = tx
        .exec(
            Q::new("UPDATE knowledge_articles SET state = $1, owner_id = $2, service_id = $3, known_error_id = $4, review_date = $5, latest_version = $6, \
                    published_version = $7, version = version + 1, updated_at = $8 WHERE id = $9 AND version = $10")
                .bind(state.as_str())
                .bind(owner)
                .bind(service)
                .bind(ke_id)
                .bind(review)
                .bind(latest)
                .bind(published)
                .bind(now)
                .bind(before.id)
                .bind(before.version),
        )
        .await?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    append(
        &mut tx,
        &p.actor(),
        "update",
        "knowledge",
        &before.number,
        changes,
    )
    .await?;
    tx.commit().await?;
    view(db, p, row(db, &before.number).await?).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KnowledgeParams {
    /// Words to find in titles and bodies (all of them, as prefixes), best match first.
    pub q: Option<String>,
    /// Only this state (staff).
    pub state: Option<String>,
    /// Only articles whose review date has come (staff).
    #[serde(default)]
    pub review_due: bool,
    /// 1–100, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArticleSummary {
    pub number: String,
    pub title: String,
    pub state: String,
    pub service: Option<String>,
    pub review_date: Option<String>,
    pub updated_at: String,
}

/// number, title, state, service, review date, updated.
type SummaryRow = (String, String, String, Option<String>, Option<String>, i64);

/// Articles `p` may read: requesters the published ones; `q` searches them full-text.
pub async fn list(
    db: &Db,
    p: &Principal,
    params: &KnowledgeParams,
) -> AppResult<Vec<ArticleSummary>> {
    p.require(Action::ReadKnowledge)?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 100"));
    }
    let mut q = Q::new("");
    let mut conds = vec![];
    // Which version a reader sees (and searches): the latest for staff, the published one
    // otherwise.
    let shown = if staff(p) {
        "a.latest_version"
    } else {
        conds.push("a.published_version IS NOT NULL AND a.state <> 'retired'".to_string());
        "a.published_version"
    };
    if let Some(s) = params.state.as_deref().filter(|s| !s.is_empty()) {
        if !staff(p) {
            return Err(AppError::Forbidden(
                "only staff filter articles by state".into(),
            ));
        }
        let st = LIFECYCLE.state(s).ok_or_else(|| {
            AppError::invalid(
                "state",
                format!(
                    "unknown state `{s}` (states: {})",
                    LIFECYCLE.states.join(", ")
                ),
            )
        })?;
        conds.push(format!("a.state = {}", q.arg(st)));
    }
    if params.review_due {
        let today = jiff::tz::TimeZone::UTC
            .to_datetime(jiff::Timestamp::now())
            .date()
            .to_string();
        conds.push(format!(
            "a.review_date <= {} AND a.state <> 'retired'",
            q.arg(today)
        ));
    }
    let mut order = "a.updated_at DESC".to_string();
    let mut from = format!(
        "knowledge_articles a JOIN knowledge_versions v ON v.article_id = a.id AND v.version = {shown}"
    );
    if let Some(text) = params.q.as_deref().filter(|t| !t.trim().is_empty()) {
        let w = words(text);
        if w.is_empty() {
            return Err(AppError::invalid(
                "q",
                "give at least one word to search for",
            ));
        }
        match db.backend() {
            Backend::Sqlite => {
                let m = q.arg(
                    w.iter()
                        .map(|w| format!("\"{w}\"*"))
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                from.push_str(" JOIN knowledge_fts f ON f.rowid = v.id");
                conds.push(format!("knowledge_fts MATCH {m}"));
                order = "bm25(knowledge_fts, 5.0, 1.0)".into();
            }
            Backend::Postgres => {
                let t = q.arg(
                    w.iter()
                        .map(|w| format!("{w}:*"))
                        .collect::<Vec<_>>()
                        .join(" & "),
                );
                conds.push(format!(
                    "to_tsvector('english', v.title || ' ' || v.body) @@ to_tsquery('english', {t})"
                ));
                order = format!(
                    "ts_rank(setweight(to_tsvector('english', v.title), 'A') || setweight(to_tsvector('english', v.body), 'C'), to_tsquery('english', {t})) DESC"
                );
            }
        }
    }
    let lim = q.arg(limit);
    let wh = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    q.sql = format!(
        "SELECT a.number, v.title, a.state, s.name, a.review_date, a.updated_at FROM {from} LEFT JOIN services s ON s.id = a.service_id{wh} ORDER BY {order}, a.id DESC LIMIT {lim}"
    );
    let rows: Vec<SummaryRow> = db.all(q).await?;
    Ok(rows
        .into_iter()
        .map(
            |(number, title, state, service, review_date, at)| ArticleSummary {
                number,
                title,
                state,
                service,
                review_date,
                updated_at: iso(at),
            },
        )
        .collect())
}

pub async fn get(db: &Db, p: &Principal, number: &str) -> AppResult<Article> {
    p.require(Action::ReadKnowledge)?;
    view(db, p, row(db, number).await?).await
}

pub async fn versions(db: &Db, p: &Principal, number: &str) -> AppResult<Vec<Version>> {
    p.require(Action::ReadKnowledge)?;
    p.require(Action::ReadInternalItems)?;
    let r = row(db, number).await?;
    Ok(db
        .all(Q::new("SELECT v.version, v.title, v.body, u.name AS author, v.created_at FROM knowledge_versions v LEFT JOIN users u ON u.id = v.author_id WHERE v.article_id = $1 ORDER BY v.version").bind(r.id))
        .await?)
}

/// Tell owners whose articles' review dates have come (the `knowledge.review` schedule, daily).
pub async fn remind_reviews(db: &Db) -> AppResult<u64> {
    let today = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
        .to_string();
    let due: Vec<(i64, String, i64)> = db
        .all(Q::new("SELECT a.id, a.number, a.owner_id FROM knowledge_articles a WHERE a.review_date <= $1 AND a.state <> 'retired' \
                     AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event = 'knowledge.review_due' AND o.payload LIKE '%' || a.number || '%' AND o.created_at > $2)").bind(today).bind(now_ms() - 7 * 86_400_000))
        .await?;
    let n = due.len() as u64;
    let mut tx = db.begin().await?;
    let events = due
        .into_iter()
        .map(|(_, number, owner)| crate::platform::outbox::Event {
            event: "knowledge.review_due",
            item_id: None,
            title: format!("{number} is due for review"),
            payload: json!({"article": number}),
            recipients: vec![owner],
        })
        .collect();
    crate::platform::outbox::emit_many(&mut tx, events).await?;
    tx.commit().await?;
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// Knowledge articles (requesters: published only); `q` searches.
#[utoipa::path(get, path = "/api/v1/knowledge", tag = "knowledge", params(KnowledgeParams),
    responses((status = 200, body = Vec<ArticleSummary>), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_list(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<KnowledgeParams>,
) -> AppResult<Json<Vec<ArticleSummary>>> {
    Ok(Json(list(&st.db, &p, &q).await?))
}

/// Write an article (a draft, version 1).
#[utoipa::path(post, path = "/api/v1/knowledge", tag = "knowledge", request_body = NewArticle,
    responses((status = 201, body = Article), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewArticle>,
) -> AppResult<(StatusCode, Json<Article>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// An article: the published version for requesters, the latest for staff.
#[utoipa::path(get, path = "/api/v1/knowledge/{number}", tag = "knowledge", params(("number" = String, Path)),
    responses((status = 200, body = Article), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_get(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Article>> {
    Ok(Json(get(&st.db, &p, &number).await?))
}

/// Edit, submit, send back, publish or retire an article.
#[utoipa::path(patch, path = "/api/v1/knowledge/{number}", tag = "knowledge", params(("number" = String, Path)), request_body = ArticlePatch,
    responses((status = 200, body = Article), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<ArticlePatch>,
) -> AppResult<Json<Article>> {
    Ok(Json(update(&st.db, &p, &number, b).await?))
}

/// Every version of an article (staff and auditors).
#[utoipa::path(get, path = "/api/v1/knowledge/{number}/versions", tag = "knowledge", params(("number" = String, Path)),
    responses((status = 200, body = Vec<Version>), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_versions(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Vec<Version>>> {
    Ok(Json(versions(&st.db, &p, &number).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "knowledge",
    api: part_api,
    pages: super::knowledge_ui::routes,
    templates: &[
        (
            "knowledge.html",
            include_str!("../../../templates/knowledge.html"),
        ),
        (
            "knowledge_list.html",
            include_str!("../../../templates/knowledge_list.html"),
        ),
    ],
    tags: &[("knowledge", "Knowledge articles with versions (7.6)")],
    jobs: &[crate::platform::part::JobKind {
        kind: "knowledge.review",
        every: Some(|_| Some(24 * 60 * 60 * 1000)),
        run: |st, _job| {
            Box::pin(async move {
                remind_reviews(&st.db)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        },
    }],
    nav: &[crate::platform::part::Nav {
        order: 70,
        label: "Knowledge",
        requester_label: None,
        href: "/knowledge",
        shown: |_| true,
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(Action::WriteKnowledge, routes!(api_list, api_create)))
        .routes(gate(Action::WriteKnowledge, routes!(api_get, api_update)))
        .routes(routes!(api_versions))
}
