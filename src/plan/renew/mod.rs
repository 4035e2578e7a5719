//! The phase of `pki renew`: the reissued PKI rolled out to the hosts that hold it, **one host at
//! a time**: the files whose content differs from `certs/<cluster>` written, then what reads them
//! restarted and waited for before the next host starts (an external etcd member: the unit, then
//! the whole cluster's health over mTLS with the new client certificate; a control plane: stacked
//! etcd, the API server until `/readyz`, then the controller manager and scheduler). Planned from
//! the files' checksums, so a second renew changes nothing. Pure.

use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::paths;
use crate::plan::etcd_access::Access;
use crate::plan::phases::{placement_content as pki_files_content, placements};
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub mod ca;

pub struct RenewRollout;

pub const ALL: &[&dyn Phase] = &[&RenewRollout];
/// A rotation of the kubernetes CA: the control planes' files, then every kubelet, then what
/// the API publishes, then the nodes' kubeadm configuration (its join configuration pins the
/// signing CA's hash), so that `apply` afterwards has nothing to change.
pub const KUBERNETES_CA: &[&dyn Phase] = &[
    &RenewRollout,
    &ca::KubeletTrust,
    &ca::CaPublished,
    &crate::plan::phases::kubeadm_config::KubeadmConfig,
];
/// A rotation of the front-proxy CA: the control planes' files, then what the API publishes.
pub const FRONT_PROXY_CA: &[&dyn Phase] = &[&RenewRollout, &ca::CaPublished];

/// Restarts a static pod's container (kubelet starts it again with the files on disk). kubelet
/// delays the new start of a container whose pod holds an exited one of that name (its
/// crash-loop back-off: 10 s, doubling up to 5 minutes, forgotten after 10 quiet minutes), so a
/// restart right after others waited minutes (80-100 s per component after a renew and a
/// rotation; up to 5 minutes later on): the exited container is removed, and kubelet starts a
/// new one at once. (A new pod UID through the manifest avoids the back-off too, but cost 75 s
/// for etcd alone.) The wait still covers the longest back-off.
fn restart_pod(name: &str, wait: &str) -> String {
    restart_with(
        name,
        &format!(
            "if [ -n \"$old\" ]; then crictl stop \"$old\" >/dev/null; fi\n\
             {} -a -q --state exited | xargs -r crictl rm >/dev/null 2>&1 || true",
            pod_ps(name)
        ),
        wait,
    )
}

/// kube-system's containers named `name` (a static pod's), as `crictl ps` filters them.
fn pod_ps(name: &str) -> String {
    format!("crictl ps --label io.kubernetes.pod.namespace=kube-system --name '^{name}$'")
}

/// Notes static pod `name`'s running container as `$old`, runs `change` (what makes kubelet
/// start another: a stop, or a new manifest), then waits until another one runs and `wait` holds.
pub(crate) fn restart_with(name: &str, change: &str, wait: &str) -> String {
    let ps = pod_ps(name);
    format!(
        "old=$({ps} -q | head -n1)\n{change}\n\
         for i in $(seq 180); do\n  new=$({ps} -q --state running | head -n1)\n  \
         if [ -n \"$new\" ] && [ \"$new\" != \"$old\" ] && {wait}; then exit 0; fi\n  sleep 2\ndone\n\
         echo '{name} did not come back healthy within 6 minutes (kubelet: journalctl -u kubelet)' >&2; exit 1"
    )
}

impl Phase for RenewRollout {
    fn name(&self) -> &'static str {
        "renew-rollout"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.has(Role::ControlPlane) || host.has(Role::Etcd)
    }
    fn serial(&self) -> bool {
        true
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let mut hs = HostSteps::default();
        // The controller manager's signing CA moves before ca.crt becomes a bundle.
        // (Moved then, it still restarts below to read the files written after.)
        if host.has(Role::ControlPlane) {
            ca::signer_before(cx, hf, &mut hs)?;
        }
        let mut changed: Vec<String> = Vec::new();
        let mut same = 0;
        let mut writes = vec![];
        for p in placements(cx.inv, host)? {
            let content = pki_files_content(cx, &p)?;
            if f.state.files.get(&p.path) == Some(&content.sha256) {
                same += 1;
                continue;
            }
            writes.push(Step::write(&format!("pki-{}", p.rel), &p.path, p.mode, content));
            changed.push(p.path);
        }
        for w in writes {
            hs.change(w);
        }
        if same > 0 {
            hs.unchanged(format!("{same} PKI files"), "content is current");
        }
        if changed.is_empty() {
            if host.has(Role::ControlPlane) {
                ca::signer_after(cx, hf, &mut hs);
            }
            return Ok(hs);
        }
        let etcd_changed = changed.iter().any(|p| p.contains("/pki/etcd/"));
        let access = Access::of(cx.inv);
        if host.has(Role::Etcd) && !host.has(Role::ControlPlane) {
            hs.change(
                Step::script(
                    "etcd-restart",
                    "restart etcd with its new certificates and wait until the whole cluster is healthy over mTLS",
                    format!(
                        "{prelude}\nsystemctl restart etcd\nfor i in $(seq 60); do\n  \
                         if ectl endpoint health --cluster >/dev/null 2>&1; then exit 0; fi\n  sleep 2\ndone\n\
                         ectl endpoint health --cluster >&2; exit 1",
                        prelude = access.prelude()
                    ),
                )
                .with_hint("the member runs with the new files; the others with the old until their turn: `journalctl -u etcd`"),
            );
            return Ok(hs);
        }
        if !f.state.files.contains_key(paths::APISERVER_MANIFEST) {
            hs.warn("no control plane runs here yet: the files are placed, nothing restarted");
            return Ok(hs);
        }
        // The API server's new kubelet client certificate carries no group: its RBAC binding must
        // exist before it is used (kubernetes-sigs/cluster-api#13770).
        if let Some(c) = &f.state.cluster {
            if !c
                .cluster_role_bindings
                .iter()
                .any(|b| b.ends_with("kubeadm:apiserver-kubelet-client"))
            {
                return Err(PlanError::new(
                    "the ClusterRoleBinding kubeadm:apiserver-kubelet-client is missing: the renewed API server could not reach kubelets",
                    "run `groundup apply` first (phase control-plane-init creates it), then renew",
                ));
            }
        }
        if access == Access::Stacked && etcd_changed {
            hs.change(Step::script(
                "etcd-restart",
                "restart etcd and wait until the whole cluster is healthy",
                format!(
                    "{prelude}\n{}",
                    restart_pod("etcd", "ectl endpoint health --cluster >/dev/null 2>&1"),
                    prelude = access.prelude()
                ),
            ));
        }
        let readyz = format!(
            "kubectl --kubeconfig={} --server=https://127.0.0.1:6443 --tls-server-name=kubernetes --request-timeout=5s \
             get --raw=/readyz >/dev/null 2>&1",
            paths::ADMIN_CONF
        );
        hs.change(Step::script(
            "apiserver-restart",
            "restart kube-apiserver and wait until it answers /readyz",
            restart_pod("kube-apiserver", &readyz),
        ));
        // The signing CA back in ca.crt (after the drop) restarts the controller manager by its
        // manifest, as moving it away did.
        let kcm_moved = ca::signer_after(cx, hf, &mut hs);
        for c in ["kube-controller-manager", "kube-scheduler"] {
            if c == "kube-controller-manager" && kcm_moved {
                continue;
            }
            hs.change(Step::script(
                &format!("{c}-restart"),
                format!("restart {c}"),
                restart_pod(c, "true"),
            ));
        }
        Ok(hs)
    }
}
