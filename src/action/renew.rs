//! `pki renew`: after the local reissue, the new PKI rolled out one host at a time
//! (`plan::renew`); a failed host stops the rollout with the others untouched.

use super::Action;
use crate::plan::renew;

pub fn renew() -> Action {
    Action {
        name: "pki renew",
        phases: renew::ALL.to_vec(),
        destructive: false,
        keep_going: false,
    }
}

/// `pki rotate-ca`: each stage is a renew rollout; the kubernetes CA's also moves every
/// kubelet's trust and what the API publishes, the front-proxy CA's the latter
/// (`plan::renew::ca`).
pub fn rotate(ca: &str) -> Action {
    Action {
        name: "pki rotate-ca",
        phases: match ca {
            "ca" => renew::KUBERNETES_CA.to_vec(),
            "front-proxy-ca" => renew::FRONT_PROXY_CA.to_vec(),
            _ => renew::ALL.to_vec(),
        },
        destructive: false,
        keep_going: false,
    }
}
