//! The phases of `remove`: the leaving nodes drained (cordoned first; PodDisruptionBudgets
//! honoured), deleted from the API, a stacked control plane's etcd member taken out of the member
//! list with etcd's health checked after, then each host reset like `reset` does. Asked from the
//! first control plane that stays. Pure; the refusals (quorum, last control plane, not a node)
//! live here too.

pub mod drain;

use std::collections::BTreeSet;

use crate::inventory::{Inventory, Role};

use super::{reset, Phase};

pub const ALL: &[&dyn Phase] = &[
    &drain::Drain,
    &reset::Leave,
    &reset::EtcdMemberRemove,
    &reset::KubeadmReset,
    &reset::NetworkCleanup,
    &reset::FilesCleanup,
];

/// Why removing `hosts` must not happen; empty when it may.
pub fn refuse(inv: &Inventory, hosts: &BTreeSet<String>) -> Vec<String> {
    let mut why = Vec::new();
    for h in hosts {
        match inv.host(h) {
            None => why.push(format!("`{h}` is not a host of the inventory")),
            Some(host) if !host.is_node() => why.push(format!(
                "`{h}` is an external etcd member, not a node: `remove` takes nodes (control planes and workers)"
            )),
            Some(_) => {}
        }
    }
    let cps: Vec<&str> = inv.with_role(Role::ControlPlane).map(|h| h.name.as_str()).collect();
    if !cps.is_empty() && cps.iter().all(|c| hosts.contains(*c)) {
        why.push(format!(
            "it would remove the last control plane ({}): use `groundup reset` to take the whole cluster down",
            cps.join(", ")
        ));
    } else {
        why.extend(reset::guard(inv, hosts));
    }
    why
}
