//! Clause 8.3.2 — business relationship management: customer accounts with their relationship
//! manager, contacts, service reviews held with each customer, complaints (a kind of work item,
//! [`COMPLAINT_LIFECYCLE`]) and customer satisfaction surveys with scores and trends.

use crate::access::Action::{ManageRelationships, ReadRelationships};
use crate::kernel::details::Field;
use crate::kernel::lifecycle::{Lifecycle, Transition};
use crate::kernel::{Kind, KindSpec, Vocabulary};
use crate::register::{
    FieldError, FieldSpec as F, Register, Stamp, Target, Type, Values, field_error, requires, set,
    text,
};

const ACCESS: (crate::access::Action, crate::access::Action) =
    (ReadRelationships, ManageRelationships);

pub const REVIEW_FREQUENCIES: &[&str] = &["monthly", "quarterly", "half_yearly", "yearly"];

pub static ACCOUNTS: Register = Register::new(
    "customer-accounts",
    "customer_account",
    "Customer accounts",
    "8.3.2",
    "customer_accounts",
    &[
        F::new("customer_id", "Customer", Type::Ref(Target::Customer)).required(),
        F::new("relationship_manager_id", "Relationship manager", Type::Ref(Target::User))
            .required(),
        F::new("sector", "Sector", Type::Line(100)),
        F::new("review_frequency", "Service reviews", Type::Choice(REVIEW_FREQUENCIES))
            .default("quarterly"),
        F::new("status", "Status", Type::Choice(&["active", "inactive"])).default("active"),
        F::new("notes", "Notes", Type::Text(20_000)),
    ],
    "customer_id",
    ACCESS,
)
.summary("One account per customer: who manages the relationship and how often services are reviewed with them.");

pub const CONTACT_ROLES: &[&str] = &["primary", "technical", "billing", "escalation", "executive"];

pub static CONTACTS: Register = Register::new(
    "contacts",
    "contact",
    "Contacts",
    "8.3.2",
    "contacts",
    &[
        F::new("customer_id", "Customer", Type::Ref(Target::Customer)).required(),
        F::new("name", "Name", Type::Line(200)).required(),
        F::new("role", "Role", Type::Choice(CONTACT_ROLES)).default("primary"),
        F::new("email", "E-mail", Type::Line(254)),
        F::new("phone", "Phone", Type::Line(50)),
        F::new("user_id", "Keel account", Type::Ref(Target::User))
            .help("When the contact signs in to the portal."),
        F::new("active", "Active", Type::Bool).default("true"),
    ],
    "name",
    ACCESS,
)
.summary("The people at each customer the provider deals with.")
.rules(contact_rules);

fn contact_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    if let Some(e) = text(v, "email") {
        crate::text::Email::parse(e).map_err(|x| field_error("email", x.to_string()))?;
    }
    Ok(())
}

pub static SERVICE_REVIEWS: Register = Register::new(
    "service-reviews",
    "service_review",
    "Service reviews",
    "8.3.2",
    "service_reviews",
    &[
        F::new("customer_id", "Customer", Type::Ref(Target::Customer)).required(),
        F::new(
            "service_id",
            "Service",
            Type::Ref(Target::Table(&crate::operation::portfolio::service::TABLE)),
        )
        .help("Empty when the review covers all the customer's services."),
        F::new("scheduled_on", "Scheduled for", Type::Day).required(),
        F::new(
            "status",
            "Status",
            Type::Choice(&["planned", "held", "cancelled"]),
        )
        .default("planned"),
        F::new("held_on", "Held on", Type::Day),
        F::new("attendees", "Attendees", Type::Text(2_000)),
        F::new("minutes", "Minutes", Type::Text(50_000)),
        F::new("actions", "Actions agreed", Type::Text(20_000)),
        F::new(
            "satisfaction",
            "Customer's satisfaction (1–5)",
            Type::Int { min: 1, max: 5 },
        ),
        F::new("next_review", "Next review", Type::Day),
        F::new("owner_id", "Led by", Type::Ref(Target::User)),
    ],
    "scheduled_on",
    ACCESS,
)
.summary("Reviews of service performance held with each customer, with minutes and agreed actions.")
.rules(review_rules)
.stamps(&[Stamp {
    field: "status",
    value: "held",
    by: None,
    on: Some("held_on"),
}]);

fn review_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    if text(v, "status") == Some("held") && !set(v, "minutes") {
        return Err(field_error("minutes", "is required when status is held"));
    }
    crate::register::not_before(v, "next_review", "scheduled_on")
}

pub static SURVEYS: Register = Register::new(
    "surveys",
    "survey",
    "Satisfaction surveys",
    "8.3.2",
    "surveys",
    &[
        F::new("kind", "Kind", Type::Choice(&["transactional", "periodic"])).default("periodic"),
        F::new("respondent_id", "Respondent", Type::Ref(Target::User)).required(),
        F::new("customer_id", "Customer", Type::Ref(Target::Customer)),
        F::new("service_id", "Service", Type::Ref(Target::Table(&crate::operation::portfolio::service::TABLE))),
        F::new("item", "Work item", Type::Line(20))
            .help("The incident or request a transactional survey asks about."),
        F::new("sent_on", "Sent on", Type::Day).required(),
        F::new("status", "Status", Type::Choice(&["sent", "answered", "expired"])).default("sent"),
        F::new("score", "Score (1–5)", Type::Int { min: 1, max: 5 }),
        F::new("comment", "Comment", Type::Text(5_000)),
        F::new("answered_on", "Answered on", Type::Day),
    ],
    "sent_on",
    ACCESS,
)
.summary("Customer satisfaction: sent after resolution and periodically; scores per service and customer.")
.rules(survey_rules);

fn survey_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    requires(v, "status", "answered", &["score", "answered_on"])
}

/// Whether a contact is due a periodic survey: never surveyed, or the account's review
/// frequency has passed since the last one.
pub fn periodic_due(
    frequency: &str,
    last_sent: Option<jiff::civil::Date>,
    today: jiff::civil::Date,
) -> bool {
    let months = match frequency {
        "monthly" => 1,
        "half_yearly" => 6,
        "yearly" => 12,
        _ => 3,
    };
    match last_sent {
        None => true,
        Some(d) => d
            .checked_add(jiff::Span::new().months(months))
            .is_ok_and(|next| next <= today),
    }
}

/// How many days a survey stays open for an answer.
pub const SURVEY_OPEN_DAYS: i64 = 30;

/// Mean of scores in thousandths (`4.25` → 4250), or None without scores.
pub fn mean_milli(scores: &[i64]) -> Option<i64> {
    if scores.is_empty() {
        return None;
    }
    let sum: i64 = scores.iter().sum();
    let n = scores.len() as i64;
    Some((sum * 1000 + n / 2) / n)
}

/// Trend of monthly means (oldest first): the last month against the mean of the ones before.
pub fn trend(monthly_means: &[i64]) -> &'static str {
    match monthly_means.split_last() {
        Some((last, before)) if !before.is_empty() => {
            let prior = before.iter().sum::<i64>() / before.len() as i64;
            if *last > prior + 100 {
                "improving"
            } else if *last + 100 < prior {
                "declining"
            } else {
                "steady"
            }
        }
        _ => "not_enough_data",
    }
}

pub const COMPLAINT_CHANNELS: &[&str] = &["email", "phone", "portal", "meeting", "letter"];
pub const COMPLAINT_SUBJECTS: &[&str] = &[
    "service_quality",
    "availability",
    "response_time",
    "staff_conduct",
    "billing",
    "other",
];

/// recorded → investigating → resolved → closed; withdrawn while open. 8.3.2 asks that
/// complaints are recorded, investigated, acted on, reported and closed, so resolving needs the
/// finding and the response, and closing needs the day the customer was told.
pub static COMPLAINT_LIFECYCLE: Lifecycle = Lifecycle {
    states: &[
        "recorded",
        "investigating",
        "resolved",
        "closed",
        "withdrawn",
    ],
    terminal: &["closed", "withdrawn"],
    transitions: &[
        Transition::free("recorded", "investigating"),
        Transition::needs("investigating", "resolved", &["findings", "response"]),
        Transition::free("resolved", "investigating"),
        Transition::needs("resolved", "closed", &["customer_informed_on"]),
        Transition::free("recorded", "withdrawn"),
        Transition::free("investigating", "withdrawn"),
    ],
};

pub static COMPLAINT_FIELDS: &[Field] = &[
    Field::choice("channel", "Received by", COMPLAINT_CHANNELS),
    Field::choice("subject", "About", COMPLAINT_SUBJECTS),
    Field::text("findings", "Investigation findings", 20_000),
    Field::text("response", "Response to the customer", 20_000),
    Field::date("customer_informed_on", "Customer informed on"),
];

/// The complaint as a kind of work item (see `kernel::KindSpec`).
pub static COMPLAINT_SPEC: KindSpec = KindSpec {
    name: "complaint",
    prefix: "CMP",
    collection: "complaints",
    label: ("Complaints", "complaint"),
    lifecycle: &COMPLAINT_LIFECYCLE,
    details: COMPLAINT_FIELDS,
    vocabulary: Vocabulary {
        categories: crate::operation::resolution::incident::CATEGORIES,
        hold_reasons: &[],
        resolution_codes: &[],
    },
    internal: true,
    approval_moves: None,
    fixed_details: &[],
    when_tasks_done: None,
    tasks_label: "",
    priority_override: false,
};
pub const COMPLAINT: Kind = Kind::declare(&COMPLAINT_SPEC);

/// This process's registers, in the order pages list them.
pub static REGISTERS: &[&Register] = &[&ACCOUNTS, &CONTACTS, &SERVICE_REVIEWS, &SURVEYS];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::parse;
    use serde_json::json;

    #[test]
    fn a_held_review_needs_minutes_and_is_stamped() {
        let m = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        let r = parse(
            &SERVICE_REVIEWS,
            &m(json!({"customer_id": 1, "scheduled_on": "2026-10-01", "status": "held"})),
            None,
        );
        assert_eq!(r.expect_err("minutes").field, "minutes");
        assert!(
            parse(
                &CONTACTS,
                &m(json!({"customer_id": 1, "name": "A", "email": "nope"})),
                None
            )
            .is_err()
        );
    }

    #[test]
    fn periodic_surveys_follow_the_review_frequency() {
        let d = |s: &str| s.parse::<jiff::civil::Date>().expect("date");
        assert!(periodic_due("quarterly", None, d("2026-11-26")));
        assert!(!periodic_due(
            "quarterly",
            Some(d("2026-09-01")),
            d("2026-11-26")
        ));
        assert!(periodic_due(
            "quarterly",
            Some(d("2026-08-26")),
            d("2026-11-26")
        ));
        assert!(periodic_due(
            "monthly",
            Some(d("2026-10-26")),
            d("2026-11-26")
        ));
        assert!(!periodic_due(
            "yearly",
            Some(d("2026-01-01")),
            d("2026-11-26")
        ));
    }

    #[test]
    fn means_and_trends() {
        assert_eq!(mean_milli(&[4, 5]), Some(4500));
        assert_eq!(mean_milli(&[]), None);
        assert_eq!(trend(&[3000, 3000, 4500]), "improving");
        assert_eq!(trend(&[4500, 4400, 3000]), "declining");
        assert_eq!(trend(&[4000, 4050]), "steady");
        assert_eq!(trend(&[4000]), "not_enough_data");
    }

    #[test]
    fn complaints_close_only_when_the_customer_was_told() {
        let l = &COMPLAINT_LIFECYCLE;
        assert!(
            l.check("investigating", "resolved", |f| f == "findings")
                .is_err()
        );
        assert!(l.check("resolved", "closed", |_| false).is_err());
        assert_eq!(l.check("resolved", "closed", |_| true), Ok("closed"));
    }
}
