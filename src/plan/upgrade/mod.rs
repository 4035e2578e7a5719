//! The phases of `upgrade`, to the inventory's `kubernetes_version` (one minor up at most, or a
//! patch), in the order `kubeadm upgrade` is documented for, each planned from what the hosts and
//! the API report of the versions themselves (packages, static pod images, each Node's kubelet):
//! - [`check`]: the gate: versions, path (no skipped minor, no downgrade), skew, runtime, every
//!   node Ready, the kit holding the new version;
//! - [`control_plane`]: kubeadm at the new version on every node, then `kubeadm upgrade apply` on
//!   the first control plane and `kubeadm upgrade node` on the others, one at a time;
//! - [`nodes`]: per batch (control planes one at a time, then `[upgrade] max_unavailable`
//!   workers): drain from the first control plane, kubelet and kubectl at the new version on the
//!   node, then uncordon once the Node reports the new version and Ready.
//!
//! Pure; the command runs the batches one after another ([`batches`]).

pub mod check;
pub mod control_plane;
pub mod nodes;

use crate::facts::Facts;
use crate::inventory::{Host, Inventory, KubeVersion, Role};
use crate::plan::{Context, Phase, PlanError};

/// What `upgrade` is told besides the inventory.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The nodes of the batch being rolled; `None`: every node (what the preview shows).
    pub batch: Option<Vec<String>>,
    /// Seconds a drain may take before the upgrade stops with the blocking pods named.
    pub drain_timeout: u64,
}

impl Options {
    /// Whether `host` is in the batch being rolled.
    pub fn rolls(&self, host: &str) -> bool {
        self.batch.as_ref().is_none_or(|b| b.iter().any(|n| n == host))
    }
}

/// Before any node is touched: the gate, the new images, kubeadm, the control plane.
pub const CONTROL_PLANE: &[&dyn Phase] = &[
    &check::Check,
    &crate::plan::phases::images::Images,
    &control_plane::Kubeadm,
    &control_plane::ControlPlane,
];

/// One batch of nodes.
pub const NODES: &[&dyn Phase] = &[&nodes::Drain, &nodes::Kubelet, &nodes::Uncordon];

/// The label on a Node that `upgrade` cordoned, so that only those are uncordoned.
pub const CORDONED_LABEL: &str = "groundup.io/upgrade-cordoned";

/// The first control plane: where `kubeadm upgrade apply` runs and drains are issued from.
pub fn first_control_plane(inv: &Inventory) -> Option<&Host> {
    inv.with_role(Role::ControlPlane).next()
}

/// The order nodes are rolled in: each control plane alone, then workers `max_unavailable` at a time.
pub fn batches(inv: &Inventory) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = inv
        .with_role(Role::ControlPlane)
        .map(|h| vec![h.name.to_string()])
        .collect();
    let workers: Vec<String> = inv
        .hosts
        .iter()
        .filter(|h| h.is_node() && !h.has(Role::ControlPlane))
        .map(|h| h.name.to_string())
        .collect();
    let n = inv.kube.upgrade_max_unavailable.max(1) as usize;
    out.extend(workers.chunks(n).map(<[String]>::to_vec));
    out
}

/// `1.36.3` out of a package version (`1.36.3-1.1`, `1:1.36.3-150500.1.1`) or an image tag (`v1.36.3`).
pub fn parse_version(text: &str) -> Option<KubeVersion> {
    let t = text.split_once(':').map_or(text, |(_, r)| r);
    let t = t.trim().trim_start_matches('v');
    let core = t.split(['-', '+', '~']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u32>().ok());
    let v = KubeVersion {
        major: it.next()??,
        minor: it.next()??,
        patch: it.next()??,
    };
    Some(v)
}

/// The installed version of a package on a host.
pub fn package_version(f: &Facts, name: &str) -> Option<KubeVersion> {
    f.packages.get(name).and_then(|v| parse_version(v))
}

/// Refuses a downgrade and a skipped minor from `from` (what `what` runs now) to `to`.
pub fn path(what: &str, from: KubeVersion, to: KubeVersion) -> Result<(), PlanError> {
    if from > to {
        return Err(PlanError::new(
            format!("{what} runs {from}, the inventory pins {to}: that is a downgrade"),
            format!(
                "groundup never downgrades (kubeadm does not support it): set `kubernetes_version = \"{from}\"` back, \
                 or restore a backup taken before the upgrade onto rebuilt hosts"
            ),
        ));
    }
    if from.major != to.major || to.minor > from.minor + 1 {
        let steps: Vec<String> = (from.minor + 1..to.minor)
            .map(|m| format!("{}.{m}.x", to.major))
            .collect();
        return Err(PlanError::new(
            format!("{what} runs {from}, the inventory pins {to}: that skips a minor version"),
            format!(
                "Kubernetes upgrades one minor at a time: {from} → {} → {to}. Set `kubernetes_version` to the newest \
                 patch of {}, run `groundup upgrade`, and go on from there",
                steps.join(" → "),
                steps.first().map_or("the next minor", String::as_str)
            ),
        ));
    }
    Ok(())
}

/// The flag every `kubeadm upgrade plan/apply/node` takes on cgroup v1 hosts the inventory allows:
/// kubeadm's upgrade preflight refuses them (SystemVerification) as its init preflight does (a
/// real upgrade on the lab's cgroup v1 hosts found it).
pub fn preflight_flag(cx: &Context) -> &'static str {
    if cx.inv.kube.allow_cgroup_v1 {
        " --ignore-preflight-errors=SystemVerification"
    } else {
        ""
    }
}

/// The inventory's version, the upgrade's target.
pub fn target(cx: &Context) -> KubeVersion {
    cx.inv.cluster.kubernetes_version
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_packages_and_tags() {
        let v = |s| parse_version(s).map(|v| v.to_string());
        assert_eq!(v("1.36.3-1.1").as_deref(), Some("1.36.3"));
        assert_eq!(v("1:1.35.0-150500.1.1").as_deref(), Some("1.35.0"));
        assert_eq!(v("v1.36.2").as_deref(), Some("1.36.2"));
        assert_eq!(v("3.10.2"), Some("3.10.2".into()));
        assert_eq!(v("latest"), None);
        assert_eq!(v("1.36"), None);
    }

    #[test]
    fn the_path_refuses_downgrades_and_skipped_minors() {
        let k = |s| parse_version(s).unwrap();
        assert!(path("x", k("1.35.4"), k("1.36.2")).is_ok());
        assert!(path("x", k("1.36.2"), k("1.36.3")).is_ok());
        assert!(path("x", k("1.36.2"), k("1.36.2")).is_ok());
        let e = path("x", k("1.34.1"), k("1.36.2")).unwrap_err();
        assert!(e.hint.contains("1.34.1 → 1.35.x → 1.36.2"), "{}", e.hint);
        assert!(path("x", k("1.36.3"), k("1.36.2"))
            .unwrap_err()
            .message
            .contains("downgrade"));
    }
}
