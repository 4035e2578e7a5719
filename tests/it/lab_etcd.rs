//! External etcd for real on lab-10..12 (Debian's etcd-server): groundup's PKI goes to the
//! members, the three form a cluster over mTLS, the healthcheck client certificate is accepted,
//! a client without a certificate or with one from another CA is refused, and a second apply
//! leaves the members alone.

use std::path::Path;

use crate::lab_support::{counts, groundup, json, pki_generate, reset, sh};

fn inventory(dir: &Path) -> std::path::PathBuf {
    let lab = crate::common::lab();
    let s = &lab.hosts[0].ssh;
    let mut t = format!(
        "[cluster]\nname = \"etcdlab\"\nkubernetes_version = \"1.36.3\"\n\n[ssh]\nuser = \"root\"\nport = 2200\n\
         identity_file = \"{}\"\nknown_hosts = \"{}\"\n\n[container_runtime]\nsource = \"os\"\n\n[kubelet]\nallow_cgroup_v1 = true\n",
        s.identity_file.as_ref().unwrap().display(),
        s.known_hosts.as_ref().unwrap().display()
    );
    // The control plane is never touched here (--on @etcd); it only has to exist in the inventory.
    let hosts = [(1, "control-plane"), (10, "etcd"), (11, "etcd"), (12, "etcd")];
    for (i, role) in hosts {
        t.push_str(&format!(
            "\n[[hosts]]\nname = \"lab-{i}\"\naddress = \"127.0.77.{}\"\ninternal_address = \"10.77.0.{}\"\nroles = [\"{role}\"]\n",
            10 + i,
            10 + i
        ));
    }
    let p = dir.join("inventory.toml");
    std::fs::write(&p, t).unwrap();
    p
}

#[test]
fn external_etcd_members_form_a_cluster_over_mtls_and_a_second_apply_leaves_them_alone() {
    reset(&["lab-10", "lab-11", "lab-12"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inv = inventory(d);
    let certs = pki_generate(d, &inv);

    let apply = |d: &Path| {
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
            .arg(&inv)
            .arg("--certs-dir")
            .arg(&certs)
            .arg("--state-dir")
            .arg(d.join("state"))
            .output()
            .unwrap();
        (out.status.code(), json(&out.stdout))
    };
    let (code, v) = apply(d);
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

    let (code, v) = apply(d);
    assert_eq!(
        (code, counts(&v).0, counts(&v).2),
        (Some(0), 0, 0),
        "a second apply changes nothing: {v:#}"
    );
}
