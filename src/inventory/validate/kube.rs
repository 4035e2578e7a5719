//! The tables for Kubernetes' own components: `[kubelet]`, `[kube_proxy]`, `[kubeadm]`, and
//! `[upgrade]` (how an upgrade rolls through them).

use super::super::raw::RawInventory;
use super::super::*;
use super::Ctx;

/// kubeadm v1beta4 `timeouts` keys, as the inventory writes them and as kubeadm names them.
pub const KUBEADM_TIMEOUTS: [(&str, &str); 7] = [
    (
        "control_plane_component_health_check",
        "controlPlaneComponentHealthCheck",
    ),
    ("kubelet_health_check", "kubeletHealthCheck"),
    ("kubernetes_api_call", "kubernetesAPICall"),
    ("etcd_api_call", "etcdAPICall"),
    ("tls_bootstrap", "tlsBootstrap"),
    ("discovery", "discovery"),
    ("upgrade_manifests", "upgradeManifests"),
];

pub(super) fn kube(cx: &mut Ctx, raw: &RawInventory) -> KubeSettings {
    let mut out = KubeSettings {
        upgrade_max_unavailable: 1,
        ..KubeSettings::default()
    };
    if let Some(m) = raw.upgrade.as_ref().and_then(|u| u.get_ref().max_unavailable.as_ref()) {
        if *m.get_ref() == 0 {
            cx.err(
                m.span(),
                "`max_unavailable = 0` would never upgrade a worker".to_string(),
                "must be at least 1",
                Some("use 1 (the default: one worker drained at a time) or more".into()),
            );
        } else {
            out.upgrade_max_unavailable = *m.get_ref();
        }
    }
    if let Some(k) = &raw.kubelet {
        out.allow_cgroup_v1 = k.get_ref().allow_cgroup_v1.as_ref().is_some_and(|b| *b.get_ref());
    }
    if let Some(p) = &raw.kube_proxy {
        let p = p.get_ref();
        if let Some(m) = &p.mode {
            match m.get_ref().as_str() {
                "iptables" | "ipvs" | "nftables" => out.proxy_mode = Some(m.get_ref().clone()),
                other => cx.err(
                    m.span(),
                    format!("kube-proxy mode `{other}` is not one kube-proxy knows"),
                    "unknown mode",
                    Some("use `iptables` (the default), `ipvs` or `nftables`".into()),
                ),
            }
        }
        out.conntrack_max_per_core = p.conntrack_max_per_core.as_ref().map(|c| *c.get_ref());
    }
    if let Some(t) = raw.kubeadm.as_ref().and_then(|k| k.get_ref().timeouts.as_ref()) {
        for (key, value) in t.get_ref() {
            let Some((_, kubeadm_name)) = KUBEADM_TIMEOUTS.iter().find(|(k, _)| k == key) else {
                let known: Vec<&str> = KUBEADM_TIMEOUTS.iter().map(|(k, _)| *k).collect();
                cx.err(
                    value.span(),
                    format!("`{key}` is not one of kubeadm's timeouts"),
                    "unknown timeout",
                    Some(format!("use one of: {}", known.join(", "))),
                );
                continue;
            };
            if go_duration(value.get_ref()) {
                out.kubeadm_timeouts
                    .insert(kubeadm_name.to_string(), value.get_ref().clone());
            } else {
                cx.err(
                    value.span(),
                    format!("`{}` is not a duration", value.get_ref()),
                    "not a duration",
                    Some("write it as kubeadm does, e.g. `10m`, `1h30m` or `90s`".into()),
                );
            }
        }
    }
    out
}

/// A positive Go duration made of whole h/m/s parts (`10m`, `1h30m`, `90s`).
fn go_duration(s: &str) -> bool {
    let mut digits = 0;
    let mut parts = 0;
    for c in s.chars() {
        match c {
            '0'..='9' => digits += 1,
            'h' | 'm' | 's' if digits > 0 => {
                digits = 0;
                parts += 1;
            }
            _ => return false,
        }
    }
    digits == 0 && parts > 0 && s.chars().any(|c| c.is_ascii_digit() && c != '0')
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_are_what_kubeadm_reads() {
        for ok in ["10m", "1h30m", "90s", "4m0s"] {
            assert!(super::go_duration(ok), "{ok}");
        }
        for bad in ["", "10", "m", "0s", "10 m", "1.5h", "-1m", "10min"] {
            assert!(!super::go_duration(bad), "{bad}");
        }
    }
}
