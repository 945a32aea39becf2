//! Live evidence: checks that run over Keel's own records and say, per requirement, whether the
//! records show it being met — with counts and the records that fail.
//!
//! A check is data: the requirements it evidences, a [`Population`] of records (which the storage
//! layer knows how to load for a period), the least number of records that counts as evidence,
//! and [`Condition`]s every record must meet. Evaluation is pure. Adding a check is one entry in
//! [`super::checks::CHECKS`] (and, for a new kind of record, one population query).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The record sets checks examine. The storage layer loads each one for a period; every record
/// carries the fields the checks on it read. Time fields are epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Population {
    /// Every record of a register (`keel_core::operation::REGISTERS`) with its declared fields;
    /// days and instants as epoch ms.
    Register(&'static str),
    /// Complaints closed in the period: `findings`, `response`, `customer_informed_on`.
    ClosedComplaints,
    /// Satisfaction surveys sent in the period: `status`, `score`.
    SentSurveys,
    /// Active customer accounts: `relationship_manager`, `last_review` (ms of the last held
    /// service review).
    CustomerAccounts,
    /// Active suppliers: `kind`, `owner`, `active_contracts`, `last_review` (ms).
    ActiveSuppliers,
    /// Continuity plans not retired: `status`, `last_test` (ms), `next_test_due` (ms).
    ContinuityPlans,
    /// Incidents closed in the period: `priority`, `resolution_code`, `category`.
    ClosedIncidents,
    /// Major incidents closed in the period: `review`.
    ClosedMajorIncidents,
    /// Service requests fulfilled or closed in the period: `service`, `request_type`.
    ClosedRequests,
    /// Problems closed in the period: `root_cause`, `closure_review`.
    ClosedProblems,
    /// Normal and emergency changes whose implementation started in the period:
    /// `authorized_at`, `implementing_at`, `implementation_plan`, `backout_plan`, `risk`.
    ImplementedChanges,
    /// Changes closed in the period: `review_required` ("yes"/"no"), `review`, `outcome`.
    ClosedChanges,
    /// Services in the live stage: `owner`, `targets` (count of service level targets),
    /// `offerings` (count of catalogue offerings).
    LiveServices,
    /// Configuration items not retired: `class`, `owner`, `status`.
    ConfigurationItems,
    /// Configuration audits (verifications) finished in the period.
    ConfigurationAudits,
    /// Assets in use: `owner`, `location`.
    AssetsInUse,
    /// Published knowledge articles: `reviewed_at` (last publication or review).
    PublishedArticles,
    /// Nonconformities closed in the period: `severity`, `root_cause`, `corrective_action`,
    /// `effectiveness`.
    ClosedNonconformities,
    /// Improvements closed in the period: `measured_benefit`, `outcome`.
    ClosedImprovements,
    /// The audit trail as one record: `intact` ("yes"/"no"), `entries`.
    AuditTrail,
    /// Releases deployed in the period: `acceptance` (criteria), `outcome`.
    DeployedReleases,
    /// Risks and opportunities not closed: `owner`, `likelihood`, `impact`, `treatment`
    /// (the treatment, or `accept`), `review_date`.
    OpenRisks,
    /// One record per assessable process: `last_audited_at`, when an internal audit covering
    /// it was last reported.
    AuditedProcesses,
    /// Internal audits due to end in the period (or ended): `report`, `state`.
    DueAudits,
    /// Audit findings graded major or minor in the period: `nonconformity`.
    NonconformingFindings,
    /// Active controlled documents of one type (`scope`, `policy` …): `approved_at` (of the
    /// version in force), `reviewed_at` (last approval or review), `next_review`.
    DocumentsOfType(&'static str),
    /// Active documents with a version in force: `next_review`, `acknowledged_percent` (of
    /// the people it is distributed to).
    ControlledDocuments,
    /// Management reviews held in the period: `minutes`, `decisions`, `inputs` (how many of
    /// the 9.3 inputs were compiled).
    HeldReviews,
    /// Active objectives: `owner`, `due_on`, `kpis` (how many KPIs measure it).
    ActiveObjectives,
    /// Active KPIs: `measured_current` ("yes" when its last complete period is measured).
    ActiveKpis,
    /// Customers with services: `last_report_at`, the newest service report covering them.
    ReportedCustomers,
    /// Interested parties in the register: `requirements`, `how_addressed`, `review_date`.
    InterestedParties,
    /// Active staff (everyone but requesters): `missing_competences`, the competences their
    /// role requires with no current training record.
    StaffCompetence,
    /// The SMS scope as one record: `statement`, `services` (count in scope), `unscoped` (live
    /// services neither in scope nor excluded with a reason).
    Scope,
    /// One record per assessable process: `raci_problem` (empty when exactly one is
    /// accountable and someone is responsible).
    ProcessRaci,
    /// Entries of the communication plan: `owner`, `frequency`, `audience`.
    CommunicationPlan,
}

impl Population {
    pub const ALL: [Population; 36] = [
        Population::ClosedIncidents,
        Population::ClosedMajorIncidents,
        Population::ClosedRequests,
        Population::ClosedProblems,
        Population::ImplementedChanges,
        Population::ClosedChanges,
        Population::LiveServices,
        Population::ConfigurationItems,
        Population::ConfigurationAudits,
        Population::AssetsInUse,
        Population::PublishedArticles,
        Population::ClosedNonconformities,
        Population::ClosedImprovements,
        Population::AuditTrail,
        Population::DeployedReleases,
        Population::OpenRisks,
        Population::AuditedProcesses,
        Population::DueAudits,
        Population::NonconformingFindings,
        Population::DocumentsOfType("policy"),
        Population::ControlledDocuments,
        Population::HeldReviews,
        Population::ActiveObjectives,
        Population::ActiveKpis,
        Population::ReportedCustomers,
        Population::InterestedParties,
        Population::StaffCompetence,
        Population::Scope,
        Population::ProcessRaci,
        Population::CommunicationPlan,
        Population::Register("contracts"),
        Population::ClosedComplaints,
        Population::SentSurveys,
        Population::CustomerAccounts,
        Population::ActiveSuppliers,
        Population::ContinuityPlans,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Population::ClosedIncidents => "closed_incidents",
            Population::ClosedMajorIncidents => "closed_major_incidents",
            Population::ClosedRequests => "closed_requests",
            Population::ClosedProblems => "closed_problems",
            Population::ImplementedChanges => "implemented_changes",
            Population::ClosedChanges => "closed_changes",
            Population::LiveServices => "live_services",
            Population::ConfigurationItems => "configuration_items",
            Population::ConfigurationAudits => "configuration_audits",
            Population::AssetsInUse => "assets_in_use",
            Population::PublishedArticles => "published_articles",
            Population::ClosedNonconformities => "closed_nonconformities",
            Population::ClosedImprovements => "closed_improvements",
            Population::AuditTrail => "audit_trail",
            Population::DeployedReleases => "deployed_releases",
            Population::OpenRisks => "open_risks",
            Population::AuditedProcesses => "audited_processes",
            Population::DueAudits => "due_audits",
            Population::NonconformingFindings => "nonconforming_findings",
            Population::DocumentsOfType(_) => "documents_of_type",
            Population::ControlledDocuments => "controlled_documents",
            Population::HeldReviews => "held_reviews",
            Population::ActiveObjectives => "active_objectives",
            Population::ActiveKpis => "active_kpis",
            Population::ReportedCustomers => "reported_customers",
            Population::InterestedParties => "interested_parties",
            Population::StaffCompetence => "staff_competence",
            Population::Scope => "scope",
            Population::ProcessRaci => "process_raci",
            Population::CommunicationPlan => "communication_plan",
            Population::Register(_) => "register",
            Population::ClosedComplaints => "closed_complaints",
            Population::SentSurveys => "sent_surveys",
            Population::CustomerAccounts => "customer_accounts",
            Population::ActiveSuppliers => "active_suppliers",
            Population::ContinuityPlans => "continuity_plans",
        }
    }
}

/// What one record must show. Conditions name fields of the population's records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// The field has a value (non-empty text, any number).
    Present(&'static str),
    /// The field is one of the values.
    OneOf(&'static str, &'static [&'static str]),
    /// Both times are set and the first is not after the second (authorized before implementation).
    NotAfter(&'static str, &'static str),
    /// The time is set and no older than the number of days at evaluation.
    WithinDays(&'static str, i64),
    /// The number is at least the value.
    AtLeast(&'static str, f64),
    /// The date is set and not yet passed (a review date kept).
    NotOverdue(&'static str),
    /// The field is empty; its value, when set, is the reason (e.g. what is missing).
    Absent(&'static str),
    /// Only when the field has the value does the record need the other condition.
    When(&'static str, &'static str, &'static Condition),
}

/// One record as checks see it: what it is, how to show it, and its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The record's kind, e.g. `incident`, `ci`, `service`.
    pub kind: String,
    /// Its id or number (`INC-000042`).
    pub reference: String,
    pub label: String,
    /// Where a person opens it in the web UI.
    pub href: Option<String>,
    pub fields: BTreeMap<String, Value>,
}

/// One check (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Stable id, e.g. `incidents-closed-complete`.
    pub id: &'static str,
    pub title: &'static str,
    /// Why it evidences the requirements, for the assessor and the audit pack.
    pub rationale: &'static str,
    pub requirements: &'static [&'static str],
    pub population: Population,
    /// Fewer records than this is itself a failure (e.g. no configuration audit at all); zero
    /// means an empty population is simply not exercised.
    pub min: usize,
    pub conditions: &'static [Condition],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Nothing to examine and nothing required: no evidence either way.
    NotExercised,
}

/// A failing record and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: String,
    pub reference: String,
    pub label: String,
    pub href: Option<String>,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub check: String,
    pub status: Status,
    pub examined: usize,
    pub passed: usize,
    /// Set when the population is smaller than the check's minimum.
    pub shortfall: Option<String>,
    pub failures: Vec<Failure>,
}

impl Outcome {
    /// Share of examined records that pass, 0–100 (100 when nothing was examined).
    pub fn percent(&self) -> f64 {
        if self.examined == 0 {
            return if self.status == Status::Fail {
                0.0
            } else {
                100.0
            };
        }
        self.passed as f64 * 100.0 / self.examined as f64
    }
}

const DAY_MS: i64 = 86_400_000;

fn present(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

fn as_time(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64)
}

/// Why a record fails a condition, or `None` when it meets it.
pub fn failure(c: &Condition, fields: &BTreeMap<String, Value>, now_ms: i64) -> Option<String> {
    match *c {
        Condition::Present(f) => (!present(fields.get(f))).then(|| format!("no {}", human(f))),
        Condition::OneOf(f, allowed) => {
            let v = fields.get(f).and_then(Value::as_str).unwrap_or("");
            (!allowed.contains(&v)).then(|| {
                if v.is_empty() {
                    format!("no {}", human(f))
                } else {
                    format!("{} is {v}, expected {}", human(f), allowed.join(" or "))
                }
            })
        }
        Condition::NotAfter(a, b) => match (as_time(fields.get(a)), as_time(fields.get(b))) {
            (None, _) => Some(format!("no {}", human(a))),
            (_, None) => Some(format!("no {}", human(b))),
            (Some(x), Some(y)) if x > y => Some(format!("{} after {}", human(a), human(b))),
            _ => None,
        },
        Condition::WithinDays(f, days) => match as_time(fields.get(f)) {
            None => Some(format!("no {}", human(f))),
            Some(t) if now_ms - t > days * DAY_MS => {
                Some(format!("{} older than {days} days", human(f)))
            }
            _ => None,
        },
        Condition::NotOverdue(f) => match as_time(fields.get(f)) {
            None => Some(format!("no {}", human(f))),
            Some(t) if t + DAY_MS <= now_ms => Some(format!("{} has passed", human(f))),
            _ => None,
        },
        Condition::Absent(f) => present(fields.get(f)).then(|| {
            let v = match fields.get(f) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            format!("{}: {v}", human(f))
        }),
        Condition::AtLeast(f, min) => {
            let v = fields.get(f).and_then(Value::as_f64).unwrap_or(0.0);
            (v < min).then(|| format!("{} is {v}, needs at least {min}", human(f)))
        }
        Condition::When(f, value, then) => {
            if fields.get(f).and_then(Value::as_str) == Some(value) {
                failure(then, fields, now_ms)
            } else {
                None
            }
        }
    }
}

fn human(field: &str) -> String {
    field.replace('_', " ")
}

/// Run a check over its loaded population.
pub fn evaluate(check: &Check, records: &[Record], now_ms: i64) -> Outcome {
    let mut failures = Vec::new();
    for r in records {
        let reasons: Vec<String> = check
            .conditions
            .iter()
            .filter_map(|c| failure(c, &r.fields, now_ms))
            .collect();
        if !reasons.is_empty() {
            failures.push(Failure {
                kind: r.kind.clone(),
                reference: r.reference.clone(),
                label: r.label.clone(),
                href: r.href.clone(),
                reasons,
            });
        }
    }
    let shortfall = (records.len() < check.min).then(|| {
        format!(
            "needs at least {} record{}, found {}",
            check.min,
            if check.min == 1 { "" } else { "s" },
            records.len()
        )
    });
    let status = if shortfall.is_some() || !failures.is_empty() {
        Status::Fail
    } else if records.is_empty() {
        Status::NotExercised
    } else {
        Status::Pass
    };
    Outcome {
        check: check.id.to_string(),
        status,
        examined: records.len(),
        passed: records.len() - failures.len(),
        shortfall,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn rec(n: &str, fields: Value) -> Record {
        Record {
            kind: "incident".into(),
            reference: n.into(),
            label: n.into(),
            href: None,
            fields: serde_json::from_value(fields).unwrap_or_default(),
        }
    }

    const NOW: i64 = 400 * DAY_MS;

    static CHECK: Check = Check {
        id: "t",
        title: "t",
        rationale: "",
        requirements: &["8.6.1"],
        population: Population::ClosedIncidents,
        min: 0,
        conditions: &[
            Condition::Present("resolution_code"),
            Condition::When("severity", "major", &Condition::Present("review")),
        ],
    };

    #[test]
    fn conditions_name_what_is_missing() {
        let f = |c: Condition, v: Value| {
            failure(&c, &serde_json::from_value(v).unwrap_or_default(), NOW)
        };
        assert_eq!(
            f(Condition::Present("root_cause"), json!({})).as_deref(),
            Some("no root cause")
        );
        assert_eq!(
            f(Condition::Present("x"), json!({"x": "  "})).as_deref(),
            Some("no x")
        );
        assert_eq!(f(Condition::Present("x"), json!({"x": 0})), None);
        assert_eq!(
            f(
                Condition::OneOf("r", &["low", "medium"]),
                json!({"r": "high"})
            )
            .as_deref(),
            Some("r is high, expected low or medium")
        );
        assert_eq!(
            f(Condition::NotAfter("a", "b"), json!({"a": 5, "b": 4})).as_deref(),
            Some("a after b")
        );
        assert_eq!(
            f(Condition::NotAfter("a", "b"), json!({"a": 4, "b": 4})),
            None
        );
        assert_eq!(
            f(Condition::NotAfter("a", "b"), json!({"b": 4})).as_deref(),
            Some("no a")
        );
        assert_eq!(
            f(
                Condition::WithinDays("t", 365),
                json!({"t": NOW - 366 * DAY_MS})
            )
            .as_deref(),
            Some("t older than 365 days")
        );
        assert_eq!(
            f(Condition::WithinDays("t", 365), json!({"t": NOW - DAY_MS})),
            None
        );
        assert_eq!(
            f(Condition::AtLeast("n", 1.0), json!({"n": 0})).as_deref(),
            Some("n is 0, needs at least 1")
        );
        assert_eq!(f(Condition::AtLeast("n", 1.0), json!({"n": 2})), None);
        assert_eq!(
            f(Condition::NotOverdue("r"), json!({"r": NOW - 2 * DAY_MS})).as_deref(),
            Some("r has passed")
        );
        assert_eq!(
            f(Condition::NotOverdue("r"), json!({"r": NOW - DAY_MS / 2})),
            None
        );
        assert_eq!(
            f(Condition::NotOverdue("r"), json!({})).as_deref(),
            Some("no r")
        );
    }

    #[test]
    fn outcome_counts_and_lists_failures() {
        let o = evaluate(
            &CHECK,
            &[
                rec("INC-1", json!({"resolution_code": "fixed"})),
                rec(
                    "INC-2",
                    json!({"severity": "major", "resolution_code": "fixed"}),
                ),
                rec("INC-3", json!({"severity": "minor"})),
            ],
            NOW,
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!((o.examined, o.passed), (3, 1));
        assert_eq!(o.failures.len(), 2);
        assert_eq!(o.failures[0].reasons, vec!["no review".to_string()]);
        assert_eq!(o.failures[1].reference, "INC-3");
        assert!((o.percent() - 100.0 / 3.0).abs() < 1e-9);

        let empty = evaluate(&CHECK, &[], NOW);
        assert_eq!(empty.status, Status::NotExercised);
        let needs_one = Check { min: 1, ..CHECK };
        let short = evaluate(&needs_one, &[], NOW);
        assert_eq!(short.status, Status::Fail);
        assert_eq!(
            short.shortfall.as_deref(),
            Some("needs at least 1 record, found 0")
        );
        assert_eq!(short.percent(), 0.0);
    }

    #[test]
    fn population_names_round_trip() {
        for p in Population::ALL {
            match p {
                Population::DocumentsOfType(t) => assert_eq!(
                    serde_json::to_value(p).ok(),
                    Some(json!({"documents_of_type": t}))
                ),
                Population::Register(t) => {
                    assert_eq!(serde_json::to_value(p).ok(), Some(json!({"register": t})))
                }
                p => assert_eq!(serde_json::to_value(p).ok(), Some(json!(p.as_str()))),
            }
        }
    }

    proptest! {
        /// Passed plus failing records is what was examined, and a check passes exactly when
        /// nothing fails and the minimum is met.
        #[test]
        fn counts_add_up(codes in proptest::collection::vec(proptest::option::of("[a-z]{0,3}"), 0..20), min in 0usize..5) {
            let records: Vec<Record> = codes.iter().enumerate().map(|(i, c)| {
                rec(&format!("INC-{i}"), match c { Some(c) => json!({"resolution_code": c}), None => json!({}) })
            }).collect();
            let check = Check { min, ..CHECK };
            let o = evaluate(&check, &records, NOW);
            prop_assert_eq!(o.passed + o.failures.len(), o.examined);
            let all_ok = codes.iter().all(|c| c.as_deref().is_some_and(|s| !s.is_empty()));
            prop_assert_eq!(o.status == Status::Pass, all_ok && records.len() >= min && !records.is_empty());
        }
    }
}
