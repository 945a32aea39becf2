//! Approvals on any work item that asks for them: a request's approvers (8.6.2), a change's
//! authority (8.5.1). Approvers are asked in sets, one per basis, each with its rule
//! (`keel_core::kernel::approval`); the kind says where an approval or a rejection takes the item
//! (`Kind::approval_moves`). Every decision is audited, and approvers hear through the outbox.

use super::{ItemRow, Patch, Scope};
use crate::platform::audit::{Actor, append};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::outbox::{self, Event};
use crate::platform::web::AppState;
use crate::{kernel, platform::web::iso};
use keel_core::access::Action;
use keel_core::audit::FieldChange;
use keel_core::kernel::Kind;
use keel_core::kernel::approval::{Outcome, Rule, combine, outcome};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// One set of approvers to ask.
#[derive(Debug, Clone)]
pub struct Ask {
    pub basis: String,
    pub rule: Rule,
    pub approvers: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Approval {
    pub id: i64,
    /// The set this approver belongs to: requester_manager, service_owner, named, or a change
    /// authority's name.
    pub basis: String,
    /// How the set's decisions combine: any, all, quorum.
    pub rule: String,
    pub quorum: Option<i64>,
    pub approver_id: i64,
    pub approver: String,
    /// pending, approved, rejected, or skipped (the set was decided without them).
    pub decision: String,
    pub comment: Option<String>,
    #[serde(skip)]
    pub decided_at: Option<i64>,
}

/// Ask every set, in the caller's transaction, and tell the approvers.
pub async fn ask(tx: &mut Tx, item: &ItemRow, asks: &[Ask]) -> AppResult<usize> {
    let now = now_ms();
    let mut everyone = vec![];
    for a in asks {
        for u in &a.approvers {
            tx.exec(
                Q::new("INSERT INTO approvals (item_id, basis, approver_id, decision, created_at, rule, quorum) VALUES ($1, $2, $3, 'pending', $4, $5, $6)")
                    .bind(item.id)
                    .bind(a.basis.as_str())
                    .bind(*u)
                    .bind(now)
                    .bind(a.rule.name())
                    .bind(a.rule.quorum()),
            )
            .await?;
            everyone.push(*u);
        }
    }
    everyone.sort_unstable();
    everyone.dedup();
    if !everyone.is_empty() {
        outbox::emit(
            tx,
            Event {
                event: "approval.requested",
                item_id: Some(item.id),
                title: format!("{} needs your approval: {}", item.number, item.title),
                payload: json!({"number": item.number}),
                recipients: everyone.clone(),
            },
        )
        .await?;
    }
    Ok(everyone.len())
}

pub async fn list(db: &Db, item: &ItemRow) -> AppResult<Vec<Approval>> {
    Ok(db
        .all(Q::new("SELECT a.id, a.basis, a.rule, a.quorum, a.approver_id, u.name AS approver, a.decision, a.comment, a.decided_at FROM approvals a JOIN users u ON u.id = a.approver_id WHERE a.item_id = $1 ORDER BY a.id").bind(item.id))
        .await?)
}

/// Where the item's approvals stand, every set by its rule. No approvals: `None`.
pub async fn standing(tx: &mut Tx, item_id: i64) -> AppResult<Option<Outcome>> {
    let rows: Vec<(String, String, Option<i64>, String)> = tx
        .all(
            Q::new("SELECT basis, rule, quorum, decision FROM approvals WHERE item_id = $1 AND decision <> 'superseded'")
                .bind(item_id),
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut sets: BTreeMap<&str, (Rule, Vec<&str>)> = BTreeMap::new();
    for (basis, rule, quorum, decision) in &rows {
        let r = Rule::parse(rule, *quorum).unwrap_or(Rule::All);
        sets.entry(basis).or_insert((r, vec![])).1.push(decision);
    }
    Ok(Some(combine(
        sets.values().map(|(r, ds)| outcome(*r, ds.iter().copied())),
    )))
}

/// Retire the item's approvals (it went back for rework): a new round starts from scratch.
pub async fn supersede(tx: &mut Tx, item_id: i64) -> AppResult<()> {
    tx.exec(Q::new("UPDATE approvals SET decision = 'superseded' WHERE item_id = $1 AND decision <> 'superseded'").bind(item_id))
        .await?;
    Ok(())
}

/// Approvers still pending when their set (or the item) was decided are skipped.
pub async fn skip_pending(tx: &mut Tx, item_id: i64) -> AppResult<()> {
    tx.exec(
        Q::new(
            "UPDATE approvals SET decision = 'skipped' WHERE item_id = $1 AND decision = 'pending'",
        )
        .bind(item_id),
    )
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ApprovalDecision)]
pub struct Decision {
    /// `approve` or `reject`.
    pub decision: String,
    /// Required when rejecting.
    pub comment: Option<String>,
}

/// Decide an approval (its approver, or an administrator). When the item's sets are all
/// approved it moves on; one rejected set rejects it. The approver must be able to read it.
pub async fn decide(
    db: &Db,
    p: &Principal,
    kind: Kind,
    number: &str,
    approval_id: i64,
    d: Decision,
) -> AppResult<ItemRow> {
    let Some((waiting, approved_to, rejected_to)) = kind.approval_moves() else {
        return Err(AppError::NotFound(format!("approvals of {number}")));
    };
    let approve = match d.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(AppError::invalid(
                "decision",
                format!("`{other}` is not approve or reject"),
            ));
        }
    };
    let comment = d
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from);
    if !approve && comment.is_none() {
        return Err(AppError::invalid("comment", "say why you reject it"));
    }
    let item = kernel::get(db, kind, number, Scope::All).await?;
    let mut tx = db.begin().await?;
    let row: Option<(i64, String)> = tx
        .opt(
            Q::new("SELECT approver_id, decision FROM approvals WHERE id = $1 AND item_id = $2")
                .bind(approval_id)
                .bind(item.id),
        )
        .await?;
    let (approver, current) =
        row.ok_or_else(|| AppError::NotFound(format!("approval {approval_id} of {number}")))?;
    if approver != p.user_id && !p.can(Action::ManageUsers) {
        return Err(AppError::Forbidden(
            "only the named approver decides this approval".into(),
        ));
    }
    if current != "pending" || item.state != waiting {
        return Err(AppError::Conflict(format!(
            "approval {approval_id} is {current}; {number} is {}",
            item.state.replace('_', " ")
        )));
    }
    let decision = if approve { "approved" } else { "rejected" };
    // Conditional on still pending: two approvers of an `any` set deciding at once both land,
    // but each only on a pending row.
    let n = tx
        .exec(
            Q::new("UPDATE approvals SET decision = $1, comment = $2, decided_at = $3 WHERE id = $4 AND decision = 'pending'")
                .bind(decision)
                .bind(comment.clone())
                .bind(now_ms())
                .bind(approval_id),
        )
        .await?;
    if n == 0 {
        return Err(AppError::Conflict(format!(
            "approval {approval_id} was decided meanwhile"
        )));
    }
    append(
        &mut tx,
        &p.actor(),
        "approval.decide",
        kind.as_str(),
        &item.number,
        vec![FieldChange {
            field: format!("approval.{approval_id}"),
            old: json!("pending"),
            new: json!({"decision": decision, "comment": comment}),
        }],
    )
    .await?;
    let result = standing(&mut tx, item.id)
        .await?
        .unwrap_or(Outcome::Pending);
    if result != Outcome::Pending {
        skip_pending(&mut tx, item.id).await?;
    }
    tx.commit().await?;
    let next = match result {
        Outcome::Pending => return kernel::get_by_id(db, item.id).await,
        Outcome::Approved => approved_to,
        Outcome::Rejected => rejected_to,
    };
    let row = move_to(db, kind, number, &p.actor(), next).await?;
    if let (Outcome::Rejected, Some(c)) = (result, comment) {
        let what = kind.spec().label.1;
        let what = what[..1].to_uppercase() + &what[1..];
        kernel::add_comment(
            db,
            &row,
            p,
            &p.actor(),
            &format!("{what} rejected: {c}"),
            false,
        )
        .await?;
    }
    Ok(row)
}

async fn move_to(db: &Db, kind: Kind, number: &str, actor: &Actor, to: &str) -> AppResult<ItemRow> {
    kernel::update(
        db,
        kind,
        number,
        Scope::All,
        actor,
        Patch {
            state: Some(to.into()),
            ..Default::default()
        },
        None,
    )
    .await
}

/// One pending approval in someone's inbox.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Pending {
    pub id: i64,
    pub kind: String,
    pub number: String,
    pub title: String,
    pub basis: String,
    pub state: String,
    #[serde(skip)]
    pub created_at: i64,
    /// When the approval was asked (RFC 3339).
    #[sqlx(skip)]
    pub asked_at: String,
}

/// The approvals waiting for `user_id`, oldest first: the CAB member's inbox.
pub async fn inbox(db: &Db, user_id: i64) -> AppResult<Vec<Pending>> {
    let mut rows: Vec<Pending> = db
        .all(Q::new("SELECT a.id, w.kind, w.number, w.title, a.basis, w.state, a.created_at FROM approvals a JOIN work_items w ON w.id = a.item_id \
                     WHERE a.approver_id = $1 AND a.decision = 'pending' ORDER BY a.created_at, a.id").bind(user_id))
        .await?;
    for r in &mut rows {
        r.asked_at = iso(r.created_at);
    }
    Ok(rows)
}

/// The approvals waiting for you, across requests and changes, oldest first.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals", responses((status = 200, body = Vec<Pending>)), security(("bearer" = [])))]
pub async fn api_inbox(
    axum::extract::State(st): axum::extract::State<crate::platform::web::AppState>,
    p: Principal,
) -> AppResult<axum::Json<Vec<Pending>>> {
    p.require(Action::ReadWorkItems)?;
    Ok(axum::Json(inbox(&st.db, p.user_id).await?))
}

/// The approval inbox: what waits for this person's decision, across kinds.
pub fn pages() -> axum::Router<AppState> {
    axum::Router::new().route("/approvals", axum::routing::get(inbox_page))
}

async fn inbox_page(
    axum::extract::State(st): axum::extract::State<AppState>,
    crate::platform::ui::WebUser(p): crate::platform::ui::WebUser,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use crate::platform::ui::{clear_flash, flash, page_error, viewer};
    use minijinja::value::Serde;
    use minijinja::{Value as V, context};
    match inbox(&st.db, p.user_id).await {
        Ok(rows) => {
            let rows: Vec<V> = rows
                .iter()
                .map(|r| {
                    let base = super::process::kind(&r.kind)
                        .map(Kind::collection)
                        .unwrap_or("incidents");
                    context! { a => V::from(Serde(r)), base => format!("/{base}") }
                })
                .collect();
            clear_flash(st.ui.render(
                "approvals.html",
                context! { me => viewer(&p), flash => flash(&headers), rows => rows },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}
