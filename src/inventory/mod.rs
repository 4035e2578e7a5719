//! The cluster inventory: loading a TOML file into validated, typed values. Owns the data model
//! (cluster settings, SSH targets, hosts and roles) and the error reporting that points into the
//! file. Touches no host and no network; `--on` selection lives in [`select`].

mod error;
mod names;
mod raw;
pub mod select;
mod validate;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

pub use error::{InventoryError, Problem};
pub use names::{ClusterName, HostName};
pub use validate::class;

/// A loaded and validated inventory: the whole cluster, whatever `--on` later selects.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    pub path: PathBuf,
    pub cluster: Cluster,
    pub pki: PkiSettings,
    /// `[container_runtime]`, `[artifacts]`, `[proxy]`, `[os]`: how hosts are prepared.
    pub node: NodeSettings,
    /// `[kubelet]`, `[kube_proxy]`, `[kubeadm]`: settings of Kubernetes' own components.
    pub kube: KubeSettings,
    pub hosts: Vec<Host>,
    /// The class this cluster was taken from (`-i class.toml --cluster NAME`), if any.
    pub class: Option<String>,
}

/// The few settings of kubelet, kube-proxy and kubeadm an inventory may change (issue 10).
#[derive(Debug, Clone, Default, Serialize)]
pub struct KubeSettings {
    /// Run kubelet on cgroup v1 hosts (deprecated by Kubernetes): `failCgroupV1: false` plus
    /// kubeadm's `SystemVerification` preflight exception.
    pub allow_cgroup_v1: bool,
    /// kube-proxy's mode (`iptables`, `ipvs`, `nftables`); kube-proxy's default when `None`.
    pub proxy_mode: Option<String>,
    /// kube-proxy's `conntrack.maxPerCore`; 0 leaves `nf_conntrack_max` alone.
    pub conntrack_max_per_core: Option<u32>,
    /// kubeadm's v1beta4 `timeouts` (camelCase name → Go duration), for init and join alike.
    pub kubeadm_timeouts: std::collections::BTreeMap<String, String>,
    /// `[upgrade] max_unavailable`: workers upgraded (drained) at once; control planes always one
    /// at a time. Default 1.
    pub upgrade_max_unavailable: u32,
}

/// How hosts are prepared before Kubernetes goes on them (issue 4).
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeSettings {
    pub runtime: RuntimeSettings,
    /// A local folder of .deb/.rpm files and image archives, uploaded instead of downloading.
    pub artifacts: Option<PathBuf>,
    pub proxy: Option<ProxySettings>,
    pub firewall: FirewallPolicy,
    /// The helm version for the first control plane (`v3.19.0`); `None` when `[helm] install = false`.
    pub helm: Option<String>,
    /// `[[helm.releases]]`, installed after the nodes are Ready.
    pub releases: Vec<HelmRelease>,
}

/// A helm chart at a pinned version, with an optional values file (read here, sent as a secret).
#[derive(Debug, Clone, Serialize)]
pub struct HelmRelease {
    pub name: String,
    /// A chart name in `repo`, an `oci://` reference, `repo/chart` of a repository helm knows, or
    /// the name of the chart in `archive`.
    pub chart: String,
    pub version: String,
    pub repo: Option<String>,
    pub namespace: String,
    /// Absolute path of the values file on this machine.
    pub values: Option<PathBuf>,
    /// A local chart archive (`chart = "charts/orion-1.2.3.tgz"`), absolute; then `chart` is the
    /// name its Chart.yaml gives and `version` its version.
    pub archive: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RuntimeSettings {
    pub source: RuntimeSource,
    /// Overrides the pause image kubeadm expects for the pinned minor.
    pub sandbox_image: Option<String>,
    /// Registry host → mirror endpoints, tried in order (containerd `hosts.toml`).
    pub mirrors: std::collections::BTreeMap<String, Vec<String>>,
}

/// Where containerd comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeSource {
    /// Docker's `containerd.io` package (containerd 2.x): what Kubernetes ≥ 1.36 needs.
    #[default]
    Docker,
    /// The distribution's own `containerd` package (Debian/Ubuntu only).
    Os,
}

/// `[proxy]`. The URLs may carry credentials, so they are secrets: never printed, never in argv.
#[derive(Debug, Clone, Serialize)]
pub struct ProxySettings {
    pub http: Option<crate::secret::Secret>,
    pub https: Option<crate::secret::Secret>,
    /// Extra NO_PROXY entries; the cluster's own are added by groundup.
    pub no_proxy: Vec<String>,
}

/// What to do with an active firewalld on RHEL-family hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirewallPolicy {
    /// Open the ports each host's roles need (and flannel's VXLAN port).
    #[default]
    OpenPorts,
    /// Stop and disable firewalld.
    Disable,
}

/// `[pki]`: key algorithm (kubeadm's `encryptionAlgorithm` names), validity, extra apiserver SANs.
#[derive(Debug, Clone, Serialize)]
pub struct PkiSettings {
    pub algorithm: KeyAlgorithm,
    pub validity_days: u32,
    pub ca_validity_days: u32,
    /// Extra names and addresses for the apiserver certificate (a public DNS name, a floating IP).
    pub extra_sans: Vec<String>,
}

impl Default for PkiSettings {
    fn default() -> Self {
        PkiSettings {
            algorithm: KeyAlgorithm::EcdsaP256,
            validity_days: 365,
            ca_validity_days: 3650,
            extra_sans: vec![],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KeyAlgorithm {
    #[serde(rename = "ECDSA-P256")]
    EcdsaP256,
    #[serde(rename = "ECDSA-P384")]
    EcdsaP384,
    #[serde(rename = "RSA-2048")]
    Rsa2048,
    #[serde(rename = "RSA-3072")]
    Rsa3072,
    #[serde(rename = "RSA-4096")]
    Rsa4096,
}

impl KeyAlgorithm {
    pub const NAMES: [&'static str; 5] = ["ECDSA-P256", "ECDSA-P384", "RSA-2048", "RSA-3072", "RSA-4096"];
    pub fn parse(s: &str) -> Option<KeyAlgorithm> {
        Some(match s {
            "ECDSA-P256" => KeyAlgorithm::EcdsaP256,
            "ECDSA-P384" => KeyAlgorithm::EcdsaP384,
            "RSA-2048" => KeyAlgorithm::Rsa2048,
            "RSA-3072" => KeyAlgorithm::Rsa3072,
            "RSA-4096" => KeyAlgorithm::Rsa4096,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    pub name: ClusterName,
    pub kubernetes_version: KubeVersion,
    pub pod_subnet: IpNet,
    pub service_subnet: IpNet,
    pub dns_domain: String,
    /// `host:port` of the API endpoint; `None` means the first control plane's node IP, port 6443.
    /// With `[api] mode = "local-lb"` it is `127.0.0.1:<port>`, the load balancer on every node.
    pub control_plane_endpoint: Option<Endpoint>,
    /// How that endpoint is provided (`[api]`).
    pub api: ApiMode,
    pub etcd: EtcdTopology,
    /// Secrets encrypted at rest in etcd (secretbox, key kept with the PKI). Default on.
    pub encrypt_secrets: bool,
    /// The API server's audit log under /var/log/kubernetes/audit. Default on.
    pub audit_log: bool,
    /// Namespaces created once the cluster is up.
    pub namespaces: Vec<String>,
}

/// How clients reach the API servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum ApiMode {
    /// The first control plane's node IP on 6443 (one control plane, no endpoint given).
    Direct,
    /// A floating IP announced by kube-vip (a static pod on each control plane, ARP mode).
    Vip {
        /// The NIC to announce on; `None`: each control plane's `iface`, else its node IP's NIC.
        interface: Option<String>,
        kube_vip_version: String,
    },
    /// haproxy on every node at 127.0.0.1:<port>, in front of all API servers (no VIP needed).
    LocalLb,
    /// A load balancer groundup does not manage (`[api] mode = "external"` or
    /// `[cluster] control_plane_endpoint`).
    External,
}

/// A Kubernetes release pinned to the patch level (`1.36.3`); never "latest".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => write!(f, "[{v6}]:{}", self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// Where etcd runs: on the control planes (kubeadm's local etcd) or on hosts of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EtcdTopology {
    Stacked,
    External,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ControlPlane,
    Etcd,
    Worker,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::ControlPlane, Role::Etcd, Role::Worker];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Etcd => "etcd",
            Role::Worker => "worker",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: HostName,
    pub ssh: SshTarget,
    pub roles: Vec<Role>,
    /// The address the cluster uses when it differs from the SSH address (second NIC, NAT, relay).
    pub internal_address: Option<IpAddr>,
    /// Explicit kubelet node IP; otherwise internal_address, the `iface` address, or the default route's.
    pub node_ip: Option<IpAddr>,
    pub iface: Option<String>,
}

impl Host {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
    /// Runs a kubelet (control planes and workers; external etcd members do not).
    pub fn is_node(&self) -> bool {
        self.has(Role::ControlPlane) || self.has(Role::Worker)
    }
    /// The node IP the inventory pins, if any (facts fill in the rest).
    pub fn pinned_ip(&self) -> Option<IpAddr> {
        self.node_ip.or(self.internal_address)
    }
}

/// How to reach one host over SSH. Paths are absolute (resolved against the inventory's folder).
#[derive(Debug, Clone, Serialize)]
pub struct SshTarget {
    pub address: String,
    pub port: u16,
    pub user: String,
    pub identity_file: Option<PathBuf>,
    pub jump_host: Option<String>,
    pub known_hosts: Option<PathBuf>,
    pub config: Option<PathBuf>,
    /// Prefix privileged commands with `sudo -n` (default: when the user is not root).
    pub sudo: bool,
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    #[serde(with = "secs")]
    pub command_timeout: Duration,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

impl Inventory {
    /// Reads and validates an inventory file.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|e| InventoryError::io(path, e))?;
        Self::parse(path, text)
    }

    /// Validates inventory text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: String) -> Result<Inventory, InventoryError> {
        validate::validate(path, text)
    }

    /// This cluster's PKI folder: `certs/<cluster>` by default; `--certs-dir DIR` is that folder
    /// for one cluster's inventory and `DIR/<cluster>` for a cluster of a class, whether the class
    /// runner or the user chose the cluster (`--cluster NAME`), so one option means one folder.
    pub fn certs_dir(&self, given: Option<&Path>) -> PathBuf {
        match (given, &self.class) {
            (Some(d), Some(_)) => d.join(self.cluster.name.as_str()),
            (Some(d), None) => d.to_path_buf(),
            (None, _) => PathBuf::from("certs").join(self.cluster.name.as_str()),
        }
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name.as_str() == name)
    }

    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &Host> {
        self.hosts.iter().filter(move |h| h.has(role))
    }

    /// The etcd members, from the whole inventory.
    pub fn etcd_members(&self) -> impl Iterator<Item = &Host> {
        let role = match self.cluster.etcd {
            EtcdTopology::Stacked => Role::ControlPlane,
            EtcdTopology::External => Role::Etcd,
        };
        self.with_role(role)
    }
}
