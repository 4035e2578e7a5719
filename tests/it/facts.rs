//! Facts parsers on captured output from every supported (and one refused) distribution.

use groundup::facts::{self, CgroupVersion, OsFamily, PackageManager, Support};

use crate::common::{fixture, root};

#[test]
fn every_fixture_parses_to_its_snapshot() {
    let mut n = 0;
    insta::glob!("../fixtures", "facts/*.txt", |path| {
        let f = facts::parse(&std::fs::read_to_string(path).unwrap());
        insta::assert_json_snapshot!(f);
        n += 1;
    });
    assert!(
        n >= 8,
        "fixtures for Debian 12, Ubuntu 22.04/24.04, Rocky 9, Alma 9, CentOS Stream 9, CentOS 7"
    );
}

#[test]
fn distributions_map_to_their_family_or_are_refused() {
    let family = |name: &str| match facts::parse(&fixture(&format!("facts/{name}.txt"))).support {
        Support::Supported { family } => Ok(family),
        Support::Unsupported { why } => Err(why),
    };
    assert_eq!(family("debian-12"), Ok(OsFamily::Debian));
    assert_eq!(family("ubuntu-22.04"), Ok(OsFamily::Debian));
    assert_eq!(family("ubuntu-24.04"), Ok(OsFamily::Debian));
    assert_eq!(family("rocky-9"), Ok(OsFamily::Rhel));
    assert_eq!(family("almalinux-9"), Ok(OsFamily::Rhel));
    assert_eq!(family("centos-stream-9"), Ok(OsFamily::Rhel));
    let why = family("centos-7").unwrap_err();
    assert!(
        why.contains("end of life") && why.contains("cgroup v1") && why.contains("Rocky or AlmaLinux 9"),
        "{why}"
    );
}

#[test]
fn sections_carry_the_facts_that_preflight_needs() {
    let u22 = facts::parse(&fixture("facts/ubuntu-22.04.txt"));
    assert_eq!(u22.swap_devices, ["/swap.img"]);
    assert_eq!(u22.memory.total_mb, 1967);
    assert_eq!(u22.default_routes[0].iface, "enp0s3");
    assert_eq!(
        u22.interfaces.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["enp0s3", "enp0s8"],
        "lo and link-local left out"
    );
    assert_eq!(u22.cgroup, CgroupVersion::V2);

    let u24 = facts::parse(&fixture("facts/ubuntu-24.04.txt"));
    assert_eq!(
        u24.packages.get("kubeadm").map(String::as_str),
        Some("1.36.3-1.1"),
        "held packages (dpkg `hi`) count as installed"
    );
    let api = u24.listening.iter().find(|l| l.port == 6443).unwrap();
    assert_eq!(api.process.as_deref(), Some("kube-apiserver"));

    let rocky = facts::parse(&fixture("facts/rocky-9.txt"));
    assert_eq!(rocky.package_manager, Some(PackageManager::Dnf));
    assert_eq!(
        rocky.packages.keys().collect::<Vec<_>>(),
        ["ca-certificates", "chrony", "containerd.io"],
        "rpm's `not installed` lines are skipped (curl)"
    );
    let se = rocky.state.selinux.as_ref().unwrap();
    assert_eq!(
        (se.current.as_str(), se.configured.as_str()),
        ("Enforcing", "enforcing")
    );
    assert_eq!(rocky.state.firewalld_ports, ["9090/tcp"]);
    assert!(rocky.state.service("firewalld").is_active() && rocky.state.service("chronyd").is_active());
    assert_eq!(rocky.state.fstab_swap.len(), 1);
    assert_eq!(
        rocky.state.sysctls.get("net.ipv4.ip_forward").map(String::as_str),
        Some("0")
    );

    // A real capture after apply: managed files, verified artifacts, holds, the marker.
    let done = facts::parse(&fixture("facts/debian-12-prepared.txt"));
    assert_eq!(done.state.container.as_deref(), Some("systemd-nspawn"));
    assert!(done.state.files.contains_key("/etc/containerd/config.toml"));
    assert_eq!(done.state.artifacts.len(), 4);
    assert!(done.state.artifacts.contains_key("kubelet_1.36.3-1.1_amd64.deb"));
    assert_eq!(
        done.held.iter().map(String::as_str).collect::<Vec<_>>(),
        ["kubeadm", "kubectl", "kubelet"]
    );
    assert!(done.state.marker.as_deref().unwrap().starts_with("run="));
    assert_eq!(
        done.state.modules.get("br_netfilter").map(String::as_str),
        Some("builtin")
    );
    let vm = facts::parse(&fixture("facts/debian-12-vm.txt"));
    assert!(vm.state.container.is_none() && vm.state.modules.is_empty());
    assert!(
        !vm.state.sysctls.contains_key("net.bridge.bridge-nf-call-iptables"),
        "absent until br_netfilter loads"
    );

    let c7 = facts::parse(&fixture("facts/centos-7.txt"));
    assert_eq!(c7.package_manager, Some(PackageManager::Yum));
    assert_eq!(c7.cgroup, CgroupVersion::V1);
    assert_eq!(
        c7.listening.iter().map(|l| l.port).collect::<Vec<_>>(),
        [22, 25],
        "the header line of old ss is skipped"
    );

    let deb = facts::parse(&fixture("facts/debian-12-containerd.txt"));
    assert!(
        deb.packages.contains_key("containerd") && deb.packages.contains_key("runc"),
        "{:?}",
        deb.packages
    );
}

#[test]
fn the_facts_script_is_one_script_with_a_marker_per_section() {
    // As `check` gathers them (captures have no `trust` section: only a CA rotation asks it).
    let s = facts::script_with(&["leftovers"]);
    let sections = facts::sections(&fixture("facts/debian-12.txt"));
    for name in sections.keys() {
        assert!(s.contains(&format!("@@groundup-fact:{name}")), "{name}");
    }
    let markers: std::collections::BTreeSet<&str> = s
        .lines()
        .filter_map(|l| l.split("@@groundup-fact:").nth(1))
        .filter_map(|m| m.split('\'').next())
        .collect();
    assert_eq!(
        sections.len(),
        markers.len(),
        "every section of the script is in the capture"
    );
    assert!(root().join("tests/fixtures/facts/debian-12.txt").exists());
}

/// The `cluster` section's shell, run by bash against stand-in `kubectl` and `helm` that answer as
/// the real ones print and record their arguments: the jsonpath arrives as one argument, only the
/// Secret's name and expiry are asked for, and a query that fails makes the section unknown.
#[test]
fn the_cluster_section_asks_the_api_read_only_and_needs_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (manifest, admin, helm) = (d.join("kube-apiserver.yaml"), d.join("admin.conf"), d.join("helm"));
    let stub = |name: &str, body: &str| {
        let p = d.join(name);
        std::fs::write(
            &p,
            format!("#!/bin/bash\nprintf '%s\\n' \"$@\" >> {}/args\n{body}", d.display()),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    };
    stub(
        "kubectl",
        "case \"$*\" in\n\
         *namespaces,nodes,daemonsets*) printf 'Namespace\\t\\tdefault\\t{\"kubernetes.io/metadata.name\":\"default\"}\\t\\t\\n\
         Namespace\\t\\tkube-system\\t{}\\t\\t\\nNode\\t\\tcp-1\\t{\"node-role.kubernetes.io/control-plane\":\"\"}\\t\\t\\n\
         Node\\t\\tw-1\\t{\"kubernetes.io/os\":\"linux\"}\\t\\t\\n\
         DaemonSet\\tkube-flannel\\tkube-flannel-ds\\t{\"app\":\"flannel\"}\\tghcr.io/flannel-io/flannel:v0.28.9\\t[\"--ip-masq\",\"--kube-subnet-mgr\"]\\n\
         ClusterRoleBinding\\t\\tcluster-admin\\t{\"kubernetes.io/bootstrapping\":\"rbac-defaults\"}\\t\\t\\t\\t\\t\\t\\n\
         ClusterRoleBinding\\t\\tkubeadm:apiserver-kubelet-client\\t\\t\\t\\t\\t\\t\\t\\n';;\n\
         *configmaps*) printf 'configmap/kube-root-ca.crt\\nconfigmap/kubeadm-config\\n';;\n\
         *secrets*) [ -f \"$(dirname \"$0\")/down\" ] && exit 1; printf 'bootstrap-token-abcdef MjAyNi0xMS0yNVQwOTozMDowMFo=\\n';;\n\
         esac\n",
    );
    stub("helm", "echo '[]'\n");
    let cmd = section("cluster");
    let cmd = cmd
        .replace(groundup::paths::APISERVER_MANIFEST, manifest.to_str().unwrap())
        .replace(groundup::paths::ADMIN_CONF, admin.to_str().unwrap())
        .replace(groundup::paths::HELM, helm.to_str().unwrap());
    let run = || {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "echo @@groundup-fact:cluster; {{ {cmd}; }} 2>/dev/null || true"
            ))
            .env("PATH", format!("{}:/usr/bin:/bin", d.display()))
            .output()
            .unwrap();
        facts::parse(&String::from_utf8(out.stdout).unwrap()).state.cluster
    };
    assert!(run().is_none(), "not a control plane: nothing asked");
    assert!(!d.join("args").exists());

    std::fs::write(&manifest, "").unwrap();
    std::fs::write(&admin, "").unwrap();
    let c = run().expect("every query answered");
    assert_eq!((c.namespaces.len(), c.nodes.len()), (2, 2), "{c:?}");
    assert_eq!(c.control_planes, ["cp-1"], "only the labelled node");
    assert!(c.kube_system_configmaps.iter().any(|m| m == "kubeadm-config"));
    assert_eq!(
        c.cluster_role_bindings,
        ["cluster-admin", "kubeadm:apiserver-kubelet-client"]
    );
    let ds = c.daemonset("kube-flannel", "kube-flannel-ds").expect("the DaemonSet");
    assert_eq!(
        (ds.image.as_str(), ds.args.as_slice()),
        (
            "ghcr.io/flannel-io/flannel:v0.28.9",
            &["--ip-masq".to_string(), "--kube-subnet-mgr".to_string()][..]
        )
    );
    assert_eq!(c.tokens.get("abcdef"), Some(&Some(1_795_599_000)));
    let args = std::fs::read_to_string(d.join("args")).unwrap();
    assert!(
        args.lines()
            .any(|l| l == "jsonpath={range .items[*]}{.metadata.name} {.data.expiration}{\"\\n\"}{end}"),
        "{args}"
    );
    assert!(args.contains("type=bootstrap.kubernetes.io/token") && !args.contains("token-secret"));
    assert!(
        args.lines().all(|l| !["apply", "create", "delete"].contains(&l)),
        "read-only: {args}"
    );

    std::fs::write(d.join("down"), "").unwrap();
    assert!(
        run().is_none(),
        "a query that failed: the cluster is unknown, not empty"
    );
}

/// Issue 10, found by the end-to-end run: a node may read only its own Node, so the old query
/// (list every node) was Forbidden, printed nothing, and looked like a host that never joined;
/// the next apply joined finished workers again. A failed query is now `Unknown`.
#[test]
fn membership_tells_a_failed_query_from_a_host_that_never_joined() {
    use groundup::facts::state::Membership;
    assert_eq!(Membership::parse(""), Membership::None);
    assert_eq!(Membership::parse("@@kubelet-conf\n"), Membership::Unknown);
    assert_eq!(
        Membership::parse("@@kubelet-conf\n@@client-cert-missing\n"),
        Membership::NoClientCert
    );
    assert_eq!(
        Membership::parse("@@kubelet-conf\nlab-17\n@@answered\n"),
        Membership::Listed(vec!["lab-17".into()])
    );
    let q = section("membership");
    assert!(q.contains("auth whoami") && q.contains("--field-selector"), "{q}");
}

/// The `membership` section run by bash, with a real client certificate made by openssl and a
/// stand-in kubectl that records its arguments: the Node is asked for by the certificate's own
/// name, without a second kubectl; without openssl, kubectl's `auth whoami` gives the name; a
/// failed answer leaves the membership unknown.
#[test]
fn membership_asks_for_the_node_the_client_certificate_names() {
    use groundup::facts::state::Membership;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (conf, cert) = (d.join("kubelet.conf"), d.join("kubelet-client-current.pem"));
    std::fs::write(&conf, "").unwrap();
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", "/O=system:nodes/CN=system:node:lab-17", "-keyout"])
        .arg(d.join("key.pem"))
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let bin = d.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let stub = |name: &str, body: &str| {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/bash\n{body}")).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    };
    stub(
        "kubectl",
        &format!(
            "printf '%s\\n' \"$*\" >> {d}/args\n[ -f {d}/down ] && exit 1\n\
             case \"$*\" in *whoami*) printf system:node:lab-17;; *metadata.name=lab-17*) printf 'lab-17\\n';; esac\n",
            d = d.display()
        ),
    );
    let q = section("membership");
    let q = q
        .replace(groundup::paths::KUBELET_CONF, conf.to_str().unwrap())
        .replace(groundup::facts::state::KUBELET_CLIENT_CERT, cert.to_str().unwrap());
    let run = |path: String| {
        let _ = std::fs::remove_file(d.join("args"));
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&q)
            .env("PATH", path)
            .output()
            .unwrap();
        let args = std::fs::read_to_string(d.join("args")).unwrap_or_default();
        (Membership::parse(&String::from_utf8_lossy(&out.stdout)), args)
    };
    let with_openssl = format!("{}:/usr/bin:/bin", bin.display());
    let (m, args) = run(with_openssl.clone());
    assert_eq!(m, Membership::Listed(vec!["lab-17".into()]), "{args}");
    assert!(
        !args.contains("whoami") && args.lines().count() == 1,
        "one kubectl: {args}"
    );

    stub("openssl", "exit 127\n");
    let (m, args) = run(with_openssl.clone());
    assert_eq!(m, Membership::Listed(vec!["lab-17".into()]), "{args}");
    assert!(args.contains("auth whoami"), "{args}");

    std::fs::write(d.join("down"), "").unwrap();
    assert_eq!(
        run(with_openssl).0,
        Membership::Unknown,
        "no answer: unknown, never `not joined`"
    );
}

/// The whole facts script, run here by real bash: its sections run at once and come out in order,
/// each under its own marker, with the clock last; where no temporary folder can be made
/// (`TMPDIR` missing) the same sections run one after another and read the same.
#[test]
fn the_facts_script_runs_its_sections_at_once_and_reads_the_same_one_by_one() {
    let run = |tmpdir: &str| {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(facts::script())
            .env("TMPDIR", tmpdir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let tmp = tempfile::tempdir().unwrap();
    let at_once = run(tmp.path().to_str().unwrap());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "its temporary folder is removed"
    );
    let one_by_one = run("/nonexistent/groundup");
    let names = |out: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix("@@groundup-fact:"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(names(&at_once), names(&one_by_one));
    assert_eq!(names(&at_once).last().map(String::as_str), Some("clock"));
    for out in [&at_once, &one_by_one] {
        let f = facts::parse(out);
        let host = std::process::Command::new("hostname").output().unwrap().stdout;
        assert_eq!(f.hostname, String::from_utf8_lossy(&host).trim(), "{out}");
        assert!(f.cpus > 0 && f.clock.is_some() && !f.os.id.is_empty(), "{out}");
    }
    // Each section's text is the same either way (the clock and the listening sockets of this
    // busy machine aside).
    let (a, b) = (facts::sections(&at_once), facts::sections(&one_by_one));
    for k in ["os-release", "uname", "nproc", "addresses", "packages", "modules"] {
        assert!(a.contains_key(k), "{k}");
        assert_eq!(a.get(k), b.get(k), "{k}");
    }
}

/// The `leftovers` section (iptables, nft, ctr, find over kubeadm's folders) is gathered only by
/// runs with a phase that plans from it: reset and remove; apply's fact rounds leave it out.
#[test]
fn only_reset_and_remove_gather_what_reset_removes() {
    let marker = "@@groundup-fact:leftovers";
    assert!(facts::script().contains(marker) && !facts::script_with(&[]).contains(marker));
    let reads = |a: groundup::action::Action| a.phases.iter().any(|p| p.reads_leftovers());
    assert!(!reads(groundup::action::apply::apply(None).unwrap()));
    assert!(!reads(groundup::action::renew::renew()) && !reads(groundup::action::upgrade::nodes()));
    assert!(reads(groundup::action::reset::reset()));
    assert!(reads(groundup::action::remove::remove()));
}

/// The `trust` section (kubectl queries of what the API publishes) is gathered only by a rotation
/// of the kubernetes CA; its parser compares certificates, not their PEM text, and keeps what the
/// API did not answer apart from an empty answer.
#[test]
fn only_a_kubernetes_ca_rotation_gathers_the_trust_section() {
    let marker = "@@groundup-fact:trust";
    assert!(facts::script().contains(marker) && !facts::script_with(&["leftovers"]).contains(marker));
    let reads = |a: groundup::action::Action| a.phases.iter().any(|p| p.reads_trust());
    assert!(!reads(groundup::action::apply::apply(None).unwrap()) && !reads(groundup::action::renew::renew()));
    assert!(!reads(groundup::action::renew::rotate("etcd/ca")));
    assert!(reads(groundup::action::renew::rotate("ca")));

    let inv = crate::plan_finished::cluster("");
    let certs = crate::plan::generated_pki(&inv);
    let read = |f: &str| std::fs::read_to_string(certs.path().join(f)).unwrap();
    let (ca, fp) = (read("ca.crt"), read("front-proxy-ca.crt"));
    // The same certificate with its base64 folded at another width still counts as the same.
    let body: String = ca.lines().filter(|l| !l.starts_with("-----")).collect();
    let refolded = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        body.as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let text = format!(
        "@@kubelet-conf-ca\n{ca}{fp}@@kubelet-client\n{ca}@@signer\n/etc/kubernetes/pki/ca.crt\n@@root-ca\n{refolded}\
         @@client-ca\n{ca}\n@@requestheader-ca\n{fp}@@cluster-info-ca\n{ca}@@workloads\n\
         kube-system DaemonSet kube-proxy 0123456789abcdef\nkube-system Deployment coredns \n@@answered\n"
    );
    let t = groundup::facts::trust::parse(&text);
    let set = groundup::facts::trust::cert_set;
    assert_eq!(t.kubelet_conf_ca.as_ref().map(|s| s.len()), Some(2));
    assert_eq!(t.signer.as_deref(), Some("/etc/kubernetes/pki/ca.crt"));
    let p = t.published.unwrap();
    assert_eq!(p.root_ca, set(&ca), "refolded PEM is the same certificate");
    assert_eq!((p.client_ca, p.requestheader_ca), (set(&ca), set(&fp)));
    let marks: Vec<&str> = p.workloads.values().map(String::as_str).collect();
    assert_eq!(marks, ["0123456789abcdef", ""]);
    // Without `@@answered` the API's part is unknown, not empty.
    let cut = text.split("@@root-ca").next().unwrap();
    assert_eq!(groundup::facts::trust::parse(cut).published, None);
    assert_eq!(groundup::facts::trust::parse("").kubelet_conf_ca, None);
}

/// The shell of one facts section, by name.
fn section(name: &str) -> String {
    groundup::facts::state::sections()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("no facts section {name}"))
}
