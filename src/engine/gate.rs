//! Preflight as the engine's gate: before any change, every host must answer and pass its
//! checks, and the cluster-wide checks must pass; otherwise the run stops with nothing changed
//! (exit 3 when a host is unreachable, else 4).

use crate::exec::ExecError;
use crate::exit;
use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::plan::{Context, Phase};
use crate::preflight::{cluster_checks, Level};

use super::{run, FailedStep};

pub(super) struct Gate {
    pub why: String,
    pub failures: Vec<(String, FailedStep)>,
    pub exit: u8,
}

/// Preflight as a gate: any unreachable host, any failed host check or cluster check stops the
/// run before anything changes.
pub(super) fn gate(
    cx: &Context,
    phase: &dyn Phase,
    hosts: &[&Host],
    gathered: &[Result<HostFacts, ExecError>],
) -> Option<Gate> {
    let mut failures = Vec::new();
    let mut unreachable = false;
    let mut answered = Vec::new();
    for (h, f) in hosts.iter().zip(gathered) {
        match f {
            Err(e) => {
                unreachable = true;
                failures.push((h.name.to_string(), run::failed_exec(phase.name(), "gather facts", e)));
            }
            Ok(f) => {
                answered.push((*h, f));
                if let Err(pe) = phase.plan(cx, h, f) {
                    failures.push((
                        h.name.to_string(),
                        FailedStep {
                            phase: phase.name(),
                            step: "checks".into(),
                            error: pe.message,
                            stderr_tail: String::new(),
                            hint: pe.hint,
                        },
                    ));
                }
            }
        }
    }
    for c in cluster_checks(&answered).into_iter().filter(|c| c.level == Level::Fail) {
        failures.push((
            "(cluster)".into(),
            FailedStep {
                phase: phase.name(),
                step: c.name.into(),
                error: c.detail,
                stderr_tail: String::new(),
                hint: c.hint.unwrap_or_default(),
            },
        ));
    }
    if failures.is_empty() {
        return None;
    }
    Some(Gate {
        why: format!("preflight failed on {} host(s): nothing was changed", failures.len()),
        failures,
        exit: if unreachable {
            exit::UNREACHABLE
        } else {
            exit::PREFLIGHT
        },
    })
}
