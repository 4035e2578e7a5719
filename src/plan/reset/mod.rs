//! The phases of `reset` (and of `remove`, which resets the hosts it takes out), in the one order
//! they run: leave the API and the etcd member list, `kubeadm reset`, then remove what kubeadm is documented to leave
//! (network state, folders, groundup's files), then images and packages when asked. Each step is
//! planned from the leftover itself (facts `leftovers`), so the verification round after a reset
//! is the same plan again: whatever it still plans is what stayed, with the command that removes
//! it. Pure, like every phase; the guard rails for a partial reset live here too.

mod etcd_member;
mod files;
mod kubeadm;
mod leave;
mod network;
mod packages;

use std::collections::BTreeSet;

use crate::inventory::{Host, Inventory, Role};

use super::{Context, Phase};

pub use etcd_member::{asking as etcd_asking, EtcdMemberRemove};
pub use files::FilesCleanup;
pub use kubeadm::KubeadmReset;
pub use leave::Leave;
pub use network::NetworkCleanup;

/// Every reset phase, in order.
pub const ALL: &[&dyn Phase] = &[
    &leave::Leave,
    &etcd_member::EtcdMemberRemove,
    &kubeadm::KubeadmReset,
    &network::NetworkCleanup,
    &files::FilesCleanup,
    &packages::PackagesCleanup,
];

/// The phases whose plan, from fresh facts after a reset, lists what stayed: all but the member
/// removal, which is asked of etcd itself at run time (and checks etcd's health after).
pub const VERIFY: &[&dyn Phase] = &[
    &leave::Leave,
    &kubeadm::KubeadmReset,
    &network::NetworkCleanup,
    &files::FilesCleanup,
    &packages::PackagesCleanup,
];

/// What a reset acts on and how far it goes.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The hosts being reset (the others stay in the cluster).
    pub hosts: BTreeSet<String>,
    /// Also remove the images in containerd's `k8s.io` namespace.
    pub images: bool,
    /// Also unhold and remove the Kubernetes packages, their repository and the uploaded artifacts.
    pub purge_packages: bool,
    /// How long `remove` lets a drain take (seconds).
    pub drain_timeout: u64,
    /// Leaving hosts that cannot be reached (`remove --unreachable`): taken out of the cluster
    /// through the hosts that stay, never drained or touched themselves.
    pub gone: BTreeSet<String>,
}

impl Options {
    pub fn resets(&self, host: &Host) -> bool {
        self.hosts.contains(host.name.as_str())
    }
}

/// The control plane that asks the API to forget the leaving nodes: the first one that stays, or
/// the first of all when every control plane goes.
pub fn api_host<'a>(cx: &Context<'a>) -> Option<&'a Host> {
    let mut cps = cx.inv.with_role(Role::ControlPlane);
    let all: Vec<&Host> = cps.by_ref().collect();
    all.iter()
        .copied()
        .find(|h| !cx.reset.resets(h))
        .or(all.first().copied())
}

/// What a reset of `hosts` (a part of the cluster) would break; empty when it is safe. The whole
/// cluster may always go. Checked before anything is planned, against the inventory.
pub fn guard(inv: &Inventory, hosts: &BTreeSet<String>) -> Vec<String> {
    let going = |h: &&Host| hosts.contains(h.name.as_str());
    let goes = |h: &Host| hosts.contains(h.name.as_str());
    if inv.hosts.iter().all(goes) {
        return vec![];
    }
    let mut why = Vec::new();
    let cps: Vec<&Host> = inv.with_role(Role::ControlPlane).collect();
    if !cps.is_empty() && cps.iter().all(going) {
        let staying: Vec<&str> = inv.hosts.iter().filter(|h| !goes(h)).map(|h| h.name.as_str()).collect();
        why.push(format!(
            "every control plane would go while {} stay{}: they would be left without an API",
            staying.join(", "),
            if staying.len() == 1 { "s" } else { "" }
        ));
    }
    let members: Vec<&Host> = inv.etcd_members().collect();
    let leaving = members.iter().filter(|h| goes(h)).count();
    let quorum = members.len() / 2 + 1;
    let cps_stay = inv.with_role(Role::ControlPlane).any(|h| !goes(h));
    if leaving == members.len() && inv.cluster.etcd == crate::inventory::EtcdTopology::External && cps_stay {
        why.push(format!(
            "every etcd member would go ({}) while control planes stay: the cluster's data would be gone              (`groundup backup` first)",
            members.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if leaving > 0 && leaving < members.len() && members.len() - leaving < quorum {
        why.push(format!(
            "etcd would fall below quorum: {leaving} of its {} members would go, and {quorum} must stay \
             (take them out one at a time with `groundup remove`, or reset the whole cluster)",
            members.len()
        ));
    }
    why
}
