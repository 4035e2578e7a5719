//! `restore-stop`: nothing may write to etcd while its data is replaced. Control planes' API
//! server manifests (and stacked etcd's) are parked in groundup's folder, so kubelet stops the
//! pods, and the phase waits until their containers are gone; external members' etcd units stop.
//! Each from its own presence: a parked manifest or a stopped unit is left alone.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::paths;
use crate::plan::etcd_access::{Access, ETCD_MANIFEST, PARKED};
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct RestoreStop;

/// Parks a static pod manifest and waits until kubelet has stopped its container.
fn park(manifest: &str, container: &str) -> Step {
    Step::script(
        &format!("park-{container}"),
        format!("stop {container}: move {manifest} to {PARKED}/ and wait for its container to go"),
        format!(
            "install -d -m 0700 {PARKED}\nmv -f {manifest} {PARKED}/\n\
             for i in $(seq 90); do crictl ps -q --name '^{container}$' | grep -q . || exit 0; sleep 2; done\n\
             echo '{container} still runs 3 minutes after its manifest was moved' >&2; exit 1"
        ),
    )
    .with_hint("`crictl ps` and `journalctl -u kubelet` on the host")
}

impl Phase for RestoreStop {
    fn name(&self) -> &'static str {
        "restore-stop"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        super::member(cx.inv, host) || super::control_plane(host)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let mut hs = HostSteps::default();
        if super::control_plane(host) {
            if f.state.files.contains_key(paths::APISERVER_MANIFEST) {
                hs.change(park(paths::APISERVER_MANIFEST, "kube-apiserver"));
            } else {
                hs.unchanged("kube-apiserver", "its manifest is not in place (stopped or parked)");
            }
        }
        if super::member(cx.inv, host) {
            match super::access(cx) {
                Access::Stacked if f.state.files.contains_key(ETCD_MANIFEST) => hs.change(park(ETCD_MANIFEST, "etcd")),
                Access::External if f.state.service("etcd").is_active() => {
                    hs.change(Step::script("etcd-stop", "stop etcd", "systemctl stop etcd"))
                }
                _ => hs.unchanged("etcd", "not running"),
            }
        }
        Ok(hs)
    }
}
