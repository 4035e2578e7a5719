//! The facts sections that ask Kubernetes itself, read-only:
//! - `cluster`, where kube-apiserver's manifest and admin.conf exist: namespaces, nodes (and which
//!   carry the control-plane label), kube-system's config maps, every DaemonSet's first container
//!   (image and args), the expiry of each bootstrap token (never the token's secret part: only
//!   the Secret's name and `expiration` are printed), and `helm list -A`. Each query must answer
//!   with admin.conf's rights, or the whole section is unknown.
//! - `apiserver`, on the same hosts: whether this host's own API server answers `/readyz`.
//! - `membership`, on every host with kubelet.conf: the Node names the API lists with kubelet's
//!   own credentials, so a join is done when the API says so, not when a file exists (issue 10).
//!
//! On a control plane, each first waits (at most [`SETTLE_SECS`]) for the API while a restart is
//! under way there: kubelet started, or the API server's manifest changed, within [`RECENT_SECS`]
//! (a boot after a power cut, an upgrade's kubelet or static pods, a renewal); never while a
//! restore has parked the manifest, when the API is down on purpose. A restart groundup caused,
//! or one minutes old, never fails a run; an API down for longer is reported at once (issue 21,
//! defects 3 and 4).

use std::collections::BTreeMap;

use base64::Engine;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::paths;

/// The object listing's columns, tab-separated: kind, namespace, name, labels (JSON), for a
/// DaemonSet its first container's image and args (JSON), and for a Node kubelet's version, its
/// conditions' types and statuses (space-separated, in the same order) and `spec.unschedulable`.
const OBJECTS: &str = "{range .items[*]}{.kind}{\"\\t\"}{.metadata.namespace}{\"\\t\"}{.metadata.name}{\"\\t\"}\
{.metadata.labels}{\"\\t\"}{.spec.template.spec.containers[0].image}{\"\\t\"}{.spec.template.spec.containers[0].args}{\"\\t\"}\
{.status.nodeInfo.kubeletVersion}{\"\\t\"}{.status.conditions[*].type}{\"\\t\"}{.status.conditions[*].status}{\"\\t\"}\
{.spec.unschedulable}{\"\\n\"}{end}";

/// How long a restart counts as under way, and how long the facts wait for the API through it.
pub const RECENT_SECS: u64 = 300;
pub const SETTLE_SECS: u64 = 150;

/// Shell: on a host whose API server runs from `manifest` (never while a restore has parked it),
/// when kubelet started, or `manifest` changed, within [`RECENT_SECS`], runs `probe` every 2 s
/// until it succeeds or [`SETTLE_SECS`] pass. Prints nothing.
fn settle(manifest: &str, probe: &str) -> String {
    format!(
        "_now=$(date +%s); _up=$(cut -d. -f1 /proc/uptime); \
         _ks=$(systemctl show -p ActiveEnterTimestampMonotonic --value kubelet 2>/dev/null); \
         _ka=$(( _up - ${{_ks:-0}} / 1000000 )); _ma=$(( _now - $(stat -c %Y {manifest} 2>/dev/null || echo 0) )); \
         if [ -f {manifest} ] && systemctl is-active -q kubelet && {{ [ \"$_ka\" -lt {RECENT_SECS} ] || [ \"$_ma\" -lt {RECENT_SECS} ]; }}; then \
         _end=$(( _now + {SETTLE_SECS} )); \
         until {probe} >/dev/null 2>&1 || [ \"$(date +%s)\" -ge \"$_end\" ]; do sleep 2; done; fi; "
    )
}

/// `/readyz` of this host's own API server (anonymously: kubeadm's clusters allow it).
fn own_readyz() -> String {
    format!(
        "[ \"$(curl -s --max-time 3 --cacert {pki}/ca.crt --resolve kubernetes:6443:127.0.0.1 https://kubernetes:6443/readyz)\" = ok ]",
        pki = paths::KUBE_PKI
    )
}

/// The section's shell: three kubectl queries (one start for every cluster-wide kind, the
/// ClusterRoleBindings among them; kube-system's config maps; the bootstrap tokens' expiry) and
/// `helm list`, all at once, each into its own file; printed in order only when every kubectl
/// query answered, so a query that fails leaves the section empty (unknown), never partial. helm
/// may be absent: its answer is printed as it came.
pub fn query() -> String {
    let k = format!("KUBECONFIG={} kubectl --request-timeout=5s", paths::ADMIN_CONF);
    format!(
        "if [ -f {m} ] && [ -f {a} ] && _c=$(mktemp -d); then {settle}\
         {k} get namespaces,nodes,daemonsets,clusterrolebindings -A -o jsonpath='{OBJECTS}' >\"$_c/1\" & _p1=$!; \
         {k} -n kube-system get configmaps -o name >\"$_c/2\" & _p2=$!; \
         {k} -n kube-system get secrets --field-selector type=bootstrap.kubernetes.io/token \
         -o jsonpath='{{range .items[*]}}{{.metadata.name}} {{.data.expiration}}{{\"\\n\"}}{{end}}' >\"$_c/4\" & _p4=$!; \
         KUBECONFIG={a} {h} list -A -o json >\"$_c/5\" & \
         _ok=0; for _p in $_p1 $_p2 $_p4; do wait $_p || _ok=1; done; wait; \
         [ $_ok = 0 ] && cat \"$_c/1\" \"$_c/2\" && echo @@tokens && cat \"$_c/4\" \
         && echo @@releases && cat \"$_c/5\"; rm -rf \"$_c\"; fi",
        m = paths::APISERVER_MANIFEST,
        a = paths::ADMIN_CONF,
        h = paths::HELM,
        settle = settle(paths::APISERVER_MANIFEST, &own_readyz())
    )
}

/// The `apiserver` section: this host's own API server, asked for `/readyz` at 127.0.0.1 (the
/// name checked is `kubernetes`, a SAN of every apiserver certificate, against the cluster CA).
/// curl asks first, anonymously, as kubeadm's clusters allow for `/readyz`: an `ok` from it is
/// final; any other answer (curl missing, anonymous access refused, not ready) is asked again by
/// kubectl with admin.conf's credentials, whose answer stands. Prints nothing where there is no
/// kube-apiserver manifest.
pub fn apiserver_query() -> String {
    format!(
        "if [ -f {m} ] && [ -f {a} ]; then {settle}\
         r=$(curl -s --max-time 5 --cacert {pki}/ca.crt --resolve kubernetes:6443:127.0.0.1 https://kubernetes:6443/readyz 2>/dev/null); \
         if [ \"$r\" = ok ]; then echo ok; else \
         kubectl --kubeconfig={a} --server=https://127.0.0.1:6443 --tls-server-name=kubernetes \
         --request-timeout=5s get --raw=/readyz 2>&1 | head -c 200; echo; fi; fi",
        m = paths::APISERVER_MANIFEST,
        a = paths::ADMIN_CONF,
        pki = paths::KUBE_PKI,
        settle = settle(paths::APISERVER_MANIFEST, &own_readyz())
    )
}

/// The `membership` section, asked with the host's own kubelet credentials: nothing without
/// kubelet.conf; else `@@kubelet-conf`, then `@@client-cert-missing` when kubelet never finished
/// its TLS bootstrap, or the host's own Node as the API lists it followed by `@@answered`. A node
/// may only read its own Node object (the Node authorizer with selectors, on since 1.32), so it
/// lists by its own name: the client certificate's `CN=system:node:<name>`, the very name the API
/// authenticates it as (read by openssl; where openssl is missing, the API is asked with
/// `auth whoami`). No `@@answered` when the API did not answer.
pub fn membership_query() -> String {
    format!(
        "if [ -f {k} ]; then echo @@kubelet-conf; if [ ! -e {c} ]; then echo @@client-cert-missing; \
         else {settle}me=$(openssl x509 -noout -subject -nameopt RFC2253 -in {c} 2>/dev/null \
         | sed -n 's/.*CN=system:node:\\([^,]*\\).*/\\1/p'); \
         [ -n \"$me\" ] || me=$(kubectl --kubeconfig={k} --request-timeout=5s auth whoami -o jsonpath='{{.status.userInfo.username}}'); \
         [ -n \"$me\" ] && kubectl --kubeconfig={k} --request-timeout=5s get nodes --field-selector \"metadata.name=${{me#system:node:}}\" \
         -o jsonpath='{{range .items[*]}}{{.metadata.name}}{{\"\\n\"}}{{end}}' && echo @@answered; fi; fi",
        k = paths::KUBELET_CONF,
        c = KUBELET_CLIENT_CERT,
        settle = settle(
            paths::APISERVER_MANIFEST,
            &format!("kubectl --kubeconfig={} --request-timeout=3s get --raw=/readyz", paths::KUBELET_CONF)
        )
    )
}

/// kubelet's client certificate, written when its TLS bootstrap (the heart of a join) finished.
pub const KUBELET_CLIENT_CERT: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";

/// What a host knows of its own place in the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub enum Membership {
    /// No kubelet.conf: never joined (or reset).
    #[default]
    None,
    /// kubelet.conf but no client certificate: a join stopped before the TLS bootstrap ended.
    NoClientCert,
    /// kubelet.conf and a certificate, but the API did not answer: nothing can be said.
    Unknown,
    /// The Node names the API lists.
    Listed(Vec<String>),
}

impl Membership {
    pub fn parse(text: &str) -> Membership {
        if text.trim().is_empty() {
            Membership::None
        } else if text.contains("@@client-cert-missing") {
            Membership::NoClientCert
        } else if let Some((names, _)) = text.split_once("@@answered") {
            Membership::Listed(
                names
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && *l != "@@kubelet-conf")
                    .map(String::from)
                    .collect(),
            )
        } else {
            Membership::Unknown
        }
    }
}

/// One DaemonSet's first container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DaemonSet {
    pub namespace: String,
    pub name: String,
    pub image: String,
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterState {
    pub namespaces: Vec<String>,
    /// Names of the cluster's nodes.
    pub nodes: Vec<String>,
    /// The nodes labelled `node-role.kubernetes.io/control-plane` (kubeadm's last step of a
    /// control-plane init or join, after its etcd member is promoted).
    pub control_planes: Vec<String>,
    /// What each Node reports (by name).
    pub node_info: BTreeMap<String, NodeInfo>,
    /// kube-system's config maps (`kubeadm-config` exists once an init finished its upload).
    pub kube_system_configmaps: Vec<String>,
    /// Every ClusterRoleBinding's name (`kubeadm:apiserver-kubelet-client` among them).
    pub cluster_role_bindings: Vec<String>,
    pub daemonsets: Vec<DaemonSet>,
    /// Bootstrap token id → its expiry (Unix seconds), `None` when it never expires.
    pub tokens: BTreeMap<String, Option<i64>>,
    pub releases: Vec<Release>,
}

/// One Node as the API reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// kubelet's version without the `v` (`1.36.2`); empty when not reported.
    pub kubelet_version: String,
    /// The `Ready` condition: `None` when the node has none yet.
    pub ready: Option<bool>,
    /// Cordoned.
    pub unschedulable: bool,
    /// The labels, as the API prints them (JSON).
    pub labels: String,
}

impl NodeInfo {
    pub fn has_label(&self, key: &str) -> bool {
        self.labels.contains(&format!("\"{key}\""))
    }
}

/// One entry of `helm list -A -o json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    /// `<chart>-<version>`
    pub chart: String,
    pub status: String,
}

/// `None` unless every query answered (the section ends with `@@releases` and helm's JSON).
pub fn parse(text: &str) -> Option<ClusterState> {
    let (head, releases) = text.split_once("@@releases\n")?;
    let (objects, tokens) = head.split_once("@@tokens\n")?;
    let mut st = ClusterState {
        kube_system_configmaps: names(objects, "configmap/"),
        cluster_role_bindings: names(objects, "clusterrolebinding.rbac.authorization.k8s.io/"),
        tokens: tokens.lines().filter_map(token).collect(),
        releases: serde_json::from_str(releases.trim()).unwrap_or_default(),
        ..Default::default()
    };
    for l in objects.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        let [kind, ns, name, labels, rest @ ..] = f.as_slice() else {
            continue;
        };
        match *kind {
            "Namespace" => st.namespaces.push(name.to_string()),
            "ClusterRoleBinding" => st.cluster_role_bindings.push(name.to_string()),
            "Node" => {
                st.nodes.push(name.to_string());
                let col = |i: usize| rest.get(i).copied().unwrap_or("");
                let ready = col(3)
                    .split(' ')
                    .zip(col(4).split(' '))
                    .find(|(t, _)| *t == "Ready")
                    .map(|(_, s)| s == "True");
                st.node_info.insert(
                    name.to_string(),
                    NodeInfo {
                        kubelet_version: col(2).trim_start_matches('v').to_string(),
                        ready,
                        unschedulable: col(5).trim() == "true",
                        labels: labels.to_string(),
                    },
                );
                if labels.contains("\"node-role.kubernetes.io/control-plane\"") {
                    st.control_planes.push(name.to_string());
                }
            }
            "DaemonSet" => st.daemonsets.push(DaemonSet {
                namespace: ns.to_string(),
                name: name.to_string(),
                image: rest.first().unwrap_or(&"").to_string(),
                args: rest
                    .get(1)
                    .and_then(|a| serde_json::from_str(a).ok())
                    .unwrap_or_default(),
            }),
            _ => {}
        }
    }
    Some(st)
}

impl ClusterState {
    pub fn daemonset(&self, namespace: &str, name: &str) -> Option<&DaemonSet> {
        self.daemonsets
            .iter()
            .find(|d| d.namespace == namespace && d.name == name)
    }
}

fn names(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(prefix))
        .map(String::from)
        .collect()
}

/// `bootstrap-token-<id> <base64 RFC 3339 expiry or nothing>`.
fn token(line: &str) -> Option<(String, Option<i64>)> {
    let mut f = line.split_whitespace();
    let id = f.next()?.strip_prefix("bootstrap-token-")?.to_string();
    let expires = match f.next() {
        None => None,
        Some(b64) => {
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            let text = String::from_utf8(raw).ok()?;
            Some(OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?.unix_timestamp())
        }
    };
    Some((id, expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_report_version_readiness_and_cordon() {
        // As kubectl 1.36.2 printed the OBJECTS columns on the end-to-end cluster (labels cut).
        let text = "Node\t\tlab-16\t{\"node-role.kubernetes.io/control-plane\":\"\"}\t\t\tv1.36.2\t\
                    MemoryPressure DiskPressure PIDPressure Ready\tFalse False False True\t\n\
                    Node\t\tlab-17\t{\"groundup.io/upgrade-cordoned\":\"true\"}\t\t\tv1.36.3\t\
                    MemoryPressure DiskPressure PIDPressure Ready\tFalse False False Unknown\ttrue\n\
                    Node\t\tnew\t{}\t\t\t\t\t\t\n\
                    @@tokens\n@@releases\n[]";
        let st = parse(text).unwrap();
        assert_eq!(st.control_planes, ["lab-16"]);
        let n = |name: &str| st.node_info[name].clone();
        assert_eq!(
            (
                n("lab-16").kubelet_version.as_str(),
                n("lab-16").ready,
                n("lab-16").unschedulable
            ),
            ("1.36.2", Some(true), false)
        );
        assert_eq!((n("lab-17").ready, n("lab-17").unschedulable), (Some(false), true));
        assert!(n("lab-17").has_label("groundup.io/upgrade-cordoned"));
        assert_eq!((n("new").ready, n("new").kubelet_version.as_str()), (None, ""));
    }

    #[test]
    fn token_expiry_is_decoded_and_a_token_without_one_never_expires() {
        // base64("2026-11-25T09:30:00Z")
        let t = token("bootstrap-token-abcdef MjAyNi0xMS0yNVQwOTozMDowMFo=").unwrap();
        assert_eq!(t, ("abcdef".into(), Some(1_795_599_000)));
        assert_eq!(token("bootstrap-token-ghijkl").unwrap(), ("ghijkl".into(), None));
        assert_eq!(token("other-secret abc"), None);
        assert_eq!(token("bootstrap-token-x not-base64!"), None);
    }
}
