//! Which address a host's kubelet, etcd and flannel use: the inventory's `node_ip`, its
//! `internal_address`, the address of its `iface`, or else the default route's interface. Pure.

use std::net::IpAddr;

use serde::Serialize;

use crate::facts::Facts;
use crate::inventory::Host;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeIp {
    pub ip: IpAddr,
    pub iface: Option<String>,
    /// Where it came from: `node_ip`, `internal_address`, `iface eth1`, `default route (eth0)`.
    pub source: String,
    /// True when nobody chose it: the default route decided.
    pub guessed: bool,
}

pub fn node_ip(host: &Host, facts: &Facts) -> Result<NodeIp, String> {
    let iface_of = |ip: IpAddr| {
        facts
            .interfaces
            .iter()
            .find(|i| i.addresses.iter().any(|a| a.addr() == ip))
            .map(|i| i.name.clone())
    };
    let all = || {
        facts
            .interfaces
            .iter()
            .map(|i| {
                let a: Vec<String> = i.addresses.iter().map(|a| a.addr().to_string()).collect();
                format!("{} {}", i.name, a.join(" "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (ip, key) in [(host.node_ip, "node_ip"), (host.internal_address, "internal_address")] {
        if let Some(ip) = ip {
            return match iface_of(ip) {
                Some(iface) => Ok(NodeIp {
                    ip,
                    iface: Some(iface),
                    source: key.into(),
                    guessed: false,
                }),
                None => Err(format!(
                    "{key} {ip} is not configured on any interface of {} (it has: {})",
                    host.name,
                    all()
                )),
            };
        }
    }
    let (iface, source, guessed) = if let Some(i) = &host.iface {
        (i.clone(), format!("iface {i}"), false)
    } else if let Some(r) = facts.default_routes.first() {
        (r.iface.clone(), format!("default route ({})", r.iface), true)
    } else {
        return Err(format!(
            "{} has no default route and the inventory sets no node_ip, internal_address or iface",
            host.name
        ));
    };
    let Some(found) = facts.interfaces.iter().find(|i| i.name == iface) else {
        return Err(format!(
            "interface {iface} does not exist on {} (it has: {})",
            host.name,
            all()
        ));
    };
    let pick = found
        .addresses
        .iter()
        .find(|a| a.addr().is_ipv4())
        .or(found.addresses.first());
    match pick {
        Some(a) => Ok(NodeIp {
            ip: a.addr(),
            iface: Some(iface),
            source,
            guessed,
        }),
        None => Err(format!("interface {iface} on {} has no address", host.name)),
    }
}
