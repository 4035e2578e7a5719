//! Phases `api-endpoint` and `kube-vip`: the shared API endpoint of a cluster with several control
//! planes, as `[api]` says.
//! - `local-lb`: haproxy on every node at 127.0.0.1:<port>, in front of every API server (checked
//!   by `/readyz`), started before `kubeadm init` so the first kubelet can already use it.
//! - `vip`: kube-vip as a static pod on each control plane, announcing the VIP by ARP. The first
//!   control plane gets it before `kubeadm init`, reading super-admin.conf (admin.conf has no RBAC
//!   binding until init has made it); the others only after `kubeadm join`, which refuses a
//!   non-empty manifests folder. Phase `kube-vip` then gives every control plane the steady
//!   manifest, on admin.conf.
//! - `external` and a single control plane: nothing to put on the hosts.

use std::net::IpAddr;

use crate::facts::HostFacts;
use crate::inventory::{ApiMode, Host, Role};
use crate::os::Os;
use crate::paths;
use crate::pki::spec::cert_ip;
use crate::plan::{Content, Context, HostSteps, Phase, PlanError, Step};
use crate::render::render;

use super::kubeadm_config::first_control_plane;
use super::{file, install, offline_hint, Want};

pub struct ApiEndpoint;
pub struct KubeVip;

fn bug(t: &str, e: minijinja::Error) -> PlanError {
    PlanError::new(format!("template {t}: {e}"), "this is a groundup bug; please report it")
}

fn plan_error(e: crate::pki::spec::SpecError) -> PlanError {
    PlanError::new(e.to_string(), e.hint())
}

/// `host:port` with IPv6 in brackets.
fn socket(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        v4 => format!("{v4}:{port}"),
    }
}

/// haproxy's configuration for `host`: every control plane of the inventory as a backend.
pub fn haproxy_cfg(cx: &Context, host: &Host, port: u16) -> Result<String, PlanError> {
    let backends = cx
        .inv
        .with_role(Role::ControlPlane)
        .map(|cp| cert_ip(cp).map(|ip| minijinja::context! { name => cp.name.as_str(), address => socket(ip, 6443) }))
        .collect::<Result<Vec<_>, _>>()
        .map_err(plan_error)?;
    render(
        "haproxy.cfg",
        minijinja::context! { name => host.name.as_str(), port, backends },
    )
    .map_err(|e| bug("haproxy.cfg", e))
}

/// kube-vip's static pod for `host`; `bootstrap` reads super-admin.conf (first control plane
/// before `kubeadm init`). The NIC: `[api] interface`, else the host's `iface`, else the NIC that
/// carries its node IP (facts).
pub fn kube_vip_manifest(
    cx: &Context,
    host: &Host,
    hf: Option<&HostFacts>,
    bootstrap: bool,
) -> Result<String, PlanError> {
    let ApiMode::Vip {
        interface,
        kube_vip_version,
    } = &cx.inv.cluster.api
    else {
        return Err(PlanError::new(
            "kube-vip outside [api] mode = \"vip\"",
            "this is a groundup bug; please report it",
        ));
    };
    let ep = cx
        .inv
        .cluster
        .control_plane_endpoint
        .as_ref()
        .expect("vip mode has an endpoint (validated)");
    let nic = interface
        .clone()
        .or_else(|| host.iface.clone())
        .or_else(|| hf.and_then(|f| crate::preflight::node_ip(host, &f.facts).ok()?.iface));
    let Some(nic) = nic else {
        return Err(PlanError::new(
            format!("which NIC should kube-vip announce {} on, on {}?", ep.host, host.name),
            "set `interface` in [api] (or `iface` on the host); the facts of the host decide otherwise",
        ));
    };
    let prefix = if ep.host.contains(':') { 128 } else { 32 };
    render(
        "kube-vip.yaml",
        minijinja::context! {
            name => host.name.as_str(), vip => ep.host.as_str(), port => ep.port, interface => nic, prefix,
            version => kube_vip_version.as_str(), bootstrap,
            kubeconfig => if bootstrap { paths::SUPER_ADMIN_CONF } else { paths::ADMIN_CONF },
        },
    )
    .map_err(|e| bug("kube-vip.yaml", e))
}

/// Plans kube-vip's static pod (0600, like kubeadm's own manifests).
fn kube_vip_file(
    hs: &mut HostSteps,
    cx: &Context,
    host: &Host,
    hf: &HostFacts,
    bootstrap: bool,
) -> Result<(), PlanError> {
    let text = kube_vip_manifest(cx, host, Some(hf), bootstrap)?;
    let id = if bootstrap { "kube-vip-bootstrap" } else { "kube-vip" };
    file(hs, &hf.facts, id, paths::KUBE_VIP_MANIFEST, 0o600, Content::new(text));
    Ok(())
}

fn is_first(cx: &Context, host: &Host) -> bool {
    first_control_plane(cx.inv).is_some_and(|f| f.name == host.name)
}

/// Whether kubeadm has run here: the first control plane initialised, or any host joined.
fn is_member(hf: &HostFacts) -> bool {
    hf.facts.state.files.contains_key(paths::KUBELET_CONF)
}

impl Phase for ApiEndpoint {
    fn name(&self) -> &'static str {
        "api-endpoint"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.is_node()
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        match &cx.inv.cluster.api {
            ApiMode::LocalLb => {
                let port = cx.inv.cluster.control_plane_endpoint.as_ref().map_or(6444, |e| e.port);
                local_lb(&mut hs, cx, host, hf, port)?;
            }
            ApiMode::Vip { .. } if host.has(Role::ControlPlane) => {
                if is_member(hf) {
                    kube_vip_file(&mut hs, cx, host, hf, false)?;
                } else if is_first(cx, host) {
                    kube_vip_file(&mut hs, cx, host, hf, true)?;
                } else {
                    hs.unchanged(
                        paths::KUBE_VIP_MANIFEST,
                        "written after `kubeadm join` (join needs an empty manifests folder), in phase kube-vip",
                    );
                }
            }
            ApiMode::Vip { .. } => hs.unchanged("API endpoint", "workers reach the VIP; nothing to put here"),
            ApiMode::External => hs.unchanged("API endpoint", "an external load balancer, not managed by groundup"),
            ApiMode::Direct => hs.unchanged("API endpoint", "one control plane: clients use its API server directly"),
        }
        Ok(hs)
    }
}

impl Phase for KubeVip {
    fn name(&self) -> &'static str {
        "kube-vip"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.has(Role::ControlPlane)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        if !matches!(cx.inv.cluster.api, ApiMode::Vip { .. }) {
            hs.unchanged("kube-vip", "not used ([api] mode is not \"vip\")");
            return Ok(hs);
        }
        // In a plan of a fresh cluster the host has not joined yet: the manifest comes after.
        kube_vip_file(&mut hs, cx, host, hf, false)?;
        Ok(hs)
    }
}

/// haproxy from the OS (or `[artifacts]`), its configuration, (re)started when either changed,
/// then a wait until it listens.
fn local_lb(hs: &mut HostSteps, cx: &Context, host: &Host, hf: &HostFacts, port: u16) -> Result<(), PlanError> {
    let f = &hf.facts;
    let os = Os::of(f)?;
    install(
        hs,
        cx,
        &os,
        f,
        "haproxy-install",
        &[Want {
            name: "haproxy",
            version: None,
        }],
        &offline_hint("the haproxy package"),
    );
    let cfg = haproxy_cfg(cx, host, port)?;
    let changed = file(hs, f, "haproxy-config", paths::HAPROXY_CFG, 0o644, Content::new(cfg));
    let svc = f.state.service("haproxy");
    if changed
        || !svc.is_active()
        || svc.enabled != "enabled"
        || f.state.runs_older_than("haproxy", &[paths::HAPROXY_CFG])
    {
        hs.change(
            Step::script(
                "haproxy-start",
                format!("check and (re)start haproxy on 127.0.0.1:{port}"),
                format!(
                    "haproxy -c -q -f {cfg}\n\
                     systemctl enable -q haproxy\n\
                     systemctl restart haproxy\n\
                     for _ in $(seq 1 30); do\n  \
                     if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; then exit 0; fi\n  \
                     sleep 1\n\
                     done\n\
                     echo \"haproxy does not listen on 127.0.0.1:{port} after 30 s\" >&2\n\
                     journalctl -u haproxy -n 15 --no-pager >&2 || true\n\
                     exit 1",
                    cfg = paths::HAPROXY_CFG
                ),
            )
            .with_hint(format!(
                "see `journalctl -u haproxy` on {}; another program may hold port {port}",
                host.name
            )),
        );
    } else {
        hs.unchanged("haproxy", "active with the current configuration");
    }
    Ok(())
}
