//! Preflight checks on captured facts: per host and across the cluster.

use groundup::facts::HostFacts;
use groundup::inventory::Host;
use groundup::preflight::{cluster_checks, host_checks, Check, Level};

use crate::common::{host_facts, inventory, n_hosts};

fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

#[test]
fn a_finished_control_plane_passes_ports_owned_by_kubernetes() {
    let inv = n_hosts(1, |_| String::new());
    let checks = host_checks(&inv, &inv.hosts[0], &host_facts("ubuntu-24.04", 0.1));
    let ports = find(&checks, "ports");
    assert_eq!(ports.level, Level::Ok, "{ports:?}");
    assert!(
        ports.detail.contains("6443 (kube-apiserver)") && ports.detail.contains("10257 (kube-controller)"),
        "{}",
        ports.detail
    );
    let not_ok: Vec<&str> = checks.iter().filter(|c| c.level != Level::Ok).map(|c| c.name).collect();
    assert_eq!(not_ok, ["hostname"], "only the name differs (cp-1 vs h-0): {checks:#?}");
}

#[test]
fn a_small_busy_skewed_control_plane_fails_with_reasons() {
    let inv = n_hosts(1, |_| String::new());
    let checks = host_checks(&inv, &inv.hosts[0], &host_facts("almalinux-9", 45.2));
    for (name, text) in [
        ("cpus", "1 CPU"),
        ("memory", "1565 MB"),
        ("ports", "6443 (wanted by kube-apiserver) is used by nginx"),
        ("clock", "+45.2 s"),
    ] {
        let c = find(&checks, name);
        assert_eq!(c.level, Level::Fail, "{c:?}");
        assert!(c.detail.contains(text), "{name}: {}", c.detail);
        assert!(c.hint.is_some(), "{name} has a hint");
    }
    assert_eq!(find(&checks, "arch").level, Level::Ok, "aarch64 is supported");
}

#[test]
fn workers_need_no_control_plane_resources_or_ports() {
    let inv = n_hosts(2, |_| String::new());
    let checks = host_checks(&inv, &inv.hosts[1], &host_facts("almalinux-9", 0.0));
    assert!(checks.iter().all(|c| c.name != "cpus" && c.name != "memory"));
    assert_eq!(find(&checks, "ports").level, Level::Ok, "a worker only needs 10250");
}

#[test]
fn swap_warns_and_centos_7_fails() {
    let inv = n_hosts(1, |_| String::new());
    let u22 = host_checks(&inv, &inv.hosts[0], &host_facts("ubuntu-22.04", 0.0));
    assert_eq!(find(&u22, "swap").level, Level::Warn);
    assert_eq!(find(&u22, "hostname").level, Level::Warn, "ubuntu-jammy is not h-0");
    let c7 = host_checks(&inv, &inv.hosts[0], &host_facts("centos-7", 0.0));
    assert_eq!(find(&c7, "os").level, Level::Fail);
    assert_eq!(find(&c7, "packages").level, Level::Fail);
}

/// Three VirtualBox VMs: the same NAT address on enp0s3, distinct host-only ones on enp0s8.
fn virtualbox_vms() -> Vec<HostFacts> {
    (0..3)
        .map(|i| {
            let mut hf = host_facts("ubuntu-22.04", 0.0);
            hf.facts.interfaces[1].addresses[0] = format!("192.168.56.{}/24", 11 + i).parse().unwrap();
            hf
        })
        .collect()
}

#[test]
fn the_virtualbox_nat_trap_is_caught_and_the_other_nic_named() {
    let inv = n_hosts(3, |_| String::new());
    let vms = virtualbox_vms();
    let pairs: Vec<(&Host, &HostFacts)> = inv.hosts.iter().zip(&vms).collect();
    let checks = cluster_checks(&pairs);
    let c = find(&checks, "node-ips");
    assert_eq!(c.level, Level::Fail);
    assert!(
        c.detail.contains("h-0, h-1, h-2 all take node IP 10.0.2.15") && c.detail.contains("VirtualBox"),
        "{}",
        c.detail
    );
    let hint = c.hint.as_deref().unwrap();
    assert!(
        hint.contains("iface") && hint.contains("h-1: enp0s8 192.168.56.12"),
        "{hint}"
    );
}

#[test]
fn choosing_the_host_only_nic_resolves_the_trap() {
    let inv = n_hosts(3, |_| "iface = \"enp0s8\"".into());
    let vms = virtualbox_vms();
    let pairs: Vec<(&Host, &HostFacts)> = inv.hosts.iter().zip(&vms).collect();
    assert_eq!(find(&cluster_checks(&pairs), "node-ips").level, Level::Ok);
    let per_host = host_checks(&inv, &inv.hosts[2], &vms[2]);
    assert_eq!(find(&per_host, "node-ip").detail, "192.168.56.13 from iface enp0s8");
}

#[test]
fn a_pinned_node_ip_must_exist_on_the_host() {
    let inv = inventory("[cluster]\nname = \"a\"\nkubernetes_version = \"1.36.3\"\n\n[[hosts]]\nname = \"cp\"\naddress = \"x\"\nnode_ip = \"192.168.99.9\"\nroles = [\"control-plane\"]\n");
    let c = host_checks(&inv, &inv.hosts[0], &host_facts("ubuntu-22.04", 0.0));
    let ip = find(&c, "node-ip");
    assert_eq!(ip.level, Level::Fail);
    assert!(
        ip.detail.contains("192.168.99.9 is not configured") && ip.detail.contains("enp0s8 192.168.56.11"),
        "{}",
        ip.detail
    );
}

/// Issue 10: without a nameserver CoreDNS stops with `no nameservers found`; said before any change.
#[test]
fn a_node_without_a_nameserver_fails_before_anything_changes() {
    let inv = n_hosts(1, |_| String::new());
    let mut f = host_facts("ubuntu-24.04", 0.1);
    assert!(
        !host_checks(&inv, &inv.hosts[0], &f)
            .iter()
            .any(|c| c.name == "nameserver"),
        "a fixture captured before the section existed: no verdict"
    );
    f.facts.resolv = Some(("/run/systemd/resolve/resolv.conf".into(), 0));
    let c = host_checks(&inv, &inv.hosts[0], &f);
    let c = find(&c, "nameserver");
    assert_eq!(c.level, Level::Fail, "{c:?}");
    assert!(
        c.detail.contains("/run/systemd/resolve/resolv.conf")
            && c.hint.as_deref().unwrap().contains("no nameservers found")
    );
    f.facts.resolv = Some(("/etc/resolv.conf".into(), 2));
    let c = host_checks(&inv, &inv.hosts[0], &f);
    assert_eq!(find(&c, "nameserver").level, Level::Ok);
    // What the section prints, parsed.
    let out = "@@groundup-fact:resolv\n/etc/resolv.conf 1\n";
    assert_eq!(groundup::facts::parse(out).resolv, Some(("/etc/resolv.conf".into(), 1)));
}

/// Issue 21: two etcd members (the middle of a control plane's replacement: remove, then add)
/// load and plan; preflight says the risk on each member instead of refusing the inventory.
#[test]
fn an_even_etcd_member_count_is_a_warning_with_its_risk() {
    let text = std::fs::read_to_string(crate::common::root().join("inventory/ha.toml")).unwrap();
    let inv = inventory(&text);
    let members = inv.etcd_members().count();
    assert_eq!(members, 3, "the example has three control planes");
    // Drop the last control plane, as after `remove` of a dead one.
    let last = inv.etcd_members().last().unwrap().name.to_string();
    let cut = text
        .split("[[hosts]]")
        .filter(|b| !b.contains(&format!("name = \"{last}\"")))
        .collect::<Vec<_>>()
        .join("[[hosts]]");
    let two = inventory(&cut);
    assert_eq!(two.etcd_members().count(), 2);
    let first = two.etcd_members().next().unwrap();
    let c = host_checks(&two, first, &host_facts("debian-12", 0.0))
        .into_iter()
        .find(|c| c.name == "etcd-members")
        .expect("an etcd-members check");
    assert_eq!(c.level, Level::Warn, "{c:?}");
    assert!(c.detail.contains("etcd has 2 members: quorum needs 2"), "{}", c.detail);
    let three = host_checks(&inv, inv.etcd_members().next().unwrap(), &host_facts("debian-12", 0.0));
    assert!(
        three.iter().all(|c| c.name != "etcd-members"),
        "three members: nothing to say"
    );
}
