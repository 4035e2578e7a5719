//! `status`'s read-only queries and their parsers (pure): what the API says of its nodes, the
//! control-plane pods, the add-ons' workloads and its own readiness checks (one script on a
//! control plane, through admin.conf), and what etcd says of its members (on a stacked control
//! plane, or the first external member, over mTLS with the healthcheck client).

use serde::Serialize;

use crate::paths;
use crate::plan::etcd_access::Access;

const NODES: &str = "{range .items[*]}{.metadata.name}{\"\\t\"}{.status.addresses[?(@.type==\"InternalIP\")].address}\
{\"\\t\"}{.metadata.creationTimestamp}{\"\\n\"}{end}";
const PODS: &str = "{range .items[*]}{.metadata.name}{\"\\t\"}{.spec.nodeName}{\"\\t\"}{.status.phase}{\"\\t\"}\
{.status.containerStatuses[*].ready}{\"\\n\"}{end}";
const WORKLOADS: &str = "{range .items[*]}{.kind}{\"\\t\"}{.metadata.namespace}{\"\\t\"}{.metadata.name}{\"\\t\"}\
{.status.numberReady}{.status.readyReplicas}{\"\\t\"}{.status.desiredNumberScheduled}{.spec.replicas}{\"\\n\"}{end}";

/// The API part, one marked block per query; a query that fails leaves its block empty (its
/// error goes to stderr), so the others still say what they can.
pub fn api_script() -> String {
    let k = format!("KUBECONFIG={} kubectl --request-timeout=5s", paths::ADMIN_CONF);
    format!(
        "echo @@nodes; {k} get nodes -o jsonpath='{NODES}'\n\
         echo @@pods; {k} -n kube-system get pods -o jsonpath='{PODS}'\n\
         echo @@workloads; {k} get daemonsets,deployments -A -o jsonpath='{WORKLOADS}'\n\
         echo @@readyz; {k} get --raw='/readyz?verbose' 2>&1 | head -n 60\n\
         true\n"
    )
}

/// The etcd part: members, then each member's health as seen from here.
pub fn etcd_script(access: Access) -> String {
    format!(
        "{}\necho @@members; ectl member list\necho @@health; ectl endpoint health --cluster 2>&1\ntrue\n",
        access.prelude()
    )
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Node {
    pub name: String,
    pub internal_ip: String,
    /// RFC 3339, as the API prints it.
    pub created: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pod {
    pub name: String,
    pub node: String,
    pub phase: String,
    /// Every container reports ready.
    pub ready: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub ready: u32,
    pub desired: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Api {
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub workloads: Vec<Workload>,
    /// `/readyz?verbose`: the checks that failed (`[-]…`), and whether it passed as a whole.
    pub readyz_failed: Vec<String>,
    pub readyz_passed: bool,
}

/// The marked blocks: a line `@@name` starts one, up to the next such line.
fn blocks(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("@@") {
            cur = Some(name.trim().to_string());
            out.entry(name.trim().to_string()).or_insert_with(String::new);
        } else if let Some(c) = &cur {
            let b: &mut String = out.get_mut(c).expect("block started");
            b.push_str(line);
            b.push('\n');
        }
    }
    out
}

fn fields(line: &str) -> Vec<&str> {
    line.split('\t').collect()
}

pub fn parse_api(text: &str) -> Api {
    let b = blocks(text);
    let lines = |k: &str| {
        b.get(k)
            .map(String::as_str)
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim().is_empty())
    };
    let nodes = lines("nodes")
        .map(fields)
        .map(|f| Node {
            name: f[0].to_string(),
            internal_ip: f.get(1).unwrap_or(&"").to_string(),
            created: f.get(2).unwrap_or(&"").to_string(),
        })
        .collect();
    let pods = lines("pods")
        .map(fields)
        .map(|f| {
            let ready = f.get(3).unwrap_or(&"");
            Pod {
                name: f[0].to_string(),
                node: f.get(1).unwrap_or(&"").to_string(),
                phase: f.get(2).unwrap_or(&"").to_string(),
                ready: !ready.trim().is_empty() && ready.split(' ').all(|r| r == "true"),
            }
        })
        .collect();
    let workloads = lines("workloads")
        .map(fields)
        .filter(|f| f.len() >= 5)
        .map(|f| Workload {
            kind: f[0].to_string(),
            namespace: f[1].to_string(),
            name: f[2].to_string(),
            ready: f[3].trim().parse().unwrap_or(0),
            desired: f[4].trim().parse().unwrap_or(0),
        })
        .collect();
    let readyz: Vec<&str> = lines("readyz").collect();
    Api {
        nodes,
        pods,
        workloads,
        readyz_failed: readyz
            .iter()
            .filter_map(|l| l.trim().strip_prefix("[-]"))
            .map(|l| l.split_whitespace().next().unwrap_or(l).to_string())
            .collect(),
        readyz_passed: readyz.iter().any(|l| l.trim() == "readyz check passed"),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Member {
    pub name: String,
    pub client_url: String,
    pub learner: bool,
    /// From `endpoint health --cluster`: `None` when the member's URL was not in its answer.
    pub healthy: Option<bool>,
}

/// `member list` (`id, started, name, peer URLs, client URLs, is learner`) joined with
/// `endpoint health --cluster` (`URL is healthy: …` / `URL is unhealthy: …`).
pub fn parse_etcd(text: &str) -> Vec<Member> {
    let b = blocks(text);
    let health = b.get("health").map(String::as_str).unwrap_or("");
    b.get("members")
        .map(String::as_str)
        .unwrap_or("")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(", ").map(str::trim).collect();
            let [_, _, name, _, client, rest @ ..] = f.as_slice() else {
                return None;
            };
            let client = client.split(',').next().unwrap_or(client).to_string();
            let said = health.lines().find(|h| h.starts_with(&format!("{client} ")));
            Some(Member {
                name: name.to_string(),
                learner: rest.first() == Some(&"true"),
                healthy: said.map(|h| h.contains(" is healthy")),
                client_url: client,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_members_and_health() {
        let text = "@@members\n8e9e05c52164694d, started, cp-1, https://10.0.0.1:2380, https://10.0.0.1:2379, false\n\
                    2d0f1a5c0f3f9a7e, started, cp-2, https://10.0.0.2:2380, https://10.0.0.2:2379, false\n\
                    @@health\nhttps://10.0.0.1:2379 is healthy: successfully committed proposal: took = 1.9ms\n\
                    https://10.0.0.2:2379 is unhealthy: failed to commit proposal: context deadline exceeded\n";
        let m = parse_etcd(text);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].name.as_str(), m[0].healthy), ("cp-1", Some(true)));
        assert_eq!(
            (m[1].client_url.as_str(), m[1].healthy),
            ("https://10.0.0.2:2379", Some(false))
        );
    }

    #[test]
    fn a_failed_query_leaves_only_its_block_empty() {
        let text = "@@nodes\n@@pods\netcd-cp-1\tcp-1\tRunning\ttrue\n@@workloads\n@@readyz\n[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n";
        let a = parse_api(text);
        assert!(a.nodes.is_empty());
        assert_eq!(a.pods.len(), 1);
        assert!(a.pods[0].ready);
        assert_eq!(a.readyz_failed, vec!["etcd"]);
        assert!(!a.readyz_passed);
    }
}
