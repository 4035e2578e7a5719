//! `upgrade`: three parts run in turn (`plan::upgrade`): the control plane (gate, images,
//! kubeadm, `kubeadm upgrade apply/node`), then each batch of nodes (drain, kubelet, uncordon),
//! then apply's phases whose files follow the version (sandbox image, kubeadm configuration, API
//! endpoint, pod network, add-ons). A failure stops the upgrade where it is; running it again
//! goes on from there, because every step is planned from the versions the hosts report.

use super::Action;
use crate::plan::{phases, upgrade, Phase};

/// apply's phases that re-render what follows the Kubernetes version, after the nodes.
const FINISH: &[&dyn Phase] = &[
    &phases::container_runtime::SandboxImage,
    &phases::kubeadm_config::KubeadmConfig,
    &phases::api_endpoint::ApiEndpoint,
    &phases::pod_network::PodNetwork,
    &phases::api_endpoint::KubeVip,
    &phases::addons::Addons,
];

fn action(phases: &[&'static dyn Phase]) -> Action {
    Action {
        name: "upgrade",
        phases: phases.to_vec(),
        destructive: false,
        keep_going: false,
    }
}

pub fn control_plane() -> Action {
    action(upgrade::CONTROL_PLANE)
}

pub fn nodes() -> Action {
    action(upgrade::NODES)
}

pub fn finish() -> Action {
    action(FINISH)
}

/// Every phase, in the order the parts run them (what the preview plans).
pub fn all() -> Vec<&'static dyn Phase> {
    [upgrade::CONTROL_PLANE, upgrade::NODES, FINISH].concat()
}
