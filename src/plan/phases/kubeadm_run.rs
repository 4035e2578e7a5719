//! Phases `control-plane-init`, `control-plane-join` and `workers-join`: `kubeadm init` on the
//! first control plane when it is not initialised yet; further control planes joined one at a
//! time (serial: etcd membership changes one by one); workers joined in parallel. Each reads the
//! configuration the `kubeadm-config` phase wrote, so no token is on a command line; the plan
//! shows the equivalent `kubeadm join` with the token masked. A host that is already a node
//! (kubelet.conf present) is left alone, and each script checks that again itself.

use super::kubeadm_config::{api_endpoint, bootstrap_token, first_control_plane};
use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::paths;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

use crate::paths::{APISERVER_MANIFEST, KUBELET_CONF};

pub struct ControlPlaneInit;
pub struct ControlPlaneJoin;
pub struct WorkersJoin;

fn is_first(cx: &Context, host: &Host) -> bool {
    first_control_plane(cx.inv).is_some_and(|f| f.name == host.name)
}

impl Phase for ControlPlaneInit {
    fn name(&self) -> &'static str {
        "control-plane-init"
    }
    fn applies(&self, host: &Host) -> bool {
        host.has(Role::ControlPlane)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        if !is_first(cx, host) {
            hs.unchanged(
                "kubeadm init",
                "not the first control plane: it joins in control-plane-join",
            );
            return Ok(hs);
        }
        let files = &hf.facts.state.files;
        if files.contains_key(APISERVER_MANIFEST) && files.contains_key(KUBELET_CONF) {
            hs.unchanged(
                "kubeadm init",
                "initialised (kube-apiserver manifest and kubelet.conf present)",
            );
            return Ok(hs);
        }
        hs.change(
            Step::script(
                "kubeadm-init",
                format!("kubeadm init --config {}", paths::KUBEADM_INIT),
                format!(
                    "# initialised already (a re-run after a partial apply): nothing to do\n\
                     if [ -f {APISERVER_MANIFEST} ] && [ -f {KUBELET_CONF} ]; then exit 0; fi\n\
                     kubeadm init --config {}",
                    paths::KUBEADM_INIT
                ),
            )
            .with_hint(format!(
                "read the kubeadm output above; a half-done init is cleared with `kubeadm reset -f` on {}, then `groundup apply --resume`",
                host.name
            )),
        );
        Ok(hs)
    }
}

/// The join step; its title is the `kubeadm join` a person would type, with the token masked.
fn join(cx: &Context, host: &Host, hf: &HostFacts, control_plane: bool) -> Result<HostSteps, PlanError> {
    let mut hs = HostSteps::default();
    if hf.facts.state.files.contains_key(KUBELET_CONF) {
        hs.unchanged("kubeadm join", "already a node (kubelet.conf present)");
        return Ok(hs);
    }
    let token = bootstrap_token(cx)?;
    let hash = cx
        .pki
        .get("ca.crt")
        .and_then(|c| crate::pki::inspect::ca_cert_hash(c).ok())
        .ok_or_else(|| PlanError::new("no readable ca.crt in the PKI folder", "run `groundup pki generate`"))?;
    let shown = format!(
        "kubeadm join {} --token {token} --discovery-token-ca-cert-hash {hash}{}",
        api_endpoint(cx.inv)?,
        if control_plane { " --control-plane" } else { "" }
    );
    hs.change(
        Step::script(
            if control_plane {
                "kubeadm-join-control-plane"
            } else {
                "kubeadm-join"
            },
            shown,
            format!(
                "# a node already (a re-run after a partial apply): nothing to do\n\
                 if [ -f {KUBELET_CONF} ]; then exit 0; fi\n\
                 kubeadm join --config {}",
                paths::KUBEADM_JOIN
            ),
        )
        .with_hint(format!(
            "check that {} is reachable from {}, and that the bootstrap token is valid (`kubeadm token list` \
             on {first}); an apply that includes {first} renews it (phase join-token), `--on {}` alone does not. \
             A half-done join is cleared with `kubeadm reset -f` on the host",
            api_endpoint(cx.inv)?,
            host.name,
            host.name,
            first = first_control_plane(cx.inv).map_or("the first control plane", |f| f.name.as_str()),
        )),
    );
    Ok(hs)
}

impl Phase for ControlPlaneJoin {
    fn name(&self) -> &'static str {
        "control-plane-join"
    }
    fn applies(&self, host: &Host) -> bool {
        host.has(Role::ControlPlane)
    }
    /// One at a time: each join adds an etcd member and must finish before the next.
    fn serial(&self) -> bool {
        true
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        if is_first(cx, host) {
            let mut hs = HostSteps::default();
            hs.unchanged("kubeadm join", "the first control plane is initialised, not joined");
            return Ok(hs);
        }
        join(cx, host, hf, true)
    }
}

impl Phase for WorkersJoin {
    fn name(&self) -> &'static str {
        "workers-join"
    }
    fn applies(&self, host: &Host) -> bool {
        host.has(Role::Worker) && !host.has(Role::ControlPlane)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        join(cx, host, hf, false)
    }
}
