//! The `[cluster]` table: name, pinned Kubernetes version, subnets, DNS domain, API endpoint.

use std::net::IpAddr;

use ipnet::IpNet;

use super::super::raw::{RawCluster, S};
use super::super::*;
use super::{Ctx, SUPPORTED_MINORS};

pub(super) fn cluster(cx: &mut Ctx, raw: &S<RawCluster>) -> Option<Cluster> {
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
    let svc = subnet(cx, c.service_subnet.as_ref(), "10.96.0.0/12", "service_subnet");
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
    let endpoint = c
        .control_plane_endpoint
        .as_ref()
        .and_then(|e| match parse_endpoint(e.get_ref()) {
            Ok(ep) => Some(ep),
            Err(why) => {
                cx.err(
                    e.span(),
                    format!("control_plane_endpoint `{}` {why}", e.get_ref()),
                    "invalid endpoint",
                    Some("write `host`, `host:port`, `10.0.0.10:6443` or `[fd00::10]:6443`".into()),
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
            cx.err(
                span,
                format!("pod_subnet {p} and service_subnet {s} overlap"),
                "overlaps the other subnet",
                Some(
                    "pick disjoint ranges, e.g. pod_subnet = \"10.244.0.0/16\" and service_subnet = \"10.96.0.0/12\""
                        .into(),
                ),
            );
        }
    }
    Some(Cluster {
        name: name?,
        kubernetes_version: version?,
        pod_subnet: pod?,
        service_subnet: svc?,
        dns_domain,
        api: if endpoint.is_some() {
            ApiMode::External
        } else {
            ApiMode::Direct
        },
        control_plane_endpoint: endpoint,
        etcd: EtcdTopology::Stacked,
        encrypt_secrets: c.encrypt_secrets.as_ref().is_none_or(|b| *b.get_ref()),
        audit_log: c.audit_log.as_ref().is_none_or(|b| *b.get_ref()),
        namespaces: c
            .namespaces
            .iter()
            .flatten()
            .filter_map(|n| match ClusterName::new(n.get_ref()) {
                Ok(_) => Some(n.get_ref().clone()),
                Err(why) => {
                    cx.err(
                        n.span(),
                        format!("namespace `{}` {why}", n.get_ref()),
                        "not a namespace name",
                        Some("one lowercase DNS label such as `apps`".into()),
                    );
                    None
                }
            })
            .collect(),
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
            cx.err(
                v.span(),
                format!("kubernetes_version `{s}` is not a pinned release"),
                "expected MAJOR.MINOR.PATCH",
                Some("pin an exact patch release such as \"1.36.3\"; groundup never installs \"latest\"".into()),
            );
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
