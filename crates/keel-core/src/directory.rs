//! Clause 7.2 (roles) fed from a directory: what a synchronisation changes, decided from what the
//! directory holds and what Keel holds. Local accounts (not from the directory) are never
//! touched; directory accounts follow the directory: created, renamed, re-roled, disabled when
//! they leave it, re-enabled when they return; support groups mirror their directory groups'
//! directory members.

use crate::access::Role;
use std::collections::{BTreeMap, BTreeSet};

/// A person in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    /// Lower-cased.
    pub email: String,
    pub name: String,
}

/// A group in the directory: its name and its members' DNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub members: BTreeSet<String>,
}

/// A Keel user as the synchronisation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    /// Lower-cased.
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    /// The DN it is synchronised from; `None` for a local account.
    pub dn: Option<String>,
}

/// How roles come from groups.
#[derive(Debug, Clone)]
pub struct Rules {
    pub roles: BTreeMap<String, Role>,
    pub default_role: Role,
    /// Directory groups mirrored as support groups; `None`: all not used for roles.
    pub support_groups: Option<Vec<String>>,
}

/// The changes, in the order they are applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub create: Vec<(Entry, Role)>,
    /// (account id, new name, new role, re-enable).
    pub update: Vec<(i64, String, Role, bool)>,
    pub disable: Vec<i64>,
    /// Directory entries skipped (no e-mail, an address a local account holds …), with why.
    pub skipped: Vec<(String, String)>,
    /// Support group name → directory DNs that should be its directory members.
    pub groups: BTreeMap<String, BTreeSet<String>>,
}

/// Rank for "most privileged" when a person is in several role groups.
fn rank(r: Role) -> u8 {
    match r {
        Role::Requester => 0,
        Role::Auditor => 1,
        Role::Agent => 2,
        Role::Manager => 3,
        Role::SmsManager => 4,
        Role::Admin => 5,
    }
}

pub fn plan(entries: &[Entry], groups: &[Group], accounts: &[Account], rules: &Rules) -> Plan {
    let mut p = Plan::default();
    let role_of = |dn: &str| {
        groups
            .iter()
            .filter(|g| g.members.contains(dn))
            .filter_map(|g| rules.roles.get(&g.name).copied())
            .max_by_key(|r| rank(*r))
            .unwrap_or(rules.default_role)
    };
    let mut seen = BTreeSet::new();
    for e in entries {
        if e.email.is_empty() || !e.email.contains('@') {
            p.skipped.push((e.dn.clone(), "no e-mail address".into()));
            continue;
        }
        if !seen.insert(e.email.clone()) {
            p.skipped.push((
                e.dn.clone(),
                format!("{} appears twice in the directory", e.email),
            ));
            continue;
        }
        let role = role_of(&e.dn);
        match accounts.iter().find(|a| a.email == e.email) {
            None => p.create.push((e.clone(), role)),
            Some(a) if a.dn.is_none() => p.skipped.push((
                e.dn.clone(),
                format!("{} is a local account; left as it is", e.email),
            )),
            Some(a) => {
                if a.name != e.name
                    || a.role != role
                    || a.disabled
                    || a.dn.as_deref() != Some(&e.dn)
                {
                    p.update.push((a.id, e.name.clone(), role, a.disabled));
                }
            }
        }
    }
    for a in accounts {
        if a.dn.is_some() && !a.disabled && !seen.contains(&a.email) {
            p.disable.push(a.id);
        }
    }
    for g in groups {
        let mirrored = match &rules.support_groups {
            Some(list) => list.iter().any(|n| n == &g.name),
            None => !rules.roles.contains_key(&g.name),
        };
        if mirrored {
            p.groups.insert(g.name.clone(), g.members.clone());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: &str) -> Entry {
        Entry {
            dn: format!("uid={uid},ou=people"),
            email: format!("{uid}@example.com"),
            name: uid.to_uppercase(),
        }
    }

    fn group(name: &str, members: &[&str]) -> Group {
        Group {
            name: name.into(),
            members: members
                .iter()
                .map(|m| format!("uid={m},ou=people"))
                .collect(),
        }
    }

    fn rules() -> Rules {
        Rules {
            roles: [
                ("keel-agents".to_string(), Role::Agent),
                ("keel-admins".to_string(), Role::Admin),
            ]
            .into_iter()
            .collect(),
            default_role: Role::Requester,
            support_groups: None,
        }
    }

    #[test]
    fn creates_updates_disables_and_leaves_local_accounts_alone() {
        let entries = vec![
            entry("ann"),
            entry("bob"),
            entry("cid"),
            Entry {
                email: String::new(),
                ..entry("nomail")
            },
        ];
        let groups = vec![
            group("keel-agents", &["ann", "bob"]),
            group("keel-admins", &["bob"]),
            group("network", &["ann"]),
        ];
        let accounts = vec![
            Account {
                id: 1,
                email: "bob@example.com".into(),
                name: "Bob".into(),
                role: Role::Agent,
                disabled: true,
                dn: Some("uid=bob,ou=people".into()),
            },
            Account {
                id: 2,
                email: "cid@example.com".into(),
                name: "Cid".into(),
                role: Role::Admin,
                disabled: false,
                dn: None,
            },
            Account {
                id: 3,
                email: "gone@example.com".into(),
                name: "Gone".into(),
                role: Role::Agent,
                disabled: false,
                dn: Some("uid=gone,ou=people".into()),
            },
            Account {
                id: 4,
                email: "local@example.com".into(),
                name: "Local".into(),
                role: Role::Admin,
                disabled: false,
                dn: None,
            },
        ];
        let p = plan(&entries, &groups, &accounts, &rules());
        assert_eq!(p.create, vec![(entry("ann"), Role::Agent)]);
        // Bob: renamed, the most privileged of his groups, re-enabled.
        assert_eq!(p.update, vec![(1, "BOB".into(), Role::Admin, true)]);
        assert_eq!(p.disable, vec![3]);
        assert_eq!(p.skipped.len(), 2, "{:?}", p.skipped);
        assert_eq!(p.groups.keys().collect::<Vec<_>>(), vec!["network"]);
    }

    #[test]
    fn an_unchanged_directory_changes_nothing() {
        let entries = vec![entry("ann")];
        let groups = vec![group("keel-agents", &["ann"])];
        let accounts = vec![Account {
            id: 1,
            email: "ann@example.com".into(),
            name: "ANN".into(),
            role: Role::Agent,
            disabled: false,
            dn: Some("uid=ann,ou=people".into()),
        }];
        let p = plan(&entries, &groups, &accounts, &rules());
        assert!(
            p.create.is_empty() && p.update.is_empty() && p.disable.is_empty(),
            "{p:?}"
        );
    }
}
