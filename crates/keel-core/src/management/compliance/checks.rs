//! The evidence checks Keel runs over its own records. Each entry says which requirements it
//! evidences, which records it reads and what each record must show; see [`super::evidence`].
//! Requirements without a check here rely on the assessor's judgement.

use super::evidence::{Check, Condition::*, Population::*};

pub static CHECKS: &[Check] = &[
    Check {
        id: "scope-covers-live-services",
        title: "The SMS scope is stated and every live service is in it or excluded with a reason",
        rationale: "The scope names the services the SMS covers; leaving a delivered service out needs a stated reason.",
        requirements: &["4.3"],
        population: Scope,
        min: 1,
        conditions: &[
            Present("statement"),
            AtLeast("services", 1.0),
            Absent("unscoped"),
        ],
    },
    Check {
        id: "raci-per-process",
        title: "Every process has exactly one accountable and at least one responsible party",
        rationale: "Roles, responsibilities and authorities for the SMS and its processes are assigned and known.",
        requirements: &["5.3"],
        population: ProcessRaci,
        min: 1,
        conditions: &[Absent("raci_problem")],
    },
    Check {
        id: "communication-plan",
        title: "The communication plan names for each communication its audience, frequency and owner",
        rationale: "Internal and external communication about the SMS and the services is planned: what, when, with whom, by whom.",
        requirements: &["7.4"],
        population: CommunicationPlan,
        min: 1,
        conditions: &[Present("audience"), Present("frequency"), Present("owner")],
    },
    Check {
        id: "interested-parties-registered",
        title: "Every interested party in the register has its requirements, how they are addressed and a review date not passed",
        rationale: "The relevant interested parties and their requirements are determined and kept current; an empty register is no evidence.",
        requirements: &["4.2"],
        population: InterestedParties,
        min: 1,
        conditions: &[
            Present("requirements"),
            Present("how_addressed"),
            NotOverdue("review_date"),
        ],
    },
    Check {
        id: "staff-competent",
        title: "Every member of staff holds a current training record for each competence their role requires",
        rationale: "The competence each role needs is determined and people are competent on the basis of education, training or experience, with evidence kept.",
        requirements: &["7.2"],
        population: StaffCompetence,
        min: 1,
        conditions: &[Absent("missing_competences")],
    },
    Check {
        id: "objectives-measurable",
        title: "Every active service management objective has an owner, a due date and a KPI that measures it",
        rationale: "Objectives are measurable, owned and planned; an SMS without objectives is no evidence.",
        requirements: &["6.2.1", "6.2.2"],
        population: ActiveObjectives,
        min: 1,
        conditions: &[Present("owner"), Present("due_on"), AtLeast("kpis", 1.0)],
    },
    Check {
        id: "kpis-measured",
        title: "Every active KPI is measured for its last complete period",
        rationale: "What needs monitoring is measured at the intervals decided, and the results kept.",
        requirements: &["9.1"],
        population: ActiveKpis,
        min: 1,
        conditions: &[OneOf("measured_current", &["yes"])],
    },
    Check {
        id: "customers-reported-monthly",
        title: "Every customer with services had a service report in the last 35 days",
        rationale: "Service reports are produced from the records at the agreed intervals for each customer.",
        requirements: &["9.4"],
        population: ReportedCustomers,
        min: 1,
        conditions: &[WithinDays("last_report_at", 35)],
    },
    Check {
        id: "management-review-held",
        title: "Top management held a management review in the period, with its inputs, minutes and decisions recorded",
        rationale: "Top management reviews the SMS at planned intervals, considering the inputs 9.3 names, and decides on improvements and changes.",
        requirements: &["9.3", "5.1"],
        population: HeldReviews,
        min: 1,
        conditions: &[
            Present("minutes"),
            Present("decisions"),
            AtLeast("inputs", 8.0),
        ],
    },
    Check {
        id: "scope-documented",
        title: "The SMS scope is documented, approved and not past its review date",
        rationale: "The scope is kept as documented information and kept current.",
        requirements: &["4.3", "7.5.4"],
        population: DocumentsOfType("scope"),
        min: 1,
        conditions: &[Present("approved_at"), NotOverdue("next_review")],
    },
    Check {
        id: "policy-approved-and-reviewed",
        title: "The service management policy is approved and was approved or reviewed within the last twelve months",
        rationale: "Top management sets the policy; it is kept as documented information and reviewed.",
        requirements: &["5.2.1", "5.1"],
        population: DocumentsOfType("policy"),
        min: 1,
        conditions: &[Present("approved_at"), WithinDays("reviewed_at", 365)],
    },
    Check {
        id: "sms-plan-documented",
        title: "The service management plan is documented, approved and not past its review date",
        rationale: "The plan for the SMS is created, documented, implemented and maintained.",
        requirements: &["6.3"],
        population: DocumentsOfType("plan"),
        min: 1,
        conditions: &[Present("approved_at"), NotOverdue("next_review")],
    },
    Check {
        id: "change-policy-documented",
        title: "The change management policy is documented, approved and not past its review date",
        rationale: "The change management policy is established and documented.",
        requirements: &["8.5.1.1"],
        population: DocumentsOfType("change_policy"),
        min: 1,
        conditions: &[Present("approved_at"), NotOverdue("next_review")],
    },
    Check {
        id: "security-policy-documented",
        title: "The information security policy is documented, approved and not past its review date",
        rationale: "The information security policy is approved by the right authority and kept as documented information.",
        requirements: &["8.7.3.1"],
        population: DocumentsOfType("security_policy"),
        min: 1,
        conditions: &[Present("approved_at"), NotOverdue("next_review")],
    },
    Check {
        id: "continuity-plan-documented",
        title: "A service continuity plan is documented, approved and not past its review date",
        rationale: "Continuity plans exist, are documented and kept current.",
        requirements: &["8.7.2"],
        population: DocumentsOfType("continuity_plan"),
        min: 1,
        conditions: &[Present("approved_at"), NotOverdue("next_review")],
    },
    Check {
        id: "major-incident-procedure-documented",
        title: "The major incident procedure is documented, approved and not past its review date",
        rationale: "Major incidents are handled under a documented procedure.",
        requirements: &["8.6.1"],
        population: DocumentsOfType("major_incident_procedure"),
        min: 1,
        conditions: &[Present("approved_at"), NotOverdue("next_review")],
    },
    Check {
        id: "documents-reviewed-on-time",
        title: "Every controlled document in force is within its review date",
        rationale: "Documented information is reviewed and kept suitable; obsolete versions are withdrawn.",
        requirements: &["7.5.2", "7.5.3"],
        population: ControlledDocuments,
        min: 1,
        conditions: &[NotOverdue("next_review")],
    },
    Check {
        id: "documents-acknowledged",
        title: "Everyone a document is distributed to has acknowledged its version in force",
        rationale: "Documented information is available where needed and people are aware of the policy and what applies to them.",
        requirements: &["7.3", "7.5.3"],
        population: ControlledDocuments,
        min: 1,
        conditions: &[AtLeast("acknowledged_percent", 100.0)],
    },
    Check {
        id: "audit-programme-covers-processes",
        title: "Every process was covered by an internal audit reported in the last twelve months",
        rationale: "The audit programme covers the SMS and its processes at planned intervals (here: a yearly cycle).",
        requirements: &["9.2"],
        population: AuditedProcesses,
        min: 1,
        conditions: &[WithinDays("last_audited_at", 365)],
    },
    Check {
        id: "audits-reported",
        title: "Every internal audit due to have ended has its report",
        rationale: "Audit results are reported to the relevant management and kept as evidence.",
        requirements: &["9.2"],
        population: DueAudits,
        min: 0,
        conditions: &[Present("report")],
    },
    Check {
        id: "findings-recorded-as-nonconformities",
        title: "Every major or minor audit finding is recorded as a nonconformity",
        rationale: "Nonconformities found by audits are corrected and their causes removed without undue delay.",
        requirements: &["9.2", "10.1"],
        population: NonconformingFindings,
        min: 0,
        conditions: &[Present("nonconformity")],
    },
    Check {
        id: "risks-owned-rated-reviewed",
        title: "Every open risk and opportunity has an owner, a rating, a treatment and a review date not yet passed",
        rationale: "Risks and opportunities are determined, assessed, treated and kept under review; an empty register is no evidence.",
        requirements: &["6.1"],
        population: OpenRisks,
        min: 1,
        conditions: &[
            Present("owner"),
            Present("likelihood"),
            Present("impact"),
            Present("treatment"),
            NotOverdue("review_date"),
        ],
    },
    Check {
        id: "incidents-closed-complete",
        title: "Every incident closed in the period has a priority, a category and a resolution code",
        rationale: "Incidents are recorded, classified, prioritised and closed with how they were resolved.",
        requirements: &["8.6.1"],
        population: ClosedIncidents,
        min: 0,
        conditions: &[
            Present("priority"),
            Present("category"),
            Present("resolution_code"),
        ],
    },
    Check {
        id: "major-incidents-reviewed",
        title: "Every major incident closed in the period has its review recorded",
        rationale: "Major incidents follow the documented major incident procedure, which ends in a review.",
        requirements: &["8.6.1"],
        population: ClosedMajorIncidents,
        min: 0,
        conditions: &[Present("review")],
    },
    Check {
        id: "requests-closed-complete",
        title: "Every service request fulfilled in the period names its service and its request type",
        rationale: "Requests are recorded against their service and fulfilled by the agreed type's procedure.",
        requirements: &["8.6.2"],
        population: ClosedRequests,
        min: 0,
        conditions: &[Present("service"), Present("request_type")],
    },
    Check {
        id: "problems-closed-reviewed",
        title: "Every problem closed in the period has a root cause and a closure review",
        rationale: "Problems are analysed for their cause and closed only after a review.",
        requirements: &["8.6.3"],
        population: ClosedProblems,
        min: 0,
        conditions: &[Present("root_cause"), Present("closure_review")],
    },
    Check {
        id: "changes-authorized-before-implementation",
        title: "Every normal or emergency change was authorized before its implementation started",
        rationale: "Changes are approved by the change authority before they are deployed.",
        requirements: &["8.5.1.2", "8.5.1.3"],
        population: ImplementedChanges,
        min: 0,
        conditions: &[NotAfter("authorized_at", "implementing_at")],
    },
    Check {
        id: "changes-planned-and-assessed",
        title: "Every change implemented in the period had implementation and backout plans and an assessed risk",
        rationale: "Decisions on changes weigh risk, impact and the plans to implement and reverse them.",
        requirements: &["8.5.1.3"],
        population: ImplementedChanges,
        min: 0,
        conditions: &[
            Present("implementation_plan"),
            Present("backout_plan"),
            Present("risk"),
        ],
    },
    Check {
        id: "changes-reviewed-when-required",
        title: "Every closed change that needed a post-implementation review has one",
        rationale: "Failed, backed-out, emergency and high-risk changes are reviewed and actions taken.",
        requirements: &["8.5.1.3"],
        population: ClosedChanges,
        min: 0,
        conditions: &[When("review_required", "yes", &Present("review"))],
    },
    Check {
        id: "releases-deployed-with-outcome",
        title: "Every release deployed in the period has acceptance criteria and a recorded outcome",
        rationale: "Releases are verified against agreed acceptance criteria and their success is recorded.",
        requirements: &["8.5.3"],
        population: DeployedReleases,
        min: 0,
        conditions: &[Present("acceptance"), Present("outcome")],
    },
    Check {
        id: "live-services-owned",
        title: "Every live service has an owner",
        rationale: "Each service in the portfolio has someone accountable for it.",
        requirements: &["8.2.1", "8.2.2"],
        population: LiveServices,
        min: 1,
        conditions: &[Present("owner")],
    },
    Check {
        id: "live-services-in-catalogue",
        title: "Every live service is offered in the service catalogue",
        rationale: "The catalogue describes the services the provider delivers.",
        requirements: &["8.2.4"],
        population: LiveServices,
        min: 1,
        conditions: &[AtLeast("offerings", 1.0)],
    },
    Check {
        id: "live-services-have-targets",
        title: "Every live service has agreed service level targets",
        rationale: "Service levels are agreed and measured for each service delivered.",
        requirements: &["8.3.3"],
        population: LiveServices,
        min: 1,
        conditions: &[AtLeast("targets", 1.0)],
    },
    Check {
        id: "cis-identified",
        title: "Every configuration item has a class, an owner and a status",
        rationale: "Configuration information is recorded to the agreed level for each CI.",
        requirements: &["8.2.6"],
        population: ConfigurationItems,
        min: 1,
        conditions: &[Present("class"), Present("owner"), Present("status")],
    },
    Check {
        id: "cmdb-verified",
        title: "The CMDB was verified against discovered reality at least once in the period",
        rationale: "Configuration information is audited for accuracy at planned intervals.",
        requirements: &["8.2.6"],
        population: ConfigurationAudits,
        min: 1,
        conditions: &[],
    },
    Check {
        id: "assets-owned-and-located",
        title: "Every asset in use has an owner and a location",
        rationale: "Assets used to deliver services are managed: someone answers for each and it can be found.",
        requirements: &["8.2.5"],
        population: AssetsInUse,
        min: 0,
        conditions: &[Present("owner"), Present("location")],
    },
    Check {
        id: "knowledge-current",
        title: "Every published knowledge article was published or reviewed within a year",
        rationale: "Knowledge is kept relevant and available.",
        requirements: &["7.6"],
        population: PublishedArticles,
        min: 1,
        conditions: &[WithinDays("reviewed_at", 365)],
    },
    Check {
        id: "audit-trail-intact",
        title: "The audit trail verifies: no record was altered or removed",
        rationale: "Records are protected from unintended change and loss.",
        requirements: &["7.5.3", "7.5.4"],
        population: AuditTrail,
        min: 1,
        conditions: &[OneOf("intact", &["yes"])],
    },
    Check {
        id: "nonconformities-corrected",
        title: "Every nonconformity closed in the period has a root cause, a corrective action and an effectiveness check",
        rationale: "Nonconformities are corrected, their causes removed and the action's effect confirmed.",
        requirements: &["10.1"],
        population: ClosedNonconformities,
        min: 0,
        conditions: &[
            Present("root_cause"),
            Present("corrective_action"),
            OneOf("effectiveness", &["effective"]),
        ],
    },
    Check {
        id: "improvements-measured",
        title: "Every improvement closed in the period has its benefit measured",
        rationale: "Improvements are evaluated against their criteria and their results measured.",
        requirements: &["10.2"],
        population: ClosedImprovements,
        min: 0,
        conditions: &[Present("measured_benefit")],
    },
];

/// A check by id.
pub fn check(id: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.id == id)
}

/// The checks that evidence a requirement.
pub fn for_requirement(id: &str) -> impl Iterator<Item = &'static Check> + '_ {
    CHECKS.iter().filter(move |c| c.requirements.contains(&id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::compliance::catalogue::current;
    use std::collections::HashSet;

    #[test]
    fn checks_name_real_requirements_and_unique_ids() {
        let cat = current();
        let mut ids = HashSet::new();
        for c in CHECKS {
            assert!(ids.insert(c.id), "duplicate {}", c.id);
            assert!(!c.requirements.is_empty(), "{}", c.id);
            for r in c.requirements {
                assert!(cat.requirement(r).is_some(), "{} names unknown {r}", c.id);
            }
        }
        assert_eq!(for_requirement("8.6.1").count(), 3);
        assert!(check("cmdb-verified").is_some());
    }
}
