//! Issue 12: `pki rotate-ca --ca etcd` on the real external etcd cluster of lab_etcd (lab-10..12,
//! control plane lab-27 with nothing running). Refused while a member is down, nothing changed;
//! then the rotation in its three rollouts, one member at a time, the cluster healthy and its data
//! kept throughout; afterwards every member trusts the new CA alone (a client of the old CA is
//! refused), the old CA is kept under retired/, and renew and apply have nothing to change.

use std::path::Path;

use crate::lab_etcd::{cmd, keys_and_health, E};
use crate::lab_support::{counts, sh};

pub(crate) fn rotate_etcd_ca(d: &Path, inv: &Path, certs: &Path) {
    let c = certs.to_str().unwrap();
    let members = ["lab-10", "lab-11", "lab-12"];
    let old_ca = std::fs::read_to_string(certs.join("etcd/ca.crt")).unwrap();
    let (keys, _) = keys_and_health(d, inv, "lab-10");

    // A member down: refused before anything changes.
    let (st, _) = sh(d, inv, "lab-11", "systemctl stop etcd");
    assert_eq!(st, 0);
    let (code, _, all) = cmd(
        d,
        inv,
        certs,
        &["pki", "rotate-ca", "--ca", "etcd", "--yes", "--certs-dir", c],
    );
    assert_eq!(code, Some(4), "{all}");
    assert!(all.contains("etcd is not running on lab-11"), "{all}");
    assert!(!certs.join("etcd/ca-next.crt").exists(), "nothing was made");
    let (st, _) = sh(d, inv, "lab-11", "systemctl start etcd");
    assert_eq!(st, 0);
    assert_eq!(keys_and_health(d, inv, "lab-11").1, "3");
    let (code, _, all) = cmd(
        d,
        inv,
        certs,
        &["pki", "rotate-ca", "--ca", "kubernetes", "--dry-run", "--certs-dir", c],
    );
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("no rotation under way"), "{all}");
    assert!(!certs.join("ca-next.crt").exists(), "a dry run makes no CA");

    // Keep a client of the old CA, to knock with afterwards.
    let (st, _) = sh(
        d,
        inv,
        "lab-10",
        "cp /etc/kubernetes/pki/etcd/healthcheck-client.crt /etc/kubernetes/pki/etcd/healthcheck-client.key /root/",
    );
    assert_eq!(st, 0);

    let t = std::time::Instant::now();
    let (code, v, all) = cmd(
        d,
        inv,
        certs,
        &["pki", "rotate-ca", "--ca", "etcd", "--yes", "--certs-dir", c],
    );
    eprintln!("pki rotate-ca --ca etcd: {:.1} s", t.elapsed().as_secs_f64());
    assert_eq!(code, Some(0), "{all}");
    let notes = v["notes"].to_string();
    for want in [
        "trusts both CAs",
        "reissued from the new etcd CA",
        "runs leaves of the new CA",
        "trusts the new CA alone",
    ] {
        assert!(notes.contains(want), "`{want}` in {notes}");
    }
    // Each member went through three rollouts, each ending with its restart.
    for m in members {
        let h = v["hosts"].as_array().unwrap().iter().find(|h| h["host"] == m).unwrap();
        assert!(h["failed"].is_null(), "{h:#}");
        assert_eq!(h["done"].as_array().unwrap().len(), 3, "three rollouts: {h:#}");
    }

    // Here: the new CA signs, the old one is kept aside, no rotation file is left.
    let new_ca = std::fs::read_to_string(certs.join("etcd/ca.crt")).unwrap();
    assert_ne!(new_ca, old_ca);
    let retired: Vec<_> = std::fs::read_dir(certs.join("retired"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        retired
            .iter()
            .any(|p| p.extension().is_some_and(|x| x == "crt") && std::fs::read_to_string(p).unwrap() == old_ca),
        "{retired:?}"
    );
    for f in ["etcd/ca-next.crt", "etcd/ca-prev.crt", "etcd/ca-prev.drop"] {
        assert!(!certs.join(f).exists(), "{f}");
    }
    // On the hosts: the new CA alone, every leaf of it, the data and health as before.
    let want = groundup::digest::sha256_hex(new_ca.as_bytes());
    for m in members.iter().chain(&["lab-27"]) {
        let (st, out) = sh(
            d,
            inv,
            m,
            "p=/etc/kubernetes/pki; sha256sum $p/etcd/ca.crt | cut -d' ' -f1; \
             for f in $p/etcd/server.crt $p/etcd/peer.crt $p/etcd/healthcheck-client.crt $p/apiserver-etcd-client.crt; do \
             [ -f $f ] && openssl verify -CAfile $p/etcd/ca.crt $f >/dev/null && echo ok; done; true",
        );
        assert_eq!(st, 0, "{m}: {out}");
        let mut l = out.lines();
        assert_eq!(l.next(), Some(want.as_str()), "{m}: {out}");
        let oks = l.filter(|x| *x == "ok").count();
        assert_eq!(oks, if *m == "lab-27" { 1 } else { 3 }, "{m}: {out}");
    }
    assert_eq!(keys_and_health(d, inv, "lab-12"), (keys.clone(), "3".into()));
    let (_, out) = sh(
        d,
        inv,
        "lab-10",
        &format!(
            "{E}; ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=$p/ca.crt --cert=/root/healthcheck-client.crt \
             --key=/root/healthcheck-client.key --dial-timeout=3s --command-timeout=3s get k1 >/dev/null 2>&1 && echo old-client-accepted; echo checked"
        ),
    );
    assert_eq!(out.trim(), "checked", "a client of the old CA is refused: {out}");

    // A rotation that stopped right after its new CA was made (the state a run killed there
    // leaves) goes on with that CA; it does not make another.
    let inv_loaded = groundup::inventory::Inventory::load(inv).unwrap();
    let store = groundup::pki::store::Store::new(certs);
    groundup::pki::rotate::start(&inv_loaded, &store, "etcd/ca", time::OffsetDateTime::now_utc()).unwrap();
    let next = std::fs::read_to_string(certs.join("etcd/ca-next.crt")).unwrap();
    let (code, _, all) = cmd(
        d,
        inv,
        certs,
        &["pki", "rotate-ca", "--ca", "etcd", "--dry-run", "--certs-dir", c],
    );
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("stage 1 of 3"), "{all}");
    let (code, v, all) = cmd(d, inv, certs, &["pki", "rotate-ca", "--ca", "etcd", "--certs-dir", c]);
    assert_eq!(code, Some(0), "under way: it goes on without asking: {all}");
    assert!(v["notes"].to_string().contains("trusts the new CA alone"), "{v:#}");
    assert_eq!(
        std::fs::read_to_string(certs.join("etcd/ca.crt")).unwrap(),
        next,
        "the CA made before the stop"
    );
    assert_eq!(keys_and_health(d, inv, "lab-11"), (keys.clone(), "3".into()));

    // Nothing left to do for the other commands.
    let (code, v, all) = cmd(d, inv, certs, &["pki", "renew", "--on", "@etcd", "--certs-dir", c]);
    assert_eq!((code, counts(&v).0), (Some(0), 0), "{all}");
    let (code, v) = crate::lab_etcd::apply_members(d, inv, certs);
    assert_eq!((code, counts(&v).0), (Some(0), 0), "{v:#}");
    let (code, _, all) = cmd(
        d,
        inv,
        certs,
        &["pki", "rotate-ca", "--ca", "etcd", "--dry-run", "--certs-dir", c],
    );
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("no rotation under way"), "{all}");

    // Issue 13's `status` reads the real members (Debian's etcdctl): three healthy voters; no
    // API server runs here, which it names as the one problem besides nothing else.
    let (code, v, all) = cmd(d, inv, certs, &["status", "--certs-dir", c]);
    assert_eq!(code, Some(1), "{all}");
    let etcd = v["etcd"].as_array().unwrap_or_else(|| panic!("{all}"));
    let names: Vec<&str> = etcd.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3, "{v:#}");
    for m in etcd {
        assert_eq!(
            (m["healthy"].as_bool(), m["learner"].as_bool()),
            (Some(true), Some(false)),
            "{m}"
        );
        assert!(
            m["client_url"].as_str().unwrap().starts_with("https://10.77.0.2"),
            "{m}"
        );
    }
    let problems = v["problems"].to_string();
    assert!(problems.contains("the API did not answer"), "{problems}");
    assert!(!problems.contains("etcd member"), "{problems}");
}
