//! The `leftovers` facts section: what a Kubernetes node leaves on a host that `reset` removes,
//! each thing reported by itself (a path with content, a network link, a packet-filter chain or
//! table, IPVS services, mounts, containers), so reset plans each removal from the thing's own
//! presence and its verification round is the same query again. Read-only; parser pure.

use serde::Serialize;

/// Folders whose content a node leaves behind (kubeadm's, the CNI's, etcd's, groundup's own).
/// Only their content counts: empty folders (some ship with the packages) are clean.
pub const DIRS: &[&str] = &[
    "/etc/kubernetes",
    "/var/lib/kubelet",
    "/var/lib/etcd",
    "/etc/cni/net.d",
    "/var/lib/cni",
    "/run/flannel",
    "/etc/groundup",
    "/var/lib/groundup",
    "/root/.kube",
];

/// The links flannel, the bridge plugin and IPVS-mode kube-proxy create.
pub const LINKS: &[&str] = &["cni0", "flannel.1", "flannel-v6.1", "kube-ipvs0"];

/// groundup's own single files outside those folders, counted only while they say they are
/// groundup's ("Managed by groundup" in their header).
pub const FILES: &[&str] = &[
    crate::paths::HAPROXY_CFG,
    crate::paths::CONTAINERD_PROXY,
    crate::paths::APT_PROXY,
    crate::paths::ETCD_UNIT,
];

/// Chain name prefixes of kube-proxy, flannel and the CNI plugins in iptables.
pub const CHAIN_PREFIXES: &[&str] = &["KUBE-", "FLANNEL", "CNI-"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Leftovers {
    /// Folders of [`DIRS`] holding anything but empty folders.
    pub dirs: Vec<String>,
    /// Files of [`FILES`] that are groundup's.
    pub files: Vec<String>,
    /// Mount points under /var/lib/kubelet (volumes of pods that are gone).
    pub mounts: Vec<String>,
    pub links: Vec<String>,
    /// `(command, table, chain)`: `("iptables", "nat", "KUBE-SERVICES")`.
    pub chains: Vec<(String, String, String)>,
    /// nftables tables of kube-proxy and flannel: `("ip", "kube-proxy")`.
    pub nft_tables: Vec<(String, String)>,
    /// IPVS virtual services (`ipvsadm -Sn` lines), when ipvsadm is installed.
    pub ipvs: usize,
    /// Containers in containerd's `k8s.io` namespace.
    pub containers: usize,
}

/// The section's shell. Each line is `<kind> <fields…>`.
pub fn query() -> String {
    let chains = CHAIN_PREFIXES.join("|");
    format!(
        "for d in {dirs}; do [ -d \"$d\" ] && [ -n \"$(find \"$d\" -mindepth 1 ! -type d -print -quit 2>/dev/null)\" ] && echo \"dir $d\"; done; \
         for f in {files}; do grep -qs 'Managed by groundup' \"$f\" && echo \"file $f\"; done; \
         awk '$5 ~ \"^/var/lib/kubelet/\" {{print \"mount\", $5}}' /proc/self/mountinfo; \
         for l in {links}; do [ -e \"/sys/class/net/$l\" ] && echo \"link $l\"; done; \
         for c in iptables ip6tables; do command -v $c-save >/dev/null && $c-save 2>/dev/null | \
         awk -v c=$c '/^\\*/ {{t=substr($0,2)}} /^:({chains})/ {{print \"chain\", c, t, substr($1,2)}}'; done; \
         command -v nft >/dev/null && nft list tables 2>/dev/null | awk '$3 ~ /^(kube-proxy|flannel)/ {{print \"nft\", $2, $3}}'; \
         command -v ipvsadm >/dev/null && echo \"ipvs $(ipvsadm -Sn 2>/dev/null | grep -c '^-A')\"; \
         command -v ctr >/dev/null && echo \"containers $(ctr -n k8s.io containers ls -q 2>/dev/null | grep -c .)\"; true",
        dirs = DIRS.join(" "),
        links = LINKS.join(" "),
        files = FILES.join(" "),
    )
}

pub fn parse(text: &str) -> Leftovers {
    let mut l = Leftovers::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["dir", d] => l.dirs.push(d.to_string()),
            ["file", p] => l.files.push(p.to_string()),
            ["mount", m] => l.mounts.push(m.to_string()),
            ["link", n] => l.links.push(n.to_string()),
            ["chain", c, t, ch] => l.chains.push((c.to_string(), t.to_string(), ch.to_string())),
            ["nft", fam, t] => l.nft_tables.push((fam.to_string(), t.to_string())),
            ["ipvs", n] => l.ipvs = n.parse().unwrap_or(0),
            ["containers", n] => l.containers = n.parse().unwrap_or(0),
            _ => {}
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let l = parse(
            "dir /etc/kubernetes\nfile /etc/haproxy/haproxy.cfg\nmount /var/lib/kubelet/pods/x/volumes/a\nlink cni0\n\
             chain iptables nat KUBE-SERVICES\nchain ip6tables filter FLANNEL-FWD\nnft ip kube-proxy\nipvs 3\ncontainers 0\n",
        );
        assert_eq!(l.dirs, ["/etc/kubernetes"]);
        assert_eq!(l.files, ["/etc/haproxy/haproxy.cfg"]);
        assert_eq!(l.mounts.len(), 1);
        assert_eq!(l.links, ["cni0"]);
        assert_eq!(l.chains[1], ("ip6tables".into(), "filter".into(), "FLANNEL-FWD".into()));
        assert_eq!(l.nft_tables, [("ip".to_string(), "kube-proxy".to_string())]);
        assert_eq!((l.ipvs, l.containers), (3, 0));
    }
}
