//! Issue 13's tools on the real cluster of the end-to-end test (called from e2e's lifecycle,
//! after the apply that follows a reset): `status` says all is well and what it reads agrees with
//! the API; `diagnose` collects the cluster's nodes and pods, with no secret of the local PKI in
//! the bundle; and, when the kit holds a helm archive, a release from a local chart archive is
//! installed, then left alone by the next apply.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::lab_support::{groundup, walk};

fn say(s: &str) {
    let _ = writeln!(std::io::stderr(), "e2e: {s}");
}

pub(crate) fn tools(
    d: &Path,
    inv: &Path,
    apply: &dyn Fn(&Path, &str) -> Value,
    changed_hosts: &dyn Fn(&Value) -> Vec<String>,
) {
    // status: every node Ready with its internal IP, the control plane's pods ready, etcd
    // healthy, the add-ons ready, and nothing for plan to change.
    let certs = d.join("certs");
    let o = groundup(d)
        .args(["status", "-o", "json", "--progress", "none", "-i"])
        .arg(inv)
        .arg("--certs-dir")
        .arg(&certs)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("status: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    assert!(v["problems"].as_array().unwrap().is_empty(), "{v:#}");
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{v:#}");
    for n in nodes {
        assert_eq!(n["status"], "Ready", "{n}");
        assert!(n["internal_ip"].as_str().unwrap().starts_with("10.77.0."), "{n}");
    }
    assert_eq!(v["etcd"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["plan"]["changed"], 0, "{v:#}");
    say("status: all well");

    // diagnose: the bundle holds the cluster's view and no key of the local PKI.
    let bundle = d.join("diagnose.tar.gz");
    let o = groundup(d)
        .args(["diagnose", "--progress", "none", "-i"])
        .arg(inv)
        .arg("--out")
        .arg(&bundle)
        .arg("--certs-dir")
        .arg(&certs)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let mut text = String::new();
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&bundle).unwrap());
    for e in tar::Archive::new(gz).entries().unwrap() {
        let mut e = e.unwrap();
        std::io::Read::read_to_string(&mut e, &mut text).unwrap();
    }
    assert!(
        text.contains("kube-apiserver-lab-16"),
        "the cluster's pods are in the bundle"
    );
    for f in walk(&certs) {
        if f.extension().is_some_and(|x| x == "key") {
            let key = std::fs::read_to_string(&f).unwrap();
            for l in key.lines().filter(|l| !l.starts_with("-----") && l.len() > 20) {
                assert!(!text.contains(l), "{} is in the bundle", f.display());
            }
        }
    }
    say("diagnose: bundle without secrets");

    // A local chart archive, where the kit has helm.
    let kit = std::env::var_os("GROUNDUP_E2E_ARTIFACTS")
        .map(std::path::PathBuf::from)
        .unwrap();
    let helm = std::fs::read_dir(&kit).unwrap().filter_map(|e| {
        let n = e.ok()?.file_name().to_string_lossy().into_owned();
        n.strip_prefix("helm-")?
            .strip_suffix("-linux-amd64.tar.gz")
            .map(String::from)
    });
    let Some(version) = helm.into_iter().next() else {
        say("local chart: NOT RUN: the kit has no helm-<version>-linux-amd64.tar.gz");
        return;
    };
    let chart = d.join("charts/hello-0.1.0.tgz");
    crate::plan_charts::chart_archive(&chart, "hello", "0.1.0");
    let text = std::fs::read_to_string(inv).unwrap().replace(
        "[helm]\ninstall = false\n",
        &format!(
            "[helm]\nversion = \"{version}\"\n\n[[helm.releases]]\nname = \"hello\"\nchart = \"{}\"\nversion = \"0.1.0\"\nnamespace = \"fiware\"\n",
            chart.display()
        ),
    );
    let with_chart = inv.with_file_name("with-chart.toml");
    std::fs::write(&with_chart, text).unwrap();
    let v = apply(&with_chart, "apply with a local chart");
    assert_eq!(changed_hosts(&v), ["lab-16"], "{v:#}");
    let (st, out) = crate::lab_support::sh(
        d,
        &with_chart,
        "lab-16",
        "kubectl --kubeconfig /etc/kubernetes/admin.conf -n fiware get configmap hello-hello -o jsonpath={.data.from}",
    );
    assert!(st == 0 && out.contains("a local chart archive"), "exit {st}: {out}");
    let v = apply(&with_chart, "apply again with the chart");
    assert_eq!(v["changed"], 0, "deployed: left alone: {v:#}");
}
