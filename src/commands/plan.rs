//! `groundup plan`: gather facts once, plan every phase (up to `--until`) for every target with
//! the functions `apply` runs, print it (text or JSON) with the recap line. Changes nothing.
//! Exit 0 when planned, 3 when a host is unreachable, 4 when preflight would stop `apply`.

use serde::Serialize;

use crate::cli::{OutputFormat, PlanArgs};
use crate::exec::window;
use crate::exit;
use crate::facts::{self, HostFacts};
use crate::inventory::Host;
use crate::plan::{self, phases, Context, Counts, HostPlan, HostResult, Phase, PhasePlan, PlanError};
use crate::preflight::{cluster_checks, Level};
use crate::report::Event;

use super::{Failure, Run};

#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub cluster: String,
    pub phases: Vec<PhasePlan>,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The phases of `--until`, or a usage error naming the valid ones.
pub fn select_phases(until: Option<&str>) -> Result<Vec<&'static dyn Phase>, Failure> {
    phases::until(until).ok_or_else(|| unknown_phase(until))
}

pub fn unknown_phase(until: Option<&str>) -> Failure {
    Failure::Usage(format!(
        "unknown phase `{}`: the phases are {}",
        until.unwrap_or(""),
        phases::names().join(", ")
    ))
}

pub async fn run(args: PlanArgs) -> Result<u8, Failure> {
    let phases = select_phases(args.until.as_deref())?;
    let run = Run::start(&args.common, "plan")?;
    let cx = Context::with_certs(&run.inventory, args.common.certs_dir.as_deref()).map_err(Failure::Usage)?;
    super::refuse_old_etcd(&cx, &phases)?;
    run.reporter.send(Event::Phase {
        title: "gather facts".into(),
        hosts: run.targets.len(),
    });
    let extra = crate::engine::extra_sections(&phases);
    let gathered = window::for_each(&run.targets, args.common.parallel.into(), |h| {
        facts::gather_with(&run.transport, h, &extra)
    })
    .await;
    let (report, code) = build(&cx, &phases, &run.targets, &gathered);
    run.finish().await;
    match args.common.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Internal(e.to_string()))?
        ),
        OutputFormat::Text => {
            print!("{}", plan::show::text(&report.phases, args.show_files));
            println!("{}", report.counts);
        }
    }
    Ok(code)
}

/// Plans from gathered facts; unreachable hosts and failed cluster checks become plan errors.
pub fn build(
    cx: &Context,
    phases: &[&'static dyn Phase],
    targets: &[Host],
    gathered: &[Result<HostFacts, crate::exec::ExecError>],
) -> (PlanReport, u8) {
    let answered: Vec<(&Host, &HostFacts)> = targets
        .iter()
        .zip(gathered)
        .filter_map(|(h, f)| f.as_ref().ok().map(|f| (h, f)))
        .collect();
    let mut plans = plan::build(cx, phases, &answered);
    let mut code = exit::OK;
    if let Some(first) = plans.first_mut() {
        for (h, f) in targets.iter().zip(gathered) {
            if let Err(e) = f {
                code = exit::UNREACHABLE;
                first.hosts.push(HostPlan {
                    host: h.name.to_string(),
                    result: HostResult::Error {
                        error: PlanError::new(e.to_string(), e.hint()),
                    },
                });
            }
        }
        if phases.first().is_some_and(|p| p.gate()) {
            for c in cluster_checks(&answered).into_iter().filter(|c| c.level == Level::Fail) {
                first.hosts.push(HostPlan {
                    host: "(cluster)".into(),
                    result: HostResult::Error {
                        error: PlanError::new(format!("{}: {}", c.name, c.detail), c.hint.unwrap_or_default()),
                    },
                });
            }
        }
    }
    let gate_failed = plans
        .iter()
        .zip(phases)
        .any(|(p, ph)| ph.gate() && p.hosts.iter().any(|h| matches!(h.result, HostResult::Error { .. })));
    if code == exit::OK && gate_failed {
        code = exit::PREFLIGHT;
    }
    let counts = plan::count(&plans);
    if code == exit::OK && counts.failed > 0 {
        code = exit::FAILED;
    }
    (
        PlanReport {
            cluster: cx.inv.cluster.name.to_string(),
            phases: plans,
            counts,
        },
        code,
    )
}
