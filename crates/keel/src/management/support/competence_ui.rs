//! Pages for clause 4.2 and 7.2: the register of interested parties, and competences with the
//! training matrix.

use super::competence;
use crate::management::context;
use crate::platform::db::Q;
use crate::platform::error::AppError;
use crate::platform::ui::{
    FormFields, WebUser, back_with_flash, clear_flash, flash, page_error, viewer,
};
use crate::platform::web::AppState;
use axum::Router;
use axum::extract::{RawForm, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use keel_core::access::{Action, Role};
use minijinja::value::Serde;
use minijinja::{Value as V, context as ctx};

/// The register of interested parties (4.2).
pub fn parties_routes() -> Router<AppState> {
    Router::new().route("/interested-parties", get(parties_page).post(party_submit))
}

/// Competence requirements and training (7.2).
pub fn competence_routes() -> Router<AppState> {
    Router::new()
        .route("/competence", get(competence_page).post(requirement_submit))
        .route("/competence/training", post(training_submit))
}

async fn parties_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        context::list(&st.db).await
    }
    .await;
    match r {
        Ok(rows) => clear_flash(st.ui.render(
            "interested_parties.html",
            ctx! { me => viewer(&p), flash => flash(&headers), rows => V::from(Serde(&rows)), kinds => V::from(Serde(context::KINDS)), can_manage => p.can(Action::ManageCompliance) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn party_submit(State(st): State<AppState>, WebUser(p): WebUser, raw: RawForm) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        let party = context::create(
            &st.db,
            &p,
            context::NewParty {
                name: f.get("name"),
                kind: f.get("kind"),
                requirements: f.get("requirements"),
                how_addressed: f.get("how_addressed"),
                review_date: f.filled("review_date"),
                owner_id: None,
            },
        )
        .await?;
        Ok(format!("{} added to the register.", party.name))
    }
    .await;
    back_with_flash(&st, &p, "/interested-parties", r)
}

async fn competence_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        let staff: Vec<(i64, String)> = st.db.all(Q::new("SELECT id, name FROM users WHERE disabled = 0 AND role <> 'requester' ORDER BY name")).await?;
        Ok::<_, AppError>((competence::requirements(&st.db).await?, competence::matrix(&st.db).await?, competence::records(&st.db, None).await?, staff))
    }
    .await;
    match r {
        Ok((reqs, matrix, records, staff)) => {
            let staff: Vec<V> = staff
                .into_iter()
                .map(|(id, name)| ctx! { id => id, name => name })
                .collect();
            let roles: Vec<&str> = Role::ALL
                .iter()
                .filter(|r| **r != Role::Requester)
                .map(|r| r.as_str())
                .collect();
            clear_flash(st.ui.render(
                "competence.html",
                ctx! {
                    me => viewer(&p), flash => flash(&headers), reqs => V::from(Serde(&reqs)), matrix => V::from(Serde(&matrix)),
                    records => V::from(Serde(&records)), staff => staff, roles => V::from(Serde(roles)),
                    can_manage => p.can(Action::ManageCompliance), can_record => p.can(Action::ManageReference),
                },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn requirement_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        let req = competence::require_competence(
            &st.db,
            &p,
            competence::NewRequirement {
                role: f.get("role"),
                competence: f.get("competence"),
                description: f.get("description"),
            },
        )
        .await?;
        Ok(format!("{} now requires {}.", req.role, req.competence))
    }
    .await;
    back_with_flash(&st, &p, "/competence", r)
}

async fn training_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        let user = f
            .id("user_id")?
            .ok_or_else(|| AppError::invalid("user_id", "choose a person"))?;
        let rec = competence::record(
            &st.db,
            &p,
            competence::NewRecord {
                user_id: user,
                competence: f.get("competence"),
                completed_on: f.get("completed_on"),
                expires_on: f.filled("expires_on"),
                evidence: f.get("evidence"),
            },
        )
        .await?;
        Ok(format!(
            "Training in {} recorded for {}.",
            rec.competence, rec.user
        ))
    }
    .await;
    back_with_flash(&st, &p, "/competence", r)
}
