//! Per-host preflight checks: OS and arch support, CPUs and memory, swap, hostname, cgroups,
//! nameserver, init system, package manager, node IP, required ports, clock skew, privilege. Pure.

use crate::facts::{CgroupVersion, HostFacts, OsFamily, PackageManager, Support};
use crate::inventory::{EtcdTopology, Host, Inventory, Role};

use super::{node_ip, Check, MIN_CP_CPUS, MIN_CP_MEMORY_MB, SKEW_FAIL_SECS, SKEW_WARN_SECS};

/// Ports a host needs free, with the component that will own each.
pub fn required_ports(inv: &Inventory, host: &Host) -> Vec<(u16, &'static str)> {
    let mut ports = Vec::new();
    if host.is_node() {
        ports.push((10250, "kubelet"));
    }
    if host.has(Role::ControlPlane) {
        ports.extend([
            (6443, "kube-apiserver"),
            (10257, "kube-controller-manager"),
            (10259, "kube-scheduler"),
        ]);
    }
    let etcd_member = match inv.cluster.etcd {
        EtcdTopology::Stacked => host.has(Role::ControlPlane),
        EtcdTopology::External => host.has(Role::Etcd),
    };
    if etcd_member {
        ports.extend([(2379, "etcd"), (2380, "etcd")]);
    }
    if let (crate::inventory::ApiMode::LocalLb, Some(ep), true) =
        (&inv.cluster.api, &inv.cluster.control_plane_endpoint, host.is_node())
    {
        ports.push((ep.port, "haproxy"));
    }
    ports.sort();
    ports
}

pub fn host_checks(inv: &Inventory, host: &Host, hf: &HostFacts) -> Vec<Check> {
    let f = &hf.facts;
    let mut out = Vec::new();
    let family = match &f.support {
        Support::Supported { family } => {
            out.push(Check::ok("os", &f.os.pretty_name));
            Some(*family)
        }
        Support::Unsupported { why } => {
            out.push(Check::fail(
                "os",
                why,
                "use Debian 12+, Ubuntu 22.04/24.04 or an el9 distribution (Rocky, AlmaLinux, CentOS Stream)",
            ));
            None
        }
    };
    out.push(match f.arch.as_str() {
        "x86_64" | "aarch64" => Check::ok("arch", &f.arch),
        other => Check::fail(
            "arch",
            format!("architecture `{other}`"),
            "Kubernetes packages exist for x86_64 (amd64) and aarch64 (arm64)",
        ),
    });
    if host.has(Role::ControlPlane) {
        out.push(if f.cpus >= MIN_CP_CPUS {
            Check::ok("cpus", format!("{} CPUs", f.cpus))
        } else {
            Check::fail(
                "cpus",
                format!("{} CPU(s); a control plane needs at least {MIN_CP_CPUS}", f.cpus),
                "give the VM 2 or more vCPUs",
            )
        });
        out.push(if f.memory.total_mb >= MIN_CP_MEMORY_MB {
            Check::ok("memory", format!("{} MB", f.memory.total_mb))
        } else {
            Check::fail(
                "memory",
                format!(
                    "{} MB; a control plane needs at least {MIN_CP_MEMORY_MB} MB",
                    f.memory.total_mb
                ),
                "give the VM 2 GB of memory or more",
            )
        });
    } else {
        out.push(Check::ok(
            "resources",
            format!("{} CPUs, {} MB", f.cpus, f.memory.total_mb),
        ));
    }
    out.push(if f.swap_devices.is_empty() {
        Check::ok("swap", "off")
    } else {
        Check::warn(
            "swap",
            format!("on ({})", f.swap_devices.join(", ")),
            "apply turns swap off now and at boot (kubelet refuses to run with swap by default)",
        )
    });
    out.push(if f.hostname == host.name.as_str() {
        Check::ok("hostname", &f.hostname)
    } else {
        Check::warn(
            "hostname",
            format!("`{}` differs from the inventory name `{}`", f.hostname, host.name),
            format!("apply sets the hostname to `{}`", host.name),
        )
    });
    out.push(match f.cgroup {
        CgroupVersion::V2 => Check::ok("cgroups", "v2"),
        CgroupVersion::V1 if inv.kube.allow_cgroup_v1 => Check::warn(
            "cgroups",
            "v1 (allowed by [kubelet] allow_cgroup_v1)",
            "cgroup v1 is deprecated by Kubernetes and kubelet drops it in a later release; move to a distribution that boots with cgroup v2",
        ),
        CgroupVersion::V1 if inv.cluster.kubernetes_version.minor >= 35 => Check::fail(
            "cgroups",
            format!("v1, which kubelet {} refuses (failCgroupV1)", inv.cluster.kubernetes_version),
            "boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or set `[kubelet] allow_cgroup_v1 = true` (deprecated by Kubernetes)",
        ),
        CgroupVersion::V1 => Check::warn(
            "cgroups",
            "v1",
            "Kubernetes 1.35+ kubelets refuse cgroup v1; prefer a distribution that boots with cgroup v2",
        ),
        CgroupVersion::Unknown => Check::warn("cgroups", "unknown", "could not read the cgroup filesystem type of /sys/fs/cgroup"),
    });
    match &f.resolv {
        Some((file, 0)) if host.is_node() => out.push(Check::fail(
            "nameserver",
            format!("{file} lists no nameserver"),
            format!(
                "CoreDNS forwards to the nodes' nameservers and stops with `no nameservers found` without one: \
                 add a `nameserver` line to {file} (a resolver the host can reach; on an isolated network, a local one)"
            ),
        )),
        Some((file, n)) => out.push(Check::ok("nameserver", format!("{n} in {file}"))),
        None => {}
    }
    out.push(if f.init == "systemd" {
        Check::ok("init", "systemd")
    } else {
        Check::fail(
            "init",
            format!("PID 1 is `{}`", f.init),
            "kubelet and containerd are run as systemd services; use a systemd-booted host",
        )
    });
    let pm_ok = matches!(
        (family, f.package_manager),
        (Some(OsFamily::Debian), Some(PackageManager::Apt)) | (Some(OsFamily::Rhel), Some(PackageManager::Dnf))
    );
    out.push(match (pm_ok, f.package_manager) {
        (true, Some(pm)) => Check::ok("packages", format!("{pm:?}").to_lowercase()),
        (_, pm) if family.is_some() => Check::fail(
            "packages",
            format!("package manager {pm:?}"),
            "apt (Debian/Ubuntu) or dnf (el9) must be installed",
        ),
        _ => Check::fail("packages", "no supported package manager", "see the os check"),
    });
    out.push(match node_ip(host, f) {
        Ok(n) => Check::ok("node-ip", format!("{} from {}", n.ip, n.source)),
        Err(e) => Check::fail(
            "node-ip",
            e,
            "set node_ip, internal_address or iface for this host in the inventory",
        ),
    });
    out.push(ports_check(inv, host, hf));
    out.push(match hf.clock_skew {
        Some(s) if s.abs() >= SKEW_FAIL_SECS => Check::fail(
            "clock",
            format!("{s:+.1} s from this machine"),
            "synchronise time (chrony or systemd-timesyncd); TLS and etcd break with skewed clocks",
        ),
        Some(s) if s.abs() >= SKEW_WARN_SECS => Check::warn(
            "clock",
            format!("{s:+.1} s from this machine"),
            "enable time synchronisation (chrony or systemd-timesyncd)",
        ),
        Some(s) => Check::ok("clock", format!("{s:+.1} s")),
        None => Check::warn("clock", "unreadable", "`date +%s.%N` gave no time"),
    });
    out.push(if f.user == "root" {
        Check::ok(
            "privilege",
            if host.ssh.sudo {
                format!("root via sudo -n as {}", host.ssh.user)
            } else {
                "root".into()
            },
        )
    } else {
        Check::fail(
            "privilege",
            format!("commands run as `{}`, not root", f.user),
            "connect as root, or set sudo = true with passwordless sudo",
        )
    });
    // An even etcd member count is a moment of a replacement (remove, then add), not a goal: it
    // is said, with its risk, and never blocks the way on (issue 21).
    let members = inv.etcd_members().count();
    if inv.etcd_members().any(|m| m.name == host.name) && members > 1 && members % 2 == 0 {
        out.push(Check::warn(
            "etcd-members",
            format!(
                "etcd has {members} members: quorum needs {}, so it tolerates as few failures as {} members",
                members / 2 + 1,
                members - 1
            ),
            format!(
                "add a member (or take one out) for an odd count: {} or {}",
                members - 1,
                members + 1
            ),
        ));
    }
    out
}

fn ports_check(inv: &Inventory, host: &Host, hf: &HostFacts) -> Check {
    let mut busy = Vec::new();
    let mut ours = Vec::new();
    let required = required_ports(inv, host);
    for &(port, owner) in &required {
        if let Some(l) = hf.facts.listening.iter().find(|l| l.port == port) {
            let proc_name = l.process.clone().unwrap_or_else(|| "an unknown process".into());
            // ss truncates process names to 15 characters (kube-controller).
            if owner.starts_with(proc_name.as_str()) && l.process.is_some() {
                ours.push(format!("{port} ({proc_name})"));
            } else {
                busy.push(format!(
                    "{port} (wanted by {owner}) is used by {proc_name} on {}",
                    l.address
                ));
            }
        }
    }
    let wanted: Vec<String> = required.iter().map(|(p, _)| p.to_string()).collect();
    if !busy.is_empty() {
        Check::fail(
            "ports",
            busy.join("; "),
            "stop what listens there, or use a host without it",
        )
    } else if !ours.is_empty() {
        Check::ok(
            "ports",
            format!(
                "{} free; in use by Kubernetes already: {}",
                wanted.join(" "),
                ours.join(", ")
            ),
        )
    } else {
        Check::ok("ports", format!("{} free", wanted.join(" ")))
    }
}
