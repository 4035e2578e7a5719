//! `restore-check`: the snapshot uploaded to every etcd member (sha256 checked there) and
//! restored once into a scratch folder that is removed again: `snapshot restore` verifies the
//! integrity hash etcd appends to every snapshot, so a truncated or corrupted file stops the
//! restore here, before anything is stopped.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::plan::{Action, Context, HostSteps, Phase, PlanError, Step};

pub struct RestoreCheck;

impl Phase for RestoreCheck {
    fn name(&self) -> &'static str {
        "restore-check"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        super::member(cx.inv, host)
    }
    fn plan(&self, cx: &Context, host: &Host, _hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let o = super::opts(cx)?;
        let mut hs = HostSteps::default();
        hs.change(Step {
            id: "snapshot-upload".into(),
            title: format!(
                "upload the snapshot {} ({} bytes) and verify sha256 {}",
                o.snapshot.display(),
                o.size,
                &o.sha256[..12.min(o.sha256.len())]
            ),
            action: Action::Upload {
                path: super::REMOTE.into(),
                local: o.snapshot.clone(),
                sha256: o.sha256.clone(),
                size: o.size,
            },
            hint: Some("check free space under /var/lib/groundup on the host".into()),
            on_timeout: None,
        });
        let trial = super::restore_into(cx, host, "\"$d/data\"")?;
        hs.change(
            Step::script(
                "snapshot-trial",
                "restore the snapshot once into a scratch folder (checks its integrity hash), then remove it",
                format!(
                    "{tool}\nd=$(mktemp -d /var/lib/groundup/restore/trial.XXXXXX)\n\
                     if ! {trial} >\"$d/log\" 2>&1; then tail -n 5 \"$d/log\" >&2; rm -rf \"$d\"; exit 1; fi\nrm -rf \"$d\"",
                    tool = super::access(cx).etcdutl(),
                ),
            )
            .with_hint("the snapshot is damaged or not an etcd snapshot: nothing was stopped; use another backup"),
        );
        Ok(hs)
    }
}
