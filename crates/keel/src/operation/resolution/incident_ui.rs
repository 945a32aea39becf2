//! Clause 8.6.1 — the incident page's own forms: the requester's answer to a resolution,
//! declaring and running a major incident, escalation. Each redirects back to the incident
//! with a flash message saying what happened (or why nothing did).

use super::incident::{
    DeclareMajor, Escalation, MajorReview, NewCommunication, answer_resolution, communicate,
    declare_major, escalate, review_major,
};
use crate::platform::auth::Principal;
use crate::platform::error::AppError;
use crate::platform::extract::ApiJson;
use crate::platform::ui::{WebUser, check_csrf, page_error, redirect_with_flash};
use crate::platform::web::AppState;
use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/incidents/{number}/answer", post(answer))
        .route("/incidents/{number}/major", post(declare))
        .route(
            "/incidents/{number}/major/communications",
            post(communication),
        )
        .route("/incidents/{number}/major/review", post(review))
        .route("/incidents/{number}/escalate", post(escalation))
}

/// Back to the incident: flash the success, or the error when the user can act on it.
fn back(st: &AppState, p: &Principal, number: &str, r: Result<&str, AppError>) -> Response {
    let to = format!("/incidents/{number}");
    match r {
        Ok(msg) => redirect_with_flash(&to, msg),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Stale { .. })) => {
            redirect_with_flash(&to, &format!("Not done: {e}"))
        }
        Err(e) => page_error(st, Some(p), e),
    }
}

#[derive(Deserialize)]
struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    accept: String,
    reason: Option<String>,
}

async fn answer(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    Form(f): Form<AnswerForm>,
) -> Response {
    let accept = f.accept == "yes";
    let r = async {
        check_csrf(&p, &f.csrf)?;
        answer_resolution(&st, &p, &number, accept, f.reason.clone()).await
    }
    .await
    .map(|_| {
        if accept {
            "Thank you — the incident is closed."
        } else {
            "Reopened; the service desk has your reason."
        }
    });
    back(&st, &p, &number, r)
}

#[derive(Deserialize)]
struct DeclareForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    criterion: String,
    #[serde(default)]
    manager_id: String,
}

async fn declare(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    Form(f): Form<DeclareForm>,
) -> Response {
    let r = async {
        check_csrf(&p, &f.csrf)?;
        let manager_id =
            f.manager_id.trim().parse().map_err(|_| {
                AppError::invalid("manager_id", "choose the major-incident manager")
            })?;
        let body = DeclareMajor {
            criterion: f.criterion.clone(),
            manager_id,
        };
        declare_major(
            State(st.clone()),
            p.clone(),
            Path(number.clone()),
            ApiJson(body),
        )
        .await
    }
    .await
    .map(|_| "Declared a major incident.");
    back(&st, &p, &number, r)
}

#[derive(Deserialize)]
struct CommunicationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    body: String,
}

async fn communication(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    Form(f): Form<CommunicationForm>,
) -> Response {
    let r = async {
        check_csrf(&p, &f.csrf)?;
        let body = NewCommunication {
            audience: f.audience.clone(),
            body: f.body.clone(),
        };
        communicate(
            State(st.clone()),
            p.clone(),
            Path(number.clone()),
            ApiJson(body),
        )
        .await
    }
    .await
    .map(|_| "Communication logged.");
    back(&st, &p, &number, r)
}

#[derive(Deserialize)]
struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    review: String,
}

async fn review(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    Form(f): Form<ReviewForm>,
) -> Response {
    let r = async {
        check_csrf(&p, &f.csrf)?;
        review_major(
            State(st.clone()),
            p.clone(),
            Path(number.clone()),
            ApiJson(MajorReview {
                review: f.review.clone(),
            }),
        )
        .await
    }
    .await
    .map(|_| "Review recorded.");
    back(&st, &p, &number, r)
}

#[derive(Deserialize)]
struct EscalationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    group_id: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn escalation(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    Form(f): Form<EscalationForm>,
) -> Response {
    let r = async {
        check_csrf(&p, &f.csrf)?;
        let group_id = match f.group_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(g) => Some(
                g.parse()
                    .map_err(|_| AppError::invalid("group_id", "must be a group"))?,
            ),
        };
        let body = Escalation {
            kind: f.kind.clone(),
            group_id,
            reason: f.reason.clone(),
        };
        escalate(
            State(st.clone()),
            p.clone(),
            Path(number.clone()),
            ApiJson(body),
        )
        .await
    }
    .await
    .map(|_| "Escalated.");
    back(&st, &p, &number, r)
}
