//! `status` on fixtures: the `done` cluster of plan_finished (three stacked control planes behind
//! local-lb, two workers) with the API's and etcd's answers composed in the scripts' formats.

use groundup::pki::status::Row;
use groundup::plan::Counts;
use groundup::status::{self, live, Inputs};

use crate::common::fixture;
use crate::plan_finished::{api_of, cluster_at};

/// 2026-12-01T12:00:00Z
const NOW: i64 = 1_796_126_400;

fn cert(host: &str, file: &str, days: i64, status: &str) -> Row {
    Row {
        host: host.into(),
        file: file.into(),
        subject: "CN=x".into(),
        issuer: "CN=kubernetes".into(),
        not_after: NOW + days * 86_400,
        days_left: days,
        status: status.into(),
    }
}

fn status_of(api: &str, etcd: &str, state_edit: impl Fn(&mut groundup::facts::state::ClusterState)) -> status::Status {
    let inv = cluster_at("1.36.3", "");
    let mut state = api_of(&inv);
    state_edit(&mut state);
    let certs = vec![
        cert("node-21", "/etc/kubernetes/pki/apiserver.crt", 364, "ok"),
        cert("node-21", "/etc/kubernetes/pki/ca.crt", 3649, "ok"),
        cert("node-24", "/var/lib/kubelet/pki/kubelet-client-current.pem", 360, "ok"),
    ];
    status::build(Inputs {
        inv: &inv,
        state: Some(&state),
        api_from: Some("node-21".into()),
        api: Some(live::parse_api(api)),
        etcd: Some(live::parse_etcd(etcd)),
        certs: &certs,
        plan: Counts {
            changed: 0,
            unchanged: 187,
            failed: 0,
        },
        unreachable: vec![],
        now: NOW,
    })
}

#[test]
fn a_healthy_cluster_at_a_glance() {
    let s = status_of(
        &fixture("kubectl/status-api.txt"),
        &fixture("kubectl/status-etcd.txt"),
        |_| {},
    );
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.nodes.len(), 5);
    assert_eq!(s.nodes[0].internal_ip, "10.77.0.21");
    assert_eq!(s.nodes[0].age, "7d");
    insta::assert_snapshot!("status_healthy", status::text(&s));
}

#[test]
fn what_is_wrong_is_named() {
    let api = fixture("kubectl/status-api.txt")
        .replace(
            "Deployment\tkube-system\tcoredns\t2\t2",
            "Deployment\tkube-system\tcoredns\t\t2",
        )
        .replace(
            "kube-scheduler-node-22\tnode-22\tRunning\ttrue",
            "kube-scheduler-node-22\tnode-22\tRunning\tfalse",
        )
        .replace("[+]etcd ok", "[-]etcd failed: reason withheld")
        .replace("readyz check passed", "readyz check failed");
    let etcd = fixture("kubectl/status-etcd.txt").replace(
        "https://10.77.0.23:2379 is healthy: successfully committed proposal: took = 1.7ms",
        "https://10.77.0.23:2379 is unhealthy: failed to commit proposal: context deadline exceeded",
    );
    let s = status_of(&api, &etcd, |st| {
        let n = st.node_info.get_mut("node-25").unwrap();
        n.ready = Some(false);
        n.unschedulable = true;
    });
    let p = s.problems.join("\n");
    for want in [
        "node node-25 is NotReady",
        "node node-25 is cordoned",
        "kube-scheduler on node-22 is not ready",
        "readiness check `etcd` fails",
        "etcd member node-23 (https://10.77.0.23:2379) is not healthy",
        "CoreDNS: 0/2 ready",
    ] {
        assert!(p.contains(want), "missing `{want}` in:\n{p}");
    }
    assert_eq!(s.problems.len(), 6, "{p}");
    assert!(status::text(&s).contains("NotReady,SchedulingDisabled"));
}

#[test]
fn without_an_answering_api_it_says_so_and_nothing_else_is_guessed() {
    let inv = cluster_at("1.36.3", "");
    let s = status::build(Inputs {
        inv: &inv,
        state: None,
        api_from: None,
        api: None,
        etcd: None,
        certs: &[],
        plan: Counts {
            changed: 142,
            unchanged: 10,
            failed: 0,
        },
        unreachable: vec!["node-25".into()],
        now: NOW,
    });
    assert_eq!(s.problems.len(), 2, "{:?}", s.problems);
    assert!(s.nodes.is_empty() && s.addons.is_empty() && s.components.is_empty());
    let t = status::text(&s);
    assert!(
        t.contains("API did not answer") && t.contains("142 step(s) to change"),
        "{t}"
    );
}
