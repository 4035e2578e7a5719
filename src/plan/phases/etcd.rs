//! Phase `etcd`: an external etcd cluster on the hosts whose only role is `etcd` — the
//! distribution's etcd (or `[artifacts]`), a systemd unit with groundup's server, peer and
//! client-auth certificates, members listed from the whole inventory, and a health check over
//! mTLS before anything goes on. Members start together (the phase runs them in parallel), so
//! a new cluster reaches quorum; an unchanged member is left alone.

use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::os::Os;
use crate::paths;
use crate::pki::spec::cert_ip;
use crate::plan::{Content, Context, HostSteps, Phase, PlanError, Step};
use crate::render::render;

use super::{file, install, offline_hint, Want};

pub struct Etcd;

/// An address as the host part of a URL (IPv6 in brackets).
pub fn url_host(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}

/// `name=https://ip:2380,…` for every member in the inventory (never narrowed by `--on`).
pub fn initial_cluster(cx: &Context) -> Result<String, PlanError> {
    let mut out = Vec::new();
    for m in cx.inv.etcd_members() {
        let ip = cert_ip(m).map_err(|e| PlanError::new(e.to_string(), e.hint()))?;
        out.push(format!("{}=https://{}:2380", m.name, url_host(ip)));
    }
    Ok(out.join(","))
}

impl Phase for Etcd {
    fn name(&self) -> &'static str {
        "etcd"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.has(Role::Etcd) && !host.has(Role::ControlPlane)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let os = Os::of(f)?;
        let mut hs = HostSteps::default();
        let wants: Vec<Want> = match os {
            Os::Apt(_) => vec![
                Want {
                    name: "etcd-server",
                    version: None,
                },
                Want {
                    name: "etcd-client",
                    version: None,
                },
            ],
            Os::Dnf(_) => vec![Want {
                name: "etcd",
                version: None,
            }],
        };
        install(
            &mut hs,
            cx,
            &os,
            f,
            "etcd-install",
            &wants,
            &offline_hint("the etcd package"),
        );
        let ip = url_host(cert_ip(host).map_err(|e| PlanError::new(e.to_string(), e.hint()))?);
        let unit = render(
            "etcd.service",
            minijinja::context! {
                name => host.name.as_str(),
                cluster => cx.inv.cluster.name.as_str(),
                binary => "/usr/bin/etcd",
                data_dir => format!("/var/lib/etcd/{}", cx.inv.cluster.name),
                ip,
                initial_cluster => initial_cluster(cx)?,
                pki => paths::KUBE_PKI,
            },
        )
        .map_err(|e| {
            PlanError::new(
                format!("template etcd.service: {e}"),
                "this is a groundup bug; please report it",
            )
        })?;
        let changed = file(&mut hs, f, "etcd-unit", paths::ETCD_UNIT, 0o644, Content::new(unit));
        let svc = f.state.service("etcd");
        if changed
            || !svc.is_active()
            || svc.enabled != "enabled"
            || f.state.runs_older_than("etcd", &[paths::ETCD_UNIT])
        {
            hs.change(Step::script(
                "etcd-start",
                "(re)start etcd with groundup's unit",
                // --no-block: a new member waits for its peers, which start in parallel.
                "systemctl daemon-reload\nsystemctl enable -q etcd\nsystemctl restart --no-block etcd",
            ));
            hs.change(health_step(&ip));
        } else {
            hs.unchanged("etcd", "active with the current unit");
        }
        Ok(hs)
    }
}

/// Waits (90 s at most) until this member answers `endpoint health` over mTLS with the
/// healthcheck client certificate; on failure, the unit's last log lines.
fn health_step(ip: &str) -> Step {
    let pki = paths::KUBE_PKI;
    Step::script(
        "etcd-health",
        format!("wait until etcd on {ip} is healthy (mTLS, healthcheck-client)"),
        format!(
            "for _ in $(seq 1 90); do\n  \
             if ETCDCTL_API=3 etcdctl --endpoints=https://{ip}:2379 --cacert={pki}/etcd/ca.crt \
             --cert={pki}/etcd/healthcheck-client.crt --key={pki}/etcd/healthcheck-client.key \
             --dial-timeout=2s --command-timeout=3s endpoint health >/dev/null 2>&1; then exit 0; fi\n  \
             sleep 1\n\
             done\n\
             echo \"etcd on {ip} is not healthy after 90 s\" >&2\n\
             journalctl -u etcd -n 15 --no-pager >&2 || true\n\
             exit 1"
        ),
    )
    .with_hint("check that every etcd member is up and that 2379-2380/tcp are open between them")
}
