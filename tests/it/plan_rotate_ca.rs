//! The plan of `pki rotate-ca --ca kubernetes` on a finished cluster (three stacked control
//! planes, two workers), stage by stage, with a real PKI moved through the rotation and the
//! `trust` facts of a cluster that never rotated: in the trust stage the controller manager first
//! signs from a copy of the CA alone, then each control plane gets both CAs as ca.crt and in its
//! four kubeconfigs, every kubelet trusts both and restarts, and the system workloads restart
//! once `kube-root-ca.crt` holds both; in the leaves stage every kubelet gets a client
//! certificate from the new CA; in the drop stage the controller manager signs from ca.crt
//! again, and the API's published client CA and cluster-info are moved to the new CA.

use base64::Engine;
use groundup::commands::plan::{build, PlanReport};
use groundup::facts::trust::{cert_set, Published, Trust, Workload};
use groundup::facts::HostFacts;
use groundup::inventory::{Inventory, Role};
use groundup::pki::generate::{generate, RENEW_BEFORE};
use groundup::pki::rotate::{self, Stage, SIGNER_CRT};
use groundup::pki::store::Store;
use groundup::plan::{renew, Action, Context, Item};

use crate::plan::planned;
use crate::plan_finished::{cluster, finished};

fn workload(ns: &str, kind: &str, name: &str) -> (Workload, String) {
    let w = Workload {
        namespace: ns.into(),
        kind: kind.into(),
        name: name.into(),
    };
    (w, String::new())
}

/// The finished cluster's facts (planned from its PKI before the rotation) with what a cluster
/// that never rotated trusts, but for the controller manager's `signer`.
fn facts(inv: &Inventory, before: &Context, signer: &str) -> Vec<HostFacts> {
    let cx = before;
    let old = cert_set(&cx.pki["ca.crt"]);
    // A client certificate of the old CA, as kubelet's would be.
    let client = cx.pki["nodes/node-21/pki/apiserver-kubelet-client.crt"].clone();
    let mut all = finished(inv, cx);
    for (h, hf) in inv.hosts.iter().zip(all.iter_mut()) {
        let cp = h.has(Role::ControlPlane);
        hf.facts.state.trust = Trust {
            kubelet_conf_ca: Some(old.clone()),
            kubelet_client: Some(client.clone()),
            signer: cp.then(|| signer.to_string()),
            published: cp.then(|| Published {
                root_ca: old.clone(),
                client_ca: old.clone(),
                requestheader_ca: cert_set(&cx.pki["front-proxy-ca.crt"]),
                cluster_info_ca: old.clone(),
                workloads: [
                    workload("kube-system", "DaemonSet", "kube-proxy"),
                    workload("kube-system", "Deployment", "coredns"),
                    workload("kube-flannel", "DaemonSet", "kube-flannel-ds"),
                    workload("shop", "Deployment", "web"),
                ]
                .into_iter()
                .collect(),
            }),
        };
        if signer == SIGNER_CRT && cp {
            hf.facts.state.files.insert(SIGNER_CRT.into(), "0".repeat(64));
        }
    }
    all
}

fn plan<'a>(
    inv: &'a Inventory,
    dir: &std::path::Path,
    before: &Context,
    signer: &str,
) -> (Stage, PlanReport, String, Context<'a>) {
    let cx = Context::with_certs(inv, Some(dir)).unwrap();
    let gathered: Vec<_> = facts(inv, before, signer).into_iter().map(Ok).collect();
    let (r, code) = build(&cx, renew::KUBERNETES_CA, &inv.hosts, &gathered);
    let text = groundup::plan::show::text(&r.phases, false);
    assert_eq!((code, r.counts.failed), (0, 0), "{text}");
    (rotate::stage(&cx.pki, "ca"), r, text, cx)
}

/// The ids of the steps a phase plans on a host, in order.
fn steps(r: &PlanReport, phase: &str, host: &str) -> Vec<String> {
    planned(r, phase, host)
        .iter()
        .filter_map(|i| match i {
            Item::Change(s) => Some(match &s.action {
                Action::Write { path, .. } => path.clone(),
                _ => s.id.clone(),
            }),
            _ => None,
        })
        .collect()
}

fn written<'a>(r: &'a PlanReport, phase: &str, host: &str, want: &str) -> &'a str {
    planned(r, phase, host)
        .iter()
        .find_map(|i| match i {
            Item::Change(s) => match &s.action {
                Action::Write { path, content, .. } if path == want => Some(content.text.as_str()),
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_else(|| panic!("{host} does not write {want}"))
}

#[test]
fn each_stage_of_a_kubernetes_ca_rotation_moves_every_consumer_of_the_ca() {
    let inv = cluster("");
    let certs = crate::plan::generated_pki(&inv);
    let store = Store::new(certs.path());
    let old_ca = std::fs::read_to_string(certs.path().join("ca.crt")).unwrap();
    // Read now, before the rotation moves the folder's files.
    let before = Context::with_certs(&inv, Some(certs.path())).unwrap();

    rotate::start(&inv, &store, "ca", time::OffsetDateTime::now_utc()).unwrap();
    let (stage, r, text, cx) = plan(&inv, certs.path(), &before, "/etc/kubernetes/pki/ca.crt");
    assert_eq!(stage, Stage::Trust);
    let bundle = rotate::cluster_trust(&cx.pki).unwrap();
    assert_eq!(cert_set(&bundle).len(), 2);
    assert!(bundle.starts_with(old_ca.trim_end()), "the old CA still signs, first");
    let s = steps(&r, "renew-rollout", "node-21");
    let at = |p: &str| {
        s.iter()
            .position(|x| x == p)
            .unwrap_or_else(|| panic!("{p} not in {s:?}"))
    };
    // The controller manager signs from the CA alone before ca.crt becomes a bundle.
    assert!(at("/etc/kubernetes/pki/ca-signer.crt") < at("kcm-signer"), "{s:?}");
    assert!(at("kcm-signer") < at("/etc/kubernetes/pki/ca.crt"), "{s:?}");
    assert_eq!(written(&r, "renew-rollout", "node-21", SIGNER_CRT), old_ca);
    for conf in [
        "admin.conf",
        "super-admin.conf",
        "controller-manager.conf",
        "scheduler.conf",
    ] {
        let text = written(&r, "renew-rollout", "node-21", &format!("/etc/kubernetes/{conf}"));
        let data = groundup::pki::store::kubeconfig_field(text, "certificate-authority-data:").unwrap();
        assert_eq!(data, bundle, "{conf} trusts both");
    }
    assert!(
        s.contains(&"kube-controller-manager-restart".to_string()),
        "it reads the bundle: {s:?}"
    );
    // Every kubelet trusts both and restarts; a worker gets ca.crt here (its client CA).
    assert_eq!(
        steps(&r, "kubelet-trust", "node-24"),
        ["/etc/kubernetes/pki/ca.crt", "kubelet-conf-ca", "kubelet-restart"]
    );
    assert_eq!(
        written(&r, "kubelet-trust", "node-24", "/etc/kubernetes/pki/ca.crt"),
        bundle
    );
    assert_eq!(
        steps(&r, "kubelet-trust", "node-22"),
        ["kubelet-conf-ca", "kubelet-restart"]
    );
    // The system workloads restart once kube-root-ca.crt holds both; the others are named.
    assert_eq!(steps(&r, "ca-published", "node-21"), ["workloads-restart"], "{text}");
    for w in [
        "daemonset/kube-proxy",
        "deployment/coredns",
        "daemonset/kube-flannel-ds",
    ] {
        assert!(text.contains(&format!("patch {w} --type merge")), "{w}: {text}");
    }
    assert!(!text.contains("deployment/web"), "{text}");
    assert!(
        text.contains("1 workload(s) outside kube-system and kube-flannel"),
        "{text}"
    );
    insta::with_settings!({filters => vec![
        (r"\d+ bytes, sha256 [0-9a-f]{16}", "[size], sha256 [made afresh]"),
        (r"[A-Za-z0-9+/=]{200,}", "[base64 of the CA bundle]"),
        (r"[0-9a-f]{64}", "[sha256 of the CA bundle]"),
        (r#"ca-trust":"[0-9a-f]{16}"#, r#"ca-trust":"[fingerprint]"#),
    ]}, {
        insta::assert_snapshot!("rotate_ca_kubernetes_trust", text);
    });

    rotate::swap(&store, "ca").unwrap();
    generate(&inv, &store, RENEW_BEFORE, time::OffsetDateTime::now_utc()).unwrap();
    assert_eq!(
        rotate::issue_kubelet_clients(&inv, &store, time::OffsetDateTime::now_utc()).unwrap(),
        5
    );
    let (stage, r, _, cx) = plan(&inv, certs.path(), &before, SIGNER_CRT);
    assert_eq!(stage, Stage::Leaves);
    let s = steps(&r, "renew-rollout", "node-22");
    for want in [
        "/etc/kubernetes/pki/ca.key",
        "/etc/kubernetes/pki/apiserver.crt",
        "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
        "/etc/kubernetes/admin.conf",
        SIGNER_CRT,
    ] {
        assert!(s.iter().any(|p| p == want), "{want} in {s:?}");
    }
    assert!(
        !s.contains(&"kcm-signer".to_string()),
        "it signs from ca-signer.crt already: {s:?}"
    );
    assert_eq!(written(&r, "renew-rollout", "node-22", SIGNER_CRT), cx.pki["ca.crt"]);
    // (The facts are still those before the rotation: ca.crt and kubelet.conf are moved again.)
    let s = steps(&r, "kubelet-trust", "node-25");
    assert_eq!(
        s,
        [
            "/etc/kubernetes/pki/ca.crt",
            "kubelet-conf-ca",
            "/var/lib/kubelet/pki/kubelet-client-groundup.pem",
            "kubelet-client-link",
            "kubelet-restart"
        ]
    );
    // The join configuration pins the signing CA's hash: it follows, so apply has nothing left.
    assert_eq!(
        steps(&r, "kubeadm-config", "node-24"),
        ["/etc/kubernetes/groundup/join.yaml"]
    );
    let pem = written(
        &r,
        "kubelet-trust",
        "node-25",
        "/var/lib/kubelet/pki/kubelet-client-groundup.pem",
    );
    let info = groundup::pki::inspect::parse_cert(pem).unwrap();
    assert_eq!(info.cn, "system:node:node-25");
    assert_eq!(info.orgs, ["system:nodes"]);
    assert!(groundup::pki::inspect::signed_by(pem, &cx.pki["ca.crt"]));

    rotate::mark_drop(&store, "ca").unwrap();
    let (stage, r, text, cx) = plan(&inv, certs.path(), &before, SIGNER_CRT);
    assert_eq!(stage, Stage::Drop);
    let s = steps(&r, "renew-rollout", "node-23");
    assert!(
        s.contains(&"kcm-signer".to_string()) && s.contains(&"pki-signer-remove".to_string()),
        "{s:?}"
    );
    assert!(
        !s.contains(&"kube-controller-manager-restart".to_string()),
        "its manifest restarts it: {s:?}"
    );
    assert_eq!(
        written(&r, "renew-rollout", "node-23", "/etc/kubernetes/pki/ca.crt"),
        cx.pki["ca.crt"]
    );
    assert_eq!(
        steps(&r, "ca-published", "node-21"),
        ["client-ca-republish", "cluster-info-ca", "workloads-restart"],
        "{text}"
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(cx.pki["ca.crt"].as_bytes());
    assert!(text.contains(&b64), "cluster-info gets the new CA alone");
    let to = rotate::retire(&store, "ca", "20261202T170000Z").unwrap();
    assert_eq!(std::fs::read_to_string(certs.path().join(to)).unwrap(), old_ca);
    assert!(!certs.path().join("rotation/kubelet").exists());
}

/// Mid-rotation, `upgrade` (kubeadm writes the control plane's manifests again, the signer's
/// among them), `apply` and `pki renew` (they would place the PKI without the rotation's
/// restarts) and a second CA's rotation are refused before any host is contacted, naming the
/// rotation to finish.
#[test]
fn a_rotation_under_way_refuses_what_would_cross_it() {
    let d = tempfile::tempdir().unwrap();
    let inv = crate::common::root().join("inventory/single.toml");
    let loaded = Inventory::load(&inv).unwrap();
    let certs = d.path().join("certs");
    generate(
        &loaded,
        &Store::new(&certs),
        RENEW_BEFORE,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    rotate::start(&loaded, &Store::new(&certs), "ca", time::OffsetDateTime::now_utc()).unwrap();
    for args in [
        vec!["upgrade", "--yes"],
        vec!["apply"],
        vec!["pki", "renew", "--all"],
        vec!["pki", "rotate-ca", "--ca", "etcd", "--yes"],
    ] {
        let o = crate::lab_support::groundup(d.path())
            .args(&args)
            .arg("-i")
            .arg(&inv)
            .arg("--certs-dir")
            .arg(&certs)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("the rotation of the kubernetes CA is under way")
                && err.contains("groundup pki rotate-ca --ca kubernetes"),
            "{args:?}: {err}"
        );
    }
}

/// The front-proxy CA's drop makes `extension-apiserver-authentication` again: the API servers
/// merge what they publish with what is there, so the old CA would stay trusted by aggregated
/// API servers. The trust and leaves stages leave it alone.
#[test]
fn a_front_proxy_ca_drop_has_the_api_publish_the_new_ca_alone() {
    let inv = cluster("");
    let certs = crate::plan::generated_pki(&inv);
    let store = Store::new(certs.path());
    let before = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let id = rotate::ca_id("front-proxy").unwrap();
    let plan = || {
        let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
        let gathered: Vec<_> = facts(&inv, &before, "/etc/kubernetes/pki/ca.crt")
            .into_iter()
            .map(Ok)
            .collect();
        let (r, code) = build(&cx, renew::FRONT_PROXY_CA, &inv.hosts, &gathered);
        let text = groundup::plan::show::text(&r.phases, false);
        assert_eq!((code, r.counts.failed), (0, 0), "{text}");
        (r, text)
    };
    rotate::start(&inv, &store, id, time::OffsetDateTime::now_utc()).unwrap();
    let (r, _) = plan();
    assert_eq!(steps(&r, "ca-published", "node-21"), Vec::<String>::new());
    rotate::swap(&store, id).unwrap();
    generate(&inv, &store, RENEW_BEFORE, time::OffsetDateTime::now_utc()).unwrap();
    let (r, _) = plan();
    assert_eq!(steps(&r, "ca-published", "node-21"), Vec::<String>::new());
    rotate::mark_drop(&store, id).unwrap();
    let (r, text) = plan();
    assert_eq!(steps(&r, "ca-published", "node-21"), ["client-ca-republish"], "{text}");
    assert!(
        text.contains("delete configmap extension-apiserver-authentication")
            && text.contains("{.data.requestheader-client-ca-file}"),
        "{text}"
    );
    assert!(
        r.phases.iter().all(|p| p.phase != "kubelet-trust"),
        "no kubelet is touched"
    );
}
