//! The certificate set a cluster needs, derived from the whole inventory: kubeadm's three CAs,
//! each control plane's leaves and kubeconfig client certificates, and each etcd member's
//! certificates, with kubeadm's identities and SANs (../shared/reference/kubeadm.md §1–2). Pure:
//! no keys, no files. `--on` never narrows it.

use std::net::IpAddr;

use serde::Serialize;

use crate::inventory::{Host, Inventory, Role};

/// What a certificate is for; decides basic constraints, key usage and extended key usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    Ca,
    Server,
    Client,
    /// serverAuth + clientAuth (etcd server and peer certificates).
    ServerClient,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertSpec {
    /// Where it lives under `certs/<cluster>/`, as on a node: `ca`, `etcd/ca` (shared files of
    /// /etc/kubernetes/pki), `nodes/cp-1/pki/apiserver` (a node's own leaf; `.crt`/`.key` added),
    /// `nodes/cp-1/admin.conf` (a kubeconfig in /etc/kubernetes, holding this client certificate).
    pub id: String,
    pub cn: String,
    pub orgs: Vec<String>,
    pub profile: Profile,
    /// The `id` of the signing CA; `None` for a self-signed CA.
    pub issuer: Option<String>,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpecError {
    #[error("{host}: no node IP is known before contacting the host, and certificates need it as a SAN")]
    NoNodeIp { host: String },
}

impl SpecError {
    pub fn hint(&self) -> String {
        match self {
            SpecError::NoNodeIp { .. } => {
                "set node_ip or internal_address for this host in the inventory (or use an IP as its address)".into()
            }
        }
    }
}

/// The IP a host's certificates carry: pinned in the inventory, or its SSH address if that is an IP.
pub fn cert_ip(host: &Host) -> Result<IpAddr, SpecError> {
    host.pinned_ip()
        .or_else(|| host.ssh.address.parse().ok())
        .ok_or_else(|| SpecError::NoNodeIp {
            host: host.name.to_string(),
        })
}

fn ca(id: &str, cn: &str) -> CertSpec {
    // kubeadm also puts the CA's CN in a DNS SAN.
    CertSpec {
        id: id.into(),
        cn: cn.into(),
        orgs: vec![],
        profile: Profile::Ca,
        issuer: None,
        dns: vec![cn.into()],
        ips: vec![],
    }
}

fn leaf(id: String, cn: &str, orgs: &[&str], profile: Profile, issuer: &str) -> CertSpec {
    CertSpec {
        id,
        cn: cn.into(),
        orgs: orgs.iter().map(|o| o.to_string()).collect(),
        profile,
        issuer: Some(issuer.into()),
        dns: vec![],
        ips: vec![],
    }
}

/// Every certificate of the cluster, CAs first.
pub fn certificates(inv: &Inventory) -> Result<Vec<CertSpec>, SpecError> {
    let c = &inv.cluster;
    let mut out = vec![
        ca("ca", "kubernetes"),
        ca("front-proxy-ca", "front-proxy-ca"),
        ca("etcd/ca", "etcd-ca"),
    ];
    let first_service_ip = nth_ip(c.service_subnet.network(), 1);
    for h in inv.with_role(Role::ControlPlane) {
        let ip = cert_ip(h)?;
        let n = |f: &str| format!("nodes/{}/{f}", h.name);
        let p = |f: &str| format!("nodes/{}/pki/{f}", h.name);
        let mut api = leaf(p("apiserver"), "kube-apiserver", &[], Profile::Server, "ca");
        api.dns = vec![
            h.name.to_string(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            format!("kubernetes.default.svc.{}", c.dns_domain),
        ];
        api.ips = vec![first_service_ip, ip];
        let endpoint = c.control_plane_endpoint.iter().map(|ep| &ep.host);
        for name in endpoint.chain(&inv.pki.extra_sans) {
            match name.parse::<IpAddr>() {
                Ok(ip) => api.ips.push(ip),
                Err(_) => api.dns.push(name.clone()),
            }
        }
        dedup(&mut api);
        out.push(api);
        out.push(leaf(
            p("apiserver-kubelet-client"),
            "kube-apiserver-kubelet-client",
            &[],
            Profile::Client,
            "ca",
        ));
        out.push(leaf(
            p("front-proxy-client"),
            "front-proxy-client",
            &[],
            Profile::Client,
            "front-proxy-ca",
        ));
        out.push(leaf(
            p("apiserver-etcd-client"),
            "kube-apiserver-etcd-client",
            &[],
            Profile::Client,
            "etcd/ca",
        ));
        out.push(leaf(
            n("admin.conf"),
            "kubernetes-admin",
            &["kubeadm:cluster-admins"],
            Profile::Client,
            "ca",
        ));
        out.push(leaf(
            n("super-admin.conf"),
            "kubernetes-super-admin",
            &["system:masters"],
            Profile::Client,
            "ca",
        ));
        out.push(leaf(
            n("controller-manager.conf"),
            "system:kube-controller-manager",
            &[],
            Profile::Client,
            "ca",
        ));
        out.push(leaf(
            n("scheduler.conf"),
            "system:kube-scheduler",
            &[],
            Profile::Client,
            "ca",
        ));
    }
    for h in inv.etcd_members() {
        out.extend(etcd_member(h)?);
    }
    Ok(out)
}

/// An etcd member's server, peer and healthcheck-client certificates (stacked or external).
fn etcd_member(h: &Host) -> Result<Vec<CertSpec>, SpecError> {
    let ip = cert_ip(h)?;
    let n = |f: &str| format!("nodes/{}/pki/etcd/{f}", h.name);
    let mut v = Vec::new();
    for f in ["server", "peer"] {
        let mut s = leaf(n(f), h.name.as_str(), &[], Profile::ServerClient, "etcd/ca");
        s.dns = vec![h.name.to_string(), "localhost".into()];
        s.ips = vec![
            ip,
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ];
        dedup(&mut s);
        v.push(s);
    }
    v.push(leaf(
        n("healthcheck-client"),
        "kube-etcd-healthcheck-client",
        &[],
        Profile::Client,
        "etcd/ca",
    ));
    Ok(v)
}

fn dedup(s: &mut CertSpec) {
    let mut seen = std::collections::HashSet::new();
    s.dns.retain(|d| seen.insert(d.clone()));
    let mut seen = std::collections::HashSet::new();
    s.ips.retain(|i| seen.insert(*i));
}

/// The `n`th address of a network (index 1 of 10.96.0.0/12 is 10.96.0.1).
fn nth_ip(net: IpAddr, n: u128) -> IpAddr {
    match net {
        IpAddr::V4(v4) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4).wrapping_add(n as u32))),
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6).wrapping_add(n))),
    }
}
