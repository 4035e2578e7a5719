//! The engine: runs an action's phases in order (apply, reset, remove, restore, pki renew; see
//! `crate::action`). Per phase it takes the facts of the hosts the phase
//! applies to (gathered again only after a phase changed something: [`cache`]), plans each host
//! with the same [`Phase::plan`] that `groundup plan` prints, and runs the changes through the
//! sliding window (one host at a time for serial phases).
//! Failure policy: a gate phase (preflight, [`gate`]) that fails stops everything before any change; a
//! failed control-plane or etcd host stops the run (hosts stop before their next step); a failed
//! worker is left behind while the others go on; with `keep_going` (reset) nothing stops. Every
//! finished step goes into the journal, and each host that changed gets a marker (unless the
//! action removes it). `--resume` continues the interrupted run's journal, but
//! what runs is always what fresh facts plan: a finished step is not run again because its facts
//! show it done, never because the journal says so.
//! Sends events; never prints.

mod cache;
pub use cache::extra_sections;
mod gate;
pub mod journal;
pub mod ready;
mod run;
mod tally;

use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;

use crate::exec::{window, Transport};
use crate::exit;
use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::plan::{Context, Counts, Phase};
use crate::report::{Event, Reporter};

use gate::gate;
pub use journal::Journal;
use run::HostPhase;
use tally::{finish, Tally};

pub struct Options {
    pub parallel: usize,
    pub journal_path: PathBuf,
    /// Continue an interrupted run's journal (its record, not a list of steps to skip).
    pub resume: bool,
    /// A failed step stops neither its host nor the run: every later step and phase still runs
    /// (reset removes all it can, and its verification round reports what stayed).
    pub keep_going: bool,
    /// Leave groundup's marker on each host that changed (apply; not reset, which removes it).
    pub marker: bool,
}

/// What happened, per host and in total.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub run: String,
    pub phases: Vec<&'static str>,
    pub hosts: Vec<HostOutcome>,
    #[serde(flatten)]
    pub counts: Counts,
    /// Why the run stopped before its last phase, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Preflight failed: nothing was changed on any host.
    pub nothing_changed: bool,
    pub notes: Vec<String>,
    pub journal: String,
    /// The cluster as the first control plane sees it after the last phase (when it ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<ready::Ready>,
    pub exit_code: u8,
}

impl Outcome {
    /// Adds a later run of the same command (an upgrade's next batch): phases, per-host results,
    /// counts and notes add up; the later run's stop, journal and exit code win when it failed.
    pub fn absorb(&mut self, later: Outcome) {
        for p in later.phases {
            if !self.phases.contains(&p) {
                self.phases.push(p);
            }
        }
        for h in later.hosts {
            match self.hosts.iter_mut().find(|o| o.host == h.host) {
                Some(o) => {
                    o.done.extend(h.done);
                    o.not_reached.extend(h.not_reached);
                    if o.failed.is_none() {
                        o.failed = h.failed;
                    }
                }
                None => self.hosts.push(h),
            }
        }
        self.counts.changed += later.counts.changed;
        self.counts.unchanged += later.counts.unchanged;
        self.counts.failed += later.counts.failed;
        self.notes.extend(later.notes);
        self.nothing_changed &= later.nothing_changed;
        self.journal = later.journal;
        if later.stopped.is_some() {
            self.stopped = later.stopped;
        }
        if later.ready.is_some() {
            self.ready = later.ready;
        }
        self.exit_code = self.exit_code.max(later.exit_code);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HostOutcome {
    pub host: String,
    /// Phases finished on this host, with how many steps each changed.
    pub done: Vec<PhaseDone>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<FailedStep>,
    pub not_reached: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseDone {
    pub phase: &'static str,
    pub changed: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedStep {
    pub phase: &'static str,
    pub step: String,
    pub error: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stderr_tail: String,
    pub hint: String,
}

/// Runs `phases` on `targets`. The journal is saved at `opts.journal_path` after every step.
pub async fn run<T: Transport>(
    cx: &Context<'_>,
    phases: &[&dyn Phase],
    targets: &[Host],
    t: &T,
    opts: &Options,
    journal: Journal,
    r: &Reporter,
) -> Outcome {
    let run_id = journal.run().to_string();
    let order: Vec<String> = targets.iter().map(|h| h.name.to_string()).collect();
    let journal = Mutex::new(journal);
    let mut tally = Tally::new(targets);
    let mut active: Vec<&Host> = targets.iter().collect();
    let mut markers_checked: std::collections::HashSet<String> = Default::default();
    let mut cache = cache::FactCache::new(cache::extra_sections(phases));

    for phase in phases {
        let name = phase.name();
        // Hosts the phase applies to that a failure (or a stop) took out of the run.
        let stopped = tally.stopped.is_some();
        let left_out: Vec<&Host> = targets
            .iter()
            .filter(|h| phase.applies(cx, h) && (stopped || !active.iter().any(|a| a.name == h.name)))
            .collect();
        for h in left_out {
            tally.host(h).not_reached.push(name);
        }
        if tally.stopped.is_some() {
            continue;
        }
        let hosts: Vec<&Host> = active.iter().copied().filter(|h| phase.applies(cx, h)).collect();
        r.send(Event::Phase {
            title: name.into(),
            hosts: hosts.len(),
        });
        if hosts.is_empty() {
            continue;
        }
        let gathered = cache.get(t, &hosts, opts.parallel).await;

        if opts.resume {
            let mut j = journal.lock().unwrap_or_else(|e| e.into_inner());
            for (h, f) in hosts.iter().zip(&gathered) {
                let Ok(f) = f else { continue };
                if markers_checked.insert(h.name.to_string()) {
                    tally.notes.extend(check_marker(&mut j, h, f));
                }
            }
        }

        if phase.gate() {
            if let Some(gate) = gate(cx, *phase, &hosts, &gathered) {
                let exit = gate.exit;
                tally.gate_failed(gate, phases);
                return finish(&order, run_id, phases, tally, opts, &journal, exit);
            }
        }

        let parallel = if phase.serial() { 1 } else { opts.parallel };
        let stop = std::sync::atomic::AtomicBool::new(false);
        let pairs: Vec<(&Host, &Result<HostFacts, crate::exec::ExecError>)> =
            hosts.iter().copied().zip(&gathered).collect();
        let results: Vec<HostPhase> = window::for_each(&pairs, parallel, |(h, f)| {
            let hp = HostPhase::new(*phase, h, &run_id, opts.keep_going, opts.marker);
            hp.run(cx, t, f, &journal, &opts.journal_path, &stop, r)
        })
        .await;

        cache.after_phase(
            results
                .iter()
                .any(|r| r.changed > 0 || r.failed.is_some() || r.interrupted),
        );
        let halt = tally.record(name, &hosts, results, opts.keep_going);
        active.retain(|h| {
            let o = &tally.out[h.name.as_str()];
            (opts.keep_going || o.failed.is_none()) && !o.not_reached.contains(&name)
        });
        if !halt.is_empty() {
            tally.stopped = Some(format!(
                "phase `{name}` failed on {} ({}), which the rest of the cluster depends on",
                halt.join(", "),
                if halt.len() == 1 {
                    "a control-plane or etcd host"
                } else {
                    "control-plane or etcd hosts"
                }
            ));
        }
    }
    let code = if tally.counts.failed > 0 {
        exit::FAILED
    } else {
        exit::OK
    };
    finish(&order, run_id, phases, tally, opts, &journal, code)
}

/// On `--resume`, keeps the journal's record of a host only when the host's marker names a run of
/// this chain; a host rebuilt or changed by another run since is said to be so.
fn check_marker(j: &mut Journal, h: &Host, f: &HostFacts) -> Option<String> {
    let name = h.name.as_str();
    let has_entries = j.hosts.get(name).is_some_and(|hj| !hj.done.is_empty());
    if !has_entries {
        return None;
    }
    let marker_run = f
        .facts
        .state
        .marker
        .as_deref()
        .and_then(|m| m.split_whitespace().find_map(|kv| kv.strip_prefix("run=")))
        .map(str::to_string);
    match marker_run {
        Some(run) if j.runs.contains(&run) => None,
        other => {
            j.forget(name);
            Some(format!(
                "{name}: its marker ({}) does not match the journal, so it was rebuilt or changed by another run; \
                 it is planned from its facts alone",
                other.unwrap_or_else(|| "none".into())
            ))
        }
    }
}
