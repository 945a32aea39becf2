//! Knowledge pages: search and read (everyone; requesters see published articles), write,
//! submit, publish and retire (staff).

use super::knowledge::{self as kb, ArticlePatch, KnowledgeParams, NewArticle};
use crate::directory;
use crate::platform::auth::Principal;
use crate::platform::error::AppError;
use crate::platform::ui::{
    WebUser, check_csrf, clear_flash, flash, page_error, redirect_with_flash, viewer,
};
use crate::platform::web::AppState;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use keel_core::access::Action;
use keel_core::management::support::knowledge::LIFECYCLE;
use minijinja::value::Serde;
use minijinja::{Value as V, context};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/knowledge", get(list_page).post(create_submit))
        .route("/knowledge/new", get(new_page))
        .route("/knowledge/{number}", get(article_page).post(update_submit))
}

#[derive(Deserialize, Default)]
struct ListForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    state: String,
}

async fn list_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Query(f): Query<ListForm>,
) -> Response {
    if let Err(e) = p.require(Action::ReadKnowledge) {
        return page_error(&st, Some(&p), e);
    }
    let params = KnowledgeParams {
        q: Some(f.q.clone()),
        state: Some(f.state.clone()),
        review_due: false,
        limit: Some(100),
    };
    let (articles, error) = match kb::list(&st.db, &p, &params).await {
        Ok(a) => (a, None),
        Err(e @ AppError::Invalid { .. }) => (vec![], Some(e.to_string())),
        Err(e) => return page_error(&st, Some(&p), e),
    };
    clear_flash(st.ui.render(
        "knowledge_list.html",
        context! {
            me => viewer(&p), flash => flash(&headers), q => f.q, state => f.state, error => error,
            staff => p.can(Action::ReadInternalItems), can_write => p.can(Action::WriteKnowledge),
            states => V::from(Serde(LIFECYCLE.states)), articles => V::from(Serde(&articles)),
        },
    ))
}

#[derive(Deserialize, Default, Clone)]
struct ArticleForm {
    #[serde(default)]
    csrf: String,
    version: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    state: Option<String>,
    #[serde(default)]
    review_date: String,
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    known_error: String,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_string)
}

async fn render(
    st: &AppState,
    p: &Principal,
    a: Option<kb::Article>,
    f: ArticleForm,
    flash: Option<String>,
    error: Option<AppError>,
) -> Response {
    let services = directory::list_named(&st.db, "services")
        .await
        .unwrap_or_default();
    let (field, msg) = crate::platform::ui::form_error(&error);
    let mut r = st.ui.render(
        "knowledge.html",
        context! {
            me => viewer(p), flash => flash, a => a.as_ref().map(|a| V::from(Serde(a))),
            staff => p.can(Action::ReadInternalItems), can_write => p.can(Action::WriteKnowledge),
            services => V::from(Serde(&services)), error => msg, error_field => field,
            f => context! { title => f.title, body => f.body, review_date => f.review_date, service_id => f.service_id, known_error => f.known_error },
        },
    );
    if let Some(e) = error {
        *r.status_mut() = e.status();
    }
    r
}

fn form_of(a: &kb::Article) -> ArticleForm {
    ArticleForm {
        title: a.title.clone(),
        body: a.body.clone(),
        review_date: a.review_date.clone().unwrap_or_default(),
        service_id: a.service_id.map(|s| s.to_string()).unwrap_or_default(),
        known_error: a.known_error.clone().unwrap_or_default(),
        ..Default::default()
    }
}

async fn new_page(State(st): State<AppState>, WebUser(p): WebUser) -> Response {
    if let Err(e) = p.require(Action::WriteKnowledge) {
        return page_error(&st, Some(&p), e);
    }
    render(&st, &p, None, ArticleForm::default(), None, None).await
}

async fn article_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    match kb::get(&st.db, &p, &number).await {
        Ok(a) => {
            let f = form_of(&a);
            clear_flash(render(&st, &p, Some(a), f, flash(&headers), None).await)
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn create_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Form(f): Form<ArticleForm>,
) -> Response {
    let result = async {
        check_csrf(&p, &f.csrf)?;
        let service_id = opt(&f.service_id)
            .map(|s| {
                s.parse()
                    .map_err(|_| AppError::invalid("service_id", "must be a service"))
            })
            .transpose()?;
        kb::create(
            &st.db,
            &p,
            NewArticle {
                title: f.title.clone(),
                body: f.body.clone(),
                service_id,
                known_error: opt(&f.known_error),
                review_date: opt(&f.review_date),
                owner_id: None,
            },
        )
        .await
    }
    .await;
    match result {
        Ok(a) => redirect_with_flash(
            &format!("/knowledge/{}", a.number),
            &format!("{} created as a draft.", a.number),
        ),
        Err(e @ AppError::Invalid { .. }) => render(&st, &p, None, f, None, Some(e)).await,
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn update_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    Form(f): Form<ArticleForm>,
) -> Response {
    let result = async {
        check_csrf(&p, &f.csrf)?;
        let service_id = opt(&f.service_id)
            .map(|s| {
                s.parse()
                    .map_err(|_| AppError::invalid("service_id", "must be a service"))
            })
            .transpose()?;
        let version = opt(f.version.as_deref().unwrap_or_default())
            .map(|v| {
                v.parse()
                    .map_err(|_| AppError::invalid("version", "must be a number"))
            })
            .transpose()?;
        kb::update(
            &st.db,
            &p,
            &number,
            ArticlePatch {
                title: Some(f.title.clone()),
                body: Some(f.body.clone()),
                state: f.state.clone().filter(|s| !s.is_empty()),
                owner_id: None,
                review_date: Some(opt(&f.review_date)),
                service_id: Some(service_id),
                known_error: Some(opt(&f.known_error)),
                version,
            },
        )
        .await
    }
    .await;
    match result {
        Ok(a) => redirect_with_flash(&format!("/knowledge/{}", a.number), "Saved."),
        Err(
            e @ (AppError::Invalid { .. }
            | AppError::Conflict(_)
            | AppError::Stale { .. }
            | AppError::Forbidden(_)),
        ) => match kb::get(&st.db, &p, &number).await {
            Ok(a) => {
                let r = render(&st, &p, Some(a), f, None, Some(e)).await;
                let ok = r.status() == StatusCode::OK;
                crate::platform::ui::unprocessable_if(r, ok)
            }
            Err(e2) => page_error(&st, Some(&p), e2),
        },
        Err(e) => page_error(&st, Some(&p), e),
    }
}
