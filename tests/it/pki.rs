//! The PKI against kubeadm's reference tables: identities, usages, SANs and validity read back with
//! x509-parser; chains and purposes checked by real `openssl verify`; the discovery hash against
//! openssl's pipeline.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use ::time::OffsetDateTime;
use groundup::inventory::Inventory;
use groundup::pki::{self, Algorithm, Bundle, CertSpec, Profile, Validity};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::*;

use crate::common::root;

fn example(name: &str) -> Inventory {
    Inventory::load(&root().join("inventory").join(name)).unwrap()
}

fn make(inv: &Inventory, alg: Algorithm) -> (Vec<CertSpec>, Bundle, OffsetDateTime) {
    let specs = pki::certificates(inv).unwrap();
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let bundle = pki::issue(&specs, alg, Validity::default(), now).unwrap();
    (specs, bundle, now)
}

#[test]
fn the_certificate_set_follows_the_topology() {
    for name in ["single.toml", "ha.toml", "external-etcd.toml"] {
        let specs = pki::certificates(&example(name)).unwrap();
        insta::assert_json_snapshot!(name.trim_end_matches(".toml"), specs);
    }
    let ext = pki::certificates(&example("external-etcd.toml")).unwrap();
    let ids: Vec<&str> = ext.iter().map(|s| s.id.as_str()).collect();
    assert!(
        ids.contains(&"nodes/etcd-2/pki/etcd/peer") && !ids.contains(&"nodes/cp-1/pki/etcd/server"),
        "{ids:?}"
    );
    assert!(
        !ids.iter().any(|i| i.starts_with("nodes/worker")),
        "workers get no PKI files"
    );
}

#[test]
fn every_certificate_matches_kubeadm_profiles() {
    for name in ["single.toml", "ha.toml", "external-etcd.toml"] {
        let (specs, bundle, now) = make(&example(name), Algorithm::EcdsaP256);
        let by_id: BTreeMap<&str, &CertSpec> = specs.iter().map(|s| (s.id.as_str(), s)).collect();
        for spec in &specs {
            let pem = &bundle.certs[&spec.id].cert_pem;
            let (_, p) = parse_x509_pem(pem.as_bytes()).unwrap();
            let cert = p.parse_x509().unwrap();
            let cn: Vec<&str> = cert.subject().iter_common_name().map(|c| c.as_str().unwrap()).collect();
            assert_eq!(cn, [spec.cn.as_str()], "{}", spec.id);
            let orgs: Vec<&str> = cert
                .subject()
                .iter_organization()
                .map(|c| c.as_str().unwrap())
                .collect();
            assert_eq!(orgs, spec.orgs, "{}", spec.id);
            let issuer_cn = spec
                .issuer
                .as_ref()
                .map(|i| by_id[i.as_str()].cn.as_str())
                .unwrap_or(&spec.cn);
            assert_eq!(
                cert.issuer().iter_common_name().next().unwrap().as_str().unwrap(),
                issuer_cn,
                "{}",
                spec.id
            );

            let bc = cert.basic_constraints().unwrap().expect("basicConstraints present");
            assert_eq!(bc.value.ca, spec.profile == Profile::Ca, "{}", spec.id);
            let ku = cert.key_usage().unwrap().unwrap().value;
            assert!(ku.digital_signature() && ku.key_encipherment(), "{}", spec.id);
            assert_eq!(ku.key_cert_sign(), spec.profile == Profile::Ca, "{}", spec.id);
            let eku = cert
                .extended_key_usage()
                .unwrap()
                .map(|e| (e.value.server_auth, e.value.client_auth));
            let want = match spec.profile {
                Profile::Ca => None,
                Profile::Server => Some((true, false)),
                Profile::Client => Some((false, true)),
                Profile::ServerClient => Some((true, true)),
            };
            assert_eq!(eku, want, "{}", spec.id);

            let (mut dns, mut ips) = (Vec::new(), Vec::new());
            for ext in cert.extensions() {
                if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
                    for n in &san.general_names {
                        match n {
                            GeneralName::DNSName(d) => dns.push(d.to_string()),
                            GeneralName::IPAddress(b) => ips.push(match b.len() {
                                4 => IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()),
                                _ => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()),
                            }),
                            other => panic!("{}: unexpected SAN {other:?}", spec.id),
                        }
                    }
                }
            }
            assert_eq!((dns, ips), (spec.dns.clone(), spec.ips.clone()), "{}", spec.id);

            let days = if spec.profile == Profile::Ca { 3650 } else { 365 };
            assert_eq!(
                cert.validity().not_before.timestamp(),
                (now - ::time::Duration::minutes(5)).unix_timestamp(),
                "{}",
                spec.id
            );
            assert_eq!(
                cert.validity().not_after.timestamp(),
                (now + ::time::Duration::days(days)).unix_timestamp(),
                "{}",
                spec.id
            );
            assert!(cert.raw_serial()[0] & 0x80 == 0, "{}: positive serial", spec.id);
        }
    }
}

#[test]
fn the_apiserver_certificate_carries_every_name_clients_use() {
    let specs = pki::certificates(&example("ha.toml")).unwrap();
    let api = specs.iter().find(|s| s.id == "nodes/cp-2/pki/apiserver").unwrap();
    assert_eq!(
        api.dns,
        [
            "cp-2",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "k8s-api.example.internal"
        ]
    );
    assert_eq!(
        api.ips,
        ["10.96.0.1".parse::<IpAddr>().unwrap(), "10.20.0.12".parse().unwrap()]
    );
    let peer = specs.iter().find(|s| s.id == "nodes/cp-3/pki/etcd/peer").unwrap();
    assert_eq!(
        peer.ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["10.20.0.13", "127.0.0.1", "::1"]
    );
}

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn openssl_verifies_every_leaf_against_its_ca_and_purpose() {
    let (specs, bundle, _) = make(&example("ha.toml"), Algorithm::EcdsaP256);
    let dir = tempfile::tempdir().unwrap();
    let file = |id: &str, ext: &str| {
        let name = format!("{}.{ext}", id.replace('/', "_"));
        let body = if ext == "crt" {
            &bundle.certs[id].cert_pem
        } else {
            &bundle.certs[id].key_pem
        };
        std::fs::write(dir.path().join(&name), body).unwrap();
        name
    };
    for spec in specs.iter().filter(|s| s.profile != Profile::Ca) {
        let ca = file(spec.issuer.as_ref().unwrap(), "crt");
        let leaf = file(&spec.id, "crt");
        let purpose = match spec.profile {
            Profile::Client => "sslclient",
            _ => "sslserver",
        };
        let (ok, text) = openssl(&["verify", "-purpose", purpose, "-CAfile", &ca, &leaf], dir.path());
        assert!(ok, "{}: {text}", spec.id);
        // the key belongs to the certificate
        let key = file(&spec.id, "key");
        let (_, from_cert) = openssl(&["x509", "-in", &leaf, "-noout", "-pubkey"], dir.path());
        let (_, from_key) = openssl(&["pkey", "-in", &key, "-pubout"], dir.path());
        assert_eq!(from_cert, from_key, "{}", spec.id);
    }
    // and a server certificate is refused as a client one
    let ca = file("ca", "crt");
    let api = file("nodes/cp-1/pki/apiserver", "crt");
    assert!(!openssl(&["verify", "-purpose", "sslclient", "-CAfile", &ca, &api], dir.path()).0);
    // a leaf does not verify against another CA
    let etcd_ca = file("etcd/ca", "crt");
    assert!(!openssl(&["verify", "-CAfile", &etcd_ca, &api], dir.path()).0);
}

#[test]
fn the_discovery_hash_equals_openssls() {
    let (_, bundle, _) = make(&example("single.toml"), Algorithm::EcdsaP256);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.crt"), &bundle.certs["ca"].cert_pem).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("openssl x509 -pubkey -in ca.crt -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let want = format!("sha256:{}", String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(pki::ca_cert_hash(&bundle.certs["ca"].cert_pem).unwrap(), want);
    assert_eq!(want.len(), 7 + 64);
}

#[test]
fn rsa_keys_are_selectable_and_the_sa_key_matches_its_public_half() {
    let inv = example("single.toml");
    let specs: Vec<CertSpec> = pki::certificates(&inv)
        .unwrap()
        .into_iter()
        .filter(|s| s.id == "ca" || s.id.ends_with("/apiserver"))
        .collect();
    let bundle = pki::issue(
        &specs,
        Algorithm::Rsa2048,
        Validity::default(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("api.crt"),
        &bundle.certs["nodes/cp-1/pki/apiserver"].cert_pem,
    )
    .unwrap();
    std::fs::write(dir.path().join("sa.key"), &bundle.sa_key_pem).unwrap();
    let (_, text) = openssl(&["x509", "-in", "api.crt", "-noout", "-text"], dir.path());
    assert!(
        text.contains("Public-Key: (2048 bit)") && text.contains("sha256WithRSAEncryption"),
        "{text}"
    );
    let (_, derived) = openssl(&["pkey", "-in", "sa.key", "-pubout"], dir.path());
    assert_eq!(derived, bundle.sa_pub_pem);
    assert_eq!(Algorithm::parse("ECDSA-P384"), Some(Algorithm::EcdsaP384));
    assert_eq!(Algorithm::parse("ed25519"), None);
}

#[test]
fn a_control_plane_without_a_known_ip_is_refused_with_a_hint() {
    let inv = crate::common::inventory("[cluster]\nname = \"a\"\nkubernetes_version = \"1.36.3\"\n\n[[hosts]]\nname = \"cp\"\naddress = \"cp.lab.example\"\nroles = [\"control-plane\"]\n");
    let err = pki::certificates(&inv).unwrap_err();
    assert_eq!(err, pki::SpecError::NoNodeIp { host: "cp".into() });
    assert!(err.hint().contains("node_ip or internal_address"));
}
