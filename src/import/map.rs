//! From an Ansible inventory ([`super::ansible`]) to a groundup inventory's TOML text: groups to
//! roles (defaults for the FIWARE playbooks', Kubespray's and the usual names; `--map
//! group=role` first), connection variables to `[ssh]` (when every host agrees) or to the host,
//! and a comment on every line it could not map, naming where the value came from. Pure.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::ansible::Ansible;

/// What `groundup import ansible` was told besides the file.
#[derive(Debug, Clone)]
pub struct Options {
    /// The file's name, for the header and messages.
    pub source: String,
    pub cluster: String,
    pub kubernetes_version: String,
    /// `group=role` pairs given on the command line (role: control-plane, etcd, worker, none).
    pub map: Vec<(String, String)>,
}

/// The role a group means to groundup, if any: `--map` first, then the names the FIWARE Lab
/// playbooks (`kubernetes-master-nodes`, `kubernetes-worker-nodes`), Kubespray
/// (`kube_control_plane`, `kube-master`, `etcd`, `kube_node`) and most hand-written inventories use.
pub fn role_of(group: &str, map: &[(String, String)]) -> Option<String> {
    if let Some((_, r)) = map.iter().find(|(g, _)| g == group) {
        return (r != "none").then(|| r.clone());
    }
    let g = group.to_ascii_lowercase().replace('-', "_");
    if g.contains("master") || g.contains("control_plane") || g == "controllers" || g == "controlplane" {
        Some("control-plane".into())
    } else if g == "etcd" || g == "etcd_nodes" {
        Some("etcd".into())
    } else if g.contains("worker") || g == "kube_node" || g == "nodes" {
        Some("worker".into())
    } else {
        None
    }
}

/// Variables that are the connection, by their Ansible names.
const USER: [&str; 2] = ["ansible_user", "ansible_ssh_user"];
const PORT: [&str; 2] = ["ansible_port", "ansible_ssh_port"];
const KEY: [&str; 1] = ["ansible_ssh_private_key_file"];
const BECOME: [&str; 2] = ["ansible_become", "ansible_sudo"];
const ADDRESS: [&str; 2] = ["ansible_host", "ansible_ssh_host"];
/// The private address other nodes reach (Kubespray's `ip`, `access_ip`; the usual `private_ip`).
const INTERNAL: [&str; 4] = ["ip", "private_ip", "access_ip", "internal_ip"];
/// Where an inventory pins the Kubernetes version.
const VERSION: [&str; 3] = ["kube_version", "k8s_version", "kubernetes_version"];

fn pick<'a>(vars: &'a BTreeMap<String, (String, String)>, names: &[&str]) -> Option<(&'a str, &'a (String, String))> {
    names
        .iter()
        .find_map(|n| vars.get_key_value(*n).map(|(k, v)| (k.as_str(), v)))
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "1" | "on")
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The TOML text, or why no inventory can be made (no host with a role).
pub fn to_toml(a: &Ansible, o: &Options) -> Result<String, String> {
    struct H {
        name: String,
        roles: Vec<String>,
        vars: BTreeMap<String, (String, String)>,
        groups: Vec<String>,
    }
    let mut hosts = Vec::new();
    let mut skipped = Vec::new();
    for (name, _) in &a.hosts {
        let groups: Vec<String> = a.groups_of(name).into_iter().map(String::from).collect();
        let mut roles: Vec<String> = Vec::new();
        for r in ["control-plane", "etcd", "worker"] {
            if groups.iter().any(|g| role_of(g, &o.map).as_deref() == Some(r)) {
                roles.push(r.into());
            }
        }
        if roles.is_empty() {
            skipped.push(format!(
                "{name} (groups: {})",
                if groups.is_empty() {
                    "none".into()
                } else {
                    groups.join(", ")
                }
            ));
            continue;
        }
        hosts.push(H {
            name: name.clone(),
            vars: a.vars_of(name),
            roles,
            groups,
        });
    }
    if hosts.is_empty() {
        return Err(format!(
            "{}: no host is in a group that maps to a role (control-plane, etcd, worker)\n  \
             hint: name the groups with `--map GROUP=control-plane` (and `=worker`, `=etcd`)",
            o.source
        ));
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Made by `groundup import ansible {}`. Review it, then `groundup check -i <this file>`.",
        o.source
    );
    let _ = writeln!(
        t,
        "# Lines starting `# not mapped:` hold what groundup has no place for.\n"
    );
    let _ = writeln!(t, "[cluster]\nname = {}", quote(&o.cluster));
    let versions: Vec<&(String, String)> = hosts
        .iter()
        .filter_map(|h| pick(&h.vars, &VERSION).map(|(_, v)| v))
        .collect();
    match versions.first() {
        Some((v, from)) => {
            let v = v.trim_start_matches('v').split('-').next().unwrap_or(v).to_string();
            let _ = writeln!(t, "kubernetes_version = {}  # from {from}", quote(&v));
        }
        None => {
            let _ = writeln!(
                t,
                "kubernetes_version = {}  # pinned, never \"latest\": change it to the one you want",
                quote(&o.kubernetes_version)
            );
        }
    }
    let _ = writeln!(
        t,
        "pod_subnet = \"10.244.0.0/16\"  # flannel's default\nservice_subnet = \"10.96.0.0/12\"\n"
    );
    let control_planes = hosts
        .iter()
        .filter(|h| h.roles.iter().any(|r| r == "control-plane"))
        .count();
    if control_planes > 1 {
        let _ = writeln!(
            t,
            "[api]\nmode = \"local-lb\"  # {control_planes} control planes: haproxy on every node (as Kubespray's local load balancer); \
             or mode = \"vip\" with a free address\n"
        );
    }

    // A connection setting every host shares goes to [ssh]; the others stay on their host.
    let shared = |names: &[&str]| -> Option<(String, String)> {
        let first = pick(&hosts[0].vars, names).map(|(_, v)| v.clone())?;
        hosts
            .iter()
            .all(|h| pick(&h.vars, names).map(|(_, v)| &v.0) == Some(&first.0))
            .then_some(first)
    };
    let ssh: Vec<(&str, &[&str], bool)> = vec![
        ("user", &USER, false),
        ("port", &PORT, true),
        ("identity_file", &KEY, false),
    ];
    let mut in_ssh: Vec<&[&str]> = Vec::new();
    let mut ssh_lines = Vec::new();
    for (key, names, number) in &ssh {
        if let Some((v, from)) = shared(names) {
            let value = if *number { v.clone() } else { quote(&v) };
            ssh_lines.push(format!("{key} = {value}  # from {from}"));
            in_ssh.push(names);
        }
    }
    if let Some((v, from)) = shared(&BECOME) {
        ssh_lines.push(format!("sudo = {}  # from {from}", truthy(&v)));
        in_ssh.push(&BECOME);
    }
    if !ssh_lines.is_empty() {
        let _ = writeln!(t, "[ssh]\n{}\n", ssh_lines.join("\n"));
    }

    let used: Vec<&str> = USER
        .iter()
        .chain(&PORT)
        .chain(&KEY)
        .chain(&BECOME)
        .chain(&ADDRESS)
        .chain(&INTERNAL)
        .chain(&VERSION)
        .copied()
        .collect();
    let mut unmapped_shared: BTreeMap<String, String> = BTreeMap::new();
    for h in &hosts {
        let _ = writeln!(t, "[[hosts]]\nname = {}", quote(&h.name));
        match pick(&h.vars, &ADDRESS) {
            Some((_, (v, _))) => {
                let _ = writeln!(t, "address = {}", quote(v));
            }
            None => {
                let _ = writeln!(
                    t,
                    "address = {}  # no ansible_host: the name is the address",
                    quote(&h.name)
                );
            }
        }
        if let Some((k, (v, _))) = pick(&h.vars, &INTERNAL) {
            let _ = writeln!(t, "internal_address = {}  # from {k}", quote(v));
        }
        let roles: Vec<String> = h.roles.iter().map(|r| quote(r)).collect();
        let _ = writeln!(t, "roles = [{}]  # groups: {}", roles.join(", "), h.groups.join(", "));
        for (key, names, number) in &ssh {
            if in_ssh.contains(names) {
                continue;
            }
            if let Some((_, (v, _))) = pick(&h.vars, names) {
                let value = if *number { v.clone() } else { quote(v) };
                let _ = writeln!(t, "{key} = {value}");
            }
        }
        if !in_ssh.contains(&&BECOME[..]) {
            if let Some((_, (v, _))) = pick(&h.vars, &BECOME) {
                let _ = writeln!(t, "sudo = {}", truthy(v));
            }
        }
        for (k, (v, from)) in &h.vars {
            if used.contains(&k.as_str()) {
                continue;
            }
            if from.starts_with('[') {
                unmapped_shared.insert(format!("{k}={v}"), format!("{from}, {}", why(k)));
            } else {
                let _ = writeln!(t, "# not mapped: {k}={v} ({})", why(k));
            }
        }
        t.push('\n');
    }
    for (kv, why) in &unmapped_shared {
        let _ = writeln!(t, "# not mapped: {kv} ({why})");
    }
    for s in &skipped {
        let _ = writeln!(
            t,
            "# not mapped: host {s}: no group maps to a role (`--map GROUP=worker` to take it)"
        );
    }
    Ok(t)
}

/// Why a variable has no place in groundup.
fn why(k: &str) -> &'static str {
    match k {
        "ansible_ssh_common_args" | "ansible_ssh_extra_args" => {
            "groundup reads ~/.ssh/config and checks host keys strictly; `--accept-new-host-keys` on first contact"
        }
        "ansible_python_interpreter" => "groundup needs no Python on the hosts",
        "ansible_ssh_pass" | "ansible_password" | "ansible_become_pass" => {
            "groundup never stores passwords: use an SSH key and an agent, and passwordless sudo"
        }
        "etcd_member_name" => "groundup names etcd members after their host",
        _ => "no groundup setting",
    }
}
