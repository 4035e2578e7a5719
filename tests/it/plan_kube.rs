//! `[kubelet]`, `[kube_proxy]` and `[kubeadm]` (issue 10): what each setting puts in the kubeadm
//! configurations, that nothing is added without them, the errors that point into the file, and
//! the cgroup v1 preflight they open.

use groundup::inventory::Inventory;
use groundup::plan::phases::kubeadm_config::config;
use groundup::plan::Context;
use groundup::preflight::Level;

use crate::common::{host_facts, root};
use crate::plan::{generated_pki, yaml_docs};

const SETTINGS: &str =
    "[kubelet]\nallow_cgroup_v1 = true\n\n[kube_proxy]\nmode = \"ipvs\"\nconntrack_max_per_core = 0\n\n\
                        [kubeadm.timeouts]\ncontrol_plane_component_health_check = \"10m\"\ntls_bootstrap = \"8m\"\n\n";

fn ha(extra: &str) -> Result<Inventory, String> {
    let path = root().join("inventory/ha.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("[[hosts]]", &format!("{extra}[[hosts]]"), 1);
    Inventory::parse(&path, text).map_err(|e| e.render_plain())
}

fn docs(inv: &Inventory, host: usize) -> Vec<serde_norway::Value> {
    let certs = generated_pki(inv);
    let cx = Context::with_certs(inv, Some(certs.path())).unwrap();
    yaml_docs(&config(&cx, &inv.hosts[host], None).unwrap().1)
}

fn kind<'a>(docs: &'a [serde_norway::Value], kind: &str) -> Option<&'a serde_norway::Value> {
    docs.iter().find(|d| d["kind"].as_str() == Some(kind))
}

#[test]
fn each_setting_lands_in_the_kubeadm_configuration_that_owns_it() {
    let inv = ha(SETTINGS).unwrap();
    let init = docs(&inv, 0);
    let i = kind(&init, "InitConfiguration").unwrap();
    assert_eq!(
        i["nodeRegistration"]["ignorePreflightErrors"][0].as_str(),
        Some("SystemVerification")
    );
    assert_eq!(i["timeouts"]["controlPlaneComponentHealthCheck"].as_str(), Some("10m"));
    assert_eq!(i["timeouts"]["tlsBootstrap"].as_str(), Some("8m"));
    assert_eq!(
        kind(&init, "KubeletConfiguration").unwrap()["failCgroupV1"].as_bool(),
        Some(false)
    );
    let p = kind(&init, "KubeProxyConfiguration").unwrap();
    assert_eq!(p["apiVersion"].as_str(), Some("kubeproxy.config.k8s.io/v1alpha1"));
    assert_eq!(
        (p["mode"].as_str(), p["conntrack"]["maxPerCore"].as_u64()),
        (Some("ipvs"), Some(0))
    );
    // Joins (a control plane and a worker) carry the preflight exception and the timeouts; kubelet
    // and kube-proxy settings reach them through the cluster's ConfigMaps that init uploads.
    for host in [1, 3] {
        let join = docs(&inv, host);
        let j = kind(&join, "JoinConfiguration").unwrap();
        assert_eq!(
            j["nodeRegistration"]["ignorePreflightErrors"][0].as_str(),
            Some("SystemVerification")
        );
        assert_eq!(j["timeouts"]["tlsBootstrap"].as_str(), Some("8m"));
    }
}

#[test]
fn without_the_settings_nothing_is_added() {
    let inv = ha("").unwrap();
    let init = docs(&inv, 0);
    let i = kind(&init, "InitConfiguration").unwrap();
    assert!(i["nodeRegistration"].get("ignorePreflightErrors").is_none() && i.get("timeouts").is_none());
    assert!(kind(&init, "KubeletConfiguration")
        .unwrap()
        .get("failCgroupV1")
        .is_none());
    assert!(kind(&init, "KubeProxyConfiguration").is_none());
    let join = docs(&inv, 3);
    assert!(kind(&join, "JoinConfiguration").unwrap().get("timeouts").is_none());
}

#[test]
fn a_wrong_setting_names_its_line_and_the_fix() {
    for (bad, says) in [
        (
            "[kube_proxy]\nmode = \"userspace\"\n\n",
            "use `iptables` (the default), `ipvs` or `nftables`",
        ),
        (
            "[kubeadm.timeouts]\ncontrol_plane = \"10m\"\n\n",
            "use one of: control_plane_component_health_check",
        ),
        (
            "[kubeadm.timeouts]\ndiscovery = \"10 minutes\"\n\n",
            "e.g. `10m`, `1h30m` or `90s`",
        ),
        ("[kubelet]\nallow_cgroupv1 = true\n\n", "unknown field"),
    ] {
        let err = ha(bad).unwrap_err();
        assert!(err.contains("ha.toml") && err.contains(says), "{bad}\n{err}");
        assert!(
            err.contains(":17:") || err.contains(":18:") || err.contains(":19:") || err.contains(":20:"),
            "names the line: {err}"
        );
    }
}

#[test]
fn cgroup_v1_fails_preflight_for_kubelet_1_35_and_later_unless_allowed() {
    let v1 = host_facts("debian-12", 0.1);
    let check = |inv: &Inventory| {
        groundup::preflight::host_checks(inv, &inv.hosts[0], &v1)
            .into_iter()
            .find(|c| c.name == "cgroups")
            .unwrap()
    };
    let refused = check(&ha("").unwrap());
    assert_eq!(refused.level, Level::Fail, "{refused:?}");
    assert!(
        refused.hint.as_deref().unwrap_or("").contains("allow_cgroup_v1 = true"),
        "{refused:?}"
    );
    let allowed = check(&ha(SETTINGS).unwrap());
    assert_eq!(allowed.level, Level::Warn, "{allowed:?}");
    let path = root().join("inventory/ha.toml");
    let old = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"1.36.3\"", "\"1.34.2\"");
    let old = Inventory::parse(&path, old).unwrap();
    assert_eq!(check(&old).level, Level::Warn, "kubelet 1.34 still runs on cgroup v1");
}
