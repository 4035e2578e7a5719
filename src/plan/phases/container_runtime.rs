//! Phases `container-runtime` and `sandbox-image`: containerd configured for Kubernetes —
//! `config.toml` from `templates/` for the installed major version (systemd cgroups, the sandbox
//! image, registry mirrors via `certs.d`), enabled and running, crictl pointed at it. Restarted
//! when its configuration changed, or when it runs older than its files.
//!
//! The sandbox (pause) image is the one the installed kubeadm pins, as `kubeadm config images
//! list` prints it (facts section `kubeadm-pause`): one source of truth, no table that drifts
//! (issue 10, defect 2: 1.36 pins pause 3.10.2, the old table said 3.10.1). kubeadm is installed
//! after containerd, so `sandbox-image` plans the same configuration again right after
//! `kube-packages`; on a fresh host that is where the sandbox line first appears.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::paths;
use crate::plan::{Content, Context, HostSteps, Phase, PlanError, Step};
use crate::render::render;

use super::file;
use super::runtime_packages::containerd_major;

pub const SOCKET: &str = "unix:///run/containerd/containerd.sock";

pub struct ContainerRuntime;

pub struct SandboxImage;

impl Phase for SandboxImage {
    fn name(&self) -> &'static str {
        "sandbox-image"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.is_node()
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        ContainerRuntime.plan(cx, host, hf)
    }
}

impl Phase for ContainerRuntime {
    fn name(&self) -> &'static str {
        "container-runtime"
    }
    /// Nodes only: an external etcd member runs no containers.
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.is_node()
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let rt = &cx.inv.node.runtime;
        let mut hs = HostSteps::default();
        let bug = |t: &str, e: minijinja::Error| {
            PlanError::new(format!("template {t}: {e}"), "this is a groundup bug; please report it")
        };
        let (major, why) = containerd_major(f, rt.source);
        let template = if major >= 2 {
            "containerd-config-v3.toml"
        } else {
            "containerd-config-v2.toml"
        };
        let sandbox = rt.sandbox_image.clone().or_else(|| f.state.kubeadm_pause.clone());
        if sandbox.is_none() {
            hs.warn(if f.packages.contains_key("kubeadm") {
                "the installed kubeadm names no pause image (`kubeadm config images list` failed): containerd keeps its default"
            } else {
                "the sandbox image is set once kubeadm is installed (phase sandbox-image): kubeadm pins it"
            });
        }
        let config = render(
            template,
            minijinja::context! { sandbox_image => sandbox, certs_d => paths::CONTAINERD_CERTS_D },
        )
        .map_err(|e| bug(template, e))?;
        if !f.packages.contains_key("containerd") && !f.packages.contains_key("containerd.io") {
            hs.warn(format!(
                "containerd is not installed yet: planned for containerd {major}.x ({why})"
            ));
        }
        let mut read_by_containerd = vec![
            paths::CONTAINERD_CONFIG.to_string(),
            paths::CONTAINERD_PROXY.to_string(),
        ];
        let mut changed = file(
            &mut hs,
            f,
            "containerd-config",
            paths::CONTAINERD_CONFIG,
            0o644,
            Content::new(config),
        );
        for (registry, mirrors) in &rt.mirrors {
            let server = if registry == "docker.io" {
                "https://registry-1.docker.io".to_string()
            } else {
                format!("https://{registry}")
            };
            let hosts = render(
                "containerd-hosts.toml",
                minijinja::context! { registry, server, mirrors },
            )
            .map_err(|e| bug("containerd-hosts.toml", e))?;
            let path = paths::containerd_hosts_toml(registry);
            read_by_containerd.push(path.clone());
            changed |= file(
                &mut hs,
                f,
                &format!("mirror-{registry}"),
                &path,
                0o644,
                Content::new(hosts),
            );
        }
        let crictl =
            render("crictl.yaml", minijinja::context! { socket => SOCKET }).map_err(|e| bug("crictl.yaml", e))?;
        file(&mut hs, f, "crictl-config", paths::CRICTL, 0o644, Content::new(crictl));

        let svc = f.state.service("containerd");
        if !svc.is_enabled() || !svc.is_active() {
            // A first start reads the new configuration; no separate restart needed.
            hs.change(Step::script(
                "containerd-enable",
                "enable and start containerd",
                "systemctl enable --now containerd\nsystemctl is-active -q containerd",
            ));
            if changed && svc.is_active() {
                hs.change(restart("its configuration changed"));
            }
        } else if changed {
            hs.change(restart("its configuration changed"));
        } else if f.state.runs_older_than("containerd", &read_by_containerd) {
            // Written by an earlier run whose restart never happened (interrupted, or failed).
            hs.change(restart("it runs with an older configuration than its files"));
        } else {
            hs.unchanged("containerd", "enabled and running with the current configuration");
        }
        Ok(hs)
    }
}

/// Reloads units first: the proxy phase's drop-in is part of what containerd reads.
fn restart(why: &str) -> Step {
    Step::script(
        "containerd-restart",
        format!("restart containerd ({why})"),
        "systemctl daemon-reload\nsystemctl restart containerd\nsystemctl is-active -q containerd",
    )
}
