//! Issue 13: a class on real lab hosts: three clusters of two hosts each (lab-21..26), generated
//! from one host list, made ready `--until container-runtime` in one run. lab-26 (c-03's worker)
//! is killed mid-run: c-01 and c-02 finish, the table and exit code say c-03 failed, and once
//! the host is back `--cluster c-03` finishes it. Each cluster gets its own PKI folder and a
//! kubeconfig whose context is its own.

use std::path::Path;
use std::process::Command as Std;

use serde_json::Value;

use crate::common::{lab, root};
use crate::lab_support::{apply_until_runtime, groundup, json, kill_after_prepare_os, reset};

fn class_file(d: &Path) -> std::path::PathBuf {
    let lab = lab();
    let s = &lab.hosts[0].ssh;
    let hosts: Vec<String> = (21..=26)
        .map(|i| {
            format!(
                "  {{ address = \"127.0.77.{}\", internal_address = \"10.77.0.{}\" }},",
                10 + i,
                10 + i
            )
        })
        .collect();
    let text = format!(
        "[class]\nname = \"lab-class\"\nclusters_at_once = 3\n\n[class.generate]\nprefix = \"c\"\nper_cluster = 2\nhosts = [\n{}\n]\n\n\
         [cluster]\nkubernetes_version = \"1.36.3\"\npod_subnet = \"10.244.0.0/16\"\nservice_subnet = \"10.96.0.0/12\"\n\n\
         [ssh]\nuser = \"root\"\nport = 2200\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\n\n\
         [kubelet]\nallow_cgroup_v1 = true\n\n[container_runtime]\nsource = \"os\"\n",
        hosts.join("\n"),
        s.identity_file.as_ref().unwrap().display(),
        s.known_hosts.as_ref().unwrap().display()
    );
    let p = d.join("class.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn journal_of(state: &Path, cluster: &str) -> Option<Value> {
    let f = std::fs::read_dir(state.join("journal"))
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with(&format!("{cluster}-")))?
        .path();
    serde_json::from_str(&std::fs::read_to_string(f).ok()?).ok()
}

#[test]
fn a_class_of_three_clusters_runs_at_once_and_one_dead_host_fails_only_its_cluster() {
    reset(&["lab-21", "lab-22", "lab-23", "lab-24", "lab-25", "lab-26"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let class = class_file(d);
    let certs = d.join("certs");
    let o = groundup(d)
        .args(["pki", "generate", "-i"])
        .arg(&class)
        .arg("--certs-dir")
        .arg(&certs)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    for c in ["c-01", "c-02", "c-03"] {
        assert!(certs.join(c).join("ca.key").exists(), "{c} has its own PKI");
    }

    let state = d.join("state");
    let apply = |extra: &[&str]| {
        let mut c = apply_until_runtime(d, &class, &state);
        c.args(extra);
        c
    };
    let child = apply(&[]).spawn().unwrap();
    // Pull the plug on lab-26 (c-03-w1) once it has finished prepare-os.
    kill_after_prepare_os(|| journal_of(&state, "c-03"), "c-03-w1", "lab-26");
    let out = child.wait_with_output().unwrap();
    let v = json(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "one cluster failed: {v:#}");
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("apply on 3 cluster(s), 3 at a time"), "{progress}");
    let rows = v["clusters"].as_array().unwrap();
    for r in rows {
        eprintln!(
            "class apply: {} exit {} in {} s",
            r["cluster"], r["exit_code"], r["seconds"]
        );
    }
    let codes: Vec<(&str, i64)> = rows
        .iter()
        .map(|r| (r["cluster"].as_str().unwrap(), r["exit_code"].as_i64().unwrap()))
        .collect();
    assert_eq!(codes, [("c-01", 0), ("c-02", 0), ("c-03", 1)], "{v:#}");
    for r in &rows[..2] {
        let hosts = r["output"]["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 2, "{r:#}");
        for h in hosts {
            assert!(h["failed"].is_null(), "{h:#}");
            assert_eq!(
                h["done"].as_array().unwrap().last().unwrap()["phase"],
                "container-runtime",
                "{h:#}"
            );
        }
    }
    let c3 = &rows[2]["output"]["hosts"];
    let host = |n: &str| c3.as_array().unwrap().iter().find(|h| h["host"] == n).cloned().unwrap();
    assert!(
        host("c-03-cp")["failed"].is_null(),
        "the other host of c-03 finishes: {c3:#}"
    );
    assert!(!host("c-03-w1")["failed"].is_null(), "{c3:#}");
    assert_eq!(rows[2]["result"], "failed (1)");

    // A bug report while the host is down: the bundle is written with what answered, exit 3.
    let bundle = d.join("c-03.tar.gz");
    let o = groundup(d)
        .args(["diagnose", "--cluster", "c-03", "--progress", "none", "-i"])
        .arg(&class)
        .arg("--out")
        .arg(&bundle)
        .env_remove("GROUNDUP_CLUSTER")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{said}");
    assert!(said.contains("not reached: c-03-w1"), "{said}");
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&bundle).unwrap());
    let names: Vec<String> = tar::Archive::new(gz)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "c-03/hosts/c-03-cp/journal-containerd.txt",
        "c-03/hosts/c-03-w1/collect.error.txt",
        "c-03/README.txt",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }

    // The host comes back: that cluster alone is finished; the others are not touched.
    assert!(Std::new(root().join("scripts/lab"))
        .args(["start", "lab-26"])
        .status()
        .unwrap()
        .success());
    let out = apply(&["--cluster", "c-03", "--resume"]).output().unwrap();
    let v = json(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    assert!(
        v["clusters"].is_null() && v["journal"].as_str().unwrap().contains("/c-03-"),
        "one cluster runs here, not through the class runner: {v:#}"
    );
    let names: Vec<&str> = v["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c-03-cp", "c-03-w1"], "{v:#}");

    // Handouts: one kubeconfig per cluster, each with its own context and server, 0600.
    let handouts = d.join("handouts");
    let o = groundup(d)
        .args(["kubeconfig", "-i"])
        .arg(&class)
        .arg("--certs-dir")
        .arg(&certs)
        .arg("--out-dir")
        .arg(&handouts)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let mut contexts = std::collections::BTreeSet::new();
    for (c, cp) in [("c-01", 21), ("c-02", 23), ("c-03", 25)] {
        let f = handouts.join(format!("{c}.kubeconfig"));
        let text = std::fs::read_to_string(&f).unwrap();
        let y: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        contexts.insert(y["current-context"].as_str().unwrap().to_string());
        assert_eq!(
            y["clusters"][0]["cluster"]["server"].as_str(),
            Some(format!("https://10.77.0.{}:6443", 10 + cp).as_str())
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        let page = std::fs::read_to_string(handouts.join(format!("{c}.md"))).unwrap();
        assert!(
            page.contains(&format!(
                "| {c}-cp | control-plane, etcd | `ssh -p 2200 root@127.0.77.{}` | 10.77.0.{} |",
                10 + cp,
                10 + cp
            )),
            "{page}"
        );
        assert!(std::fs::read_to_string(handouts.join(format!("{c}.html")))
            .unwrap()
            .contains("<table>"));
    }
    assert_eq!(contexts.len(), 3, "distinct contexts: {contexts:?}");
}
