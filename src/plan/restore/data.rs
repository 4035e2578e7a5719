//! `restore-data`: on every etcd member, the data directory moved aside (kept, named with the
//! restore's time) and the snapshot restored in its place as this member of the current
//! inventory's member list. Always planned (the phase before stops etcd, so the preview and the
//! run plan the same); the script itself refuses while etcd still listens there.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct RestoreData;

impl Phase for RestoreData {
    fn name(&self) -> &'static str {
        "restore-data"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        super::member(cx.inv, host)
    }
    fn plan(&self, cx: &Context, host: &Host, _hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let o = super::opts(cx)?;
        let access = super::access(cx);
        let dir = access.data_dir(cx.inv);
        let kept = format!("{dir}.before-restore-{}", o.stamp);
        let mut hs = HostSteps::default();
        hs.change(
            Step::script(
                "data-restore",
                format!("move {dir} aside to {kept} and restore the snapshot into {dir} as member {}", host.name),
                format!(
                    "if ss -Htln 'sport = :2379' | grep -q .; then echo 'etcd still listens on 2379: not replacing its data' >&2; exit 1; fi\n\
                     {tool}\nif [ -e {dir} ]; then mv {dir} {kept}; fi\ninstall -d -m 0700 \"$(dirname {dir})\"\n\
                     {restore} >/var/lib/groundup/restore/restore.log 2>&1 || {{ tail -n 5 /var/lib/groundup/restore/restore.log >&2; exit 1; }}\n\
                     chmod 0700 {dir}",
                    tool = access.etcdutl(),
                    restore = super::restore_into(cx, host, &dir)?,
                ),
            )
            .with_hint(format!("the old data is kept at {kept}; fix the cause and run restore again")),
        );
        Ok(hs)
    }
}
