//! Phase `preflight`: the `check` logic as a gate. Nothing is changed on any host when a check
//! fails here (exit code 4); warnings are carried into the plan.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::plan::{Context, HostSteps, Phase, PlanError};
use crate::preflight::{host_checks, Level};

pub struct Preflight;

impl Phase for Preflight {
    fn name(&self) -> &'static str {
        "preflight"
    }
    fn gate(&self) -> bool {
        true
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let checks = host_checks(cx.inv, host, hf);
        let fails: Vec<_> = checks.iter().filter(|c| c.level == Level::Fail).collect();
        if !fails.is_empty() {
            return Err(PlanError::new(
                fails
                    .iter()
                    .map(|c| format!("{}: {}", c.name, c.detail))
                    .collect::<Vec<_>>()
                    .join("; "),
                fails
                    .iter()
                    .filter_map(|c| c.hint.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        let mut hs = HostSteps::default();
        for c in checks {
            if c.level == Level::Warn {
                hs.warn(format!("{}: {}", c.name, c.detail));
            }
            hs.unchanged(format!("check {}", c.name), c.detail);
        }
        Ok(hs)
    }
}
