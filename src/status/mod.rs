//! `status`, the pure part: the running cluster at a glance, made of what the hosts and the API
//! answered (facts, the live queries of [`live`], the certificate rows of `pki status`, and the
//! plan's counts), and its text. Everything that is not as it should be becomes a problem line;
//! the command's exit code follows from them.

pub mod live;

use serde::Serialize;

use crate::facts::state::ClusterState;
use crate::inventory::{ApiMode, EtcdTopology, Inventory, Role};
use crate::pki::status::{bad, Row};
use crate::plan::Counts;
use crate::report::table;

pub use live::{Api, Member};

#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
    pub name: String,
    /// `Ready`, `NotReady`, `Unknown`; `,SchedulingDisabled` when cordoned.
    pub status: String,
    pub roles: String,
    pub version: String,
    pub internal_ip: String,
    pub age: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentRow {
    pub host: String,
    /// Component → `ready`, `not ready` or `missing` (no pod on this host).
    pub components: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddonRow {
    pub name: String,
    pub object: String,
    pub ready: u32,
    pub desired: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Certificates {
    pub count: usize,
    pub attention: usize,
    /// The certificate that expires first: host, file, days left.
    pub first: Option<(String, String, i64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub cluster: String,
    pub version: String,
    /// The control plane whose API answered, if one did.
    pub api_from: Option<String>,
    pub nodes: Vec<NodeRow>,
    pub components: Vec<ComponentRow>,
    pub readyz_failed: Vec<String>,
    pub etcd: Vec<Member>,
    pub addons: Vec<AddonRow>,
    pub certificates: Certificates,
    /// What `plan` would do now.
    pub plan: Counts,
    pub unreachable: Vec<String>,
    pub problems: Vec<String>,
}

/// What `status` was given.
pub struct Inputs<'a> {
    pub inv: &'a Inventory,
    pub state: Option<&'a ClusterState>,
    pub api_from: Option<String>,
    pub api: Option<Api>,
    pub etcd: Option<Vec<Member>>,
    pub certs: &'a [Row],
    pub plan: Counts,
    pub unreachable: Vec<String>,
    /// Unix seconds, for the nodes' ages.
    pub now: i64,
}

const COMPONENTS: [&str; 4] = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"];

pub fn build(i: Inputs) -> Status {
    let inv = i.inv;
    let api = i.api.unwrap_or_default();
    let mut problems = vec![];
    if i.state.is_none() || i.api_from.is_none() {
        problems.push(
            "the API did not answer on any control plane (is the cluster up? `groundup plan` says what is missing)"
                .into(),
        );
    }
    let mut nodes = vec![];
    if let Some(st) = i.state {
        for name in &st.nodes {
            let info = st.node_info.get(name).cloned().unwrap_or_default();
            let live = api.nodes.iter().find(|n| &n.name == name);
            let mut status = match info.ready {
                Some(true) => "Ready".to_string(),
                Some(false) => "NotReady".into(),
                None => "Unknown".into(),
            };
            if info.ready != Some(true) {
                problems.push(format!("node {name} is {status}"));
            }
            if info.unschedulable {
                status.push_str(",SchedulingDisabled");
                problems.push(format!(
                    "node {name} is cordoned (`kubectl uncordon {name}` when it should take pods again)"
                ));
            }
            if inv.host(name).is_none() {
                problems.push(format!("node {name} is not in the inventory"));
            }
            nodes.push(NodeRow {
                name: name.clone(),
                status,
                roles: if st.control_planes.contains(name) {
                    "control-plane"
                } else {
                    "worker"
                }
                .into(),
                version: if info.kubelet_version.is_empty() {
                    "-".into()
                } else {
                    format!("v{}", info.kubelet_version)
                },
                internal_ip: live
                    .map(|n| n.internal_ip.clone())
                    .filter(|s| !s.is_empty())
                    .unwrap_or("-".into()),
                age: live.map(|n| age(&n.created, i.now)).unwrap_or("-".into()),
            });
        }
        for h in inv.hosts.iter().filter(|h| h.is_node()) {
            if !st.nodes.iter().any(|n| n == h.name.as_str()) {
                problems.push(format!(
                    "{} is in the inventory but not a node (`groundup apply` joins it)",
                    h.name
                ));
            }
        }
    }
    let mut wanted: Vec<&str> = COMPONENTS.to_vec();
    if inv.cluster.etcd == EtcdTopology::External {
        wanted.pop();
    }
    if matches!(inv.cluster.api, ApiMode::Vip { .. }) {
        wanted.push("kube-vip");
    }
    let mut components = vec![];
    if i.api_from.is_some() {
        for h in inv.with_role(Role::ControlPlane) {
            let row: Vec<(String, String)> = wanted
                .iter()
                .map(|c| {
                    let pod = api.pods.iter().find(|p| p.name == format!("{c}-{}", h.name));
                    let s = match pod {
                        Some(p) if p.ready => "ready",
                        Some(_) => "not ready",
                        None => "missing",
                    };
                    if s != "ready" {
                        problems.push(format!("{c} on {} is {s}", h.name));
                    }
                    (c.to_string(), s.to_string())
                })
                .collect();
            components.push(ComponentRow {
                host: h.name.to_string(),
                components: row,
            });
        }
        for f in &api.readyz_failed {
            problems.push(format!("the API server's readiness check `{f}` fails"));
        }
    }
    let etcd = i.etcd.unwrap_or_default();
    for m in &etcd {
        match m.healthy {
            Some(true) if !m.learner => {}
            Some(true) => problems.push(format!(
                "etcd member {} is a learner (a join that did not finish)",
                m.name
            )),
            _ => problems.push(format!("etcd member {} ({}) is not healthy", m.name, m.client_url)),
        }
    }
    let addons = addons(&api, i.api_from.is_some(), &mut problems);
    let certificates = Certificates {
        count: i.certs.len(),
        attention: i.certs.iter().filter(|r| bad(r)).count(),
        first: i
            .certs
            .iter()
            .filter(|r| r.not_after != 0)
            .min_by_key(|r| r.not_after)
            .map(|r| (r.host.clone(), r.file.clone(), r.days_left)),
    };
    if certificates.attention > 0 {
        problems.push(format!(
            "{} certificate(s) or placed file(s) need attention (`groundup pki status` lists them)",
            certificates.attention
        ));
    }
    if i.plan.failed > 0 {
        problems.push(format!(
            "the plan has {} error(s) (`groundup plan` shows them)",
            i.plan.failed
        ));
    }
    for u in &i.unreachable {
        problems.push(format!("{u}: unreachable"));
    }
    Status {
        cluster: inv.cluster.name.to_string(),
        version: inv.cluster.kubernetes_version.to_string(),
        api_from: i.api_from,
        nodes,
        components,
        readyz_failed: api.readyz_failed.clone(),
        etcd,
        addons,
        certificates,
        plan: i.plan,
        unreachable: i.unreachable,
        problems,
    }
}

/// The add-ons groundup installs, as their workloads report.
fn addons(api: &Api, answered: bool, problems: &mut Vec<String>) -> Vec<AddonRow> {
    let known = [
        ("flannel", "DaemonSet", "kube-flannel", "kube-flannel-ds"),
        ("kube-proxy", "DaemonSet", "kube-system", "kube-proxy"),
        ("CoreDNS", "Deployment", "kube-system", "coredns"),
    ];
    let mut rows = vec![];
    if !answered {
        return rows;
    }
    for (name, kind, ns, obj) in known {
        let w = api
            .workloads
            .iter()
            .find(|w| w.kind == kind && w.namespace == ns && w.name == obj);
        let (ready, desired) = w.map(|w| (w.ready, w.desired)).unwrap_or((0, 0));
        if w.is_none() {
            problems.push(format!("{name} is not installed ({kind} {ns}/{obj} missing)"));
        } else if ready < desired || desired == 0 {
            problems.push(format!("{name}: {ready}/{desired} ready"));
        }
        rows.push(AddonRow {
            name: name.into(),
            object: format!("{kind} {ns}/{obj}"),
            ready,
            desired,
        });
    }
    rows
}

/// kubectl's way: the largest unit, `45s`, `12m`, `5h`, `3d`.
pub fn age(created: &str, now: i64) -> String {
    let Ok(t) = time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339) else {
        return "-".into();
    };
    let s = (now - t.unix_timestamp()).max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

pub fn text(s: &Status) -> String {
    let mut out = format!(
        "cluster {} (inventory: v{}); API {}\n\n",
        s.cluster,
        s.version,
        s.api_from
            .as_deref()
            .map(|h| format!("answered on {h}"))
            .unwrap_or("did not answer".into())
    );
    let nodes: Vec<Vec<String>> = s
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.name.clone(),
                n.status.clone(),
                n.roles.clone(),
                n.version.clone(),
                n.internal_ip.clone(),
                n.age.clone(),
            ]
        })
        .collect();
    if !nodes.is_empty() {
        out.push_str(&table::render(
            &["NODE", "STATUS", "ROLES", "VERSION", "INTERNAL-IP", "AGE"],
            &nodes,
        ));
        out.push('\n');
    }
    if let Some(first) = s.components.first() {
        let mut head = vec!["CONTROL PLANE".to_string()];
        head.extend(first.components.iter().map(|(c, _)| c.to_uppercase()));
        let head: Vec<&str> = head.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = s
            .components
            .iter()
            .map(|r| {
                std::iter::once(r.host.clone())
                    .chain(r.components.iter().map(|(_, v)| v.clone()))
                    .collect()
            })
            .collect();
        out.push_str(&table::render(&head, &rows));
        out.push('\n');
    }
    if !s.etcd.is_empty() {
        let rows: Vec<Vec<String>> = s
            .etcd
            .iter()
            .map(|m| {
                let health = match m.healthy {
                    Some(true) => "healthy",
                    Some(false) => "UNHEALTHY",
                    None => "no answer",
                };
                vec![
                    m.name.clone(),
                    m.client_url.clone(),
                    if m.learner { "learner" } else { "voter" }.into(),
                    health.into(),
                ]
            })
            .collect();
        out.push_str(&table::render(&["ETCD MEMBER", "CLIENT URL", "KIND", "HEALTH"], &rows));
        out.push('\n');
    }
    if !s.addons.is_empty() {
        let rows: Vec<Vec<String>> = s
            .addons
            .iter()
            .map(|a| vec![a.name.clone(), a.object.clone(), format!("{}/{}", a.ready, a.desired)])
            .collect();
        out.push_str(&table::render(&["ADD-ON", "OBJECT", "READY"], &rows));
        out.push('\n');
    }
    let c = &s.certificates;
    out.push_str(&match &c.first {
        Some((h, f, d)) => format!(
            "certificates: {} on the hosts, {} need attention; the first to expire: {f} on {h}, in {d} days\n",
            c.count, c.attention
        ),
        None => format!("certificates: {} read, {} need attention\n", c.count, c.attention),
    });
    out.push_str(&format!(
        "plan: {} step(s) to change, {} unchanged, {} error(s){}\n",
        s.plan.changed,
        s.plan.unchanged,
        s.plan.failed,
        if s.plan.changed > 0 {
            " (`groundup plan` shows them, `groundup apply` runs them)"
        } else {
            ""
        }
    ));
    for p in &s.problems {
        out.push_str(&format!("  - {p}\n"));
    }
    // The last line says it all (a class prints it per cluster).
    out.push_str(&match s.problems.len() {
        0 => format!("{}: all well\n", s.cluster),
        n => format!("{}: {n} problem(s), listed above\n", s.cluster),
    });
    out
}
