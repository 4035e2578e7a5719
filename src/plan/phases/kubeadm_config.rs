//! Phase `kubeadm-config`: each node's kubeadm configuration in `kubeadm.k8s.io/v1beta4`, from
//! the whole inventory and the local PKI — InitConfiguration + ClusterConfiguration +
//! KubeletConfiguration for the first control plane, JoinConfiguration (complete: endpoint,
//! pre-made token, CA hash) for the others. Written 0600 (it holds the token); `kubeadm init` /
//! `join` (next phases) read them.

use crate::facts::HostFacts;
use crate::inventory::{EtcdTopology, Host, Inventory, KeyAlgorithm, Role};
use crate::paths;
use crate::pki::spec::cert_ip;
use crate::plan::{Content, Context, HostSteps, Phase, PlanError};
use crate::render::render;
use crate::secret::BootstrapToken;

use super::container_runtime::SOCKET;
use super::file;

pub struct KubeadmConfig;

/// `host:port` of the API: the inventory's endpoint, or the first control plane's IP on 6443.
pub fn api_endpoint(inv: &Inventory) -> Result<String, PlanError> {
    if let Some(ep) = &inv.cluster.control_plane_endpoint {
        return Ok(ep.to_string());
    }
    let first = first_control_plane(inv).ok_or_else(|| {
        PlanError::new(
            "the inventory has no control plane",
            "give one host the `control-plane` role",
        )
    })?;
    let ip = cert_ip(first).map_err(|e| PlanError::new(e.to_string(), e.hint()))?;
    Ok(crate::inventory::Endpoint {
        host: ip.to_string(),
        port: 6443,
    }
    .to_string())
}

/// The control plane that runs `kubeadm init`: the first in the inventory.
pub fn first_control_plane(inv: &Inventory) -> Option<&Host> {
    inv.with_role(Role::ControlPlane).next()
}

fn algorithm(a: KeyAlgorithm) -> &'static str {
    match a {
        KeyAlgorithm::EcdsaP256 => "ECDSA-P256",
        KeyAlgorithm::EcdsaP384 => "ECDSA-P384",
        KeyAlgorithm::Rsa2048 => "RSA-2048",
        KeyAlgorithm::Rsa3072 => "RSA-3072",
        KeyAlgorithm::Rsa4096 => "RSA-4096",
    }
}

/// The pre-made bootstrap token from the PKI folder.
pub fn bootstrap_token(cx: &Context) -> Result<BootstrapToken, PlanError> {
    let token = cx.pki.get("bootstrap-token").ok_or_else(|| {
        PlanError::new(
            format!("`{}/bootstrap-token` is missing", cx.certs_dir.display()),
            "run `groundup pki generate` for this inventory",
        )
    })?;
    BootstrapToken::parse(token.trim()).ok_or_else(|| {
        PlanError::new(
            "the bootstrap-token file is damaged",
            "remove it and run `groundup pki generate` (a new token is made)",
        )
    })
}

/// The rendered configuration of one node: its path and text (which holds the token).
pub fn config(cx: &Context, host: &Host, hf: Option<&HostFacts>) -> Result<(&'static str, String), PlanError> {
    let inv = cx.inv;
    let missing = |f: &str| {
        PlanError::new(
            format!("`{}/{f}` is missing", cx.certs_dir.display()),
            "run `groundup pki generate` for this inventory",
        )
    };
    let token = bootstrap_token(cx)?;
    let ca = cx.pki.get("ca.crt").ok_or_else(|| missing("ca.crt"))?;
    let ca_hash = crate::pki::inspect::ca_cert_hash(ca)
        .map_err(|e| PlanError::new(format!("ca.crt: {e}"), "run `groundup pki verify`"))?;
    // The node IP: pinned in the inventory, else what the host's facts say (as preflight does).
    let node_ip = host
        .pinned_ip()
        .or_else(|| {
            hf.and_then(|f| crate::preflight::node_ip(host, &f.facts).ok())
                .map(|n| n.ip)
        })
        .map(|ip| ip.to_string());
    let endpoint = api_endpoint(inv)?;
    let first = first_control_plane(inv).is_some_and(|f| f.name == host.name);
    // kubeadm's preflight refuses cgroup v1 (SystemVerification) as kubelet does; the inventory's
    // explicit, deprecated opt-in turns off both.
    let ignore_preflight: Vec<&str> = if inv.kube.allow_cgroup_v1 {
        vec!["SystemVerification"]
    } else {
        vec![]
    };
    let bug = |t: &str, e: minijinja::Error| {
        PlanError::new(format!("template {t}: {e}"), "this is a groundup bug; please report it")
    };
    if first {
        let etcd_endpoints: Vec<String> = match inv.cluster.etcd {
            EtcdTopology::Stacked => vec![],
            EtcdTopology::External => inv
                .etcd_members()
                .map(|m| {
                    cert_ip(m).map(|ip| {
                        format!(
                            "https://{}",
                            crate::inventory::Endpoint {
                                host: ip.to_string(),
                                port: 2379
                            }
                        )
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(|e| PlanError::new(e.to_string(), e.hint()))?,
        };
        let mut cert_sans: Vec<String> = inv
            .cluster
            .control_plane_endpoint
            .iter()
            .map(|e| e.host.clone())
            .collect();
        cert_sans.extend(inv.pki.extra_sans.iter().cloned());
        let c = &inv.cluster;
        let text = render(
            "kubeadm-init.yaml",
            minijinja::context! {
                name => host.name.as_str(), token => token.expose(), cri_socket => SOCKET, node_ip,
                cluster => c.name.as_str(), version => c.kubernetes_version.to_string(), endpoint,
                pki => paths::KUBE_PKI, algorithm => algorithm(inv.pki.algorithm),
                validity_hours => inv.pki.validity_days * 24, ca_validity_hours => inv.pki.ca_validity_days * 24,
                pod_subnet => c.pod_subnet.to_string(), service_subnet => c.service_subnet.to_string(),
                dns_domain => c.dns_domain.as_str(), etcd_endpoints, cert_sans,
                encryption => c.encrypt_secrets, audit => c.audit_log, groundup_dir => paths::GROUNDUP_KUBE_DIR,
                ignore_preflight, timeouts => &inv.kube.kubeadm_timeouts, fail_cgroup_v1 => !inv.kube.allow_cgroup_v1,
                proxy_mode => inv.kube.proxy_mode.as_deref(), conntrack_max_per_core => inv.kube.conntrack_max_per_core,
            },
        )
        .map_err(|e| bug("kubeadm-init.yaml", e))?;
        Ok((paths::KUBEADM_INIT, text))
    } else {
        let text = render(
            "kubeadm-join.yaml",
            minijinja::context! {
                name => host.name.as_str(), token => token.expose(), cri_socket => SOCKET, node_ip, endpoint,
                ca_hash, pki => paths::KUBE_PKI, control_plane => host.has(Role::ControlPlane),
                ignore_preflight, timeouts => &inv.kube.kubeadm_timeouts,
            },
        )
        .map_err(|e| bug("kubeadm-join.yaml", e))?;
        Ok((paths::KUBEADM_JOIN, text))
    }
}

/// The API server's own files on every control plane: the encryption configuration (secret) and
/// the audit policy, each when switched on in `[cluster]`.
pub fn apiserver_files(cx: &Context) -> Result<Vec<(&'static str, &'static str, Content)>, PlanError> {
    let c = &cx.inv.cluster;
    let bug = |t: &str, e: minijinja::Error| {
        PlanError::new(format!("template {t}: {e}"), "this is a groundup bug; please report it")
    };
    let mut out = Vec::new();
    if c.encrypt_secrets {
        let key = cx.pki.get("encryption-key").ok_or_else(|| {
            PlanError::new(
                format!("`{}/encryption-key` is missing", cx.certs_dir.display()),
                "run `groundup pki generate` (it makes the key once), or set `encrypt_secrets = false` in [cluster]",
            )
        })?;
        let text = render("encryption.yaml", minijinja::context! { key => key.trim() })
            .map_err(|e| bug("encryption.yaml", e))?;
        out.push(("encryption-config", paths::ENCRYPTION_CONFIG, Content::secret(text)));
    }
    if c.audit_log {
        let text = render("audit-policy.yaml", minijinja::context! {}).map_err(|e| bug("audit-policy.yaml", e))?;
        out.push(("audit-policy", paths::AUDIT_POLICY, Content::new(text)));
    }
    Ok(out)
}

impl Phase for KubeadmConfig {
    fn name(&self) -> &'static str {
        "kubeadm-config"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.is_node()
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        let (path, text) = config(cx, host, Some(hf))?;
        file(&mut hs, &hf.facts, "kubeadm-config", path, 0o600, Content::secret(text));
        if host.has(Role::ControlPlane) {
            for (id, path, content) in apiserver_files(cx)? {
                file(
                    &mut hs,
                    &hf.facts,
                    id,
                    path,
                    if content.secret { 0o600 } else { 0o644 },
                    content,
                );
            }
        }
        Ok(hs)
    }
}
