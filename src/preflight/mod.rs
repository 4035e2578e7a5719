//! Preflight: pure checks over the inventory and gathered facts, per host and across the cluster
//! (node IPs unique, the VirtualBox NAT trap, clock skew). Decides nothing about exit codes and
//! prints nothing; `commands::check` and the apply preflight phase both use it.

mod cluster;
mod host;
mod node_ip;

use serde::Serialize;

pub use cluster::cluster_checks;
pub use host::host_checks;
pub use node_ip::{node_ip, NodeIp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Check {
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            level: Level::Ok,
            detail: detail.into(),
            hint: None,
        }
    }
    pub fn warn(name: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Check {
            name,
            level: Level::Warn,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
    pub fn fail(name: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Check {
            name,
            level: Level::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
}

/// Clock skew beyond this fails the check (TLS and etcd leases go wrong); beyond `WARN` it warns.
pub const SKEW_FAIL_SECS: f64 = 30.0;
pub const SKEW_WARN_SECS: f64 = 2.0;
/// kubeadm's own minimums for a control plane.
pub const MIN_CP_CPUS: u32 = 2;
pub const MIN_CP_MEMORY_MB: u64 = 1700;
