//! `upgrade-check`, the upgrade's gate: nothing is changed anywhere unless every node passes.
//! Per node, from its own facts: kubelet's installed version and (control planes) the version its
//! kube-apiserver static pod runs, each at most one minor below the target and never above it;
//! containerd's fitness for the target minor (a warning); the `[artifacts]` kit, when it holds Kubernetes packages
//! or images, holding the target's. On the first control plane, from what the API says: every
//! Node Ready and every inventory node known to it, and every kubelet within the skew the new
//! API server allows. Pure.

use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::os::Os;
use crate::plan::phases::kube_packages::PINNED;
use crate::plan::phases::runtime_packages::containerd_major;
use crate::plan::{Context, HostSteps, Phase, PlanError};

use super::{first_control_plane, package_version, parse_version, path, target};

pub struct Check;

/// How many minors a kubelet may lag behind the API server (the version-skew policy since 1.28).
const KUBELET_SKEW: u32 = 3;

impl Phase for Check {
    fn name(&self) -> &'static str {
        "upgrade-check"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.is_node()
    }
    fn gate(&self) -> bool {
        true
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let to = target(cx);
        let mut hs = HostSteps::default();
        let Some(kubelet) = package_version(f, "kubelet") else {
            return Err(PlanError::new(
                format!("{} has no kubelet: it is not a node of the cluster yet", host.name),
                "upgrade what runs first, then add this host with `groundup apply`; or remove it from the inventory",
            ));
        };
        path(&format!("kubelet on {}", host.name), kubelet, to)?;
        if host.has(Role::ControlPlane) {
            let Some(api) = f.state.static_pod_version("kube-apiserver").and_then(parse_version) else {
                return Err(PlanError::new(
                    format!(
                        "{} runs no kube-apiserver static pod: it is not a finished control plane",
                        host.name
                    ),
                    "finish the cluster with `groundup apply` at its current version first",
                ));
            };
            path(&format!("the API server on {}", host.name), api, to)?;
            if kubelet > api {
                return Err(PlanError::new(
                    format!("kubelet {kubelet} on {} is newer than its API server {api}", host.name),
                    "a kubelet must never be newer than the API server: finish the control plane's upgrade by hand \
                     (`kubeadm upgrade node`) or pin the kubelet's version",
                ));
            }
            hs.unchanged("API server", step(api, to));
        }
        hs.unchanged("kubelet", step(kubelet, to));

        let (major, why) = containerd_major(f, cx.inv.node.runtime.source);
        if major < 2 && to.minor >= 36 {
            // A warning as in apply: Kubernetes 1.36 asks for containerd 2.x, yet 1.36.2 ran on
            // Debian 12's containerd 1.6 in the end-to-end test.
            hs.warn(format!(
                "containerd {major}.x ({why}) with Kubernetes {to}: 1.36 and later ask for containerd 2.x; \
                 upgrade containerd when you can"
            ));
        }
        kit(cx, f, to)?;
        if first_control_plane(cx.inv).is_some_and(|fc| fc.name == host.name) {
            api_checks(cx, hf, to, &mut hs)?;
        }
        Ok(hs)
    }
}

/// `1.36.2 → 1.36.3`, or `at 1.36.3` when there is nothing to do.
fn step(from: crate::inventory::KubeVersion, to: crate::inventory::KubeVersion) -> String {
    if from == to {
        format!("at {to}")
    } else {
        format!("{from} → {to}")
    }
}

/// When the `[artifacts]` kit holds Kubernetes packages or images, it must hold the target's.
fn kit(cx: &Context, f: &crate::facts::Facts, to: crate::inventory::KubeVersion) -> Result<(), PlanError> {
    let os = Os::of(f)?;
    let version = to.to_string();
    let kind = os.package_kind();
    for p in PINNED {
        let any = cx
            .artifacts
            .files
            .iter()
            .any(|a| a.kind == kind && a.package.as_deref() == Some(p));
        if any && cx.artifacts.package(kind, p, Some(&version), &f.arch).is_none() {
            let have: Vec<&str> = cx
                .artifacts
                .files
                .iter()
                .filter(|a| a.kind == kind && a.package.as_deref() == Some(p))
                .map(|a| a.file.as_str())
                .collect();
            return Err(PlanError::new(
                format!(
                    "the [artifacts] folder has no {p} {version} for {} (it has {})",
                    f.arch,
                    have.join(", ")
                ),
                format!("put the {version} packages (and their images) in the folder, next to the old ones"),
            ));
        }
    }
    let images: Vec<&String> = cx
        .artifacts
        .files
        .iter()
        .filter(|a| a.kind == crate::artifacts::Kind::Image)
        .flat_map(|a| &a.images)
        .collect();
    let wanted = format!("/kube-apiserver:v{version}");
    if images.iter().any(|i| i.contains("/kube-apiserver:")) && !images.iter().any(|i| i.ends_with(&wanted)) {
        return Err(PlanError::new(
            format!("the [artifacts] folder holds no kube-apiserver:v{version} image"),
            "add the image archive of the new version (`kubeadm config images list` of it names them all)",
        ));
    }
    Ok(())
}

/// What the first control plane's API says of the whole cluster.
fn api_checks(
    cx: &Context,
    hf: &HostFacts,
    to: crate::inventory::KubeVersion,
    hs: &mut HostSteps,
) -> Result<(), PlanError> {
    let Some(c) = &hf.facts.state.cluster else {
        return Err(PlanError::new(
            "the API does not answer on the first control plane",
            "an upgrade starts from a working cluster: `groundup status`/`kubectl get nodes`, or `groundup apply` first",
        ));
    };
    let not_ready: Vec<&str> = c
        .node_info
        .iter()
        .filter(|(_, n)| n.ready != Some(true))
        .map(|(name, _)| name.as_str())
        .collect();
    if !not_ready.is_empty() {
        return Err(PlanError::new(
            format!("not Ready: {}", not_ready.join(", ")),
            "an upgrade drains nodes one after another and needs every node Ready: fix them first \
             (`kubectl describe node`), or remove a dead one with `groundup remove`",
        ));
    }
    let unknown: Vec<&str> = cx
        .inv
        .hosts
        .iter()
        .filter(|h| h.is_node() && !c.node_info.contains_key(h.name.as_str()))
        .map(|h| h.name.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(PlanError::new(
            format!("not nodes of the cluster yet: {}", unknown.join(", ")),
            "join them with `groundup apply` at the current version first, or take them out of the inventory",
        ));
    }
    for (name, n) in &c.node_info {
        if let Some(v) = parse_version(&n.kubelet_version) {
            if v.minor + KUBELET_SKEW < to.minor {
                return Err(PlanError::new(
                    format!(
                        "kubelet {v} on {name} would be more than {KUBELET_SKEW} minors older than the API server {to}"
                    ),
                    format!("upgrade {name}'s kubelet first, or remove it"),
                ));
            }
        }
    }
    hs.unchanged(
        "nodes",
        format!("{} Ready, every kubelet within the version skew", c.node_info.len()),
    );
    Ok(())
}
