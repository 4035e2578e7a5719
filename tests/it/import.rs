//! `groundup import ansible`: inventories in the FIWARE Lab playbooks' and Kubespray's INI shape
//! (tests/fixtures/ansible, written for these tests) become TOML that groundup loads; what has no
//! place in groundup is a comment naming where it came from; bad input names its line.

use crate::common::root;
use crate::lab_support::groundup;

fn import(file: &str, extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = groundup(dir.path())
        .args(["import", "ansible"])
        .arg(root().join("tests/fixtures/ansible").join(file))
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn loads(toml: &str) -> groundup::inventory::Inventory {
    groundup::inventory::Inventory::parse(std::path::Path::new("imported.toml"), toml.to_string())
        .unwrap_or_else(|e| panic!("{}\n{toml}", e.render_plain()))
}

#[test]
fn a_fiware_lab_inventory_imports_with_its_connection_in_ssh() {
    let (code, toml, err) = import("fiware-lab.ini", &["--name", "fiware"]);
    assert_eq!(code, 0, "{err}");
    let toml = toml.replace(root().to_str().unwrap(), "<repo>");
    insta::assert_snapshot!("import__fiware_lab", toml);
    let inv = loads(&toml);
    assert_eq!(inv.hosts.len(), 3);
    for h in &inv.hosts {
        assert_eq!((h.ssh.user.as_str(), h.ssh.sudo), ("ubuntu", true), "{}", h.name);
        assert!(h.ssh.identity_file.as_ref().unwrap().ends_with(".ssh/fiware-lab.pem"));
    }
    let roles: Vec<String> = inv.hosts.iter().map(|h| format!("{}:{:?}", h.name, h.roles)).collect();
    assert_eq!(roles.len(), 3, "{roles:?}");
    assert!(
        toml.contains("# not mapped: ansible_ssh_common_args=-o StrictHostKeyChecking=no"),
        "{toml}"
    );
}

#[test]
fn a_kubespray_inventory_imports_with_stacked_etcd_and_its_version() {
    let (code, toml, err) = import("kubespray.ini", &[]);
    assert_eq!(code, 0, "{err}");
    let toml = toml.replace(root().to_str().unwrap(), "<repo>");
    insta::assert_snapshot!("import__kubespray", toml);
    let inv = loads(&toml);
    assert_eq!(inv.cluster.kubernetes_version.to_string(), "1.35.7");
    assert_eq!(inv.hosts.len(), 5, "the bastion has no role: {toml}");
    assert!(toml.contains("# not mapped: host bastion"), "{toml}");
    assert!(toml.contains("# not mapped: etcd_member_name=etcd1 (groundup names etcd members after their host)"));
    // A port only the workers have stays on them.
    assert_eq!(toml.matches("port = 2222").count(), 2, "{toml}");
}

#[test]
fn groups_map_by_hand_and_bad_lines_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("lab.ini");
    std::fs::write(
        &ini,
        "[boss]\na ansible_host=10.0.0.1\n[crew]\nb[1:2] ansible_host=10.0.0.9\n",
    )
    .unwrap();
    let out = groundup(dir.path())
        .args(["import", "ansible"])
        .arg(&ini)
        .args(["--map", "boss=control-plane", "--map", "crew=worker"])
        .output()
        .unwrap();
    let toml = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "two workers share an address: it prints, then says why"
    );
    assert!(
        toml.contains("name = \"b1\"") && toml.contains("name = \"b2\""),
        "{toml}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not validate"));

    std::fs::write(&ini, "[boss]\na ansible_host=10.0.0.1\n[crew\nb\n").unwrap();
    let out = groundup(dir.path())
        .args(["import", "ansible"])
        .arg(&ini)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("lab.ini:3:"), "{err}");

    std::fs::write(&ini, "[boss]\na ansible_host=10.0.0.1\n").unwrap();
    let out = groundup(dir.path())
        .args(["import", "ansible"])
        .arg(&ini)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--map GROUP=control-plane"), "{err}");
}
