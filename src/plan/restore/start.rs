//! `restore-start`: etcd back on every member at once (units started together, or the parked
//! static pod manifest put back), then each member waits until its endpoint is healthy, which
//! needs a quorum of the restored members. Always planned: starting a running etcd is a no-op.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::plan::etcd_access::{Access, ETCD_MANIFEST, PARKED};
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct RestoreStart;

impl Phase for RestoreStart {
    fn name(&self) -> &'static str {
        "restore-start"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        super::member(cx.inv, host)
    }
    fn plan(&self, cx: &Context, _host: &Host, _hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let access = super::access(cx);
        let parked = format!("{PARKED}/etcd.yaml");
        let start = match access {
            Access::External => "systemctl start --no-block etcd".to_string(),
            Access::Stacked => format!("if [ -f {parked} ]; then mv -f {parked} {ETCD_MANIFEST}; fi"),
        };
        let mut hs = HostSteps::default();
        hs.change(
            Step::script(
                "etcd-start",
                "start etcd and wait until this member is healthy (it needs a quorum)",
                format!(
                    "{prelude}\n{start}\nfor i in $(seq 90); do\n  if ectl endpoint health >/dev/null 2>&1; then exit 0; fi\n  sleep 2\ndone\n\
                     echo 'etcd is not healthy 3 minutes after the restore' >&2; exit 1",
                    prelude = access.prelude(),
                ),
            )
            .with_hint("every member must be up for a quorum: the member's log (`journalctl -u etcd` or `crictl logs`)"),
        );
        Ok(hs)
    }
}
