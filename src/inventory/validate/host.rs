//! One `[[hosts]]` table: name, address, roles, addresses, interface, and its SSH settings with
//! the `[ssh]` defaults applied.

use std::net::IpAddr;
use std::time::Duration;

use super::super::raw::{RawHost, RawSsh, S};
use super::super::*;
use super::Ctx;

pub(super) fn host(cx: &mut Ctx, raw: &S<RawHost>, d: Option<&RawSsh>) -> Option<Host> {
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
        cx.err(
            h.address.span(),
            format!("address `{}` is not a host name or IP address", h.address.get_ref()),
            "invalid address",
            Some("give the address groundup connects to over SSH (IP, DNS name or ~/.ssh/config alias)".into()),
        );
    }
    let mut roles = Vec::new();
    if h.roles.get_ref().is_empty() {
        cx.err(h.roles.span(), "host has no roles", "empty", Some(roles_help()));
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
            cx.err(
                i.span(),
                format!("iface `{s}` is not a network interface name"),
                "invalid interface",
                Some("interface names are 1-15 characters without `/`, `:` or spaces, e.g. `eth1` or `enp0s8`".into()),
            );
        }
    }
    let pick = |host: Option<&S<String>>, def: Option<&S<String>>| host.or(def).map(|s| s.get_ref().clone());
    let user = pick(h.user.as_ref(), d.and_then(|d| d.user.as_ref())).unwrap_or_else(|| "root".into());
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
    let secs = |v: Option<&S<u64>>, def: u64| Duration::from_secs(v.map(|v| *v.get_ref()).unwrap_or(def).max(1));
    let ssh = SshTarget {
        address,
        port: port.map(|p| *p.get_ref()).unwrap_or(22),
        user,
        identity_file: pick(h.identity_file.as_ref(), d.and_then(|d| d.identity_file.as_ref())).map(|p| cx.path(&p)),
        jump_host: pick(h.jump_host.as_ref(), d.and_then(|d| d.jump_host.as_ref())),
        known_hosts: d.and_then(|d| d.known_hosts.as_ref()).map(|p| cx.path(p.get_ref())),
        config: d.and_then(|d| d.config.as_ref()).map(|p| cx.path(p.get_ref())),
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
    "roles are `control-plane`, `etcd` and `worker`, e.g. roles = [\"control-plane\", \"etcd\"]".into()
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
                Some(format!("{key} takes a literal address such as \"192.168.56.11\"")),
            );
            None
        }
    }
}
