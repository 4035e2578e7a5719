//! Plans from fact fixtures, without any host: a snapshot per example inventory × OS, every
//! rendered file snapshotted and parsed back, secrets kept out of plans, a finished host planning
//! nothing, NO_PROXY, and the artifacts path.

use groundup::commands::plan::build;
use groundup::inventory::Inventory;
use groundup::plan::{phases, Action, Context, HostResult, Item};

use crate::common::{host_facts, inventory, root};

const OSES: &[&str] = &[
    "debian-12",
    "debian-12-vm",
    "debian-12-containerd",
    "debian-12-prepared",
    "ubuntu-22.04",
    "ubuntu-24.04",
    "rocky-9",
    "almalinux-9",
    "centos-stream-9",
    "centos-7",
];

pub(crate) fn load(name: &str) -> Inventory {
    Inventory::load(&root().join("inventory").join(name)).unwrap_or_else(|e| panic!("{}", e.render_plain()))
}

/// Plans every phase for every host of `inv`, each host with the facts of `os`.
fn plan_for(inv: &Inventory, os: &str) -> groundup::commands::plan::PlanReport {
    plan_until(inv, os, None)
}

/// The same, up to a phase.
fn plan_until(inv: &Inventory, os: &str, until: Option<&str>) -> groundup::commands::plan::PlanReport {
    let cx = Context::new(inv).unwrap();
    let gathered: Vec<_> = inv.hosts.iter().map(|_| Ok(host_facts(os, 0.1))).collect();
    let all = phases::until(until).unwrap();
    build(&cx, &all, &inv.hosts, &gathered).0
}

#[test]
fn the_plan_of_every_example_inventory_on_every_os_matches_its_snapshot() {
    let mut names: Vec<String> = std::fs::read_dir(root().join("inventory"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 5);
    for name in &names {
        let inv = load(name);
        for os in OSES {
            let report = plan_for(&inv, os);
            let text = format!(
                "{}{}\n",
                groundup::plan::show::text(&report.phases, false),
                report.counts
            );
            // Paths in hints are the inventory's own, which differ per checkout.
            let text = text.replace(&root().display().to_string(), "[repo]");
            insta::assert_snapshot!(format!("plan__{}__{os}", name.trim_end_matches(".toml")), text);
        }
    }
}

/// A PKI for `inv`, made by the real generator in a temporary folder.
pub(crate) fn generated_pki(inv: &Inventory) -> tempfile::TempDir {
    let certs = tempfile::tempdir().unwrap();
    let store = groundup::pki::store::Store::new(certs.path());
    let now = time::OffsetDateTime::now_utc();
    groundup::pki::generate::generate(inv, &store, groundup::pki::generate::RENEW_BEFORE, now).unwrap();
    certs
}

/// Every file a plan writes, by path.
fn writes(report: &groundup::commands::plan::PlanReport) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for p in &report.phases {
        for h in &p.hosts {
            if let HostResult::Planned(s) = &h.result {
                for i in &s.items {
                    if let Item::Change(st) = i {
                        if let Action::Write { path, content, .. } = &st.action {
                            if !out.iter().any(|(p, _, _): &(String, String, bool)| p == path) {
                                out.push((path.clone(), content.text.clone(), content.secret));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn toml_get<'a>(v: &'a toml::Value, path: &[&str]) -> Option<&'a toml::Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn toml_at<'a>(v: &'a toml::Value, path: &[&str]) -> &'a toml::Value {
    path.iter()
        .fold(v, |v, k| v.get(*k).unwrap_or_else(|| panic!("no `{k}` in {path:?}")))
}

#[test]
fn every_rendered_file_matches_its_snapshot_and_parses_back() {
    let air = load("airgapped.toml");
    let lab = load("lab.toml");
    let ext = load("external-etcd.toml");
    let mut seen = std::collections::BTreeSet::new();
    for (inv, os) in [
        (&air, "rocky-9"),
        (&air, "almalinux-9"),
        (&air, "ubuntu-22.04"),
        (&lab, "debian-12"),
        (&air, "debian-12"),
        (&ext, "debian-12"),
    ] {
        for (path, text, secret) in writes(&plan_for(inv, os)) {
            let key = format!(
                "{}{}",
                path.trim_start_matches('/').replace('/', "_"),
                if path.ends_with("config.toml") {
                    format!("-{os}")
                } else {
                    String::new()
                }
            );
            if !seen.insert(key.clone()) {
                continue;
            }
            // Secret files are checked for their shape here, never snapshotted with a password in them.
            let shown = if secret {
                text.replace("s3cret-pw", "<password>")
            } else {
                text.clone()
            };
            insta::assert_snapshot!(format!("file__{key}"), shown);
            if path.ends_with(".toml") {
                let v: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
                if path.ends_with("config.toml") {
                    let version = v["version"].as_integer().unwrap();
                    let (runc, sandbox) = if version == 3 {
                        (
                            toml_at(
                                &v,
                                &[
                                    "plugins",
                                    "io.containerd.cri.v1.runtime",
                                    "containerd",
                                    "runtimes",
                                    "runc",
                                    "options",
                                ],
                            ),
                            toml_get(
                                &v,
                                &["plugins", "io.containerd.cri.v1.images", "pinned_images", "sandbox"],
                            ),
                        )
                    } else {
                        (
                            toml_at(
                                &v,
                                &[
                                    "plugins",
                                    "io.containerd.grpc.v1.cri",
                                    "containerd",
                                    "runtimes",
                                    "runc",
                                    "options",
                                ],
                            ),
                            toml_get(&v, &["plugins", "io.containerd.grpc.v1.cri", "sandbox_image"]),
                        )
                    };
                    assert_eq!(runc["SystemdCgroup"].as_bool(), Some(true), "{path} v{version}");
                    // No kubeadm on these hosts yet: the sandbox image waits for phase sandbox-image.
                    assert_eq!(sandbox, None, "{path} v{version}");
                } else {
                    assert!(v["server"].as_str().unwrap().starts_with("https://"), "{path}");
                    assert_eq!(v["host"].as_table().unwrap().len(), 1, "{path}");
                }
            }
            if path.ends_with(".yaml") {
                let v: serde_norway::Value = serde_norway::from_str(&text).unwrap();
                assert_eq!(
                    v["runtime-endpoint"].as_str(),
                    Some("unix:///run/containerd/containerd.sock")
                );
            }
            if path.ends_with("etcd.service") {
                let exec: String = text
                    .lines()
                    .skip_while(|l| !l.starts_with("ExecStart="))
                    .take_while(|l| !l.is_empty())
                    .collect();
                assert!(
                    exec.contains("--initial-cluster=etcd-1=https://192.168.20.31:2380,etcd-2=https://192.168.20.32:2380,etcd-3=https://192.168.20.33:2380"),
                    "members from the whole inventory: {exec}"
                );
                for flag in [
                    "--client-cert-auth",
                    "--peer-client-cert-auth",
                    "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
                ] {
                    assert!(exec.contains(flag), "{flag}");
                }
            }
            if path.ends_with(".repo") {
                assert!(
                    text.lines().any(|l| l.starts_with("gpgcheck=1"))
                        && text.lines().any(|l| l.starts_with("baseurl=https://")),
                    "{path}"
                );
            }
            if path.ends_with(".list") {
                let deb: Vec<&str> = text.lines().filter(|l| l.starts_with("deb ")).collect();
                assert_eq!(deb.len(), 1, "{path}");
                assert!(deb[0].contains("signed-by=/etc/apt/keyrings/"), "{path}");
            }
        }
    }
    for want in [
        "etc_containerd_config.toml-rocky-9",
        "etc_containerd_config.toml-almalinux-9",
        "etc_containerd_config.toml-debian-12",
        "etc_groundup_proxy.env",
        "etc_crictl.yaml",
        "etc_yum.repos.d_docker-ce.repo",
        "etc_yum.repos.d_kubernetes.repo",
        "etc_apt_sources.list.d_docker.list",
        "etc_apt_sources.list.d_kubernetes.list",
        "etc_apt_apt.conf.d_95groundup-proxy",
        "etc_modules-load.d_kubernetes.conf",
        "etc_sysctl.d_99-kubernetes.conf",
        "etc_containerd_certs.d_docker.io_hosts.toml",
        "etc_systemd_system_containerd.service.d_http-proxy.conf",
        "etc_systemd_system_etcd.service",
    ] {
        assert!(seen.contains(want), "{want} not rendered: {seen:?}");
    }
}

#[test]
fn proxy_credentials_never_reach_a_plan_and_no_proxy_covers_the_cluster() {
    let air = load("airgapped.toml");
    for os in ["rocky-9", "ubuntu-24.04"] {
        let report = plan_for(&air, os);
        let text = groundup::plan::show::text(&report.phases, true);
        let json = serde_json::to_string(&report).unwrap();
        assert!(
            !text.contains("s3cret") && !json.contains("s3cret"),
            "{os}: the proxy password leaked"
        );
        assert!(text.contains("secret: content not shown"), "{text}");
    }
    let np = groundup::plan::phases::no_proxy(&air);
    for want in [
        "localhost",
        "127.0.0.1",
        "master",
        "192.168.10.11",
        "10.244.0.0/16",
        "10.96.0.0/12",
        ".svc",
        ".cluster.local",
        ".lab.example",
    ] {
        assert!(np.iter().any(|e| e == want), "NO_PROXY lacks {want}: {np:?}");
    }
}

#[test]
fn a_finished_host_plans_no_change_in_any_phase() {
    let inv = inventory(
        "[cluster]\nname = \"lab\"\nkubernetes_version = \"1.36.3\"\npod_subnet = \"10.244.0.0/16\"\nservice_subnet = \"10.96.0.0/12\"\n\
         [container_runtime]\nsource = \"os\"\n[kubelet]\nallow_cgroup_v1 = true\n\
         [[hosts]]\nname = \"lab-5\"\naddress = \"127.0.77.15\"\ninternal_address = \"10.77.0.15\"\nroles = [\"control-plane\", \"etcd\"]\n",
    );
    let report = plan_until(&inv, "debian-12-prepared", Some("kube-packages"));
    assert_eq!(
        (report.counts.changed, report.counts.failed),
        (0, 0),
        "{}",
        groundup::plan::show::text(&report.phases, false)
    );
    assert!(report.counts.unchanged > 20);
}

/// Issue 10, defect 2: containerd's sandbox image is what the installed kubeadm names (facts
/// section `kubeadm-pause`, as real kubeadm 1.36.2 printed it), planned again in `sandbox-image`.
#[test]
fn the_sandbox_image_is_the_one_the_installed_kubeadm_pins() {
    let inv = load("lab.toml");
    let mut seen = 0;
    for (path, text, _) in writes(&plan_for(&inv, "debian-12-worker")) {
        if path == "/etc/containerd/config.toml" {
            let v: toml::Value = toml::from_str(&text).unwrap();
            let sandbox = toml_at(&v, &["plugins", "io.containerd.grpc.v1.cri", "sandbox_image"]);
            assert_eq!(sandbox.as_str(), Some("registry.k8s.io/pause:3.10.2"));
            seen += 1;
        }
    }
    assert!(
        seen >= 1,
        "the worker fixture's config is rewritten with kubeadm's pause image"
    );
    let mut inv = inv;
    inv.node.runtime.sandbox_image = Some("mirror.example/pause:9".into());
    let w = writes(&plan_for(&inv, "debian-12-worker"));
    assert!(w
        .iter()
        .any(|(p, t, _)| p.ends_with("config.toml") && t.contains("\"mirror.example/pause:9\"")));
}

#[test]
fn artifacts_replace_the_repository_and_are_uploaded_once() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "kubelet_1.36.3-1.1_amd64.deb",
        "kubeadm_1.36.3-1.1_amd64.deb",
        "kubectl_1.36.3-1.1_amd64.deb",
        "cri-tools_1.36.0-1.1_amd64.deb",
        "kubernetes-cni_1.8.0-1.1_amd64.deb",
        "kubelet_1.35.7-1.1_amd64.deb",
    ] {
        std::fs::write(dir.path().join(f), f.as_bytes()).unwrap();
    }
    let text = |extra: &str| {
        format!(
            "[cluster]\nname = \"a\"\nkubernetes_version = \"1.36.3\"\n[container_runtime]\nsource = \"os\"\n{extra}\n\
             [[hosts]]\nname = \"cp\"\naddress = \"10.1.0.1\"\nroles = [\"control-plane\", \"etcd\"]\n"
        )
    };
    let inv = inventory(&text(&format!("[artifacts]\ndir = \"{}\"\n", dir.path().display())));
    let report = plan_for(&inv, "debian-12");
    let kube = report.phases.iter().find(|p| p.phase == "kube-packages").unwrap();
    let shown = groundup::plan::show::text(std::slice::from_ref(kube), false);
    assert!(
        !shown.contains("pkgs.k8s.io/core") && shown.contains("not needed"),
        "{shown}"
    );
    assert_eq!(
        shown.matches("+ upload ").count(),
        5,
        "the pinned version only: {shown}"
    );
    assert!(
        shown.contains("/var/cache/groundup/artifacts/kubelet_1.36.3-1.1_amd64.deb") && !shown.contains("1.35.7"),
        "{shown}"
    );

    // A SHA256SUMS that disagrees with a file stops everything before a host is touched.
    std::fs::write(
        dir.path().join("SHA256SUMS"),
        format!("{}  kubelet_1.36.3-1.1_amd64.deb\n", "0".repeat(64)),
    )
    .unwrap();
    let err = Context::new(&inv).err().unwrap();
    assert!(
        err.contains("kubelet_1.36.3-1.1_amd64.deb") && err.contains("SHA256SUMS"),
        "{err}"
    );

    // Without artifacts the repository and its key come first, with the hint naming [artifacts].
    let inv = inventory(&text(""));
    let report = plan_for(&inv, "debian-12");
    let json = serde_json::to_value(&report).unwrap();
    let kube = json["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == "kube-packages")
        .unwrap()
        .clone();
    let items = kube["hosts"][0]["items"].as_array().unwrap();
    let key = items.iter().find(|i| i["id"] == "kube-key").unwrap();
    assert!(key["hint"].as_str().unwrap().contains("[artifacts] dir"), "{key:#}");
    assert!(key["action"]["script"]
        .as_str()
        .unwrap()
        .contains("https://pkgs.k8s.io/core:/stable:/v1.36/deb/Release.key"));
}

#[test]
fn an_installed_kubernetes_of_another_version_is_refused_not_upgraded() {
    let inv = inventory(
        "[cluster]\nname = \"a\"\nkubernetes_version = \"1.35.7\"\n[[hosts]]\nname = \"cp\"\naddress = \"10.1.0.1\"\nroles = [\"control-plane\", \"etcd\"]\n",
    );
    let error = refusal(&plan_for(&inv, "ubuntu-24.04"), "kube-packages");
    assert!(
        error.message.contains("1.36.3-1.1 is installed") && error.hint.contains("upgrade"),
        "{error:?}"
    );
}

/// What `phase` plans on `host`; panics when the phase or host is absent or the host was refused.
pub(crate) fn planned<'a>(r: &'a groundup::commands::plan::PlanReport, phase: &str, host: &str) -> &'a [Item] {
    let p = r
        .phases
        .iter()
        .find(|p| p.phase == phase)
        .unwrap_or_else(|| panic!("no phase {phase}"));
    let h = p
        .hosts
        .iter()
        .find(|h| h.host == host)
        .unwrap_or_else(|| panic!("{host} not in {phase}"));
    match &h.result {
        HostResult::Planned(s) => &s.items,
        other => panic!("{phase} on {host}: {other:?}"),
    }
}

/// The plan error of the first host in `phase`; panics when that host was planned.
fn refusal(report: &groundup::commands::plan::PlanReport, phase: &str) -> groundup::plan::PlanError {
    let p = report.phases.iter().find(|p| p.phase == phase).unwrap();
    match &p.hosts[0].result {
        HostResult::Error { error } => error.clone(),
        other => panic!("expected a refusal in {phase}: {other:?}"),
    }
}

#[test]
fn an_unknown_phase_is_a_usage_error_that_lists_the_phases() {
    let out = assert_cmd::Command::cargo_bin("groundup")
        .unwrap()
        .args(["apply", "--until", "kubeadm-init", "-i"])
        .arg(root().join("inventory/single.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown phase `kubeadm-init`") && err.contains("preflight, proxy, prepare-os"),
        "{err}"
    );
}

#[test]
fn control_planes_get_the_ca_material_and_their_own_files_workers_get_nothing() {
    let inv = load("ha.toml");
    let certs = generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    assert!(cx.pki_pending.is_empty(), "{:?}", cx.pki_pending);
    let cp = inv.hosts.iter().find(|h| h.name.as_str() == "cp-2").unwrap();
    let files: Vec<(String, u32)> = phases::placements(&inv, cp)
        .unwrap()
        .into_iter()
        .map(|p| (p.path, p.mode))
        .collect();
    for (path, mode) in [
        ("/etc/kubernetes/pki/ca.key", 0o600),
        ("/etc/kubernetes/pki/ca.crt", 0o644),
        ("/etc/kubernetes/pki/sa.key", 0o600),
        ("/etc/kubernetes/pki/etcd/ca.key", 0o600),
        ("/etc/kubernetes/pki/apiserver.crt", 0o644),
        ("/etc/kubernetes/pki/etcd/peer.key", 0o600),
        ("/etc/kubernetes/admin.conf", 0o600),
        ("/etc/kubernetes/scheduler.conf", 0o600),
    ] {
        assert!(
            files.contains(&(path.to_string(), mode)),
            "{path} {mode:o} missing: {files:?}"
        );
    }
    let worker = inv
        .hosts
        .iter()
        .find(|h| !h.is_node() || h.roles == [groundup::inventory::Role::Worker])
        .unwrap();
    assert!(
        phases::placements(&inv, worker).unwrap().is_empty(),
        "workers get nothing"
    );

    // Planned against a fresh host: every file is a step, no key is shown or serialized.
    let gathered: Vec<_> = inv.hosts.iter().map(|_| Ok(host_facts("debian-12", 0.1))).collect();
    let only: Vec<&dyn groundup::plan::Phase> = phases::until(Some("pki-files"))
        .unwrap()
        .into_iter()
        .filter(|p| p.name() == "pki-files")
        .collect();
    let (report, _) = build(&cx, &only, &inv.hosts, &gathered);
    let text = groundup::plan::show::text(&report.phases, true);
    let json = serde_json::to_string(&report).unwrap();
    let key = std::fs::read_to_string(certs.path().join("ca.key")).unwrap();
    let body = key.lines().nth(1).unwrap();
    assert!(!text.contains(body) && !json.contains(body), "a key reached the plan");
    assert!(text.contains("+ write /etc/kubernetes/pki/ca.key") && text.contains("secret: content not shown"));
}

#[test]
fn render_writes_every_file_per_host_without_keys_and_contacts_no_host() {
    let inv = load("ha.toml");
    let certs = generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let out = tempfile::tempdir().unwrap();
    // No transport exists in this call: render plans against blank hosts of the chosen OS.
    let summary = groundup::commands::render::render(&cx, "rocky-9", out.path()).unwrap();
    assert!(!summary.contains("not rendered"), "{summary}");
    let o = out.path();
    for f in [
        "cp-1/etc/containerd/config.toml",
        "cp-1/etc/kubernetes/pki/apiserver.crt",
        "cp-2/etc/kubernetes/admin.conf.not-here",
        "worker-1/etc/yum.repos.d/kubernetes.repo",
    ] {
        let expect = !f.ends_with(".not-here");
        let p = o.join(f.trim_end_matches(".not-here"));
        assert_eq!(p.exists(), expect, "{f}");
    }
    assert!(!o.join("worker-1/etc/kubernetes").exists(), "workers get no PKI");
    let mut files = 0;
    let mut stack = vec![o.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files += 1;
                let text = std::fs::read_to_string(e.path()).unwrap();
                assert!(!text.contains("PRIVATE KEY"), "{} holds a key", e.path().display());
            }
        }
    }
    assert!(files > 50, "{files}");
    let secrets = std::fs::read_to_string(o.join("SECRETS.txt")).unwrap();
    assert!(
        secrets.contains("cp-1/etc/kubernetes/pki/ca.key (mode 0600")
            && secrets.contains("cp-3/etc/kubernetes/admin.conf"),
        "{secrets}"
    );
    let cfg: toml::Value =
        toml::from_str(&std::fs::read_to_string(o.join("cp-1/etc/containerd/config.toml")).unwrap()).unwrap();
    assert_eq!(
        cfg["version"].as_integer(),
        Some(3),
        "containerd.io 2.x on a blank host"
    );

    let bad = assert_cmd::Command::cargo_bin("groundup")
        .unwrap()
        .args(["render", "--os", "slackware", "--out"])
        .arg(o)
        .arg("-i")
        .arg(root().join("inventory/ha.toml"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("debian-12, ubuntu-24.04"));
}

pub(crate) fn yaml_docs(text: &str) -> Vec<serde_norway::Value> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde_norway::Value::deserialize(d).unwrap())
        .collect()
}

#[test]
fn kubeadm_configs_are_v1beta4_and_carry_the_inventory_field_by_field() {
    use groundup::plan::phases::kubeadm_config::config;
    for (name, os) in [
        ("single.toml", "ubuntu-22.04"),
        ("ha.toml", "debian-12"),
        ("external-etcd.toml", "rocky-9"),
    ] {
        let inv = load(name);
        let certs = generated_pki(&inv);
        let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
        let token = std::fs::read_to_string(certs.path().join("bootstrap-token"))
            .unwrap()
            .trim()
            .to_string();
        let hash = groundup::pki::inspect::ca_cert_hash(&std::fs::read_to_string(certs.path().join("ca.crt")).unwrap())
            .unwrap();
        let facts = host_facts(os, 0.1);
        let c = &inv.cluster;
        let endpoint = groundup::plan::phases::kubeadm_config::api_endpoint(&inv).unwrap();
        for (i, h) in inv.hosts.iter().filter(|h| h.is_node()).enumerate() {
            let (path, text) = config(&cx, h, Some(&facts)).unwrap();
            let docs = yaml_docs(&text);
            let node_ip = h
                .pinned_ip()
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| groundup::preflight::node_ip(h, &facts.facts).unwrap().ip.to_string());
            let reg = &docs[0]["nodeRegistration"];
            assert_eq!(reg["name"].as_str(), Some(h.name.as_str()));
            assert_eq!(
                reg["criSocket"].as_str(),
                Some("unix:///run/containerd/containerd.sock")
            );
            // v1beta4: kubeletExtraArgs is a list of name/value pairs (v1beta3 had a map).
            assert_eq!(reg["kubeletExtraArgs"][0]["name"].as_str(), Some("node-ip"));
            assert_eq!(
                reg["kubeletExtraArgs"][0]["value"].as_str(),
                Some(node_ip.as_str()),
                "{name} {}",
                h.name
            );
            for d in &docs {
                let v = d["apiVersion"].as_str().unwrap();
                assert!(
                    v == "kubeadm.k8s.io/v1beta4" || v == "kubelet.config.k8s.io/v1beta1",
                    "{v}"
                );
            }
            if i == 0 {
                assert_eq!(path, "/etc/kubernetes/groundup/init.yaml");
                let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
                assert_eq!(
                    kinds,
                    ["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"]
                );
                assert_eq!(docs[0]["bootstrapTokens"][0]["token"].as_str(), Some(token.as_str()));
                assert_eq!(
                    docs[0]["localAPIEndpoint"]["advertiseAddress"].as_str(),
                    Some(node_ip.as_str())
                );
                let cc = &docs[1];
                assert_eq!(
                    cc["kubernetesVersion"].as_str(),
                    Some(format!("v{}", c.kubernetes_version).as_str())
                );
                assert_eq!(cc["controlPlaneEndpoint"].as_str(), Some(endpoint.as_str()));
                assert_eq!(
                    cc["networking"]["podSubnet"].as_str(),
                    Some(c.pod_subnet.to_string().as_str())
                );
                assert_eq!(
                    cc["networking"]["serviceSubnet"].as_str(),
                    Some(c.service_subnet.to_string().as_str())
                );
                assert_eq!(cc["networking"]["dnsDomain"].as_str(), Some(c.dns_domain.as_str()));
                assert_eq!(cc["certificatesDir"].as_str(), Some("/etc/kubernetes/pki"));
                assert_eq!(cc["encryptionAlgorithm"].as_str(), Some("ECDSA-P256"));
                match c.etcd {
                    groundup::inventory::EtcdTopology::Stacked => {
                        assert_eq!(cc["etcd"]["local"]["dataDir"].as_str(), Some("/var/lib/etcd"))
                    }
                    groundup::inventory::EtcdTopology::External => {
                        let eps: Vec<&str> = cc["etcd"]["external"]["endpoints"]
                            .as_sequence()
                            .unwrap()
                            .iter()
                            .map(|e| e.as_str().unwrap())
                            .collect();
                        assert_eq!(
                            eps,
                            [
                                "https://192.168.20.31:2379",
                                "https://192.168.20.32:2379",
                                "https://192.168.20.33:2379"
                            ]
                        );
                        assert_eq!(
                            cc["etcd"]["external"]["certFile"].as_str(),
                            Some("/etc/kubernetes/pki/apiserver-etcd-client.crt")
                        );
                    }
                }
                assert_eq!(docs[2]["cgroupDriver"].as_str(), Some("systemd"));
                let snap = text.replace(&token, "<token>").replace(&token[..6], "<id>");
                insta::assert_snapshot!(format!("kubeadm_init__{}", name.trim_end_matches(".toml")), snap);
            } else {
                assert_eq!(path, "/etc/kubernetes/groundup/join.yaml");
                assert_eq!(docs.len(), 1);
                let d = &docs[0];
                assert_eq!(d["kind"].as_str(), Some("JoinConfiguration"));
                let bt = &d["discovery"]["bootstrapToken"];
                assert_eq!(bt["apiServerEndpoint"].as_str(), Some(endpoint.as_str()));
                assert_eq!(bt["token"].as_str(), Some(token.as_str()));
                assert_eq!(bt["caCertHashes"][0].as_str(), Some(hash.as_str()));
                let cp = h.has(groundup::inventory::Role::ControlPlane);
                assert_eq!(
                    d.get("controlPlane").is_some(),
                    cp,
                    "{}: a control-plane join has controlPlane",
                    h.name
                );
                if cp {
                    assert_eq!(
                        d["controlPlane"]["localAPIEndpoint"]["advertiseAddress"].as_str(),
                        Some(node_ip.as_str())
                    );
                }
            }
        }
    }
}

#[test]
fn apply_never_swaps_the_container_runtime_of_a_host() {
    // The lab fixture has Debian's containerd; the default source asks for Docker's containerd.io.
    let inv = inventory(
        "[cluster]\nname = \"a\"\nkubernetes_version = \"1.36.3\"\n\
         [[hosts]]\nname = \"cp\"\naddress = \"10.1.0.1\"\nroles = [\"control-plane\", \"etcd\"]\n",
    );
    let error = refusal(
        &plan_until(&inv, "debian-12-containerd", Some("runtime-packages")),
        "runtime-packages",
    );
    assert!(
        error.message.contains("`containerd` 1.6") && error.hint.contains("source = \"os\""),
        "{error:?}"
    );
}

#[test]
fn the_join_plan_shows_complete_kubeadm_join_commands_with_the_token_masked() {
    let inv = load("ha.toml");
    let certs = generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let token = std::fs::read_to_string(certs.path().join("bootstrap-token"))
        .unwrap()
        .trim()
        .to_string();
    let (id, secret) = token.split_once('.').unwrap();
    let hash =
        groundup::pki::inspect::ca_cert_hash(&std::fs::read_to_string(certs.path().join("ca.crt")).unwrap()).unwrap();
    let gathered: Vec<_> = inv
        .hosts
        .iter()
        .map(|h| Ok(groundup::commands::render::blank_host("debian-12", h.name.as_str()).unwrap()))
        .collect();
    let all = phases::until(None).unwrap();
    let (report, _) = build(&cx, &all, &inv.hosts, &gathered);
    let text = groundup::plan::show::text(&report.phases, true);
    let json = serde_json::to_string(&report).unwrap();
    assert!(
        !text.contains(secret) && !json.contains(secret),
        "the token's secret half leaked"
    );
    let masked = groundup::secret::BootstrapToken::parse(&token).unwrap().to_string();
    assert!(masked.starts_with(&format!("{id}.*")) && !masked.contains(secret));
    let want =
        format!("kubeadm join k8s-api.example.internal:6443 --token {masked} --discovery-token-ca-cert-hash {hash}");
    // Hosts with the same plan are shown together: one block for the workers, one for cp-2/cp-3.
    assert!(
        text.contains(&format!("  worker-1, worker-2, worker-3\n    + {want}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("  cp-2, cp-3\n    + {want} --control-plane\n")),
        "{text}"
    );
    assert_eq!(
        text.matches("+ kubeadm init --config /etc/kubernetes/groundup/init.yaml")
            .count(),
        1
    );
    let cp_join = report.phases.iter().find(|p| p.phase == "control-plane-join").unwrap();
    assert!(
        phases::until(Some("control-plane-join"))
            .unwrap()
            .last()
            .unwrap()
            .serial(),
        "control planes join one at a time"
    );
    assert_eq!(cp_join.hosts.len(), 3);
}

#[test]
fn the_flannel_manifest_matches_the_pod_subnet_and_picks_each_nodes_own_nic() {
    use groundup::plan::phases::pod_network::{manifest, FLANNEL_IMAGE};
    for name in ["single.toml", "ha.toml", "external-etcd.toml"] {
        let inv = load(name);
        let text = manifest(&inv).unwrap();
        insta::assert_snapshot!(format!("flannel__{}", name.trim_end_matches(".toml")), text);
        let docs = yaml_docs(&text);
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ClusterRole",
                "ClusterRoleBinding",
                "ServiceAccount",
                "ConfigMap",
                "DaemonSet"
            ]
        );
        assert_eq!(
            docs[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as_str(),
            Some("privileged")
        );
        let net: serde_json::Value = serde_json::from_str(docs[4]["data"]["net-conf.json"].as_str().unwrap()).unwrap();
        assert_eq!(
            net["Network"].as_str(),
            Some(inv.cluster.pod_subnet.to_string().as_str()),
            "Network == podSubnet"
        );
        assert_eq!(net["Backend"]["Type"].as_str(), Some("vxlan"));
        let cni: serde_json::Value = serde_json::from_str(docs[4]["data"]["cni-conf.json"].as_str().unwrap()).unwrap();
        assert_eq!(cni["plugins"][0]["type"].as_str(), Some("flannel"));
        let pod = &docs[5]["spec"]["template"]["spec"];
        assert_eq!(pod["hostNetwork"].as_bool(), Some(true));
        let c = &pod["containers"][0];
        assert_eq!(c["image"].as_str(), Some(FLANNEL_IMAGE));
        let args: Vec<&str> = c["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.contains(&"--kube-subnet-mgr") && args.contains(&"--ip-masq"));
        let want: Vec<String> = match name {
            // VirtualBox classroom: `iface` names the host-only NIC.
            "single.toml" => vec!["--iface=enp0s8".into()],
            // Internal addresses pinned (SSH goes to floating IPs, which are on no interface).
            // Internal addresses pinned (SSH goes to floating IPs): 192.168.20.11, .12, .21 and .22
            // are one network, hence one regex.
            "external-etcd.toml" => vec!["--iface-regex=^192\\.168\\.20\\.[0-9]+$".into()],
            // Nothing pinned: flannel's default route.
            _ => vec![],
        };
        let got: Vec<String> = args
            .iter()
            .filter(|a| a.starts_with("--iface"))
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn secrets_encryption_and_the_audit_log_are_on_by_default_and_switchable() {
    use base64::Engine;
    use groundup::plan::phases::kubeadm_config::{apiserver_files, config};
    let inv = load("ha.toml");
    let certs = generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let cp1 = &inv.hosts[0];
    let docs = yaml_docs(&config(&cx, cp1, None).unwrap().1);
    let api = &docs[1]["apiServer"];
    let args: Vec<&str> = api["extraArgs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for a in ["encryption-provider-config", "audit-policy-file", "audit-log-path"] {
        assert!(args.contains(&a), "{a}: {args:?}");
    }
    let mounts: Vec<&str> = api["extraVolumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, ["/etc/kubernetes/groundup", "/var/log/kubernetes/audit"]);

    let files = apiserver_files(&cx).unwrap();
    let (_, path, enc) = &files[0];
    assert_eq!((*path, enc.secret), ("/etc/kubernetes/groundup/encryption.yaml", true));
    let e = &yaml_docs(&enc.text)[0];
    assert_eq!(e["kind"].as_str(), Some("EncryptionConfiguration"));
    let key = e["resources"][0]["providers"][0]["secretbox"]["keys"][0]["secret"]
        .as_str()
        .unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(key).unwrap().len(), 32);
    assert_eq!(
        key,
        std::fs::read_to_string(certs.path().join("encryption-key"))
            .unwrap()
            .trim(),
        "the key kept with the PKI"
    );
    assert!(
        e["resources"][0]["providers"][1].get("identity").is_some(),
        "identity last: old Secrets stay readable"
    );
    let (_, path, audit) = &files[1];
    assert_eq!(*path, "/etc/kubernetes/groundup/audit-policy.yaml");
    let a = &yaml_docs(&audit.text)[0];
    assert_eq!(
        (a["apiVersion"].as_str(), a["kind"].as_str()),
        (Some("audit.k8s.io/v1"), Some("Policy"))
    );
    insta::assert_snapshot!("audit_policy", audit.text);

    // Regenerating keeps the key; switching both off removes the flags and the files.
    let again = groundup::pki::generate::generate(
        &inv,
        &groundup::pki::store::Store::new(certs.path()),
        groundup::pki::generate::RENEW_BEFORE,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert!(again
        .iter()
        .any(|d| d.file == "encryption-key" && matches!(d.action, groundup::pki::generate::Action::Keep)));
    let text = std::fs::read_to_string(root().join("inventory/ha.toml"))
        .unwrap()
        .replace("[cluster]\n", "[cluster]\nencrypt_secrets = false\naudit_log = false\n");
    let off = groundup::inventory::Inventory::parse(&root().join("inventory/ha.toml"), text).unwrap();
    let cx = Context::with_certs(&off, Some(certs.path())).unwrap();
    assert!(apiserver_files(&cx).unwrap().is_empty());
    let docs = yaml_docs(&config(&cx, &off.hosts[0], None).unwrap().1);
    assert!(docs[1]["apiServer"].get("extraArgs").is_none() && docs[1]["apiServer"].get("extraVolumes").is_none());
}

#[test]
fn the_admin_kubeconfig_goes_to_a_file_or_merges_without_clobbering_other_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("groundup")
            .unwrap()
            .args(args)
            .env("HOME", d)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap()
    };
    let ha = root().join("inventory/ha.toml");
    let single = root().join("inventory/single.toml");
    for inv in [&ha, &single] {
        let certs = d.join(inv.file_stem().unwrap());
        let out = run(&[
            "pki",
            "generate",
            "-i",
            inv.to_str().unwrap(),
            "--certs-dir",
            certs.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // To a file: exactly admin.conf, 0600.
    let file = d.join("prod-a.kubeconfig");
    let out = run(&[
        "kubeconfig",
        "-i",
        ha.to_str().unwrap(),
        "--certs-dir",
        d.join("ha").to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        std::fs::read_to_string(d.join("ha/nodes/cp-1/admin.conf")).unwrap()
    );

    // Merged into ~/.kube/config next to a cluster of the user's own: both stay, twice is once.
    let kc = d.join(".kube/config");
    std::fs::create_dir_all(kc.parent().unwrap()).unwrap();
    std::fs::write(&kc, "apiVersion: v1\nkind: Config\nclusters:\n- name: mine\n  cluster: {server: https://mine:6443}\nusers:\n- name: me\n  user: {token: abc}\ncontexts:\n- name: mine\n  context: {cluster: mine, user: me}\ncurrent-context: mine\n").unwrap();
    for _ in 0..2 {
        for (inv, certs) in [(&ha, "ha"), (&single, "single")] {
            let out = run(&[
                "kubeconfig",
                "-i",
                inv.to_str().unwrap(),
                "--certs-dir",
                d.join(certs).to_str().unwrap(),
                "--merge",
            ]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let v: serde_norway::Value = serde_norway::from_str(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    let names = |k: &str| -> Vec<String> {
        v[k].as_sequence()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("clusters"), ["mine", "prod-a", "classroom"]);
    assert_eq!(
        names("users"),
        ["me", "kubernetes-admin@prod-a", "kubernetes-admin@classroom"]
    );
    assert_eq!(
        names("contexts"),
        ["mine", "kubernetes-admin@prod-a", "kubernetes-admin@classroom"]
    );
    assert_eq!(
        v["current-context"].as_str(),
        Some("mine"),
        "the user's current context is kept"
    );
    let ctx = &v["contexts"][1]["context"];
    assert_eq!(
        (ctx["cluster"].as_str(), ctx["user"].as_str()),
        (Some("prod-a"), Some("kubernetes-admin@prod-a"))
    );
    assert!(v["clusters"][1]["cluster"]["server"]
        .as_str()
        .unwrap()
        .starts_with("https://k8s-api.example.internal:6443"));
    assert_eq!(std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(d.join(".kube/config.groundup-backup").exists());
}
