//! Document pages: the register of controlled documents (with a form for a new one) and a
//! document's page (the version in force, versions with their decisions, drafting, the approval
//! buttons, review, acknowledgement and who has not acknowledged yet).

use super::documents as docs;
use crate::platform::db::Q;
use crate::platform::error::AppError;
use crate::platform::ui::{
    FormFields, WebUser, back_with_flash, clear_flash, flash, page_error, redirect_with_flash,
    viewer,
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
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        let months = match f.get("review_months").as_str() {
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
                title: f.get("title"),
                doc_type: f.get("doc_type"),
                owner_id: None,
                review_months: months,
                distribution: f.all("distribution"),
                body: f.get("body"),
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
    let f = FormFields::parse(&raw);
    let to = format!("/documents/{number}");
    let r = async {
        f.check_csrf(&p)?;
        let months = match f.get("review_months").as_str() {
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
                distribution: Some(f.all("distribution")),
                state: f.filled("state"),
                ..Default::default()
            },
        )
        .await?;
        Ok(format!("{} saved.", d.number))
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}

async fn draft_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = format!("/documents/{number}");
    let r = async {
        f.check_csrf(&p)?;
        docs::draft(
            &st.db,
            &p,
            &number,
            docs::NewVersion {
                body: f.get("body"),
                change_summary: f.get("change_summary"),
            },
        )
        .await?;
        Ok("New version drafted.".to_string())
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}

async fn decide_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((number, version)): Path<(String, i64)>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = format!("/documents/{number}");
    let r = async {
        f.check_csrf(&p)?;
        let action = f.get("action");
        docs::decide(
            &st.db,
            &p,
            &number,
            version,
            docs::Decision {
                action: action.clone(),
                note: f.get("note"),
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
    back_with_flash(&st, &p, &to, r)
}

async fn review_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = format!("/documents/{number}");
    let r = async {
        f.check_csrf(&p)?;
        let d = docs::review(
            &st.db,
            &p,
            &number,
            docs::ReviewBody {
                notes: f.get("notes"),
            },
        )
        .await?;
        Ok(format!(
            "Review recorded; next review {}.",
            d.next_review.unwrap_or_default()
        ))
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}

async fn ack_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = format!("/documents/{number}");
    let r = async {
        f.check_csrf(&p)?;
        let d = docs::acknowledge(&st.db, &p, &number).await?;
        Ok(format!(
            "You acknowledged version {}.",
            d.current_version.unwrap_or_default()
        ))
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}
