//! `prepare-os` on a real kernel (a QEMU VM from `scripts/lab up 1 --kind vm`): modules really
//! load, sysctls really change, and both are still so after a reboot, from groundup's files alone.

use std::path::{Path, PathBuf};
use std::process::Command as Std;

use crate::common::root;
use crate::lab_support::groundup;

const INVENTORY: &str = "/var/tmp/groundup-lab/vm/inventory.toml";

fn sh(log: &Path, script: &str) -> (i32, String) {
    let out = groundup(log)
        .args([
            "exec",
            "--progress",
            "none",
            "-o",
            "json",
            "-i",
            INVENTORY,
            "--",
            "bash",
            "-c",
            script,
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let o = &v[0]["output"];
    (
        o["status"].as_i64().unwrap_or(-1) as i32,
        o["stdout"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn prepare_os_loads_modules_and_sets_sysctls_that_survive_a_reboot() {
    assert!(
        Path::new(INVENTORY).exists(),
        "the VM lab is not up: run `scripts/lab up 1 --kind vm` (as root) first"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Undo whatever a previous run did, so this run has to do it again.
    let (st, out) = sh(
        d,
        "rm -f /etc/modules-load.d/kubernetes.conf /etc/sysctl.d/99-kubernetes.conf; \
         modprobe -r br_netfilter 2>/dev/null; sysctl -qw net.ipv4.ip_forward=0; \
         test ! -e /proc/sys/net/bridge/bridge-nf-call-iptables && echo clean",
    );
    assert_eq!((st, out.trim()), (0, "clean"), "the VM could not be put back: {out}");

    let state: PathBuf = d.join("state");
    let out = groundup(d)
        .args([
            "apply",
            "--progress",
            "none",
            "-o",
            "json",
            "--until",
            "prepare-os",
            "-i",
            INVENTORY,
            "--state-dir",
        ])
        .arg(&state)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    assert!(
        v["changed"].as_u64().unwrap() >= 4,
        "files, modprobe and sysctls: {v:#}"
    );

    let check = "lsmod | awk '$1 == \"br_netfilter\" || $1 == \"overlay\" {print $1}' | sort; \
                 sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables";
    let (st, now) = sh(d, check);
    assert_eq!(
        (st, now.split_whitespace().collect::<Vec<_>>()),
        (0, vec!["br_netfilter", "overlay", "1", "1", "1"])
    );

    // Reboot (the lab's QEMU exits on reboot; `up` boots the same disk again), and make sure the
    // answer comes from the new boot.
    let boot_id = |d: &Path| sh(d, "cat /proc/sys/kernel/random/boot_id").1;
    let before = boot_id(d);
    let _ = sh(d, "systemctl reboot");
    let t0 = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(2));
        let st = Std::new(root().join("scripts/lab"))
            .args(["up", "1", "--kind", "vm"])
            .status()
            .unwrap();
        assert!(st.success(), "the VM did not come back");
        let now = boot_id(d);
        if !now.is_empty() && now != before {
            break;
        }
        assert!(t0.elapsed().as_secs() < 240, "no new boot within 240 s");
    }
    let (st, after) = sh(d, check);
    assert_eq!(
        (st, after.split_whitespace().collect::<Vec<_>>()),
        (0, vec!["br_netfilter", "overlay", "1", "1", "1"]),
        "after reboot"
    );

    let out = groundup(d)
        .args([
            "plan",
            "--progress",
            "none",
            "-o",
            "json",
            "--until",
            "prepare-os",
            "-i",
            INVENTORY,
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["changed"].as_u64(), v["failed"].as_u64()),
        (Some(0), Some(0)),
        "{v:#}"
    );
}
