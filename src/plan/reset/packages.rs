//! `packages-cleanup`, only when asked: with `--images`, the images of containerd's `k8s.io`
//! namespace; with `--purge-packages`, the Kubernetes packages (unheld, then purged), their
//! repository definition and key, an external member's etcd in /usr/local/bin, and the artifacts
//! groundup uploaded. containerd stays: it is
//! the host's runtime, not the cluster's.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::os::Os;
use crate::paths;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct PackagesCleanup;

/// The packages kube-packages installs.
const KUBE_PACKAGES: [&str; 5] = ["kubelet", "kubeadm", "kubectl", "cri-tools", "kubernetes-cni"];

impl Phase for PackagesCleanup {
    fn name(&self) -> &'static str {
        "packages-cleanup"
    }

    fn applies(&self, cx: &Context, host: &Host) -> bool {
        cx.reset.resets(host) && (cx.reset.images || cx.reset.purge_packages)
    }

    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let mut hs = HostSteps::default();
        if cx.reset.images {
            if f.state.images.is_empty() {
                hs.unchanged("images of containerd's k8s.io namespace", "none");
            } else {
                hs.change(Step::script(
                    "images-remove",
                    format!(
                        "remove the {} image(s) of containerd's k8s.io namespace",
                        f.state.images.len()
                    ),
                    "ctr -n k8s.io images ls -q | xargs -r ctr -n k8s.io images rm",
                ));
            }
        }
        if !cx.reset.purge_packages {
            return Ok(hs);
        }
        let installed: Vec<&str> = KUBE_PACKAGES
            .iter()
            .copied()
            .filter(|p| f.packages.contains_key(*p))
            .collect();
        if installed.is_empty() {
            hs.unchanged("Kubernetes packages", "none installed");
        } else {
            let os = Os::of(f)?;
            let list = installed.join(" ");
            let script = match os {
                Os::Apt(_) => {
                    format!("apt-mark unhold {list} >/dev/null\napt-get purge -y -q {list}\napt-get autoremove -y -q")
                }
                Os::Dnf(_) => format!("dnf remove -y -q --disableexcludes=kubernetes {list}"),
            };
            hs.change(
                Step::script("packages-purge", format!("unhold and purge {list}"), script)
                    .with_hint("the package manager may be busy (another apt or dnf run); try again"),
            );
        }
        match &f.state.etcd {
            Some(v) => hs.change(Step::script(
                "etcd-remove",
                format!("remove etcd {v} from /usr/local/bin"),
                "rm -f /usr/local/bin/etcd /usr/local/bin/etcdctl /usr/local/bin/etcdutl",
            )),
            None => hs.unchanged(paths::ETCD_BINARY, "not installed"),
        }
        for repo in [paths::APT_KUBE_LIST, paths::APT_KUBE_KEY, paths::DNF_KUBE_REPO] {
            let id = format!("remove-{}", repo.rsplit('/').next().unwrap_or(repo));
            crate::plan::phases::remove(&mut hs, f, &id, repo);
        }
        if !f.state.artifacts.is_empty() {
            hs.change(Step::script(
                "artifacts-remove",
                format!("remove the {} artifact(s) groundup uploaded", f.state.artifacts.len()),
                format!("rm -rf {}", paths::ARTIFACTS),
            ));
        }
        Ok(hs)
    }
}
