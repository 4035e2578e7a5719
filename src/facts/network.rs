//! Parsers for `ip -o addr show` and `ip -o route show default`: interfaces with their addresses,
//! and which interface the default route leaves by. Pure.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Interface {
    pub name: String,
    pub addresses: Vec<IpNet>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DefaultRoute {
    pub iface: String,
    pub gateway: Option<IpAddr>,
}

/// `2: eth0    inet 10.0.2.15/24 brd … scope global dynamic eth0\ …` → interfaces, in order.
/// Loopback and link-local addresses are left out.
pub fn parse_addresses(text: &str) -> Vec<Interface> {
    let mut out: Vec<Interface> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(fam), Some(addr)) = (f.get(1), f.get(2), f.get(3)) else {
            continue;
        };
        if *fam != "inet" && *fam != "inet6" {
            continue;
        }
        let name = name.split('@').next().unwrap_or(name).to_string();
        let Ok(net) = addr.parse::<IpNet>() else {
            continue;
        };
        let skip =
            net.addr().is_loopback() || matches!(net.addr(), IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        if skip {
            continue;
        }
        match out.iter_mut().find(|i| i.name == name) {
            Some(i) => i.addresses.push(net),
            None => out.push(Interface {
                name,
                addresses: vec![net],
            }),
        }
    }
    out
}

/// `default via 10.0.2.2 dev eth0 proto dhcp …` → (iface, gateway).
pub fn parse_default_routes(text: &str) -> Vec<DefaultRoute> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dev = f.iter().position(|w| *w == "dev").and_then(|i| f.get(i + 1))?;
            let gateway = f
                .iter()
                .position(|w| *w == "via")
                .and_then(|i| f.get(i + 1))
                .and_then(|g| g.parse().ok());
            Some(DefaultRoute {
                iface: dev.to_string(),
                gateway,
            })
        })
        .collect()
}
