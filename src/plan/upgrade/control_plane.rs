//! `upgrade-kubeadm` and `upgrade-control-plane`. kubeadm goes to the target version on every
//! node first (its package, from the target minor's repository or `[artifacts]`, held again);
//! then, one control plane at a time, the first runs `kubeadm upgrade plan` (which must accept
//! the version) and `kubeadm upgrade apply` after etcd proves healthy, the others
//! `kubeadm upgrade node`. Certificates are never renewed by kubeadm here
//! (`--certificate-renewal=false`): groundup owns the PKI, and a kubeadm renewal would make every
//! host differ from `certs/` (a real upgrade showed apply rewriting 16 files after it). Planned
//! from the package's version and from the image each host's static pods run, so an interrupted
//! upgrade goes on where it stopped. Pure.

use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::os::Os;
use crate::paths;
use crate::plan::etcd_access::Access;
use crate::plan::phases::{install, offline_hint, repository, Want};
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

use super::{first_control_plane, parse_version, target};

pub struct Kubeadm;
pub struct ControlPlane;

/// The control-plane components `kubeadm upgrade` moves to the new version.
const COMPONENTS: [&str; 3] = ["kube-apiserver", "kube-controller-manager", "kube-scheduler"];

/// Plans `names` at the target version: the repository of the target minor when a package must
/// come from it, then the install (held packages are changed on purpose: that is the upgrade).
pub(super) fn packages(
    hs: &mut HostSteps,
    cx: &Context,
    hf: &HostFacts,
    id: &str,
    names: &[&str],
) -> Result<bool, PlanError> {
    let f = &hf.facts;
    let os = Os::of(f)?;
    let to = target(cx);
    let version = to.to_string();
    let wants: Vec<Want> = names
        .iter()
        .map(|name| Want {
            name,
            version: Some(&version),
        })
        .collect();
    let from_repo = wants.iter().any(|w| {
        !Os::has_version(f, w.name, &version)
            && cx
                .artifacts
                .package(os.package_kind(), w.name, w.version, &f.arch)
                .is_none()
    });
    if from_repo {
        repository(hs, cx, &os, f, "kube", os.kube_repo(to), "pkgs.k8s.io");
    }
    let installs = install(hs, cx, &os, f, id, &wants, &offline_hint("pkgs.k8s.io"));
    // apt drops the hold of a held package it replaces (a real upgrade found it): hold again.
    if let Some(hold) = os.hold(names) {
        if installs || !names.iter().all(|n| f.held.contains(*n)) {
            hs.change(Step::script(
                &format!("{id}-hold"),
                format!("hold {} at {version}", names.join(" ")),
                hold,
            ));
        }
    }
    Ok(installs)
}

impl Phase for Kubeadm {
    fn name(&self) -> &'static str {
        "upgrade-kubeadm"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.is_node()
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        packages(&mut hs, cx, hf, "kubeadm-install", &["kubeadm"])?;
        Ok(hs)
    }
}

impl Phase for ControlPlane {
    fn name(&self) -> &'static str {
        "upgrade-control-plane"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.has(Role::ControlPlane)
    }
    fn serial(&self) -> bool {
        true
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let to = target(cx);
        let mut hs = HostSteps::default();
        let behind: Vec<String> = COMPONENTS
            .iter()
            .filter(|c| f.state.static_pod_version(c).and_then(parse_version) != Some(to))
            .map(|c| format!("{c} {}", f.state.static_pod_version(c).unwrap_or("(no manifest)")))
            .collect();
        if behind.is_empty() {
            hs.unchanged("control plane", format!("its static pods run {to}"));
            return Ok(hs);
        }
        let first = first_control_plane(cx.inv).is_some_and(|fc| fc.name == host.name);
        // Every readiness check of the API server, etcd's among them (`/readyz/etcd` is not one
        // the API serves: a real upgrade found that).
        let readyz = format!(
            "kubectl --kubeconfig={} --request-timeout=10s get --raw='/readyz?verbose' >/dev/null",
            paths::ADMIN_CONF
        );
        if first {
            let access = Access::of(cx.inv);
            let etcd = match access {
                Access::Stacked => format!(
                    "{}\nectl endpoint health --cluster >&2 || {{ echo 'etcd is not healthy: nothing was upgraded' >&2; exit 1; }}\n",
                    access.prelude()
                ),
                Access::External => String::new(),
            };
            hs.change(
                Step::script(
                    "kubeadm-upgrade-apply",
                    format!("kubeadm upgrade apply v{to} ({} now)", behind.join(", ")),
                    format!(
                        "{etcd}{readyz} || {{ echo 'the API server is not ready (kubectl get --raw=/readyz?verbose): nothing was upgraded' >&2; exit 1; }}\n\
                         kubeadm upgrade plan v{to}{flag} >&2\n\
                         kubeadm upgrade apply v{to} --yes --certificate-renewal=false{flag}",
                        flag = super::preflight_flag(cx)
                    ),
                )
                .with_hint(format!(
                    "kubeadm rolls a failed static pod back by itself; read its lines above and \
                     /etc/kubernetes/tmp/, then `groundup upgrade` again (a backup was taken first), \
                     or `kubeadm upgrade apply v{to}` by hand on {}",
                    host.name
                )),
            );
        } else {
            hs.change(
                Step::script(
                    "kubeadm-upgrade-node",
                    format!("kubeadm upgrade node ({} now)", behind.join(", ")),
                    format!(
                        "kubeadm upgrade node --certificate-renewal=false{}",
                        super::preflight_flag(cx)
                    ),
                )
                .with_hint(format!(
                    "read kubeadm's lines above; `groundup upgrade` again goes on here (the first control \
                     plane already runs {to})"
                )),
            );
        }
        Ok(hs)
    }
}
