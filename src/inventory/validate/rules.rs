//! Rules over all hosts together: unique names, SSH addresses and node IPs, node IPs outside the
//! cluster subnets, a control plane, the etcd topology and quorum, the HA endpoint, pod subnet size.

use std::collections::HashMap;
use std::net::IpAddr;

use super::super::raw::{RawHost, RawInventory, S};
use super::super::*;
use super::Ctx;

/// Rules over all hosts together. Returns the etcd topology when it can be decided.
pub(super) fn whole_cluster(
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
                Some(format!("first used on line {line}; every node needs its own name")),
            );
        }
        if let Some(first) = ssh.insert((h.ssh.address.clone(), h.ssh.port), r.address.span().start) {
            let line = cx.line_of(first);
            cx.err(
                r.address.span(),
                format!("address {}:{} is used by two hosts", h.ssh.address, h.ssh.port),
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
                cx.err(
                    span.span(),
                    format!("node IP {ip} is used by two hosts"),
                    "duplicate node IP",
                    Some(format!(
                        "first used on line {line}; each node needs a distinct node_ip / internal_address"
                    )),
                );
            }
            if let Some(c) = cluster {
                for (net, key) in [(c.pod_subnet, "pod_subnet"), (c.service_subnet, "service_subnet")] {
                    if net.contains(&ip) {
                        cx.err(
                            span.span(),
                            format!("node IP {ip} lies inside {key} {net}"),
                            "inside a cluster subnet",
                            Some(format!("choose a {key} that does not contain the nodes' addresses")),
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
    let etcds: Vec<&Host> = hosts.iter().map(|(h, _)| h).filter(|h| h.has(Role::Etcd)).collect();
    if cps.is_empty() && !hosts.is_empty() {
        cx.err(
            first_roles,
            "no host has the role `control-plane`",
            "no control plane in this inventory",
            Some("give at least one host roles = [\"control-plane\", \"etcd\"]".into()),
        );
        return None;
    }
    let topology = if etcds.is_empty() || etcds.iter().all(|h| h.has(Role::ControlPlane)) && etcds.len() == cps.len() {
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
    // An even etcd member count is no error: preflight warns of it (a replacement of a member,
    // remove then add, passes through it).
    if let Some(c) = cluster {
        if cps.len() > 1 && c.control_plane_endpoint.is_none() {
            cx.err(
                raw.cluster.get_ref().name.span(),
                format!("{} control planes need a shared API endpoint", cps.len()),
                "in this cluster",
                Some(
                    "add an [api] table: mode = \"vip\" with a free `address` (kube-vip), mode = \"local-lb\" \
                      (haproxy on every node; works where VIPs are blocked), or mode = \"external\" with your load \
                      balancer's `address`"
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
        let node_prefix: u8 = if c.pod_subnet.addr().is_ipv4() { 24 } else { 64 };
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
                let need = node_prefix.saturating_sub((usize::BITS - (nodes - 1).leading_zeros()) as u8);
                cx.err(span, format!("pod_subnet {} holds {ranges} node ranges (/{node_prefix} each) but the inventory has {nodes} nodes", c.pod_subnet),
                    "too small for this cluster", Some(format!("use a /{need} or larger")));
            }
        }
    }
    Some(topology)
}
