//! Staged tasks of a work item (a request's fulfilment, a change's implementation): tasks of one
//! stage run in parallel, and the next stage opens when every task of the previous one is done.

/// The stage that should be open, given each task's (stage, done): the lowest stage with a task
/// not done; `None` when every task is done.
pub fn open_stage(tasks: &[(i64, bool)]) -> Option<i64> {
    tasks
        .iter()
        .filter(|(_, done)| !done)
        .map(|(s, _)| *s)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_open_in_order() {
        assert_eq!(open_stage(&[(1, false), (1, true), (2, false)]), Some(1));
        assert_eq!(
            open_stage(&[(1, true), (2, false), (2, false), (3, false)]),
            Some(2)
        );
        assert_eq!(open_stage(&[(1, true), (2, true)]), None);
        assert_eq!(open_stage(&[]), None);
    }
}
