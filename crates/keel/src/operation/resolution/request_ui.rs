//! Clause 8.6.2 — the request page's own forms: approval decisions and task completion. Each
//! redirects back to the request with a flash message.

use crate::platform::auth::Principal;
use crate::platform::error::AppError;
use crate::platform::ui::{WebUser, check_csrf, page_error, redirect_with_flash};
use crate::platform::web::AppState;
use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    comment: Option<String>,
}

#[derive(Deserialize)]
struct NoteForm {
    #[serde(default)]
    csrf: String,
    note: Option<String>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/requests/{number}/approvals/{id}", post(decide_submit))
        .route(
            "/requests/{number}/tasks/{id}/complete",
            post(complete_submit),
        )
}

fn back_to_request(
    st: &AppState,
    p: &Principal,
    number: &str,
    r: Result<&str, AppError>,
) -> Response {
    let to = format!("/requests/{number}");
    match r {
        Ok(msg) => redirect_with_flash(&to, msg),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Forbidden(_))) => {
            redirect_with_flash(&to, &format!("Not done: {e}"))
        }
        Err(e) => page_error(st, Some(p), e),
    }
}

async fn decide_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((number, id)): Path<(String, i64)>,
    Form(f): Form<DecisionForm>,
) -> Response {
    use super::request::{Decision, decide};
    let approve = f.decision == "approve";
    let r = async {
        check_csrf(&p, &f.csrf)?;
        decide(
            &st.db,
            &p,
            &number,
            id,
            Decision {
                decision: f.decision.clone(),
                comment: f.comment.clone(),
            },
        )
        .await
    }
    .await
    .map(|_| if approve { "Approved." } else { "Rejected." });
    back_to_request(&st, &p, &number, r)
}

async fn complete_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((number, id)): Path<(String, i64)>,
    Form(f): Form<NoteForm>,
) -> Response {
    use super::request::{Completion, complete};
    let r = async {
        check_csrf(&p, &f.csrf)?;
        complete(
            &st.db,
            &p,
            &number,
            id,
            Completion {
                note: f.note.clone().filter(|n| !n.trim().is_empty()),
            },
        )
        .await
    }
    .await
    .map(|_| "Task done.");
    back_to_request(&st, &p, &number, r)
}
