//! Document pages: the register of controlled documents (with a form for a new one) and a
//! document's page (the version in force, versions with their decisions, drafting, the approval
//! buttons, review, acknowledgement and who has not acknowledged yet).

use super::documents as docs;
use crate::platform::auth::Principal;
use crate::platform::db::Q;
use crate::platform::error::{AppError, AppResult};
use crate::platform::ui::{
    WebUser, check_csrf, clear_flash, flash, page_error, redirect_with_flash, viewer,
};
use crate::platform::web::AppState;
use axum::Router;
use axum::extract::{Path, RawForm, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use keel_core::access::{Action, Role};
use keel_core::management::support::documents::TYPES;
use minijinja::value::Serde;
use minijinja::{Value as V, context};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/documents", get(register).post(create_submit))
        .route(
            "/documents/{number}",
            get(document_page).post(update_submit),
        )
        .route("/documents/{number}/versions", post(draft_submit))
        .route(
            "/documents/{number}/versions/{version}",
            post(decide_submit),
        )
        .route("/documents/{number}/review", post(review_submit))
        .route("/documents/{number}/acknowledge", post(ack_submit))
}

fn fields(raw: &RawForm) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&raw.0).unwrap_or_default()
}

fn one(f: &[(String, String)], k: &str) -> String {
    f.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn back(st: &AppState, p: &Principal, to: &str, r: AppResult<String>) -> Response {
    match r {
        Ok(msg) => redirect_with_flash(to, &msg),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Forbidden(_))) => {
            redirect_with_flash(to, &format!("Not done: {e}"))
        }
        Err(e) => page_error(st, Some(p), e),
    }
}

fn roles() -> Vec<&'static str> {
    Role::ALL.iter().map(|r| r.as_str()).collect()
}

async fn register(State(st): State<AppState>, WebUser(p): WebUser, headers: HeaderMap) -> Response {
    let r = async {
        p.require(Action::ReadInternalItems)?;
        docs::list(&st.db).await
    }
    .await;
    match r {
        Ok(rows) => clear_flash(st.ui.render(
            "documents.html",
            context! {
                me => viewer(&p), flash => flash(&headers), rows => V::from(Serde(&rows)),
                types => V::from(Serde(TYPES)), roles => V::from(Serde(roles())), can_write => p.can(Action::ManageReference),
            },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn create_submit(State(st): State<AppState>, WebUser(p): WebUser, raw: RawForm) -> Response {
    let f = fields(&raw);
    let r = async {
        check_csrf(&p, &one(&f, "csrf"))?;
        let months = match one(&f, "review_months").as_str() {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|_| AppError::invalid("review_months", "a number of months"))?,
            ),
        };
        docs::create(
            &st.db,
            &p,
            docs::NewDocument {
                title: one(&f, "title"),
                doc_type: one(&f, "doc_type"),
                owner_id: None,
                review_months: months,
                distribution: f
                    .iter()
                    .filter(|(k, v)| k == "distribution" && !v.is_empty())
                    .map(|(_, v)| v.clone())
                    .collect(),
                body: one(&f, "body"),
                change_summary: "First version".into(),
            },
        )
        .await
    }
    .await;
    match r {
        Ok(d) => redirect_with_flash(
            &format!("/documents/{}", d.number),
            &format!("{} drafted.", d.number),
        ),
        Err(e @ (AppError::Invalid { .. } | AppError::Forbidden(_))) => {
            redirect_with_flash("/documents", &format!("Not created: {e}"))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn document_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    let r = async {
        p.require(Action::ReadInternalItems)?;
        let d = docs::get(&st.db, &number).await?;
        let me: Option<(String,)> = st
            .db
            .opt(Q::new("SELECT name FROM users WHERE id = $1").bind(p.user_id))
            .await?;
        Ok::<_, AppError>((d, me.map(|m| m.0).unwrap_or_default()))
    }
    .await;
    match r {
        Ok((d, my_name)) => {
            let current = d
                .versions
                .iter()
                .find(|v| Some(v.version_no) == d.current_version)
                .cloned();
            let open = d
                .versions
                .iter()
                .find(|v| v.state == "draft" || v.state == "in_review")
                .cloned();
            clear_flash(st.ui.render(
                "document.html",
                context! {
                    me => viewer(&p), flash => flash(&headers), d => V::from(Serde(&d)),
                    current => V::from(Serde(&current)), open => V::from(Serde(&open)),
                    roles => V::from(Serde(roles())),
                    can_write => p.can(Action::ManageReference), can_approve => p.can(Action::ManageCompliance),
                    can_ack => p.can(Action::OwnNotifications),
                    acked => d.acknowledged.contains(&my_name),
                },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn update_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let to = format!("/documents/{number}");
    let r = async {
        check_csrf(&p, &one(&f, "csrf"))?;
        let months = match one(&f, "review_months").as_str() {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|_| AppError::invalid("review_months", "a number of months"))?,
            ),
        };
        let d = docs::update(
            &st.db,
            &p,
            &number,
            docs::DocumentPatch {
                review_months: months,
                distribution: Some(
                    f.iter()
                        .filter(|(k, v)| k == "distribution" && !v.is_empty())
                        .map(|(_, v)| v.clone())
                        .collect(),
                ),
                state: Some(one(&f, "state")).filter(|s| !s.is_empty()),
                ..Default::default()
            },
        )
        .await?;
        Ok(format!("{} saved.", d.number))
    }
    .await;
    back(&st, &p, &to, r)
}

async fn draft_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let to = format!("/documents/{number}");
    let r = async {
        check_csrf(&p, &one(&f, "csrf"))?;
        docs::draft(
            &st.db,
            &p,
            &number,
            docs::NewVersion {
                body: one(&f, "body"),
                change_summary: one(&f, "change_summary"),
            },
        )
        .await?;
        Ok("New version drafted.".to_string())
    }
    .await;
    back(&st, &p, &to, r)
}

async fn decide_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((number, version)): Path<(String, i64)>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let to = format!("/documents/{number}");
    let r = async {
        check_csrf(&p, &one(&f, "csrf"))?;
        let action = one(&f, "action");
        docs::decide(
            &st.db,
            &p,
            &number,
            version,
            docs::Decision {
                action: action.clone(),
                note: one(&f, "note"),
            },
        )
        .await?;
        Ok(match action.as_str() {
            "submit" => format!("Version {version} submitted for approval."),
            "approve" => format!("Version {version} approved and in force."),
            _ => format!("Version {version} rejected."),
        })
    }
    .await;
    back(&st, &p, &to, r)
}

async fn review_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let to = format!("/documents/{number}");
    let r = async {
        check_csrf(&p, &one(&f, "csrf"))?;
        let d = docs::review(
            &st.db,
            &p,
            &number,
            docs::ReviewBody {
                notes: one(&f, "notes"),
            },
        )
        .await?;
        Ok(format!(
            "Review recorded; next review {}.",
            d.next_review.unwrap_or_default()
        ))
    }
    .await;
    back(&st, &p, &to, r)
}

async fn ack_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let to = format!("/documents/{number}");
    let r = async {
        check_csrf(&p, &one(&f, "csrf"))?;
        let d = docs::acknowledge(&st.db, &p, &number).await?;
        Ok(format!(
            "You acknowledged version {}.",
            d.current_version.unwrap_or_default()
        ))
    }
    .await;
    back(&st, &p, &to, r)
}
