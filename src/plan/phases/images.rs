//! Phase `images`: container image archives from `[artifacts]` (`docker save` or OCI, `.tar` or
//! `.tar.gz`) into containerd's `k8s.io` namespace on every node, for sites where registries
//! cannot be reached: kubeadm's images, flannel, kube-vip, whatever the folder holds. Each
//! archive is uploaded once (sha256-checked) and imported only while one of its images is
//! missing from `ctr images ls`, so a second apply does nothing. Imported images are labelled
//! `io.cri-containerd.pinned=pinned`: containerd's CRI (1.7 and later) reports them pinned, and
//! kubelet's image garbage collection never removes them, so an air-gapped node keeps what it may
//! need to restart (issue 21, defect 5; containerd 1.6 ignores the label).

use crate::artifacts::Kind;
use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

use super::upload;

pub struct Images;

/// containerd's label for an image kubelet must never remove.
pub const PINNED: &str = "io.cri-containerd.pinned=pinned";

impl Phase for Images {
    fn name(&self) -> &'static str {
        "images"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.is_node()
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        let archives: Vec<_> = cx.artifacts.files.iter().filter(|a| a.kind == Kind::Image).collect();
        if archives.is_empty() {
            hs.unchanged("images", "pulled from registries (no image archives in [artifacts])");
            return Ok(hs);
        }
        let have = &hf.facts.state.images;
        for a in archives {
            let missing: Vec<&str> = a
                .images
                .iter()
                .filter(|i| !have.contains(i))
                .map(String::as_str)
                .collect();
            let pin = |names: &[&str]| -> String {
                names
                    .iter()
                    .map(|n| format!("ctr -n k8s.io images label {n} {PINNED} >/dev/null"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            if missing.is_empty() {
                let unpinned: Vec<&str> = a
                    .images
                    .iter()
                    .filter(|i| !hf.facts.state.pinned.contains(i))
                    .map(String::as_str)
                    .collect();
                if unpinned.is_empty() {
                    hs.unchanged(
                        format!("images of {}", a.file),
                        format!("present and pinned: {}", a.images.join(", ")),
                    );
                } else {
                    hs.change(Step::script(
                        &format!("pin-{}", a.file),
                        format!(
                            "pin {} (kubelet's image garbage collection keeps them)",
                            unpinned.join(", ")
                        ),
                        pin(&unpinned),
                    ));
                }
                continue;
            }
            let all: Vec<&str> = a.images.iter().map(String::as_str).collect();
            let path = upload(&mut hs, &hf.facts, a);
            // ctr reads a plain tar only: a gzipped archive is unpacked beside it first.
            let import = if a.file.ends_with(".gz") {
                format!(
                    "t=$(mktemp {path}.XXXXXX)\ntrap 'rm -f \"$t\"' EXIT\ngzip -dc {path} > \"$t\"\n\
                     ctr -n k8s.io images import \"$t\"\n{}",
                    pin(&all)
                )
            } else {
                format!("ctr -n k8s.io images import {path}\n{}", pin(&all))
            };
            hs.change(
                Step::script(
                    &format!("import-{}", a.file),
                    format!("import {} into containerd and pin it: {}", a.file, missing.join(", ")),
                    import,
                )
                .with_hint("check that containerd runs (`systemctl status containerd`) and that the archive is for this architecture"),
            );
        }
        Ok(hs)
    }
}
