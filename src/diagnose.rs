//! `diagnose`, the pure part: the read-only scripts whose output becomes the bundle (per host, and
//! once for the cluster), their marked sections as files, and redaction. Secrets are removed
//! twice: on the host, before anything is sent (private key blocks, `*-key-data`, tokens,
//! `secret:` and password fields, credentials in URLs), and here, where every secret groundup
//! itself knows (the bootstrap token, the encryption key, every private key of the local PKI in
//! PEM and base64 form, the proxy URLs) is replaced wherever it still occurs.

use std::collections::BTreeMap;

use base64::Engine;

use crate::inventory::Inventory;
use crate::paths;

const MARK: &str = "@@diag:";
pub const REDACTED: &str = "<redacted>";

/// Files a host may hold that say how it was set up (each redacted on the host).
const FILES: &[&str] = &[
    "/etc/kubernetes/groundup/*.yaml",
    "/etc/kubernetes/*.conf",
    "/etc/kubernetes/manifests/*.yaml",
    "/var/lib/kubelet/config.yaml",
    "/var/lib/kubelet/kubeadm-flags.env",
    paths::CONTAINERD_CONFIG,
    paths::CRICTL,
    paths::HAPROXY_CFG,
    paths::ETCD_UNIT,
    paths::PROXY_ENV,
    paths::APT_PROXY,
    paths::CONTAINERD_PROXY,
];

const UNITS: &[&str] = &["kubelet", "containerd", "etcd", "haproxy"];

/// The host-side filter every dumped text goes through.
pub fn redact_fn() -> String {
    format!(
        "red() {{ sed -E \
         -e '/-----BEGIN [A-Z ]*PRIVATE KEY-----/,/-----END [A-Z ]*PRIVATE KEY-----/c\\\\{REDACTED} private key' \
         -e 's/((client-key-data|token|tlsBootstrapToken|certificateKey|secret|password|Password)(:|=)[[:space:]]*).+/\\1{REDACTED}/' \
         -e 's#(://[^:/@ ]+:)[^@ ]+@#\\1{REDACTED}@#g'; }}"
    )
}

/// Per host: journal tails and unit states (`systemctl status`), containers, addresses and routes, failed units, and the files of
/// [`FILES`] that exist, one marked section each (its name is the bundle's file name).
pub fn host_script(lines: u32) -> String {
    let mut s = format!("{}\nsec() {{ echo \"{MARK}$1\"; }}\n", redact_fn());
    for u in UNITS {
        s.push_str(&format!(
            "if systemctl cat {u}.service >/dev/null 2>&1; then sec journal-{u}.txt; journalctl -u {u} -n {lines} --no-pager 2>&1 | red || true; \
             sec status-{u}.txt; systemctl status {u} --no-pager -l -n 0 2>&1 | red || true; fi\n"
        ));
    }
    s.push_str(
        "sec crictl-ps.txt; crictl ps -a 2>&1 || true\n\
         sec ip-addr.txt; ip addr 2>&1\n\
         sec ip-route.txt; ip route 2>&1\n\
         sec systemctl-failed.txt; systemctl --failed --no-pager 2>&1 || true\n\
         sec disk.txt; df -h 2>&1 || true\n",
    );
    s.push_str(&format!(
        "for f in {}; do [ -f \"$f\" ] || continue; sec \"files$f\"; red < \"$f\" || true; done\ntrue\n",
        FILES.join(" ")
    ));
    s
}

/// Once, on a control plane with admin.conf: nodes and pods wide, and the events.
pub fn cluster_script() -> String {
    let k = format!("KUBECONFIG={} kubectl --request-timeout=10s", paths::ADMIN_CONF);
    format!(
        "{}\nsec() {{ echo \"{MARK}$1\"; }}\n\
         sec nodes-pods.txt; {k} get nodes,pods -A -o wide 2>&1 | red || true\n\
         sec events.txt; {k} get events -A --sort-by=.lastTimestamp 2>&1 | tail -n 1000 | red || true\n",
        redact_fn()
    )
}

/// The script's output as (file name, content).
pub fn sections(out: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![];
    for line in out.lines() {
        if let Some(name) = line.strip_prefix(MARK) {
            v.push((name.trim_start_matches('/').to_string(), String::new()));
        } else if let Some((_, text)) = v.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    v
}

/// Every secret groundup knows, from the local PKI (relative path → content) and the inventory;
/// the longest first, so a secret that contains another is replaced whole.
pub fn known_secrets(pki: &BTreeMap<String, String>, inv: &Inventory) -> Vec<String> {
    let mut s: Vec<String> = vec![];
    for (rel, text) in pki {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        if name == "bootstrap-token" {
            let t = text.trim();
            s.push(t.to_string());
            if let Some((_, secret)) = t.split_once('.') {
                s.push(secret.to_string());
            }
        } else if name == "encryption-key" {
            s.push(text.trim().to_string());
        } else if name.ends_with(".key") {
            s.push(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()));
            s.extend(text.lines().filter(|l| !l.starts_with("-----")).map(String::from));
        } else if name.ends_with(".conf") {
            s.extend(
                text.lines()
                    .filter_map(|l| l.trim().strip_prefix("client-key-data:"))
                    .map(|v| v.trim().to_string()),
            );
        }
    }
    if let Some(p) = &inv.node.proxy {
        for url in [&p.http, &p.https].into_iter().flatten() {
            // The credentials only: the rest of the URL says where the proxy is.
            let userinfo = url
                .expose()
                .split_once("://")
                .and_then(|(_, r)| r.split_once('@'))
                .map(|(ui, _)| ui);
            if let Some(ui) = userinfo {
                s.push(ui.split_once(':').map(|(_, pw)| pw).unwrap_or(ui).to_string());
            }
        }
    }
    s.retain(|x| x.len() >= 8);
    s.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    s.dedup();
    s
}

/// `text` with every known secret replaced; how many were.
pub fn scrub(text: &str, secrets: &[String]) -> (String, usize) {
    let mut out = text.to_string();
    let mut n = 0;
    for s in secrets {
        let c = out.matches(s.as_str()).count();
        if c > 0 {
            n += c;
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_files() {
        let s = sections("noise\n@@diag:journal-kubelet.txt\na\nb\n@@diag:files/etc/kubernetes/admin.conf\nc\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], ("journal-kubelet.txt".into(), "a\nb\n".into()));
        assert_eq!(s[1].0, "files/etc/kubernetes/admin.conf");
    }

    #[test]
    fn scrub_replaces_the_longest_first() {
        let secrets = vec!["abcdef.0123456789abcdef".to_string(), "0123456789abcdef".to_string()];
        let (t, n) = scrub("token abcdef.0123456789abcdef and 0123456789abcdef", &secrets);
        assert_eq!(t, "token <redacted> and <redacted>");
        assert_eq!(n, 2);
    }
}
