//! Validated identifiers: host (node) names and the cluster name. Construction is the only
//! place the naming rules live, so a value of these types is always valid.

use serde::Serialize;

/// A Kubernetes node name: a lowercase RFC 1123 DNS subdomain (labels of `a-z0-9-`, dots between).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct HostName(String);

/// The cluster name: one lowercase RFC 1123 label (it prefixes files and kubeconfig entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ClusterName(String);

impl HostName {
    /// Why `s` is not a valid node name, if it is not.
    pub fn problem(s: &str) -> Option<String> {
        if s.is_empty() {
            return Some("is empty".into());
        }
        if s.len() > 253 {
            return Some(format!("is {} characters long; the limit is 253", s.len()));
        }
        s.split('.').find_map(label_problem)
    }
}

impl ClusterName {
    pub fn problem(s: &str) -> Option<String> {
        if s.is_empty() {
            return Some("is empty".into());
        }
        label_problem(s)
    }
}

fn label_problem(l: &str) -> Option<String> {
    if l.is_empty() {
        return Some("has an empty label (two dots in a row, or a dot at an end)".into());
    }
    if l.len() > 63 {
        return Some(format!("has a label of {} characters; the limit is 63", l.len()));
    }
    if let Some(c) = l.chars().find(|c| c.is_ascii_uppercase()) {
        return Some(format!(
            "contains the uppercase letter `{c}`; node names must be lowercase"
        ));
    }
    if let Some(c) = l
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!("contains `{c}`; only a-z, 0-9, `-` and `.` are allowed"));
    }
    if l.starts_with('-') || l.ends_with('-') {
        return Some("starts or ends a label with `-`".into());
    }
    None
}

/// Construction through `problem`, and read access, for each name type.
macro_rules! validated_name {
    ($($t:ident),*) => {$(
        impl $t {
            pub fn new(s: &str) -> Result<Self, String> {
                match Self::problem(s) {
                    None => Ok(Self(s.to_string())),
                    Some(p) => Err(p),
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
validated_name!(HostName, ClusterName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lowercase_subdomains() {
        for ok in ["cp-1", "worker-10", "a", "node1.lab.example", "0abc"] {
            assert!(HostName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_kubelet_rejects() {
        for bad in ["Worker-1", "worker_1", "-a", "a-", "a..b", "", "ä"] {
            assert!(HostName::new(bad).is_err(), "{bad}");
        }
        assert!(HostName::new(&"a".repeat(64)).is_err());
        assert!(ClusterName::new("lab.one").is_err());
    }
}
