//! A real 3-member etcd cluster (Debian's etcd-server) on loopback addresses, started with
//! groundup's server and peer certificates and client-certificate authentication on both sides:
//! `etcdctl endpoint health` with the healthcheck client certificate succeeds, without one it
//! is refused, and with a certificate from another CA it is refused.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use groundup::inventory::Inventory;
use groundup::pki::generate::{generate, RENEW_BEFORE};
use groundup::pki::store::Store;
use time::OffsetDateTime;

/// The etcd processes this test started, ended by PID when it is done (also on panic).
struct Members(Vec<Child>);

impl Drop for Members {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const IPS: [&str; 3] = ["127.0.88.1", "127.0.88.2", "127.0.88.3"];

fn inventory() -> Inventory {
    let mut s = String::from("[cluster]\nname = \"etcdtest\"\nkubernetes_version = \"1.36.3\"\ncontrol_plane_endpoint = \"127.0.88.1:6443\"\n");
    for (i, ip) in IPS.iter().enumerate() {
        s.push_str(&format!(
            "\n[[hosts]]\nname = \"cp-{}\"\naddress = \"{ip}\"\nroles = [\"control-plane\", \"etcd\"]\n",
            i + 1
        ));
    }
    Inventory::parse(Path::new("etcd.toml"), s).unwrap()
}

fn etcdctl(pki: &Path, with_cert: Option<&str>) -> (bool, String) {
    let mut c = Command::new("etcdctl");
    c.env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(
            IPS.iter()
                .map(|ip| format!("https://{ip}:2379"))
                .collect::<Vec<_>>()
                .join(","),
        )
        .arg("--cacert")
        .arg(pki.join("etcd/ca.crt"))
        .arg("--command-timeout=5s")
        .arg("--dial-timeout=3s");
    if let Some(client) = with_cert {
        c.arg("--cert")
            .arg(pki.join(format!("{client}.crt")))
            .arg("--key")
            .arg(pki.join(format!("{client}.key")));
    }
    let out = c
        .args(["endpoint", "health"])
        .output()
        .expect("etcdctl is installed (etcd-client)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn a_three_member_etcd_cluster_runs_on_our_certificates_with_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let inv = inventory();
    generate(&inv, &Store::new(&pki), RENEW_BEFORE, OffsetDateTime::now_utc()).unwrap();
    let cluster: Vec<String> = IPS
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("cp-{}=https://{ip}:2380", i + 1))
        .collect();
    let mut members = Members(Vec::new());
    for (i, ip) in IPS.iter().enumerate() {
        let name = format!("cp-{}", i + 1);
        let own = pki.join(format!("nodes/{name}/pki/etcd"));
        let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).unwrap();
        let child = Command::new("etcd")
            .args(["--name", &name, "--data-dir"])
            .arg(dir.path().join(&name))
            .args([
                "--listen-client-urls",
                &format!("https://{ip}:2379"),
                "--advertise-client-urls",
                &format!("https://{ip}:2379"),
            ])
            .args([
                "--listen-peer-urls",
                &format!("https://{ip}:2380"),
                "--initial-advertise-peer-urls",
                &format!("https://{ip}:2380"),
            ])
            .args([
                "--initial-cluster",
                &cluster.join(","),
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "groundup-test",
            ])
            .arg("--cert-file")
            .arg(own.join("server.crt"))
            .arg("--key-file")
            .arg(own.join("server.key"))
            .arg("--peer-cert-file")
            .arg(own.join("peer.crt"))
            .arg("--peer-key-file")
            .arg(own.join("peer.key"))
            .arg("--trusted-ca-file")
            .arg(pki.join("etcd/ca.crt"))
            .arg("--peer-trusted-ca-file")
            .arg(pki.join("etcd/ca.crt"))
            .args([
                "--client-cert-auth",
                "--peer-client-cert-auth",
                "--listen-metrics-urls",
                &format!("http://{ip}:2381"),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("etcd is installed (etcd-server)");
        members.0.push(child);
    }
    let health_client = "nodes/cp-1/pki/etcd/healthcheck-client";
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(30) {
        let (ok, text) = etcdctl(&pki, Some(health_client));
        if ok {
            last.clear();
            break;
        }
        last = text;
        std::thread::sleep(Duration::from_millis(300));
    }
    let logs = || std::fs::read_to_string(dir.path().join("cp-1.log")).unwrap_or_default();
    assert!(
        last.is_empty(),
        "cluster not healthy within 30 s: {last}\n--- cp-1 log ---\n{}",
        logs()
    );
    let (ok, text) = etcdctl(&pki, Some(health_client));
    assert!(ok && text.matches("is healthy").count() == 3, "{text}");
    // the apiserver's etcd client certificate works too, and the member list has all three
    let (ok, _) = etcdctl(&pki, Some("nodes/cp-2/pki/apiserver-etcd-client"));
    assert!(ok);

    let (ok, text) = etcdctl(&pki, None);
    assert!(!ok, "a client without a certificate must be refused: {text}");

    // a certificate from another CA (the cluster CA, not etcd's) is refused as well
    let (ok, text) = etcdctl(&pki, Some("nodes/cp-1/pki/apiserver-kubelet-client"));
    assert!(!ok, "a client certificate of another CA must be refused: {text}");
}
