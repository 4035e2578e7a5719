//! How groundup reaches etcd on one member, for backup and restore: the command lines only
//! (pure). External members run the distribution's etcd as a systemd unit, with its etcdctl (and
//! etcdutl from 3.5 on) on the host; stacked members run kubeadm's static pod, whose image
//! carries etcdctl and etcdutl: etcdctl runs inside the running container (`crictl exec`), and
//! etcdutl, which works on files while etcd may be stopped, from the image mounted read-only on
//! the host (`ctr images mount`). Both use the healthcheck client certificate over mTLS.

use crate::facts::HostFacts;
use crate::inventory::{EtcdTopology, Host, Inventory};
use crate::paths;
use crate::pki::spec::cert_ip;

use super::phases::etcd::url_host;
use super::PlanError;

/// kubeadm's etcd static pod manifest on a stacked member.
pub const ETCD_MANIFEST: &str = "/etc/kubernetes/manifests/etcd.yaml";
/// Where restore keeps manifests while the control plane is stopped.
pub const PARKED: &str = "/etc/kubernetes/groundup-restore";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    External,
    Stacked,
}

impl Access {
    pub fn of(inv: &Inventory) -> Access {
        match inv.cluster.etcd {
            EtcdTopology::External => Access::External,
            EtcdTopology::Stacked => Access::Stacked,
        }
    }

    /// Whether etcd runs on this member, from its facts: the unit is active (external), or
    /// kubeadm's manifest is in place and something listens on 2379 (stacked).
    pub fn running(self, hf: &HostFacts) -> bool {
        let f = &hf.facts;
        match self {
            Access::External => f.state.service("etcd").is_active(),
            Access::Stacked => f.state.files.contains_key(ETCD_MANIFEST) && f.listening.iter().any(|l| l.port == 2379),
        }
    }

    /// The member's data directory: kubeadm's for stacked, groundup's unit's for external.
    pub fn data_dir(self, inv: &Inventory) -> String {
        match self {
            Access::External => format!("/var/lib/etcd/{}", inv.cluster.name),
            Access::Stacked => "/var/lib/etcd".into(),
        }
    }

    /// Where a snapshot is written on the member: a path etcdctl can write to (inside the pod, a
    /// host folder it mounts) and the host can read.
    pub fn snapshot_path(self) -> &'static str {
        match self {
            Access::External => "/var/lib/groundup/backup/snapshot.db",
            Access::Stacked => "/var/lib/etcd/groundup-snapshot.db",
        }
    }

    /// Shell defining `ectl`: etcdctl against this member's own client URL over mTLS with the
    /// healthcheck client (stacked: inside the running etcd container). Scripts then call `ectl ARGS`.
    pub fn prelude(self) -> String {
        let p = format!("{}/etcd", paths::KUBE_PKI);
        let flags = format!(
            "--endpoints=https://127.0.0.1:2379 --cacert={p}/ca.crt --cert={p}/healthcheck-client.crt \
             --key={p}/healthcheck-client.key --dial-timeout=5s --command-timeout=60s"
        );
        match self {
            Access::External => format!("ectl() {{ ETCDCTL_API=3 etcdctl {flags} \"$@\"; }}"),
            Access::Stacked => format!(
                "ectl() {{\n  cid=$(crictl ps -q --name '^etcd$' --state running | head -n1)\n  \
                 [ -n \"$cid\" ] || {{ echo 'no running etcd container on this host' >&2; return 1; }}\n  \
                 crictl exec \"$cid\" etcdctl {flags} \"$@\"\n}}"
            ),
        }
    }

    /// Shell that sets `$ETCDUTL` to a tool with `snapshot status` and `snapshot restore` (and,
    /// stacked, mounts the etcd image until the script ends).
    pub fn etcdutl(self) -> String {
        match self {
            Access::External => {
                "if command -v etcdutl >/dev/null; then ETCDUTL=etcdutl; else ETCDUTL='env ETCDCTL_API=3 etcdctl'; fi"
                    .into()
            }
            Access::Stacked => format!(
                "m={ETCD_MANIFEST}; [ -f $m ] || m={PARKED}/etcd.yaml\n\
                 img=$(awk '$1 == \"image:\" {{print $2; exit}}' $m)\n\
                 mnt=$(mktemp -d)\n\
                 ctr -n k8s.io images mount \"$img\" \"$mnt\" >/dev/null\n\
                 trap 'ctr -n k8s.io images unmount \"$mnt\" >/dev/null 2>&1; rmdir \"$mnt\"' EXIT\n\
                 ETCDUTL=\"$mnt/usr/local/bin/etcdutl\"\n\
                 [ -x \"$ETCDUTL\" ] || {{ echo \"the etcd image $img has no etcdutl\" >&2; exit 1; }}"
            ),
        }
    }
}

/// `name=https://ip:2380,…` of every etcd member in the inventory (what a restore builds the
/// member list from, so rebuilt hosts with new addresses work) and this member's peer URL.
pub fn members(inv: &Inventory, host: &Host) -> Result<(String, String), PlanError> {
    let url = |h: &Host| -> Result<String, PlanError> {
        let ip = cert_ip(h).map_err(|e| PlanError::new(e.to_string(), e.hint()))?;
        Ok(format!("https://{}:2380", url_host(ip)))
    };
    let mut all = Vec::new();
    for m in inv.etcd_members() {
        all.push(format!("{}={}", m.name, url(m)?));
    }
    Ok((all.join(","), url(host)?))
}
