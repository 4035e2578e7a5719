//! The plans of `reset` against a finished cluster (three stacked control planes, two workers;
//! the facts of `plan_finished` plus what a running node leaves: kubeadm's folders, CNI links,
//! kube-proxy's and flannel's chains): the whole cluster, one worker, one control plane of three;
//! the guard rails; and a reset host whose facts show nothing left plans nothing.

use std::collections::BTreeSet;

use groundup::commands::plan::build;
use groundup::facts::leftovers;
use groundup::facts::HostFacts;
use groundup::inventory::Inventory;
use groundup::plan::{reset, Context, HostResult, Item};

use crate::plan_finished::{cluster, finished};

/// What a running node leaves for reset (the `leftovers` section as a node of the lab prints it).
fn running(hf: &mut HostFacts, control_plane: bool) {
    let mut text = String::from(
        "dir /etc/kubernetes\ndir /var/lib/kubelet\ndir /etc/cni/net.d\ndir /var/lib/cni\ndir /run/flannel\n\
         dir /var/lib/groundup\nfile /etc/haproxy/haproxy.cfg\nlink cni0\nlink flannel.1\n\
         chain iptables filter KUBE-FIREWALL\nchain iptables nat KUBE-SERVICES\nchain iptables nat FLANNEL-POSTRTG\n\
         chain ip6tables filter KUBE-FIREWALL\ncontainers 9\n",
    );
    if control_plane {
        text.push_str("dir /var/lib/etcd\n");
    }
    hf.facts.state.leftovers = leftovers::parse(&text);
    hf.facts.state.images = vec![
        "registry.k8s.io/pause:3.10.2".into(),
        "ghcr.io/flannel-io/flannel:v0.28.9".into(),
    ];
}

fn setup(inv: &Inventory) -> Vec<HostFacts> {
    let certs = crate::plan::generated_pki(inv);
    let cx = Context::with_certs(inv, Some(certs.path())).unwrap();
    let mut facts = finished(inv, &cx);
    for (h, hf) in inv.hosts.iter().zip(facts.iter_mut()) {
        running(hf, h.has(groundup::inventory::Role::ControlPlane));
    }
    facts
}

fn reset_plan(inv: &Inventory, facts: &[HostFacts], on: &[&str]) -> (String, groundup::plan::Counts) {
    let hosts: BTreeSet<String> = on.iter().map(|s| s.to_string()).collect();
    let cx = Context::teardown(
        inv,
        reset::Options {
            hosts,
            ..Default::default()
        },
    );
    let gathered: Vec<_> = facts.iter().cloned().map(Ok).collect();
    let (r, code) = build(&cx, reset::ALL, &inv.hosts, &gathered);
    assert_eq!(code, 0);
    (groundup::plan::show::text(&r.phases, false), r.counts)
}

#[test]
fn reset_of_the_whole_cluster_deletes_workers_first_then_resets_and_cleans_every_host() {
    let inv = cluster("");
    let facts = setup(&inv);
    let all: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    let (text, counts) = reset_plan(&inv, &facts, &all);
    insta::assert_snapshot!("reset__whole_cluster", text);
    assert_eq!(counts.failed, 0);
    let order: Vec<usize> = [
        "delete Node node-24",
        "delete Node node-25",
        "delete Node node-21",
        "delete Node node-23",
    ]
    .iter()
    .map(|w| text.find(w).unwrap_or_else(|| panic!("{w} missing:\n{text}")))
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "workers first, control planes last:\n{text}"
    );
}

#[test]
fn reset_of_one_worker_asks_the_first_control_plane_and_touches_no_other_host() {
    let inv = cluster("");
    let facts = setup(&inv);
    let (text, _) = reset_plan(&inv, &facts, &["node-25"]);
    insta::assert_snapshot!("reset__one_worker", text);
    assert!(
        text.contains("delete Node node-25") && !text.contains("delete Node node-24"),
        "{text}"
    );
}

#[test]
fn reset_of_one_control_plane_of_three_is_asked_from_one_that_stays() {
    let inv = cluster("");
    let facts = setup(&inv);
    let hosts: BTreeSet<String> = ["node-21".to_string()].into();
    let cx = Context::teardown(
        &inv,
        reset::Options {
            hosts: hosts.clone(),
            ..Default::default()
        },
    );
    assert_eq!(reset::api_host(&cx).unwrap().name.as_str(), "node-22");
    assert!(reset::guard(&inv, &hosts).is_empty());
    let (text, _) = reset_plan(&inv, &facts, &["node-21"]);
    insta::assert_snapshot!("reset__one_control_plane_of_three", text);
}

#[test]
fn guard_rails_refuse_to_break_quorum_or_orphan_the_workers() {
    let inv = cluster("");
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let two = reset::guard(&inv, &set(&["node-21", "node-22"]));
    assert_eq!(two.len(), 1, "{two:?}");
    assert!(
        two[0].contains("etcd would fall below quorum: 2 of its 3 members"),
        "{two:?}"
    );
    let cps = reset::guard(&inv, &set(&["node-21", "node-22", "node-23"]));
    assert!(
        cps.iter()
            .any(|w| w.contains("every control plane would go while node-24, node-25 stay")),
        "{cps:?}"
    );
    assert!(reset::guard(&inv, &set(&["node-24", "node-25", "node-21"])).is_empty());
    let all: Vec<String> = inv.hosts.iter().map(|h| h.name.to_string()).collect();
    assert!(
        reset::guard(&inv, &all.into_iter().collect()).is_empty(),
        "the whole cluster may go"
    );
}

#[test]
fn a_host_with_nothing_left_plans_nothing() {
    let inv = cluster("");
    let mut facts = setup(&inv);
    for hf in facts.iter_mut() {
        hf.facts.state.leftovers = Default::default();
        hf.facts.state.cluster = None;
        hf.facts.state.images.clear();
        hf.facts.state.services.remove("kubelet");
    }
    let all: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    let (text, counts) = reset_plan(&inv, &facts, &all);
    assert_eq!(counts.changed, 0, "{text}");
    assert!(
        counts.unchanged >= 5 * 3,
        "every phase says why nothing is needed: {text}"
    );
}

#[test]
fn images_and_packages_go_only_when_asked() {
    let inv = cluster("");
    let facts = setup(&inv);
    let steps = |images: bool, purge: bool| -> Vec<String> {
        let cx = Context::teardown(
            &inv,
            reset::Options {
                hosts: ["node-24".to_string()].into(),
                images,
                purge_packages: purge,
                drain_timeout: 0,
                ..Default::default()
            },
        );
        let gathered: Vec<_> = facts.iter().cloned().map(Ok).collect();
        let (r, _) = build(&cx, reset::ALL, &inv.hosts, &gathered);
        r.phases
            .iter()
            .filter(|p| p.phase == "packages-cleanup")
            .flat_map(|p| &p.hosts)
            .flat_map(|h| match &h.result {
                HostResult::Planned(s) => s.items.clone(),
                HostResult::Error { .. } => vec![],
            })
            .filter_map(|i| match i {
                Item::Change(s) => Some(s.id),
                Item::Unchanged { .. } => None,
            })
            .collect()
    };
    assert!(steps(false, false).is_empty());
    assert_eq!(steps(true, false), ["images-remove"]);
    let purge = steps(false, true);
    assert!(purge.contains(&"packages-purge".to_string()), "{purge:?}");
}

fn remove_plan(inv: &Inventory, facts: &[HostFacts], on: &[&str]) -> String {
    let hosts: BTreeSet<String> = on.iter().map(|s| s.to_string()).collect();
    assert!(groundup::plan::remove::refuse(inv, &hosts).is_empty());
    let cx = Context::teardown(
        inv,
        reset::Options {
            hosts,
            drain_timeout: 300,
            ..Default::default()
        },
    );
    let gathered: Vec<_> = facts.iter().cloned().map(Ok).collect();
    let (r, code) = build(&cx, groundup::plan::remove::ALL, &inv.hosts, &gathered);
    assert_eq!((code, r.counts.failed), (0, 0));
    groundup::plan::show::text(&r.phases, false)
}

#[test]
fn remove_of_a_worker_drains_then_deletes_then_resets_it() {
    let inv = cluster("");
    let facts = setup(&inv);
    let text = remove_plan(&inv, &facts, &["node-24"]);
    insta::assert_snapshot!("remove__worker", text);
    let at = |w: &str| text.find(w).unwrap_or_else(|| panic!("{w} missing:\n{text}"));
    assert!(
        at("cordon and drain node-24") < at("delete Node node-24")
            && at("delete Node node-24") < at("kubeadm reset -f")
    );
    assert!(!text.contains("etcd member"), "a worker has no etcd member:\n{text}");
}

#[test]
fn remove_of_a_control_plane_of_three_takes_its_etcd_member_out_from_one_that_stays() {
    let inv = cluster("");
    let facts = setup(&inv);
    let text = remove_plan(&inv, &facts, &["node-23"]);
    insta::assert_snapshot!("remove__control_plane_of_three", text);
    let phase = text.split("phase etcd-member-remove").nth(1).unwrap();
    assert!(
        phase.trim_start().starts_with("node-21"),
        "asked from the first control plane that stays:\n{text}"
    );
    assert!(phase.contains("remove etcd member node-23"), "{text}");
}

#[test]
fn remove_refuses_the_last_control_plane_quorum_loss_and_strangers() {
    let inv = cluster("");
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let why = groundup::plan::remove::refuse(&inv, &set(&["node-21", "node-22", "node-23"]));
    assert!(why.iter().any(|w| w.contains("the last control plane")), "{why:?}");
    let why = groundup::plan::remove::refuse(&inv, &set(&["node-21", "node-22"]));
    assert!(why.iter().any(|w| w.contains("below quorum")), "{why:?}");
    let why = groundup::plan::remove::refuse(&inv, &set(&["node-99"]));
    assert!(why.iter().any(|w| w.contains("not a host of the inventory")), "{why:?}");
    let single = crate::common::inventory(
        "[cluster]\nname = \"one\"\nkubernetes_version = \"1.36.3\"\n\n[[hosts]]\nname = \"cp\"\naddress = \"10.0.0.1\"\n\
         roles = [\"control-plane\"]\n",
    );
    let why = groundup::plan::remove::refuse(&single, &set(&["cp"]));
    assert!(why.iter().any(|w| w.contains("the last control plane (cp)")), "{why:?}");
}

#[test]
fn restore_of_a_finished_cluster_checks_on_every_member_then_stops_restores_and_starts() {
    let inv = cluster("");
    let facts = setup(&inv);
    let mut cx = Context::teardown(&inv, Default::default());
    cx.restore = Some(groundup::plan::restore::Options {
        snapshot: std::path::PathBuf::from("backups/done/20261202T101500Z.db"),
        sha256: "ab".repeat(32),
        size: 4096,
        stamp: "20261202T101500Z".into(),
    });
    let hosts = groundup::plan::restore::hosts(&inv);
    let gathered: Vec<_> = facts.iter().cloned().map(Ok).collect();
    let (r, code) = build(&cx, groundup::plan::restore::ALL, &hosts, &gathered);
    let text = groundup::plan::show::text(&r.phases, false);
    assert_eq!((code, r.counts.failed), (0, 0), "{text}");
    insta::assert_snapshot!("restore__finished_cluster", text);
    // The member list is the inventory's, with each member's own name and peer URL.
    for (name, ip) in [
        ("node-21", "10.77.0.21"),
        ("node-22", "10.77.0.22"),
        ("node-23", "10.77.0.23"),
    ] {
        assert!(
            text.contains(&format!("--name {name} --initial-cluster node-21=https://10.77.0.21:2380,node-22=https://10.77.0.22:2380,node-23=https://10.77.0.23:2380 --initial-cluster-token done --initial-advertise-peer-urls https://{ip}:2380")),
            "{name}:\n{text}"
        );
    }
    let at = |w: &str| text.find(w).unwrap_or_else(|| panic!("{w} missing:\n{text}"));
    assert!(
        at("phase restore-check") < at("phase restore-stop") && at("phase restore-stop") < at("phase restore-data")
    );
}
