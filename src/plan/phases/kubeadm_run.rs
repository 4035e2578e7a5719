//! Phases `control-plane-init`, `control-plane-join` and `workers-join`: `kubeadm init` on the
//! first control plane when it is not initialised yet; further control planes joined one at a
//! time (serial: etcd membership changes one by one); workers joined in parallel. Each reads the
//! configuration the `kubeadm-config` phase wrote, so no token is on a command line; the plan
//! shows the equivalent `kubeadm join` with the token masked.
//!
//! Done is what the API says, never a file (issue 10, defect 5): kubeadm writes the apiserver
//! manifest and kubelet.conf before it can still fail. An init is done when admin.conf is
//! authorised and kube-system holds `kubeadm-config`; a join when the API lists the Node (asked
//! with the host's own kubelet credentials) and, for a control plane, the Node carries the
//! control-plane label (kubeadm's step after its etcd member is promoted) and its own API server
//! answers. A half-done init whose API server answers is finished; one whose does not is
//! refused with the way out. A half-done worker is cleared (`kubeadm reset -f`) and joined again;
//! a half-done control plane stops the run: its etcd member needs a person's eye.

use super::kubeadm_config::{api_endpoint, bootstrap_token, first_control_plane};
use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::paths;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

use crate::facts::Membership;
use crate::paths::APISERVER_MANIFEST;

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
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
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
        let st = &hf.facts.state;
        let finished = st
            .cluster
            .as_ref()
            .is_some_and(|c| c.kube_system_configmaps.iter().any(|m| m == "kubeadm-config"));
        if finished {
            hs.unchanged(
                "kubeadm init",
                "initialised (admin.conf is authorised and kube-system holds kubeadm-config)",
            );
            kubelet_api_binding(st.cluster.as_ref(), &mut hs);
            return Ok(hs);
        }
        if st.files.contains_key(APISERVER_MANIFEST) {
            if st.apiserver_ready != Some(true) {
                return Err(PlanError::new(
                    format!(
                        "{} has a kube-apiserver manifest but its API server does not answer /readyz: \
                         a `kubeadm init` stopped half-way, or the control plane is down",
                        host.name
                    ),
                    format!(
                        "if this cluster never came up, clear the half-done init with `kubeadm reset -f` on {} \
                         and run `groundup apply` again; if it ran before, look at `crictl ps -a` and \
                         `journalctl -u kubelet` there first",
                        host.name
                    ),
                ));
            }
            hs.change(
                Step::script(
                    "kubeadm-init-finish",
                    "finish the half-done kubeadm init (its API server answers; kubeadm-config, RBAC, \
                     CoreDNS and kube-proxy are missing)",
                    format!(
                        "# the control plane runs: do the phases after wait-control-plane\n\
                         kubeadm init --config {} --skip-phases=preflight,certs,kubeconfig,etcd,control-plane,kubelet-start",
                        paths::KUBEADM_INIT
                    ),
                )
                .with_hint(format!(
                    "if kubeadm still fails, clear the init with `kubeadm reset -f` on {} and run `groundup apply` again",
                    host.name
                )),
            );
            kubelet_api_binding(st.cluster.as_ref(), &mut hs);
            return Ok(hs);
        }
        hs.change(
            Step::script(
                "kubeadm-init",
                format!("kubeadm init --config {}", paths::KUBEADM_INIT),
                format!(
                    "# started by another run meanwhile: leave it to the next plan\n\
                     if [ -f {APISERVER_MANIFEST} ]; then echo 'kubeadm init already started here' >&2; exit 1; fi\n\
                     kubeadm init --config {}",
                    paths::KUBEADM_INIT
                ),
            )
            .with_hint(format!(
                "read the kubeadm output above; `groundup apply` again finishes an init whose API server came up, \
                 else clear it with `kubeadm reset -f` on {} first",
                host.name
            ))
            .with_timeout_hint(
                "kubeadm gave up waiting: on a slow VM raise `[kubeadm.timeouts] control_plane_component_health_check` \
                 (default 4m)",
            ),
        );
        kubelet_api_binding(None, &mut hs);
        Ok(hs)
    }
}

/// The API server reaches kubelets (logs, exec, port-forward) with `apiserver-kubelet-client`, a
/// certificate without groups: its rights come from this binding to `system:kubelet-api-admin`,
/// which kubeadm's bootstrap-token phase makes in current releases and older ones do not.
/// Planned from the API; before init it is planned with it (creating is idempotent).
const KUBELET_API_BINDING: &str = "kubeadm:apiserver-kubelet-client";

fn kubelet_api_binding(cluster: Option<&crate::facts::state::ClusterState>, hs: &mut HostSteps) {
    if cluster.is_some_and(|c| c.cluster_role_bindings.iter().any(|b| b == KUBELET_API_BINDING)) {
        hs.unchanged(
            format!("ClusterRoleBinding {KUBELET_API_BINDING}"),
            "binds the API server's kubelet client to system:kubelet-api-admin",
        );
        return;
    }
    hs.change(Step::script(
        "kubelet-api-binding",
        format!("bind the API server's kubelet client to system:kubelet-api-admin ({KUBELET_API_BINDING})"),
        format!(
            "export KUBECONFIG={}\n\
             kubectl create clusterrolebinding {KUBELET_API_BINDING} --clusterrole=system:kubelet-api-admin \
             --user=kube-apiserver-kubelet-client --dry-run=client -o yaml | kubectl apply -f -",
            paths::ADMIN_CONF
        ),
    ));
}

/// The join step; its title is the `kubeadm join` a person would type, with the token masked.
fn join(cx: &Context, host: &Host, hf: &HostFacts, control_plane: bool) -> Result<HostSteps, PlanError> {
    let mut hs = HostSteps::default();
    let st = &hf.facts.state;
    let name = host.name.as_str();
    let mut clear = false;
    match &st.membership {
        Membership::None => {}
        Membership::Listed(_) if st.listed(name) && !control_plane => {
            hs.unchanged("kubeadm join", "a node: the API lists it");
            return Ok(hs);
        }
        Membership::Listed(_) if st.listed(name) && control_plane_done(hf, name) => {
            hs.unchanged(
                "kubeadm join",
                "a control plane: the API lists it with the control-plane label, and its API server answers",
            );
            return Ok(hs);
        }
        Membership::Unknown => {
            let f = &hf.facts;
            let age = f
                .clock
                .zip(f.state.started.get("kubelet"))
                .map(|(now, t)| (now as i64 - *t).max(0));
            let (since, wait) = match age {
                Some(a) if a < crate::facts::cluster::RECENT_SECS as i64 + 60 => (
                    format!(
                        "; its kubelet started {a} s ago and groundup waited {} s for the API",
                        crate::facts::cluster::SETTLE_SECS
                    ),
                    "it booted or restarted moments ago and its control plane may still be starting (etcd, the API \
                     server): run `groundup apply` again in a minute or two; if it still fails, "
                        .to_string(),
                ),
                _ => (String::new(), String::new()),
            };
            return Err(PlanError::new(
                format!(
                    "{name} has joined before (kubelet.conf and its client certificate), but the API did not answer it{since}"
                ),
                format!(
                    "{wait}check that {} is reachable from {name} and that the control plane runs",
                    api_endpoint(cx.inv)?
                ),
            ));
        }
        _ if control_plane => {
            return Err(PlanError::new(
                format!(
                    "{name}'s control-plane join stopped half-way: kubelet.conf exists, but the API does not list it \
                     as a control plane whose API server answers; its etcd member may be an unpromoted learner"
                ),
                format!(
                    "run `kubeadm reset -f` on {name} (it removes its etcd member), check on {} with \
                     `kubectl -n kube-system exec etcd-{} -- etcdctl --cacert /etc/kubernetes/pki/etcd/ca.crt \
                     --cert /etc/kubernetes/pki/etcd/server.crt --key /etc/kubernetes/pki/etcd/server.key member list` \
                     that it is gone, then run `groundup apply` again; no further control plane joins before",
                    first_control_plane(cx.inv).map_or("the first control plane", |f| f.name.as_str()),
                    first_control_plane(cx.inv).map_or("<first>", |f| f.name.as_str()),
                ),
            ))
        }
        // A worker that is no node (yet): its half-done join holds nothing of value.
        _ => clear = true,
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
                "{}{}",
                if clear {
                    "# a join that stopped half-way (kubelet.conf, but the API lists no such node): clear it\n\
                     kubeadm reset -f\n"
                } else {
                    ""
                },
                if control_plane {
                    format!("kubeadm join --config {}", paths::KUBEADM_JOIN)
                } else {
                    worker_join()
                }
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
        ))
        .with_timeout_hint(
            "kubeadm gave up waiting: on a slow VM raise `[kubeadm.timeouts] tls_bootstrap` or `kubelet_health_check`",
        ),
    );
    Ok(hs)
}

/// A worker's join. A host that was reset (`kubeadm reset -f`, a reinstalled VM) leaves its Node
/// object behind, Ready until the control plane misses its kubelet (node-monitor-grace-period,
/// 50 s), and kubeadm refuses to join under the name of a Ready Node: the join is tried again,
/// each time from a clean slate, for up to 3 minutes. Nothing in the cluster is deleted.
fn worker_join() -> String {
    format!(
        "for _ in $(seq 1 18); do\n\
         \x20 if out=$(kubeadm join --config {join} 2>&1); then echo \"$out\"; exit 0; fi\n\
         \x20 case \"$out\" in\n\
         \x20   *'already exists in the cluster'*)\n\
         \x20     echo \"this host's Node from an earlier join is still Ready; trying again in 10 s\" >&2\n\
         \x20     kubeadm reset -f >/dev/null 2>&1; sleep 10;;\n\
         \x20   *) echo \"$out\" >&2; exit 1;;\n\
         \x20 esac\n\
         done\n\
         echo \"$out\" >&2; exit 1",
        join = paths::KUBEADM_JOIN
    )
}

/// A control plane's join finished: its Node carries the control-plane label and its own API
/// server answers.
fn control_plane_done(hf: &HostFacts, name: &str) -> bool {
    let st = &hf.facts.state;
    st.apiserver_ready == Some(true)
        && st
            .cluster
            .as_ref()
            .is_some_and(|c| c.control_planes.iter().any(|n| n == name))
}

impl Phase for ControlPlaneJoin {
    fn name(&self) -> &'static str {
        "control-plane-join"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
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
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.has(Role::Worker) && !host.has(Role::ControlPlane)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        join(cx, host, hf, false)
    }
}
