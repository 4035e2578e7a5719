//! `pki renew`: after the local reissue, the new PKI rolled out one host at a time
//! (`plan::renew`); a failed host stops the rollout with the others untouched.

use super::Action;
use crate::plan::renew;

pub fn renew() -> Action {
    Action {
        name: "pki renew",
        phases: renew::ALL.to_vec(),
        destructive: false,
        keep_going: false,
    }
}
