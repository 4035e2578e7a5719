//! `groundup reset`: plan the reset of the selected hosts (every host, or `--on`) from their facts,
//! show it, ask (or `--yes`), run it with the engine, then gather again and plan again: whatever
//! the second plan still holds is a leftover, named with the command that removes it. Local state
//! after: the apply journal forgets the reset hosts (all of it for a whole reset); the PKI stays
//! unless `--forget-pki` and the cluster name typed.
//! Exit 0 clean, 1 a step failed or something stayed, 2 refused (guard rails, no consent),
//! 3 a host unreachable before anything changed, 5 another run holds the cluster.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde::Serialize;

use crate::cli::{OutputFormat, ResetArgs};
use crate::engine::{journal, Outcome};
use crate::exec::window;
use crate::exit;
use crate::facts;
use crate::inventory::Host;
use crate::plan::{self, reset, Context, HostResult, Item};
use crate::report::Event;

use super::{confirm, Failure, Run};

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub cluster: String,
    pub hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// What the verification round still found, per host: `what` and the command that removes it.
    pub leftovers: Vec<Leftover>,
    pub notes: Vec<String>,
    pub exit_code: u8,
}

impl Report {
    /// Nothing done yet on `hosts` of `inv`'s cluster.
    pub(super) fn new(inv: &crate::inventory::Inventory, hosts: &BTreeSet<String>) -> Report {
        Report {
            cluster: inv.cluster.name.to_string(),
            hosts: hosts.iter().cloned().collect(),
            outcome: None,
            leftovers: vec![],
            notes: vec![],
            exit_code: exit::OK,
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Leftover {
    host: String,
    phase: &'static str,
    what: String,
    command: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    hint: String,
}

pub async fn run(args: ResetArgs) -> Result<u8, Failure> {
    let action = crate::action::reset::reset();
    let run = Run::start_locked(&args.common, action.name)?;
    let inv = &run.inventory;
    let hosts: BTreeSet<String> = run.targets.iter().map(|h| h.name.to_string()).collect();
    let whole = hosts.len() == inv.hosts.len();
    let broken = reset::guard(inv, &hosts);
    if !broken.is_empty() && !args.force {
        return Err(Failure::Usage(format!(
            "resetting {} would break the cluster; nothing was changed:\n  - {}\n  hint: choose other hosts, or add --force \
             if that is what you want",
            hosts.iter().cloned().collect::<Vec<_>>().join(", "),
            broken.join("\n  - ")
        )));
    }
    if args.forget_pki && !whole {
        return Err(Failure::Usage(
            "--forget-pki only goes with a reset of every host (the others still use the PKI)".into(),
        ));
    }
    let cx = Context::teardown(
        inv,
        reset::Options {
            hosts: hosts.clone(),
            images: args.images,
            purge_packages: args.purge_packages,
            drain_timeout: 0,
            gone: Default::default(),
        },
    );
    let work = work_hosts(&cx);
    let parallel: usize = args.common.parallel.into();

    let (planned, code) = run.plan(&cx, &action.phases, &work, parallel).await;
    let mut notes = Vec::new();
    let mut report = Report::new(inv, &hosts);
    let text = args.common.output == OutputFormat::Text;
    if text {
        print!("{}", plan::show::text(&planned.phases, false));
        println!("{}", planned.counts);
    }
    if code == exit::UNREACHABLE {
        report.exit_code = code;
        notes.push(
            "a host did not answer: nothing was changed (reset it when it answers, or remove it from the inventory)"
                .into(),
        );
        return finish(run, report, notes, text).await;
    }
    if args.dry_run {
        notes.push("--dry-run: nothing was changed".into());
        return finish(run, report, notes, text).await;
    }
    if planned.counts.changed > 0 {
        confirm(
            args.yes,
            &format!(
                "This resets {} host(s) of cluster `{}`: {}.",
                hosts.len(),
                inv.cluster.name,
                hosts.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            "yes",
        )?;
        let outcome = run.action(&cx, &action, &work, parallel, false).await;
        report.exit_code = outcome.exit_code;
        report.outcome = Some(outcome);
    } else {
        notes.push("nothing to reset: every selected host is already clean".into());
    }

    // Verification: the same plan from fresh facts of the reset hosts (when anything ran).
    if report.outcome.is_some() {
        verify(&run, &cx, &work, parallel, &mut report, &mut notes).await;
    }
    forget_local(&run, &hosts, whole, &mut notes);
    if args.forget_pki && report.exit_code == exit::OK {
        forget_pki(&args, &run, &mut notes)?;
    }
    finish(run, report, notes, text).await
}

/// The hosts reset, the control plane that asks the API to forget them, and the etcd member that
/// takes the leaving ones out of the member list.
pub(super) fn work_hosts(cx: &Context) -> Vec<Host> {
    let api = reset::api_host(cx).map(|h| h.name.to_string());
    let member = reset::etcd_asking(cx).map(|h| h.name.to_string());
    cx.inv
        .hosts
        .iter()
        .filter(|h| {
            let n = Some(h.name.to_string());
            cx.reset.resets(h) || n == api || n == member
        })
        .cloned()
        .collect()
}

/// Gathers the facts of `work` again and plans the reset phases: what they still plan stayed.
pub(super) async fn verify(
    run: &Run,
    cx: &Context<'_>,
    work: &[Host],
    parallel: usize,
    report: &mut Report,
    notes: &mut Vec<String>,
) {
    run.reporter.send(Event::Phase {
        title: "verify".into(),
        hosts: work.len(),
    });
    let extra = crate::engine::extra_sections(reset::VERIFY);
    let again = window::for_each(work, parallel, |h| facts::gather_with(&run.transport, h, &extra)).await;
    let (verify, vcode) = super::plan::build(cx, reset::VERIFY, work, &again);
    report.leftovers = leftovers(&verify.phases);
    if vcode == exit::UNREACHABLE {
        notes.push("a host did not answer the verification round: it may not be clean".into());
        report.exit_code = exit::FAILED;
    }
    if !report.leftovers.is_empty() {
        report.exit_code = exit::FAILED;
    }
}

/// Every change the verification plan still holds, and every host it could not plan.
fn leftovers(phases: &[plan::PhasePlan]) -> Vec<Leftover> {
    let mut out = Vec::new();
    for p in phases {
        for h in &p.hosts {
            match &h.result {
                HostResult::Planned(s) => {
                    for i in &s.items {
                        if let Item::Change(step) = i {
                            out.push(Leftover {
                                host: h.host.clone(),
                                phase: p.phase,
                                what: step.title.clone(),
                                command: match &step.action {
                                    plan::Action::Script { script } => script.clone(),
                                    other => format!("{other:?}"),
                                },
                                hint: step.hint.clone().unwrap_or_default(),
                            });
                        }
                    }
                }
                HostResult::Error { error } => out.push(Leftover {
                    host: h.host.clone(),
                    phase: p.phase,
                    what: error.message.clone(),
                    command: String::new(),
                    hint: error.hint.clone(),
                }),
            }
        }
    }
    out
}

/// The apply journal no longer describes reset hosts.
pub(super) fn forget_local(run: &Run, hosts: &BTreeSet<String>, whole: bool, notes: &mut Vec<String>) {
    let inv = &run.inventory;
    let path = journal::path_for(&run.state_dir, inv.cluster.name.as_str(), &inv.path);
    if whole {
        match std::fs::remove_file(&path) {
            Ok(()) => notes.push(format!("apply journal removed ({})", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => notes.push(format!("cannot remove the apply journal `{}`: {e}", path.display())),
        }
        return;
    }
    if let Ok(Some(mut j)) = journal::load(&path) {
        for h in hosts {
            j.forget(h);
        }
        if let Err(e) = journal::save(&path, &j) {
            notes.push(e);
        }
    }
}

fn forget_pki(args: &ResetArgs, run: &Run, notes: &mut Vec<String>) -> Result<(), Failure> {
    let name = run.inventory.cluster.name.as_str();
    let dir = run.inventory.certs_dir(args.common.certs_dir.as_deref());
    if !dir.exists() {
        notes.push(format!("no PKI at `{}` to forget", dir.display()));
        return Ok(());
    }
    // Typed, never --yes: a CA is the cluster's identity, and nothing brings it back.
    confirm(
        false,
        &format!(
            "--forget-pki deletes `{}`, the cluster's CAs and keys, for good.",
            dir.display()
        ),
        name,
    )?;
    std::fs::remove_dir_all(&dir).map_err(|e| Failure::Io(format!("cannot remove `{}`: {e}", dir.display())))?;
    notes.push(format!("PKI `{}` deleted", dir.display()));
    Ok(())
}

pub(super) async fn finish(run: Run, mut report: Report, notes: Vec<String>, text: bool) -> Result<u8, Failure> {
    report.notes = notes;
    let log = run.log_path.clone();
    run.finish().await;
    if !text {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Internal(e.to_string()))?
        );
        return Ok(report.exit_code);
    }
    let mut s = String::new();
    if let Some(o) = &report.outcome {
        for h in &o.hosts {
            let changed: usize = h.done.iter().map(|d| d.changed).sum();
            let _ = writeln!(s, "{}: {changed} change(s)", h.host);
            if let Some(f) = &h.failed {
                let _ = writeln!(s, "  FAILED in phase `{}`, step `{}`: {}", f.phase, f.step, f.error);
                for l in f.stderr_tail.lines() {
                    let _ = writeln!(s, "    | {l}");
                }
            }
        }
    }
    if report.outcome.is_some() && report.leftovers.is_empty() && report.exit_code == exit::OK {
        let _ = writeln!(s, "verified clean: {}", report.hosts.join(", "));
    }
    for l in &report.leftovers {
        let _ = writeln!(s, "STILL PRESENT on {} ({}): {}", l.host, l.phase, l.what);
        if !l.command.is_empty() {
            let _ = writeln!(s, "  remove with: {}", l.command.replace('\n', "; "));
        }
        if !l.hint.is_empty() {
            let _ = writeln!(s, "  hint: {}", l.hint);
        }
    }
    for n in &report.notes {
        let _ = writeln!(s, "note: {n}");
    }
    let _ = writeln!(s, "log: {}", log.display());
    print!("{s}");
    Ok(report.exit_code)
}
