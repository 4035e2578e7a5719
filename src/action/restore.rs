//! `restore`: the whole cluster back from an etcd snapshot (`plan::restore`). Destructive; a
//! failed member stops the run (the snapshot is checked on every member before anything stops,
//! and the old data stays aside), so it never goes on with half a cluster.

use super::Action;
use crate::plan::restore;

pub fn restore() -> Action {
    Action {
        name: "restore",
        phases: restore::ALL.to_vec(),
        destructive: true,
        keep_going: false,
    }
}
