//! Class files (issue 13), without hosts: the examples expand as documented, each cluster is
//! checked as its own inventory with errors pointing into the class file, and the runner runs
//! one groundup per cluster (render and kubeconfig contact no host). The lab run is in lab_class.

use std::path::Path;

use assert_cmd::Command;
use groundup::inventory::class;
use groundup::inventory::Role;

use crate::common::root;

fn example(name: &str) -> class::Class {
    class::load(&root().join("inventory/classes").join(name)).unwrap_or_else(|e| panic!("{}", e.render_plain()))
}

#[test]
fn every_example_class_loads() {
    let n = std::fs::read_dir(root().join("inventory/classes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .inspect(|p| {
            class::load(p).unwrap_or_else(|e| panic!("{}", e.render_plain()));
        })
        .count();
    assert!(n >= 2, "{n}");
}

#[test]
fn a_generated_class_cuts_its_hosts_into_clusters() {
    let c = example("course.toml");
    assert_eq!((c.name.as_str(), c.clusters_at_once), ("k8s-course", 4));
    let names: Vec<&str> = c.clusters.iter().map(|i| i.cluster.name.as_str()).collect();
    assert_eq!(names, ["student-01", "student-02", "student-03"]);
    let s2 = &c.clusters[1];
    let hosts: Vec<(&str, &str, bool)> = s2
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h.ssh.address.as_str(), h.has(Role::ControlPlane)))
        .collect();
    assert_eq!(
        hosts,
        [
            ("student-02-cp", "10.10.0.21", true),
            ("student-02-w1", "10.10.0.22", false),
            ("student-02-w2", "10.10.0.23", false)
        ]
    );
    assert_eq!(s2.hosts[0].internal_address.unwrap().to_string(), "192.168.56.21");
    assert_eq!(c.clusters[2].hosts[0].internal_address, None);
    for inv in &c.clusters {
        assert_eq!(inv.cluster.kubernetes_version.to_string(), "1.36.3");
        assert_eq!(inv.cluster.namespaces, ["lab"]);
        assert_eq!(inv.hosts[0].ssh.user, "ubuntu");
    }
}

#[test]
fn a_listed_cluster_overrides_keys_and_tables() {
    let c = example("workshop.toml");
    let (a, b) = (&c.clusters[0], &c.clusters[1]);
    assert_eq!(a.cluster.kubernetes_version.to_string(), "1.36.3");
    assert_eq!(
        b.cluster.kubernetes_version.to_string(),
        "1.36.4",
        "[clusters.cluster] overrides one key"
    );
    assert_eq!(
        b.cluster.pod_subnet.to_string(),
        "10.244.0.0/16",
        "the others stay shared"
    );
    assert_eq!(
        (a.hosts[0].ssh.user.as_str(), a.hosts[0].ssh.jump_host.as_deref()),
        ("debian", None)
    );
    assert_eq!(
        (b.hosts[0].ssh.user.as_str(), b.hosts[0].ssh.jump_host.as_deref()),
        ("admin", Some("bastion.example.org")),
        "[clusters.ssh] replaces [ssh]"
    );
    assert_eq!(b.hosts[0].ssh.identity_file, None, "replaced whole, not merged");
}

fn problems(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("class.toml");
    std::fs::write(&p, text).unwrap();
    match class::load(&p) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.render_plain().replace(&p.display().to_string(), "class.toml"),
    }
}

#[test]
fn mistakes_in_a_class_name_its_line() {
    let workshop = std::fs::read_to_string(root().join("inventory/classes/workshop.toml")).unwrap();
    let course = std::fs::read_to_string(root().join("inventory/classes/course.toml")).unwrap();
    let cases = [
        (
            "bad_member_value",
            workshop.replace(
                "kubernetes_version = \"1.36.4\"",
                "kubernetes_version = \"1.36.4\"\npod_subnet = \"10.244.0.0/33\"",
            ),
        ),
        ("twice", workshop.replace("name = \"team-b\"", "name = \"team-a\"")),
        (
            "left_over",
            course.replace("\"10.10.0.33\",", "\"10.10.0.33\", \"10.10.0.41\","),
        ),
        ("no_version", workshop.replace("kubernetes_version = \"1.36.3\"\n", "")),
        (
            "unknown_key",
            workshop.replace("[clusters.ssh]\n", "[clusters.ssh]\nusr = \"x\"\n"),
        ),
    ];
    for (name, text) in cases {
        insta::assert_snapshot!(format!("class_error_{name}"), problems(&text));
    }
}

/// Every path under `dir` (relative, sorted), two levels deep.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            for f in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
                out.push(format!("{name}/{}", f.file_name().to_string_lossy()));
            }
        }
        out.push(name);
    }
    out.sort();
    out
}

/// groundup with an environment and a working folder of the test's own (nothing of the machine's
/// but PATH), so neither a variable set where the tests run nor a `certs/<cluster>` folder in the
/// checkout can change what the class runner or its children do.
fn groundup(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("groundup").unwrap();
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.join("home"))
        .env("GROUNDUP_LOG_DIR", dir.join("logs"))
        .env("GROUNDUP_STATE_DIR", dir.join("state"))
        .env("NO_COLOR", "1");
    c
}

#[test]
fn the_runner_runs_each_cluster_in_its_own_process_and_says_how_each_went() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let class = root().join("inventory/classes/workshop.toml");
    // render contacts no host: both clusters write their own folder.
    let o = groundup(d)
        .args(["render", "-i"])
        .arg(&class)
        .arg("--out")
        .arg(d.join("r"))
        .output()
        .unwrap();
    let out = format!(
        "{}\n--- stderr ---\n{}\n--- files ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        walk(d).join("\n")
    );
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        d.join("team-a-r/a-cp").is_dir() && d.join("team-b-r/b-cp").is_dir(),
        "{out}"
    );
    assert!(out.contains("2 of 2 cluster(s) ok"), "{out}");
    // One cluster named: it runs here, alone, with the paths as given.
    let o = groundup(d)
        .args(["render", "--cluster", "team-b", "-i"])
        .arg(&class)
        .arg("--out")
        .arg(d.join("one"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        d.join("one/b-cp").is_dir() && !d.join("one/a-cp").exists(),
        "{:?}",
        walk(d)
    );

    // Without a PKI, kubeconfig fails in each cluster: each is reported, the class exits 1.
    let o = groundup(d)
        .args(["kubeconfig", "-i"])
        .arg(&class)
        .arg("--certs-dir")
        .arg(d.join("none"))
        .arg("--out-dir")
        .arg(d.join("handouts"))
        .output()
        .unwrap();
    // Everything this run left, for any assertion below that fails.
    let logs = d.join("logs");
    let listing: Vec<String> = walk(&logs);
    let out = format!(
        "{}\n--- stderr ---\n{}\n--- logs ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        listing.join("\n")
    );
    assert_eq!(o.status.code(), Some(1), "{out}");
    let runs: Vec<&String> = listing
        .iter()
        .filter(|p| !p.contains('/') && p.starts_with("class-workshop-"))
        .collect();
    // Each class run keeps its outputs in a folder of its own, even within one second.
    assert_eq!(runs.len(), 2, "{out}");
    let kube = runs
        .iter()
        .find(|p| p.starts_with("class-workshop-kubeconfig-"))
        .unwrap_or_else(|| panic!("{out}"));
    for name in ["team-a", "team-b"] {
        let row = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(row.contains("bad input (2)"), "{row}\n{out}");
        let log = logs.join(kube).join(format!("{name}.txt"));
        let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}\n{out}", log.display()));
        assert!(
            text.contains(&format!("none/{name}/nodes/")) && text.contains("pki generate"),
            "its own PKI folder: {text}\n{out}"
        );
    }
    assert!(out.contains("0 of 2 cluster(s) ok"), "{out}");
    // --cluster on a plain inventory is a mistake, said as one, on one line however long its path
    // (off a terminal nothing is wrapped: CI's longer checkout path once cut this sentence in two).
    let deep = d.join("a-folder-whose-name-is-long-enough-to-push-any-sentence-past-one-hundred-columns");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::copy(root().join("inventory/single.toml"), deep.join("single.toml")).unwrap();
    let o = groundup(d)
        .args(["render", "--cluster", "team-a", "-i"])
        .arg(deep.join("single.toml"))
        .arg("--out")
        .arg(d.join("s"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("--cluster team-a: `") && l.contains("` is one cluster's inventory, not a class")),
        "{err}"
    );
    // An unknown cluster is refused before anything runs.
    let o = groundup(d)
        .args(["render", "--cluster", "team-a,team-z", "-i"])
        .arg(&class)
        .arg("--out")
        .arg(d.join("z"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no such cluster (its clusters: team-a, team-b)"), "{err}");
}

/// Issue 21: `--certs-dir DIR` on a class means `DIR/<cluster>` whether the runner or the user
/// picks the cluster, so the way on that the runner prints (`--cluster NAME --resume`) finds the
/// PKI the class run made; and every command that acts on a cluster takes the option.
#[test]
fn certs_dir_on_a_class_means_each_clusters_own_folder_with_or_without_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let class = root().join("inventory/classes/workshop.toml");
    let pki = d.join("pki");
    let o = groundup(d)
        .args(["pki", "generate", "-i"])
        .arg(&class)
        .arg("--certs-dir")
        .arg(&pki)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    for c in ["team-a", "team-b"] {
        assert!(pki.join(c).join("ca.crt").exists(), "{:?}", walk(&pki));
    }
    // One cluster named, the same option: it renders from pki/team-b, not from pki itself.
    let o = groundup(d)
        .args(["render", "--cluster", "team-b", "-i"])
        .arg(&class)
        .arg("--certs-dir")
        .arg(&pki)
        .arg("--out")
        .arg(d.join("one"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let placed = std::fs::read(d.join("one/b-cp/etc/kubernetes/pki/ca.crt")).unwrap();
    assert_eq!(placed, std::fs::read(pki.join("team-b/ca.crt")).unwrap());
    // Handouts through the runner, from the same folder: a command a student can paste (the jump
    // host of team-b), an image every node has, and the way to an API it cannot reach.
    let o = groundup(d)
        .args(["kubeconfig", "-i"])
        .arg(&class)
        .arg("--certs-dir")
        .arg(&pki)
        .arg("--out-dir")
        .arg(d.join("h"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let page = std::fs::read_to_string(d.join("h/team-b.md")).unwrap();
    for want in [
        "| b-cp | control-plane, etcd | `ssh -J bastion.example.org admin@172.16.2.10` | - |",
        "--image=ghcr.io/flannel-io/flannel:v0.28.9 --replicas=2 -- sleep infinity",
        "ssh -J bastion.example.org -N -L 16443:127.0.0.1:6443 admin@172.16.2.10 &",
    ] {
        assert!(page.contains(want), "{want}\n{page}");
    }
    assert!(!page.contains("pause:"), "{page}");
    // remove and restore take it like apply and reset: what fails next is a missing file.
    for args in [&["remove", "n1"][..], &["restore", "snap.db"]] {
        let o = groundup(d)
            .args(args)
            .args(["--certs-dir", "pki", "--dry-run", "-i", "missing.toml"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            (err.contains("missing.toml") || err.contains("snap.db")) && !err.contains("unexpected argument"),
            "{args:?}: {err}"
        );
    }
}
