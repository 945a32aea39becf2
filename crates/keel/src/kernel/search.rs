//! Full-text search over work items — numbers, titles, descriptions, detail fields (a known
//! error's workaround …) and comments — ranked, within what the caller may read (ADR 0009).
//!
//! The user's text is never handed to the engine's query syntax: it is cut into words, and each
//! word becomes a quoted prefix term (FTS5) or a `word:*` lexeme (PostgreSQL), all required.

use super::api::require_read;
use super::{ItemRow, SELECT_ITEM, Scope};
use crate::platform::auth::Principal;
use crate::platform::db::{Backend, Db, Q};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiQuery;
use crate::platform::ui::{WebUser, page_error, viewer};
use crate::platform::web::AppState;
use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use keel_core::access::Action;
use keel_core::kernel::Kind;
use minijinja::context;
use serde::{Deserialize, Serialize};

/// At most this many words are used from a query.
const MAX_WORDS: usize = 12;

/// The words of a query: letters and digits, lower-cased.
pub fn words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .map(str::to_lowercase)
        .collect()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find (all of them; each may be the start of a word).
    pub q: String,
    /// Only this kind (`incident`, `problem`, `known_error`).
    pub kind: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Hit {
    pub number: String,
    pub kind: String,
    pub title: String,
    pub state: String,
    /// Higher is better; comparable within one response.
    pub score: f64,
    /// Where the words were found: `item` or `comment`.
    pub matched_in: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    pub query: String,
    pub hits: Vec<Hit>,
}

/// Search what `p` may read. Internal notes count only for those who may read them.
pub async fn search(
    db: &Db,
    p: &Principal,
    text: &str,
    kind: Option<Kind>,
    limit: i64,
) -> AppResult<Vec<Hit>> {
    let words = words(text);
    if words.is_empty() {
        return Err(AppError::invalid(
            "q",
            "give at least one word to search for",
        ));
    }
    let kinds: Vec<Kind> = super::process::kinds()
        .into_iter()
        .filter(|k| kind.is_none_or(|want| want == *k))
        .filter(|k| require_read(p, *k).is_ok())
        .collect();
    if kinds.is_empty() {
        return Ok(vec![]);
    }
    let internal_ok = p.can(Action::InternalNotes);
    // A broad query (thousands of matching items) ranks the newest WINDOW matches of each
    // index, not all of them: ranking every match costs tens of milliseconds per 10,000 items,
    // and among that many equally plausible hits the recent ones are the ones people look for.
    // On SQLite the window is a cap on a walk that FTS5 makes newest first anyway: a narrow
    // query's matches all fit in it, so it needs no count first (on broad prefix queries over
    // 1,000,000 items the count alone took 14 ms). PostgreSQL ranks a broad query by another
    // plan (an ordered scan, below), so it counts to choose.
    let window = match db.backend() {
        Backend::Sqlite => Some(WINDOW),
        Backend::Postgres => (matching(db, &words).await? > WINDOW).then_some(WINDOW),
    };
    let ranked = ranked_hits(db, p, &words, &kinds, internal_ok, limit, window).await?;
    if ranked.is_empty() {
        return Ok(vec![]);
    }
    let mut q = Q::new("");
    let ids: Vec<String> = ranked.iter().map(|(id, _, _)| q.arg(*id)).collect();
    q.sql = format!("{SELECT_ITEM} WHERE w.id IN ({})", ids.join(", "));
    let rows: std::collections::HashMap<i64, ItemRow> = db
        .all::<ItemRow>(q)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    Ok(ranked
        .into_iter()
        .filter_map(|(id, score, src)| {
            rows.get(&id).map(|r| Hit {
                number: r.number.clone(),
                kind: r.kind.clone(),
                title: r.title.clone(),
                state: r.state.clone(),
                score: -score,
                matched_in: src,
            })
        })
        .collect())
}

/// How many items a broad query ranks (the newest matches of each index).
pub const WINDOW: i64 = 5_000;
/// PostgreSQL's window: its ordered scan tests rows one by one, so it looks at fewer.
const PG_WINDOW: i64 = 1_000;

/// All the words, each as a prefix, as PostgreSQL `to_tsquery` text.
fn prefix_tsquery(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("{w}:*"))
        .collect::<Vec<_>>()
        .join(" & ")
}

/// How many items match all the words, counted up to `WINDOW + 1` (no ranking); PostgreSQL only.
async fn matching(db: &Db, words: &[String]) -> AppResult<i64> {
    let mut q = Q::new("");
    let t = q.arg(prefix_tsquery(words));
    let n = q.arg(WINDOW + 1);
    q.sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM work_items_fts f WHERE f.tsv @@ to_tsquery('english', {t}) LIMIT {n}) x"
    );
    let (n,): (i64,) = db.one(q).await?;
    Ok(n)
}

/// The ids of the best matches `p` may read, with score (lower is better) and source; `window`
/// ranks only the newest `window` matches of each index.
async fn ranked_hits(
    db: &Db,
    p: &Principal,
    words: &[String],
    kinds: &[Kind],
    internal_ok: bool,
    limit: i64,
    window: Option<i64>,
) -> AppResult<Vec<(i64, f64, String)>> {
    let mut q = Q::new("");
    let notes = if internal_ok {
        ""
    } else {
        " AND c.internal = 0"
    };
    let hits_sql = match db.backend() {
        Backend::Sqlite => {
            let m = q.arg(
                words
                    .iter()
                    .map(|w| format!("\"{w}\"*"))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            let cap = window
                .map(|k| format!(" ORDER BY rowid DESC LIMIT {}", q.arg(k)))
                .unwrap_or_default();
            format!(
                "SELECT i.id, i.score, 'item' AS src FROM (SELECT rowid AS id, rank AS score FROM work_items_fts WHERE work_items_fts MATCH {m}{cap}) i \
                 UNION ALL \
                 SELECT c.item_id AS id, s.score, 'comment' AS src FROM (SELECT rowid AS id, rank AS score FROM comments_fts WHERE comments_fts MATCH {m}{cap}) s \
                 JOIN comments c ON c.id = s.id WHERE 1 = 1{notes}"
            )
        }
        Backend::Postgres => {
            let t = q.arg(prefix_tsquery(words));
            // A broad query walks the newest rows and tests each (`ts_match_vq` is `@@` in a
            // form the planner cannot answer from the GIN index): the primary key gives the order,
            // so the scan stops after the window's matches instead of visiting every match.
            let (matches_item, cap_items, cap_comments) = match window {
                Some(k) => {
                    let k = q.arg(k.min(PG_WINDOW));
                    (
                        format!("ts_match_vq(f.tsv, to_tsquery('english', {t}))"),
                        format!(" ORDER BY f.item_id DESC LIMIT {k}"),
                        format!(" ORDER BY c.id DESC LIMIT {k}"),
                    )
                }
                None => (
                    format!("f.tsv @@ to_tsquery('english', {t})"),
                    String::new(),
                    String::new(),
                ),
            };
            format!(
                "(SELECT f.item_id AS id, -ts_rank(f.tsv, to_tsquery('english', {t})) AS score, 'item' AS src \
                 FROM work_items_fts f WHERE {matches_item}{cap_items}) \
                 UNION ALL \
                 (SELECT c.item_id, -ts_rank(to_tsvector('english', c.body), to_tsquery('english', {t})) / 2 AS score, 'comment' AS src \
                 FROM comments c WHERE to_tsvector('english', c.body) @@ to_tsquery('english', {t}){notes}{cap_comments})"
            )
        }
    };
    let mut conds = vec![];
    let ks: Vec<String> = kinds.iter().map(|k| q.arg(k.as_str())).collect();
    conds.push(format!("w.kind IN ({})", ks.join(", ")));
    Scope::of(p).restrict(&mut q, &mut conds);
    let lim = q.arg(limit);
    q.sql = format!(
        "SELECT w.id, CAST(MIN(h.score) AS DOUBLE PRECISION) AS score, MAX(h.src) AS src FROM ({hits_sql}) h JOIN work_items w ON w.id = h.id \
         WHERE {} GROUP BY w.id ORDER BY 2, w.id DESC LIMIT {lim}",
        conds.join(" AND ")
    );
    Ok(db.all(q).await?)
}

/// Full-text search over work items (and their comments) the caller may read, best first.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResults), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_search(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> AppResult<Json<SearchResults>> {
    p.require(Action::ReadWorkItems)?;
    let kind = params
        .kind
        .as_deref()
        .map(|k| {
            crate::kernel::process::kind(k)
                .ok_or_else(|| AppError::invalid("kind", format!("unknown work-item kind `{k}`")))
        })
        .transpose()?;
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 100"));
    }
    let hits = search(&st.db, &p, &params.q, kind, limit).await?;
    Ok(Json(SearchResults {
        query: params.q,
        hits,
    }))
}

/// The results page of the header's search box.
pub fn pages() -> Router<AppState> {
    Router::new().route("/search", get(search_page))
}

#[derive(Deserialize)]
struct SearchForm {
    #[serde(default)]
    q: String,
}

async fn search_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Query(f): Query<SearchForm>,
) -> Response {
    if let Err(e) = p.require(Action::ReadWorkItems) {
        return page_error(&st, Some(&p), e);
    }
    let (hits, error) = if f.q.trim().is_empty() {
        (vec![], None)
    } else {
        match search(&st.db, &p, &f.q, None, 50).await {
            Ok(h) => (h, None),
            Err(e @ AppError::Invalid { .. }) => (vec![], Some(e.to_string())),
            Err(e) => return page_error(&st, Some(&p), e),
        }
    };
    let collections: std::collections::BTreeMap<&str, &str> = super::process::kinds()
        .iter()
        .map(|k| (k.as_str(), k.collection()))
        .collect();
    st.ui.render(
        "search.html",
        context! { me => viewer(&p), flash => (), q => f.q, hits => minijinja::Value::from(minijinja::value::Serde(&hits)), error => error,
                   collections => minijinja::Value::from(minijinja::value::Serde(&collections)) },
    )
}
