//! "Done means checked": after the last phase, the first control plane is asked (read-only,
//! `kubectl` with admin.conf) until every node of the inventory is Ready and the flannel and
//! CoreDNS pods run, or the time is up. Nothing here changes a host, so it is not a planned step
//! and a second apply still changes nothing. Parsing and the verdict are pure.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::exec::{Request, Transport};
use crate::inventory::{Host, Inventory, Role};

/// The read-only probe: nodes, flannel pods, CoreDNS pods, as kubectl's JSON.
pub const PROBE: &str = "export KUBECONFIG=/etc/kubernetes/admin.conf\n\
echo '@@nodes'; kubectl get nodes -o json --request-timeout=10s\n\
echo '@@flannel'; kubectl -n kube-flannel get pods -l app=flannel -o json --request-timeout=10s\n\
echo '@@coredns'; kubectl -n kube-system get pods -l k8s-app=kube-dns -o json --request-timeout=10s\n";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeRow {
    pub name: String,
    pub ready: bool,
    pub roles: String,
    pub version: String,
    pub internal_ip: String,
}

/// What one probe saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Probe {
    pub nodes: Vec<NodeRow>,
    /// (running and ready, total)
    pub flannel: (usize, usize),
    pub coredns: (usize, usize),
}

/// The outcome of the wait, for the summary and `-o json`.
#[derive(Debug, Clone, Serialize)]
pub struct Ready {
    pub ok: bool,
    pub probe: Probe,
    /// What was still missing when the time was up (empty when ok).
    pub missing: Vec<String>,
    pub waited_secs: u64,
    /// The host that answered (the first control plane).
    pub asked: String,
}

fn section<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    let mark = format!("@@{name}\n");
    let rest = &out[out.find(&mark)? + mark.len()..];
    Some(rest.find("\n@@").map_or(rest, |i| &rest[..i]))
}

fn pods(v: &Value) -> (usize, usize) {
    let items = v["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    let ok = items
        .iter()
        .filter(|p| {
            p["status"]["phase"].as_str() == Some("Running")
                && p["status"]["containerStatuses"]
                    .as_array()
                    .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c["ready"].as_bool() == Some(true)))
        })
        .count();
    (ok, items.len())
}

/// Parses the probe's output; a section kubectl could not produce reads as empty.
pub fn parse(out: &str) -> Probe {
    let json = |name| section(out, name).and_then(|s| serde_json::from_str::<Value>(s).ok());
    let mut nodes: Vec<NodeRow> = json("nodes")
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|n| {
            let labels = n["metadata"]["labels"].as_object();
            let mut roles: Vec<&str> = labels
                .map(|l| {
                    l.keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .collect()
                })
                .unwrap_or_default();
            roles.sort();
            let cond = |t: &str| {
                n["status"]["conditions"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["type"].as_str() == Some(t)))
                    .and_then(|c| c["status"].as_str())
                    == Some("True")
            };
            NodeRow {
                name: n["metadata"]["name"].as_str().unwrap_or("?").to_string(),
                ready: cond("Ready"),
                roles: if roles.is_empty() {
                    "<none>".into()
                } else {
                    roles.join(",")
                },
                version: n["status"]["nodeInfo"]["kubeletVersion"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                internal_ip: n["status"]["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["type"].as_str() == Some("InternalIP")))
                    .and_then(|x| x["address"].as_str())
                    .unwrap_or("")
                    .to_string(),
            }
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Probe {
        nodes,
        flannel: json("flannel").map(|v| pods(&v)).unwrap_or_default(),
        coredns: json("coredns").map(|v| pods(&v)).unwrap_or_default(),
    }
}

/// What is still missing for `inv` to count as up: every node Ready, one running flannel pod per
/// node, CoreDNS running. Empty means done.
pub fn missing(inv: &Inventory, p: &Probe) -> Vec<String> {
    let mut out = Vec::new();
    let want: Vec<&Host> = inv.hosts.iter().filter(|h| h.is_node()).collect();
    for h in &want {
        match p.nodes.iter().find(|n| n.name == h.name.as_str()) {
            None => out.push(format!("node {} is not registered", h.name)),
            Some(n) if !n.ready => out.push(format!("node {} is not Ready", h.name)),
            Some(_) => {}
        }
    }
    if p.flannel.0 < want.len() {
        out.push(format!("flannel pods running: {} of {}", p.flannel.0, want.len()));
    }
    if p.coredns.1 == 0 || p.coredns.0 < p.coredns.1 {
        out.push(format!(
            "CoreDNS pods running: {} of {}",
            p.coredns.0,
            p.coredns.1.max(1)
        ));
    }
    out
}

/// Asks the first control plane every `every` until the cluster is up or `timeout` has passed.
pub async fn wait<T: Transport>(t: &T, inv: &Inventory, timeout: Duration, every: Duration) -> Option<Ready> {
    let first = inv.with_role(Role::ControlPlane).next()?;
    let t0 = Instant::now();
    loop {
        let probe = match t
            .run(first, &Request::script("wait for the nodes to be Ready", PROBE))
            .await
        {
            Ok(o) => parse(&o.stdout),
            Err(_) => Probe::default(),
        };
        let miss = missing(inv, &probe);
        if miss.is_empty() || t0.elapsed() >= timeout {
            return Some(Ready {
                ok: miss.is_empty(),
                probe,
                missing: miss,
                waited_secs: t0.elapsed().as_secs(),
                asked: first.name.to_string(),
            });
        }
        tokio::time::sleep(every).await;
    }
}

/// The node table, as `kubectl get nodes -o wide` would start it.
pub fn table(p: &Probe) -> String {
    let w = p.nodes.iter().map(|n| n.name.len()).max().unwrap_or(4).max(4);
    let r = p.nodes.iter().map(|n| n.roles.len()).max().unwrap_or(5).max(5);
    let mut s = format!(
        "{:w$}  {:8}  {:r$}  {:8}  INTERNAL-IP\n",
        "NAME", "STATUS", "ROLES", "VERSION"
    );
    for n in &p.nodes {
        s.push_str(&format!(
            "{:w$}  {:8}  {:r$}  {:8}  {}\n",
            n.name,
            if n.ready { "Ready" } else { "NotReady" },
            n.roles,
            n.version,
            n.internal_ip
        ));
    }
    s
}
