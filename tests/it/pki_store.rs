//! The PKI on disk: idempotent regeneration, minimal reissue, CAs never replaced, adopting
//! kubeadm's own CA (PKCS#1 / SEC1 keys made by openssl), clear errors with nothing half-written,
//! and the pki commands' output.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use assert_cmd::Command as Bin;
use groundup::inventory::Inventory;
use groundup::pki::generate::{generate, Action, Decision, RENEW_BEFORE};
use groundup::pki::store::Store;
use time::OffsetDateTime;

use crate::common::root;

fn ha(edit: impl Fn(String) -> String) -> Inventory {
    let text = edit(std::fs::read_to_string(root().join("inventory/ha.toml")).unwrap());
    Inventory::parse(Path::new("ha.toml"), text).unwrap()
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.insert(
                    e.path().strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(e.path()).unwrap(),
                );
            }
        }
    }
    out
}

fn changed(d: &[Decision]) -> Vec<String> {
    d.iter()
        .filter(|d| d.action != Action::Keep)
        .map(|d| d.file.clone())
        .collect()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[test]
fn generating_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("pki"));
    let first = generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap();
    assert_eq!(changed(&first).len(), first.len(), "everything is new the first time");
    let before = snapshot(&store.root);
    let second = generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap();
    assert_eq!(changed(&second), Vec::<String>::new());
    assert_eq!(snapshot(&store.root), before, "not a byte changed");
    assert_eq!(
        before.len(),
        3 * 2 + 4 + 3 * (4 * 2 + 4 + 3 * 2),
        "3 CAs, sa.key/pub, token, encryption key, per control plane 4 leaf pairs, 4 kubeconfigs, 3 etcd pairs"
    );
}

#[test]
fn a_changed_node_ip_reissues_only_that_nodes_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("pki"));
    generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap();
    let before = snapshot(&store.root);
    let moved = ha(|t| t.replace("address = \"10.20.0.12\"", "address = \"10.20.0.42\""));
    let d = generate(&moved, &store, RENEW_BEFORE, now()).unwrap();
    let mut files = changed(&d);
    files.sort();
    assert_eq!(
        files,
        [
            "nodes/cp-2/controller-manager.conf",
            "nodes/cp-2/pki/apiserver.crt",
            "nodes/cp-2/pki/etcd/peer.crt",
            "nodes/cp-2/pki/etcd/server.crt",
            "nodes/cp-2/scheduler.conf",
        ]
    );
    let why = &d.iter().find(|d| d.file == "nodes/cp-2/pki/apiserver.crt").unwrap().why;
    assert!(why.contains("10.20.0.42") && why.contains("10.20.0.12"), "{why}");
    let after = snapshot(&store.root);
    assert_eq!(after["ca.crt"], before["ca.crt"]);
    assert_eq!(
        after["nodes/cp-1/pki/apiserver.crt"],
        before["nodes/cp-1/pki/apiserver.crt"]
    );
    assert_ne!(
        after["nodes/cp-2/pki/apiserver.key"],
        before["nodes/cp-2/pki/apiserver.key"]
    );
}

#[test]
fn a_ca_is_never_overwritten_and_a_broken_one_stops_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("pki"));
    generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap();
    // a CA key that is not the CA's
    let other = std::fs::read(store.path("front-proxy-ca.key")).unwrap();
    std::fs::write(store.path("ca.key"), other).unwrap();
    std::fs::remove_file(store.path("nodes/cp-1/pki/apiserver.crt")).unwrap();
    let before = snapshot(&store.root);
    let err = generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap_err();
    assert!(
        err.to_string().contains("ca.crt") && err.to_string().contains("does not belong"),
        "{err}"
    );
    assert!(
        err.hint().contains("never") || err.hint().contains("new PKI"),
        "{}",
        err.hint()
    );
    assert_eq!(
        snapshot(&store.root),
        before,
        "nothing written, not even the missing leaf"
    );
    // a lone CA certificate without its key: named, with the fix
    std::fs::remove_file(store.path("ca.key")).unwrap();
    let err = generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap_err();
    assert!(
        err.to_string().contains("exists but its key does not") && err.hint().contains("/etc/kubernetes/pki"),
        "{err}"
    );
}

#[test]
fn leaves_are_reissued_when_their_key_is_wrong_or_they_expire_soon() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("pki"));
    generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap();
    let stray = std::fs::read(store.path("nodes/cp-1/pki/front-proxy-client.key")).unwrap();
    std::fs::write(store.path("nodes/cp-1/pki/apiserver.key"), stray).unwrap();
    let d = generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap();
    assert_eq!(changed(&d), ["nodes/cp-1/pki/apiserver.crt"]);
    assert_eq!(
        d.iter().find(|d| d.file == "nodes/cp-1/pki/apiserver.crt").unwrap().why,
        "the key does not belong to the certificate"
    );

    let d = generate(&ha(|t| t), &store, time::Duration::days(400), now()).unwrap();
    let reissued = changed(&d);
    assert_eq!(reissued.len(), 3 * 11, "every leaf and kubeconfig, no CA, no sa.key");
    // 365 days of validity, seconds old: 364 or 365 whole days left, by the second boundary
    assert!(
        d.iter()
            .filter(|d| d.action == Action::Reissue)
            .all(|d| d.why == "expires in 364 days" || d.why == "expires in 365 days"),
        "{d:?}"
    );
}

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_kubeadm_ca_with_pkcs1_and_sec1_keys_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(pki.join("etcd")).unwrap();
    sh(&pki, "openssl genrsa -traditional -out ca.key 2048 2>/dev/null && openssl req -x509 -new -key ca.key -subj /CN=kubernetes -days 3650 -out ca.crt");
    sh(&pki, "openssl ecparam -name prime256v1 -genkey -noout -out etcd/ca.key && openssl req -x509 -new -key etcd/ca.key -subj /CN=etcd-ca -days 3650 -out etcd/ca.crt");
    assert!(
        std::fs::read_to_string(pki.join("ca.key"))
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY"),
        "PKCS#1"
    );
    assert!(
        std::fs::read_to_string(pki.join("etcd/ca.key"))
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY"),
        "SEC1"
    );
    let ca_before = std::fs::read(pki.join("ca.crt")).unwrap();
    let d = generate(&ha(|t| t), &Store::new(&pki), RENEW_BEFORE, now()).unwrap();
    let kept: Vec<&str> = d
        .iter()
        .filter(|d| d.action == Action::Keep)
        .map(|d| d.file.as_str())
        .collect();
    assert_eq!(kept, ["ca.crt", "etcd/ca.crt"]);
    assert_eq!(std::fs::read(pki.join("ca.crt")).unwrap(), ca_before);
    sh(&pki, "openssl verify -CAfile ca.crt nodes/cp-1/pki/apiserver.crt && openssl verify -CAfile etcd/ca.crt nodes/cp-3/pki/etcd/peer.crt");
}

#[test]
fn an_unwritable_folder_is_reported_and_nothing_is_half_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not-a-folder"), "x").unwrap();
    let store = Store::new(dir.path().join("not-a-folder/pki"));
    let err = generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap_err();
    assert!(
        err.to_string().contains("not-a-folder/pki") && err.hint().contains("--certs-dir"),
        "{err}"
    );
    assert_eq!(snapshot(dir.path()).len(), 1, "only the file that was there");

    // a folder where staging succeeds for some files: the temporaries are removed again
    let store = Store::new(dir.path().join("pki"));
    std::fs::create_dir_all(store.path("nodes/cp-2")).unwrap();
    std::fs::write(store.path("nodes/cp-2/pki"), "a file where a folder must go").unwrap();
    assert!(generate(&ha(|t| t), &store, RENEW_BEFORE, now()).is_err());
    let left = snapshot(&store.root);
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        ["nodes/cp-2/pki"],
        "no CA, no temporary left behind: {left:?}"
    );
}

#[test]
fn the_commands_show_verify_and_mask_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let inv = root().join("inventory/ha.toml");
    let run = |args: &[&str]| {
        Bin::cargo_bin("groundup")
            .unwrap()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["pki", "generate", "-i", inv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let token = std::fs::read_to_string(dir.path().join("certs/prod-a/bootstrap-token"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&token[7..]),
        "generate never prints the token"
    );

    let out = run(&["pki", "join-info", "-i", inv.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{}.****************", &token[..6])) && !text.contains(&token[7..]),
        "{text}"
    );
    assert!(
        text.contains("kubeadm join k8s-api.example.internal:6443 --token"),
        "{text}"
    );
    let out = run(&["pki", "join-info", "--reveal", "-i", inv.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&token));

    // a folder laid out like a node's /etc/kubernetes/pki
    let node = dir.path().join("node-pki");
    sh(dir.path(), "mkdir -p node-pki/etcd && cp certs/prod-a/*.crt certs/prod-a/*.key node-pki/ && cp certs/prod-a/etcd/* node-pki/etcd/ && cp -r certs/prod-a/nodes/cp-1/pki/. node-pki/");
    let out = run(&["pki", "verify", "--dir", node.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(&["pki", "show", "--dir", node.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("apiserver.crt")
            && l.contains("kube-apiserver")
            && l.contains("k8s-api.example.internal")),
        "{text}"
    );
    std::fs::copy(node.join("front-proxy-client.key"), node.join("apiserver.key")).unwrap();
    let out = run(&["pki", "verify", "--dir", node.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let bad: Vec<&str> = text.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(bad.len(), 1, "{text}");
    assert!(
        bad[0].starts_with("apiserver.crt ")
            && bad[0].contains(" key ")
            && bad[0].contains("belongs to another certificate"),
        "{text}"
    );
}

#[test]
fn keys_are_private_and_folders_closed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("pki"));
    generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap();
    let mode = |rel: &str| std::fs::metadata(store.path(rel)).unwrap().permissions().mode() & 0o777;
    for rel in [
        "ca.key",
        "etcd/ca.key",
        "sa.key",
        "bootstrap-token",
        "nodes/cp-2/pki/apiserver.key",
        "nodes/cp-2/admin.conf",
    ] {
        assert_eq!(mode(rel), 0o600, "{rel}");
    }
    for rel in ["", "etcd", "nodes", "nodes/cp-2", "nodes/cp-2/pki/etcd"] {
        assert_eq!(mode(rel), 0o700, "folder {rel}");
    }
}

#[test]
fn pki_settings_choose_the_algorithm_and_validity() {
    let inv = ha(|t| {
        t + "\n[pki]\nalgorithm = \"ECDSA-P384\"\nvalidity_days = 30\nextra_sans = [\"api.public.example\", \"203.0.113.10\"]\n"
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("pki"));
    generate(&inv, &store, time::Duration::days(7), now()).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(store.path("nodes/cp-1/pki/apiserver.crt"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("secp384r1") || text.contains("P-384"), "{text}");
    assert!(
        text.contains("DNS:api.public.example") && text.contains("IP Address:203.0.113.10"),
        "{text}"
    );
    let info = groundup::pki::inspect::parse_cert(
        &std::fs::read_to_string(store.path("nodes/cp-1/pki/apiserver.crt")).unwrap(),
    )
    .unwrap();
    assert_eq!((info.not_after - now().unix_timestamp() + 60) / 86_400, 30);
}

#[test]
fn a_garbage_ca_file_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("pki"));
    generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap();
    std::fs::write(store.path("front-proxy-ca.crt"), "not a certificate\n").unwrap();
    let err = generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap_err();
    assert!(
        err.to_string().contains("front-proxy-ca.crt") && err.to_string().contains("not a PEM certificate"),
        "{err}"
    );
}

#[test]
fn kubeconfigs_point_at_the_endpoint_or_their_own_api_server() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("pki"));
    generate(&ha(|t| t), &store, RENEW_BEFORE, now()).unwrap();
    let server = |rel: &str| {
        let text = std::fs::read_to_string(store.path(rel)).unwrap();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("server: ").map(String::from))
            .unwrap()
    };
    assert_eq!(server("nodes/cp-2/admin.conf"), "https://k8s-api.example.internal:6443");
    assert_eq!(
        server("nodes/cp-2/super-admin.conf"),
        "https://k8s-api.example.internal:6443"
    );
    assert_eq!(server("nodes/cp-2/scheduler.conf"), "https://10.20.0.12:6443");
    assert_eq!(server("nodes/cp-3/controller-manager.conf"), "https://10.20.0.13:6443");
    let admin = std::fs::read_to_string(store.path("nodes/cp-2/admin.conf")).unwrap();
    assert!(
        admin.contains("name: kubernetes-admin@prod-a") && admin.contains("current-context: kubernetes-admin@prod-a"),
        "{admin}"
    );
}
