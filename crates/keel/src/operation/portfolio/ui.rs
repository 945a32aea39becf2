//! Portfolio pages: services, the catalogue and ordering, configuration items.

use crate::platform::web::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
}
