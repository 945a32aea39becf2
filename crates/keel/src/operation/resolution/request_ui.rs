//! Clause 8.6.2 — request types' pages: which types exist, who approves them, which tasks
//! fulfil them.

use crate::platform::error::AppError;
use crate::platform::ui::{WebUser, check_csrf, page_error, redirect_with_flash};
use crate::platform::web::AppState;
use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize)]
struct TypeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    approve_manager: Option<String>,
    approve_named: Option<String>,
    #[serde(default)]
    approver_id: String,
    #[serde(default)]
    tasks: String,
}

/// The request types page and its form (managers define types).
/// Request types' pages.
pub fn pages() -> Router<AppState> {
    Router::new().route(
        "/request-types",
        axum::routing::get(types_page).post(type_submit),
    )
}

async fn types_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: axum::http::HeaderMap,
) -> Response {
    use keel_core::access::Action;
    use minijinja::value::Serde;
    use minijinja::{Value as V, context};
    let r = async {
        p.require(Action::ReadDirectory)?;
        let types = super::request::list_types(&st.db).await?;
        let groups = crate::directory::list_groups(&st.db).await?;
        let staff: Vec<_> = crate::directory::list_users(&st.db)
            .await?
            .into_iter()
            .filter(|u| !matches!(u.role.as_str(), "requester" | "auditor") && u.disabled == 0)
            .collect();
        Ok::<_, AppError>((types, groups, staff))
    }
    .await;
    match r {
        Ok((types, groups, staff)) => {
            let by_id: std::collections::BTreeMap<String, String> = groups
                .iter()
                .map(|g| (g.id.to_string(), g.name.clone()))
                .collect();
            crate::platform::ui::clear_flash(st.ui.render(
                "request_types.html",
                context! {
                    me => crate::platform::ui::viewer(&p), flash => crate::platform::ui::flash(&headers),
                    can_manage => p.can(Action::ManageReference), types => V::from(Serde(&types)),
                    staff => V::from(Serde(&staff)), groups_by_id => V::from(Serde(&by_id)),
                },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn type_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Form(f): Form<TypeForm>,
) -> Response {
    use super::request::{NewRequestType, TaskTemplate, create_type};
    use keel_core::access::Action;
    let r = async {
        check_csrf(&p, &f.csrf)?;
        p.require(Action::ManageReference)?;
        let groups = crate::directory::list_groups(&st.db).await?;
        let mut tasks = vec![];
        for line in f.tasks.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let bad = || {
                AppError::invalid(
                    "tasks",
                    format!("`{line}` is not like `1 | Order the laptop | Service Desk`"),
                )
            };
            let parts: Vec<&str> = line.split('|').map(str::trim).collect();
            let (stage, name, group) = match parts.as_slice() {
                [s, n] => (s, n, None),
                [s, n, g] => (s, n, Some(*g)),
                _ => return Err(bad()),
            };
            let group_id = match group.filter(|g| !g.is_empty()) {
                Some(g) => Some(
                    groups
                        .iter()
                        .find(|x| x.name.eq_ignore_ascii_case(g))
                        .map(|x| x.id)
                        .ok_or_else(|| {
                            AppError::invalid("tasks", format!("no group named `{g}`"))
                        })?,
                ),
                None => None,
            };
            tasks.push(TaskTemplate {
                name: name.to_string(),
                group_id,
                stage: stage.parse().map_err(|_| bad())?,
            });
        }
        let mut approvers = vec![];
        if f.approve_manager.is_some() {
            approvers.push("requester_manager".to_string());
        }
        if f.approve_named.is_some() {
            approvers.push("named".to_string());
        }
        let approver_id = match f.approver_id.trim() {
            "" => None,
            a => Some(
                a.parse()
                    .map_err(|_| AppError::invalid("approver_id", "choose a person"))?,
            ),
        };
        create_type(
            &st.db,
            &p.actor(),
            NewRequestType {
                name: f.name.clone(),
                description: f.description.clone(),
                service_id: None,
                approvers,
                approver_id,
                tasks,
            },
        )
        .await
    }
    .await;
    match r {
        Ok(t) => redirect_with_flash(
            "/request-types",
            &format!("Created request type {}.", t.name),
        ),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            redirect_with_flash("/request-types", &format!("Not saved: {e}"))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}
