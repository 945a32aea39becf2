//! Clause 8 — operation of the service management system. Modules follow clause 8's groups:
//! service portfolio (8.2), relationship and agreement (8.3), supply and demand (8.4), service
//! design, build and transition (8.5), resolution and fulfilment (8.6), service assurance (8.7).

pub mod assurance;
pub mod portfolio;
pub mod relationship;
pub mod resolution;
pub mod supply;
pub mod transition;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_well_formed() {
        let all: Vec<&crate::register::Register> = [
            relationship::business::REGISTERS,
            relationship::agreement::REGISTERS,
            relationship::supplier::REGISTERS,
            supply::budget::REGISTERS,
            supply::demand::REGISTERS,
            supply::capacity::REGISTERS,
            assurance::availability::REGISTERS,
            assurance::continuity::REGISTERS,
            assurance::security::REGISTERS,
        ]
        .concat();
        assert_eq!(crate::register::problems(&all), Vec::<String>::new());
    }
}
