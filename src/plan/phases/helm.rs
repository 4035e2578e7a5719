//! Phase `helm`: the pinned helm release on the first control plane (as the FIWARE playbooks do),
//! from `[artifacts]` (`helm-<version>-linux-<arch>.tar.gz`, uploaded and sha256-checked) or from
//! get.helm.sh, checked against the `.sha256sum` published beside it. Left alone when that
//! version is installed; `[helm] install = false` switches it off.

use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::paths;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

use super::kubeadm_config::first_control_plane;
use super::{ensure_curl, offline_hint, upload, with_proxy};

pub struct Helm;

/// helm's name for an architecture (`uname -m` → `amd64`, `arm64`).
fn arch(uname: &str) -> &str {
    match uname {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

impl Phase for Helm {
    fn name(&self) -> &'static str {
        "helm"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.has(Role::ControlPlane)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        let Some(version) = &cx.inv.node.helm else {
            hs.unchanged("helm", "[helm] install = false");
            return Ok(hs);
        };
        if first_control_plane(cx.inv).is_none_or(|f| f.name != host.name) {
            hs.unchanged("helm", "installed on the first control plane only");
            return Ok(hs);
        }
        let f = &hf.facts;
        if f.state.helm.as_deref() == Some(version.as_str()) {
            hs.unchanged("helm", format!("{version} installed"));
            return Ok(hs);
        }
        let tarball = format!("helm-{version}-linux-{}.tar.gz", arch(&f.arch));
        // Unpacks into the temporary folder `$t` (made, and removed on exit, by the caller's lines).
        let unpack = |src: &str| {
            format!(
                "tar -xzf {src} -C \"$t\"\ninstall -m 0755 \"$t/linux-{a}/helm\" {helm}\n{helm} version --template '{{{{.Version}}}}'",
                a = arch(&f.arch),
                helm = paths::HELM
            )
        };
        let temp = "t=$(mktemp -d)\ntrap 'rm -rf \"$t\"' EXIT\n";
        let script = match cx.artifacts.file(&tarball) {
            Some(a) => {
                let remote = upload(&mut hs, f, a);
                format!("{temp}{}", unpack(&remote))
            }
            None => {
                let os = crate::os::Os::of(f)?;
                ensure_curl(&mut hs, cx, &os, f);
                let url = format!("https://get.helm.sh/{tarball}");
                with_proxy(&format!(
                    "{temp}\
                     curl -fsSL --retry 2 --connect-timeout 10 --max-time 300 -o \"$t/{tarball}\" {url}\n\
                     curl -fsSL --retry 2 --connect-timeout 10 --max-time 60 -o \"$t/sum\" {url}.sha256sum\n\
                     (cd \"$t\" && echo \"$(cut -d' ' -f1 sum)  {tarball}\" | sha256sum -c --quiet)\n{}",
                    unpack(&format!("\"$t/{tarball}\""))
                ))
            }
        };
        let was = f
            .state
            .helm
            .as_deref()
            .map(|v| format!(" (was {v})"))
            .unwrap_or_default();
        hs.change(
            Step::script(
                "helm-install",
                format!("install helm {version} to {}{was}", paths::HELM),
                script,
            )
            .with_hint(offline_hint("get.helm.sh").replace("the packages", format!("`{tarball}`").as_str())),
        );
        Ok(hs)
    }
}
