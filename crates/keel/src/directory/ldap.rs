//! Users and support groups synchronised from an LDAP directory (OpenLDAP, Active Directory).
//! What changes is decided by `keel_core::directory::plan`; this module reads the
//! directory and applies the plan through the directory's own audited functions. Directory users
//! have no password in Keel: they sign in with single sign-on. Local accounts keep working and
//! are never changed by a synchronisation.

use super::{NewUser, exists};
use crate::platform::audit::{Actor, append};
use crate::platform::config::LdapConfig;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult};
use keel_core::access::Role;
use keel_core::audit::FieldChange;
use keel_core::directory::{self as rules, Account, Entry, Group, Rules};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SyncReport {
    pub users_created: usize,
    pub users_updated: usize,
    pub users_disabled: usize,
    pub groups_created: usize,
    pub memberships_added: usize,
    pub memberships_removed: usize,
    /// Directory entries left out, each with why.
    pub skipped: Vec<String>,
}

fn first(e: &SearchEntry, attr: &str) -> Option<String> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first().cloned())
}

fn all(e: &SearchEntry, attr: &str) -> Vec<String> {
    e.attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(attr))
        .flat_map(|(_, v)| v.clone())
        .collect()
}

/// DNs compare case-insensitively and without spaces after commas.
fn norm_dn(dn: &str) -> String {
    dn.split(',')
        .map(|p| p.trim().to_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// Every entry a search finds, a page of 500 at a time (the paged results control), so a
/// directory with more entries than its size limit (Active Directory: 1,000) is read whole.
async fn search_all(
    ldap: &mut ldap3::Ldap,
    base: &str,
    filter: &str,
    attrs: Vec<String>,
) -> Result<Vec<SearchEntry>, String> {
    let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> = vec![
        Box::new(ldap3::adapters::EntriesOnly::new()),
        Box::new(ldap3::adapters::PagedResults::new(500)),
    ];
    let mut search = ldap
        .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs)
        .await
        .map_err(|e| format!("searching {base}: {e}"))?;
    let mut out = vec![];
    while let Some(e) = search
        .next()
        .await
        .map_err(|e| format!("searching {base}: {e}"))?
    {
        out.push(SearchEntry::construct(e));
    }
    search
        .finish()
        .await
        .success()
        .map_err(|e| format!("searching {base}: {e}"))?;
    Ok(out)
}

/// Read the directory's people and groups.
pub async fn read(c: &LdapConfig) -> Result<(Vec<Entry>, Vec<Group>), String> {
    let settings = LdapConnSettings::new()
        .set_conn_timeout(Duration::from_secs(20))
        .set_starttls(c.starttls)
        .set_config(crate::platform::tls::client_config(c.ca_file.as_deref())?);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &c.url)
        .await
        .map_err(|e| format!("{}: {e}", c.url))?;
    ldap3::drive!(conn);
    ldap.simple_bind(&c.bind_dn, &c.bind_password)
        .await
        .and_then(|r| r.success())
        .map_err(|e| format!("bind as {}: {e}", c.bind_dn))?;
    let mail = c.email_attribute.clone().unwrap_or_else(|| "mail".into());
    let name = c.name_attribute.clone().unwrap_or_else(|| "cn".into());
    let rs = search_all(
        &mut ldap,
        &c.user_base,
        c.user_filter
            .as_deref()
            .unwrap_or("(objectClass=inetOrgPerson)"),
        vec![mail.clone(), name.clone(), "displayName".into()],
    )
    .await?;
    let entries = rs
        .into_iter()
        .map(|e| Entry {
            dn: norm_dn(&e.dn),
            email: first(&e, &mail).unwrap_or_default().trim().to_lowercase(),
            name: first(&e, &name)
                .or_else(|| first(&e, "displayName"))
                .unwrap_or_default(),
        })
        .collect();
    let rs = search_all(
        &mut ldap,
        &c.group_base,
        c.group_filter
            .as_deref()
            .unwrap_or("(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"),
        vec!["cn".into(), "member".into(), "uniqueMember".into()],
    )
    .await?;
    let groups = rs
        .into_iter()
        .filter_map(|e| {
            let members: BTreeSet<String> = all(&e, "member")
                .into_iter()
                .chain(all(&e, "uniqueMember"))
                .map(|m| norm_dn(&m))
                .collect();
            Some(Group {
                name: first(&e, "cn")?,
                members,
            })
        })
        .collect();
    let _ = ldap.unbind().await;
    Ok((entries, groups))
}

fn rules_of(c: &LdapConfig) -> AppResult<Rules> {
    let mut roles = std::collections::BTreeMap::new();
    for (g, r) in &c.roles {
        let role: Role = r
            .parse()
            .map_err(|e| AppError::invalid(&format!("ldap.roles.{g}"), e))?;
        roles.insert(g.clone(), role);
    }
    let default_role = match &c.default_role {
        Some(r) => r
            .parse()
            .map_err(|e| AppError::invalid("ldap.default_role", e))?,
        None => Role::Requester,
    };
    Ok(Rules {
        roles,
        default_role,
        support_groups: c.support_groups.clone(),
    })
}

/// Synchronise now.
pub async fn sync(db: &Db, c: &LdapConfig) -> AppResult<SyncReport> {
    let rules = rules_of(c)?;
    let (entries, groups) = read(c)
        .await
        .map_err(|e| AppError::Conflict(format!("the directory could not be read: {e}")))?;
    let rows: Vec<(i64, String, String, String, i64, Option<String>)> = db
        .all(Q::new(
            "SELECT id, email, name, role, disabled, directory_dn FROM users",
        ))
        .await?;
    let accounts: Vec<Account> = rows
        .into_iter()
        .filter_map(|(id, email, name, role, disabled, dn)| {
            Some(Account {
                id,
                email: email.to_lowercase(),
                name,
                role: role.parse().ok()?,
                disabled: disabled != 0,
                dn,
            })
        })
        .collect();
    let plan = rules::plan(&entries, &groups, &accounts, &rules);
    let actor = Actor::system("directory sync");
    let mut report = SyncReport {
        skipped: plan
            .skipped
            .iter()
            .map(|(dn, why)| format!("{dn}: {why}"))
            .collect(),
        ..Default::default()
    };
    for (e, role) in &plan.create {
        let u = match NewUser::parse(&e.email, &e.name, role.as_str(), None, None) {
            Ok(u) => u,
            Err(err) => {
                report.skipped.push(format!("{}: {err}", e.dn));
                continue;
            }
        };
        let mut tx = db.begin().await?;
        let id = super::insert_user(&mut tx, &actor, &u, None).await?;
        tx.exec(
            Q::new("UPDATE users SET directory_dn = $1 WHERE id = $2")
                .bind(e.dn.as_str())
                .bind(id),
        )
        .await?;
        tx.commit().await?;
        report.users_created += 1;
    }
    for (id, name, role, reenable) in &plan.update {
        let before = accounts.iter().find(|a| a.id == *id);
        let dn = entries
            .iter()
            .find(|e| Some(&e.email) == before.map(|b| &b.email))
            .map(|e| e.dn.clone());
        let mut tx = db.begin().await?;
        tx.exec(
            Q::new("UPDATE users SET name = $1, role = $2, disabled = 0, directory_dn = $3, updated_at = $4 WHERE id = $5")
                .bind(name.as_str())
                .bind(role.as_str())
                .bind(dn)
                .bind(now_ms())
                .bind(*id),
        )
        .await?;
        let mut changes = vec![];
        if let Some(b) = before {
            if b.name != *name {
                changes.push(FieldChange {
                    field: "name".into(),
                    old: json!(b.name),
                    new: json!(name),
                });
            }
            if b.role != *role {
                changes.push(FieldChange {
                    field: "role".into(),
                    old: json!(b.role.as_str()),
                    new: json!(role.as_str()),
                });
            }
        }
        if *reenable {
            changes.push(FieldChange {
                field: "disabled".into(),
                old: json!(true),
                new: json!(false),
            });
        }
        append(&mut tx, &actor, "update", "user", &id.to_string(), changes).await?;
        tx.commit().await?;
        report.users_updated += 1;
    }
    for id in &plan.disable {
        super::set_disabled(db, &actor, *id, true).await?;
        report.users_disabled += 1;
    }
    // Support groups: directory members follow the directory; local members stay.
    let by_dn: std::collections::HashMap<String, i64> = db
        .all::<(i64, Option<String>)>(Q::new(
            "SELECT id, directory_dn FROM users WHERE directory_dn IS NOT NULL AND disabled = 0",
        ))
        .await?
        .into_iter()
        .filter_map(|(id, dn)| Some((dn?, id)))
        .collect();
    for (name, members) in &plan.groups {
        let existing: Option<(i64,)> = db
            .opt(Q::new("SELECT id FROM support_groups WHERE name = $1").bind(name.as_str()))
            .await?;
        let gid = match existing {
            Some((g,)) => g,
            None => {
                report.groups_created += 1;
                super::create_group(db, &actor, name, "Synchronised from the directory", None)
                    .await?
                    .id
            }
        };
        let want: BTreeSet<i64> = members
            .iter()
            .filter_map(|dn| by_dn.get(dn).copied())
            .collect();
        let have: BTreeSet<i64> = db
            .all::<(i64,)>(Q::new("SELECT m.user_id FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 AND u.directory_dn IS NOT NULL").bind(gid))
            .await?
            .into_iter()
            .map(|(u,)| u)
            .collect();
        for u in want.difference(&have) {
            super::add_member(db, &actor, gid, *u).await?;
            report.memberships_added += 1;
        }
        for u in have.difference(&want) {
            let mut tx = db.begin().await?;
            exists(&mut tx, "support_groups", gid, "group_id").await?;
            tx.exec(
                Q::new("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(gid)
                    .bind(*u),
            )
            .await?;
            append(
                &mut tx,
                &actor,
                "member.remove",
                "group",
                &gid.to_string(),
                vec![FieldChange {
                    field: "user_id".into(),
                    old: json!(u),
                    new: serde_json::Value::Null,
                }],
            )
            .await?;
            tx.commit().await?;
            report.memberships_removed += 1;
        }
    }
    tracing::info!(?report, "directory synchronised");
    Ok(report)
}

/// Synchronise users and support groups from the directory now (`[ldap]` in keel.toml).
#[utoipa::path(post, path = "/api/v1/directory/sync", tag = "directory", responses((status = 200, body = SyncReport), (status = 409, body = crate::platform::error::Problem)), security(("bearer" = [])))]
pub async fn api_sync(
    axum::extract::State(st): axum::extract::State<crate::platform::web::AppState>,
    p: crate::platform::auth::Principal,
) -> AppResult<axum::Json<SyncReport>> {
    p.require(keel_core::access::Action::ManageUsers)?;
    let c = st.cfg.ldap.as_ref().ok_or_else(|| {
        AppError::Conflict("no directory is configured ([ldap] in keel.toml)".into())
    })?;
    Ok(axum::Json(sync(&st.db, c).await?))
}
