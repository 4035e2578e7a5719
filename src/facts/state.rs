//! Facts about what groundup manages on a host: kernel modules, sysctls, swap in fstab, services,
//! SELinux, firewalld, checksums of managed files and uploaded artifacts, the resume marker.
//! The shell for each lives in [`SECTIONS`]; the parsers are pure.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::digest::parse_sha256sum;
use crate::paths;

pub use super::cluster::{ClusterState, DaemonSet, Membership, NodeInfo, Release, KUBELET_CLIENT_CERT};

/// The kernel modules Kubernetes nodes need (overlayfs for containerd, br_netfilter for flannel).
pub const MODULES: [&str; 2] = ["overlay", "br_netfilter"];
/// The sysctls groundup sets, as `/proc/sys` paths relative names.
pub const SYSCTLS: [&str; 3] = [
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
];
/// Units whose state the plan needs.
pub const SERVICES: [&str; 11] = [
    "containerd",
    "etcd",
    "haproxy",
    "kubelet",
    "chronyd",
    "chrony",
    "systemd-timesyncd",
    "ntp",
    "ntpsec",
    "ntpd",
    "firewalld",
];

/// Services whose configuration groundup writes, so whose start time the plan compares with
/// their files' modification times (a write whose restart never ran, e.g. an interrupted run).
pub const RESTARTED: [&str; 4] = ["containerd", "etcd", "haproxy", "kubelet"];

/// `(section, shell)` pairs appended to the facts script.
pub fn sections() -> Vec<(&'static str, String)> {
    let sysctl_paths: Vec<String> = SYSCTLS
        .iter()
        .map(|k| format!("/proc/sys/{}", k.replace('.', "/")))
        .collect();
    vec![
        ("virt", "systemd-detect-virt -c".into()),
        (
            "modules",
            format!(
                "for m in {}; do if [ -d /sys/module/$m ]; then echo \"$m loaded\"; \
                 elif grep -qs \"/$m.ko\" /lib/modules/$(uname -r)/modules.builtin; then echo \"$m builtin\"; fi; done",
                MODULES.join(" ")
            ),
        ),
        ("sysctl", format!("grep -Hs . {}", sysctl_paths.join(" "))),
        (
            "fstab-swap",
            "awk '!/^[[:space:]]*#/ && $3 == \"swap\"' /etc/fstab".into(),
        ),
        (
            "services",
            // One systemctl for all units (their blocks come in the order asked, an empty line
            // apart), printed as `unit active enabled`; a unit without an answer gets empty fields.
            format!(
                "systemctl show -p ActiveState -p UnitFileState {u} 2>/dev/null | awk -v names='{u}' \
                 'BEGIN {{ n = split(names, N, \" \"); i = 1 }} \
                 /^$/ {{ if (seen) {{ print N[i], a, e; i++ }}; seen = 0; a = \"\"; e = \"\"; next }} \
                 /^ActiveState=/ {{ a = substr($0, 13); seen = 1 }} /^UnitFileState=/ {{ e = substr($0, 15); seen = 1 }} \
                 END {{ if (seen) {{ print N[i], a, e; i++ }}; for (; i <= n; i++) print N[i], \"\", \"\" }}'",
                u = SERVICES.join(" ")
            ),
        ),
        (
            "selinux",
            "getenforce && sed -n 's/^SELINUX=//p' /etc/selinux/config".into(),
        ),
        (
            "firewalld-ports",
            "systemctl is-active -q firewalld && firewall-cmd --list-ports".into(),
        ),
        (
            "files",
            format!(
                "sha256sum {} {}/*/hosts.toml; find {} -maxdepth 3 -type f -exec sha256sum {{}} +",
                paths::MANAGED_FILES.join(" "),
                paths::CONTAINERD_CERTS_D,
                paths::KUBERNETES
            ),
        ),
        (
            "started",
            format!(
                "for u in {}; do t=$(systemctl show -p ActiveEnterTimestamp --value \"$u\" 2>/dev/null); \
                 [ -n \"$t\" ] && printf '%s %s\\n' \"$u\" \"$(date -d \"$t\" +%s)\"; done; true",
                RESTARTED.join(" ")
            ),
        ),
        (
            "mtimes",
            format!(
                "stat -c '%Y %n' {} {}/*/hosts.toml 2>/dev/null; true",
                paths::MANAGED_FILES.join(" "),
                paths::CONTAINERD_CERTS_D,
            ),
        ),
        ("artifacts", format!("cat {}/*.sha256", paths::ARTIFACTS)),
        // Only a checksum: the line may carry proxy credentials.
        (
            "dnf-proxy",
            "grep -s '^proxy=' /etc/dnf/dnf.conf | sha256sum | cut -c1-64".into(),
        ),
        ("marker", format!("cat {}", paths::MARKER)),
        // The pause image the installed kubeadm pins (it prints its list offline for its own version).
        (
            "kubeadm-pause",
            "command -v kubeadm >/dev/null 2>&1 && kubeadm config images list --kubernetes-version \"$(kubeadm version -o short)\" 2>/dev/null | grep '/pause:'".into(),
        ),
        // The image of each static pod (`kube-apiserver.yaml:image: …:v1.36.2`): the version each
        // control-plane component runs, which `kubeadm upgrade apply/node` changes.
        (
            "static-pods",
            format!("grep -Ho 'image: *[^ ]*' {}/*.yaml", paths::MANIFESTS),
        ),
        ("helm", format!("{} version --template '{{{{.Version}}}}'", paths::HELM)),
        // The etcd groundup installs for external members (`etcd Version: 3.6.8`).
        ("etcd-version", format!("{} --version 2>/dev/null | head -n 1", paths::ETCD_BINARY)),
        // containerd's images for the CRI (what kubelet sees), by name.
        ("images", "ctr -n k8s.io images ls -q".into()),
        // Those containerd's CRI reports as pinned to kubelet, which then never removes them.
        (
            "images-pinned",
            "ctr -n k8s.io images ls 2>/dev/null | awk 'NR > 1 && /io.cri-containerd.pinned=pinned/ {print $1}'".into(),
        ),
        ("cluster", super::cluster::query()),
        ("apiserver", super::cluster::apiserver_query()),
        ("membership", super::cluster::membership_query()),
        ("leftovers", super::leftovers::query()),
        ("trust", super::trust::query()),
    ]
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct State {
    /// The container manager when the host is a container (`systemd-nspawn`, `lxc`), else `None`.
    pub container: Option<String>,
    /// Module → `loaded` or `builtin`; absent modules are missing.
    pub modules: BTreeMap<String, String>,
    /// sysctl name → current value; absent when the key does not exist (module not loaded).
    pub sysctls: BTreeMap<String, String>,
    /// Uncommented swap lines in /etc/fstab.
    pub fstab_swap: Vec<String>,
    pub services: BTreeMap<String, Service>,
    /// Service → when it last became active (Unix seconds), for the [`RESTARTED`] ones running.
    pub started: BTreeMap<String, i64>,
    /// Managed path → modification time (Unix seconds); absent files are missing.
    pub mtimes: BTreeMap<String, i64>,
    pub selinux: Option<Selinux>,
    pub firewalld_ports: Vec<String>,
    /// Managed path → sha256 of its current content; absent files are missing.
    pub files: BTreeMap<String, String>,
    /// Verified artifacts already on the host: file name → sha256.
    pub artifacts: BTreeMap<String, String>,
    /// sha256 of the `proxy=` lines in /etc/dnf/dnf.conf (of the empty string when none).
    pub dnf_proxy: Option<String>,
    /// The host's marker of the last run that changed it.
    pub marker: Option<String>,
    /// The pause image the installed kubeadm pins (`registry.k8s.io/pause:3.10.2`), when installed.
    pub kubeadm_pause: Option<String>,
    /// Static pod (manifest file stem, `kube-apiserver`) → its image.
    pub static_pods: BTreeMap<String, String>,
    /// The version of /usr/local/bin/helm (`v3.19.0`), when installed.
    pub helm: Option<String>,
    /// The version of /usr/local/bin/etcd (`3.6.8`), when installed.
    pub etcd: Option<String>,
    /// Image names in containerd's `k8s.io` namespace (empty without containerd).
    pub images: Vec<String>,
    /// Of those, the ones labelled `io.cri-containerd.pinned=pinned`.
    pub pinned: Vec<String>,
    /// What an initialised control plane's API says; `None` elsewhere or when it did not answer.
    pub cluster: Option<ClusterState>,
    /// Whether this host's own kube-apiserver answers `/readyz` with `ok`; `None` where it has
    /// none (no manifest).
    pub apiserver_ready: Option<bool>,
    /// What the API says of this host as a node, asked with its kubelet's credentials.
    pub membership: Membership,
    /// What a node leaves behind that `reset` removes.
    pub leftovers: super::leftovers::Leftovers,
    /// Which CAs the consumers of the cluster CA trust (gathered by `pki rotate-ca` only).
    pub trust: super::trust::Trust,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Service {
    /// `active`, `inactive`, `failed`, …
    pub active: String,
    /// `enabled`, `disabled`, `masked`, `static`; empty when the unit does not exist.
    pub enabled: String,
}

impl Service {
    pub fn exists(&self) -> bool {
        !self.enabled.is_empty()
    }
    pub fn is_active(&self) -> bool {
        self.active == "active"
    }
    pub fn is_enabled(&self) -> bool {
        self.enabled == "enabled" || self.enabled == "static" || self.enabled == "alias"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selinux {
    /// `Enforcing`, `Permissive` or `Disabled` (getenforce).
    pub current: String,
    /// `SELINUX=` in /etc/selinux/config.
    pub configured: String,
}

impl State {
    /// The version of the image a static pod runs (`kube-apiserver` → `1.36.2`), without the `v`.
    pub fn static_pod_version(&self, pod: &str) -> Option<&str> {
        let image = self.static_pods.get(pod)?;
        let (_, tag) = image.rsplit_once(':')?;
        Some(tag.strip_prefix('v').unwrap_or(tag))
    }
    /// Whether the API lists `node` as a Node, asked from this host.
    pub fn listed(&self, node: &str) -> bool {
        matches!(&self.membership, Membership::Listed(n) if n.iter().any(|x| x == node))
    }

    pub fn service(&self, name: &str) -> Service {
        self.services.get(name).cloned().unwrap_or_default()
    }

    /// Whether `service` runs but one of `paths` was modified after it started: it has not read
    /// its current configuration, so it needs a restart whatever the rest of the plan says.
    pub fn runs_older_than<S: AsRef<str>>(&self, service: &str, paths: &[S]) -> bool {
        let Some(started) = self.started.get(service) else {
            return false;
        };
        self.service(service).is_active()
            && paths
                .iter()
                .any(|p| self.mtimes.get(p.as_ref()).is_some_and(|m| m > started))
    }
}

/// Lines `<a> <b>` with one side a number: `name 123` (or `123 name` when `number_first`).
fn numbers(text: &str, number_first: bool) -> BTreeMap<String, i64> {
    text.lines()
        .filter_map(|l| {
            let (a, b) = l.trim().split_once(' ')?;
            let (n, k) = if number_first { (a, b) } else { (b, a) };
            Some((k.to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

pub fn parse(get: impl Fn(&str) -> String) -> State {
    let virt = get("virt").trim().to_string();
    State {
        container: (!virt.is_empty() && virt != "none").then_some(virt),
        modules: pairs(&get("modules")),
        sysctls: parse_sysctls(&get("sysctl")),
        fstab_swap: get("fstab-swap")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        services: parse_services(&get("services")),
        started: numbers(&get("started"), false),
        mtimes: numbers(&get("mtimes"), true),
        selinux: parse_selinux(&get("selinux")),
        firewalld_ports: get("firewalld-ports").split_whitespace().map(String::from).collect(),
        files: parse_sha256sum(&get("files")),
        artifacts: parse_sha256sum(&get("artifacts"))
            .into_iter()
            .map(|(path, sum)| (path.rsplit('/').next().unwrap_or(&path).to_string(), sum))
            .collect(),
        dnf_proxy: Some(get("dnf-proxy").trim().to_string()).filter(|s| s.len() == 64),
        marker: Some(get("marker").trim().to_string()).filter(|s| !s.is_empty()),
        kubeadm_pause: get("kubeadm-pause")
            .lines()
            .map(str::trim)
            .find(|l| l.contains("/pause:"))
            .map(String::from),
        static_pods: get("static-pods")
            .lines()
            .filter_map(|l| {
                let (file, image) = l.split_once(":image:")?;
                let stem = file.rsplit('/').next()?.strip_suffix(".yaml")?;
                Some((stem.to_string(), image.trim().to_string()))
            })
            .collect(),
        helm: Some(get("helm").trim().to_string()).filter(|s| s.starts_with('v')),
        etcd: get("etcd-version")
            .trim()
            .strip_prefix("etcd Version: ")
            .map(|v| v.trim().to_string()),
        images: lines(&get("images")),
        pinned: lines(&get("images-pinned")),
        cluster: super::cluster::parse(&get("cluster")),
        apiserver_ready: Some(get("apiserver").trim().to_string())
            .filter(|s| !s.is_empty())
            .map(|s| s == "ok"),
        membership: Membership::parse(&get("membership")),
        leftovers: super::leftovers::parse(&get("leftovers")),
        trust: super::trust::parse(&get("trust")),
    }
}

fn pairs(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.trim().to_string()))
        .collect()
}

/// `grep -H .` output: `/proc/sys/net/ipv4/ip_forward:1`.
pub fn parse_sysctls(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (path, v) = l.split_once(':')?;
            let key = path.strip_prefix("/proc/sys/")?.replace('/', ".");
            Some((key, v.trim().to_string()))
        })
        .collect()
}

fn parse_services(text: &str) -> BTreeMap<String, Service> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let name = f.next()?.to_string();
            let active = f.next().unwrap_or("").to_string();
            let enabled = f.next().unwrap_or("").to_string();
            Some((name, Service { active, enabled }))
        })
        .collect()
}

fn parse_selinux(text: &str) -> Option<Selinux> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let current = lines.next()?.to_string();
    Some(Selinux {
        current,
        configured: lines.next().unwrap_or("").to_string(),
    })
}

/// The non-empty lines of `text`, trimmed.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}
