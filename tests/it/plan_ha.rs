//! The API endpoint of HA clusters, from plans alone: kube-vip's static pods (bootstrap on
//! super-admin.conf before init, steady on admin.conf after) and haproxy's configuration on every
//! node, snapshotted and parsed back field by field; the kubeadm configs and kubeconfigs point at
//! the endpoint each mode gives.

use groundup::commands::plan::{build, PlanReport};
use groundup::inventory::{ApiMode, Inventory};
use groundup::plan::{phases, Action, Context, HostResult, Item};

use crate::common::host_facts;
use crate::plan::{generated_pki, load, planned, yaml_docs};

/// The full plan of `inv` with every host on `os` facts and a real generated PKI.
fn plan(inv: &Inventory, os: &str) -> PlanReport {
    let certs = generated_pki(inv);
    let cx = Context::with_certs(inv, Some(certs.path())).unwrap();
    let gathered: Vec<_> = inv.hosts.iter().map(|_| Ok(host_facts(os, 0.1))).collect();
    build(&cx, &phases::until(None).unwrap(), &inv.hosts, &gathered).0
}

/// The text a phase writes to `path` on `host`, if it does.
fn written(r: &PlanReport, phase: &str, host: &str, path: &str) -> Option<String> {
    planned(r, phase, host).iter().find_map(|i| match i {
        Item::Change(st) => match &st.action {
            Action::Write { path: p, content, .. } if p == path => Some(content.text.clone()),
            _ => None,
        },
        _ => None,
    })
}

fn env<'a>(pod: &'a serde_norway::Value, name: &str) -> &'a serde_norway::Value {
    pod["spec"]["containers"][0]["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no env {name}"))
}

#[test]
fn kube_vip_runs_on_every_control_plane_bootstrapping_on_super_admin_before_init() {
    let inv = load("ha-vip.toml");
    let r = plan(&inv, "debian-12-prepared");
    let manifest = "/etc/kubernetes/manifests/kube-vip.yaml";
    let boot = written(&r, "api-endpoint", "cp-1", manifest).expect("cp-1 gets kube-vip before init");
    for cp in ["cp-2", "cp-3"] {
        assert_eq!(
            written(&r, "api-endpoint", cp, manifest),
            None,
            "{cp}: kubeadm join refuses a non-empty manifests folder"
        );
    }
    assert_eq!(written(&r, "api-endpoint", "worker-1", manifest), None);
    insta::assert_snapshot!("kube_vip__bootstrap", boot);
    let steady = written(&r, "kube-vip", "cp-1", manifest).unwrap();
    insta::assert_snapshot!("kube_vip__steady", steady);

    for (text, kubeconfig) in [
        (&boot, "/etc/kubernetes/super-admin.conf"),
        (&steady, "/etc/kubernetes/admin.conf"),
    ] {
        let pod = &yaml_docs(text)[0];
        assert_eq!(
            (pod["apiVersion"].as_str(), pod["kind"].as_str()),
            (Some("v1"), Some("Pod"))
        );
        assert_eq!(pod["metadata"]["namespace"].as_str(), Some("kube-system"));
        assert_eq!(pod["spec"]["hostNetwork"].as_bool(), Some(true));
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["image"].as_str(), Some("ghcr.io/kube-vip/kube-vip:v1.2.3"));
        assert_eq!(c["args"][0].as_str(), Some("manager"));
        for (k, v) in [
            ("address", "10.20.0.10"),
            ("port", "6443"),
            ("vip_interface", "ens3"),
            ("vip_arp", "true"),
            ("vip_subnet", "32"),
            ("cp_enable", "true"),
            ("vip_leaderelection", "true"),
        ] {
            assert_eq!(env(pod, k)["value"].as_str(), Some(v), "{k}");
        }
        assert_eq!(
            env(pod, "vip_nodename")["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
            Some("spec.nodeName")
        );
        let caps: Vec<&str> = c["securityContext"]["capabilities"]["add"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(caps, ["NET_ADMIN", "NET_RAW"]);
        assert_eq!(
            c["volumeMounts"][0]["mountPath"].as_str(),
            Some("/etc/kubernetes/admin.conf")
        );
        assert_eq!(pod["spec"]["volumes"][0]["hostPath"]["path"].as_str(), Some(kubeconfig));
    }
    for cp in ["cp-2", "cp-3"] {
        let text = written(&r, "kube-vip", cp, manifest).unwrap();
        assert_eq!(text, steady.replace("kube-vip on cp-1", &format!("kube-vip on {cp}")));
    }

    // kubeadm: the VIP is the endpoint every node joins through, and a SAN of the API server.
    let init = yaml_docs(&written(&r, "kubeadm-config", "cp-1", "/etc/kubernetes/groundup/init.yaml").unwrap());
    assert_eq!(init[1]["controlPlaneEndpoint"].as_str(), Some("10.20.0.10:6443"));
    let join = yaml_docs(&written(&r, "kubeadm-config", "worker-2", "/etc/kubernetes/groundup/join.yaml").unwrap());
    assert_eq!(
        join[0]["discovery"]["bootstrapToken"]["apiServerEndpoint"].as_str(),
        Some("10.20.0.10:6443")
    );
}

#[test]
fn kube_vip_takes_the_nic_of_the_node_ip_from_the_facts_unless_the_inventory_names_one() {
    let text = std::fs::read_to_string(crate::common::root().join("inventory/ha-vip.toml"))
        .unwrap()
        .replace("interface = \"ens3\"\n", "");
    let inv = Inventory::parse(&crate::common::root().join("inventory/x.toml"), text).unwrap();
    assert!(matches!(&inv.cluster.api, ApiMode::Vip { interface: None, .. }));
    let facts = host_facts("debian-12", 0.1);
    let want = groundup::preflight::node_ip(&inv.hosts[0], &facts.facts)
        .unwrap()
        .iface
        .unwrap();
    let r = plan(&inv, "debian-12");
    let pod = &yaml_docs(&written(&r, "kube-vip", "cp-1", "/etc/kubernetes/manifests/kube-vip.yaml").unwrap())[0];
    assert_eq!(env(pod, "vip_interface")["value"].as_str(), Some(want.as_str()));

    // Without facts (render) and without a name, groundup asks rather than guesses.
    let certs = generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let err = groundup::plan::phases::api_endpoint::kube_vip_manifest(&cx, &inv.hosts[0], None, false).unwrap_err();
    assert!(
        err.message.contains("which NIC") && err.hint.contains("interface"),
        "{err:?}"
    );
}

#[test]
fn local_lb_puts_haproxy_on_every_node_in_front_of_all_api_servers() {
    let inv = load("ha-local-lb.toml");
    let r = plan(&inv, "ubuntu-24.04");
    let cfg_path = "/etc/haproxy/haproxy.cfg";
    let mut seen = 0;
    for h in &inv.hosts {
        let cfg = written(&r, "api-endpoint", h.name.as_str(), cfg_path)
            .unwrap_or_else(|| panic!("{}: no haproxy.cfg", h.name));
        if h.name.as_str() == "master-1" {
            insta::assert_snapshot!("haproxy__master-1", cfg);
        }
        let lines: Vec<&str> = cfg.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
        assert!(lines.contains(&"bind 127.0.0.1:6444"), "{cfg}");
        assert!(lines.contains(&"mode tcp"));
        assert!(lines.contains(&"option httpchk GET /readyz"));
        assert!(lines.contains(&"http-check expect status 200"));
        let servers: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("server ")).collect();
        assert_eq!(
            servers,
            [
                "server master-1 192.168.10.11:6443",
                "server master-2 192.168.10.12:6443",
                "server master-3 192.168.10.13:6443"
            ]
        );
        assert!(lines.iter().any(|l| l.starts_with("default-server check check-ssl")));
        seen += 1;
    }
    assert_eq!(seen, 5, "control planes and workers alike");

    // The endpoint is the local balancer on every node, and a SAN of every API server.
    let init = yaml_docs(&written(&r, "kubeadm-config", "master-1", "/etc/kubernetes/groundup/init.yaml").unwrap());
    assert_eq!(init[1]["controlPlaneEndpoint"].as_str(), Some("127.0.0.1:6444"));
    let join = yaml_docs(&written(&r, "kubeadm-config", "node-2", "/etc/kubernetes/groundup/join.yaml").unwrap());
    assert_eq!(
        join[0]["discovery"]["bootstrapToken"]["apiServerEndpoint"].as_str(),
        Some("127.0.0.1:6444")
    );
    let specs = groundup::pki::spec::certificates(&inv).unwrap();
    for m in ["master-1", "master-2", "master-3"] {
        let api = specs
            .iter()
            .find(|s| s.id == format!("nodes/{m}/pki/apiserver"))
            .unwrap();
        assert!(api.ips.contains(&"127.0.0.1".parse().unwrap()), "{m}: {:?}", api.ips);
    }
}

#[test]
fn the_admin_kubeconfig_of_a_local_lb_cluster_points_at_the_first_api_server() {
    let inv_path = crate::common::root().join("inventory/ha-local-lb.toml");
    let inv = load("ha-local-lb.toml");
    let certs = generated_pki(&inv);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("admin.conf");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_groundup"))
        .args(["kubeconfig", "-i"])
        .arg(&inv_path)
        .arg("--certs-dir")
        .arg(certs.path())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    assert!(String::from_utf8_lossy(&st.stderr).contains("local-lb"));
    let v = &yaml_docs(&std::fs::read_to_string(&out).unwrap())[0];
    assert_eq!(
        v["clusters"][0]["cluster"]["server"].as_str(),
        Some("https://192.168.10.11:6443")
    );
    // On the nodes themselves, admin.conf keeps the local balancer.
    let on_node = std::fs::read_to_string(certs.path().join("nodes/master-1/admin.conf")).unwrap();
    assert!(on_node.contains("server: https://127.0.0.1:6444"));
}

#[test]
fn external_and_single_endpoints_put_nothing_on_the_hosts() {
    for (name, why) in [
        ("external-etcd.toml", "an external load balancer"),
        ("single.toml", "one control plane"),
    ] {
        let inv = load(name);
        let r = plan(&inv, "rocky-9");
        for phase in ["api-endpoint", "kube-vip"] {
            let p = r.phases.iter().find(|p| p.phase == phase).unwrap();
            for h in &p.hosts {
                let HostResult::Planned(s) = &h.result else { panic!() };
                assert!(
                    s.items.iter().all(|i| matches!(i, Item::Unchanged { .. })),
                    "{name} {phase} {}",
                    h.host
                );
            }
        }
        let text = groundup::plan::show::text(&r.phases, false);
        assert!(text.contains(why), "{name}");
    }
}

#[test]
fn namespaces_and_helm_releases_come_after_the_nodes_are_ready_and_only_when_missing() {
    use groundup::facts::state::{ClusterState, Release};
    let inv = load("ha-local-lb.toml");
    let certs = generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let plan_with = |cluster: Option<ClusterState>, values_sha: Option<String>| {
        let gathered: Vec<_> = inv
            .hosts
            .iter()
            .map(|_| {
                let mut hf = host_facts("debian-12-prepared", 0.1);
                hf.facts.state.cluster = cluster.clone();
                if let Some(s) = &values_sha {
                    hf.facts.state.files.insert(
                        "/etc/kubernetes/groundup/helm/ingress-nginx.ingress-nginx.values.yaml".into(),
                        s.clone(),
                    );
                }
                Ok(hf)
            })
            .collect();
        build(&cx, &phases::until(Some("addons")).unwrap(), &inv.hosts, &gathered).0
    };
    let items = |r: &PlanReport| -> Vec<(bool, String, String)> {
        planned(r, "addons", "master-1")
            .iter()
            .map(|i| match i {
                Item::Change(st) => match &st.action {
                    Action::Script { script } => (true, st.title.clone(), script.clone()),
                    Action::Write { path, content, mode } => {
                        assert!(content.secret && *mode == 0o600, "values files may hold passwords");
                        (true, format!("write {path}"), content.sha256.clone())
                    }
                    a => panic!("{a:?}"),
                },
                Item::Unchanged { what, why } => (false, what.clone(), why.clone()),
            })
            .collect()
    };

    // A fresh cluster: everything is planned; helm waits for Ready nodes first.
    let fresh = plan_with(None, None);
    let got = items(&fresh);
    assert_eq!(got.iter().filter(|i| i.0).count(), 3, "{got:#?}");
    assert_eq!(got[0].1, "create namespace fiware");
    let values_sha = got[1].2.clone();
    let (_, title, body) = &got[2];
    assert_eq!(
        title,
        "/usr/local/bin/helm upgrade --install ingress-nginx ingress-nginx --version 4.14.1 --namespace ingress-nginx \
         --create-namespace --repo https://kubernetes.github.io/ingress-nginx \
         --values /etc/kubernetes/groundup/helm/ingress-nginx.ingress-nginx.values.yaml --wait --timeout 10m"
    );
    let wait = body
        .find("wait --for=condition=Ready nodes --all")
        .expect("waits for Ready nodes");
    assert!(wait < body.find("helm upgrade").unwrap());
    let text = groundup::plan::show::text(&fresh.phases, true);
    assert!(
        !text.contains("ClusterFirstWithHostNet"),
        "the values file is not shown"
    );

    // The cluster has them: nothing to do. Another chart version: only the release changes.
    let deployed = |version: &str| ClusterState {
        namespaces: vec!["default".into(), "fiware".into(), "ingress-nginx".into()],
        releases: vec![Release {
            name: "ingress-nginx".into(),
            namespace: "ingress-nginx".into(),
            chart: format!("ingress-nginx-{version}"),
            status: "deployed".into(),
        }],
        ..Default::default()
    };
    let done = plan_with(Some(deployed("4.14.1")), Some(values_sha.clone()));
    assert!(items(&done).iter().all(|i| !i.0), "{:#?}", items(&done));
    let older = plan_with(Some(deployed("4.13.5")), Some(values_sha));
    let changed: Vec<String> = items(&older).into_iter().filter(|i| i.0).map(|i| i.1).collect();
    assert_eq!(changed.len(), 1);
    assert!(changed[0].contains("--version 4.14.1"));
}

#[test]
fn apply_without_the_pki_stops_before_it_connects_to_any_host() {
    let inv_path = crate::common::root().join("inventory/single.toml");
    let certs = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_groundup"))
        .args(["apply", "-i"])
        .arg(&inv_path)
        .arg("--certs-dir")
        .arg(certs.path())
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("nothing was changed") && err.contains("groundup pki generate -i"),
        "{err}"
    );
    // Stopped before the journal (only the cluster lock was taken): no run started, so no host was contacted.
    assert!(!state.path().join("journal").exists(), "{err}");
}
