//! The plans of `upgrade` from the facts of finished clusters whose nodes run 1.36.3 (the
//! `plan_finished` fixtures), with the inventory raised: a minor on three stacked control planes
//! behind local-lb, a patch on a single control plane, a minor with external etcd; the gate's
//! refusals (a skipped minor, a downgrade, a NotReady node, a kit without the new version); the
//! rolling batches; an interrupted upgrade planning only what is left; an upgraded cluster
//! planning nothing.

use groundup::commands::plan::build;
use groundup::facts::HostFacts;
use groundup::inventory::{Inventory, Role};
use groundup::plan::{show, upgrade, Context, Counts};

use crate::common::inventory;
use crate::plan_finished::{cluster_at, finished};

/// A single control plane (API on its node IP) and two workers; or one control plane, three
/// external etcd members (hosts with the etcd role alone) and a worker.
fn small(version: &str, external: bool) -> Inventory {
    let mut t = format!(
        "[cluster]\nname = \"done\"\nkubernetes_version = \"{version}\"\n\n[container_runtime]\nsource = \"os\"\n\n\
         [kubelet]\nallow_cgroup_v1 = true\n"
    );
    let hosts: &[(u32, &str)] = if external {
        &[
            (21, "\"control-plane\""),
            (31, "\"etcd\""),
            (32, "\"etcd\""),
            (33, "\"etcd\""),
            (24, "\"worker\""),
        ]
    } else {
        &[(21, "\"control-plane\""), (24, "\"worker\""), (25, "\"worker\"")]
    };
    for (i, roles) in hosts {
        t.push_str(&format!(
            "\n[[hosts]]\nname = \"node-{i}\"\naddress = \"127.0.77.{i}\"\ninternal_address = \"10.77.0.{i}\"\nroles = [{roles}]\n"
        ));
    }
    inventory(&t)
}

/// The facts of `old` (every node at 1.36.3, finished) and the plan of upgrading to `new`.
struct Case {
    new: Inventory,
    facts: Vec<HostFacts>,
    certs: tempfile::TempDir,
}

impl Case {
    fn of(old: Inventory, new: Inventory) -> Case {
        let certs = crate::plan::generated_pki(&old);
        let cx = Context::with_certs(&old, Some(certs.path())).unwrap();
        let facts = finished(&old, &cx);
        Case { new, facts, certs }
    }
    fn plan_with(&self, facts: &[HostFacts], batch: Option<&[&str]>) -> (String, Counts) {
        let mut cx = Context::with_certs(&self.new, Some(self.certs.path())).unwrap();
        cx.upgrade.drain_timeout = 300;
        cx.upgrade.batch = batch.map(|b| b.iter().map(|s| s.to_string()).collect());
        let gathered: Vec<_> = facts.iter().cloned().map(Ok).collect();
        let (r, _) = build(&cx, &groundup::action::upgrade::all(), &self.new.hosts, &gathered);
        (show::text(&r.phases, false), r.counts)
    }
    fn plan(&self) -> (String, Counts) {
        self.plan_with(&self.facts, None)
    }
}

fn snapshot(name: &str, text: &str) {
    // The PKI is made afresh for each run: files that carry its checksums vary.
    insta::with_settings!({filters => vec![(r"mode 0\d+, \d+ bytes, sha256 [0-9a-f]{16}", "mode [mode], [size], sha256 [made afresh]")]}, {
        insta::assert_snapshot!(name, text);
    });
}

fn at(text: &str, what: &str) -> usize {
    text.find(what).unwrap_or_else(|| panic!("`{what}` missing:\n{text}"))
}

#[test]
fn a_minor_upgrade_of_three_control_planes_applies_on_the_first_then_upgrades_the_others_and_rolls_every_node() {
    let case = Case::of(cluster_at("1.36.3", ""), cluster_at("1.37.0", ""));
    let (text, counts) = case.plan();
    snapshot("upgrade__ha_minor", &text);
    assert_eq!(counts.failed, 0, "{text}");
    // The new minor's repository, then kubeadm on every node; apply on the first, node on the others.
    assert!(text.contains("core:/stable:/v1.37"), "{text}");
    assert_eq!(text.matches("+ kubeadm upgrade apply v1.37.0 (").count(), 1, "{text}");
    assert!(
        at(&text, "kubeadm upgrade apply v1.37.0") < at(&text, "kubeadm upgrade node ("),
        "{text}"
    );
    for n in ["node-21", "node-22", "node-23", "node-24", "node-25"] {
        assert!(text.contains(&format!("cordon and drain {n}")), "{n}:\n{text}");
        assert!(
            text.contains(&format!("uncordon {n} once it reports v1.37.0 and Ready")),
            "{n}:\n{text}"
        );
    }
    // Workers get their kubelet configuration from kubeadm; control planes had it in their upgrade.
    assert!(
        text.contains("  node-24, node-25\n    + kubeadm upgrade node (kubelet's configuration"),
        "{text}"
    );
    assert_eq!(
        text.matches("kubeadm upgrade node (kubelet's configuration").count(),
        1,
        "{text}"
    );
}

#[test]
fn a_patch_upgrade_of_a_single_control_plane_keeps_the_repository() {
    let case = Case::of(small("1.36.3", false), small("1.36.4", false));
    let (text, counts) = case.plan();
    snapshot("upgrade__single_patch", &text);
    assert_eq!(counts.failed, 0, "{text}");
    assert!(text.contains("kubeadm upgrade apply v1.36.4"), "{text}");
    assert!(
        !text.contains("kubeadm upgrade node (kube-apiserver"),
        "one control plane only:\n{text}"
    );
}

#[test]
fn a_minor_upgrade_with_external_etcd_leaves_the_etcd_members_alone() {
    let case = Case::of(small("1.36.3", true), small("1.37.0", true));
    let (text, counts) = case.plan();
    snapshot("upgrade__external_etcd", &text);
    assert_eq!(counts.failed, 0, "{text}");
    for m in ["node-31", "node-32", "node-33"] {
        assert!(!text.contains(&format!("{m}:")), "{m} is not a node:\n{text}");
    }
    // No stacked etcd to ask: the API server's own etcd check stands for it.
    assert!(
        text.contains("/readyz?verbose") && !text.contains("ectl endpoint health"),
        "{text}"
    );
}

#[test]
fn the_gate_refuses_a_skipped_minor_a_downgrade_and_a_node_that_is_not_ready() {
    // The nodes run 1.35.2 (packages, static pods, Nodes); the inventory asks for 1.37.0.
    let case = Case::of(cluster_at("1.36.3", ""), cluster_at("1.37.0", ""));
    let mut old = case.facts.clone();
    for hf in old.iter_mut() {
        upgraded(hf, "1.35.2", true, true);
        if let Some(c) = hf.facts.state.cluster.as_mut() {
            for n in c.node_info.values_mut() {
                n.kubelet_version = "1.35.2".into();
            }
        }
    }
    let (text, counts) = case.plan_with(&old, None);
    assert!(counts.failed >= 5, "{text}");
    assert!(text.contains("that skips a minor version"), "{text}");
    assert!(text.contains("1.35.2 → 1.36.x → 1.37.0"), "{text}");
    snapshot("upgrade__refused_skip", text.split("phase images").next().unwrap());

    let case = Case::of(cluster_at("1.36.3", ""), cluster_at("1.36.2", ""));
    let (text, counts) = case.plan();
    assert!(counts.failed >= 5, "{text}");
    snapshot("upgrade__refused_downgrade", text.split("phase images").next().unwrap());

    let case = Case::of(cluster_at("1.36.3", ""), cluster_at("1.37.0", ""));
    let mut facts = case.facts.clone();
    let api = facts[0].facts.state.cluster.as_mut().unwrap();
    api.node_info.get_mut("node-25").unwrap().ready = Some(false);
    let (text, counts) = case.plan_with(&facts, None);
    assert_eq!(counts.failed, 1, "{text}");
    assert!(text.contains("not Ready: node-25"), "{text}");
}

#[test]
fn a_kit_without_the_new_version_is_refused_before_anything_changes() {
    let kit = tempfile::tempdir().unwrap();
    for f in [
        "kubeadm_1.36.3-1.1_amd64.deb",
        "kubelet_1.36.3-1.1_amd64.deb",
        "kubectl_1.36.3-1.1_amd64.deb",
    ] {
        std::fs::write(kit.path().join(f), b"stand-in").unwrap();
    }
    let text = |v: &str| {
        format!(
            "[cluster]\nname = \"done\"\nkubernetes_version = \"{v}\"\n\n[artifacts]\ndir = \"{}\"\n\n\
             [container_runtime]\nsource = \"os\"\n\n[[hosts]]\nname = \"node-21\"\naddress = \"127.0.77.21\"\n\
             internal_address = \"10.77.0.21\"\nroles = [\"control-plane\"]\n",
            kit.path().display()
        )
    };
    let case = Case::of(inventory(&text("1.36.3")), inventory(&text("1.36.4")));
    let (plan, counts) = case.plan();
    assert!(counts.failed >= 1, "{plan}");
    assert!(
        plan.contains("the [artifacts] folder has no kubelet 1.36.4 for x86_64 (it has kubelet_1.36.3-1.1_amd64.deb)"),
        "{plan}"
    );
}

#[test]
fn nodes_roll_in_batches_control_planes_alone_then_max_unavailable_workers() {
    let extra = "\n[[hosts]]\nname = \"node-26\"\naddress = \"127.0.77.26\"\ninternal_address = \"10.77.0.26\"\nroles = [\"worker\"]\n";
    let names = |inv: &Inventory| -> Vec<String> { upgrade::batches(inv).iter().map(|b| b.join("+")).collect() };
    let one = cluster_at("1.37.0", extra);
    assert_eq!(
        names(&one),
        ["node-21", "node-22", "node-23", "node-24", "node-25", "node-26"]
    );
    let two = cluster_at("1.37.0", &format!("{extra}\n[upgrade]\nmax_unavailable = 2\n"));
    assert_eq!(
        names(&two),
        ["node-21", "node-22", "node-23", "node-24+node-25", "node-26"]
    );
    let zero = Inventory::parse(
        std::path::Path::new("zero.toml"),
        "[cluster]\nname = \"z\"\nkubernetes_version = \"1.37.0\"\n\n[upgrade]\nmax_unavailable = 0\n\n\
         [[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\nroles = [\"control-plane\"]\n"
            .to_string(),
    )
    .unwrap_err()
    .render_plain();
    assert!(
        zero.contains("zero.toml:6") && zero.contains("would never upgrade a worker"),
        "{zero}"
    );

    // One batch: the first control plane drains and uncordons only the batch's nodes, and only
    // they are upgraded.
    let case = Case::of(cluster_at("1.36.3", ""), cluster_at("1.37.0", ""));
    let (text, _) = case.plan_with(&case.facts, Some(&["node-24", "node-25"]));
    let nodes_part = &text[at(&text, "upgrade-drain")..];
    assert!(
        nodes_part.contains("cordon and drain node-24") && nodes_part.contains("cordon and drain node-25"),
        "{text}"
    );
    assert!(
        !nodes_part.contains("cordon and drain node-2") || !nodes_part.contains("cordon and drain node-23"),
        "{text}"
    );
    let kubelet = &text[at(&text, "upgrade-kubelet")..at(&text, "upgrade-uncordon")];
    assert!(
        !kubelet.contains("node-21:") && !kubelet.contains("node-23:"),
        "{kubelet}"
    );
}

/// Facts after an upgrade to `v` ran up to a point: packages, static pods and Nodes at `v`.
fn upgraded(hf: &mut HostFacts, v: &str, packages: bool, static_pods: bool) {
    let st = &mut hf.facts.state;
    if static_pods {
        for img in st.static_pods.values_mut() {
            if img.contains("/kube-") {
                *img = format!("{}:v{v}", img.rsplit_once(':').unwrap().0);
            }
        }
    }
    if packages {
        for p in ["kubeadm", "kubelet", "kubectl"] {
            hf.facts.packages.insert(p.into(), format!("{v}-1.1"));
        }
    }
}

#[test]
fn an_interrupted_upgrade_plans_only_what_is_left_and_an_upgraded_cluster_plans_nothing() {
    let case = Case::of(cluster_at("1.36.3", ""), cluster_at("1.37.0", ""));
    // Stopped while draining node-24 (its drain blocked): the control planes are done, node-24 is
    // cordoned by groundup with its old kubelet, node-25 untouched.
    let mut facts = case.facts.clone();
    for (h, hf) in case.new.hosts.iter().zip(facts.iter_mut()) {
        let cp = h.has(Role::ControlPlane);
        upgraded(hf, "1.37.0", cp, cp);
        if !cp {
            hf.facts.packages.insert("kubeadm".into(), "1.37.0-1.1".into());
        }
    }
    let api = facts[0].facts.state.cluster.as_mut().unwrap();
    for (name, n) in api.node_info.iter_mut() {
        if ["node-21", "node-22", "node-23"].contains(&name.as_str()) {
            n.kubelet_version = "1.37.0".into();
        }
    }
    let n24 = api.node_info.get_mut("node-24").unwrap();
    n24.unschedulable = true;
    n24.labels = format!("{{\"{}\":\"true\"}}", upgrade::CORDONED_LABEL);
    let (text, counts) = case.plan_with(&facts, None);
    assert_eq!(counts.failed, 0, "{text}");
    assert!(
        !text.contains("kubeadm upgrade apply") && !text.contains("install kubeadm"),
        "{text}"
    );
    for done in ["node-21", "node-22", "node-23"] {
        assert!(!text.contains(&format!("drain {done}")), "{done}:\n{text}");
    }
    assert!(
        text.contains("cordon and drain node-24") && text.contains("cordon and drain node-25"),
        "{text}"
    );
    snapshot(
        "upgrade__resumed_at_the_workers",
        text.split("upgrade-kubelet").next().unwrap(),
    );

    // A node the user cordoned is left cordoned.
    let mut done = case.facts.clone();
    for hf in done.iter_mut() {
        upgraded(hf, "1.37.0", true, true);
    }
    let api = done[0].facts.state.cluster.as_mut().unwrap();
    for n in api.node_info.values_mut() {
        n.kubelet_version = "1.37.0".into();
    }
    api.node_info.get_mut("node-25").unwrap().unschedulable = true;
    let (text, counts) = case.plan_with(&done, None);
    let upgrade_part = text.split("sandbox-image").next().unwrap();
    assert!(
        upgrade_part.contains("cordoned, but not by groundup: left so"),
        "{text}"
    );
    assert_eq!(
        upgrade_part.matches("\n  + ").count() + upgrade_part.matches("\n    + ").count(),
        0,
        "the upgrade's own phases plan nothing once every node runs the target:\n{text}"
    );
    let _ = counts;
}
