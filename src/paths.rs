//! Every path groundup writes on a host, in one place: the phases write them, the facts script
//! reads back their checksums, `reset` (later) removes them. Nothing else names these paths.

pub const MODULES_LOAD: &str = "/etc/modules-load.d/kubernetes.conf";
pub const SYSCTL: &str = "/etc/sysctl.d/99-kubernetes.conf";
pub const CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";
/// containerd's registry host folder; one `<registry>/hosts.toml` per mirrored registry.
pub const CONTAINERD_CERTS_D: &str = "/etc/containerd/certs.d";
pub const CRICTL: &str = "/etc/crictl.yaml";
pub const APT_KUBE_LIST: &str = "/etc/apt/sources.list.d/kubernetes.list";
pub const APT_KUBE_KEY: &str = "/etc/apt/keyrings/kubernetes-apt-keyring.asc";
pub const APT_DOCKER_LIST: &str = "/etc/apt/sources.list.d/docker.list";
pub const APT_DOCKER_KEY: &str = "/etc/apt/keyrings/docker.asc";
pub const DNF_KUBE_REPO: &str = "/etc/yum.repos.d/kubernetes.repo";
pub const DNF_DOCKER_REPO: &str = "/etc/yum.repos.d/docker-ce.repo";
pub const APT_PROXY: &str = "/etc/apt/apt.conf.d/95groundup-proxy";
/// Proxy variables for groundup's own scripts (curl); 0600, sourced, never on a command line.
pub const PROXY_ENV: &str = "/etc/groundup/proxy.env";
pub const CONTAINERD_PROXY: &str = "/etc/systemd/system/containerd.service.d/http-proxy.conf";
/// Uploaded artifacts; each verified file gets a `<file>.sha256` beside it.
pub const ARTIFACTS: &str = "/var/cache/groundup/artifacts";
/// kubeadm's folder: kubeconfigs here, certificates and keys under `pki/`.
pub const KUBERNETES: &str = "/etc/kubernetes";
pub const KUBE_PKI: &str = "/etc/kubernetes/pki";
/// The external etcd member's unit (overrides the distribution's `etcd.service`).
pub const ETCD_UNIT: &str = "/etc/systemd/system/etcd.service";

/// kubeadm's configuration for this node, written by groundup (secret: it holds the token).
pub const KUBEADM_INIT: &str = "/etc/kubernetes/groundup/init.yaml";
pub const KUBEADM_JOIN: &str = "/etc/kubernetes/groundup/join.yaml";
/// groundup's files for the API server (mounted into its static pod read-only).
pub const GROUNDUP_KUBE_DIR: &str = "/etc/kubernetes/groundup";
pub const ENCRYPTION_CONFIG: &str = "/etc/kubernetes/groundup/encryption.yaml";
pub const AUDIT_POLICY: &str = "/etc/kubernetes/groundup/audit-policy.yaml";

/// The local API load balancer's configuration (`[api] mode = "local-lb"`).
pub const HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";
/// kube-vip's static pod (`[api] mode = "vip"`), beside kubeadm's own manifests.
pub const KUBE_VIP_MANIFEST: &str = "/etc/kubernetes/manifests/kube-vip.yaml";
pub const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";
/// kubelet's static pods: the control plane's components (and stacked etcd).
pub const MANIFESTS: &str = "/etc/kubernetes/manifests";
pub const APISERVER_MANIFEST: &str = "/etc/kubernetes/manifests/kube-apiserver.yaml";
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
pub const SUPER_ADMIN_CONF: &str = "/etc/kubernetes/super-admin.conf";

/// Helm, installed by groundup on the first control plane.
pub const HELM: &str = "/usr/local/bin/helm";
/// The etcd of external members (from the upstream release or the etcd image); etcdctl and
/// etcdutl beside it.
pub const ETCD_BINARY: &str = "/usr/local/bin/etcd";

/// The host's own note of the last groundup run that changed it (checked by `apply --resume`).
pub const MARKER: &str = "/var/lib/groundup/marker";

/// Single files whose checksums the facts script reports.
pub const MANAGED_FILES: &[&str] = &[
    MODULES_LOAD,
    SYSCTL,
    CONTAINERD_CONFIG,
    CRICTL,
    APT_KUBE_LIST,
    APT_KUBE_KEY,
    APT_DOCKER_LIST,
    APT_DOCKER_KEY,
    DNF_KUBE_REPO,
    DNF_DOCKER_REPO,
    APT_PROXY,
    PROXY_ENV,
    CONTAINERD_PROXY,
    ETCD_UNIT,
    HAPROXY_CFG,
];

/// The mirror configuration file of one registry.
pub fn containerd_hosts_toml(registry: &str) -> String {
    format!("{CONTAINERD_CERTS_D}/{registry}/hosts.toml")
}

/// This machine's folder for journals, cluster locks and caches: `$XDG_STATE_HOME/groundup`
/// (else `~/.local/state/groundup`); `--state-dir` replaces it.
pub fn default_state_dir() -> std::path::PathBuf {
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("groundup")
}
