//! `restore-api` and `restore-kubelets`: the parked API server manifests back on every control
//! plane, each waited for until its `/readyz` answers; then every node's kubelet restarted, so it
//! re-reads the restored cluster (its Node, its pods) at once instead of on its next sync.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::paths;
use crate::plan::etcd_access::PARKED;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct RestoreApi;
pub struct RestoreKubelets;

impl Phase for RestoreApi {
    fn name(&self) -> &'static str {
        "restore-api"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        super::control_plane(host)
    }
    fn plan(&self, _cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let parked = format!("{PARKED}/kube-apiserver.yaml");
        let mut hs = HostSteps::default();
        let files = &hf.facts.state.files;
        if !files.contains_key(&parked) && !files.contains_key(paths::APISERVER_MANIFEST) {
            hs.unchanged(
                "kube-apiserver",
                "this control plane has none (not initialised or joined)",
            );
            return Ok(hs);
        }
        hs.change(
            Step::script(
                "apiserver-start",
                "put the API server's manifest back and wait until it answers /readyz",
                format!(
                    "if [ -f {parked} ]; then mv -f {parked} {m}; fi\nfor i in $(seq 90); do\n  \
                     kubectl --kubeconfig={a} --server=https://127.0.0.1:6443 --tls-server-name=kubernetes \
                     --request-timeout=5s get --raw=/readyz >/dev/null 2>&1 && exit 0\n  sleep 2\ndone\n\
                     echo 'the API server does not answer 3 minutes after the restore' >&2; exit 1",
                    m = paths::APISERVER_MANIFEST,
                    a = paths::ADMIN_CONF
                ),
            )
            .with_hint("`crictl ps -a --name kube-apiserver` and its logs on the host"),
        );
        Ok(hs)
    }
}

impl Phase for RestoreKubelets {
    fn name(&self) -> &'static str {
        "restore-kubelets"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.is_node()
    }
    fn plan(&self, _cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        if hf.facts.state.service("kubelet").is_active() {
            hs.change(Step::script(
                "kubelet-restart",
                "restart kubelet",
                "systemctl restart kubelet",
            ));
        } else {
            hs.unchanged("kubelet", "not running (not joined yet, or stopped by hand)");
        }
        Ok(hs)
    }
}
