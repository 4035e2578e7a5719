//! `groundup remove NODE…`: refuse what would break the cluster (etcd quorum, the last control
//! plane, a host that is not a node), plan from the facts of the leaving hosts and the control
//! plane that stays, show, ask (or `--yes`), run, verify the hosts clean like `reset`, and say
//! which `[[hosts]]` entries to delete from the inventory.
//! Exit 0 removed and clean, 1 a step failed (a failed drain leaves the node cordoned and in the
//! cluster) or something stayed on a host, 2 refused, 3 unreachable before any change, 5 locked.

use std::collections::BTreeSet;

use crate::cli::{OutputFormat, RemoveArgs};
use crate::exit;
use crate::plan::{self, remove, reset, Context};

use super::reset::{finish, forget_local, verify, work_hosts, Report};
use super::{confirm, Failure, Run};

pub async fn run(args: RemoveArgs) -> Result<u8, Failure> {
    let action = crate::action::remove::remove();
    let run = Run::start_locked(&args.common, action.name)?;
    let inv = &run.inventory;
    let hosts: BTreeSet<String> = args.nodes.iter().cloned().collect();
    let why = remove::refuse(inv, &hosts);
    if !why.is_empty() {
        return Err(Failure::Usage(format!(
            "{}: cannot remove {}; nothing was changed:\n  - {}",
            inv.path.display(),
            args.nodes.join(", "),
            why.join("\n  - ")
        )));
    }
    let cx = Context::teardown(
        inv,
        reset::Options {
            hosts: hosts.clone(),
            drain_timeout: args.drain_timeout,
            ..Default::default()
        },
    );
    let work = work_hosts(&cx);
    let parallel: usize = args.common.parallel.into();
    let (planned, code) = run.plan(&cx, &action.phases, &work, parallel).await;
    let text = args.common.output == OutputFormat::Text;
    if text {
        print!("{}", plan::show::text(&planned.phases, false));
        println!("{}", planned.counts);
    }
    let mut notes = Vec::new();
    let mut report = Report::new(inv, &hosts);
    if code == exit::UNREACHABLE || planned.counts.failed > 0 {
        report.exit_code = if code == exit::UNREACHABLE { code } else { exit::FAILED };
        notes.push("the plan has errors (above): nothing was changed".into());
        return finish(run, report, notes, text).await;
    }
    if args.dry_run {
        notes.push("--dry-run: nothing was changed".into());
        return finish(run, report, notes, text).await;
    }
    confirm(
        args.yes,
        &format!(
            "This takes {} out of cluster `{}` and resets {}.",
            args.nodes.join(", "),
            inv.cluster.name,
            if hosts.len() == 1 { "it" } else { "them" }
        ),
        "yes",
    )?;
    let outcome = run.action(&cx, &action, &work, parallel, false).await;
    report.exit_code = outcome.exit_code;
    let ran_reset = outcome
        .hosts
        .iter()
        .any(|h| h.done.iter().any(|d| d.phase == "files-cleanup"));
    if let Some(why) = &outcome.stopped {
        notes.push(format!("stopped: {why}"));
    }
    report.outcome = Some(outcome);
    if ran_reset {
        verify(&run, &cx, &work, parallel, &mut report, &mut notes).await;
        forget_local(&run, &hosts, false, &mut notes);
    }
    if report.exit_code == exit::OK {
        notes.push(format!(
            "now delete the [[hosts]] entries of {} from `{}`; the next `groundup apply` renders what lists the control \
             planes (haproxy backends, kube-vip) from it (certificate SANs are left as they are)",
            args.nodes.join(", "),
            inv.path.display()
        ));
    }
    finish(run, report, notes, text).await
}
