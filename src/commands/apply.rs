//! `groundup apply`: plan and run each phase (up to `--until`), journaled for `--resume`; print
//! a per-host summary (done / failed with stderr and hint / not reached) and the recap line.
//! Exit 0 done, 1 partial, 3 unreachable at preflight, 4 preflight failed (nothing changed).

use std::fmt::Write;

use crate::cli::{ApplyArgs, OutputFormat};
use crate::engine::{self, journal, Journal, Outcome};
use crate::plan::Context;

use super::plan::unknown_phase;
use super::{Failure, Run};

pub async fn run(args: ApplyArgs) -> Result<u8, Failure> {
    let action =
        crate::action::apply::apply(args.until.as_deref()).ok_or_else(|| unknown_phase(args.until.as_deref()))?;
    let phases = action.phases;
    let run = Run::start_locked(&args.common, "apply")?;
    let cx = Context::with_certs(&run.inventory, args.common.certs_dir.as_deref()).map_err(Failure::Usage)?;
    // A rotation moves the PKI stage by stage, restarting what reads it: apply would place it
    // without those restarts.
    if phases.iter().any(|p| p.name() == "pki-files") {
        if let Some(why) = crate::pki::rotate::finish_first(&cx.pki, &run.inventory.path, "apply") {
            return Err(Failure::Usage(why));
        }
    }
    super::refuse_old_etcd(&cx, &phases)?;
    // The PKI is made here, by `groundup pki generate`; an apply that would reach pki-files without it
    // stops before it changes any host, instead of after minutes of preparation (issue 10).
    if !cx.pki_pending.is_empty() && phases.iter().any(|p| p.name() == "pki-files") {
        return Err(Failure::Usage(format!(
            "{}: {} of the cluster PKI missing in `{}` (first: {}); nothing was changed\n  hint: run `groundup pki generate -i {}` \
             (it never replaces a CA), then apply again",
            run.inventory.path.display(),
            if cx.pki.is_empty() { "all".to_string() } else { format!("{} file(s)", cx.pki_pending.len()) },
            cx.certs_dir.display(),
            cx.pki_pending[0],
            run.inventory.path.display()
        )));
    }
    let journal_path = journal::path_for(&run.state_dir, run.inventory.cluster.name.as_str(), &run.inventory.path);
    let run_id = journal::run_id();
    let names: Vec<String> = phases.iter().map(|p| p.name().to_string()).collect();
    let mut notes = Vec::new();
    let journal = if args.resume {
        match journal::load(&journal_path).map_err(Failure::Io)? {
            Some(prev) if prev.finished => {
                notes.push(format!(
                    "the last apply ({}) finished; nothing to resume, running normally",
                    prev.run()
                ));
                fresh(&run_id, &run.inventory.path, names)
            }
            Some(prev) => {
                let failed: Vec<String> = prev
                    .hosts
                    .iter()
                    .filter_map(|(h, j)| j.failed.as_ref().map(|f| format!("{h} at {}/{}", f.phase, f.step)))
                    .collect();
                notes.push(format!(
                    "resuming run {}{}; every step is planned from fresh facts, so what it finished is not done twice \
                     and what a host lost since is done again",
                    prev.run(),
                    if failed.is_empty() {
                        String::new()
                    } else {
                        format!(" (it failed: {})", failed.join(", "))
                    }
                ));
                Journal::resume(prev, run_id.clone(), names)
            }
            None => {
                notes.push("no journal to resume; running from the start".into());
                fresh(&run_id, &run.inventory.path, names)
            }
        }
    } else {
        fresh(&run_id, &run.inventory.path, names)
    };
    journal::save(&journal_path, &journal).map_err(|e| Failure::Io(format!("{e} (use --state-dir)")))?;
    tracing::info!(run = run_id, journal = %journal_path.display(), "apply started");
    let opts = engine::Options {
        parallel: args.common.parallel.into(),
        journal_path,
        resume: args.resume,
        keep_going: action.keep_going,
        marker: true,
    };
    let mut outcome = engine::run(
        &cx,
        &phases,
        &run.targets,
        &run.transport,
        &opts,
        journal,
        &run.reporter,
    )
    .await;
    notes.append(&mut outcome.notes);
    outcome.notes = notes;
    // Done means checked: the whole run finished, so wait for the cluster to be up.
    let last = crate::plan::phases::ALL.last().map(|p| p.name());
    if outcome.exit_code == crate::exit::OK && args.ready_timeout > 0 && phases.last().map(|p| p.name()) == last {
        let timeout = std::time::Duration::from_secs(args.ready_timeout);
        outcome.ready = engine::ready::wait(
            &run.transport,
            &run.inventory,
            timeout,
            std::time::Duration::from_secs(5),
        )
        .await;
        if outcome.ready.as_ref().is_some_and(|r| !r.ok) {
            outcome.exit_code = crate::exit::FAILED;
        }
    }
    let log = run.log_path.clone();
    run.finish().await;
    print_outcome(
        &outcome,
        args.common.output,
        &log.display().to_string(),
        &args.common.inventory.display().to_string(),
        "apply",
    )?;
    Ok(outcome.exit_code)
}

fn fresh(run_id: &str, inventory: &std::path::Path, phases: Vec<String>) -> Journal {
    Journal {
        runs: vec![run_id.to_string()],
        inventory: inventory.display().to_string(),
        phases,
        ..Journal::default()
    }
}

/// An engine run's outcome on stdout: JSON, or [`render_text`].
pub fn print_outcome(
    o: &Outcome,
    output: OutputFormat,
    log: &str,
    inventory: &str,
    action: &str,
) -> Result<(), Failure> {
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(o).map_err(|e| Failure::Internal(e.to_string()))?
        ),
        OutputFormat::Text => print!("{}", render_text(o, log, inventory, action)),
    }
    Ok(())
}

/// The summary of an engine run; `action` names the command (only `apply` has `--resume`).
pub fn render_text(o: &Outcome, log: &str, inventory: &str, action: &str) -> String {
    let mut s = String::new();
    for n in &o.notes {
        let _ = writeln!(s, "note: {n}");
    }
    for h in &o.hosts {
        let done: Vec<String> = h
            .done
            .iter()
            .map(|d| {
                if d.changed > 0 {
                    format!("{} ({} changed)", d.phase, d.changed)
                } else {
                    d.phase.to_string()
                }
            })
            .collect();
        let _ = writeln!(s, "{}", h.host);
        if !done.is_empty() {
            let _ = writeln!(s, "  done: {}", done.join(", "));
        }
        if let Some(f) = &h.failed {
            let _ = writeln!(s, "  FAILED in phase `{}`, step `{}`: {}", f.phase, f.step, f.error);
            for l in f.stderr_tail.lines() {
                let _ = writeln!(s, "    | {l}");
            }
            if !f.hint.is_empty() {
                let _ = writeln!(s, "  hint: {}", f.hint);
            }
        }
        if !h.not_reached.is_empty() {
            let _ = writeln!(s, "  not reached: {}", h.not_reached.join(", "));
        }
    }
    if let Some(why) = &o.stopped {
        let _ = writeln!(s, "stopped: {why}");
    }
    if o.counts.failed > 0 && !o.nothing_changed && action == "apply" {
        let _ = writeln!(
            s,
            "to continue after fixing the cause: groundup apply --resume (same inventory); journal: {}",
            o.journal
        );
    }
    if let Some(r) = &o.ready {
        if r.ok {
            let _ = writeln!(
                s,
                "cluster up ({} s): {} nodes Ready, flannel {}/{}, CoreDNS {}/{}",
                r.waited_secs,
                r.probe.nodes.len(),
                r.probe.flannel.0,
                r.probe.flannel.1,
                r.probe.coredns.0,
                r.probe.coredns.1
            );
        } else {
            let _ = writeln!(s, "NOT READY after {} s (asked {}):", r.waited_secs, r.asked);
            for m in &r.missing {
                let _ = writeln!(s, "  - {m}");
            }
            let _ = writeln!(
                s,
                "  hint: on {}: `kubectl --kubeconfig /etc/kubernetes/admin.conf get pods -A` and `journalctl -u kubelet`; \
                 `groundup apply` again waits again (--ready-timeout)",
                r.asked
            );
        }
        s.push_str(&engine::ready::table(&r.probe));
        let _ = writeln!(
            s,
            "kubeconfig: `groundup kubeconfig -i {} --out admin.conf` (or --merge); on {}: /etc/kubernetes/admin.conf",
            inventory, r.asked
        );
    }
    let _ = writeln!(s, "log: {log}");
    let _ = writeln!(s, "{}", o.counts);
    s
}
