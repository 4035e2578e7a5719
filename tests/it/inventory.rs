//! Inventory loading and validation: every example loads; every bad inventory is rejected with
//! the expected message pointing at the right line (rendered error snapshotted).

use std::path::Path;

use groundup::inventory::select::{select, SelectError};
use groundup::inventory::{ApiMode, EtcdTopology, Inventory, Role};

use crate::common::{inventory, root};

#[test]
fn every_example_inventory_loads() {
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("inventory")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Inventory::load(&path).unwrap_or_else(|e| panic!("{}:\n{}", path.display(), e.render_plain()));
            seen += 1;
        }
    }
    assert!(
        seen >= 4,
        "expected lab, single, ha and external-etcd examples, found {seen}"
    );
}

#[test]
fn examples_have_the_topologies_their_names_promise() {
    let load = |n: &str| Inventory::load(&root().join("inventory").join(n)).unwrap();
    let ha = load("ha.toml");
    assert_eq!(ha.with_role(Role::ControlPlane).count(), 3);
    assert_eq!(ha.cluster.etcd, EtcdTopology::Stacked);
    assert_eq!(
        ha.cluster.control_plane_endpoint.as_ref().unwrap().to_string(),
        "k8s-api.example.internal:6443"
    );
    assert_eq!(ha.cluster.api, ApiMode::External);
    let vip = load("ha-vip.toml");
    assert_eq!(
        vip.cluster.control_plane_endpoint.as_ref().unwrap().to_string(),
        "10.20.0.10:6443"
    );
    assert!(
        matches!(&vip.cluster.api, ApiMode::Vip { interface: Some(i), kube_vip_version: v } if i == "ens3" && v == "v1.2.3")
    );
    let lb = load("ha-local-lb.toml");
    assert_eq!(lb.cluster.api, ApiMode::LocalLb);
    assert_eq!(
        lb.cluster.control_plane_endpoint.as_ref().unwrap().to_string(),
        "127.0.0.1:6444"
    );
    let ext = load("external-etcd.toml");
    assert_eq!(ext.cluster.etcd, EtcdTopology::External);
    assert_eq!(
        ext.etcd_members().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        ["etcd-1", "etcd-2", "etcd-3"]
    );
    let single = load("single.toml");
    assert!(
        single.hosts.iter().all(|h| h.ssh.sudo && h.ssh.user == "vagrant"),
        "non-root users get sudo by default"
    );
    assert_eq!(single.hosts[0].iface.as_deref(), Some("enp0s8"));
    // relative identity files resolve next to the inventory, `~/` to the home directory
    assert!(ext.hosts[0]
        .ssh
        .identity_file
        .as_ref()
        .unwrap()
        .ends_with("inventory/keys/lab_ed25519"));
    assert!(!single.hosts[0].ssh.identity_file.as_ref().unwrap().starts_with("~"));
}

#[test]
fn bad_inventories_are_rejected_with_file_line_and_hint() {
    let dir = root().join("tests/fixtures/bad-inventories");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    assert!(names.len() >= 20, "at least 20 bad inventories, found {}", names.len());
    for path in names {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let shown = Path::new("bad").join(&name);
        let err = Inventory::parse(&shown, text).expect_err(&name);
        let rendered = err.render_plain();
        assert!(
            rendered.contains(&format!("[bad/{name}:")),
            "{name}: the error names file:line:col\n{rendered}"
        );
        insta::assert_snapshot!(name.trim_end_matches(".toml"), rendered);
    }
}

#[test]
fn all_problems_of_a_file_are_reported_together() {
    let text = "[cluster]\nname = \"lab\"\nkubernetes_version = \"1.36.3\"\n\n[[hosts]]\nname = \"A\"\naddress = \"10.0.0.1\"\nroles = [\"boss\"]\n\n[[hosts]]\nname = \"b\"\naddress = \"10.0.0.2\"\nroles = [\"worker\"]\ninternal_address = \"nope\"\n";
    let err = Inventory::parse(Path::new("x.toml"), text.into()).unwrap_err();
    let msgs = err.messages();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].contains("host name `A`"));
    assert!(msgs[1].contains("unknown role `boss`"));
    assert!(msgs[2].contains("internal_address `nope`"));
}

#[test]
fn on_selects_by_name_glob_and_role() {
    let inv = Inventory::load(&root().join("inventory/ha.toml")).unwrap();
    let names = |spec: &str| {
        select(&inv, Some(spec))
            .unwrap()
            .iter()
            .map(|h| h.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names("cp-2"), ["cp-2"]);
    assert_eq!(names("worker-*"), ["worker-1", "worker-2", "worker-3"]);
    assert_eq!(names("@control-plane"), ["cp-1", "cp-2", "cp-3"]);
    assert_eq!(
        names("worker-3, @control-plane"),
        ["cp-1", "cp-2", "cp-3", "worker-3"],
        "inventory order, no duplicates"
    );
    assert_eq!(select(&inv, None).unwrap().len(), 6);
    assert!(matches!(
        select(&inv, Some("@masters")),
        Err(SelectError::UnknownRole(..))
    ));
    let err = select(&inv, Some("cp-9")).unwrap_err();
    assert!(
        err.to_string().contains("matches no host") && err.to_string().contains("cp-1, cp-2"),
        "{err}"
    );
}

#[test]
fn endpoint_port_defaults_to_6443_and_ipv6_is_bracketed() {
    let inv = inventory("[cluster]\nname = \"v6\"\nkubernetes_version = \"v1.35.7\"\ncontrol_plane_endpoint = \"[fd00::10]:8443\"\n\n[[hosts]]\nname = \"cp\"\naddress = \"fd00::11\"\nroles = [\"control-plane\"]\n");
    assert_eq!(
        inv.cluster.control_plane_endpoint.unwrap().to_string(),
        "[fd00::10]:8443"
    );
    assert_eq!(inv.cluster.kubernetes_version.to_string(), "1.35.7");
    let inv = inventory("[cluster]\nname = \"a\"\nkubernetes_version = \"1.36.3\"\ncontrol_plane_endpoint = \"api.lab\"\n\n[[hosts]]\nname = \"cp\"\naddress = \"h\"\nroles = [\"control-plane\"]\n");
    assert_eq!(inv.cluster.control_plane_endpoint.unwrap().to_string(), "api.lab:6443");
}
