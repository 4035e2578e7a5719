//! The `[api]` table: how clients reach the API servers — a floating IP held by kube-vip, haproxy on
//! every node, or a load balancer of the user's — resolved into the cluster's endpoint.

use std::net::IpAddr;

use super::super::raw::{RawApi, RawCluster, S};
use super::super::*;
use super::cluster::parse_endpoint;
use super::Ctx;

/// kube-vip unless the inventory says otherwise, at a pinned release (never "latest").
pub const DEFAULT_KUBE_VIP: &str = "v1.2.3";
/// Where the local load balancer listens on every node (6443 is the API server's own port).
pub const DEFAULT_LOCAL_LB_PORT: u16 = 6444;

pub(super) fn api(cx: &mut Ctx, raw: &S<RawApi>, cluster: &S<RawCluster>, c: &mut Cluster) {
    let a = raw.get_ref();
    if let Some(ep) = &cluster.get_ref().control_plane_endpoint {
        cx.err(
            ep.span(),
            "the API endpoint is given twice: here and in [api]",
            "remove this line",
            Some("[api] mode = \"external\" with `address` says the same as control_plane_endpoint".into()),
        );
        return;
    }
    let not_here = |cx: &mut Ctx, key: &str, span: std::ops::Range<usize>, mode: &str| {
        cx.err(
            span,
            format!("`{key}` has no meaning with mode = \"{mode}\""),
            "remove this key",
            Some("`interface` and `kube_vip_version` belong to mode = \"vip\"; local-lb takes no `address`".into()),
        );
    };
    let mode = a.mode.get_ref().as_str();
    match mode {
        "vip" => {
            let Some(addr) = &a.address else {
                cx.err(
                    raw.span(),
                    "mode = \"vip\" needs the floating IP",
                    "in this table",
                    Some("add address = \"<a free IP in the control planes' subnet>\"".into()),
                );
                return;
            };
            let Ok(ip) = addr.get_ref().parse::<IpAddr>() else {
                cx.err(
                    addr.span(),
                    format!("`{}` is not an IP address", addr.get_ref()),
                    "the VIP",
                    Some("kube-vip announces an IP by ARP: give a free address in the control planes' subnet".into()),
                );
                return;
            };
            let version = match &a.kube_vip_version {
                None => DEFAULT_KUBE_VIP.to_string(),
                Some(v) if pinned(v.get_ref()) => v.get_ref().clone(),
                Some(v) => {
                    cx.err(
                        v.span(),
                        format!("`{}` is not a pinned kube-vip release", v.get_ref()),
                        "not vX.Y.Z",
                        Some(format!("write it as kube-vip tags it, e.g. `{DEFAULT_KUBE_VIP}`")),
                    );
                    return;
                }
            };
            c.control_plane_endpoint = Some(Endpoint {
                host: ip.to_string(),
                port: a.port.as_ref().map_or(6443, |p| *p.get_ref()),
            });
            c.api = ApiMode::Vip {
                interface: a.interface.as_ref().map(|i| i.get_ref().clone()),
                kube_vip_version: version,
            };
        }
        "local-lb" => {
            for (key, span) in [
                ("address", a.address.as_ref().map(|v| v.span())),
                ("interface", a.interface.as_ref().map(|v| v.span())),
                ("kube_vip_version", a.kube_vip_version.as_ref().map(|v| v.span())),
            ] {
                if let Some(span) = span {
                    not_here(cx, key, span, mode);
                }
            }
            let port = a.port.as_ref().map_or(DEFAULT_LOCAL_LB_PORT, |p| *p.get_ref());
            if port == 6443 {
                let span = a.port.as_ref().map(|p| p.span()).unwrap_or(raw.span());
                cx.err(
                    span,
                    "the local load balancer cannot listen on 6443",
                    "taken by the API server on control planes",
                    Some(format!("leave `port` out (default {DEFAULT_LOCAL_LB_PORT})")),
                );
                return;
            }
            c.control_plane_endpoint = Some(Endpoint {
                host: "127.0.0.1".into(),
                port,
            });
            c.api = ApiMode::LocalLb;
        }
        "external" => {
            for (key, span) in [
                ("interface", a.interface.as_ref().map(|v| v.span())),
                ("kube_vip_version", a.kube_vip_version.as_ref().map(|v| v.span())),
            ] {
                if let Some(span) = span {
                    not_here(cx, key, span, mode);
                }
            }
            let Some(addr) = &a.address else {
                cx.err(
                    raw.span(),
                    "mode = \"external\" needs the load balancer's address",
                    "in this table",
                    Some("add address = \"<name or IP of your load balancer>\"".into()),
                );
                return;
            };
            let text = addr.get_ref().trim();
            if text.parse::<IpAddr>().is_err() && text.contains(':') {
                cx.err(
                    addr.span(),
                    "give the port in `port`, not in `address`",
                    "host only",
                    Some("address = \"lb.example\" and port = 6443".into()),
                );
                return;
            }
            match parse_endpoint(text) {
                Ok(ep) => {
                    c.control_plane_endpoint = Some(Endpoint {
                        host: ep.host,
                        port: a.port.as_ref().map_or(6443, |p| *p.get_ref()),
                    });
                    c.api = ApiMode::External;
                }
                Err(why) => cx.err(
                    addr.span(),
                    format!("address `{text}` {why}"),
                    "invalid address",
                    Some("a DNS name or an IP address".into()),
                ),
            }
        }
        other => cx.err(
            a.mode.span(),
            format!("unknown API endpoint mode `{other}`"),
            "unknown mode",
            Some(
                "use \"vip\" (kube-vip, ARP), \"local-lb\" (haproxy on every node) or \"external\" (your load balancer)"
                    .into(),
            ),
        ),
    }
}

fn pinned(v: &str) -> bool {
    v.strip_prefix('v').is_some_and(|rest| {
        let parts: Vec<&str> = rest.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    })
}
