//! Inventory validation: turns the raw TOML mirror into typed values and checks the rules that
//! span the whole cluster (unique names and addresses, etcd quorum, subnets). Every problem is
//! collected with the span it refers to, so one run reports all of them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use miette::NamedSource;

use super::raw::{RawCluster, RawHost, RawInventory, RawSsh, S};
use super::*;

/// The Kubernetes minors whose kubeadm speaks `kubeadm.k8s.io/v1beta4` and that groundup supports.
pub const SUPPORTED_MINORS: std::ops::RangeInclusive<u32> = 31..=37;

struct Ctx {
    src: NamedSource<Arc<String>>,
    text: Arc<String>,
    dir: PathBuf,
    problems: Vec<Problem>,
}

impl Ctx {
    fn err(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) {
        self.problems.push(Problem {
            message: message.into(),
            src: self.src.clone(),
            span: span.into(),
            label: label.into(),
            help,
        });
    }
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }
    /// `~/x` → home, relative → next to the inventory file.
    fn path(&self, p: &str) -> PathBuf {
        if let Some(rest) = p.strip_prefix("~/") {
            if let Some(home) = dirs::home_dir() {
                return home.join(rest);
            }
        }
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
}

pub fn validate(path: &Path, text: String) -> Result<Inventory, InventoryError> {
    let text = Arc::new(text);
    let src = NamedSource::new(path.display().to_string(), text.clone()).with_language("toml");
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let mut cx = Ctx {
        src,
        text: text.clone(),
        dir,
        problems: Vec::new(),
    };
    let invalid = |cx: Ctx| InventoryError::Invalid {
        path: path.display().to_string(),
        problems: cx.problems,
    };

    let raw: RawInventory = match toml::from_str(&text) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let (msg, help) = toml_hint(e.message());
            cx.err(span, msg, "here", help);
            return Err(invalid(cx));
        }
    };

    let cluster = cluster(&mut cx, &raw.cluster);
    let defaults = raw.ssh.as_ref().map(|s| s.get_ref());
    let hosts: Vec<(Host, &S<RawHost>)> = raw
        .hosts
        .iter()
        .filter_map(|h| host(&mut cx, h, defaults).map(|v| (v, h)))
        .collect();

    if raw.hosts.is_empty() {
        cx.err(
            raw.cluster.span(),
            "the inventory lists no hosts",
            "this cluster has no [[hosts]]",
            Some("add a [[hosts]] table per machine with `name`, `address` and `roles`".into()),
        );
    }
    let etcd = whole_cluster(&mut cx, &raw, &hosts, cluster.as_ref());

    match (cluster, etcd) {
        (Some(mut c), Some(etcd)) if cx.problems.is_empty() => {
            c.etcd = etcd;
            Ok(Inventory {
                path: path.to_path_buf(),
                cluster: c,
                hosts: hosts.into_iter().map(|(h, _)| h).collect(),
            })
        }
        _ => Err(invalid(cx)),
    }
}

fn toml_hint(msg: &str) -> (String, Option<String>) {
    let msg = msg.trim().to_string();
    let help = if msg.contains("unknown field") {
        Some("remove the key or fix its spelling; the allowed keys are listed above".into())
    } else if msg.contains("missing field") {
        Some("add the missing key to this table".into())
    } else {
        Some("see inventory/*.toml for examples of every key".into())
    };
    (msg, help)
}

fn cluster(cx: &mut Ctx, raw: &S<RawCluster>) -> Option<Cluster> {
    let c = raw.get_ref();
    let name = match ClusterName::new(c.name.get_ref()) {
        Ok(n) => Some(n),
        Err(why) => {
            cx.err(
                c.name.span(),
                format!("cluster name `{}` {why}", c.name.get_ref()),
                "invalid cluster name",
                Some("use one lowercase DNS label such as `lab` or `fiware-1`".into()),
            );
            None
        }
    };
    let version = kube_version(cx, &c.kubernetes_version);
    let pod = subnet(cx, c.pod_subnet.as_ref(), "10.244.0.0/16", "pod_subnet");
    let svc = subnet(
        cx,
        c.service_subnet.as_ref(),
        "10.96.0.0/12",
        "service_subnet",
    );
    let dns_domain = match &c.dns_domain {
        None => "cluster.local".to_string(),
        Some(d) => {
            if let Some(why) = HostName::problem(d.get_ref()) {
                cx.err(
                    d.span(),
                    format!("dns_domain `{}` {why}", d.get_ref()),
                    "not a DNS domain",
                    Some("the default is `cluster.local`".into()),
                );
            }
            d.get_ref().clone()
        }
    };
    let endpoint =
        c.control_plane_endpoint
            .as_ref()
            .and_then(|e| match parse_endpoint(e.get_ref()) {
                Ok(ep) => Some(ep),
                Err(why) => {
                    cx.err(
                        e.span(),
                        format!("control_plane_endpoint `{}` {why}", e.get_ref()),
                        "invalid endpoint",
                        Some(
                            "write `host`, `host:port`, `10.0.0.10:6443` or `[fd00::10]:6443`"
                                .into(),
                        ),
                    );
                    None
                }
            });
    if let (Some(p), Some(s)) = (pod, svc) {
        if p.contains(&s.network()) || s.contains(&p.network()) {
            let span = c
                .service_subnet
                .as_ref()
                .map(|s| s.span())
                .or(c.pod_subnet.as_ref().map(|p| p.span()))
                .unwrap_or(raw.span());
            cx.err(span, format!("pod_subnet {p} and service_subnet {s} overlap"), "overlaps the other subnet",
                Some("pick disjoint ranges, e.g. pod_subnet = \"10.244.0.0/16\" and service_subnet = \"10.96.0.0/12\"".into()));
        }
    }
    Some(Cluster {
        name: name?,
        kubernetes_version: version?,
        pod_subnet: pod?,
        service_subnet: svc?,
        dns_domain,
        control_plane_endpoint: endpoint,
        etcd: EtcdTopology::Stacked,
    })
}

fn kube_version(cx: &mut Ctx, v: &S<String>) -> Option<KubeVersion> {
    let s = v.get_ref().trim();
    let nums: Vec<Option<u32>> = s
        .strip_prefix('v')
        .unwrap_or(s)
        .split('.')
        .map(|p| p.parse().ok())
        .collect();
    let parsed = match nums.as_slice() {
        [Some(major), Some(minor), Some(patch)] => Some(KubeVersion {
            major: *major,
            minor: *minor,
            patch: *patch,
        }),
        _ => None,
    };
    match parsed {
        None => {
            cx.err(v.span(), format!("kubernetes_version `{s}` is not a pinned release"), "expected MAJOR.MINOR.PATCH",
                Some("pin an exact patch release such as \"1.36.3\"; groundup never installs \"latest\"".into()));
            None
        }
        Some(k) if k.major != 1 || !SUPPORTED_MINORS.contains(&k.minor) => {
            cx.err(
                v.span(),
                format!("kubernetes_version {k} is not supported"),
                "unsupported version",
                Some(format!(
                    "groundup supports 1.{}.x to 1.{}.x (kubeadm config API v1beta4)",
                    SUPPORTED_MINORS.start(),
                    SUPPORTED_MINORS.end()
                )),
            );
            None
        }
        Some(k) => Some(k),
    }
}

fn subnet(cx: &mut Ctx, v: Option<&S<String>>, default: &str, key: &str) -> Option<IpNet> {
    let Some(v) = v else {
        return default.parse().ok();
    };
    match v.get_ref().parse::<IpNet>() {
        Ok(net) if net != net.trunc() => {
            cx.err(
                v.span(),
                format!("{key} `{net}` has host bits set"),
                "not a network address",
                Some(format!("did you mean \"{}\"?", net.trunc())),
            );
            None
        }
        Ok(net) => Some(net),
        Err(_) => {
            cx.err(
                v.span(),
                format!("{key} `{}` is not a CIDR", v.get_ref()),
                "expected ADDRESS/PREFIX",
                Some(format!("for example \"{default}\"")),
            );
            None
        }
    }
}

pub(super) fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("is empty".into());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Endpoint {
            host: ip.to_string(),
            port: 6443,
        });
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once(']').ok_or("has an unclosed `[`")?;
        (h.to_string(), p.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    let port = match port {
        None => 6443,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("has an invalid port `{p}`"))?,
    };
    if host.parse::<IpAddr>().is_err() {
        if let Some(why) = HostName::problem(&host) {
            return Err(format!("host `{host}` {why}"));
        }
    }
    Ok(Endpoint { host, port })
}

fn host(cx: &mut Ctx, raw: &S<RawHost>, d: Option<&RawSsh>) -> Option<Host> {
    let h = raw.get_ref();
    let before = cx.problems.len();
    let name = HostName::new(h.name.get_ref())
        .map_err(|why| {
            let fixed = h.name.get_ref().to_lowercase().replace('_', "-");
            cx.err(
                h.name.span(),
                format!("host name `{}` {why}", h.name.get_ref()),
                "not a valid node name",
                Some(format!(
                    "Kubernetes node names are lowercase RFC 1123 names; try `{fixed}`"
                )),
            );
        })
        .ok();
    let address = h.address.get_ref().trim().to_string();
    if address.is_empty() || address.contains(char::is_whitespace) {
        cx.err(h.address.span(), format!("address `{}` is not a host name or IP address", h.address.get_ref()), "invalid address",
            Some("give the address groundup connects to over SSH (IP, DNS name or ~/.ssh/config alias)".into()));
    }
    let mut roles = Vec::new();
    if h.roles.get_ref().is_empty() {
        cx.err(
            h.roles.span(),
            "host has no roles",
            "empty",
            Some(roles_help()),
        );
    }
    for r in h.roles.get_ref() {
        match Role::parse(r.get_ref()) {
            Some(role) if roles.contains(&role) => cx.err(
                r.span(),
                format!("role `{}` is listed twice", r.get_ref()),
                "duplicate",
                None,
            ),
            Some(role) => roles.push(role),
            None => cx.err(
                r.span(),
                format!("unknown role `{}`", r.get_ref()),
                "unknown role",
                Some(roles_help()),
            ),
        }
    }
    roles.sort();
    let internal_address = ip(cx, h.internal_address.as_ref(), "internal_address");
    let node_ip = ip(cx, h.node_ip.as_ref(), "node_ip");
    if let Some(i) = &h.iface {
        let s = i.get_ref();
        if s.is_empty() || s.len() > 15 || s.contains(['/', ' ', ':']) {
            cx.err(i.span(), format!("iface `{s}` is not a network interface name"), "invalid interface",
                Some("interface names are 1-15 characters without `/`, `:` or spaces, e.g. `eth1` or `enp0s8`".into()));
        }
    }
    let pick = |host: Option<&S<String>>, def: Option<&S<String>>| {
        host.or(def).map(|s| s.get_ref().clone())
    };
    let user =
        pick(h.user.as_ref(), d.and_then(|d| d.user.as_ref())).unwrap_or_else(|| "root".into());
    let port = h.port.as_ref().or(d.and_then(|d| d.port.as_ref()));
    if let Some(p) = port.filter(|p| *p.get_ref() == 0) {
        cx.err(
            p.span(),
            "SSH port 0 is not valid",
            "invalid port",
            Some("the default SSH port is 22".into()),
        );
    }
    let sudo = h
        .sudo
        .as_ref()
        .or(d.and_then(|d| d.sudo.as_ref()))
        .map(|s| *s.get_ref())
        .unwrap_or(user != "root");
    let secs = |v: Option<&S<u64>>, def: u64| {
        Duration::from_secs(v.map(|v| *v.get_ref()).unwrap_or(def).max(1))
    };
    let ssh = SshTarget {
        address,
        port: port.map(|p| *p.get_ref()).unwrap_or(22),
        user,
        identity_file: pick(
            h.identity_file.as_ref(),
            d.and_then(|d| d.identity_file.as_ref()),
        )
        .map(|p| cx.path(&p)),
        jump_host: pick(h.jump_host.as_ref(), d.and_then(|d| d.jump_host.as_ref())),
        known_hosts: d
            .and_then(|d| d.known_hosts.as_ref())
            .map(|p| cx.path(p.get_ref())),
        config: d
            .and_then(|d| d.config.as_ref())
            .map(|p| cx.path(p.get_ref())),
        sudo,
        connect_timeout: secs(d.and_then(|d| d.connect_timeout.as_ref()), 10),
        command_timeout: secs(d.and_then(|d| d.command_timeout.as_ref()), 600),
    };
    if cx.problems.len() > before {
        return None;
    }
    Some(Host {
        name: name?,
        ssh,
        roles,
        internal_address,
        node_ip,
        iface: h.iface.as_ref().map(|i| i.get_ref().clone()),
    })
}

fn roles_help() -> String {
    "roles are `control-plane`, `etcd` and `worker`, e.g. roles = [\"control-plane\", \"etcd\"]"
        .into()
}

fn ip(cx: &mut Ctx, v: Option<&S<String>>, key: &str) -> Option<IpAddr> {
    let v = v?;
    match v.get_ref().parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            cx.err(
                v.span(),
                format!("{key} `{}` is not an IP address", v.get_ref()),
                "expected an IP address",
                Some(format!(
                    "{key} takes a literal address such as \"192.168.56.11\""
                )),
            );
            None
        }
    }
}

/// Rules over all hosts together. Returns the etcd topology when it can be decided.
fn whole_cluster(
    cx: &mut Ctx,
    raw: &RawInventory,
    hosts: &[(Host, &S<RawHost>)],
    cluster: Option<&Cluster>,
) -> Option<EtcdTopology> {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut ssh: HashMap<(String, u16), usize> = HashMap::new();
    let mut ips: HashMap<IpAddr, usize> = HashMap::new();
    for (h, r) in hosts {
        let r = r.get_ref();
        if let Some(first) = names.insert(h.name.as_str(), r.name.span().start) {
            let line = cx.line_of(first);
            cx.err(
                r.name.span(),
                format!("host name `{}` is used twice", h.name),
                "duplicate name",
                Some(format!(
                    "first used on line {line}; every node needs its own name"
                )),
            );
        }
        if let Some(first) = ssh.insert((h.ssh.address.clone(), h.ssh.port), r.address.span().start)
        {
            let line = cx.line_of(first);
            cx.err(
                r.address.span(),
                format!(
                    "address {}:{} is used by two hosts",
                    h.ssh.address, h.ssh.port
                ),
                "duplicate address",
                Some(format!(
                    "first used on line {line}; give each host its own address (or its own `port`)"
                )),
            );
        }
        let pinned = r.node_ip.as_ref().or(r.internal_address.as_ref());
        if let (Some(ip), Some(span)) = (h.pinned_ip(), pinned) {
            if let Some(first) = ips.insert(ip, span.span().start) {
                let line = cx.line_of(first);
                cx.err(span.span(), format!("node IP {ip} is used by two hosts"), "duplicate node IP",
                    Some(format!("first used on line {line}; each node needs a distinct node_ip / internal_address")));
            }
            if let Some(c) = cluster {
                for (net, key) in [
                    (c.pod_subnet, "pod_subnet"),
                    (c.service_subnet, "service_subnet"),
                ] {
                    if net.contains(&ip) {
                        cx.err(
                            span.span(),
                            format!("node IP {ip} lies inside {key} {net}"),
                            "inside a cluster subnet",
                            Some(format!(
                                "choose a {key} that does not contain the nodes' addresses"
                            )),
                        );
                    }
                }
            }
        }
    }
    if hosts.len() != raw.hosts.len() {
        return None; // per-host problems already reported; role counts would mislead
    }
    let first_roles = raw
        .hosts
        .first()
        .map(|h| h.get_ref().roles.span())
        .unwrap_or(raw.cluster.span());
    let cps: Vec<&Host> = hosts
        .iter()
        .map(|(h, _)| h)
        .filter(|h| h.has(Role::ControlPlane))
        .collect();
    let etcds: Vec<&Host> = hosts
        .iter()
        .map(|(h, _)| h)
        .filter(|h| h.has(Role::Etcd))
        .collect();
    if cps.is_empty() && !hosts.is_empty() {
        cx.err(
            first_roles,
            "no host has the role `control-plane`",
            "no control plane in this inventory",
            Some("give at least one host roles = [\"control-plane\", \"etcd\"]".into()),
        );
        return None;
    }
    let topology = if etcds.is_empty()
        || etcds.iter().all(|h| h.has(Role::ControlPlane)) && etcds.len() == cps.len()
    {
        EtcdTopology::Stacked
    } else if etcds.iter().all(|h| !h.has(Role::ControlPlane)) {
        EtcdTopology::External
    } else {
        let (_, r) = hosts
            .iter()
            .find(|(h, _)| h.has(Role::ControlPlane) != h.has(Role::Etcd))
            .expect("a mixed host exists");
        cx.err(r.get_ref().roles.span(), "etcd must run either on every control plane or on no control plane",
            "this host breaks the etcd topology",
            Some("stacked etcd: give every control plane the `etcd` role; external etcd: give `etcd` only to hosts without `control-plane`".into()));
        return None;
    };
    let members = if topology == EtcdTopology::Stacked {
        cps.len()
    } else {
        etcds.len()
    };
    if members > 0 && members % 2 == 0 {
        cx.err(first_roles, format!("etcd would have {members} members; it needs an odd number"), "etcd quorum",
            Some(format!("use {} or {} etcd members: an even count tolerates no more failures than one fewer", members - 1, members + 1)));
    }
    if let Some(c) = cluster {
        if cps.len() > 1 && c.control_plane_endpoint.is_none() {
            cx.err(
                raw.cluster.get_ref().name.span(),
                format!("{} control planes need a control_plane_endpoint", cps.len()),
                "in this cluster",
                Some(
                    "add control_plane_endpoint = \"<VIP or load balancer>:6443\" to [cluster]"
                        .into(),
                ),
            );
        }
        let nodes = hosts.iter().filter(|(h, _)| h.is_node()).count();
        let span = raw
            .cluster
            .get_ref()
            .pod_subnet
            .as_ref()
            .map(|s| s.span())
            .unwrap_or(raw.cluster.span());
        let node_prefix: u8 = if c.pod_subnet.addr().is_ipv4() {
            24
        } else {
            64
        };
        if c.pod_subnet.prefix_len() > node_prefix {
            cx.err(
                span,
                format!(
                    "pod_subnet {} is smaller than one node's range (/{node_prefix})",
                    c.pod_subnet
                ),
                "too small",
                Some("use a /16 such as \"10.244.0.0/16\"".into()),
            );
        } else {
            let ranges = 1u128
                .checked_shl(u32::from(node_prefix - c.pod_subnet.prefix_len()))
                .unwrap_or(u128::MAX);
            if ranges < nodes as u128 {
                let need =
                    node_prefix.saturating_sub((usize::BITS - (nodes - 1).leading_zeros()) as u8);
                cx.err(span, format!("pod_subnet {} holds {ranges} node ranges (/{node_prefix} each) but the inventory has {nodes} nodes", c.pod_subnet),
                    "too small for this cluster", Some(format!("use a /{need} or larger")));
            }
        }
    }
    Some(topology)
}
