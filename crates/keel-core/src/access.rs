//! Roles and permissions. Every allow/deny decision in Keel comes from [`allows`]; the HTTP layer
//! asks it, the CLI asks it and the route × role test checks the router against it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A person's role. One role per user keeps the model auditable: an auditor can read exactly what
/// a user could do from one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Raises and follows their own (and their organisation's) tickets through the portal.
    Requester,
    /// Service-desk or support-group agent working tickets.
    Agent,
    /// Process owner or manager: everything an agent does plus reference data.
    Manager,
    /// Owner of the service management system (clauses 4–10).
    SmsManager,
    /// Internal or external auditor: reads everything, the audit trail included, changes nothing.
    Auditor,
    /// Administers users, tokens and configuration.
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Requester,
        Role::Agent,
        Role::Manager,
        Role::SmsManager,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Agent => "agent",
            Role::Manager => "manager",
            Role::SmsManager => "sms-manager",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// Requesters only ever see records of their own or their organisation; everyone else sees
    /// the whole service desk.
    pub fn is_scoped_to_own_records(self) -> bool {
        self == Role::Requester
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown role `{0}` (expected one of: requester, agent, manager, sms-manager, auditor, admin)"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// Something a person may try to do. Coarse on purpose: record-level scoping (a requester's own
/// records) is applied by the queries, not by more actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read work items (scoped for requesters).
    ReadWorkItems,
    /// Raise a new incident.
    CreateIncident,
    /// Change fields, assignment and state of work items.
    UpdateWorkItems,
    /// Add a public comment (requesters on their own items).
    CommentPublic,
    /// Add or read internal (agent-only) comments.
    InternalNotes,
    /// Upload attachments.
    Attach,
    /// Read the audit trail and history of records.
    ReadAudit,
    /// Read reference data: users, groups, customers, services.
    ReadDirectory,
    /// Create and change groups, customers and services.
    ManageReference,
    /// Create, disable users; issue and revoke others' tokens.
    ManageUsers,
    /// Read operational metrics and job queue state.
    ReadOperations,
    /// Issue and revoke one's own API tokens.
    OwnTokens,
    /// Read and mark one's own in-app notifications.
    OwnNotifications,
    /// Read calendars, service level targets, SLA clocks and attainment (8.3.3).
    ReadServiceLevels,
    /// Define calendars and service level targets.
    ManageServiceLevels,
    /// Read the provider's internal records: problems and known errors.
    ReadInternalItems,
    /// Save and delete one's own list views.
    OwnViews,
    /// Declare a major incident and record its review (managers).
    ManageMajorIncidents,
    /// Confirm or reject the resolution of one's own ticket (requesters; staff on their behalf).
    ConfirmResolution,
    /// Read knowledge (requesters: published articles only).
    ReadKnowledge,
    /// Write and submit knowledge articles.
    WriteKnowledge,
    /// Publish and retire knowledge articles.
    PublishKnowledge,
    /// Read the service catalogue (requesters: the offerings they may order).
    ReadCatalogue,
    /// Read configuration items, their classes, relationships and impact (8.2.6).
    ReadConfiguration,
    /// Define CI classes; create and change CIs and relationships.
    ManageConfiguration,
    /// Read the compliance engine: requirements, evidence checks, readiness, assessments.
    ReadCompliance,
    /// Judge requirements, rate processes, take assessments and run the gap plan (the SMS
    /// manager's work, not every manager's).
    ManageCompliance,
    /// Read customers' relationship records, agreements, suppliers and contracts (8.3).
    ReadRelationships,
    /// Keep those records: accounts, contacts, reviews, agreements, suppliers, contracts.
    ManageRelationships,
    /// Read budgets, costs and their reports (8.4.1): managers and auditors, not agents.
    ReadFinance,
    /// Set budgets and record costs.
    ManageFinance,
    /// Read demand, capacity, availability, continuity and information security records (8.4.2,
    /// 8.4.3, 8.7).
    ReadAssurance,
    /// Keep those records.
    ManageAssurance,
    /// Push utilisation samples (monitoring tools holding an agent's token).
    ReportMetrics,
    /// Answer a satisfaction survey addressed to oneself.
    AnswerSurveys,
    /// Send monitoring alerts that open and update incidents (a monitoring tool holding an
    /// agent's token).
    ReceiveAlerts,
    /// Read integrations: webhook subscriptions and their delivery log, received mail and its
    /// quarantine.
    ReadIntegrations,
    /// Configure webhooks, replay deliveries, reprocess or discard quarantined mail
    /// (administrators: subscriptions carry signing secrets and reach other systems).
    ManageIntegrations,
}

impl Action {
    pub const ALL: [Action; 38] = [
        Action::ReadWorkItems,
        Action::CreateIncident,
        Action::UpdateWorkItems,
        Action::CommentPublic,
        Action::InternalNotes,
        Action::Attach,
        Action::ReadAudit,
        Action::ReadDirectory,
        Action::ManageReference,
        Action::ManageUsers,
        Action::ReadOperations,
        Action::OwnTokens,
        Action::OwnNotifications,
        Action::ReadServiceLevels,
        Action::ManageServiceLevels,
        Action::ReadInternalItems,
        Action::OwnViews,
        Action::ManageMajorIncidents,
        Action::ConfirmResolution,
        Action::ReadKnowledge,
        Action::WriteKnowledge,
        Action::PublishKnowledge,
        Action::ReadCatalogue,
        Action::ReadConfiguration,
        Action::ManageConfiguration,
        Action::ReadCompliance,
        Action::ManageCompliance,
        Action::ReadRelationships,
        Action::ManageRelationships,
        Action::ReadFinance,
        Action::ManageFinance,
        Action::ReadAssurance,
        Action::ManageAssurance,
        Action::ReportMetrics,
        Action::AnswerSurveys,
        Action::ReceiveAlerts,
        Action::ReadIntegrations,
        Action::ManageIntegrations,
    ];
}

/// The one permission table.
pub fn allows(role: Role, action: Action) -> bool {
    use Action::*;
    use Role::*;
    match role {
        Requester => matches!(
            action,
            ReadWorkItems
                | CreateIncident
                | CommentPublic
                | Attach
                | OwnTokens
                | OwnNotifications
                | OwnViews
                | ConfirmResolution
                | ReadKnowledge
                | ReadCatalogue
                | AnswerSurveys
        ),
        Agent => matches!(
            action,
            ReadWorkItems
                | CreateIncident
                | UpdateWorkItems
                | CommentPublic
                | InternalNotes
                | Attach
                | ReadAudit
                | ReadDirectory
                | OwnTokens
                | OwnNotifications
                | OwnViews
                | ReadServiceLevels
                | ReadInternalItems
                | ConfirmResolution
                | ReadKnowledge
                | WriteKnowledge
                | ReadCatalogue
                | ReadConfiguration
                | ReadRelationships
                | ReadAssurance
                | ReportMetrics
                | AnswerSurveys
                | ReceiveAlerts
        ),
        Manager => !matches!(action, ManageUsers | ManageCompliance | ManageIntegrations),
        SmsManager => !matches!(action, ManageUsers | ManageIntegrations),
        Auditor => matches!(
            action,
            ReadWorkItems
                | InternalNotes
                | ReadAudit
                | ReadDirectory
                | ReadOperations
                | ReadServiceLevels
                | ReadInternalItems
                | ReadKnowledge
                | ReadCatalogue
                | ReadConfiguration
                | ReadCompliance
                | ReadRelationships
                | ReadFinance
                | ReadAssurance
                | ReadIntegrations
        ),
        Admin => true,
    }
}

/// Whether an action changes data. The auditor role must hold none of these.
pub fn is_write(action: Action) -> bool {
    !matches!(
        action,
        Action::ReadWorkItems
            | Action::ReadAudit
            | Action::ReadDirectory
            | Action::ReadOperations
            | Action::ReadServiceLevels
            | Action::ReadInternalItems
            | Action::ReadKnowledge
            | Action::ReadCatalogue
            | Action::ReadConfiguration
            | Action::ReadCompliance
            | Action::ReadRelationships
            | Action::ReadFinance
            | Action::ReadAssurance
            | Action::ReadIntegrations
            | Action::InternalNotes
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auditor_reads_everything_and_writes_nothing() {
        for a in Action::ALL {
            if is_write(a) {
                assert!(!allows(Role::Auditor, a), "{a:?}");
            }
        }
        assert!(allows(Role::Auditor, Action::ReadAudit));
    }

    #[test]
    fn requester_cannot_see_internal_notes_or_directory() {
        assert!(!allows(Role::Requester, Action::InternalNotes));
        assert!(!allows(Role::Requester, Action::ReadDirectory));
        assert!(!allows(Role::Requester, Action::UpdateWorkItems));
    }

    #[test]
    fn admin_can_do_everything() {
        assert!(Action::ALL.iter().all(|a| allows(Role::Admin, *a)));
    }

    #[test]
    fn roles_round_trip_through_text() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
