//! Phase `pod-network`: flannel at a pinned version, rendered from `templates/` with `Network` =
//! the inventory's pod subnet and VXLAN, applied with kubectl on the first control plane when
//! the API lacks it: no `kube-flannel-ds` DaemonSet with the manifest's image and args (issue 10,
//! defect 4: a file on disk says nothing of a failed apply or a re-initialised cluster), or the
//! manifest changed. The apply first waits for the API to answer (right after `kubeadm init` it
//! may still say 503). Multi-NIC hosts: `--iface` lists the inventory's `iface` names and
//! `--iface-regex` the networks of its pinned node IPs — flannel takes the first that matches on
//! each node, so every node uses its own cluster address, not the NAT NIC of the default route.

use crate::facts::HostFacts;
use crate::inventory::{Host, Inventory, Role};
use crate::plan::{Content, Context, HostSteps, Phase, PlanError, Step};
use crate::render::render;

use serde::Deserialize;

use super::file;
use super::kubeadm_config::first_control_plane;

pub const FLANNEL_VERSION: &str = "v0.28.9";
pub const FLANNEL_IMAGE: &str = "ghcr.io/flannel-io/flannel:v0.28.9";
pub const CNI_PLUGIN_IMAGE: &str = "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3";
pub const MANIFEST: &str = "/etc/kubernetes/groundup/kube-flannel.yml";

/// `--iface` values: the interface names the inventory gives (`iface`), without repeats.
pub fn ifaces(inv: &Inventory) -> Vec<String> {
    let mut out: Vec<String> = inv.hosts.iter().filter_map(|h| h.iface.clone()).collect();
    let mut seen = std::collections::HashSet::new();
    out.retain(|i| seen.insert(i.clone()));
    out
}

/// `--iface-regex` values, matched by flannel against each node's addresses: one per /24 (IPv4)
/// holding node IPs pinned in the inventory (IPv6: the address itself). Networks rather than the
/// addresses themselves, so adding a node in the same network leaves the manifest — and every
/// running flannel pod — alone. Only pinned addresses: an SSH address may be a floating IP that
/// is on no interface.
pub fn iface_regexes(inv: &Inventory) -> Vec<String> {
    let mut out: Vec<String> = inv
        .hosts
        .iter()
        .filter(|h| h.is_node())
        .filter_map(|h| h.pinned_ip())
        .map(|ip| match ip {
            std::net::IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("^{}\\.{}\\.{}\\.[0-9]+$", o[0], o[1], o[2])
            }
            std::net::IpAddr::V6(v6) => format!("^{}$", v6.to_string().replace('.', "\\.")),
        })
        .collect();
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
            ifaces => ifaces(inv), iface_regexes => iface_regexes(inv),
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
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.has(Role::ControlPlane)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        if first_control_plane(cx.inv).is_none_or(|f| f.name != host.name) {
            hs.unchanged("flannel", "applied from the first control plane");
            return Ok(hs);
        }
        let text = manifest(cx.inv)?;
        let changed = file(
            &mut hs,
            &hf.facts,
            "flannel-manifest",
            MANIFEST,
            0o644,
            Content::new(text.clone()),
        );
        let want = expected_daemonset(&text)?;
        let have = hf
            .facts
            .state
            .cluster
            .as_ref()
            .and_then(|c| c.daemonset(&want.namespace, &want.name));
        let missing = match have {
            Some(d) if *d == want => None,
            Some(_) => Some("its image or args differ from the manifest"),
            None => Some("the API has no such DaemonSet"),
        };
        if !changed && missing.is_none() {
            hs.unchanged(
                format!("DaemonSet {}/{}", want.namespace, want.name),
                format!("in the API with {} and the manifest's args", want.image),
            );
        }
        if changed || missing.is_some() {
            hs.change(
                Step::script(
                    "flannel-apply",
                    format!(
                        "kubectl apply flannel {FLANNEL_VERSION} ({})",
                        missing.unwrap_or("the manifest changed")
                    ),
                    format!(
                        "export KUBECONFIG=/etc/kubernetes/admin.conf\n\
                         # right after kubeadm init the API may still answer 503: wait for it (120 s at most)\n\
                         for _ in $(seq 1 60); do kubectl get --raw=/readyz >/dev/null 2>&1 && break; sleep 2; done\n\
                         kubectl apply -f {MANIFEST}"
                    ),
                )
                .with_hint("check that the API server answers: `kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes` on this host"),
            );
        }
        Ok(hs)
    }
}

/// The DaemonSet `kube-flannel` container as the rendered manifest defines it: what the API must
/// show for flannel to count as applied.
pub fn expected_daemonset(manifest: &str) -> Result<crate::facts::state::DaemonSet, PlanError> {
    let bug = |what: &str| {
        PlanError::new(
            format!("kube-flannel.yml: {what}"),
            "this is a groundup bug; please report it",
        )
    };
    for doc in serde_norway::Deserializer::from_str(manifest) {
        let v = serde_norway::Value::deserialize(doc).map_err(|e| bug(&e.to_string()))?;
        if v["kind"] != "DaemonSet" {
            continue;
        }
        let container = v["spec"]["template"]["spec"]["containers"]
            .as_sequence()
            .and_then(|c| c.first())
            .ok_or_else(|| bug("the DaemonSet has no container"))?;
        let text = |v: &serde_norway::Value| v.as_str().unwrap_or_default().to_string();
        return Ok(crate::facts::state::DaemonSet {
            namespace: text(&v["metadata"]["namespace"]),
            name: text(&v["metadata"]["name"]),
            image: text(&container["image"]),
            args: container["args"]
                .as_sequence()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default(),
        });
    }
    Err(bug("no DaemonSet"))
}
