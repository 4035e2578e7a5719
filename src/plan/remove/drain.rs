//! `drain`: each leaving node the API lists is cordoned, then drained with the eviction API
//! (PodDisruptionBudgets honoured; DaemonSet pods stay, emptyDir data goes) within the drain
//! timeout. When a pod will not go, the step fails with kubectl's lines naming it, the node stays
//! cordoned, and nothing later runs: never a half-deleted node.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::paths;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct Drain;

/// Cordons and drains `name` with kubectl `k` (admin.conf), evicting within `timeout` seconds;
/// fails naming the pods still on the node (DaemonSet and static pods stay). Also `upgrade`'s.
pub fn script(k: &str, name: &str, timeout: u64) -> String {
    format!(
        "{k} cordon {name}\n\
         {k} drain {name} --ignore-daemonsets --delete-emptydir-data --timeout={timeout}s 2>&1 | \
         grep -E 'evict|error|Cannot|pod' >&2 || true\n\
         # What counts is what is left on the node (DaemonSet and static pods stay).\n\
         left=$({k} get pods -A --field-selector spec.nodeName={name} -o jsonpath='{{range .items[*]}}{{.metadata.namespace}}/{{.metadata.name}} {{.metadata.ownerReferences[0].kind}}{{\"\\n\"}}{{end}}' \
         | awk '$2 != \"DaemonSet\" && $2 != \"Node\" {{printf \"%s \", $1}}')\n\
         if [ -n \"$left\" ]; then echo \"pods still on {name}: $left\" >&2; exit 1; fi"
    )
}

impl Phase for Drain {
    fn name(&self) -> &'static str {
        "drain"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        crate::plan::reset::Leave.applies(cx, host)
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        let Some(cluster) = &hf.facts.state.cluster else {
            hs.unchanged(
                "drain",
                "the API does not answer here: nothing to drain (the hosts are reset anyway)",
            );
            return Ok(hs);
        };
        let k = format!("kubectl --kubeconfig={} --request-timeout=30s", paths::ADMIN_CONF);
        for h in cx.inv.hosts.iter().filter(|h| cx.reset.resets(h)) {
            let name = h.name.as_str();
            if !cluster.nodes.iter().any(|n| n == name) {
                hs.unchanged(format!("Node {name}"), "not listed by the API: nothing to drain");
                continue;
            }
            if cx.reset.gone.contains(name) {
                // Its kubelet cannot end a pod: an eviction would wait out the timeout. Deleting
                // the Node (next phase) lets the controllers start its pods elsewhere.
                hs.unchanged(
                    format!("Node {name}"),
                    "unreachable: its pods move when its Node is deleted",
                );
                continue;
            }
            hs.change(
                Step::script(
                    &format!("drain-{name}"),
                    format!("cordon and drain {name} (PodDisruptionBudgets honoured, {} s at most)", cx.reset.drain_timeout),
                    script(&k, name, cx.reset.drain_timeout),
                )
                .with_hint(format!(
                    "{name} stays cordoned and in the cluster: move or delete the pod named above (its PodDisruptionBudget \
                     allows no eviction), then `groundup remove` again; `kubectl uncordon {name}` to keep it"
                )),
            );
        }
        Ok(hs)
    }
}
