//! `reset`: the hosts back to a clean OS: leave the API, `kubeadm reset`, remove what it leaves
//! (`plan::reset`). Destructive, and it goes on past a failed step so that it removes all it
//! can; the verification round that follows names what stayed.

use super::Action;
use crate::plan::reset;

pub fn reset() -> Action {
    Action {
        name: "reset",
        phases: reset::ALL.to_vec(),
        destructive: true,
        keep_going: true,
    }
}
