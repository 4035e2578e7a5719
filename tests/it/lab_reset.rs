//! `reset` and the cluster lock on real lab hosts (lab-16, lab-17): two applies at once (the
//! second refuses with the first's PID, changing nothing); `upgrade` refused by its gate on hosts
//! that are not nodes yet; the guard rails; no reset without a
//! terminal or `--yes`; a reset after `apply --until container-runtime` plus planted leftovers
//! (CNI links, `KUBE-*` chains with a rule jumping to them, kubeadm's, etcd's and the CNI's files)
//! verified clean but for one it cannot remove (a read-only mount), reported with its command and
//! exit 1; once that is gone, the next reset plans nothing.

use std::process::Stdio;

use crate::lab_support::{counts, groundup, inventory, json, reset, run_json, sh};

const PLANT: &str = "set -e; ip link add cni0 type bridge; ip link add flannel.1 type veth peer name flannel-peer; \
    iptables -N KUBE-SERVICES; iptables -A INPUT -j KUBE-SERVICES; iptables -A INPUT -p tcp --dport 2200 -j ACCEPT; \
    iptables -t nat -N KUBE-POSTROUTING; iptables -t nat -A POSTROUTING -j KUBE-POSTROUTING; \
    ip6tables -N CNI-FORWARD; \
    mkdir -p /etc/kubernetes/pki /var/lib/etcd/member /etc/cni/net.d /var/lib/cni; \
    echo x > /etc/kubernetes/pki/ca.crt; echo y > /var/lib/etcd/member/db; echo z > /etc/cni/net.d/10-flannel.conflist";

/// An iptables-save ahead of the real one in PATH that counts its calls.
const COUNTING_IPTABLES_SAVE: &str = r#"printf '#!/bin/sh\necho call >> /run/iptables-save-calls\nexec /usr/sbin/iptables-save "$@"\n' > /usr/local/sbin/iptables-save && chmod 755 /usr/local/sbin/iptables-save && rm -f /run/iptables-save-calls"#;

#[test]
fn reset_removes_every_leftover_verifies_it_and_names_what_it_cannot_remove() {
    reset(&["lab-16", "lab-17"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inv = inventory(d, &[16, 17], "");

    // Two applies at once: the second refuses at once, naming the first, and changes nothing.
    let first = std::process::Command::new(assert_cmd::cargo::cargo_bin("groundup"))
        .env("GROUNDUP_LOG_DIR", d)
        .env("GROUNDUP_SSH_PERSIST", "0")
        .env("GROUNDUP_STATE_DIR", d.join("state"))
        .args([
            "apply",
            "--until",
            "container-runtime",
            "--progress",
            "none",
            "-o",
            "json",
            "-i",
        ])
        .arg(&inv)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = d.join("state/locks/apply-16.lock");
    let holder = format!("PID {}", first.id());
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&holder)) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = groundup(d)
        .args(["apply", "--until", "container-runtime", "--progress", "none", "-i"])
        .arg(&inv)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(5), "{err}");
    assert!(
        err.contains(&holder) && err.contains("groundup apply") && err.contains("nothing was done"),
        "{err}"
    );
    assert!(second.stdout.is_empty());
    let first = first.wait_with_output().unwrap();
    let v = json(&first.stdout);
    assert_eq!((first.status.code(), counts(&v).2), (Some(0), 0), "{v:#}");
    // The lock went with its process.
    let (code, v) = run_json(d, &inv, &["apply", "--until", "container-runtime"]);
    assert_eq!((code, counts(&v).0), (0, 0), "{v:#}");

    // `upgrade` on hosts that are not nodes yet: its gate refuses on each, nothing changes
    // (exit 4); and it works on the whole cluster only.
    let (code, v) = run_json(d, &inv, &["upgrade", "--yes"]);
    assert_eq!(code, 4, "{v:#}");
    assert!(v["note"].as_str().unwrap().starts_with("upgrade refused"), "{v:#}");
    let gate = &v["plan"]["phases"][0];
    assert_eq!(gate["phase"], "upgrade-check", "{v:#}");
    for h in gate["hosts"].as_array().unwrap() {
        let msg = h["error"]["message"].as_str().unwrap_or("");
        assert!(
            msg.ends_with("has no kubelet: it is not a node of the cluster yet"),
            "{v:#}"
        );
    }
    assert_eq!(gate["hosts"].as_array().unwrap().len(), 2, "{v:#}");
    let out = groundup(d)
        .args(["upgrade", "--yes", "--on", "lab-17", "--progress", "none", "-i"])
        .arg(&inv)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("upgrade works on the whole cluster"), "{err}");
    let (code, v) = run_json(d, &inv, &["apply", "--until", "container-runtime"]);
    assert_eq!(
        (code, counts(&v).0),
        (0, 0),
        "the refused upgrade changed nothing: {v:#}"
    );

    let (st, out) = sh(d, &inv, "lab-16", PLANT);
    assert_eq!(st, 0, "{out}");
    // What reset removes is gathered only by runs that plan reset's steps: an iptables-save that
    // counts its calls stays unasked by `check` and `plan`, and is asked by reset's plan below.
    let (st, out) = sh(d, &inv, "lab-16", COUNTING_IPTABLES_SAVE);
    assert_eq!(st, 0, "{out}");
    let calls = || sh(d, &inv, "lab-16", "cat /run/iptables-save-calls 2>/dev/null | wc -l").1;
    for cmd in ["check", "plan"] {
        let out = groundup(d)
            .args([cmd, "--progress", "none", "-i"])
            .arg(&inv)
            .output()
            .unwrap();
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(calls().trim(), "0", "`{cmd}` gathered the leftovers");
    }

    // Guard rail: the only control plane cannot go while the worker stays.
    let out = groundup(d)
        .args(["reset", "--on", "lab-16", "--yes", "--progress", "none", "-i"])
        .arg(&inv)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("every control plane would go while lab-17 stays"), "{err}");
    // No terminal (assert_cmd gives a null stdin), no --yes: the plan is shown, nothing is done.
    let out = groundup(d)
        .args(["reset", "--progress", "none", "-i"])
        .arg(&inv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ip link delete cni0"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "of cluster `apply-16`: lab-16, lab-17. Refused: there is no terminal to ask on and --yes was not given"
        ),
        "one sentence, then the refusal: {err}"
    );
    let (_, out) = sh(d, &inv, "lab-16", "ip -o link show cni0 | wc -l");
    assert_eq!(out.trim(), "1", "refused means untouched");
    assert_ne!(calls().trim(), "0", "reset's plan reads the leftovers");
    let (st, out) = sh(
        d,
        &inv,
        "lab-16",
        "rm /usr/local/sbin/iptables-save /run/iptables-save-calls",
    );
    assert_eq!(st, 0, "{out}");

    // One leftover reset cannot remove: a file on a read-only mount.
    let (st, out) = sh(
        d,
        &inv,
        "lab-16",
        "set -e; mount -t tmpfs tmpfs /var/lib/cni; echo s > /var/lib/cni/stuck; mount -o remount,ro /var/lib/cni",
    );
    assert_eq!(st, 0, "{out}");
    let (code, v) = run_json(d, &inv, &["reset", "--yes"]);
    assert_eq!(code, 1, "{v:#}");
    let left = v["leftovers"].as_array().unwrap();
    assert_eq!(left.len(), 1, "only the read-only one stays: {v:#}");
    assert_eq!(left[0]["host"], "lab-16");
    assert_eq!(left[0]["what"], "empty /var/lib/cni");
    assert_eq!(left[0]["command"], "find /var/lib/cni -mindepth 1 -delete");
    assert!(left[0]["hint"].as_str().unwrap().contains("findmnt"));
    let (st, out) = sh(
        d,
        &inv,
        "lab-16",
        "ip -o link | grep -cE ' (cni0|flannel.1)[:@]' || true; iptables-save | grep -c KUBE- || true; \
         ip6tables-save | grep -c CNI- || true; iptables-save | grep -c 'dport 2200'; \
         find /etc/kubernetes /var/lib/etcd /etc/cni/net.d /var/lib/groundup -mindepth 1 | wc -l; \
         systemctl is-active containerd",
    );
    assert_eq!(st, 0, "{out}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "0", "1", "0", "active"],
        "links, chains and files gone; other rules and containerd kept"
    );

    // Once the mount is gone, the next reset finds the rest and the one after plans nothing.
    let (st, _) = sh(
        d,
        &inv,
        "lab-16",
        "umount /var/lib/cni; echo again > /var/lib/cni/networks",
    );
    assert_eq!(st, 0);
    let (code, v) = run_json(d, &inv, &["reset", "--yes"]);
    assert_eq!((code, v["leftovers"].as_array().unwrap().len()), (0, 0), "{v:#}");
    assert_eq!(counts(&v["outcome"]).0, 1, "{v:#}");
    let (code, v) = run_json(d, &inv, &["reset", "--yes"]);
    assert_eq!(code, 0, "{v:#}");
    assert!(v["outcome"].is_null(), "nothing planned, nothing run: {v:#}");

    // --forget-pki wants the cluster name typed on a terminal: never with --yes alone.
    let certs = d.join("certs-to-keep");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("ca.crt"), "x").unwrap();
    let out = groundup(d)
        .args(["reset", "--yes", "--forget-pki", "--progress", "none", "-i"])
        .arg(&inv)
        .arg("--certs-dir")
        .arg(&certs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(certs.join("ca.crt").exists(), "the PKI is kept");
}
