//! Phase `prepare-os`: swap off now and at boot, `overlay` and `br_netfilter` loaded now and at
//! boot, the forwarding and bridge sysctls, the hostname, a time-sync daemon, and on hosts running
//! firewalld or SELinux the ports and mode kubeadm needs. Each only when not already so.

use crate::facts::state::{MODULES, SYSCTLS};
use crate::facts::HostFacts;
use crate::inventory::{EtcdTopology, FirewallPolicy, Host, Role};
use crate::os::Os;
use crate::paths;
use crate::plan::{Content, Context, HostSteps, Phase, PlanError, Step};
use crate::render::render;

use super::{file, install, offline_hint, Want};

pub struct PrepareOs;

const TIME_SYNC_UNITS: [&str; 6] = ["chronyd", "chrony", "systemd-timesyncd", "ntp", "ntpsec", "ntpd"];

impl Phase for PrepareOs {
    fn name(&self) -> &'static str {
        "prepare-os"
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let os = Os::of(f)?;
        let mut hs = HostSteps::default();
        let bug = |t: &str, e: minijinja::Error| {
            PlanError::new(format!("template {t}: {e}"), "this is a groundup bug; please report it")
        };

        if f.swap_devices.is_empty() {
            hs.unchanged("swap", "no active swap");
        } else {
            hs.change(Step::script(
                "swap-off",
                format!("turn off swap ({})", f.swap_devices.join(", ")),
                "swapoff -a",
            ));
        }
        if f.state.fstab_swap.is_empty() {
            hs.unchanged("swap at boot", "no swap line in /etc/fstab");
        } else {
            hs.change(Step::script(
                "swap-fstab",
                "comment out the swap lines of /etc/fstab (backup: /etc/fstab.groundup-backup)",
                "cp -a /etc/fstab /etc/fstab.groundup-backup\n\
                 awk '!/^[[:space:]]*#/ && $3 == \"swap\" { print \"# \" $0 \"  # swap disabled by groundup\"; next } { print }' \
                 /etc/fstab > /etc/fstab.groundup-new\n\
                 cat /etc/fstab.groundup-new > /etc/fstab && rm -f /etc/fstab.groundup-new",
            ));
        }

        let modules = render("modules-load.conf", minijinja::context! { modules => MODULES })
            .map_err(|e| bug("modules-load.conf", e))?;
        file(
            &mut hs,
            f,
            "modules-file",
            paths::MODULES_LOAD,
            0o644,
            Content::new(modules),
        );
        let absent: Vec<&str> = MODULES
            .iter()
            .copied()
            .filter(|m| !f.state.modules.contains_key(*m))
            .collect();
        if absent.is_empty() {
            let how: Vec<String> = f.state.modules.iter().map(|(m, s)| format!("{m} {s}")).collect();
            hs.unchanged("kernel modules", how.join(", "));
        } else {
            let script: Vec<String> = absent.iter().map(|m| format!("modprobe {m}")).collect();
            hs.change(Step::script(
                "modules-load",
                format!("load {}", absent.join(" ")),
                script.join("\n"),
            ));
        }

        let want: Vec<(&str, &str)> = SYSCTLS.iter().map(|k| (*k, "1")).collect();
        let sysctl = render("sysctl-kubernetes.conf", minijinja::context! { sysctls => want })
            .map_err(|e| bug("sysctl-kubernetes.conf", e))?;
        file(&mut hs, f, "sysctl-file", paths::SYSCTL, 0o644, Content::new(sysctl));
        let off: Vec<&str> = want
            .iter()
            .filter(|(k, v)| f.state.sysctls.get(*k).map(String::as_str) != Some(*v))
            .map(|(k, _)| *k)
            .collect();
        if off.is_empty() {
            hs.unchanged("sysctls", "ip_forward and bridge-nf-call-ip(6)tables are 1");
        } else {
            hs.change(Step::script(
                "sysctl-apply",
                format!("apply sysctls ({})", off.join(", ")),
                format!("sysctl -q -p {}", paths::SYSCTL),
            ));
        }

        if f.hostname == host.name.as_str() {
            hs.unchanged("hostname", "matches the inventory name");
        } else {
            let n = host.name.as_str();
            hs.change(Step::script(
                "hostname",
                format!("set the hostname to `{n}` (was `{}`)", f.hostname),
                format!("hostnamectl set-hostname {n} 2>/dev/null || {{ echo {n} > /etc/hostname; hostname {n}; }}"),
            ));
        }

        time_sync(cx, &os, hf, &mut hs);
        firewall(cx, host, hf, &mut hs);
        if let Some(se) = &f.state.selinux {
            if se.current == "Enforcing" {
                hs.change(Step::script(
                    "selinux-now",
                    "set SELinux permissive now (kubeadm's requirement)",
                    "setenforce 0",
                ));
            }
            if se.configured == "enforcing" {
                hs.change(Step::script(
                    "selinux-boot",
                    "set SELinux permissive at boot",
                    "sed -i 's/^SELINUX=enforcing$/SELINUX=permissive/' /etc/selinux/config",
                ));
            }
            if se.current != "Enforcing" && se.configured != "enforcing" {
                hs.unchanged("SELinux", format!("{} (configured: {})", se.current, se.configured));
            }
        }
        Ok(hs)
    }
}

fn time_sync(cx: &Context, os: &Os, hf: &HostFacts, hs: &mut HostSteps) {
    let f = &hf.facts;
    if let Some(kind) = &f.state.container {
        hs.unchanged(
            "time sync",
            format!("a {kind} container keeps the host machine's clock"),
        );
        return;
    }
    if let Some(u) = TIME_SYNC_UNITS.iter().find(|u| f.state.service(u).is_active()) {
        hs.unchanged("time sync", format!("{u} is active"));
        return;
    }
    let (pkg, unit) = os.time_sync();
    if f.state.service(unit).enabled == "masked" {
        hs.warn(format!("no time sync runs and {unit} is masked: groundup leaves a masked unit alone; unmask it or run another NTP client"));
        hs.unchanged("time sync", format!("{unit} is masked (left alone)"));
        return;
    }
    install(
        hs,
        cx,
        os,
        f,
        "time-sync-install",
        &[Want {
            name: pkg,
            version: None,
        }],
        &offline_hint("the distribution's mirror"),
    );
    hs.change(Step::script(
        "time-sync-enable",
        format!("enable and start {unit}"),
        format!("systemctl enable --now {unit}"),
    ));
}

/// The ports a host's roles need open, as firewalld spells them.
pub fn firewall_ports(cx: &Context, host: &Host) -> Vec<&'static str> {
    let mut ports = Vec::new();
    let etcd = match cx.inv.cluster.etcd {
        EtcdTopology::Stacked => host.has(Role::ControlPlane),
        EtcdTopology::External => host.has(Role::Etcd),
    };
    if host.has(Role::ControlPlane) {
        ports.extend(["6443/tcp", "10257/tcp", "10259/tcp"]);
    }
    if etcd {
        ports.push("2379-2380/tcp");
    }
    if host.is_node() {
        ports.extend(["10250/tcp", "10256/tcp", "8472/udp"]);
    }
    if host.has(Role::Worker) {
        ports.push("30000-32767/tcp");
    }
    ports
}

fn firewall(cx: &Context, host: &Host, hf: &HostFacts, hs: &mut HostSteps) {
    let f = &hf.facts;
    if !f.state.service("firewalld").is_active() {
        if f.state.service("firewalld").exists() {
            hs.unchanged("firewalld", "not running");
        }
        return;
    }
    match cx.inv.node.firewall {
        FirewallPolicy::Disable => hs.change(Step::script(
            "firewalld-disable",
            "stop and disable firewalld ([os] firewall = \"disable\")",
            "systemctl disable --now firewalld",
        )),
        FirewallPolicy::OpenPorts => {
            let missing: Vec<&str> = firewall_ports(cx, host)
                .into_iter()
                .filter(|p| !f.state.firewalld_ports.iter().any(|have| have == p))
                .collect();
            if missing.is_empty() {
                hs.unchanged("firewalld", "the role's ports are open");
            } else {
                let adds: Vec<String> = missing.iter().map(|p| format!("--add-port={p}")).collect();
                hs.change(Step::script(
                    "firewalld-ports",
                    format!("open {} in firewalld", missing.join(" ")),
                    format!(
                        "firewall-cmd -q --permanent {}\nfirewall-cmd -q --reload",
                        adds.join(" ")
                    ),
                ));
            }
        }
    }
}
