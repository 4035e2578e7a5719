//! The plan of `pki rotate-ca --ca etcd` on a finished cluster (three stacked control planes, two
//! workers), stage by stage, with a real PKI moved through the rotation here: in the trust stage
//! each control plane gets both CAs as etcd/ca.crt and restarts etcd, then the API server and the
//! rest, one host at a time; in the leaves stage also the new CA's key and every etcd leaf
//! reissued from it; in the drop stage the new CA alone. The workers are never part of it.

use groundup::commands::plan::build;
use groundup::pki::generate::{generate, RENEW_BEFORE};
use groundup::pki::rotate::{self, Stage};
use groundup::pki::store::Store;
use groundup::plan::{renew, Context};

use crate::plan_finished::{cluster, finished};

/// Paths a host writes in the plan's text, in order.
fn writes(text: &str, host: &str) -> Vec<String> {
    let mut on = false;
    let mut out = vec![];
    for l in text.lines() {
        if l.starts_with("  ") && !l.starts_with("    ") {
            on = l.trim().split(", ").any(|h| h == host);
        } else if on {
            if let Some(p) = l.trim().strip_prefix("+ write ") {
                out.push(p.split_whitespace().next().unwrap().to_string());
            }
        }
    }
    out
}

/// A finished cluster (three stacked control planes, two workers) with a real PKI in a folder.
struct Rotating {
    inv: groundup::inventory::Inventory,
    certs: tempfile::TempDir,
    store: Store,
    gathered: Vec<Result<groundup::facts::HostFacts, groundup::exec::ExecError>>,
}

impl Rotating {
    fn new() -> Rotating {
        let inv = cluster("");
        let certs = crate::plan::generated_pki(&inv);
        let store = Store::new(certs.path());
        let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
        let gathered = finished(&inv, &cx).into_iter().map(Ok).collect();
        Rotating {
            inv,
            certs,
            store,
            gathered,
        }
    }

    fn context(&self) -> Context<'_> {
        Context::with_certs(&self.inv, Some(self.certs.path())).unwrap()
    }

    /// The stage of `id` and the renew rollout's plan text, planned from the folder as it is now.
    fn plan(&self, id: &str) -> (Stage, Context<'_>, String, usize) {
        let cx = self.context();
        let (r, code) = build(&cx, renew::ALL, &self.inv.hosts, &self.gathered);
        let text = groundup::plan::show::text(&r.phases, false);
        assert_eq!((code, r.counts.failed), (0, 0), "{text}");
        (rotate::stage(&cx.pki, id), cx, text, r.phases[0].hosts.len())
    }
}

#[test]
fn each_stage_of_an_etcd_ca_rotation_plans_what_it_must() {
    let r = Rotating::new();
    let (inv, store, gathered) = (&r.inv, &r.store, &r.gathered);
    let old_ca = r.context().pki["etcd/ca.crt"].clone();
    let plan = || r.plan("etcd/ca");
    rotate::start(inv, store, "etcd/ca", time::OffsetDateTime::now_utc()).unwrap();
    let (stage, cx, text, hosts) = plan();
    assert_eq!((stage, hosts), (Stage::Trust, 3), "control planes only");
    let bundle = rotate::trust(&cx.pki, "etcd/ca.crt").unwrap();
    assert!(bundle.starts_with(old_ca.trim_end()) && bundle.contains(cx.pki["etcd/ca-next.crt"].trim_end()));
    assert_eq!(writes(&text, "node-21"), ["/etc/kubernetes/pki/etcd/ca.crt"], "{text}");
    insta::with_settings!({filters => vec![(r"\d+ bytes, sha256 [0-9a-f]{16}", "[size], sha256 [made afresh]")]}, {
        insta::assert_snapshot!("rotate_ca_etcd_trust", text);
    });

    rotate::swap(&store, "etcd/ca").unwrap();
    generate(&inv, &store, RENEW_BEFORE, time::OffsetDateTime::now_utc()).unwrap();
    let (stage, cx, text, _) = plan();
    assert_eq!(stage, Stage::Leaves);
    assert_eq!(cx.pki["etcd/ca-prev.crt"], old_ca);
    let w = writes(&text, "node-22");
    for want in [
        "/etc/kubernetes/pki/etcd/ca.crt",
        "/etc/kubernetes/pki/etcd/ca.key",
        "/etc/kubernetes/pki/etcd/server.crt",
        "/etc/kubernetes/pki/etcd/peer.key",
        "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
        "/etc/kubernetes/pki/apiserver-etcd-client.crt",
    ] {
        assert!(w.iter().any(|p| p == want), "{want} in {w:?}");
    }
    assert!(
        !w.iter()
            .any(|p| p.ends_with("/pki/apiserver.crt") || p == "/etc/kubernetes/pki/ca.crt"),
        "other CAs' files stay: {w:?}"
    );
    assert!(
        text.contains("restart etcd and wait until the whole cluster is healthy"),
        "{text}"
    );

    rotate::mark_drop(&store, "etcd/ca").unwrap();
    let (stage, cx, _, _) = plan();
    assert_eq!(stage, Stage::Drop);
    assert_eq!(rotate::trust(&cx.pki, "etcd/ca.crt"), None, "the new CA alone");
    // What node-23 would get as etcd/ca.crt: the new CA alone (the facts here are still those of
    // the finished cluster, so everything else of the rotation is planned too).
    let r = build(&cx, renew::ALL, &inv.hosts, &gathered).0;
    let want = groundup::digest::sha256_hex(cx.pki["etcd/ca.crt"].as_bytes());
    let got = crate::plan::planned(&r, "renew-rollout", "node-23")
        .iter()
        .find_map(|i| match i {
            groundup::plan::Item::Change(s) => match &s.action {
                groundup::plan::Action::Write { path, content, .. } if path == "/etc/kubernetes/pki/etcd/ca.crt" => {
                    Some(content.sha256.clone())
                }
                _ => None,
            },
            _ => None,
        });
    assert_eq!(got, Some(want));
}

/// The front-proxy CA reaches the control planes' request-header trust and the API server's
/// front-proxy client certificate only: etcd is never restarted, no other CA's file is written.
#[test]
fn each_stage_of_a_front_proxy_ca_rotation_touches_only_its_files() {
    let r = Rotating::new();
    let (inv, store) = (&r.inv, &r.store);
    let plan = || {
        let (stage, _, text, _) = r.plan("front-proxy-ca");
        (stage, text)
    };
    let id = rotate::ca_id("front-proxy").unwrap();
    rotate::start(&inv, &store, id, time::OffsetDateTime::now_utc()).unwrap();
    let (stage, text) = plan();
    assert_eq!(stage, Stage::Trust);
    assert_eq!(
        writes(&text, "node-21"),
        ["/etc/kubernetes/pki/front-proxy-ca.crt"],
        "{text}"
    );
    assert!(
        text.contains("restart kube-apiserver and wait until it answers /readyz"),
        "{text}"
    );
    assert!(!text.contains("restart etcd"), "{text}");

    rotate::swap(&store, id).unwrap();
    generate(&inv, &store, RENEW_BEFORE, time::OffsetDateTime::now_utc()).unwrap();
    let (stage, text) = plan();
    assert_eq!(stage, Stage::Leaves);
    let mut w = writes(&text, "node-22");
    w.sort();
    assert_eq!(
        w,
        [
            "/etc/kubernetes/pki/front-proxy-ca.crt",
            "/etc/kubernetes/pki/front-proxy-ca.key",
            "/etc/kubernetes/pki/front-proxy-client.crt",
            "/etc/kubernetes/pki/front-proxy-client.key",
        ],
        "{text}"
    );
    assert!(!text.contains("restart etcd"), "{text}");

    rotate::mark_drop(&store, id).unwrap();
    let cx = r.context();
    assert_eq!(rotate::stage(&cx.pki, id), Stage::Drop);
    assert_eq!(rotate::trust(&cx.pki, "front-proxy-ca.crt"), None, "the new CA alone");
}
