//! `leave-cluster`: before any host is reset, the API forgets the leaving nodes, workers first and
//! control planes last, asked from the control plane that stays ([`super::api_host`]). Planned
//! from that host's view of the cluster: a Node the API does not list is not deleted, and when
//! the API does not answer the reset goes on without it (and says so).

use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::paths;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct Leave;

impl Phase for Leave {
    fn name(&self) -> &'static str {
        "leave-cluster"
    }

    fn applies(&self, cx: &Context, host: &Host) -> bool {
        !cx.reset.hosts.is_empty() && super::api_host(cx).is_some_and(|a| a.name == host.name)
    }

    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        let Some(cluster) = &hf.facts.state.cluster else {
            hs.unchanged(
                "Nodes in the API",
                "the API does not answer here (or was never set up): nothing to delete from it",
            );
            return Ok(hs);
        };
        let leaving = |cp: bool| {
            cx.inv
                .hosts
                .iter()
                .filter(move |h| cx.reset.resets(h) && h.is_node() && h.has(Role::ControlPlane) == cp)
        };
        for h in leaving(false).chain(leaving(true)) {
            let name = h.name.as_str();
            if cluster.nodes.iter().any(|n| n == name) {
                hs.change(
                    Step::script(
                        &format!("delete-node-{name}"),
                        format!("delete Node {name} from the API"),
                        format!(
                            "kubectl --kubeconfig={} --request-timeout=30s delete node {name} --wait=true --timeout=60s",
                            paths::ADMIN_CONF
                        ),
                    )
                    .with_hint("the host is reset anyway; delete the Node later with `kubectl delete node`"),
                );
            } else {
                hs.unchanged(format!("Node {name}"), "not listed by the API");
            }
        }
        Ok(hs)
    }
}
