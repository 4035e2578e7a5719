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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;

use crate::exec::{window, Transport};
use crate::exit;
use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::plan::{Context, Counts, Phase};
use crate::report::{Event, Reporter};

use gate::{gate, Gate};
pub use journal::Journal;
use run::HostPhase;

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

/// What a run found, gathered while it went.
struct Tally {
    out: BTreeMap<String, HostOutcome>,
    counts: Counts,
    stopped: Option<String>,
    nothing_changed: bool,
    notes: Vec<String>,
    /// What the plans warned of, with the hosts each came from: said once, in the notes.
    warned: BTreeMap<String, Vec<String>>,
}

impl Tally {
    fn new(targets: &[Host]) -> Tally {
        Tally {
            out: targets
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        HostOutcome {
                            host: h.name.to_string(),
                            done: vec![],
                            failed: None,
                            not_reached: vec![],
                        },
                    )
                })
                .collect(),
            counts: Counts::default(),
            stopped: None,
            nothing_changed: false,
            notes: Vec::new(),
            warned: BTreeMap::new(),
        }
    }

    fn host(&mut self, h: &Host) -> &mut HostOutcome {
        self.out.get_mut(h.name.as_str()).expect("every target has an outcome")
    }

    /// Preflight stopped the run: its failures, every later phase not reached, nothing changed.
    fn gate_failed(&mut self, gate: Gate, phases: &[&dyn Phase]) {
        for (host, failed) in gate.failures {
            match self.out.get_mut(&host) {
                Some(o) => o.failed = Some(failed),
                // A cluster-wide check (e.g. two hosts with one node IP) belongs to no host.
                None => self.notes.push(format!(
                    "preflight, across the cluster: {}: {} (hint: {})",
                    failed.step, failed.error, failed.hint
                )),
            }
            self.counts.failed += 1;
        }
        for o in self.out.values_mut() {
            o.not_reached = phases.iter().filter(|p| !p.gate()).map(|p| p.name()).collect();
        }
        self.nothing_changed = true;
        self.stopped = Some(gate.why);
    }

    /// One phase's results per host; returns the control-plane and etcd hosts whose failure
    /// halts the run.
    fn record(
        &mut self,
        name: &'static str,
        hosts: &[&Host],
        results: Vec<HostPhase>,
        keep_going: bool,
    ) -> Vec<String> {
        let mut halt = Vec::new();
        for (h, res) in hosts.iter().zip(results) {
            for w in &res.warnings {
                let on = self.warned.entry(w.clone()).or_default();
                if !on.contains(&h.name.to_string()) {
                    on.push(h.name.to_string());
                }
            }
            self.counts.changed += res.changed;
            self.counts.unchanged += res.unchanged;
            let done = PhaseDone {
                phase: name,
                changed: res.changed,
                unchanged: res.unchanged,
            };
            let failed_here = res.failed.is_some();
            let o = self.host(h);
            match res.failed {
                None if res.interrupted => o.not_reached.push(name),
                None => o.done.push(done),
                Some(f) if keep_going => {
                    o.done.push(done);
                    o.failed.get_or_insert(f);
                }
                Some(f) => {
                    o.failed = Some(f);
                    if h.has(Role::ControlPlane) || h.has(Role::Etcd) {
                        halt.push(h.name.to_string());
                    }
                }
            }
            if failed_here {
                self.counts.failed += 1;
            }
        }
        halt
    }
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

fn finish(
    order: &[String],
    run: String,
    phases: &[&dyn Phase],
    t: Tally,
    opts: &Options,
    journal: &Mutex<Journal>,
    exit_code: u8,
) -> Outcome {
    let Tally {
        out,
        counts,
        stopped,
        nothing_changed,
        mut notes,
        warned,
    } = t;
    notes.extend(
        warned
            .into_iter()
            .map(|(w, on)| format!("warning: {w} ({})", on.join(", "))),
    );
    let mut j = journal.lock().unwrap_or_else(|e| e.into_inner());
    j.finished = counts.failed == 0 && stopped.is_none();
    if let Err(e) = journal::save(&opts.journal_path, &j) {
        notes.push(e);
    }
    Outcome {
        run,
        phases: phases.iter().map(|p| p.name()).collect(),
        hosts: {
            // Inventory order, not name order (lab-10 after lab-9).
            let mut hosts: Vec<HostOutcome> = out.into_values().collect();
            hosts.sort_by_key(|h| order.iter().position(|n| *n == h.host));
            hosts
        },
        counts,
        stopped,
        nothing_changed,
        notes,
        journal: opts.journal_path.display().to_string(),
        ready: None,
        exit_code,
    }
}
