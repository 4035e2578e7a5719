//! A run's tally: what each host did per phase, the counts, the stop and the notes, kept while
//! the engine goes, and the [`Outcome`] made of it at the end (the journal saved once more).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::inventory::{Host, Role};
use crate::plan::{Counts, Phase};

use super::gate::Gate;
use super::run::HostPhase;
use super::{journal, HostOutcome, Journal, Options, Outcome, PhaseDone};

/// What a run found, gathered while it went.
pub(super) struct Tally {
    pub(super) out: BTreeMap<String, HostOutcome>,
    pub(super) counts: Counts,
    pub(super) stopped: Option<String>,
    pub(super) nothing_changed: bool,
    pub(super) notes: Vec<String>,
    /// What the plans warned of, with the hosts each came from: said once, in the notes.
    warned: BTreeMap<String, Vec<String>>,
}

impl Tally {
    pub(super) fn new(targets: &[Host]) -> Tally {
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

    pub(super) fn host(&mut self, h: &Host) -> &mut HostOutcome {
        self.out.get_mut(h.name.as_str()).expect("every target has an outcome")
    }

    /// Preflight stopped the run: its failures, every later phase not reached, nothing changed.
    pub(super) fn gate_failed(&mut self, gate: Gate, phases: &[&dyn Phase]) {
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
    pub(super) fn record(
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

pub(super) fn finish(
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
