//! Cluster-wide preflight checks over all gathered hosts: node IPs distinct (and the classic
//! VirtualBox/Vagrant trap where every VM's default route has the same NAT address), current
//! hostnames distinct. Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::facts::HostFacts;
use crate::inventory::Host;

use super::{node_ip, Check};

pub fn cluster_checks(hosts: &[(&Host, &HostFacts)]) -> Vec<Check> {
    let mut out = Vec::new();
    let mut by_ip: BTreeMap<IpAddr, Vec<(&Host, String, bool)>> = BTreeMap::new();
    for (h, hf) in hosts {
        if let Ok(n) = node_ip(h, &hf.facts) {
            by_ip.entry(n.ip).or_default().push((h, n.source, n.guessed));
        }
    }
    let dups: Vec<_> = by_ip.iter().filter(|(_, v)| v.len() > 1).collect();
    if dups.is_empty() {
        out.push(Check::ok("node-ips", format!("{} distinct node IPs", by_ip.len())));
    }
    for (ip, owners) in dups {
        let names: Vec<&str> = owners.iter().map(|(h, _, _)| h.name.as_str()).collect();
        let nat_trap = owners.iter().all(|(_, _, guessed)| *guessed);
        let others: Vec<String> = owners
            .iter()
            .filter_map(|(h, _, _)| {
                let hf = hosts.iter().find(|(x, _)| x.name == h.name)?.1;
                let alt: Vec<String> = hf
                    .facts
                    .interfaces
                    .iter()
                    .flat_map(|i| {
                        i.addresses
                            .iter()
                            .filter(|a| a.addr() != *ip && a.addr().is_ipv4())
                            .map(move |a| format!("{} {}", i.name, a.addr()))
                    })
                    .collect();
                Some(format!(
                    "{}: {}",
                    h.name,
                    if alt.is_empty() {
                        "no other address".into()
                    } else {
                        alt.join(", ")
                    }
                ))
            })
            .collect();
        let (detail, hint) = if nat_trap {
            (
                format!("{} all take node IP {ip} from their default route: the VirtualBox/Vagrant NAT trap (every VM's NAT NIC has the same address)", names.join(", ")),
                format!("set iface = \"<second NIC>\" or node_ip for these hosts; other addresses seen: {}", others.join("; ")),
            )
        } else {
            (
                format!("{} share node IP {ip}", names.join(", ")),
                format!("give each host its own node_ip; addresses seen: {}", others.join("; ")),
            )
        };
        out.push(Check::fail("node-ips", detail, hint));
    }
    let mut by_hostname: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (h, hf) in hosts {
        by_hostname
            .entry(hf.facts.hostname.as_str())
            .or_default()
            .push(h.name.as_str());
    }
    let clash: Vec<String> = by_hostname
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, v)| format!("`{k}` on {}", v.join(", ")))
        .collect();
    out.push(if clash.is_empty() {
        Check::ok("hostnames", "distinct")
    } else {
        Check::warn(
            "hostnames",
            format!("current hostnames repeat: {}", clash.join("; ")),
            "apply sets each host's hostname to its inventory name",
        )
    });
    out
}
