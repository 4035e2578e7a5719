//! The `trust` facts section, gathered only by a rotation of the kubernetes CA (`pki rotate-ca`):
//! which CAs each consumer of the cluster CA trusts or is signed by, read from the thing itself.
//! On every host: the CA data in kubelet.conf, kubelet's client certificate (its certificate
//! only, never the key beside it in the same file) and the controller manager's signing-cert
//! flag. Where admin.conf and the API server's manifest are: the CA bundles the API publishes
//! (`kube-root-ca.crt`, `extension-apiserver-authentication`, `cluster-info`) and the CA-trust
//! annotation of each system workload's pod template. Certificates are public; sets of them are
//! compared by their DER's sha256, so re-encoded PEM compares equal. Parser pure.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::paths;

/// The pod-template annotation a system workload carries once restarted to trust a CA set: the
/// set's fingerprint ([`fingerprint`]).
pub const ANNOTATION: &str = "groundup.io/ca-trust";
/// The namespaces whose DaemonSets and Deployments a rotation restarts (Kubernetes' own and
/// flannel's).
pub const SYSTEM_NAMESPACES: [&str; 2] = ["kube-system", "kube-flannel"];

/// The section's shell. Blocks start with `@@<name>`; a block the host cannot answer is absent.
pub fn query() -> String {
    let k = format!("KUBECONFIG={} kubectl --request-timeout=5s", paths::ADMIN_CONF);
    let cert_only = "sed -n '/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p'";
    format!(
        "if [ -f {kc} ]; then echo @@kubelet-conf-ca; sed -n 's/^ *certificate-authority-data: *//p' {kc} | head -n1 | base64 -d; fi; \
         if [ -f {cc} ]; then echo @@kubelet-client; {cert_only} {cc}; fi; \
         if [ -f {kcm} ]; then echo @@signer; grep -o -- '--cluster-signing-cert-file=[^ \"]*' {kcm} | cut -d= -f2; fi; \
         if [ -f {m} ] && [ -f {a} ]; then \
         echo @@root-ca; {k} -n kube-system get configmap kube-root-ca.crt -o jsonpath='{{.data.ca\\.crt}}' && \
         echo @@client-ca && {k} -n kube-system get configmap extension-apiserver-authentication \
         -o jsonpath='{{.data.client-ca-file}}{{\"\\n@@requestheader-ca\\n\"}}{{.data.requestheader-client-ca-file}}' && \
         echo @@cluster-info-ca && {k} -n kube-public get configmap cluster-info -o jsonpath='{{.data.kubeconfig}}' \
         | sed -n 's/^ *certificate-authority-data: *//p' | head -n1 | base64 -d && \
         echo @@workloads && {k} get daemonsets,deployments -A -o jsonpath='{{range .items[*]}}{{.metadata.namespace}} \
         {{.kind}} {{.metadata.name}} {{.spec.template.metadata.annotations.groundup\\.io/ca-trust}}{{\"\\n\"}}{{end}}' && \
         echo @@answered; fi",
        kc = paths::KUBELET_CONF,
        cc = super::cluster::KUBELET_CLIENT_CERT,
        kcm = KCM_MANIFEST,
        m = paths::APISERVER_MANIFEST,
        a = paths::ADMIN_CONF,
    )
}

/// The controller manager's static pod manifest.
pub const KCM_MANIFEST: &str = "/etc/kubernetes/manifests/kube-controller-manager.yaml";

/// A set of certificates, each the hex sha256 of its DER.
pub type CertSet = BTreeSet<String>;

/// The certificates of a PEM text, as a set (anything that is not a certificate is ignored).
pub fn cert_set(pem: &str) -> CertSet {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .filter_map(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| hex(&Sha256::digest(&p.contents)))
        .collect()
}

/// A short name for a set of CAs, for the workloads' annotation: the first 16 hex digits of
/// the sha256 of its sorted members.
pub fn fingerprint(set: &CertSet) -> String {
    let joined: Vec<&str> = set.iter().map(String::as_str).collect();
    hex(&Sha256::digest(joined.join(",").as_bytes()))[..16].to_string()
}

/// A system workload: namespace, kind (`DaemonSet`, `Deployment`), name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Workload {
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

impl Workload {
    /// `kubectl`'s name for it: `daemonset/kube-proxy`.
    pub fn resource(&self) -> String {
        format!("{}/{}", self.kind.to_lowercase(), self.name)
    }
}

/// What the API publishes, as the first control plane's admin sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Published {
    /// `kube-system/kube-root-ca.crt`: what every pod's service-account `ca.crt` becomes.
    pub root_ca: CertSet,
    /// `extension-apiserver-authentication`'s `client-ca-file`.
    pub client_ca: CertSet,
    /// … and its `requestheader-client-ca-file`.
    pub requestheader_ca: CertSet,
    /// The CA of `kube-public/cluster-info` (what joining nodes trust).
    pub cluster_info_ca: CertSet,
    /// Every DaemonSet and Deployment, with its [`ANNOTATION`] (empty when it has none).
    pub workloads: BTreeMap<Workload, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Trust {
    /// The CA data in kubelet.conf; `None` without kubelet.conf.
    pub kubelet_conf_ca: Option<CertSet>,
    /// kubelet's client certificate (PEM), when it has one.
    pub kubelet_client: Option<String>,
    /// The controller manager's `--cluster-signing-cert-file`, where it runs.
    pub signer: Option<String>,
    /// `None` where there is no API to ask, or it did not answer every query.
    pub published: Option<Published>,
}

pub fn parse(text: &str) -> Trust {
    let mut blocks: BTreeMap<&str, String> = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("@@") {
            current = Some(name.trim());
            blocks.entry(name.trim()).or_default();
        } else if let Some(c) = current {
            let b = blocks.entry(c).or_default();
            b.push_str(line);
            b.push('\n');
        }
    }
    let block = |n: &str| blocks.get(n).map(String::as_str);
    let published = blocks.contains_key("answered").then(|| Published {
        root_ca: cert_set(block("root-ca").unwrap_or("")),
        client_ca: cert_set(block("client-ca").unwrap_or("")),
        requestheader_ca: cert_set(block("requestheader-ca").unwrap_or("")),
        cluster_info_ca: cert_set(block("cluster-info-ca").unwrap_or("")),
        workloads: block("workloads")
            .unwrap_or("")
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let (namespace, kind, name) = (w.next()?, w.next()?, w.next()?);
                Some((
                    Workload {
                        namespace: namespace.into(),
                        kind: kind.into(),
                        name: name.into(),
                    },
                    w.next().unwrap_or("").to_string(),
                ))
            })
            .collect(),
    });
    Trust {
        kubelet_conf_ca: block("kubelet-conf-ca").map(cert_set),
        kubelet_client: block("kubelet-client")
            .filter(|p| p.contains("BEGIN CERTIFICATE"))
            .map(String::from),
        signer: block("signer").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        published,
    }
}

/// base64 of a PEM text, as kubeconfigs carry CA data.
pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}
