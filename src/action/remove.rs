//! `remove`: nodes taken out of a running cluster (`plan::remove`): drained, deleted, a stacked
//! control plane's etcd member removed, then reset. A failure stops the run, so a node whose
//! drain fails stays cordoned and in the cluster, never half-deleted.

use super::Action;
use crate::plan::remove;

pub fn remove() -> Action {
    Action {
        name: "remove",
        phases: remove::ALL.to_vec(),
        destructive: true,
        keep_going: false,
    }
}
