//! The item page's forms for the kernel's shared steps: approval decisions and task completion,
//! for every kind that has them (a request's approvals and fulfilment tasks, a change's
//! authorization and implementation tasks). Each redirects back to the item with a flash.

use crate::platform::auth::Principal;
use crate::platform::error::AppError;
use crate::platform::ui::{WebUser, check_csrf, page_error, redirect_with_flash};
use crate::platform::web::AppState;
use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use keel_core::kernel::Kind;
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

/// Approval decisions and task completion, for every kind that has them (requests, changes).
pub fn routes() -> Router<AppState> {
    super::process::kinds()
        .into_iter()
        .filter(|k| k.approval_moves().is_some() || !k.spec().tasks_label.is_empty())
        .fold(Router::new(), |r, k| {
            r.route(
                &format!("/{}/{{number}}/approvals/{{id}}", k.collection()),
                post(
                    move |s: State<AppState>,
                          u: WebUser,
                          n: Path<(String, i64)>,
                          f: Form<DecisionForm>| {
                        decide_submit(s, u, n, f, k)
                    },
                ),
            )
            .route(
                &format!("/{}/{{number}}/tasks/{{id}}/complete", k.collection()),
                post(
                    move |s: State<AppState>,
                          u: WebUser,
                          n: Path<(String, i64)>,
                          f: Form<NoteForm>| { complete_submit(s, u, n, f, k) },
                ),
            )
        })
}

fn back_to_item(
    st: &AppState,
    p: &Principal,
    k: Kind,
    number: &str,
    r: Result<&str, AppError>,
) -> Response {
    let to = format!("/{}/{number}", k.collection());
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
    k: Kind,
) -> Response {
    use crate::kernel::approvals::{Decision, decide};
    let approve = f.decision == "approve";
    let r = async {
        check_csrf(&p, &f.csrf)?;
        decide(
            &st.db,
            &p,
            k,
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
    back_to_item(&st, &p, k, &number, r)
}

async fn complete_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((number, id)): Path<(String, i64)>,
    Form(f): Form<NoteForm>,
    k: Kind,
) -> Response {
    use crate::kernel::tasks::{Completion, complete};
    let r = async {
        check_csrf(&p, &f.csrf)?;
        complete(
            &st.db,
            &p,
            k,
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
    back_to_item(&st, &p, k, &number, r)
}
