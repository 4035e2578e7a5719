//! The inventory file exactly as written: a serde mirror of the TOML with byte spans kept on every
//! value that validation may need to point at. Unknown keys are rejected here (`deny_unknown_fields`).
//! Owns no rules; `validate` turns this into an [`super::Inventory`]. A class file (`[class]`, many
//! clusters) is mirrored by [`RawClass`], whose clusters `validate::class` turns into inventories.

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    pub cluster: S<RawCluster>,
    #[serde(default)]
    pub ssh: Option<S<RawSsh>>,
    #[serde(default)]
    pub pki: Option<S<RawPki>>,
    #[serde(default)]
    pub container_runtime: Option<S<RawRuntime>>,
    #[serde(default)]
    pub artifacts: Option<S<RawArtifacts>>,
    #[serde(default)]
    pub proxy: Option<S<RawProxy>>,
    #[serde(default)]
    pub os: Option<S<RawOs>>,
    #[serde(default)]
    pub helm: Option<S<RawHelm>>,
    #[serde(default)]
    pub api: Option<S<RawApi>>,
    #[serde(default)]
    pub kubelet: Option<S<RawKubelet>>,
    #[serde(default)]
    pub kube_proxy: Option<S<RawKubeProxy>>,
    #[serde(default)]
    pub kubeadm: Option<S<RawKubeadm>>,
    #[serde(default)]
    pub upgrade: Option<S<RawUpgrade>>,
    #[serde(default)]
    pub hosts: Vec<S<RawHost>>,
}

/// `[kubelet]`: the settings groundup exposes of the KubeletConfiguration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubelet {
    pub allow_cgroup_v1: Option<S<bool>>,
}

/// `[kube_proxy]`: mode and conntrack sizing of the KubeProxyConfiguration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubeProxy {
    pub mode: Option<S<String>>,
    pub conntrack_max_per_core: Option<S<u32>>,
}

/// `[kubeadm]`: kubeadm's own timeouts (v1beta4 `timeouts`), by their kubeadm names in snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubeadm {
    #[serde(default)]
    pub timeouts: Option<S<std::collections::BTreeMap<String, S<String>>>>,
}

/// `[upgrade]`: how `groundup upgrade` rolls through the workers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpgrade {
    pub max_unavailable: Option<S<u32>>,
}

/// `[container_runtime]`: where containerd comes from, the sandbox image, registry mirrors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuntime {
    pub source: Option<S<String>>,
    pub sandbox_image: Option<S<String>>,
    pub mirrors: Option<S<std::collections::BTreeMap<String, Vec<S<String>>>>>,
}

/// `[artifacts]`: a local folder of packages and archives for hosts without internet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArtifacts {
    pub dir: S<String>,
}

/// `[proxy]`: an HTTP(S) proxy for package managers and containerd.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProxy {
    pub http: Option<S<String>>,
    pub https: Option<S<String>>,
    pub no_proxy: Option<Vec<S<String>>>,
}

/// `[helm]`: the helm release put on the first control plane.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHelm {
    pub version: Option<S<String>>,
    pub install: Option<S<bool>>,
    #[serde(default)]
    pub releases: Vec<S<RawRelease>>,
}

/// `[[helm.releases]]`: a chart installed once the nodes are Ready.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelease {
    pub name: S<String>,
    pub chart: S<String>,
    pub version: S<String>,
    pub repo: Option<S<String>>,
    pub namespace: Option<S<String>>,
    pub values: Option<S<String>>,
}

/// `[api]`: how clients reach the API servers (one control plane, a VIP, a local LB, an external LB).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub mode: S<String>,
    pub address: Option<S<String>>,
    pub port: Option<S<u16>>,
    pub interface: Option<S<String>>,
    pub kube_vip_version: Option<S<String>>,
}

/// `[os]`: how groundup may change the operating system.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOs {
    pub firewall: Option<S<String>>,
}

/// `[pki]`: how groundup makes the cluster's certificates.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPki {
    pub algorithm: Option<S<String>>,
    pub validity_days: Option<S<u32>>,
    pub ca_validity_days: Option<S<u32>>,
    pub extra_sans: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub name: S<String>,
    pub kubernetes_version: S<String>,
    pub pod_subnet: Option<S<String>>,
    pub service_subnet: Option<S<String>>,
    pub dns_domain: Option<S<String>>,
    pub control_plane_endpoint: Option<S<String>>,
    pub encrypt_secrets: Option<S<bool>>,
    pub audit_log: Option<S<bool>>,
    pub namespaces: Option<Vec<S<String>>>,
}

/// SSH settings; the `[ssh]` table gives defaults, and the same keys on a host override them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSsh {
    pub user: Option<S<String>>,
    pub port: Option<S<u16>>,
    pub identity_file: Option<S<String>>,
    pub jump_host: Option<S<String>>,
    pub known_hosts: Option<S<String>>,
    pub config: Option<S<String>>,
    pub sudo: Option<S<bool>>,
    pub connect_timeout: Option<S<u64>>,
    pub command_timeout: Option<S<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub name: S<String>,
    pub address: S<String>,
    pub roles: S<Vec<S<String>>>,
    pub internal_address: Option<S<String>>,
    pub node_ip: Option<S<String>>,
    pub iface: Option<S<String>>,
    pub user: Option<S<String>>,
    pub port: Option<S<u16>>,
    pub identity_file: Option<S<String>>,
    pub jump_host: Option<S<String>>,
    pub sudo: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClass {
    pub class: S<RawClassTable>,
    pub cluster: Option<S<RawShared>>,
    pub ssh: Option<S<RawSsh>>,
    pub pki: Option<S<RawPki>>,
    pub container_runtime: Option<S<RawRuntime>>,
    pub artifacts: Option<S<RawArtifacts>>,
    pub proxy: Option<S<RawProxy>>,
    pub os: Option<S<RawOs>>,
    pub helm: Option<S<RawHelm>>,
    pub api: Option<S<RawApi>>,
    pub kubelet: Option<S<RawKubelet>>,
    pub kube_proxy: Option<S<RawKubeProxy>>,
    pub kubeadm: Option<S<RawKubeadm>>,
    pub upgrade: Option<S<RawUpgrade>>,
    #[serde(default)]
    pub clusters: Vec<S<RawMember>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClassTable {
    pub name: Option<S<String>>,
    pub clusters_at_once: Option<S<u32>>,
    pub generate: Option<S<RawGenerate>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenerate {
    pub prefix: Option<S<String>>,
    pub per_cluster: Option<S<u32>>,
    pub hosts: S<Vec<S<GenHost>>>,
}

/// A generated cluster's host: its address, or a table with the per-host keys of `[[hosts]]`
/// but `name` and `roles`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum GenHost {
    Address(String),
    Full(RawGenHost),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenHost {
    pub address: String,
    pub internal_address: Option<String>,
    pub node_ip: Option<String>,
    pub iface: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<String>,
    pub jump_host: Option<String>,
    pub sudo: Option<bool>,
}

/// `[cluster]` of a class (no name: each cluster has its own), or a cluster's overrides.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShared {
    pub kubernetes_version: Option<S<String>>,
    pub pod_subnet: Option<S<String>>,
    pub service_subnet: Option<S<String>>,
    pub dns_domain: Option<S<String>>,
    pub control_plane_endpoint: Option<S<String>>,
    pub encrypt_secrets: Option<S<bool>>,
    pub audit_log: Option<S<bool>>,
    pub namespaces: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMember {
    pub name: S<String>,
    #[serde(default)]
    pub hosts: Vec<S<RawHost>>,
    pub cluster: Option<S<RawShared>>,
    pub ssh: Option<S<RawSsh>>,
    pub pki: Option<S<RawPki>>,
    pub container_runtime: Option<S<RawRuntime>>,
    pub artifacts: Option<S<RawArtifacts>>,
    pub proxy: Option<S<RawProxy>>,
    pub os: Option<S<RawOs>>,
    pub helm: Option<S<RawHelm>>,
    pub api: Option<S<RawApi>>,
    pub kubelet: Option<S<RawKubelet>>,
    pub kube_proxy: Option<S<RawKubeProxy>>,
    pub kubeadm: Option<S<RawKubeadm>>,
    pub upgrade: Option<S<RawUpgrade>>,
}
