//! `etcd-member-remove`: for each leaving control plane of a stacked etcd, its member taken out
//! of the member list from a control plane that stays (etcdctl in that one's etcd container),
//! then the remaining members' health checked. The member is found by name in the live member
//! list, so a member already gone is not removed twice.

use crate::facts::HostFacts;
use crate::inventory::{EtcdTopology, Host, Role};
use crate::plan::etcd_access::Access;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct EtcdMemberRemove;

impl Phase for EtcdMemberRemove {
    fn name(&self) -> &'static str {
        "etcd-member-remove"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        cx.inv.cluster.etcd == EtcdTopology::Stacked
            && cx
                .inv
                .hosts
                .iter()
                .any(|h| cx.reset.resets(h) && h.has(Role::ControlPlane))
            && crate::plan::reset::Leave.applies(cx, host)
            && !cx.reset.resets(host)
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let access = Access::Stacked;
        let mut hs = HostSteps::default();
        if !access.running(hf) {
            return Err(PlanError::new(
                "etcd does not run on this control plane, so no member can be removed from here",
                "`groundup check`; etcd must be healthy before a control plane leaves",
            ));
        }
        for h in cx
            .inv
            .hosts
            .iter()
            .filter(|h| cx.reset.resets(h) && h.has(Role::ControlPlane))
        {
            let name = h.name.as_str();
            hs.change(
                Step::script(
                    &format!("etcd-remove-{name}"),
                    format!("remove etcd member {name}, then check the remaining members' health"),
                    format!(
                        "{prelude}\nid=$(ectl member list | awk -F', ' '$3 == \"{name}\" {{print $1}}')\n\
                         if [ -n \"$id\" ]; then ectl member remove \"$id\" >&2; else echo 'member {name} is not in the list' >&2; fi\n\
                         ectl endpoint health --cluster >&2",
                        prelude = access.prelude(),
                    ),
                )
                .with_hint("the member list is unchanged when the removal failed: `etcdctl member list` in the etcd container"),
            );
        }
        Ok(hs)
    }
}
