//! `files-cleanup`: the folders a node leaves (kubeadm's, the CNI's and flannel's state, etcd's
//! data, groundup's own), the pod volume mounts still under /var/lib/kubelet, and groundup's own
//! files elsewhere (haproxy's configuration, the proxy drop-ins, an external etcd member's unit,
//! which is stopped and disabled first). Folders are emptied, not removed: some ship with the
//! packages. Each from its own presence.

use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::paths;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct FilesCleanup;

impl Phase for FilesCleanup {
    fn reads_leftovers(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "files-cleanup"
    }

    fn applies(&self, cx: &Context, host: &Host) -> bool {
        cx.reset.resets(host)
    }

    fn plan(&self, _cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let l = &hf.facts.state.leftovers;
        let mut hs = HostSteps::default();
        for m in l.mounts.iter().rev() {
            hs.change(
                Step::script(
                    "unmount",
                    format!("unmount {m}"),
                    format!("umount {}", shell_words::quote(m)),
                )
                .with_hint("a process may still use it: `fuser -vm` on the host names it"),
            );
        }
        for f in &l.files {
            let unit = match f.as_str() {
                paths::ETCD_UNIT => Some("etcd"),
                paths::HAPROXY_CFG => Some("haproxy"),
                _ => None,
            };
            let mut script = String::new();
            if let Some(u) = unit {
                script.push_str(&format!(
                    "systemctl disable --now {u} 2>/dev/null || systemctl stop {u}\n"
                ));
            }
            script.push_str(&format!("rm -f {f}\n"));
            if f.starts_with("/etc/systemd/") {
                script.push_str("systemctl daemon-reload\n");
            }
            if f.as_str() == paths::CONTAINERD_PROXY {
                script.push_str("systemctl daemon-reload\nif systemctl is-active -q containerd; then systemctl restart containerd; fi\n");
            }
            hs.change(Step::script(
                &format!("file-{}", f.rsplit('/').next().unwrap_or(f)),
                match unit {
                    Some(u) => format!("stop and disable {u}, remove groundup's {f}"),
                    None => format!("remove groundup's {f}"),
                },
                script.trim_end().to_string(),
            ));
        }
        for d in &l.dirs {
            hs.change(
                Step::script(
                    &format!("empty-{}", d.trim_start_matches('/').replace('/', "-")),
                    format!("empty {d}"),
                    format!("find {d} -mindepth 1 -delete"),
                )
                .with_hint(format!(
                    "something under {d} cannot be removed (a mount point, a read-only or immutable file): \
                     `findmnt -R {d}` and `lsattr -R {d}` on the host"
                )),
            );
        }
        if hs.items.is_empty() {
            hs.unchanged("folders, mounts and groundup's files", "nothing left");
        }
        Ok(hs)
    }
}
