//! The facts section `cluster`: what an initialised control plane's API says, read-only and only
//! where kube-apiserver's manifest and admin.conf exist. Its namespaces and nodes, the expiry of
//! each bootstrap token (never the token's secret part: only the Secret's name and `expiration`
//! are printed), and `helm list -A`. Each query must answer, or the whole section is unknown.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::paths;

/// The section's shell: three queries (kubectl starts once for namespaces and nodes together) in
/// one `&&` chain, so a query that fails leaves the last marker out.
pub fn query() -> String {
    let k = format!("KUBECONFIG={} kubectl --request-timeout=5s", paths::ADMIN_CONF);
    format!(
        "if [ -f {m} ] && [ -f {a} ]; then {k} get namespaces,nodes -o name \
         && echo @@tokens && {k} -n kube-system get secrets --field-selector type=bootstrap.kubernetes.io/token \
         -o jsonpath='{{range .items[*]}}{{.metadata.name}} {{.data.expiration}}{{\"\\n\"}}{{end}}' \
         && echo @@releases && KUBECONFIG={a} {h} list -A -o json; fi",
        m = paths::APISERVER_MANIFEST,
        a = paths::ADMIN_CONF,
        h = paths::HELM
    )
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterState {
    pub namespaces: Vec<String>,
    /// Names of the cluster's nodes.
    pub nodes: Vec<String>,
    /// Bootstrap token id → its expiry (Unix seconds), `None` when it never expires.
    pub tokens: BTreeMap<String, Option<i64>>,
    pub releases: Vec<Release>,
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
    Some(ClusterState {
        namespaces: names(objects, "namespace/"),
        nodes: names(objects, "node/"),
        tokens: tokens.lines().filter_map(token).collect(),
        releases: serde_json::from_str(releases.trim()).unwrap_or_default(),
    })
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
    fn token_expiry_is_decoded_and_a_token_without_one_never_expires() {
        // base64("2026-11-25T09:30:00Z")
        let t = token("bootstrap-token-abcdef MjAyNi0xMS0yNVQwOTozMDowMFo=").unwrap();
        assert_eq!(t, ("abcdef".into(), Some(1_795_599_000)));
        assert_eq!(token("bootstrap-token-ghijkl").unwrap(), ("ghijkl".into(), None));
        assert_eq!(token("other-secret abc"), None);
        assert_eq!(token("bootstrap-token-x not-base64!"), None);
    }
}
