//! Phase `kube-packages`: kubelet, kubeadm and kubectl at the pinned patch version plus what the
//! real packages depend on beyond the distribution (cri-tools, kubernetes-cni), from the pkgs.k8s.io repository of the pinned minor (with its key), or from `[artifacts]`;
//! held at that version (apt-mark hold / the dnf repository's `exclude=`); kubelet enabled, and
//! running once kubeadm has configured it.
//! Never changes an installed Kubernetes version: that is an upgrade.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::os::Os;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

use super::{install, offline_hint, repository, Want};

pub const PINNED: [&str; 3] = ["kubelet", "kubeadm", "kubectl"];
/// What the pinned packages need from pkgs.k8s.io besides each other, at any version.
pub const DEPENDENCIES: [&str; 2] = ["cri-tools", "kubernetes-cni"];

pub struct KubePackages;

impl Phase for KubePackages {
    fn name(&self) -> &'static str {
        "kube-packages"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.is_node()
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let os = Os::of(f)?;
        let v = cx.inv.cluster.kubernetes_version;
        let version = v.to_string();
        for p in PINNED {
            if let Some(have) = f.packages.get(p) {
                if !Os::has_version(f, p, &version) {
                    return Err(PlanError::new(
                        format!("{p} {have} is installed, the inventory pins {version}"),
                        "apply never changes the Kubernetes version of a host: `groundup upgrade` upgrades the \
                         cluster as a whole, one node at a time; or pin the installed version",
                    ));
                }
            }
        }
        let mut wants: Vec<Want> = PINNED
            .iter()
            .map(|p| Want {
                name: p,
                version: Some(&version),
            })
            .collect();
        // The dependency closure outside the distribution: kubeadm depends on cri-tools, kubelet
        // on kubernetes-cni. Named here so that `[artifacts]` supplies them too (issue 10: offline,
        // nothing else does and apt only says "held broken packages").
        wants.extend(DEPENDENCIES.iter().map(|name| Want { name, version: None }));
        let mut hs = HostSteps::default();
        let needs_repo = wants.iter().any(|w| {
            let missing = match w.version {
                Some(v) => !Os::has_version(f, w.name, v),
                None => !f.packages.contains_key(w.name),
            };
            missing
                && cx
                    .artifacts
                    .package(os.package_kind(), w.name, w.version, &f.arch)
                    .is_none()
        });
        let repo = os.kube_repo(v);
        let hint = offline_hint("pkgs.k8s.io");
        if needs_repo {
            repository(&mut hs, cx, &os, f, "kube", repo, "pkgs.k8s.io");
        } else if !f.state.files.contains_key(repo.file) {
            hs.unchanged(
                "pkgs.k8s.io repository",
                "not needed: the packages are installed or come from [artifacts]",
            );
        }
        install(&mut hs, cx, &os, f, "kube-install", &wants, &hint);
        if let Some(hold) = os.hold(&PINNED) {
            if PINNED.iter().all(|p| f.held.contains(*p)) {
                hs.unchanged("package holds", "kubelet kubeadm kubectl are held");
            } else {
                hs.change(Step::script(
                    "kube-hold",
                    "hold kubelet kubeadm kubectl at their version",
                    hold,
                ));
            }
        }
        if f.state.service("kubelet").is_enabled() {
            hs.unchanged("kubelet", "enabled (it starts for real once kubeadm configures it)");
        } else {
            hs.change(Step::script(
                "kubelet-enable",
                "enable kubelet",
                "systemctl enable kubelet",
            ));
        }
        // Once kubeadm has configured it, kubelet running is managed state: a stopped kubelet
        // leaves its node NotReady ~45 s later, while the API still says Ready (issue 10).
        let kubelet = f.state.service("kubelet");
        if f.state.files.contains_key(crate::paths::KUBELET_CONF) {
            if kubelet.is_active() {
                hs.unchanged("kubelet running", "active, with its kubeconfig in place");
            } else {
                hs.change(Step::script(
                    "kubelet-start",
                    format!(
                        "start kubelet (it is {}, but the node is configured)",
                        or_unknown(&kubelet.active)
                    ),
                    "systemctl start kubelet",
                ));
            }
        }
        Ok(hs)
    }
}

fn or_unknown(state: &str) -> &str {
    if state.is_empty() {
        "in an unknown state"
    } else {
        state
    }
}
