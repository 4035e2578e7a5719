//! The facts a run reuses between phases. Facts are gathered again only after a phase changed
//! something: a change on one host can change what another sees (a join lists a node, an init
//! makes the API answer), so any change anywhere drops every host's facts. A phase that changed
//! nothing leaves the world as the facts describe it, and the next phase plans from them as they
//! are; a no-op apply gathers once per host instead of once per phase (issue 10).

use std::collections::HashMap;

use crate::exec::{window, ExecError, Transport};
use crate::facts::{self, HostFacts};
use crate::inventory::Host;

/// The optional facts sections the `phases` plan from.
pub fn extra_sections(phases: &[&dyn crate::plan::Phase]) -> Vec<&'static str> {
    let mut v = vec![];
    if phases.iter().any(|p| p.reads_leftovers()) {
        v.push("leftovers");
    }
    if phases.iter().any(|p| p.reads_trust()) {
        v.push("trust");
    }
    v
}

pub struct FactCache {
    /// The optional sections a phase of the run plans from (`leftovers` for reset and remove,
    /// `trust` for a CA rotation).
    extra: Vec<&'static str>,
    facts: HashMap<String, HostFacts>,
    /// Fact rounds actually run (one per host gathered), logged when the run's cache goes.
    rounds: usize,
}

impl FactCache {
    /// An empty cache that gathers the optional sections named in `extra` too.
    pub fn new(extra: Vec<&'static str>) -> FactCache {
        FactCache {
            extra,
            facts: HashMap::new(),
            rounds: 0,
        }
    }

    /// After a phase: keep the facts only when it changed nothing (and nothing failed half-way).
    pub fn after_phase(&mut self, touched: bool) {
        if touched {
            self.facts.clear();
        }
    }

    /// The facts of `hosts`, gathering (in parallel) those not held; failed gathers are never kept.
    pub async fn get<T: Transport>(
        &mut self,
        t: &T,
        hosts: &[&Host],
        parallel: usize,
    ) -> Vec<Result<HostFacts, ExecError>> {
        let missing: Vec<&Host> = hosts
            .iter()
            .copied()
            .filter(|h| !self.facts.contains_key(h.name.as_str()))
            .collect();
        let extra = &self.extra;
        let fresh = window::for_each(&missing, parallel, |h| facts::gather_with(t, h, extra)).await;
        self.rounds += missing.len();
        let mut fresh: HashMap<&str, Result<HostFacts, ExecError>> =
            missing.iter().map(|h| h.name.as_str()).zip(fresh).collect();
        hosts
            .iter()
            .map(|h| match fresh.remove(h.name.as_str()) {
                Some(Ok(f)) => {
                    self.facts.insert(h.name.to_string(), f.clone());
                    Ok(f)
                }
                Some(Err(e)) => Err(e),
                None => Ok(self.facts[h.name.as_str()].clone()),
            })
            .collect()
    }
}

impl Drop for FactCache {
    fn drop(&mut self) {
        tracing::info!(
            fact_rounds = self.rounds,
            "facts gathered once per host and again only after a change"
        );
    }
}
