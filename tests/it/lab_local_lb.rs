//! `[api] mode = "local-lb"` for real on lab-13..15 (three control planes): `apply` installs
//! Debian's haproxy on every node with groundup's configuration; with stand-in API servers
//! (`openssl s_server` on each node's real apiserver certificate and key, port 6443), a client on
//! a node reaches them through 127.0.0.1:6444 and verifies the certificate against the cluster CA
//! for the IP 127.0.0.1; when one API server stops, haproxy's /readyz check takes it out and every
//! connection goes to the others; a second apply changes nothing.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::lab_support::{counts, pki_generate, reset, run_json, sh, stand_in_debs, stand_in_helm};

const HOSTS: [u32; 3] = [13, 14, 15];

fn inventory(dir: &Path, artifacts: &Path) -> std::path::PathBuf {
    let lab = crate::common::lab();
    let s = &lab.hosts[0].ssh;
    let mut t = format!(
        "[cluster]\nname = \"locallb\"\nkubernetes_version = \"1.36.3\"\n\n[api]\nmode = \"local-lb\"\n\n\
         [ssh]\nuser = \"root\"\nport = 2200\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\n\n\
         [container_runtime]\nsource = \"os\"\n\n[kubelet]\nallow_cgroup_v1 = true\n\n[artifacts]\ndir = \"{}\"\n",
        s.identity_file.as_ref().unwrap().display(),
        s.known_hosts.as_ref().unwrap().display(),
        artifacts.display()
    );
    for i in HOSTS {
        t.push_str(&format!(
            "\n[[hosts]]\nname = \"lab-{i}\"\naddress = \"127.0.77.{}\"\ninternal_address = \"10.77.0.{}\"\n\
             roles = [\"control-plane\", \"etcd\"]\n",
            10 + i,
            10 + i
        ));
    }
    let p = dir.join("inventory.toml");
    std::fs::write(&p, t).unwrap();
    p
}

/// Which API server answered `n` TLS connections made on `host` to 127.0.0.1:6444, by the node
/// name in the certificate; each handshake verified against the cluster CA for IP 127.0.0.1.
fn answered_by(d: &Path, inv: &Path, host: &str, n: u32) -> Vec<String> {
    let (st, out) = sh(
        d,
        inv,
        host,
        &format!(
            "for _ in $(seq 1 {n}); do\n  \
             openssl s_client -connect 127.0.0.1:6444 -CAfile /etc/kubernetes/pki/ca.crt -verify_ip 127.0.0.1 \
             -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName 2>/dev/null \
             | grep -o 'DNS:lab-[0-9]*' | head -1 || echo failed\n\
             done"
        ),
    );
    assert_eq!(st, 0, "{out}");
    out.lines().map(|l| l.trim_start_matches("DNS:").to_string()).collect()
}

#[test]
fn local_lb_reaches_every_api_server_through_haproxy_and_drops_one_that_stops() {
    reset(&["lab-13", "lab-14", "lab-15"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let art = d.join("artifacts");
    std::fs::create_dir_all(&art).unwrap();
    stand_in_debs(&art);
    stand_in_helm(&art, "v3.19.0");
    let inv = inventory(d, &art);
    let certs = pki_generate(d, &inv);
    let certs_arg = certs.to_str().unwrap();
    let apply = ["apply", "--until", "api-endpoint", "--certs-dir", certs_arg];

    let (code, v) = run_json(d, &inv, &apply);
    assert_eq!((code, counts(&v).2), (0, 0), "{v:#}");
    for i in HOSTS {
        let (st, out) = sh(
            d,
            &inv,
            &format!("lab-{i}"),
            "systemctl is-active haproxy; systemctl is-enabled haproxy; stat -c %a /etc/haproxy/haproxy.cfg; \
             haproxy -c -q -f /etc/haproxy/haproxy.cfg && echo valid; grep -c '^    server lab-' /etc/haproxy/haproxy.cfg",
        );
        assert_eq!(
            (st, out.split_whitespace().collect::<Vec<_>>()),
            (0, vec!["active", "enabled", "644", "valid", "3"]),
            "lab-{i}"
        );
    }

    // Stand-in API servers on lab-13 and lab-14 (lab-15's stays down): the node's own apiserver
    // certificate and key, as kube-apiserver would serve them; `-www` answers GET with 200.
    for host in ["lab-13", "lab-14"] {
        let (st, out) = sh(
            d,
            &inv,
            host,
            "setsid nohup openssl s_server -quiet -accept 6443 -www -cert /etc/kubernetes/pki/apiserver.crt \
             -key /etc/kubernetes/pki/apiserver.key >/tmp/s_server.log 2>&1 </dev/null & echo $! >/tmp/s_server.pid",
        );
        assert_eq!(st, 0, "{host}: {out}");
    }
    // haproxy marks a server up after two good checks, 2 s apart.
    let t0 = Instant::now();
    let seen = loop {
        let got = answered_by(d, &inv, "lab-15", 8);
        let set: BTreeSet<String> = got.iter().cloned().collect();
        if set == BTreeSet::from(["lab-13".to_string(), "lab-14".to_string()]) {
            break got;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "after 30 s: {got:?}");
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(!seen.contains(&"failed".to_string()), "{seen:?}");
    let (st, code) = sh(
        d,
        &inv,
        "lab-15",
        "curl -sS --cacert /etc/kubernetes/pki/ca.crt -o /dev/null -w '%{http_code}' https://127.0.0.1:6444/readyz",
    );
    assert_eq!(
        (st, code.as_str()),
        (0, "200"),
        "curl verifies 127.0.0.1 against the cluster CA"
    );

    // lab-13's API server stops: the checks take it out, and every connection lands on lab-14.
    let (st, _) = sh(d, &inv, "lab-13", "kill $(cat /tmp/s_server.pid)");
    assert_eq!(st, 0);
    let t0 = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let got = answered_by(d, &inv, "lab-15", 6);
        if got.iter().all(|n| n == "lab-14") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "lab-13 still used after 30 s: {got:?}"
        );
    }
    // And from a node whose own API server is the one down.
    assert!(answered_by(d, &inv, "lab-13", 4).iter().all(|n| n == "lab-14"));

    // The stand-ins go (preflight rightly refuses a foreign process on 6443); haproxy's own
    // port counts as Kubernetes' own, and nothing changes.
    let (st, _) = sh(d, &inv, "lab-14", "kill $(cat /tmp/s_server.pid)");
    assert_eq!(st, 0);
    let (code, v) = run_json(d, &inv, &apply);
    assert_eq!(
        (code, counts(&v).0, counts(&v).2),
        (0, 0, 0),
        "second apply must change nothing: {v:#}"
    );
}
