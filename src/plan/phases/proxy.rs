//! Phase `proxy`: HTTP(S) proxy settings for the package manager, containerd's image pulls and
//! groundup's own downloads, with a NO_PROXY computed from the whole inventory (node names and
//! IPs, pod and service subnets, the cluster domain, the API endpoint). Never for the API server
//! or the kubelet. Removes its files again when `[proxy]` leaves the inventory. Proxy URLs may
//! hold credentials: files are 0600, and no script or plan line contains them.

use crate::digest::sha256_hex;
use crate::facts::HostFacts;
use crate::inventory::{Host, Inventory};
use crate::os::Os;
use crate::paths;
use crate::plan::{Content, Context, HostSteps, Phase, PlanError, Step};
use crate::render::render;

use super::{file, remove};

pub struct Proxy;

/// NO_PROXY entries: loopback, every host's name and known addresses, the cluster's subnets and
/// domain, the API endpoint, then the inventory's own extras. Order kept, duplicates dropped.
pub fn no_proxy(inv: &Inventory) -> Vec<String> {
    let c = &inv.cluster;
    let mut out: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for h in &inv.hosts {
        out.push(h.name.to_string());
        if let Some(ip) = h.pinned_ip() {
            out.push(ip.to_string());
        }
        if h.ssh.address.parse::<std::net::IpAddr>().is_ok() {
            out.push(h.ssh.address.clone());
        }
    }
    out.push(c.pod_subnet.to_string());
    out.push(c.service_subnet.to_string());
    out.push(".svc".into());
    out.push(format!(".{}", c.dns_domain));
    if let Some(ep) = &c.control_plane_endpoint {
        out.push(ep.host.clone());
    }
    out.extend(inv.node.proxy.iter().flat_map(|p| p.no_proxy.iter().cloned()));
    let mut seen = std::collections::HashSet::new();
    out.retain(|e| seen.insert(e.clone()));
    out
}

impl Phase for Proxy {
    fn name(&self) -> &'static str {
        "proxy"
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let os = Os::of(f)?;
        let mut hs = HostSteps::default();
        let dnf_line_now = f.state.dnf_proxy.clone().unwrap_or_else(|| sha256_hex(b""));
        let Some(p) = &cx.inv.node.proxy else {
            let mut any = false;
            for (id, path) in [
                ("remove-proxy-env", paths::PROXY_ENV),
                ("remove-apt-proxy", paths::APT_PROXY),
            ] {
                any |= remove(&mut hs, f, id, path);
            }
            if remove(&mut hs, f, "remove-containerd-proxy", paths::CONTAINERD_PROXY) {
                hs.change(restart_containerd());
                any = true;
            }
            if matches!(os, Os::Dnf(_)) && dnf_line_now != sha256_hex(b"") {
                hs.change(Step::script(
                    "remove-dnf-proxy",
                    "remove proxy= from /etc/dnf/dnf.conf",
                    "sed -i '/^proxy=/d' /etc/dnf/dnf.conf",
                ));
                any = true;
            }
            if !any {
                hs.unchanged("proxy", "no [proxy] in the inventory, and none set by groundup");
            }
            return Ok(hs);
        };
        let ctx = minijinja::context! {
            http => p.http.as_ref().map(|s| s.expose()),
            https => p.https.as_ref().map(|s| s.expose()),
            no_proxy => no_proxy(cx.inv).join(","),
        };
        let r = |t: &str| {
            render(t, &ctx)
                .map_err(|e| PlanError::new(format!("template {t}: {e}"), "this is a groundup bug; please report it"))
        };
        file(
            &mut hs,
            f,
            "proxy-env",
            paths::PROXY_ENV,
            0o600,
            Content::secret(r("proxy.env")?),
        );
        match os {
            Os::Apt(_) => {
                file(
                    &mut hs,
                    f,
                    "apt-proxy",
                    paths::APT_PROXY,
                    0o600,
                    Content::secret(r("apt-proxy.conf")?),
                );
            }
            Os::Dnf(_) => {
                let url = p.https.as_ref().or(p.http.as_ref()).map(|s| s.expose()).unwrap_or("");
                if dnf_line_now == sha256_hex(format!("proxy={url}\n").as_bytes()) {
                    hs.unchanged("/etc/dnf/dnf.conf proxy", "set");
                } else {
                    // The URL comes from the 0600 env file, never from this script's text.
                    hs.change(Step::script(
                        "dnf-proxy",
                        "set proxy= in /etc/dnf/dnf.conf",
                        format!(
                            ". {}\nsed -i '/^proxy=/d' /etc/dnf/dnf.conf\nsed -i \"/^\\[main\\]/a proxy=${{HTTPS_PROXY:-$HTTP_PROXY}}\" /etc/dnf/dnf.conf",
                            paths::PROXY_ENV
                        ),
                    ));
                }
            }
        }
        if file(
            &mut hs,
            f,
            "containerd-proxy",
            paths::CONTAINERD_PROXY,
            0o600,
            Content::secret(r("containerd-proxy.conf")?),
        ) {
            hs.change(restart_containerd());
        }
        Ok(hs)
    }
}

/// Reloads units and restarts containerd only if it is running (a fresh host has none yet).
fn restart_containerd() -> Step {
    Step::script(
        "reload-containerd-env",
        "reload systemd, restart containerd if it runs",
        "systemctl daemon-reload\n# a fresh host has no containerd yet: nothing to restart\n\
         if systemctl cat containerd.service >/dev/null 2>&1; then systemctl try-restart containerd; fi",
    )
}
