//! `explain`: the plan as a guide. A finished cluster's guide says per phase why it exists and
//! what each host already has (snapshot); a fresh cluster's guide holds the exact commands and
//! non-secret files, never a secret; every phase of `apply` has its "why"; `--html` is one page.

use groundup::commands::plan::build;
use groundup::plan::{guide, phases, Context};

use crate::common::host_facts;
use crate::plan_finished::{cluster, finished};

#[test]
fn every_phase_of_apply_says_why() {
    for name in phases::names() {
        assert!(
            guide::WHY.iter().any(|(n, _, w)| *n == name && !w.is_empty()),
            "{name} has no why"
        );
    }
    assert_eq!(
        guide::WHY.len(),
        phases::names().len(),
        "no why for a phase that does not exist"
    );
}

#[test]
fn a_finished_cluster_guide_says_what_each_host_already_has() {
    let inv = cluster("");
    let certs = crate::plan::generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let gathered: Vec<_> = finished(&inv, &cx).into_iter().map(Ok).collect();
    let (r, _) = build(&cx, &phases::until(None).unwrap(), &inv.hosts, &gathered);
    let md = guide::markdown(&inv, &r.phases);
    insta::assert_snapshot!("explain__finished_cluster", md);
    assert!(!md.contains("```sh"), "nothing to run on a finished cluster:\n{md}");
    assert!(
        md.contains("## 14. Start the control plane (`kubeadm init`) (`control-plane-init`)"),
        "{md}"
    );
}

#[test]
fn a_fresh_cluster_guide_shows_commands_and_files_but_never_a_secret() {
    let inv = crate::plan::load("single.toml");
    let certs = crate::plan::generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let gathered: Vec<_> = inv.hosts.iter().map(|_| Ok(host_facts("debian-12", 0.1))).collect();
    let (r, _) = build(&cx, &phases::until(None).unwrap(), &inv.hosts, &gathered);
    let md = guide::markdown(&inv, &r.phases);
    for want in [
        "*Why:* kubelet will not run with swap on",
        "```sh",
        "apt-get install -y",
        "`/etc/sysctl.d/99-kubernetes.conf`, mode 0644:",
        "net.ipv4.ip_forward = 1",
        "it holds a secret, so its content is not shown here",
        "### On ",
    ] {
        assert!(md.contains(want), "`{want}` missing:\n{md}");
    }
    let token = std::fs::read_to_string(certs.path().join("bootstrap-token")).unwrap();
    let (_, secret) = token.trim().split_once('.').unwrap();
    assert!(!md.contains(secret), "the token's secret part is in the guide");
    let key = std::fs::read_to_string(certs.path().join("ca.key")).unwrap();
    let body = key.lines().nth(1).unwrap();
    assert!(!md.contains(body), "a private key is in the guide");

    let html = guide::html("groundup: t", &md);
    assert!(
        html.starts_with("<!doctype html>") && html.contains("<h2>") && html.contains("<pre><code"),
        "{html}"
    );
    assert!(html.contains("<table>"), "the hosts table renders");
}
