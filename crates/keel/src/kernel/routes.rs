//! The HTTP routes every work-item kind has, generated once per kind.
//!
//! Each kind's module (e.g. `operation::resolution::incident`) invokes [`work_item_routes!`]
//! with its paths and OpenAPI tag and gets the list, create, get, patch, history, comment, link
//! and attachment endpoints, each a thin wrapper over `kernel::api`. The kind adds its own
//! endpoints beside them, and those other processes offer every kind (SLA clocks,
//! `clock_routes!`; affected CIs, `affected_ci_routes!`). (The wrappers exist because OpenAPI
//! paths are literals.)

/// `work_item_routes!(kind: KIND, tag: "incidents", list: "/api/v1/incidents", …)`: see the module doc.
#[macro_export]
macro_rules! work_item_routes {
    (
        kind: $kind:expr,
        tag: $tag:literal,
        list: $list:literal,
        one: $one:literal,
        history: $history:literal,
        comments: $comments:literal,
        links: $links:literal,
        attachments: $attachments:literal,
        attachment: $attachment:literal $(,)?
    ) => {
        pub mod routes {
            use $crate::kernel::Attachment;
            use $crate::kernel::api::{
                self, CommentBody, History, ItemPage, ItemView, LinkBody, ListParams, PatchBody,
                UploadParams,
            };
            use $crate::kernel::{Comment, Link};
            use $crate::platform::auth::Principal;
            use $crate::platform::error::{AppResult, Problem};
            use $crate::platform::extract::{ApiJson, ApiQuery};
            use $crate::platform::web::AppState;
            use axum::Json;
            use axum::body::Bytes;
            use axum::extract::{Path, State};
            use axum::http::{HeaderMap, StatusCode};
            use axum::response::Response;
            use keel_core::kernel::Kind;
            use utoipa_axum::router::OpenApiRouter;
            use utoipa_axum::routes;

            const K: Kind = $kind;

            /// The kind's routes, for the API router.
            /// Each route's writes gated by the action they need (`platform::gate`): the
            /// provider's internal records are staff work throughout.
            pub fn router() -> OpenApiRouter<AppState> {
                use $crate::platform::gate::gate;
                use keel_core::access::Action;
                let staff = K.is_internal();
                let or_staff = |a: Action| if staff { Action::UpdateWorkItems } else { a };
                OpenApiRouter::new()
                    .routes(gate(or_staff(Action::CreateIncident), routes!(list, create)))
                    .routes(gate(Action::UpdateWorkItems, routes!(get, patch)))
                    .routes(routes!(history))
                    .routes(gate(or_staff(Action::CommentPublic), routes!(comments, add_comment)))
                    .routes(gate(Action::UpdateWorkItems, routes!(links, add_link)))
                    .routes(gate(or_staff(Action::Attach), routes!(attachments, upload)))
                    .routes(routes!(download))
            }

            /// List (requesters see their own and their organisation's records).
            #[utoipa::path(get, path = $list, tag = $tag, operation_id = concat!("list_", $tag), params(ListParams),
                responses((status = 200, body = ItemPage, description = "one page; with `format=csv` every matching item as `text/csv`"), (status = 400, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
            pub async fn list(State(st): State<AppState>, p: Principal, ApiQuery(q): ApiQuery<ListParams>) -> AppResult<axum::response::Response> {
                api::list(&st, &p, K, q).await
            }

            /// Create one. Send `Idempotency-Key` to make retries safe.
            #[utoipa::path(post, path = $list, tag = $tag, operation_id = concat!("create_", $tag), request_body = api::CreateBody,
                params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create return the first response")),
                responses((status = 201, body = ItemView), (status = 422, body = Problem)), security(("bearer" = [])))]
            pub async fn create(State(st): State<AppState>, p: Principal, headers: HeaderMap, body: Bytes) -> AppResult<Response> {
                api::create(&st, &p, K, &headers, body).await
            }

            /// Get one by number; the `ETag` header carries its version.
            #[utoipa::path(get, path = $one, tag = $tag, operation_id = concat!("get_", $tag), params(("number" = String, Path)),
                responses((status = 200, body = ItemView), (status = 404, body = Problem)), security(("bearer" = [])))]
            pub async fn get(State(st): State<AppState>, p: Principal, Path(number): Path<String>) -> AppResult<Response> {
                api::get(&st, &p, K, &number).await
            }

            /// Change one. With `If-Match`, a stale version gets 412; an illegal state move gets 409.
            #[utoipa::path(patch, path = $one, tag = $tag, operation_id = concat!("update_", $tag), request_body = PatchBody,
                params(("number" = String, Path), ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
                responses((status = 200, body = ItemView), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
            pub async fn patch(State(st): State<AppState>, p: Principal, Path(number): Path<String>, headers: HeaderMap, ApiJson(b): ApiJson<PatchBody>) -> AppResult<Response> {
                api::patch(&st, &p, K, &number, &headers, b).await
            }

            /// Audit history and state-entry times.
            #[utoipa::path(get, path = $history, tag = $tag, operation_id = concat!("history_", $tag), params(("number" = String, Path)),
                responses((status = 200, body = History)), security(("bearer" = [])))]
            pub async fn history(State(st): State<AppState>, p: Principal, Path(number): Path<String>) -> AppResult<Json<History>> {
                api::history(&st, &p, K, &number).await
            }

            /// Comments (internal notes only for agents and above).
            #[utoipa::path(get, path = $comments, tag = $tag, operation_id = concat!("comments_", $tag), params(("number" = String, Path)),
                responses((status = 200, body = Vec<Comment>)), security(("bearer" = [])))]
            pub async fn comments(State(st): State<AppState>, p: Principal, Path(number): Path<String>) -> AppResult<Json<Vec<Comment>>> {
                api::comments(&st, &p, K, &number).await
            }

            /// Add a comment or an internal note.
            #[utoipa::path(post, path = $comments, tag = $tag, operation_id = concat!("comment_", $tag), params(("number" = String, Path)), request_body = CommentBody,
                responses((status = 201, body = Comment)), security(("bearer" = [])))]
            pub async fn add_comment(State(st): State<AppState>, p: Principal, Path(number): Path<String>, ApiJson(b): ApiJson<CommentBody>) -> AppResult<(StatusCode, Json<Comment>)> {
                api::add_comment(&st, &p, K, &number, b).await
            }

            /// Links to other work items, both directions.
            #[utoipa::path(get, path = $links, tag = $tag, operation_id = concat!("links_", $tag), params(("number" = String, Path)),
                responses((status = 200, body = Vec<Link>)), security(("bearer" = [])))]
            pub async fn links(State(st): State<AppState>, p: Principal, Path(number): Path<String>) -> AppResult<Json<Vec<Link>>> {
                api::links(&st, &p, K, &number).await
            }

            /// Link to another work item.
            #[utoipa::path(post, path = $links, tag = $tag, operation_id = concat!("link_", $tag), params(("number" = String, Path)), request_body = LinkBody,
                responses((status = 201, body = Vec<Link>)), security(("bearer" = [])))]
            pub async fn add_link(State(st): State<AppState>, p: Principal, Path(number): Path<String>, ApiJson(b): ApiJson<LinkBody>) -> AppResult<(StatusCode, Json<Vec<Link>>)> {
                api::add_link(&st, &p, K, &number, b).await
            }

            /// Attachments' metadata.
            #[utoipa::path(get, path = $attachments, tag = $tag, operation_id = concat!("attachments_", $tag), params(("number" = String, Path)),
                responses((status = 200, body = Vec<Attachment>)), security(("bearer" = [])))]
            pub async fn attachments(State(st): State<AppState>, p: Principal, Path(number): Path<String>) -> AppResult<Json<Vec<Attachment>>> {
                api::attachments(&st, &p, K, &number).await
            }

            /// Upload a file as the raw request body.
            #[utoipa::path(post, path = $attachments, tag = $tag, operation_id = concat!("upload_", $tag), params(("number" = String, Path), UploadParams),
                request_body(content = Vec<u8>, content_type = "application/octet-stream"),
                responses((status = 201, body = Attachment), (status = 413, body = Problem)), security(("bearer" = [])))]
            pub async fn upload(State(st): State<AppState>, p: Principal, Path(number): Path<String>, ApiQuery(q): ApiQuery<UploadParams>, headers: HeaderMap, body: Bytes) -> AppResult<(StatusCode, Json<Attachment>)> {
                api::upload(&st, &p, K, &number, &q.filename, &headers, body).await
            }

            /// Download an attachment.
            #[utoipa::path(get, path = $attachment, tag = $tag, operation_id = concat!("download_", $tag), params(("number" = String, Path), ("id" = i64, Path)),
                responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>)), security(("bearer" = [])))]
            pub async fn download(State(st): State<AppState>, p: Principal, Path((number, id)): Path<(String, i64)>) -> AppResult<Response> {
                api::download(&st, &p, K, &number, id).await
            }
        }
    };
}
