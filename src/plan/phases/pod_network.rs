//! Phase `pod-network`: flannel at a pinned version, rendered from `templates/` with `Network` =
//! the inventory's pod subnet and VXLAN, applied with kubectl on the first control plane when
//! the manifest changed. Multi-NIC hosts: `--iface` lists every node IP and `iface` of the
//! inventory — flannel takes the first that exists on each node, so every node uses its own
//! cluster address, not the NAT NIC of the default route.

use crate::facts::HostFacts;
use crate::inventory::{Host, Inventory, Role};
use crate::plan::{Content, Context, HostSteps, Phase, PlanError, Step};
use crate::render::render;

use super::file;
use super::kubeadm_config::first_control_plane;

pub const FLANNEL_VERSION: &str = "v0.28.9";
pub const FLANNEL_IMAGE: &str = "ghcr.io/flannel-io/flannel:v0.28.9";
pub const CNI_PLUGIN_IMAGE: &str = "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3";
pub const MANIFEST: &str = "/etc/kubernetes/groundup/kube-flannel.yml";

/// `--iface` values: node IPs pinned in the inventory, then interface names, without repeats;
/// none means flannel's default (the interface of the default route).
pub fn ifaces(inv: &Inventory) -> Vec<String> {
    // Only addresses the inventory pins: an SSH address may be a floating IP that is on no
    // interface, and a `--iface` that matches nothing stops flannel.
    let mut out: Vec<String> = inv
        .hosts
        .iter()
        .filter(|h| h.is_node())
        .filter_map(|h| h.pinned_ip())
        .map(|ip| ip.to_string())
        .collect();
    out.extend(inv.hosts.iter().filter_map(|h| h.iface.clone()));
    let mut seen = std::collections::HashSet::new();
    out.retain(|i| seen.insert(i.clone()));
    out
}

pub fn manifest(inv: &Inventory) -> Result<String, PlanError> {
    render(
        "kube-flannel.yml",
        minijinja::context! {
            cluster => inv.cluster.name.as_str(), pod_subnet => inv.cluster.pod_subnet.to_string(),
            flannel_version => FLANNEL_VERSION, flannel_image => FLANNEL_IMAGE, cni_plugin_image => CNI_PLUGIN_IMAGE,
            ifaces => ifaces(inv),
        },
    )
    .map_err(|e| {
        PlanError::new(
            format!("template kube-flannel.yml: {e}"),
            "this is a groundup bug; please report it",
        )
    })
}

pub struct PodNetwork;

impl Phase for PodNetwork {
    fn name(&self) -> &'static str {
        "pod-network"
    }
    fn applies(&self, host: &Host) -> bool {
        host.has(Role::ControlPlane)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        if first_control_plane(cx.inv).is_none_or(|f| f.name != host.name) {
            hs.unchanged("flannel", "applied from the first control plane");
            return Ok(hs);
        }
        if file(
            &mut hs,
            &hf.facts,
            "flannel-manifest",
            MANIFEST,
            0o644,
            Content::new(manifest(cx.inv)?),
        ) {
            hs.change(
                Step::script(
                    "flannel-apply",
                    format!("kubectl apply flannel {FLANNEL_VERSION}"),
                    format!("kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f {MANIFEST}"),
                )
                .with_hint("check that the API server answers: `kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes` on this host"),
            );
        }
        Ok(hs)
    }
}
