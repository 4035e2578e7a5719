//! `apply`: every phase of `plan::phases::ALL` up to `--until`; a failed control plane or etcd
//! host stops the run, a failed worker is left behind.

use super::Action;
use crate::plan::phases;

/// The apply action up to `until` (all phases when `None`); `None` back for an unknown phase.
pub fn apply(until: Option<&str>) -> Option<Action> {
    Some(Action {
        name: "apply",
        phases: phases::until(until)?,
        destructive: false,
        keep_going: false,
    })
}
