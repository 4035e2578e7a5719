//! One batch of the rolling node upgrade (control planes alone, then `max_unavailable` workers):
//! - `upgrade-drain`, issued from the first control plane: each node of the batch whose kubelet
//!   the API still reports below the target is labelled (so that only what groundup cordoned is
//!   uncordoned), cordoned and drained (PodDisruptionBudgets honoured, within the drain timeout;
//!   a blocked drain stops the upgrade with the pods named and the node left cordoned);
//! - `upgrade-kubelet`, on the node: a worker's `kubeadm upgrade node` (its kubelet
//!   configuration), kubelet and kubectl at the target (held again), kubelet restarted, then a
//!   wait, with the node's own credentials, until its Node reports the target and Ready;
//! - `upgrade-uncordon`, from the first control plane: each node groundup cordoned, once it
//!   reports the target and Ready, is uncordoned and its label removed.
//!
//! Planned from what the API reports of each Node and from the node's packages. Pure.

use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::paths;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

use super::{first_control_plane, package_version, parse_version, target, CORDONED_LABEL};

pub struct Drain;
pub struct Kubelet;
pub struct Uncordon;

fn on_first(cx: &Context, host: &Host) -> bool {
    first_control_plane(cx.inv).is_some_and(|f| f.name == host.name)
}

/// The batch's nodes, in inventory order.
fn batch<'a>(cx: &'a Context) -> impl Iterator<Item = &'a Host> {
    cx.inv
        .hosts
        .iter()
        .filter(|h| h.is_node() && cx.upgrade.rolls(h.name.as_str()))
}

fn kubectl() -> String {
    format!("kubectl --kubeconfig={} --request-timeout=30s", paths::ADMIN_CONF)
}

fn api(hf: &HostFacts) -> Result<&crate::facts::state::ClusterState, PlanError> {
    hf.facts.state.cluster.as_ref().ok_or_else(|| {
        PlanError::new(
            "the API does not answer on the first control plane",
            "check it (`kubectl get nodes` there, `journalctl -u kubelet`), then `groundup upgrade` again: it goes on where it stopped",
        )
    })
}

impl Phase for Drain {
    fn name(&self) -> &'static str {
        "upgrade-drain"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        on_first(cx, host)
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let to = target(cx);
        let c = api(hf)?;
        let k = kubectl();
        let mut hs = HostSteps::default();
        for h in batch(cx) {
            let name = h.name.as_str();
            let Some(n) = c.node_info.get(name) else {
                hs.unchanged(format!("Node {name}"), "not listed by the API: nothing to drain");
                continue;
            };
            if parse_version(&n.kubelet_version) == Some(to) {
                hs.unchanged(format!("Node {name}"), format!("kubelet reports {to}: no drain needed"));
                continue;
            }
            hs.change(
                Step::script(
                    &format!("drain-{name}"),
                    format!(
                        "cordon and drain {name}, kubelet {} (PodDisruptionBudgets honoured, {} s at most)",
                        n.kubelet_version, cx.upgrade.drain_timeout
                    ),
                    format!(
                        "{k} label node {name} {CORDONED_LABEL}=true --overwrite >/dev/null\n{}",
                        crate::plan::remove::drain::script(&k, name, cx.upgrade.drain_timeout)
                    ),
                )
                .with_hint(format!(
                    "{name} stays cordoned and nothing else was upgraded past it: move or delete the pod named above \
                     (its PodDisruptionBudget allows no eviction), then `groundup upgrade` again"
                )),
            );
        }
        Ok(hs)
    }
}

impl Phase for Kubelet {
    fn name(&self) -> &'static str {
        "upgrade-kubelet"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        host.is_node() && cx.upgrade.rolls(host.name.as_str())
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let to = target(cx);
        let mut hs = HostSteps::default();
        if package_version(f, "kubelet") == Some(to) && package_version(f, "kubectl") == Some(to) {
            hs.unchanged("kubelet kubectl", format!("at {to}"));
            return Ok(hs);
        }
        if !host.has(Role::ControlPlane) {
            hs.change(
                Step::script(
                    "kubeadm-upgrade-node",
                    "kubeadm upgrade node (kubelet's configuration from the upgraded cluster)",
                    format!("kubeadm upgrade node{}", super::preflight_flag(cx)),
                )
                .with_hint(
                    "the node is drained and cordoned; read kubeadm's lines above, then `groundup upgrade` again",
                ),
            );
        }
        super::control_plane::packages(&mut hs, cx, hf, "kubelet-install", &["kubelet", "kubectl"])?;
        let k = format!("kubectl --kubeconfig={} --request-timeout=5s", paths::KUBELET_CONF);
        hs.change(
            Step::script(
                "kubelet-restart",
                format!("restart kubelet and wait until its Node reports v{to} and Ready"),
                format!(
                    "systemctl daemon-reload\nsystemctl restart kubelet\n\
                     me=$({k} auth whoami -o jsonpath='{{.status.userInfo.username}}' 2>/dev/null || true); me=${{me#system:node:}}\n\
                     for i in $(seq 90); do\n  \
                     [ -n \"$me\" ] || {{ me=$({k} auth whoami -o jsonpath='{{.status.userInfo.username}}' 2>/dev/null || true); me=${{me#system:node:}}; }}\n  \
                     got=$({k} get node \"$me\" -o jsonpath='{{.status.nodeInfo.kubeletVersion}} {{.status.conditions[?(@.type==\"Ready\")].status}}' 2>/dev/null || true)\n  \
                     if [ \"$got\" = \"v{to} True\" ]; then exit 0; fi\n  sleep 2\ndone\n\
                     echo \"the Node reports '$got', not 'v{to} True', after 3 minutes\" >&2; exit 1"
                ),
            )
            .with_hint("the node stays cordoned: `journalctl -u kubelet` on it, then `groundup upgrade` again"),
        );
        Ok(hs)
    }
}

impl Phase for Uncordon {
    fn name(&self) -> &'static str {
        "upgrade-uncordon"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        on_first(cx, host)
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let to = target(cx);
        let c = api(hf)?;
        let k = kubectl();
        let mut hs = HostSteps::default();
        for h in batch(cx) {
            let name = h.name.as_str();
            let Some(n) = c.node_info.get(name) else { continue };
            let ours = n.has_label(CORDONED_LABEL);
            // The preview plans the uncordon of each node the drain will cordon.
            let will_be = parse_version(&n.kubelet_version) != Some(to);
            if !ours && !will_be {
                hs.unchanged(
                    format!("Node {name}"),
                    if n.unschedulable {
                        "cordoned, but not by groundup: left so"
                    } else {
                        "schedulable"
                    },
                );
                continue;
            }
            hs.change(
                Step::script(
                    &format!("uncordon-{name}"),
                    format!("uncordon {name} once it reports v{to} and Ready"),
                    format!(
                        "got=$({k} get node {name} -o jsonpath='{{.status.nodeInfo.kubeletVersion}} {{.status.conditions[?(@.type==\"Ready\")].status}}')\n\
                         if [ \"$got\" != \"v{to} True\" ]; then echo \"{name} reports '$got', not 'v{to} True': left cordoned\" >&2; exit 1; fi\n\
                         {k} uncordon {name}\n{k} label node {name} {CORDONED_LABEL}- >/dev/null"
                    ),
                )
                .with_hint(format!("`journalctl -u kubelet` on {name}, then `groundup upgrade` again")),
            );
        }
        Ok(hs)
    }
}
