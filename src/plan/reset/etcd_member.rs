//! `etcd-member-remove`: each leaving etcd member (a stacked control plane, or an external etcd
//! host) taken out of the member list from a member that stays, then the remaining members'
//! health checked. It runs after the Node is deleted and before `kubeadm reset`, which cannot do
//! it then (it finds its member through the Node's mirror pods). The member is found by name in
//! the live member list, so one already gone is not removed twice. Nothing when every member goes.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::plan::etcd_access::Access;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct EtcdMemberRemove;

/// The member that stays and asks: the control plane of `leave-cluster` (stacked), or the first
/// external etcd host that is not reset.
pub fn asking<'a>(cx: &Context<'a>) -> Option<&'a Host> {
    match Access::of(cx.inv) {
        Access::Stacked => super::api_host(cx).filter(|h| !cx.reset.resets(h)),
        Access::External => cx.inv.etcd_members().find(|h| !cx.reset.resets(h)),
    }
}

fn leaving<'a>(cx: &'a Context) -> impl Iterator<Item = &'a Host> {
    cx.inv.etcd_members().filter(|h| cx.reset.resets(h))
}

impl Phase for EtcdMemberRemove {
    fn name(&self) -> &'static str {
        "etcd-member-remove"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        leaving(cx).next().is_some() && asking(cx).is_some_and(|a| a.name == host.name)
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let access = Access::of(cx.inv);
        let mut hs = HostSteps::default();
        if !access.running(hf) {
            return Err(PlanError::new(
                "etcd does not run on this member, so the leaving members cannot be removed from here",
                "`groundup check`; etcd must be healthy before a member leaves",
            ));
        }
        for h in leaving(cx) {
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
                .with_hint("the member list is unchanged when the removal failed: `etcdctl member list` on a member"),
            );
        }
        Ok(hs)
    }
}
