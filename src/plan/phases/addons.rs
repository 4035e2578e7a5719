//! Phase `addons`: the inventory's namespaces (`[cluster] namespaces`) and helm releases
//! (`[[helm.releases]]`: chart, pinned version, optional values file), from the first control
//! plane once the nodes are Ready. What exists is read from the cluster (facts section
//! `cluster`): a namespace that exists, and a release deployed at the same chart version with
//! the same values file, are left alone. Values files may hold passwords: 0600, never shown.
//! A chart from a local archive (`chart = "charts/orion-1.2.3.tgz"`) is uploaded once, like the
//! `[artifacts]` files, sha256-checked, and installed from there.

use crate::facts::HostFacts;
use crate::inventory::{HelmRelease, Host, Role};
use crate::paths;
use crate::plan::{Content, Context, HostSteps, Phase, PlanError, Step};

use super::kubeadm_config::first_control_plane;
use super::{file, upload};

pub struct Addons;

const KUBECTL: &str = "kubectl --kubeconfig /etc/kubernetes/admin.conf";

/// Where a release's values file goes on the first control plane.
pub fn values_path(r: &HelmRelease) -> String {
    format!(
        "{}/helm/{}.{}.values.yaml",
        paths::GROUNDUP_KUBE_DIR,
        r.namespace,
        r.name
    )
}

/// The `helm upgrade --install` of a release (no secrets: values travel in a file). `archive` is
/// the uploaded chart archive's path on the host, for a release from a local archive.
pub fn helm_command(r: &HelmRelease, archive: Option<&str>) -> String {
    let mut c = format!("{} upgrade --install {} ", paths::HELM, r.name);
    match archive {
        Some(path) => c.push_str(path),
        None => c.push_str(&format!("{} --version {}", r.chart, r.version)),
    }
    c.push_str(&format!(" --namespace {} --create-namespace", r.namespace));
    if let Some(repo) = &r.repo {
        c.push_str(&format!(" --repo {repo}"));
    }
    if r.values.is_some() {
        c.push_str(&format!(" --values {}", values_path(r)));
    }
    c.push_str(" --wait --timeout 10m --kubeconfig /etc/kubernetes/admin.conf");
    c
}

/// `<chart>-<version>` as `helm list` reports it (the chart's own name, without repo or oci path).
fn listed_chart(r: &HelmRelease) -> String {
    let name = r.chart.rsplit('/').next().unwrap_or(&r.chart);
    format!("{name}-{}", r.version)
}

impl Phase for Addons {
    fn name(&self) -> &'static str {
        "addons"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.has(Role::ControlPlane)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        let (namespaces, releases) = (&cx.inv.cluster.namespaces, &cx.inv.node.releases);
        if first_control_plane(cx.inv).is_none_or(|f| f.name != host.name) {
            hs.unchanged("add-ons", "installed from the first control plane");
            return Ok(hs);
        }
        if namespaces.is_empty() && releases.is_empty() {
            hs.unchanged("add-ons", "no namespaces or helm releases in the inventory");
            return Ok(hs);
        }
        // Before init the cluster is not there to ask: everything is planned.
        let state = hf.facts.state.cluster.clone().unwrap_or_default();
        for ns in namespaces {
            if state.namespaces.contains(ns) {
                hs.unchanged(format!("namespace {ns}"), "exists");
            } else {
                hs.change(Step::script(
                    &format!("namespace-{ns}"),
                    format!("create namespace {ns}"),
                    format!("{KUBECTL} create namespace {ns} --dry-run=client -o yaml | {KUBECTL} apply -f -"),
                ));
            }
        }
        for r in releases {
            let values_changed = match &r.values {
                Some(local) => {
                    let text = std::fs::read_to_string(local).map_err(|e| {
                        PlanError::new(
                            format!("cannot read values file `{}`: {e}", local.display()),
                            "fix the path in [[helm.releases]] (relative to the inventory)",
                        )
                    })?;
                    file(
                        &mut hs,
                        &hf.facts,
                        &format!("helm-values-{}", r.name),
                        &values_path(r),
                        0o600,
                        Content::secret(text),
                    )
                }
                None => false,
            };
            let deployed = state.releases.iter().any(|d| {
                d.name == r.name && d.namespace == r.namespace && d.chart == listed_chart(r) && d.status == "deployed"
            });
            if deployed && !values_changed {
                hs.unchanged(
                    format!("helm release {}/{}", r.namespace, r.name),
                    format!("{} deployed", listed_chart(r)),
                );
                continue;
            }
            // A local archive goes up once (only when it is to be installed), like the other
            // artifacts, checked by sha256.
            let archive = match &r.archive {
                Some(local) => {
                    let name = format!("{}-{}.tgz", r.chart, r.version);
                    let a = crate::artifacts::single(local, &name).map_err(|e| {
                        PlanError::new(e, "fix `chart` in [[helm.releases]] (relative to the inventory)")
                    })?;
                    Some(upload(&mut hs, &hf.facts, &a))
                }
                None => None,
            };
            let cmd = helm_command(r, archive.as_deref());
            hs.change(
                Step::script(
                    &format!("helm-release-{}", r.name),
                    cmd.replace(" --kubeconfig /etc/kubernetes/admin.conf", ""),
                    format!(
                        "# charts are installed once every node is Ready\n\
                         {KUBECTL} wait --for=condition=Ready nodes --all --timeout=600s\n{cmd}"
                    ),
                )
                .with_hint(format!(
                    "see `helm status {} -n {}` and the pods of namespace {} on {}",
                    r.name, r.namespace, r.namespace, host.name
                )),
            );
        }
        Ok(hs)
    }
}
