//! The directory: people (users and their roles), support groups, customers (the organisations
//! served) and their contacts (requester users with a customer), and API tokens.
//! Every function that writes takes an [`Actor`] and audits in the same transaction.

pub mod api;
pub mod ldap;
pub mod oidc;

use crate::platform::audit::{Actor, append};
use crate::platform::auth::{hash_password, random_secret, sha256_hex};
use crate::platform::db::{Db, DbError, Q, now_ms};
use crate::platform::error::{AppError, AppResult};
use keel_core::access::Role;
use keel_core::audit::FieldChange;
use keel_core::text::{Email, Line};
use serde::Serialize;
use serde_json::json;

/// The languages Keel writes mail in (`integration::smtp` has a template set for each); a
/// person's `language` is one of them.
pub const LANGUAGES: &[&str] = &["en", "de"];

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub customer_id: Option<i64>,
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub disabled: i64,
    pub created_at: i64,
}

fn as_bool<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(*v != 0)
}

/// A validated new user.
pub struct NewUser {
    pub email: Email,
    pub name: Line,
    pub role: Role,
    pub customer_id: Option<i64>,
    pub password: Option<String>,
}

impl NewUser {
    pub fn parse(
        email: &str,
        name: &str,
        role: &str,
        customer_id: Option<i64>,
        password: Option<String>,
    ) -> AppResult<Self> {
        let email = Email::parse(email).map_err(|e| AppError::invalid("email", e))?;
        let name = Line::parse(name, 200).map_err(|e| AppError::invalid("name", e))?;
        let role: Role = role.parse().map_err(|e| AppError::invalid("role", e))?;
        if let Some(p) = &password {
            crate::platform::auth::check_password("password", p)?;
        }
        Ok(NewUser {
            email,
            name,
            role,
            customer_id,
            password,
        })
    }
}

const USER_COLS: &str = "id, email, name, role, customer_id, disabled, created_at";

pub async fn create_user(db: &Db, actor: &Actor, u: NewUser) -> AppResult<User> {
    create_user_hashed(db, actor, u, None).await
}

/// Create a user; `prehashed` lets bulk seeding reuse one argon2 hash.
pub async fn create_user_hashed(
    db: &Db,
    actor: &Actor,
    u: NewUser,
    prehashed: Option<String>,
) -> AppResult<User> {
    let hash = match (&u.password, prehashed) {
        (_, Some(h)) => Some(h),
        (Some(p), None) => Some(hash_password(p)?),
        (None, None) => None,
    };
    let mut tx = db.begin().await?;
    let id = insert_user(&mut tx, actor, &u, hash).await?;
    tx.commit().await?;
    get_user(db, id).await
}

/// Create a user in the caller's transaction (imports and directory sync), audited.
pub async fn insert_user(
    tx: &mut crate::platform::db::Tx,
    actor: &Actor,
    u: &NewUser,
    hash: Option<String>,
) -> AppResult<i64> {
    let now = now_ms();
    if let Some(c) = u.customer_id {
        exists(tx, "customers", c, "customer_id").await?;
    }
    let id = tx
        .insert(
            Q::new("INSERT INTO users (email, name, role, password_hash, customer_id, disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $6) RETURNING id")
                .bind(u.email.as_str())
                .bind(u.name.as_str())
                .bind(u.role.as_str())
                .bind(hash.clone())
                .bind(u.customer_id)
                .bind(now),
        )
        .await
        .map_err(|e| match e {
            DbError::Unique(_) => AppError::Conflict(format!("a user with e-mail {} exists", u.email)),
            e => e.into(),
        })?;
    let changes = vec![
        fc("email", json!(u.email.as_str())),
        fc("name", json!(u.name.as_str())),
        fc("role", json!(u.role.as_str())),
        fc("customer_id", json!(u.customer_id)),
        fc(
            "password",
            json!(if hash.is_some() { "(set)" } else { "(none)" }),
        ),
    ];
    append(tx, actor, "create", "user", &id.to_string(), changes).await?;
    Ok(id)
}

fn fc(field: &str, new: serde_json::Value) -> FieldChange {
    FieldChange {
        field: field.into(),
        old: serde_json::Value::Null,
        new,
    }
}

/// Check a referenced row exists, naming the field when it does not.
pub async fn exists(
    tx: &mut crate::platform::db::Tx,
    table: &str,
    id: i64,
    field: &str,
) -> AppResult<()> {
    let found: Option<(i64,)> = tx
        .opt(Q::new(format!("SELECT id FROM {table} WHERE id = $1")).bind(id))
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| AppError::invalid(field, format!("no record with id {id}")))
}

/// Check that an optional user reference names an active user; the error names `field`.
pub async fn active_user(db: &Db, field: &str, id: Option<i64>) -> AppResult<Option<i64>> {
    if let Some(id) = id {
        let ok: Option<(i64,)> = db
            .opt(Q::new("SELECT id FROM users WHERE id = $1 AND disabled = 0").bind(id))
            .await?;
        if ok.is_none() {
            return Err(AppError::invalid(field, format!("no active user {id}")));
        }
    }
    Ok(id)
}

pub async fn get_user(db: &Db, id: i64) -> AppResult<User> {
    db.opt(Q::new(format!("SELECT {USER_COLS} FROM users WHERE id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("user {id}")))
}

pub async fn user_by_email(db: &Db, email: &str) -> AppResult<User> {
    db.opt(
        Q::new(format!("SELECT {USER_COLS} FROM users WHERE email = $1"))
            .bind(email.trim().to_lowercase()),
    )
    .await?
    .ok_or_else(|| AppError::NotFound(format!("user {email}")))
}

pub async fn list_users(db: &Db) -> AppResult<Vec<User>> {
    Ok(db
        .all(Q::new(format!(
            "SELECT {USER_COLS} FROM users ORDER BY email"
        )))
        .await?)
}

/// Record who manages a user (the approver of their requests that need their manager's yes).
pub async fn set_manager(db: &Db, actor: &Actor, id: i64, manager: Option<i64>) -> AppResult<()> {
    if let Some(m) = manager {
        let mut tx = db.begin().await?;
        exists(&mut tx, "users", m, "manager_id").await?;
    }
    set_user_field(db, actor, id, "manager_id", manager).await
}

/// The language of a person's mail (`None`: the installation's).
pub async fn set_language(
    db: &Db,
    actor: &Actor,
    id: i64,
    language: Option<&str>,
) -> AppResult<()> {
    if let Some(l) = language
        && !LANGUAGES.contains(&l)
    {
        return Err(AppError::invalid(
            "language",
            format!("must be one of: {}", LANGUAGES.join(", ")),
        ));
    }
    set_user_field(db, actor, id, "language", language).await
}

/// Set one column of a user, audited with its old and new values.
async fn set_user_field<T>(
    db: &Db,
    actor: &Actor,
    id: i64,
    column: &'static str,
    value: T,
) -> AppResult<()>
where
    T: Into<crate::platform::db::Arg> + Serialize + Clone,
{
    get_user(db, id).await?;
    let mut tx = db.begin().await?;
    let old: crate::platform::db::DynRow = tx
        .one(Q::new(format!("SELECT {column} FROM users WHERE id = $1")).bind(id))
        .await?;
    tx.exec(
        Q::new(format!(
            "UPDATE users SET {column} = $1, updated_at = $2 WHERE id = $3"
        ))
        .bind(value.clone())
        .bind(now_ms())
        .bind(id),
    )
    .await?;
    append(
        &mut tx,
        actor,
        "update",
        "user",
        &id.to_string(),
        vec![FieldChange {
            field: column.into(),
            old: old.0.get(column).cloned().unwrap_or_default(),
            new: json!(value),
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Disable or re-enable a user; disabling also ends their sessions and revokes their tokens.
pub async fn set_disabled(db: &Db, actor: &Actor, id: i64, disabled: bool) -> AppResult<User> {
    let before = get_user(db, id).await?;
    let mut tx = db.begin().await?;
    tx.exec(
        Q::new("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
            .bind(disabled)
            .bind(now_ms())
            .bind(id),
    )
    .await?;
    if disabled {
        tx.exec(Q::new("DELETE FROM sessions WHERE user_id = $1").bind(id))
            .await?;
        tx.exec(
            Q::new(
                "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now_ms())
            .bind(id),
        )
        .await?;
    }
    append(
        &mut tx,
        actor,
        "update",
        "user",
        &id.to_string(),
        vec![FieldChange {
            field: "disabled".into(),
            old: json!(before.disabled != 0),
            new: json!(disabled),
        }],
    )
    .await?;
    tx.commit().await?;
    // After the commit, so no request can cache the old state again.
    crate::platform::auth::forget_cached_tokens();
    get_user(db, id).await
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub manager_id: Option<i64>,
}

pub async fn create_group(
    db: &Db,
    actor: &Actor,
    name: &str,
    description: &str,
    manager_id: Option<i64>,
) -> AppResult<Group> {
    let name = Line::parse(name, 200).map_err(|e| AppError::invalid("name", e))?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    if let Some(m) = manager_id {
        exists(&mut tx, "users", m, "manager_id").await?;
    }
    let id = tx
        .insert(
            Q::new("INSERT INTO support_groups (name, description, manager_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id")
                .bind(name.as_str())
                .bind(description)
                .bind(manager_id)
                .bind(now),
        )
        .await?;
    append(
        &mut tx,
        actor,
        "create",
        "group",
        &id.to_string(),
        vec![
            fc("name", json!(name.as_str())),
            fc("manager_id", json!(manager_id)),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(db
        .one(
            Q::new("SELECT id, name, description, manager_id FROM support_groups WHERE id = $1")
                .bind(id),
        )
        .await?)
}

pub async fn list_groups(db: &Db) -> AppResult<Vec<Group>> {
    Ok(db
        .all(Q::new(
            "SELECT id, name, description, manager_id FROM support_groups ORDER BY name",
        ))
        .await?)
}

pub async fn add_member(db: &Db, actor: &Actor, group_id: i64, user_id: i64) -> AppResult<()> {
    let mut tx = db.begin().await?;
    exists(&mut tx, "support_groups", group_id, "group_id").await?;
    exists(&mut tx, "users", user_id, "user_id").await?;
    tx.exec(
        Q::new(
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(group_id)
        .bind(user_id),
    )
    .await?;
    append(
        &mut tx,
        actor,
        "member.add",
        "group",
        &group_id.to_string(),
        vec![fc("user_id", json!(user_id))],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn group_members(db: &Db, group_id: i64) -> AppResult<Vec<Named>> {
    Ok(db
        .all(Q::new("SELECT u.id, u.name FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 ORDER BY u.name").bind(group_id))
        .await?)
}

/// Create a customer or a service: both are named rows audited the same way.
pub async fn create_named(
    db: &Db,
    actor: &Actor,
    table: &'static str,
    entity: &str,
    name: &str,
    description: Option<&str>,
) -> AppResult<Named> {
    let name = Line::parse(name, 200).map_err(|e| AppError::invalid("name", e))?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let q = match description {
        Some(d) => Q::new(format!("INSERT INTO {table} (name, description, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id")).bind(name.as_str()).bind(d).bind(now),
        None => Q::new(format!("INSERT INTO {table} (name, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id")).bind(name.as_str()).bind(now),
    };
    let id = tx.insert(q).await.map_err(|e| match e {
        DbError::Unique(_) => {
            AppError::invalid("name", format!("a {entity} named {} exists", name.as_str()))
        }
        e => e.into(),
    })?;
    append(
        &mut tx,
        actor,
        "create",
        entity,
        &id.to_string(),
        vec![fc("name", json!(name.as_str()))],
    )
    .await?;
    tx.commit().await?;
    Ok(Named {
        id,
        name: name.into_string(),
    })
}

pub async fn list_named(db: &Db, table: &'static str) -> AppResult<Vec<Named>> {
    Ok(db
        .all(Q::new(format!(
            "SELECT id, name FROM {table} ORDER BY name"
        )))
        .await?)
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Token {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Issue a bearer token; the secret is returned once and only its hash is kept.
pub async fn create_token(
    db: &Db,
    actor: &Actor,
    user_id: i64,
    name: &str,
) -> AppResult<(Token, String)> {
    let name = Line::parse(name, 100).map_err(|e| AppError::invalid("name", e))?;
    let secret = format!("keel_{}", random_secret());
    let mut tx = db.begin().await?;
    exists(&mut tx, "users", user_id, "user_id").await?;
    let id = tx
        .insert(
            Q::new("INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(user_id)
                .bind(name.as_str())
                .bind(sha256_hex(&secret))
                .bind(now_ms()),
        )
        .await?;
    append(
        &mut tx,
        actor,
        "token.create",
        "user",
        &user_id.to_string(),
        vec![fc("token", json!(name.as_str()))],
    )
    .await?;
    tx.commit().await?;
    let t = db
        .one(
            Q::new(
                "SELECT id, user_id, name, created_at, revoked_at FROM api_tokens WHERE id = $1",
            )
            .bind(id),
        )
        .await?;
    Ok((t, secret))
}

pub async fn list_tokens(db: &Db, user_id: Option<i64>) -> AppResult<Vec<Token>> {
    let q = match user_id {
        Some(u) => Q::new("SELECT id, user_id, name, created_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY id").bind(u),
        None => Q::new("SELECT id, user_id, name, created_at, revoked_at FROM api_tokens ORDER BY id"),
    };
    Ok(db.all(q).await?)
}

/// Revoke a token; `owner` restricts to one user's tokens (non-admins revoke only their own).
pub async fn revoke_token(db: &Db, actor: &Actor, id: i64, owner: Option<i64>) -> AppResult<()> {
    let t: Option<Token> = db
        .opt(
            Q::new(
                "SELECT id, user_id, name, created_at, revoked_at FROM api_tokens WHERE id = $1",
            )
            .bind(id),
        )
        .await?;
    let t = t
        .filter(|t| owner.is_none_or(|o| o == t.user_id))
        .ok_or_else(|| AppError::NotFound(format!("token {id}")))?;
    if t.revoked_at.is_some() {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    tx.exec(
        Q::new("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id),
    )
    .await?;
    append(
        &mut tx,
        actor,
        "token.revoke",
        "user",
        &t.user_id.to_string(),
        vec![FieldChange {
            field: "token".into(),
            old: json!(t.name),
            new: serde_json::Value::Null,
        }],
    )
    .await?;
    tx.commit().await?;
    crate::platform::auth::forget_cached_tokens();
    Ok(())
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "directory",
    api: part_api,
    pages: oidc::pages,
    tags: &[("directory", "Users, support groups, customers, tokens")],
    jobs: &[crate::platform::part::JobKind {
        kind: "directory.sync",
        every: Some(|cfg| {
            cfg.ldap
                .as_ref()
                .map(|c| c.interval_minutes.unwrap_or(60).max(5) * 60 * 1000)
        }),
        run: |st, _job| {
            Box::pin(async move {
                match &st.cfg.ldap {
                    Some(c) => ldap::sync(&st.db, c)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            })
        },
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(api::me))
        .routes(gate(
            Action::ManageUsers,
            routes!(api::list_users, api::create_user),
        ))
        .routes(gate(
            Action::ManageUsers,
            routes!(api::get_user, api::update_user),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(api::list_groups, api::create_group),
        ))
        .routes(gate(Action::ManageReference, routes!(api::add_member)))
        .routes(gate(
            Action::ManageReference,
            routes!(api::list_customers, api::create_customer),
        ))
        .routes(gate(
            Action::OwnTokens,
            routes!(api::list_tokens, api::create_token),
        ))
        .routes(gate(Action::OwnTokens, routes!(api::revoke_token)))
        .routes(gate(Action::ManageUsers, routes!(ldap::api_sync)))
}
