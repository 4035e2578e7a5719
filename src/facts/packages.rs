//! Package manager detection and the installed container-runtime / Kubernetes packages. Pure.

use std::collections::BTreeMap;

use serde::Serialize;

/// Lists the watched packages on either family: dpkg prints `name<TAB>version<TAB>ii `, rpm the same.
pub const QUERY: &str = "if command -v dpkg-query >/dev/null; then \
dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' containerd containerd.io runc kubeadm kubelet kubectl cri-tools kubernetes-cni etcd-server etcd-client haproxy curl ca-certificates systemd-timesyncd chrony; \
else rpm -q --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\tii\\n' containerd containerd.io runc kubeadm kubelet kubectl cri-tools kubernetes-cni etcd haproxy curl ca-certificates chrony; fi";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageManager {
    Apt,
    Dnf,
    Yum,
}

pub fn parse_manager(text: &str) -> Option<PackageManager> {
    let found = |n: &str| text.lines().any(|l| l.trim().rsplit('/').next() == Some(n));
    if found("apt-get") {
        Some(PackageManager::Apt)
    } else if found("dnf") {
        Some(PackageManager::Dnf)
    } else if found("yum") {
        Some(PackageManager::Yum)
    } else {
        None
    }
}

/// Installed packages only: dpkg's abbreviated status has the current state second (`ii`
/// installed, `hi` installed and held); rpm's "not installed" lines have no tabs and are skipped.
pub fn parse_packages(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (name, version, status) = (f.next()?, f.next()?, f.next().unwrap_or(""));
            (status.chars().nth(1) == Some('i') && !version.is_empty()).then(|| (name.to_string(), version.to_string()))
        })
        .collect()
}

/// Packages dpkg holds: the first status letter is `h`, the second `i`.
pub fn parse_held(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 3 && f[2].starts_with("hi")).then(|| f[0].to_string())
        })
        .collect()
}
