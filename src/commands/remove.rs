//! `groundup remove NODE…`: refuse what would break the cluster (etcd quorum, the last control
//! plane, a host that is not a node), plan from the facts of the leaving hosts and the control
//! plane that stays, show, ask (or `--yes`), run, verify the hosts clean like `reset`, and say
//! which `[[hosts]]` entries to delete from the inventory. With `--unreachable`, a leaving node
//! that cannot be reached (a dead control plane) is taken out through the hosts that stay: its
//! Node deleted, its etcd member removed from a healthy one, the host itself left untouched
//! (issue 21: a dead member used to stay, one failure from losing quorum).
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
    let mut cx = Context::teardown(
        inv,
        reset::Options {
            hosts: hosts.clone(),
            drain_timeout: args.drain_timeout,
            ..Default::default()
        },
    );
    let mut work = work_hosts(&cx);
    let parallel: usize = args.common.parallel.into();
    run.reporter.send(crate::report::Event::Phase {
        title: "gather facts".into(),
        hosts: work.len(),
    });
    let extra = crate::engine::extra_sections(&action.phases);
    let mut gathered = crate::exec::window::for_each(&work, parallel, |h| {
        crate::facts::gather_with(&run.transport, h, &extra)
    })
    .await;
    let down: BTreeSet<String> = work
        .iter()
        .zip(&gathered)
        .filter(|(h, g)| g.is_err() && hosts.contains(h.name.as_str()))
        .map(|(h, _)| h.name.to_string())
        .collect();
    if args.unreachable && !down.is_empty() {
        let keep: Vec<bool> = work.iter().map(|h| !down.contains(h.name.as_str())).collect();
        let mut k = keep.iter();
        work.retain(|_| *k.next().unwrap_or(&true));
        let mut k = keep.iter();
        gathered.retain(|_| *k.next().unwrap_or(&true));
        cx.reset.gone = down.clone();
    }
    let (planned, code) = super::plan::build(&cx, &action.phases, &work, &gathered);
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
        if !down.is_empty() && cx.reset.gone.is_empty() {
            let d: Vec<&str> = down.iter().map(String::as_str).collect();
            notes.push(format!(
                "if {} is powered off or gone for good, `groundup remove {} --unreachable` takes it out through the \
                 hosts that stay (its Node deleted, its etcd member removed from a healthy one; the host itself untouched)",
                d.join(", "),
                d.join(" ")
            ));
        }
        return finish(run, report, notes, text).await;
    }
    if args.dry_run {
        notes.push("--dry-run: nothing was changed".into());
        return finish(run, report, notes, text).await;
    }
    let question = if cx.reset.gone.is_empty() {
        format!(
            "This takes {} out of cluster `{}` and resets {}.",
            args.nodes.join(", "),
            inv.cluster.name,
            if hosts.len() == 1 { "it" } else { "them" }
        )
    } else {
        let gone: Vec<&str> = cx.reset.gone.iter().map(String::as_str).collect();
        format!(
            "This takes {} out of cluster `{}`; {} cannot be reached and is not reset: keep it powered off, or wipe \
             it, before it is on this network again.",
            args.nodes.join(", "),
            inv.cluster.name,
            gone.join(", ")
        )
    };
    confirm(args.yes, &question, "yes")?;
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
    for g in &cx.reset.gone {
        notes.push(format!(
            "{g} was not reached: it is out of the cluster (Node and etcd member) but was not reset; \
             `groundup reset --on {g}` cleans it if it comes back"
        ));
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
