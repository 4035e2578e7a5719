//! Phase `runtime-packages`: containerd (and runc) installed from the source the inventory picks:
//! Docker's `containerd.io` repository (containerd 2.x, the default) or the distribution's own
//! `containerd`; from `[artifacts]` instead when the folder has the package. Configuring and
//! starting it is the next phase, planned from the version actually installed.

use crate::facts::{Facts, HostFacts};
use crate::inventory::{Host, RuntimeSource};
use crate::os::Os;
use crate::plan::{Context, HostSteps, Phase, PlanError};

use super::{install, offline_hint, repository, Want};

pub struct RuntimePackages;

/// The containerd major version a host has, or will get from `source`.
pub fn containerd_major(f: &Facts, source: RuntimeSource) -> (u32, &'static str) {
    let installed = f.packages.get("containerd.io").or_else(|| f.packages.get("containerd"));
    match installed.and_then(|v| v.split(':').next_back()?.split('.').next()?.parse().ok()) {
        Some(m) => (m, "installed"),
        None if source == RuntimeSource::Docker => (2, "containerd.io from Docker's repository is 2.x"),
        None => (1, "distribution packages are 1.x on Debian 12 and Ubuntu 22.04/24.04"),
    }
}

impl Phase for RuntimePackages {
    fn name(&self) -> &'static str {
        "runtime-packages"
    }
    /// Nodes only: an external etcd member runs no containers.
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.is_node()
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let os = Os::of(f)?;
        let source = cx.inv.node.runtime.source;
        let pkg = os.containerd_package(source)?;
        let mut hs = HostSteps::default();
        let from_artifacts = cx.artifacts.package(os.package_kind(), pkg, None, &f.arch).is_some();
        let installed = f.packages.contains_key(pkg);
        let other = if pkg == "containerd.io" {
            "containerd"
        } else {
            "containerd.io"
        };
        if !installed {
            if let Some(v) = f.packages.get(other) {
                // Installing one would remove the other: never swap the runtime under a node.
                return Err(PlanError::new(
                    format!("`{other}` {v} is installed, but the inventory asks for `{pkg}` (source = \"{}\")", if pkg == "containerd.io" { "docker" } else { "os" }),
                    format!(
                        "apply does not swap the container runtime of a host: set `[container_runtime] source = \"{}\"` to keep it, \
                         or remove `{other}` yourself first",
                        if other == "containerd.io" { "docker" } else { "os" }
                    ),
                ));
            }
        }
        if !installed && !from_artifacts && source == RuntimeSource::Docker {
            repository(
                &mut hs,
                cx,
                &os,
                f,
                "docker",
                os.docker_repo(&f.arch),
                "download.docker.com",
            );
        }
        install(
            &mut hs,
            cx,
            &os,
            f,
            "containerd-install",
            &[Want {
                name: pkg,
                version: None,
            }],
            &offline_hint("the containerd repository"),
        );
        let k8s = cx.inv.cluster.kubernetes_version;
        let (major, why) = containerd_major(f, source);
        if major < 2 && k8s.minor >= 36 {
            let fix = if installed || source == RuntimeSource::Docker {
                "upgrade the installed containerd to 2.x (groundup never upgrades an installed runtime)"
            } else {
                "use `[container_runtime] source = \"docker\"`"
            };
            hs.warn(format!(
                "containerd {major}.x ({why}) with Kubernetes {k8s}: Kubernetes 1.36 and later need containerd 2.x; {fix}"
            ));
        }
        Ok(hs)
    }
}
