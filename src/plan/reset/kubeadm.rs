//! `kubeadm-reset`: `kubeadm reset -f` on each leaving host that still has kubeadm's state (its
//! folders, pod volume mounts, containers). kubeadm stops kubelet, removes the pods, unmounts
//! their volumes, empties its folders and takes a stacked etcd member out of the member list.
//! Without kubeadm (a host prepared but never joined) kubelet is stopped and the pods removed
//! with crictl; the cleanup phases remove the rest.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct KubeadmReset;

/// The folders whose content means kubeadm ran here.
const KUBEADM_DIRS: [&str; 3] = ["/etc/kubernetes", "/var/lib/kubelet", "/var/lib/etcd"];

impl Phase for KubeadmReset {
    fn reads_leftovers(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "kubeadm-reset"
    }

    fn applies(&self, cx: &Context, host: &Host) -> bool {
        cx.reset.resets(host)
    }

    fn plan(&self, _cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let l = &f.state.leftovers;
        let mut hs = HostSteps::default();
        let kubelet = f.state.service("kubelet").is_active();
        let state: Vec<&str> = KUBEADM_DIRS
            .iter()
            .copied()
            .filter(|d| l.dirs.iter().any(|x| x == d))
            .collect();
        let kubeadm = f.packages.contains_key("kubeadm");
        if kubeadm && (!state.is_empty() || !l.mounts.is_empty() || l.containers > 0 || kubelet) {
            hs.change(
                Step::script(
                    "kubeadm-reset",
                    format!(
                        "kubeadm reset -f (kubelet {}, {} container(s), {} mount(s), content in {})",
                        if kubelet { "running" } else { "stopped" },
                        l.containers,
                        l.mounts.len(),
                        if state.is_empty() {
                            "none".to_string()
                        } else {
                            state.join(", ")
                        }
                    ),
                    "kubeadm reset -f",
                )
                .with_hint("the cleanup phases still run; `kubeadm reset -f -v5` on the host shows which part failed"),
            );
            return Ok(hs);
        }
        if kubelet {
            hs.change(Step::script("kubelet-stop", "stop kubelet", "systemctl stop kubelet"));
        }
        if l.containers > 0 {
            hs.change(
                Step::script(
                    "pods-remove",
                    format!(
                        "remove the {} container(s) of containerd's k8s.io namespace",
                        l.containers
                    ),
                    "crictl rmp -af\ncrictl rm -af",
                )
                .with_hint("is containerd running? `crictl ps -a` lists them"),
            );
        }
        if hs.items.is_empty() {
            hs.unchanged(
                "kubeadm's state",
                if kubeadm {
                    "nothing left: no content in its folders, no mounts or containers, kubelet stopped"
                } else {
                    "kubeadm is not installed, kubelet stopped, no containers"
                },
            );
        }
        Ok(hs)
    }
}
