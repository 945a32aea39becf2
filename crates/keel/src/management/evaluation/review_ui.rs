//! Management review pages: the list with a planning form, and a review's page (its inputs as
//! compiled, minutes, decisions, actions).

use super::review;
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
use keel_core::access::Action;
use minijinja::value::Serde;
use minijinja::{Value as V, context};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/management-reviews", get(list_page).post(plan_submit))
        .route(
            "/management-reviews/{number}",
            get(review_page).post(update_submit),
        )
        .route("/management-reviews/{number}/inputs", post(compile_submit))
        .route("/management-reviews/{number}/actions", post(action_submit))
}

async fn list_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        review::list(&st.db).await
    }
    .await;
    match r {
        Ok(rows) => clear_flash(st.ui.render(
            "reviews.html",
            context! { me => viewer(&p), flash => flash(&headers), rows => V::from(Serde(&rows)), can_manage => p.can(Action::ManageCompliance) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn plan_submit(State(st): State<AppState>, WebUser(p): WebUser, raw: RawForm) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        review::create(
            &st.db,
            &p,
            review::NewReview {
                title: f.opt("title").unwrap_or_default(),
                planned_on: f.opt("planned_on").unwrap_or_default(),
                from: f.filled("from"),
                to: f.filled("to"),
                attendees: f.opt("attendees").unwrap_or_default(),
            },
        )
        .await
    }
    .await;
    match r {
        Ok(rv) => redirect_with_flash(
            &format!("/management-reviews/{}", rv.number),
            &format!("{} planned.", rv.number),
        ),
        Err(e @ (AppError::Invalid { .. } | AppError::Forbidden(_))) => {
            redirect_with_flash("/management-reviews", &format!("Not planned: {e}"))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn review_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        let rv = review::get(&st.db, &number).await?;
        let users: Vec<(i64, String)> = st.db.all(Q::new("SELECT id, name FROM users WHERE disabled = 0 AND role <> 'requester' ORDER BY name")).await?;
        Ok::<_, AppError>((rv, users))
    }
    .await;
    match r {
        Ok((rv, users)) => {
            let users: Vec<V> = users
                .into_iter()
                .map(|(id, name)| context! { id => id, name => name })
                .collect();
            clear_flash(st.ui.render(
                "review.html",
                context! { me => viewer(&p), flash => flash(&headers), r => V::from(Serde(&rv)), users => users, can_manage => p.can(Action::ManageCompliance) },
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
    let to = format!("/management-reviews/{number}");
    let r = async {
        f.check_csrf(&p)?;
        let rv = review::update(
            &st.db,
            &p,
            &number,
            review::ReviewPatch {
                minutes: f.opt("minutes"),
                decisions: f.opt("decisions"),
                attendees: f.opt("attendees"),
                state: f.filled("state"),
                version: f.opt("version").and_then(|v| v.parse().ok()),
                ..Default::default()
            },
        )
        .await?;
        Ok(format!("{} is {}.", rv.number, rv.state))
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}

async fn compile_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = format!("/management-reviews/{number}");
    let r = async {
        f.check_csrf(&p)?;
        let rv = review::compile_inputs(&st.db, &p, &number).await?;
        Ok(format!(
            "{} inputs compiled from the records.",
            rv.inputs.len()
        ))
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}

async fn action_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = format!("/management-reviews/{number}");
    let r = async {
        f.check_csrf(&p)?;
        let owner = match f.opt("owner_id").unwrap_or_default().as_str() {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|_| AppError::invalid("owner_id", "not a user"))?,
            ),
        };
        review::add_action(
            &st.db,
            &p,
            &number,
            review::ReviewAction {
                title: f.opt("title").unwrap_or_default(),
                description: String::new(),
                owner_id: owner,
                due_on: f.opt("due_on"),
                requirement: None,
            },
        )
        .await?;
        Ok("Action recorded.".to_string())
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}
