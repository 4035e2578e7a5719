//! The plan of `pki renew`'s rollout on a finished cluster (three stacked control planes, two
//! workers): with the local PKI unchanged nothing happens; with one control plane's leaves
//! reissued, only that host writes them and restarts, in order, etcd, the API server (waiting for
//! /readyz), the controller manager and the scheduler; the workers are never part of it; and a
//! missing RBAC binding for the API server's kubelet client certificate stops it.

use groundup::commands::plan::build;
use groundup::plan::{renew, Context};

use crate::plan_finished::{cluster, finished};

#[test]
fn renew_rolls_out_only_what_changed_and_restarts_what_reads_it() {
    let inv = cluster("");
    let certs = crate::plan::generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let facts = finished(&inv, &cx);
    let gathered: Vec<_> = facts.iter().cloned().map(Ok).collect();
    let (r, _) = build(&cx, renew::ALL, &inv.hosts, &gathered);
    assert_eq!(
        (r.counts.changed, r.counts.failed),
        (0, 0),
        "{}",
        groundup::plan::show::text(&r.phases, false)
    );
    assert_eq!(r.phases[0].hosts.len(), 3, "control planes only");

    let mut cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    for rel in ["nodes/node-22/pki/apiserver.crt", "nodes/node-22/pki/etcd/server.crt"] {
        let t = cx.pki.get_mut(rel).unwrap();
        t.push_str("# reissued\n");
    }
    let (r, code) = build(&cx, renew::ALL, &inv.hosts, &gathered);
    let text = groundup::plan::show::text(&r.phases, false);
    assert_eq!((code, r.counts.failed), (0, 0), "{text}");
    // The PKI is made afresh for each run: its sizes and checksums vary.
    insta::with_settings!({filters => vec![(r"mode 0644, \d+ bytes, sha256 [0-9a-f]{16}", "mode 0644, [size], sha256 [made afresh]")]}, {
        insta::assert_snapshot!("renew__one_control_plane", text);
    });
    let at = |w: &str| text.find(w).unwrap_or_else(|| panic!("{w} missing:\n{text}"));
    assert!(at("write /etc/kubernetes/pki/apiserver.crt") < at("restart etcd"));
    assert!(
        at("restart etcd") < at("restart kube-apiserver")
            && at("restart kube-apiserver") < at("restart kube-scheduler")
    );
    assert_eq!(r.counts.changed, 2 + 4, "two files, four restarts:\n{text}");

    let mut no_binding = facts.clone();
    for hf in no_binding.iter_mut() {
        if let Some(c) = hf.facts.state.cluster.as_mut() {
            c.cluster_role_bindings.clear();
        }
    }
    let gathered: Vec<_> = no_binding.into_iter().map(Ok).collect();
    let (r, _) = build(&cx, renew::ALL, &inv.hosts, &gathered);
    let text = groundup::plan::show::text(&r.phases, false);
    assert!(text.contains("kubeadm:apiserver-kubelet-client is missing"), "{text}");
}
