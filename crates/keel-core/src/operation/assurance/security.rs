//! Clause 8.7.3 — information security management: the controls the organisation chose (with
//! applicability, status and owner, and the changes that affect them), and information security
//! incidents — incidents of category `security` with their own classification and reporting
//! ([`INCIDENT_FIELDS`], required before a security incident is resolved). The information
//! security policy is a controlled document of type `security_policy` (7.5), and information
//! security risks are risks (6.1) with source `information_security`.

use crate::access::Action::{ManageAssurance, ReadAssurance};
use crate::kernel::details::Field;
use crate::register::{
    FieldError, FieldSpec as F, Register, Target, Type, Values, field_error, int, set,
};

pub const CONTROL_STATES: &[&str] = &["planned", "implemented", "effective", "not_applicable"];

pub static CONTROLS: Register = Register::new(
    "security-controls",
    "security_control",
    "Security controls",
    "8.7.3",
    "security_controls",
    &[
        F::new("reference", "Reference", Type::Line(30)).required().help("e.g. A.8.13 in the organisation's control set."),
        F::new("name", "Name", Type::Line(200)).required(),
        F::new("description", "Description", Type::Text(20_000)),
        F::new("applicable", "Applicable", Type::Bool).default("true"),
        F::new("justification", "Justification", Type::Text(20_000))
            .help("Why it applies, or why not."),
        F::new("status", "Status", Type::Choice(CONTROL_STATES)).default("planned"),
        F::new("owner_id", "Owner", Type::Ref(Target::User)),
        F::new("review_date", "Next review", Type::Day),
        F::new("changes", "Changes affecting it", Type::Refs(Target::Item(crate::operation::transition::change::KIND))),
    ],
    "reference",
    (ReadAssurance, ManageAssurance),
)
.summary("The information security controls chosen, their status and owners, and the changes that touch them.")
.rules(control_rules);

fn control_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    if int(v, "applicable") == Some(0) && !set(v, "justification") {
        return Err(field_error(
            "justification",
            "is required for a control that does not apply",
        ));
    }
    Ok(())
}

/// The incident category that makes an incident an information security incident.
pub const SECURITY_CATEGORY: &str = "security";

pub const SECURITY_TYPES: &[&str] = &[
    "malware",
    "phishing",
    "unauthorised_access",
    "data_leak",
    "denial_of_service",
    "lost_device",
    "policy_violation",
    "other",
];
/// Which property of information was harmed.
pub const PROPERTIES: &[&str] = &["confidentiality", "integrity", "availability"];

/// Incident fields for security incidents. Ordinary incidents leave them empty.
pub static INCIDENT_FIELDS: &[Field] = &[
    Field::choice("security_type", "Security incident type", SECURITY_TYPES),
    Field::choice("security_property", "Property harmed", PROPERTIES),
    Field::choice("personal_data", "Personal data involved", &["yes", "no"]),
    Field::text("reported_to", "Reported to (authority, customers)", 2_000),
    Field::date("reported_on", "Reported on"),
];

/// What a security incident needs before it is resolved: its classification.
pub fn missing_before_resolution(
    details: &serde_json::Map<String, serde_json::Value>,
) -> Option<&'static str> {
    let has = |k: &str| {
        details
            .get(k)
            .and_then(|v| v.as_str())
            .is_some_and(|s| !s.is_empty())
    };
    ["security_type", "security_property", "personal_data"]
        .into_iter()
        .find(|k| !has(k))
}

/// This process's registers, in the order pages list them.
pub static REGISTERS: &[&Register] = &[&CONTROLS];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classification_before_resolution() {
        let d = json!({"security_type": "phishing"});
        assert_eq!(
            missing_before_resolution(d.as_object().expect("o")),
            Some("security_property")
        );
        let d = json!({"security_type": "phishing", "security_property": "confidentiality", "personal_data": "no"});
        assert_eq!(missing_before_resolution(d.as_object().expect("o")), None);
    }

    #[test]
    fn not_applicable_needs_a_reason() {
        let m = json!({"reference": "A.1", "name": "x", "applicable": false});
        let e = crate::register::parse(&CONTROLS, m.as_object().expect("o"), None);
        assert_eq!(e.expect_err("why").field, "justification");
    }
}
