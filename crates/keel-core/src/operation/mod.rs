//! Clause 8 — operation of the service management system. Modules follow clause 8's groups:
//! service portfolio (8.2), relationship and agreement (8.3), supply and demand (8.4), service
//! design, build and transition (8.5), resolution and fulfilment (8.6), service assurance (8.7).

pub mod assurance;
pub mod portfolio;
pub mod relationship;
pub mod resolution;
pub mod supply;
pub mod transition;

use crate::register::Register;

/// Every register of clause 8, in the order pages list them.
pub static REGISTERS: &[&Register] = &[
    &relationship::business::ACCOUNTS,
    &relationship::business::CONTACTS,
    &relationship::business::SERVICE_REVIEWS,
    &relationship::business::SURVEYS,
    &relationship::agreement::AGREEMENTS,
    &relationship::agreement::BREACH_EXPLANATIONS,
    &relationship::supplier::SUPPLIERS,
    &relationship::supplier::CONTRACTS,
    &relationship::supplier::SUPPLIER_REVIEWS,
    &relationship::supplier::DISPUTES,
    &supply::budget::BUDGETS,
    &supply::budget::COSTS,
    &supply::demand::FORECASTS,
    &supply::capacity::PLANS,
    &assurance::availability::TARGETS,
    &assurance::availability::OUTAGES,
    &assurance::continuity::REQUIREMENTS,
    &assurance::continuity::PLANS,
    &assurance::continuity::TESTS,
    &assurance::continuity::INVOCATIONS,
    &assurance::security::CONTROLS,
];

/// The register with this name (its API collection).
pub fn register(name: &str) -> Option<&'static Register> {
    REGISTERS.iter().copied().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::{Target, Type};

    #[test]
    fn registers_are_well_formed() {
        let mut names = std::collections::HashSet::new();
        for r in REGISTERS {
            assert!(names.insert(r.name), "duplicate {}", r.name);
            assert!(r.field(r.label).is_some(), "{}: label {}", r.name, r.label);
            for f in r.fields {
                if let Type::Ref(Target::Record(t)) | Type::Refs(Target::Record(t)) = f.ty {
                    assert!(register(t).is_some(), "{}.{} → {t}", r.name, f.name);
                }
                if let Some(d) = f.default {
                    assert!(
                        crate::register::parse_value(f, &serde_json::Value::String(d.into()))
                            .is_ok(),
                        "{}.{} default",
                        r.name,
                        f.name
                    );
                }
                assert!(
                    !["id", "version", "created_at", "updated_at", "created_by"].contains(&f.name)
                );
            }
            for s in r.stamps {
                assert!(r.field(s.field).is_some());
                assert!(s.by.is_none_or(|b| r.field(b).is_some()));
                assert!(s.on.is_none_or(|b| r.field(b).is_some()));
            }
        }
    }
}
