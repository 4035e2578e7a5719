//! A finished cluster plans no change, and a host added to its inventory is the only one that
//! changes, but for the first control plane renewing the expired bootstrap token it joins with.
//! The facts of the finished nodes are fixtures (`debian-12-control-plane`,
//! `debian-12-worker`: kubelet running, kubeadm's files and sockets, haproxy, helm); the files
//! groundup itself writes are put in place from the plan, as a finished `apply` leaves them.

use groundup::commands::plan::{build, PlanReport};
use groundup::exec::Output;
use groundup::facts::state::{ClusterState, Membership};
use groundup::facts::HostFacts;
use groundup::inventory::Inventory;
use groundup::plan::{phases, Action, Context, HostResult, Item};

use crate::common::{fixture, inventory};
use crate::plan::generated_pki;

/// Three control planes behind the local load balancer and two workers, on the lab's addresses.
pub(crate) fn cluster(extra_hosts: &str) -> Inventory {
    cluster_at("1.36.3", extra_hosts)
}

/// [`cluster`] pinning another Kubernetes version (the nodes' fixtures run 1.36.3).
pub(crate) fn cluster_at(version: &str, extra_hosts: &str) -> Inventory {
    let mut t = format!(
        "[cluster]\nname = \"done\"\nkubernetes_version = \"{version}\"\n\n[api]\nmode = \"local-lb\"\n\n\
         [container_runtime]\nsource = \"os\"\n\n[kubelet]\nallow_cgroup_v1 = true\n",
    );
    for (i, roles) in [
        (21, "\"control-plane\", \"etcd\""),
        (22, "\"control-plane\", \"etcd\""),
        (23, "\"control-plane\", \"etcd\""),
        (24, "\"worker\""),
        (25, "\"worker\""),
    ] {
        t.push_str(&format!(
            "\n[[hosts]]\nname = \"node-{i}\"\naddress = \"127.0.77.{i}\"\ninternal_address = \"10.77.0.{i}\"\nroles = [{roles}]\n"
        ));
    }
    t.push_str(extra_hosts);
    inventory(&t)
}

/// A fixture as host `name` with address `ip` (captured on lab-N at 10.77.0.1N).
pub(crate) fn facts_of(fixture_name: &str, name: &str, ip: &str) -> HostFacts {
    let raw = fixture(&format!("facts/{fixture_name}.txt"));
    let was = groundup::facts::parse(&raw).hostname;
    let n: u32 = was.trim_start_matches("lab-").parse().unwrap();
    let raw = raw.replace(&format!("10.77.0.{}", 10 + n), ip).replace(
        &format!("@@groundup-fact:hostname\n{was}\n"),
        &format!("@@groundup-fact:hostname\n{name}\n"),
    );
    HostFacts {
        facts: groundup::facts::parse(&raw),
        clock_skew: Some(0.1),
        raw: Output {
            status: Some(0),
            stdout: raw,
            stderr: String::new(),
            duration: Default::default(),
        },
    }
}

/// What a finished `apply` leaves: every file the plan writes, with that content.
fn with_files_in_place(report: &PlanReport, host: &str, mut hf: HostFacts) -> HostFacts {
    for p in &report.phases {
        for h in p.hosts.iter().filter(|h| h.host == host) {
            let HostResult::Planned(s) = &h.result else { continue };
            for i in &s.items {
                if let Item::Change(st) = i {
                    match &st.action {
                        Action::Write { path, content, .. } => {
                            hf.facts.state.files.insert(path.clone(), content.sha256.clone());
                        }
                        Action::Upload { path, sha256, .. } => {
                            hf.facts.state.artifacts.insert(path.clone(), sha256.clone());
                        }
                        Action::Script { .. } => {}
                    }
                }
            }
        }
    }
    hf
}

fn plan(inv: &Inventory, cx: &Context, gathered: Vec<HostFacts>) -> PlanReport {
    let gathered: Vec<_> = gathered.into_iter().map(Ok).collect();
    build(cx, &phases::until(None).unwrap(), &inv.hosts, &gathered).0
}

/// Changes per host in a plan.
fn changes(r: &PlanReport, host: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in &r.phases {
        for h in p.hosts.iter().filter(|h| h.host == host) {
            match &h.result {
                HostResult::Planned(s) => out.extend(s.items.iter().filter_map(|i| match i {
                    Item::Change(st) => Some(format!("{}: {}", p.phase, st.id)),
                    _ => None,
                })),
                HostResult::Error { error } => out.push(format!("{}: cannot plan: {}", p.phase, error.message)),
            }
        }
    }
    out
}

/// What the first control plane's API says of a cluster made days ago: every inventory node has
/// joined (control planes labelled), init uploaded kubeadm-config, flannel's DaemonSet is the
/// manifest's, and the token kubeadm init made has expired and been deleted.
pub(crate) fn api_of(inv: &Inventory) -> ClusterState {
    let names = |cp: bool| -> Vec<String> {
        inv.hosts
            .iter()
            .filter(|h| h.is_node() && (!cp || h.has(groundup::inventory::Role::ControlPlane)))
            .map(|h| h.name.to_string())
            .collect()
    };
    let flannel = groundup::plan::phases::pod_network::manifest(inv).unwrap();
    ClusterState {
        namespaces: vec!["default".into(), "kube-system".into()],
        nodes: names(false),
        control_planes: names(true),
        kube_system_configmaps: vec!["kubeadm-config".into(), "kube-proxy".into()],
        cluster_role_bindings: vec!["kubeadm:apiserver-kubelet-client".into()],
        daemonsets: vec![groundup::plan::phases::pod_network::expected_daemonset(&flannel).unwrap()],
        // Every node Ready, schedulable, its kubelet at the version its fixture has installed.
        node_info: names(false)
            .into_iter()
            .map(|n| {
                (
                    n,
                    groundup::facts::state::NodeInfo {
                        kubelet_version: "1.36.3".into(),
                        ready: Some(true),
                        unschedulable: false,
                        labels: "{\"kubernetes.io/os\":\"linux\"}".into(),
                    },
                )
            })
            .collect(),
        ..Default::default()
    }
}

/// The finished facts of every host of `inv` (made from the plan against the role fixtures).
pub(crate) fn finished(inv: &Inventory, cx: &Context) -> Vec<HostFacts> {
    let raw: Vec<HostFacts> = inv
        .hosts
        .iter()
        .map(|h| {
            let fx = if h.is_node() && !h.has(groundup::inventory::Role::ControlPlane) {
                "debian-12-worker"
            } else {
                "debian-12-control-plane"
            };
            facts_of(fx, h.name.as_str(), &h.internal_address.unwrap().to_string())
        })
        .collect();
    let first = plan(inv, cx, raw.clone());
    let mut done: Vec<HostFacts> = inv
        .hosts
        .iter()
        .zip(raw)
        .map(|(h, hf)| with_files_in_place(&first, h.name.as_str(), hf))
        .collect();
    // Every node: the API lists it (asked with its kubelet's credentials); every control plane:
    // its API server answers and its admin.conf sees the cluster.
    for (h, hf) in inv.hosts.iter().zip(done.iter_mut()) {
        if h.is_node() {
            hf.facts.state.membership = Membership::Listed(api_of(inv).nodes);
        }
        if h.has(groundup::inventory::Role::ControlPlane) {
            hf.facts.state.apiserver_ready = Some(true);
            hf.facts.state.cluster = Some(api_of(inv));
        }
    }
    done
}

#[test]
fn the_plan_of_a_finished_cluster_is_all_unchanged() {
    let inv = cluster("");
    let certs = generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let r = plan(&inv, &cx, finished(&inv, &cx));
    let text = groundup::plan::show::text(&r.phases, false);
    assert_eq!((r.counts.changed, r.counts.failed), (0, 0), "{text}");
    // Every phase had something to say about every host it covers, and said "unchanged".
    assert!(r.counts.unchanged > 5 * 15, "{}", r.counts);
    for want in [
        "= kubeadm init: initialised (admin.conf is authorised and kube-system holds kubeadm-config)",
        "= kubeadm join: a node: the API lists it",
        "= kubeadm join: a control plane: the API lists it with the control-plane label, and its API server answers",
        "= DaemonSet kube-flannel/kube-flannel-ds: in the API with ghcr.io/flannel-io/flannel:v0.28.9 and the manifest's args",
        "= haproxy: active with the current configuration",
        "= /etc/kubernetes/groundup/kube-flannel.yml: content is current",
        "= bootstrap token: every node of the inventory has joined",
    ] {
        assert!(text.contains(want), "`{want}` missing:\n{text}");
    }
}

#[test]
fn a_host_added_to_a_finished_cluster_is_the_only_one_that_changes_but_for_the_token_renewal() {
    let base = cluster("");
    let certs = generated_pki(&base);
    let cx = Context::with_certs(&base, Some(certs.path())).unwrap();
    let mut facts = finished(&base, &cx);

    let grown = cluster("\n[[hosts]]\nname = \"node-26\"\naddress = \"127.0.77.26\"\ninternal_address = \"10.77.0.26\"\nroles = [\"worker\"]\n");
    // Workers carry no certificates, so the PKI made for the smaller cluster still fits.
    let cx = Context::with_certs(&grown, Some(certs.path())).unwrap();
    facts.push(facts_of("debian-12", "node-26", "10.77.0.26"));
    let r = plan(&grown, &cx, facts.clone());
    // Its join needs the bootstrap token again: kubeadm init's expired a day after it was made.
    assert_eq!(changes(&r, "node-21"), ["join-token: bootstrap-token"]);
    for h in base.hosts.iter().skip(1) {
        assert_eq!(changes(&r, h.name.as_str()), Vec::<String>::new(), "{}", h.name);
    }
    let new = changes(&r, "node-26");
    assert!(!new.iter().any(|c| c.contains("cannot plan")), "{new:#?}");
    for want in [
        "prepare-os: modules-file",
        "api-endpoint: haproxy-config",
        "kubeadm-config: kubeadm-config",
        "workers-join: kubeadm-join",
    ] {
        assert!(new.iter().any(|c| c == want), "`{want}` not in {new:#?}");
    }

    // The renewal: the secret part stays in the file on the host, never on a command line.
    let text = groundup::plan::show::text(&r.phases, false);
    let token = std::fs::read_to_string(certs.path().join("bootstrap-token")).unwrap();
    let (id, secret) = token.trim().split_once('.').unwrap();
    assert!(!text.contains(secret), "the token's secret part is shown:\n{text}");
    for want in [
        format!("renew bootstrap token {id}.**************** for 24 h: node-26 must join and it is gone"),
        format!("kubeadm token delete {id} >/dev/null 2>&1 || true"),
        "kubeadm token create --config /etc/kubernetes/groundup/init.yaml >/dev/null".to_string(),
    ] {
        assert!(text.contains(&want), "`{want}` missing:\n{text}");
    }

    // Still valid for long enough, or about to expire: left alone, or renewed.
    let now = facts[0].facts.clock.unwrap() as i64;
    for (left, renewed) in [(20 * 3600, false), (30 * 60, true), (-60, true)] {
        let mut f = facts.clone();
        let api = f[0].facts.state.cluster.as_mut().unwrap();
        api.tokens.insert(id.to_string(), Some(now + left));
        let r = plan(&grown, &cx, f);
        assert_eq!(changes(&r, "node-21").len(), usize::from(renewed), "{left} s left");
    }
}

/// Issue 10, defects 4 and 5: what the API says decides, not files. From a finished cluster,
/// one fact at a time is taken back to what a failed run leaves.
#[test]
fn flannel_init_and_joins_are_planned_from_what_the_api_says() {
    let inv = cluster("");
    let certs = generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let done = finished(&inv, &cx);
    let first = inv.hosts[0].name.to_string();
    let (cp2, worker) = (
        inv.hosts[1].name.to_string(),
        inv.hosts.last().unwrap().name.to_string(),
    );
    let with = |f: &dyn Fn(&mut Vec<HostFacts>)| {
        let mut facts = done.clone();
        f(&mut facts);
        plan(&inv, &cx, facts)
    };

    // The manifest file is current, but the DaemonSet is not in the API (a failed kubectl apply,
    // or a reset and re-init): flannel is applied again, after waiting for the API.
    let r = with(&|f| f[0].facts.state.cluster.as_mut().unwrap().daemonsets.clear());
    assert_eq!(changes(&r, &first), ["pod-network: flannel-apply"]);
    let text = groundup::plan::show::text(&r.phases, false);
    assert!(
        text.contains("(the API has no such DaemonSet)") && text.contains("get --raw=/readyz"),
        "{text}"
    );
    let r = with(&|f| {
        f[0].facts.state.cluster.as_mut().unwrap().daemonsets[0]
            .args
            .pop()
            .map(drop)
            .unwrap()
    });
    assert_eq!(changes(&r, &first), ["pod-network: flannel-apply"], "args differ");

    // An older kubeadm made no binding for the API server's kubelet client: groundup makes it.
    let r = with(&|f| f[0].facts.state.cluster.as_mut().unwrap().cluster_role_bindings.clear());
    assert_eq!(changes(&r, &first), ["control-plane-init: kubelet-api-binding"]);

    // A configured node whose kubelet was stopped (the API still says Ready for ~45 s): started.
    let r = with(&|f| f[4].facts.state.services.get_mut("kubelet").unwrap().active = "inactive".into());
    assert_eq!(changes(&r, &worker), ["kube-packages: kubelet-start"]);

    // kubeadm init stopped after the control plane came up: no kubeadm-config. Finished, not redone.
    let r = with(&|f| {
        f[0].facts
            .state
            .cluster
            .as_mut()
            .unwrap()
            .kube_system_configmaps
            .clear()
    });
    assert_eq!(changes(&r, &first), ["control-plane-init: kubeadm-init-finish"]);
    let text = groundup::plan::show::text(&r.phases, false);
    assert!(
        text.contains("--skip-phases=preflight,certs,kubeconfig,etcd,control-plane,kubelet-start"),
        "{text}"
    );
    // ... or before its API server answered (admin.conf gets no answer either): refused, with the way out.
    let r = with(&|f| {
        f[0].facts.state.cluster = None;
        f[0].facts.state.apiserver_ready = Some(false);
    });
    let c = changes(&r, &first);
    assert!(
        c.iter()
            .any(|c| c.starts_with("control-plane-init: cannot plan:") && c.contains("does not answer /readyz")),
        "{c:#?}"
    );

    // A worker whose join stopped before kubelet's TLS bootstrap: cleared and joined again.
    let wi = inv.hosts.len() - 1;
    let r = with(&|f| f[wi].facts.state.membership = Membership::NoClientCert);
    assert_eq!(changes(&r, &worker), ["workers-join: kubeadm-join"]);
    let text = groundup::plan::show::text(&r.phases, false);
    assert!(
        text.contains("kubeadm reset -f\n        for _ in $(seq 1 18); do\n          if out=$(kubeadm join --config"),
        "{text}"
    );
    // Listed by the API: a node. Not listed although the API answered: joined again.
    let r = with(&|f| f[wi].facts.state.membership = Membership::Listed(vec![first.clone()]));
    assert_eq!(changes(&r, &worker), ["workers-join: kubeadm-join"]);
    // Joined before, but the API does not answer: nothing is guessed.
    let r = with(&|f| f[wi].facts.state.membership = Membership::Unknown);
    assert!(changes(&r, &worker)[0].starts_with("workers-join: cannot plan:"));

    // A control plane whose join stopped at etcd-join: kubelet.conf and even a Node, but no
    // control-plane label. The run stops there; nothing joins behind it.
    let r = with(&|f| {
        for hf in f.iter_mut().filter(|hf| hf.facts.state.cluster.is_some()) {
            hf.facts
                .state
                .cluster
                .as_mut()
                .unwrap()
                .control_planes
                .retain(|n| *n != cp2);
        }
    });
    let c = changes(&r, &cp2);
    assert!(
        c.len() == 1 && c[0].starts_with("control-plane-join: cannot plan:") && c[0].contains("unpromoted learner"),
        "{c:#?}"
    );
}
