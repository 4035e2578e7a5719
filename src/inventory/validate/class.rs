//! Class files (issue 13): one file, many clusters. A file with a `[class]` table holds the
//! tables an inventory has (`[cluster]` without its name, `[ssh]`, `[container_runtime]`, …),
//! shared by every cluster, and the clusters either listed (`[[clusters]]`, each with a `name`,
//! its `[[clusters.hosts]]` and any table of its own, which replaces the shared one; keys of
//! `[clusters.cluster]` override `[cluster]`'s one by one) or generated (`[class.generate]`: a
//! list of hosts cut into clusters of `per_cluster`, the first of each the control plane, named
//! `<prefix>-01`, `<prefix>-02`…; hosts `<cluster>-cp`, `<cluster>-w1`…). Each cluster is checked
//! as its own inventory, with every span still pointing into the class file.

use std::path::Path;
use std::sync::OnceLock;

use toml::Spanned;

use super::super::raw::*;
use super::super::{Inventory, InventoryError};
use super::{finish, toml_hint, Ctx};

/// The clusters `--cluster` (or `GROUNDUP_CLUSTER`) names, comma-separated; set once by `main`.
static SELECTED: OnceLock<Vec<String>> = OnceLock::new();

pub fn select(names: Option<&str>) {
    let v = names
        .map(|n| {
            n.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let _ = SELECTED.set(v);
}

pub fn selection() -> &'static [String] {
    SELECTED.get().map(Vec::as_slice).unwrap_or(&[])
}

/// A class file has a top-level `[class]` table.
pub fn is_class(text: &str) -> bool {
    text.parse::<toml::Table>().is_ok_and(|t| t.contains_key("class"))
}

/// A class as the runner needs it: every cluster already checked.
pub struct Class {
    pub name: String,
    /// How many clusters run at once (`[class] clusters_at_once`, default 4).
    pub clusters_at_once: usize,
    pub clusters: Vec<Inventory>,
}

fn parse(cx: &mut Ctx) -> Option<RawClass> {
    match toml::from_str::<RawClass>(&cx.text.clone()) {
        Ok(r) => Some(r),
        Err(e) => {
            let (msg, help) = toml_hint(e.message());
            cx.err(e.span().unwrap_or(0..0), msg, "here", help);
            None
        }
    }
}

/// The clusters' names in file order, or the problems (names twice, hosts left over, both or
/// neither of `[[clusters]]` and `[class.generate]`).
fn names(cx: &mut Ctx, raw: &RawClass) -> Vec<String> {
    match (&raw.class.get_ref().generate, raw.clusters.is_empty()) {
        (Some(g), false) => {
            cx.err(
                g.span(),
                "a class lists its clusters or generates them, not both",
                "generated here",
                Some("remove [class.generate] or the [[clusters]] tables".into()),
            );
            vec![]
        }
        (None, true) => {
            cx.err(
                raw.class.span(),
                "the class has no clusters",
                "this class",
                Some(
                    "add [[clusters]] tables (name and [[clusters.hosts]]), or [class.generate] with a hosts list"
                        .into(),
                ),
            );
            vec![]
        }
        (Some(g), true) => {
            let g = g.get_ref();
            let per = g.per_cluster.as_ref().map(|p| *p.get_ref()).unwrap_or(3);
            let n = g.hosts.get_ref().len();
            if per == 0 || n % per as usize != 0 || n == 0 {
                cx.err(
                    g.hosts.span(),
                    format!("{n} host(s) do not make clusters of {per}"),
                    "these hosts",
                    Some("list a multiple of `per_cluster` hosts (at least one cluster's worth), or change `per_cluster`".into()),
                );
                return vec![];
            }
            let prefix = g.prefix.as_ref().map(|p| p.get_ref().as_str()).unwrap_or("student");
            (1..=n / per as usize).map(|i| format!("{prefix}-{i:02}")).collect()
        }
        (None, false) => {
            let mut seen = std::collections::BTreeSet::new();
            let mut v = vec![];
            for m in &raw.clusters {
                let name = m.get_ref().name.get_ref();
                if !seen.insert(name.clone()) {
                    cx.err(
                        m.get_ref().name.span(),
                        format!("cluster `{name}` is listed twice"),
                        "again here",
                        Some("give each cluster its own name".into()),
                    );
                }
                v.push(name.clone());
            }
            v
        }
    }
}

/// Which cluster of a class file this process works on: the one `--cluster` names.
pub(super) fn selected(path: &Path, text: &str) -> Result<String, InventoryError> {
    match selection() {
        [one] => Ok(one.clone()),
        _ => {
            let mut cx = Ctx::new(path, text.to_string());
            let raw = parse(&mut cx).ok_or_else(|| cx_invalid(path, text))?;
            let all = names(&mut cx, &raw);
            cx.err(
                raw.class.span(),
                format!(
                    "`{}` is a class of {} clusters: this command works on one cluster",
                    path.display(),
                    all.len()
                ),
                "a class",
                Some(format!("name one with --cluster ({})", all.join(", "))),
            );
            Err(cx.invalid(path))
        }
    }
}

fn cx_invalid(path: &Path, text: &str) -> InventoryError {
    let mut cx = Ctx::new(path, text.to_string());
    let _ = parse(&mut cx);
    cx.invalid(path)
}

/// Every cluster of the class at `path`, each checked as its own inventory; all problems of all
/// clusters together.
pub fn load(path: &Path) -> Result<Class, InventoryError> {
    let text = std::fs::read_to_string(path).map_err(|e| InventoryError::io(path, e))?;
    let mut cx = Ctx::new(path, text.clone());
    let raw = parse(&mut cx).ok_or_else(|| cx_invalid(path, &text))?;
    let all = names(&mut cx, &raw);
    if !cx.problems.is_empty() {
        return Err(cx.invalid(path));
    }
    let mut problems = vec![];
    let mut clusters = vec![];
    for n in &all {
        match member(Ctx::new(path, text.clone()), path, n) {
            Ok(inv) => clusters.push(inv),
            Err(InventoryError::Invalid { problems: p, .. }) => problems.extend(p),
            Err(e) => return Err(e),
        }
    }
    if !problems.is_empty() {
        return Err(InventoryError::Invalid {
            path: path.display().to_string(),
            problems,
        });
    }
    let c = raw.class.get_ref();
    Ok(Class {
        name: class_name(path, &raw),
        clusters_at_once: c
            .clusters_at_once
            .as_ref()
            .map(|n| (*n.get_ref()).max(1) as usize)
            .unwrap_or(4),
        clusters,
    })
}

/// `[class] name`, else the file's stem.
fn class_name(path: &Path, raw: &RawClass) -> String {
    raw.class
        .get_ref()
        .name
        .as_ref()
        .map(|n| n.get_ref().clone())
        .unwrap_or_else(|| path.file_stem().unwrap_or_default().to_string_lossy().into_owned())
}

/// Cluster `name` of the class, as an inventory.
pub(super) fn member(mut cx: Ctx, path: &Path, name: &str) -> Result<Inventory, InventoryError> {
    let Some(mut raw) = parse(&mut cx) else {
        return Err(cx.invalid(path));
    };
    let class = class_name(path, &raw);
    let all = names(&mut cx, &raw);
    if !cx.problems.is_empty() {
        return Err(cx.invalid(path));
    }
    let Some(index) = all.iter().position(|n| n == name) else {
        cx.err(
            raw.class.span(),
            format!("the class has no cluster `{name}`"),
            "this class",
            Some(format!("its clusters are {}", all.join(", "))),
        );
        return Err(cx.invalid(path));
    };
    let m = if raw.clusters.is_empty() {
        generated(&raw, name, index)
    } else {
        raw.clusters.remove(index)
    };
    let (span, m) = (m.span(), m.into_inner());
    let shared = raw.cluster.take().map(Spanned::into_inner).unwrap_or_default();
    let own = m.cluster.map(Spanned::into_inner).unwrap_or_default();
    let Some(version) = own.kubernetes_version.or(shared.kubernetes_version) else {
        cx.err(
            span,
            format!("cluster `{name}` has no kubernetes_version"),
            "this cluster",
            Some("set it in the class's [cluster] table (or this cluster's)".into()),
        );
        return Err(cx.invalid(path));
    };
    let cluster = RawCluster {
        name: m.name,
        kubernetes_version: version,
        pod_subnet: own.pod_subnet.or(shared.pod_subnet),
        service_subnet: own.service_subnet.or(shared.service_subnet),
        dns_domain: own.dns_domain.or(shared.dns_domain),
        control_plane_endpoint: own.control_plane_endpoint.or(shared.control_plane_endpoint),
        encrypt_secrets: own.encrypt_secrets.or(shared.encrypt_secrets),
        audit_log: own.audit_log.or(shared.audit_log),
        namespaces: own.namespaces.or(shared.namespaces),
    };
    let inv = RawInventory {
        cluster: Spanned::new(span.clone(), cluster),
        ssh: m.ssh.or(raw.ssh),
        pki: m.pki.or(raw.pki),
        container_runtime: m.container_runtime.or(raw.container_runtime),
        artifacts: m.artifacts.or(raw.artifacts),
        proxy: m.proxy.or(raw.proxy),
        os: m.os.or(raw.os),
        helm: m.helm.or(raw.helm),
        api: m.api.or(raw.api),
        kubelet: m.kubelet.or(raw.kubelet),
        kube_proxy: m.kube_proxy.or(raw.kube_proxy),
        kubeadm: m.kubeadm.or(raw.kubeadm),
        upgrade: m.upgrade.or(raw.upgrade),
        hosts: m.hosts,
    };

    finish(cx, path, &inv).map(|inv| Inventory {
        class: Some(class),
        ..inv
    })
}

/// The `index`th generated cluster: its slice of `[class.generate] hosts`, spans on each entry.
fn generated(raw: &RawClass, name: &str, index: usize) -> S<RawMember> {
    let g = raw
        .class
        .get_ref()
        .generate
        .as_ref()
        .expect("generated class")
        .get_ref();
    let per = g.per_cluster.as_ref().map(|p| *p.get_ref()).unwrap_or(3) as usize;
    let s = |span: &std::ops::Range<usize>, v: String| Spanned::new(span.clone(), v);
    let hosts = g.hosts.get_ref()[index * per..(index + 1) * per]
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let sp = h.span();
            let full = match h.get_ref() {
                GenHost::Address(a) => RawGenHost {
                    address: a.clone(),
                    internal_address: None,
                    node_ip: None,
                    iface: None,
                    user: None,
                    port: None,
                    identity_file: None,
                    jump_host: None,
                    sudo: None,
                },
                GenHost::Full(f) => f.clone(),
            };
            let (host_name, roles) = if k == 0 {
                (format!("{name}-cp"), vec!["control-plane", "etcd"])
            } else {
                (format!("{name}-w{k}"), vec!["worker"])
            };
            Spanned::new(
                sp.clone(),
                RawHost {
                    name: s(&sp, host_name),
                    address: s(&sp, full.address),
                    roles: Spanned::new(sp.clone(), roles.into_iter().map(|r| s(&sp, r.to_string())).collect()),
                    internal_address: full.internal_address.map(|v| s(&sp, v)),
                    node_ip: full.node_ip.map(|v| s(&sp, v)),
                    iface: full.iface.map(|v| s(&sp, v)),
                    user: full.user.map(|v| s(&sp, v)),
                    port: full.port.map(|v| Spanned::new(sp.clone(), v)),
                    identity_file: full.identity_file.map(|v| s(&sp, v)),
                    jump_host: full.jump_host.map(|v| s(&sp, v)),
                    sudo: full.sudo.map(|v| Spanned::new(sp.clone(), v)),
                },
            )
        })
        .collect();
    let span = g.hosts.span();
    Spanned::new(
        span.clone(),
        RawMember {
            name: s(&span, name.to_string()),
            hosts,
            cluster: None,
            ssh: None,
            pki: None,
            container_runtime: None,
            artifacts: None,
            proxy: None,
            os: None,
            helm: None,
            api: None,
            kubelet: None,
            kube_proxy: None,
            kubeadm: None,
            upgrade: None,
        },
    )
}
