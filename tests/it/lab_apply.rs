//! `apply` on real lab hosts: the preparation phases converge, a second apply changes nothing,
//! kube packages come from uploaded artifacts (checked by sha256) or fail with the [artifacts]
//! hint, and a host that dies mid-apply is finished by `--resume` without redoing its steps.
//! Uses lab-4..9 only (reset to the base image first), so the read-only tests keep lab-1..3.

use std::path::Path;
use std::process::Command as Std;

use serde_json::Value;

use crate::common::root;
use crate::lab_support::{
    apply_until_runtime, counts, groundup, inventory, json, kill_after_prepare_os, pki_generate, reset, run_json, sh,
    stand_in_debs, stand_in_helm, stand_in_image, walk,
};

#[test]
fn apply_prepares_hosts_then_changes_nothing_and_installs_kube_packages_from_artifacts() {
    reset(&["lab-4", "lab-5", "lab-6"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The lab's apt proxy, reached with credentials: they must land in 0600 files and nowhere else.
    let proxy = "\n[proxy]\nhttp = \"http://gu:pw-SECRET@10.77.0.1:3142\"\n";
    let inv = inventory(d, &[4, 5, 6], proxy);

    let (code, v) = run_json(d, &inv, &["apply", "--until", "container-runtime"]);
    assert!(!v.to_string().contains("pw-SECRET"));
    let (changed, _, failed) = counts(&v);
    assert_eq!((code, failed), (0, 0), "{v:#}");
    assert!(changed >= 15, "a fresh host needs work in every phase: {v:#}");

    for host in ["lab-4", "lab-5", "lab-6"] {
        let (st, out) = sh(
            d,
            &inv,
            host,
            "set -e; tail -n +2 /proc/swaps | wc -l; cat /etc/modules-load.d/kubernetes.conf | grep -v '^#'; \
             sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables; \
             systemctl is-active containerd; containerd config dump | grep -c 'SystemdCgroup = true'; \
             ctr version | grep -c '^Server:'; \
             stat -c %a /etc/groundup/proxy.env /etc/apt/apt.conf.d/95groundup-proxy /etc/systemd/system/containerd.service.d/http-proxy.conf; \
             systemctl show containerd -p Environment | grep -c 'HTTP_PROXY=http://gu:pw-SECRET@10.77.0.1:3142'",
        );
        assert_eq!(st, 0, "{host}: {out}");
        let lines: Vec<&str> = out.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        assert_eq!(
            lines,
            [
                "0",
                "overlay",
                "br_netfilter",
                "1",
                "1",
                "1",
                "active",
                "1",
                "1",
                "600",
                "600",
                "600",
                "1"
            ],
            "{host}"
        );
    }

    let (code, v) = run_json(d, &inv, &["apply", "--until", "container-runtime"]);
    assert_eq!(
        (code, counts(&v).0, counts(&v).2),
        (0, 0, 0),
        "second apply must change nothing: {v:#}"
    );
    let (code, v) = run_json(d, &inv, &["plan", "--until", "container-runtime"]);
    assert_eq!((code, counts(&v).0, counts(&v).2), (0, 0, 0), "{v:#}");
    let statuses: Vec<&str> = v["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["hosts"].as_array().unwrap())
        .flat_map(|h| h["items"].as_array().unwrap())
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| *s == "unchanged"),
        "{statuses:?}"
    );

    // No internet here: pkgs.k8s.io cannot be reached, and the error says what to do.
    let out = groundup(d)
        .args(["apply", "--until", "kube-packages", "--progress", "none", "-i"])
        .arg(&inv)
        .arg("--state-dir")
        .arg(d.join("state"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED in phase `kube-packages`") && text.contains("pkgs.k8s.io"),
        "{text}"
    );
    assert!(
        text.contains("[artifacts] dir = "),
        "the error names the artifacts option: {text}"
    );

    // With [artifacts]: uploaded once per host, checked by sha256, installed, held, kubelet enabled.
    let art = d.join("artifacts");
    stand_in_debs(&art);
    stand_in_helm(&art, "v3.19.0");
    // An image archive, as an air-gapped site brings flannel or kube-vip: imported on every node.
    stand_in_image(&art, "hello-v1.tar.gz", "registry.example/groundup/hello:v1");
    let inv = inventory(
        d,
        &[4, 5, 6],
        &format!("{proxy}\n[artifacts]\ndir = \"{}\"\n", art.display()),
    );
    let (code, v) = run_json(d, &inv, &["apply", "--until", "helm"]);
    assert_eq!((code, counts(&v).2), (0, 0), "{v:#}");
    let local = groundup::artifacts::Catalogue::load(Some(&art)).unwrap();
    for host in ["lab-4", "lab-6"] {
        let (st, out) = sh(
            d,
            &inv,
            host,
            "cd /var/cache/groundup/artifacts && sha256sum *.deb && cat *.deb.sha256 | wc -l; \
             dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' kubelet kubeadm kubectl cri-tools kubernetes-cni; \
             systemctl is-enabled kubelet",
        );
        assert_eq!(st, 0, "{out}");
        for a in local.files.iter().filter(|a| a.file.ends_with(".deb")) {
            assert!(
                out.contains(&format!("{}  {}", a.sha256, a.file)),
                "{host}: {} not on the host intact: {out}",
                a.file
            );
        }
        for want in [
            "5\n",
            "kubelet 1.36.3-1.1 hi",
            "kubeadm 1.36.3-1.1 hi",
            "kubectl 1.36.3-1.1 hi",
            "cri-tools 1.36.0-1.1 ii",
            "kubernetes-cni 1.8.0-1.1 ii",
            "enabled",
        ] {
            assert!(out.contains(want), "{host}: `{want}` missing in {out}");
        }
    }
    let (st, out) = sh(
        d,
        &inv,
        "lab-4",
        "/usr/local/bin/helm version; stat -c %a /usr/local/bin/helm",
    );
    assert_eq!(
        (st, out.split_whitespace().collect::<Vec<_>>()),
        (0, vec!["v3.19.0", "755"]),
        "helm on the first control plane"
    );
    for host in ["lab-4", "lab-5", "lab-6"] {
        let (st, out) = sh(
            d,
            &inv,
            host,
            "ctr -n k8s.io images ls -q; ctr -n k8s.io images check name==registry.example/groundup/hello:v1 | tail -1",
        );
        assert_eq!(st, 0, "{out}");
        assert!(
            out.lines().any(|l| l == "registry.example/groundup/hello:v1"),
            "{host}: {out}"
        );
        assert!(
            out.contains(" complete (2/2) ") && out.trim_end().ends_with(" true"),
            "{host}: `ctr images check` says complete (config and layer) and unpacked for the CRI: {out}"
        );
    }
    package_failure_names_its_cause(d, &inv);
    let (st, _) = sh(d, &inv, "lab-5", "test -e /usr/local/bin/helm");
    assert_ne!(st, 0, "workers get no helm");
    let (code, v) = run_json(d, &inv, &["apply", "--until", "helm"]);
    assert_eq!(
        (code, counts(&v).0, counts(&v).2),
        (0, 0, 0),
        "nothing is uploaded twice: {v:#}"
    );

    let token = placed_pki_and_kubeadm_config(d, &inv);

    // Every run log and the journal: the proxy password and the token never appear.
    let mut files = 0;
    for e in walk(d) {
        if e.extension().is_some_and(|x| x == "log" || x == "json") {
            files += 1;
            let text = std::fs::read_to_string(&e).unwrap_or_default();
            assert!(!text.contains("pw-SECRET"), "{} holds the proxy password", e.display());
            assert!(!text.contains(&token), "{} holds the bootstrap token", e.display());
        }
    }
    assert!(files >= 8, "logs and the journal were checked ({files} files)");
}

/// groundup's install command, run by real apt on lab-5 with a package whose dependency no source
/// supplies (as kubelet without kubernetes-cni offline): the failure repeats apt's `Depends:` line
/// on stderr, not only apt's generic last line, and keeps apt's exit status.
fn package_failure_names_its_cause(d: &Path, inv: &Path) {
    let art = d.join("broken");
    let deb = crate::lab_support::stand_in_deb(&art, "groundup-broken", "1.0-1", "groundup-absent-dependency (>= 2)");
    let bytes = std::fs::read(&deb).unwrap();
    let (st, _) = sh(
        d,
        inv,
        "lab-5",
        &format!("echo {} | base64 -d > /tmp/groundup-broken.deb", {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        }),
    );
    assert_eq!(st, 0);
    let script = groundup::os::Os::Apt(groundup::os::Apt {
        distro: "debian".into(),
        codename: "bookworm".into(),
    })
    .install(&[groundup::os::Pkg::File("/tmp/groundup-broken.deb".into())]);
    let (st, out) = sh(
        d,
        inv,
        "lab-5",
        &format!("cat > /tmp/install.sh <<'EOS'\n{script}\nEOS\nbash /tmp/install.sh 2>&1; echo \"exit=$?\"; rm -f /tmp/install.sh /tmp/groundup-broken.deb"),
    );
    assert_eq!(st, 0, "{out}");
    assert!(
        out.contains("groundup-broken : Depends: groundup-absent-dependency (>= 2) but it is not installable"),
        "the cause line is shown: {out}"
    );
    assert!(out.contains("exit=100"), "apt's own exit status: {out}");
}

/// `apply --until kubeadm-config` on lab-4 (control plane) and lab-5/6 (workers): the control
/// plane holds, byte for byte, the shared CA material and its own leaves and kubeconfigs that
/// `pki generate` made, at kubeadm's paths (keys and kubeconfigs 0600), plus its init.yaml,
/// encryption and audit files; a worker holds only its join.yaml (0600: the token). A second
/// apply changes nothing. Returns the token's secret part, which no log may hold.
fn placed_pki_and_kubeadm_config(d: &Path, inv: &Path) -> String {
    let certs = pki_generate(d, inv);
    let args = [
        "apply",
        "--until",
        "kubeadm-config",
        "--certs-dir",
        certs.to_str().unwrap(),
    ];
    let (code, v) = run_json(d, inv, &args);
    assert_eq!((code, counts(&v).2), (0, 0), "{v:#}");

    // What lab-4 must hold: every local file but the token, the key and the other nodes' folders.
    let mut want = std::collections::BTreeMap::new();
    for f in walk(&certs) {
        let rel = f.strip_prefix(&certs).unwrap().to_string_lossy().into_owned();
        let remote = match rel.strip_prefix("nodes/lab-4/") {
            Some(own) => format!("/etc/kubernetes/{own}"),
            None if rel.starts_with("nodes/") || rel == "bootstrap-token" || rel == "encryption-key" => continue,
            None => format!("/etc/kubernetes/pki/{rel}"),
        };
        let secret = rel.ends_with(".key") || rel.ends_with(".conf");
        let sum = groundup::digest::sha256_hex(&std::fs::read(&f).unwrap());
        want.insert(remote, (if secret { "600" } else { "644" }, sum));
    }
    assert_eq!(want.len(), 8 + 2 * 7 + 4, "shared CA material, own leaves, kubeconfigs");
    let list =
        "find /etc/kubernetes -type f -printf '%m %p ' -exec sha256sum {} \\; | awk '{print $1, $2, $3}' | sort -k2";
    let (st, out) = sh(d, inv, "lab-4", list);
    assert_eq!(st, 0, "{out}");
    let got: std::collections::BTreeMap<&str, (&str, &str)> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some((*f.get(1)?, (*f.first()?, *f.get(2)?)))
        })
        .collect();
    for (path, (mode, sum)) in &want {
        assert_eq!(
            got.get(path.as_str()),
            Some(&(*mode, sum.as_str())),
            "lab-4: {path}\n{out}"
        );
    }
    for (path, mode) in [
        ("/etc/kubernetes/groundup/init.yaml", "600"),
        ("/etc/kubernetes/groundup/encryption.yaml", "600"),
        ("/etc/kubernetes/groundup/audit-policy.yaml", "644"),
    ] {
        assert_eq!(got.get(path).map(|g| g.0), Some(mode), "lab-4: {path}\n{out}");
    }
    assert_eq!(got.len(), want.len() + 3, "nothing else on lab-4:\n{out}");

    let (st, out) = sh(d, inv, "lab-5", "find /etc/kubernetes -type f -printf '%m %p\\n'");
    assert_eq!(
        (st, out.trim()),
        (0, "600 /etc/kubernetes/groundup/join.yaml"),
        "a worker gets no PKI"
    );
    let token = std::fs::read_to_string(certs.join("bootstrap-token")).unwrap();
    let secret = token.trim().split_once('.').unwrap().1.to_string();
    let (_, out) = sh(
        d,
        inv,
        "lab-5",
        "grep -c \"token: \" /etc/kubernetes/groundup/join.yaml",
    );
    assert_eq!(out.trim(), "1", "the join configuration carries the token");

    let (code, v) = run_json(d, inv, &args);
    assert_eq!((code, counts(&v).0, counts(&v).2), (0, 0, 0), "second apply: {v:#}");

    // Issue 10, defect 3: `kubeadm reset -f` empties /etc/kubernetes/pki. Resuming a journal that
    // recorded every one of those writes must place them all again (the old journal skipped them,
    // and kubeadm init then made its own CA).
    let (st, out) = sh(d, inv, "lab-4", "rm -rf /etc/kubernetes/pki");
    assert_eq!(st, 0, "{out}");
    unfinish_journal(d);
    let (code, v) = run_json(
        d,
        inv,
        &[
            "apply",
            "--resume",
            "--until",
            "kubeadm-config",
            "--certs-dir",
            certs.to_str().unwrap(),
        ],
    );
    assert_eq!((code, counts(&v).2), (0, 0), "{v:#}");
    assert_eq!(
        counts(&v).0,
        8 + 2 * 7,
        "every shared and own PKI file placed again: {v:#}"
    );
    assert!(v["notes"].to_string().contains("resuming run"), "{v:#}");
    let (_, out) = sh(d, inv, "lab-4", list);
    for (path, (mode, sum)) in want.iter().filter(|(p, _)| p.starts_with("/etc/kubernetes/pki/")) {
        assert!(
            out.contains(&format!("{mode} {path} {sum}")),
            "lab-4: {path} not back\n{out}"
        );
    }
    pki_status_sees_expiry_and_drift(d, inv, &certs);
    crate::lab_diagnose::diagnose_bundle_holds_no_secret(d, inv, &certs);
    secret
}

/// Issue 12: `pki status` reads the certificates placed on the hosts: all fine and a year ahead,
/// all `expiring` under a 400-day threshold, and one file altered on lab-4 shown as drift alone.
fn pki_status_sees_expiry_and_drift(d: &Path, inv: &Path, certs: &Path) {
    let status = |extra: &[&str]| {
        let mut args = vec!["pki", "status", "--certs-dir", certs.to_str().unwrap()];
        args.extend_from_slice(extra);
        run_json(d, inv, &args)
    };
    let (code, v) = status(&[]);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(code, 0, "{v:#}");
    let apiserver = rows
        .iter()
        .find(|r| r["host"] == "lab-4" && r["file"] == "/etc/kubernetes/pki/apiserver.crt")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(
        (apiserver["subject"].as_str(), apiserver["issuer"].as_str()),
        (Some("kube-apiserver"), Some("kubernetes"))
    );
    assert!(apiserver["days_left"].as_i64().unwrap() > 300, "{apiserver}");
    assert!(
        rows.iter().any(|r| r["file"] == "/etc/kubernetes/admin.conf"),
        "the kubeconfigs' client certificates too"
    );
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{v:#}");
    // Leaves live a year, CAs (self-signed: subject = issuer) ten.
    let (code, v) = status(&["--warn-days", "400"]);
    assert_eq!(code, 1, "{v:#}");
    for r in v["rows"].as_array().unwrap() {
        let leaf = r["subject"] != r["issuer"];
        assert_eq!(r["status"], if leaf { "expiring" } else { "ok" }, "{r}");
    }

    let f = "/etc/kubernetes/pki/front-proxy-client.crt";
    let (st, _) = sh(d, inv, "lab-4", &format!("echo '# altered by hand' >> {f}"));
    assert_eq!(st, 0);
    let (code, v) = status(&[]);
    assert_eq!(code, 1, "{v:#}");
    let bad: Vec<(&str, &str)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "ok")
        .map(|r| (r["file"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(bad, [(f, "drift")], "{v:#}");
    let (st, _) = sh(d, inv, "lab-4", &format!("sed -i '$ d' {f}"));
    assert_eq!(st, 0);
}

/// Marks the apply journal in `d/state` unfinished, as a run interrupted after its last step
/// leaves it, so that `--resume` continues it.
fn unfinish_journal(d: &Path) {
    let dir = d.join("state/journal");
    let f = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let mut j: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    j["finished"] = Value::Bool(false);
    std::fs::write(&f, j.to_string()).unwrap();
}

fn journal(state: &Path) -> Option<Value> {
    let dir = state.join("journal");
    let f = std::fs::read_dir(dir).ok()?.next()?.ok()?.path();
    serde_json::from_str(&std::fs::read_to_string(f).ok()?).ok()
}

#[test]
fn a_host_killed_mid_apply_fails_alone_and_resume_finishes_it_without_redoing_steps() {
    reset(&["lab-7", "lab-8", "lab-9"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inv = inventory(d, &[7, 8, 9], "");
    let state = d.join("state");
    let child = apply_until_runtime(d, &inv, &state).spawn().unwrap();
    // Pull the plug on lab-9 once it has finished prepare-os (its three steps are journaled).
    kill_after_prepare_os(|| journal(&state), "lab-9", "lab-9");
    let out = child.wait_with_output().unwrap();
    let v = json(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a partial apply exits 1: {v:#}");
    let host = |v: &Value, n: &str| {
        v["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == n)
            .cloned()
            .unwrap()
    };
    for n in ["lab-7", "lab-8"] {
        let h = host(&v, n);
        assert!(h["failed"].is_null(), "{n} must finish: {h:#}");
        assert_eq!(
            h["done"].as_array().unwrap().last().unwrap()["phase"],
            "container-runtime",
            "{h:#}"
        );
    }
    let h9 = host(&v, "lab-9");
    let failed_phase = h9["failed"]["phase"].as_str().unwrap_or_default().to_string();
    assert!(
        ["runtime-packages", "container-runtime"].contains(&failed_phase.as_str()),
        "{h9:#}"
    );
    assert!(
        h9["done"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["phase"] == "prepare-os"),
        "{h9:#}"
    );

    // The host comes back (same disk); --resume completes it and leaves the others alone.
    assert!(Std::new(root().join("scripts/lab"))
        .args(["start", "lab-9"])
        .status()
        .unwrap()
        .success());
    let (code, v) = run_json(d, &inv, &["apply", "--resume", "--until", "container-runtime"]);
    assert_eq!(code, 0, "{v:#}");
    assert!(v["notes"].to_string().contains("resuming run"), "{v:#}");
    for n in ["lab-7", "lab-8"] {
        let h = host(&v, n);
        assert!(
            h["done"].as_array().unwrap().iter().all(|p| p["changed"] == 0),
            "{n} was redone: {h:#}"
        );
    }
    let h9 = host(&v, "lab-9");
    let phase = |name: &str| {
        h9["done"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        phase("prepare-os")["changed"],
        0,
        "prepare-os steps were redone: {h9:#}"
    );
    assert_eq!(phase("container-runtime")["phase"], "container-runtime");
    let (st, out) = sh(
        d,
        &inv,
        "lab-9",
        "systemctl is-active containerd && containerd config dump | grep -c 'SystemdCgroup = true'",
    );
    assert_eq!((st, out.trim()), (0, "active\n1".trim()), "{out}");

    // Issue 10, defect 3, the other case: the inventory's sandbox image changed and the new
    // containerd config was written, but the run was interrupted before the restart (the state
    // is made here by writing that config as groundup renders it). The file is current, so only
    // containerd's start time can say it runs the old one: --resume restarts it.
    let inv2 = inventory(d, &[7, 8, 9], "sandbox_image = \"registry.k8s.io/pause:3.9\"\n");
    let rendered = d.join("rendered");
    let st = groundup(d)
        .args(["render", "--os", "debian-12", "-i"])
        .arg(&inv2)
        .arg("--out")
        .arg(&rendered)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let config = std::fs::read(rendered.join("lab-8/etc/containerd/config.toml")).unwrap();
    assert!(String::from_utf8_lossy(&config).contains("pause:3.9"));
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&config)
    };
    let (_, out) = sh(
        d,
        &inv2,
        "lab-8",
        &format!(
            "sleep 1.1; echo {b64} | base64 -d > /etc/containerd/config.toml; \
             systemctl show -p ActiveEnterTimestamp --value containerd"
        ),
    );
    let before = out.trim().to_string();
    let (code, v) = run_json(d, &inv2, &["plan", "--until", "container-runtime", "--on", "lab-8"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(counts(&v).0, 1, "only the restart is planned: {v:#}");
    assert!(v.to_string().contains("it runs with an older configuration"), "{v:#}");
    unfinish_journal(d);
    let (code, v) = run_json(
        d,
        &inv2,
        &["apply", "--resume", "--until", "container-runtime", "--on", "lab-8"],
    );
    assert_eq!((code, counts(&v).0), (0, 1), "{v:#}");
    let (_, out) = sh(
        d,
        &inv2,
        "lab-8",
        "systemctl show -p ActiveEnterTimestamp --value containerd",
    );
    assert_ne!(out.trim(), before, "containerd was restarted");
    let (code, v) = run_json(d, &inv2, &["apply", "--until", "container-runtime", "--on", "lab-8"]);
    assert_eq!((code, counts(&v).0), (0, 0), "then nothing: {v:#}");
}
