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
    let s = facts::script();
    let sections = facts::sections(&fixture("facts/debian-12.txt"));
    for name in sections.keys() {
        assert!(s.contains(&format!("@@groundup-fact:{name}")), "{name}");
    }
    assert_eq!(
        sections.len(),
        s.matches("@@groundup-fact:").count(),
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
         DaemonSet\\tkube-flannel\\tkube-flannel-ds\\t{\"app\":\"flannel\"}\\tghcr.io/flannel-io/flannel:v0.28.9\\t[\"--ip-masq\",\"--kube-subnet-mgr\"]\\n';;\n\
         *configmaps*) printf 'configmap/kube-root-ca.crt\\nconfigmap/kubeadm-config\\n';;\n\
         *clusterrolebindings*) printf 'clusterrolebinding.rbac.authorization.k8s.io/cluster-admin\\n\
         clusterrolebinding.rbac.authorization.k8s.io/kubeadm:apiserver-kubelet-client\\n';;\n\
         *secrets*) [ -f \"$(dirname \"$0\")/down\" ] && exit 1; printf 'bootstrap-token-abcdef MjAyNi0xMS0yNVQwOTozMDowMFo=\\n';;\n\
         esac\n",
    );
    stub("helm", "echo '[]'\n");
    let (_, cmd) = groundup::facts::state::sections()
        .into_iter()
        .find(|(n, _)| *n == "cluster")
        .unwrap();
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
    let (_, q) = groundup::facts::state::sections()
        .into_iter()
        .find(|(n, _)| *n == "membership")
        .unwrap();
    assert!(q.contains("auth whoami") && q.contains("--field-selector"), "{q}");
}
