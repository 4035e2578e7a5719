//! External etcd for real on lab-10..12: groundup's PKI goes to the
//! members, the three form a cluster over mTLS, the healthcheck client certificate is accepted,
//! a client without a certificate or with one from another CA is refused, and a second apply
//! leaves the members alone. Then its lifecycle (issue 11): keys written, `backup`, keys
//! deleted; a truncated snapshot refused here and a corrupted one refused on the members, both
//! before anything stops; `restore` brings the keys back on healthy members; the same snapshot
//! restored onto three other hosts (lab-18..20, other addresses) with the inventory changed;
//! `pki renew --all` rolled out one member at a time and `pki rotate-ca --ca etcd` (issue 12,
//! lab_rotate); and `reset`: one member (it leaves the member list first), then the others, refused while the
//! control plane stays unless forced, verified clean.
//!
//! The members' etcd is given as `[artifacts]` gives upstream's release: `etcd-v<V>-linux-amd64.tar.gz`,
//! packed here from this machine's Debian etcd (3.4.23; Debian's etcd-server and etcd-client,
//! which scripts/test installs), the one real etcd CI can have. kubeadm 1.36 refuses it, so a
//! run that would reach `kubeadm init` is refused before any host is contacted; `--until etcd`
//! sets up the members alone.

use std::path::Path;

use crate::lab_support::{counts, groundup, json, pki_generate, reset, sh};

fn inventory(dir: &Path) -> std::path::PathBuf {
    inventory_on(dir, &[10, 11, 12], "inventory.toml")
}

/// `dir/etcd-kit/etcd-v<V>-linux-amd64.tar.gz` in upstream's layout, from /usr/bin/etcd and
/// /usr/bin/etcdctl of this machine; returns the folder and the version.
pub(crate) fn etcd_tarball(dir: &Path) -> (std::path::PathBuf, String) {
    let out = std::process::Command::new("/usr/bin/etcd").arg("--version").output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("etcd Version: "))
        .unwrap_or_else(|| panic!("no etcd on this machine (scripts/test installs etcd-server): {text}"))
        .trim()
        .to_string();
    let kit = dir.join("etcd-kit");
    let top = format!("etcd-v{version}-linux-amd64");
    std::fs::create_dir_all(dir.join("pack").join(&top)).unwrap();
    for b in ["etcd", "etcdctl"] {
        std::fs::copy(format!("/usr/bin/{b}"), dir.join("pack").join(&top).join(b)).unwrap();
    }
    std::fs::create_dir_all(&kit).unwrap();
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(kit.join(format!("{top}.tar.gz")))
        .arg("-C")
        .arg(dir.join("pack"))
        .arg(&top)
        .status()
        .unwrap();
    assert!(st.success());
    (kit, version)
}

fn inventory_on(dir: &Path, members: &[u32], file: &str) -> std::path::PathBuf {
    let lab = crate::common::lab();
    let s = &lab.hosts[0].ssh;
    let (kit, _) = etcd_tarball(dir);
    let mut t = format!(
        "[cluster]\nname = \"etcdlab\"\nkubernetes_version = \"1.36.3\"\n\n[ssh]\nuser = \"root\"\nport = 2200\n\
         identity_file = \"{}\"\nknown_hosts = \"{}\"\n\n[container_runtime]\nsource = \"os\"\n\n[kubelet]\nallow_cgroup_v1 = true\n\n\
         [artifacts]\ndir = \"{}\"\n",
        s.identity_file.as_ref().unwrap().display(),
        s.known_hosts.as_ref().unwrap().display(),
        kit.display()
    );
    // The control plane (lab-27) is touched only by the CA rotation, which places the PKI there;
    // nothing runs on it.
    let hosts = std::iter::once((27, "control-plane")).chain(members.iter().map(|m| (*m, "etcd")));
    for (i, role) in hosts {
        t.push_str(&format!(
            "\n[[hosts]]\nname = \"lab-{i}\"\naddress = \"127.0.77.{}\"\ninternal_address = \"10.77.0.{}\"\nroles = [\"{role}\"]\n",
            10 + i,
            10 + i
        ));
    }
    let p = dir.join(file);
    std::fs::write(&p, t).unwrap();
    p
}

#[test]
fn external_etcd_over_mtls_then_backup_restore_elsewhere_and_reset() {
    reset(&["lab-10", "lab-11", "lab-12", "lab-27"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inv = inventory(d);
    let certs = pki_generate(d, &inv);

    // The whole apply would reach kubeadm init: refused before any host is contacted, naming
    // kubeadm's check and the forms of etcd it takes.
    let out = groundup(d)
        .args(["apply", "--progress", "none", "-i"])
        .arg(&inv)
        .arg("--certs-dir")
        .arg(&certs)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for want in [
        "would run etcd 3.4.23",
        "older than 3.5.24",
        "ExternalEtcdVersion",
        "etcd-v3.6.8-linux-amd64.tar.gz",
        "nothing was changed",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    let (st, out) = sh(
        d,
        &inv,
        "lab-10",
        "ls /usr/local/bin/etcd /etc/kubernetes/pki 2>&1 | grep -c 'No such'",
    );
    assert_eq!((st, out.trim()), (0, "2"), "refused means untouched: {out}");

    let (code, v) = apply_members(d, &inv, &certs);
    assert_eq!(code, Some(0), "{v:#}");
    assert!(
        counts(&v).0 >= 3 * 11,
        "pki files, unit, start and health on each member: {v:#}"
    );

    // From lab-11: all three members healthy with the healthcheck client certificate.
    let eps = "https://10.77.0.20:2379,https://10.77.0.21:2379,https://10.77.0.22:2379";
    let p = "/etc/kubernetes/pki/etcd";
    let (st, out) = sh(
        d,
        &inv,
        "lab-11",
        &format!(
            "etcdctl --endpoints={eps} --cacert={p}/ca.crt --cert={p}/healthcheck-client.crt --key={p}/healthcheck-client.key \
             endpoint health 2>&1 | grep -c 'is healthy'; \
             etcdctl --endpoints={eps} --cacert={p}/ca.crt --cert={p}/healthcheck-client.crt --key={p}/healthcheck-client.key \
             member list | wc -l; stat -c %a {p}/server.key {p}/peer.key {p}/ca.crt"
        ),
    );
    assert_eq!(st, 0, "{out}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["3", "3", "600", "600", "644"],
        "{out}"
    );

    // No client certificate, or one from another CA: refused.
    let (st, out) = sh(
        d,
        &inv,
        "lab-11",
        &format!(
            "etcdctl --endpoints=https://10.77.0.21:2379 --cacert={p}/ca.crt --dial-timeout=3s --command-timeout=3s endpoint health \
             >/dev/null 2>&1 && echo nocert-accepted; \
             command -v openssl >/dev/null || {{ echo no-openssl; exit 1; }}; \
             cd /tmp && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=intruder -days 1 \
             -keyout i.key -out i.crt 2>/dev/null && \
             etcdctl --endpoints=https://10.77.0.21:2379 --cacert={p}/ca.crt --cert=i.crt --key=i.key --dial-timeout=3s \
             --command-timeout=3s endpoint health >/dev/null 2>&1 && echo othercert-accepted; echo checked"
        ),
    );
    assert_eq!((st, out.trim()), (0, "checked"), "{out}");

    let (code, v) = apply_members(d, &inv, &certs);
    assert_eq!(
        (code, counts(&v).0, counts(&v).2),
        (Some(0), 0, 0),
        "a second apply changes nothing: {v:#}"
    );

    renew(d, &inv, &certs);
    crate::lab_rotate::rotate_etcd_ca(d, &inv, &certs);
    lifecycle(d, &inv, &certs);
}

/// Issue 12: `pki renew --all` reissues every etcd leaf here and rolls them out one member at a
/// time, each waiting for the whole cluster to be healthy over mTLS before the next; a second
/// renew changes nothing.
fn renew(d: &Path, inv: &Path, certs: &Path) {
    let serials = || {
        ["lab-10", "lab-11", "lab-12"]
            .iter()
            .map(|m| {
                sh(
                    d,
                    inv,
                    m,
                    "openssl x509 -noout -serial -in /etc/kubernetes/pki/etcd/server.crt",
                )
                .1
            })
            .collect::<Vec<_>>()
    };
    let before = serials();
    let c = certs.to_str().unwrap();
    let (code, v, all) = cmd(
        d,
        inv,
        certs,
        &["pki", "renew", "--all", "--on", "@etcd", "--certs-dir", c],
    );
    assert_eq!(code, Some(0), "{all}");
    for h in v["hosts"].as_array().unwrap() {
        let done = &h["done"][0];
        assert_eq!(done["phase"], "renew-rollout", "{v:#}");
        assert!(
            done["changed"].as_u64().unwrap() >= 6,
            "own leaves and keys, then the restart: {v:#}"
        );
    }
    let after = serials();
    for (b, a) in before.iter().zip(&after) {
        assert!(
            !a.trim().is_empty() && a != b,
            "a new server certificate on every member: {b} -> {a}"
        );
    }
    let (_, health) = keys_and_health(d, inv, "lab-12");
    assert_eq!(health, "3");
    let (code, v, all) = cmd(d, inv, certs, &["pki", "renew", "--on", "@etcd", "--certs-dir", c]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(counts(&v).0, 0, "a second renew changes nothing: {v:#}");
}

/// etcdctl over mTLS against the member's own endpoint, as a shell function `e`.
/// `apply --on @etcd --until etcd` (the members only; the control plane is never touched): exit
/// code and JSON.
pub(crate) fn apply_members(d: &Path, inv: &Path, certs: &Path) -> (Option<i32>, serde_json::Value) {
    let out = groundup(d)
        .args([
            "apply",
            "--on",
            "@etcd",
            "--until",
            "etcd",
            "--progress",
            "none",
            "-o",
            "json",
            "-i",
        ])
        .arg(inv)
        .arg("--certs-dir")
        .arg(certs)
        .arg("--state-dir")
        .arg(d.join("state"))
        .output()
        .unwrap();
    (out.status.code(), json(&out.stdout))
}

pub(crate) const E: &str =
    "p=/etc/kubernetes/pki/etcd; e() { ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=$p/ca.crt \
    --cert=$p/healthcheck-client.crt --key=$p/healthcheck-client.key --dial-timeout=3s --command-timeout=5s \"$@\"; }";

pub(crate) fn cmd(d: &Path, inv: &Path, certs: &Path, args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = groundup(d)
        .args(args)
        .args(["--progress", "none", "-o", "json", "-i"])
        .arg(inv)
        .output()
        .unwrap();
    let _ = certs;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let v = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        v,
        String::from_utf8_lossy(&out.stderr).to_string() + &stdout,
    )
}

/// The keys `k*` as a member sees them, and how many members say they are healthy.
pub(crate) fn keys_and_health(d: &Path, inv: &Path, member: &str) -> (String, String) {
    let (st, out) = sh(
        d,
        inv,
        member,
        &format!("{E}; e get --prefix k --keys-only | grep . | tr '\\n' ' '; echo; e endpoint health --cluster 2>&1 | grep -c 'is healthy'"),
    );
    assert_eq!(st, 0, "{out}");
    let mut l = out.lines();
    (
        l.next().unwrap_or("").trim().to_string(),
        l.next().unwrap_or("").trim().to_string(),
    )
}

fn lifecycle(d: &Path, inv: &Path, certs: &Path) {
    let (st, out) = sh(
        d,
        inv,
        "lab-11",
        &format!("set -e; {E}; for i in 1 2 3; do e put k$i v$i >/dev/null; done"),
    );
    assert_eq!(st, 0, "{out}");
    let (code, v, all) = cmd(d, inv, certs, &["backup", "--out", d.join("backups").to_str().unwrap()]);
    assert_eq!(code, Some(0), "{all}");
    let file = std::path::PathBuf::from(v["backup"]["file"].as_str().unwrap());
    assert!(file.starts_with(d.join("backups/etcdlab")), "{v:#}");
    assert!(
        v["backup"]["revision"].as_u64().unwrap() >= 4 && v["backup"]["members"].as_array().unwrap().len() == 3,
        "{v:#}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let taken_from = v["backup"]["taken_from"].as_str().unwrap().to_string();
    let (_, out) = sh(d, inv, &taken_from, "ls -A /var/lib/groundup/backup | wc -l");
    assert_eq!(out.trim(), "0", "the remote copy is removed");

    let (st, out) = sh(
        d,
        inv,
        "lab-11",
        &format!("{E}; e del k1 >/dev/null; e del k2 >/dev/null"),
    );
    assert_eq!(st, 0, "{out}");
    assert_eq!(keys_and_health(d, inv, "lab-11"), ("k3".into(), "3".into()));

    // A truncated copy (its metadata beside it) is refused here; a corrupted one without metadata
    // by the trial restore on the members. Neither stops anything.
    let bytes = std::fs::read(&file).unwrap();
    let truncated = d.join("truncated.db");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(file.with_extension("json"), truncated.with_extension("json")).unwrap();
    let (code, _, all) = cmd(d, inv, certs, &["restore", "--yes", truncated.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{all}");
    assert!(
        all.contains("is damaged") && all.contains("nothing was stopped"),
        "{all}"
    );
    let mut corrupt = bytes.clone();
    let mid = corrupt.len() / 2;
    for b in &mut corrupt[mid..mid + 64] {
        *b ^= 0xff;
    }
    let corrupted = d.join("corrupted.db");
    std::fs::write(&corrupted, &corrupt).unwrap();
    let (code, v, all) = cmd(d, inv, certs, &["restore", "--yes", corrupted.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{all}");
    let failed: Vec<&str> = v["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["failed"]["step"].as_str())
        .collect();
    assert!(
        !failed.is_empty() && failed.iter().all(|s| s.contains("scratch folder")),
        "{v:#}"
    );
    assert_eq!(
        keys_and_health(d, inv, "lab-11"),
        ("k3".into(), "3".into()),
        "nothing was stopped"
    );

    let (code, v, all) = cmd(d, inv, certs, &["restore", "--yes", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(counts(&v).2, 0, "{v:#}");
    for m in ["lab-10", "lab-11", "lab-12"] {
        assert_eq!(keys_and_health(d, inv, m), ("k1 k2 k3".into(), "3".into()), "{m}");
    }
    let (_, out) = sh(d, inv, "lab-10", "ls -d /var/lib/etcd/etcdlab.before-restore-* | wc -l");
    assert_eq!(out.trim(), "1", "the replaced data is kept aside");

    // The same snapshot onto three other hosts: the member list comes from the inventory.
    crate::lab_support::reset(&["lab-18", "lab-19", "lab-20"]);
    let other = inventory_on(d, &[18, 19, 20], "other.toml");
    let out = groundup(d)
        .args(["pki", "generate", "-i"])
        .arg(&other)
        .arg("--certs-dir")
        .arg(certs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = groundup(d)
        .args(["apply", "--on", "@etcd", "--until", "etcd", "--progress", "none", "-i"])
        .arg(&other)
        .arg("--certs-dir")
        .arg(certs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        keys_and_health(d, &other, "lab-19"),
        ("".into(), "3".into()),
        "a fresh cluster"
    );
    let (code, _, all) = cmd(d, &other, certs, &["restore", "--yes", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(keys_and_health(d, &other, "lab-19"), ("k1 k2 k3".into(), "3".into()));
    let (_, out) = sh(
        d,
        &other,
        "lab-18",
        &format!("{E}; e member list | grep -c '10.77.0.2[89]\\|10.77.0.30'"),
    );
    assert_eq!(out.trim(), "3", "the members are the new hosts: {out}");

    // One member reset: it leaves the member list first (asked of a member that stays), so the
    // two left are a healthy cluster of two, not three with one dead.
    let (code, v, all) = cmd(d, inv, certs, &["reset", "--on", "lab-12", "--yes"]);
    assert_eq!(code, Some(0), "{all}");
    assert!(v["leftovers"].as_array().unwrap().is_empty(), "{v:#}");
    let (_, out) = sh(d, inv, "lab-10", &format!("{E}; e member list | wc -l"));
    assert_eq!(out.trim(), "2", "{out}");
    assert_eq!(keys_and_health(d, inv, "lab-10"), ("k1 k2 k3".into(), "2".into()));

    // Reset of every member while the control plane stays: refused, then forced and verified.
    let (code, _, all) = cmd(d, inv, certs, &["reset", "--on", "@etcd", "--yes"]);
    assert_eq!(code, Some(2), "{all}");
    assert!(all.contains("every etcd member would go"), "{all}");
    let (code, v, all) = cmd(d, inv, certs, &["reset", "--on", "@etcd", "--yes", "--force"]);
    assert_eq!(code, Some(0), "{all}");
    assert!(v["leftovers"].as_array().unwrap().is_empty(), "{v:#}");
    let (_, out) = sh(
        d,
        inv,
        "lab-12",
        "systemctl is-active etcd; test -e /etc/systemd/system/etcd.service && echo unit; find /var/lib/etcd -mindepth 1 | wc -l",
    );
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["inactive", "0"], "{out}");
}
