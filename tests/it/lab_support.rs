//! Helpers for the tests that drive the `groundup` binary against lab hosts: inventories over
//! lab-N hosts, JSON runs, `exec` on one host, resets, stand-in packages.

use std::path::{Path, PathBuf};
use std::process::{Command as Std, Stdio};

use assert_cmd::Command;
use serde_json::Value;

use crate::common::{lab, root};

pub fn groundup(log: &Path) -> Command {
    let mut c = Command::cargo_bin("groundup").unwrap();
    c.env("GROUNDUP_LOG_DIR", log)
        .env("NO_COLOR", "1")
        .env("GROUNDUP_SSH_PERSIST", "0")
        .env("GROUNDUP_STATE_DIR", log.join("state"));
    c
}

/// `groundup apply --until container-runtime -o json` on `inv`, its journal in `state`, as a child
/// process with stdout and stderr piped: the run a test pulls a host's plug under.
pub fn apply_until_runtime(log: &Path, inv: &Path, state: &Path) -> Std {
    let mut c = Std::new(assert_cmd::cargo::cargo_bin("groundup"));
    c.env("GROUNDUP_LOG_DIR", log)
        .env("GROUNDUP_SSH_PERSIST", "0")
        .env_remove("GROUNDUP_CLUSTER")
        .args([
            "apply",
            "--progress",
            "none",
            "--until",
            "container-runtime",
            "-o",
            "json",
            "-i",
        ])
        .arg(inv)
        .arg("--state-dir")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// `groundup pki generate` for `inv` into `dir/certs`, which it returns.
pub fn pki_generate(dir: &Path, inv: &Path) -> PathBuf {
    let certs = dir.join("certs");
    let out = groundup(dir)
        .args(["pki", "generate", "-i"])
        .arg(inv)
        .arg("--certs-dir")
        .arg(&certs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    certs
}

/// Resets lab hosts to the base image (a fresh VM each time the test runs).
pub fn reset(names: &[&str]) {
    lab();
    let st = Std::new(root().join("scripts/lab"))
        .arg("reset")
        .args(names)
        .status()
        .unwrap();
    assert!(st.success(), "scripts/lab reset {names:?} failed");
}

/// An inventory over lab-N hosts (the first a control plane), in `dir`.
pub fn inventory(dir: &Path, hosts: &[u32], extra: &str) -> PathBuf {
    let lab = lab();
    let s = &lab.hosts[0].ssh;
    let mut t = format!(
        "[cluster]\nname = \"apply-{}\"\nkubernetes_version = \"1.36.3\"\npod_subnet = \"10.244.0.0/16\"\n\
         service_subnet = \"10.96.0.0/12\"\n\n[ssh]\nuser = \"root\"\nport = 2200\nidentity_file = \"{}\"\n\
         known_hosts = \"{}\"\n\n[kubelet]\nallow_cgroup_v1 = true\n\n[container_runtime]\nsource = \"os\"\n{extra}\n",
        hosts[0],
        s.identity_file.as_ref().unwrap().display(),
        s.known_hosts.as_ref().unwrap().display()
    );
    for (k, i) in hosts.iter().enumerate() {
        let roles = if k == 0 {
            r#"["control-plane", "etcd"]"#
        } else {
            r#"["worker"]"#
        };
        t.push_str(&format!(
            "\n[[hosts]]\nname = \"lab-{i}\"\naddress = \"127.0.77.{}\"\ninternal_address = \"10.77.0.{}\"\nroles = {roles}\n",
            10 + i,
            10 + i
        ));
    }
    let p = dir.join("inventory.toml");
    std::fs::write(&p, t).unwrap();
    p
}

pub fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

/// Runs `groundup <args> -i inv -o json`; returns (exit code, the final JSON object).
pub fn run_json(dir: &Path, inv: &Path, args: &[&str]) -> (i32, Value) {
    let mut c = groundup(dir);
    c.args(args)
        .arg("-i")
        .arg(inv)
        .args(["--progress", "none", "-o", "json"]);
    if args[0] == "apply" {
        c.arg("--state-dir").arg(dir.join("state"));
    }
    let out = c.output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        !out.stdout.is_empty(),
        "groundup {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, json(&out.stdout))
}

/// Runs a script on one host through `groundup exec`; returns (status, stdout).
pub fn sh(dir: &Path, inv: &Path, host: &str, script: &str) -> (i64, String) {
    let out = groundup(dir)
        .args(["exec", "--progress", "none", "-o", "json", "--on", host, "-i"])
        .arg(inv)
        .args(["--", "bash", "-c", script])
        .output()
        .unwrap();
    let v = json(&out.stdout);
    let o = &v[0]["output"];
    (
        o["status"].as_i64().unwrap_or(-1),
        o["stdout"].as_str().unwrap_or("").to_string(),
    )
}

pub fn counts(v: &Value) -> (u64, u64, u64) {
    (
        v["changed"].as_u64().unwrap(),
        v["unchanged"].as_u64().unwrap(),
        v["failed"].as_u64().unwrap(),
    )
}

/// Test stand-ins for the pkgs.k8s.io packages (the real ones cannot be fetched here): real .deb
/// files built with dpkg-deb, with the real names, versions and the dependencies between them
/// that the real packages declare (kubelet needs kubernetes-cni, kubeadm needs cri-tools), kubelet
/// with a systemd unit.
pub fn stand_in_debs(dir: &Path) {
    for (p, v, depends) in [
        ("kubelet", "1.36.3-1.1", "kubernetes-cni (>= 1.1.1)"),
        (
            "kubeadm",
            "1.36.3-1.1",
            "kubelet (>= 1.19.0), kubectl (>= 1.13.0), cri-tools (>= 1.28.0)",
        ),
        ("kubectl", "1.36.3-1.1", ""),
        ("cri-tools", "1.36.0-1.1", ""),
        ("kubernetes-cni", "1.8.0-1.1", ""),
    ] {
        stand_in_deb(dir, p, v, depends);
    }
}

/// One stand-in .deb `<p>_<v>_amd64.deb` in `dir` declaring `depends` (may be empty).
pub fn stand_in_deb(dir: &Path, p: &str, v: &str, depends: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let tree = tempfile::tempdir().unwrap();
    let t = tree.path();
    std::fs::create_dir_all(t.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(t.join("usr/bin")).unwrap();
    std::fs::write(
        t.join("DEBIAN/control"),
        format!(
            "Package: {p}\nVersion: {v}\nArchitecture: amd64\nMaintainer: groundup tests <t@groundup.invalid>\n{}Description: test stand-in for {p}\n",
            if depends.is_empty() { String::new() } else { format!("Depends: {depends}\n") }
        ),
    )
    .unwrap();
    std::fs::write(
        t.join("usr/bin").join(p),
        format!("#!/bin/sh\necho '{p} {v} (test stand-in)'\n"),
    )
    .unwrap();
    if p == "kubelet" {
        std::fs::create_dir_all(t.join("lib/systemd/system")).unwrap();
        std::fs::write(
            t.join("lib/systemd/system/kubelet.service"),
            "[Unit]\nDescription=kubelet test stand-in\n[Service]\nExecStart=/usr/bin/kubelet\n[Install]\nWantedBy=multi-user.target\n",
        )
        .unwrap();
    }
    let deb = dir.join(format!("{p}_{v}_amd64.deb"));
    let st = Std::new("dpkg-deb")
        .args(["--root-owner-group", "-b"])
        .arg(t)
        .arg(&deb)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    deb
}

/// A stand-in for helm's release tarball (`linux-amd64/helm`, answering `version`), as
/// get.helm.sh packs it: the real one cannot be fetched here.
pub fn stand_in_helm(dir: &Path, version: &str) {
    let tree = tempfile::tempdir().unwrap();
    let bin = tree.path().join("linux-amd64");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("helm"), format!("#!/bin/sh\necho {version}\n")).unwrap();
    let st = Std::new("tar")
        .arg("-czf")
        .arg(dir.join(format!("helm-{version}-linux-amd64.tar.gz")))
        .arg("-C")
        .arg(tree.path())
        .arg("linux-amd64")
        .status()
        .unwrap();
    assert!(st.success());
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A real container image in `docker save` format (one layer holding `/hello`, its config with
/// the layer's diff ID, `manifest.json` naming it `name`), written to `dir/file`; gzipped when
/// `file` ends in `.gz`. containerd imports and unpacks it like any saved image.
pub fn stand_in_image(dir: &Path, file: &str, name: &str) -> PathBuf {
    let sha = |b: &[u8]| groundup::digest::sha256_hex(b);
    let mut layer = tar::Builder::new(Vec::new());
    add(
        &mut layer,
        "hello",
        format!("groundup stand-in image {name}\n").as_bytes(),
    );
    let layer = layer.into_inner().unwrap();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let config = serde_json::json!({
        "architecture": arch, "os": "linux", "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha(&layer))]},
    })
    .to_string();
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", sha(config.as_bytes())),
        "RepoTags": [name],
        "Layers": [format!("{}/layer.tar", sha(&layer))],
    }])
    .to_string();
    let mut out = tar::Builder::new(Vec::new());
    add(&mut out, &format!("{}/layer.tar", sha(&layer)), &layer);
    add(&mut out, &format!("{}.json", sha(config.as_bytes())), config.as_bytes());
    add(&mut out, "manifest.json", manifest.as_bytes());
    let mut bytes = out.into_inner().unwrap();
    if file.ends_with(".gz") {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).unwrap();
        bytes = gz.finish().unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(file);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn add(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o755);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, path, data).unwrap();
}

/// Waits until `node`'s three prepare-os steps are in the journal `journal` reads (an apply runs
/// meanwhile), then pulls the plug on lab host `lab_host` (`scripts/lab kill`).
pub fn kill_after_prepare_os(journal: impl Fn() -> Option<Value>, node: &str, lab_host: &str) {
    let t0 = std::time::Instant::now();
    loop {
        let done = journal()
            .and_then(|j| j["hosts"][node]["done"].as_array().cloned())
            .unwrap_or_default();
        if done.iter().filter(|s| s["phase"] == "prepare-os").count() >= 3 {
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(180),
            "{node} never finished prepare-os"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let st = std::process::Command::new(root().join("scripts/lab"))
        .args(["kill", lab_host])
        .status()
        .unwrap();
    assert!(st.success(), "scripts/lab kill {lab_host}");
}
