//! Phase `join-token`: keeps the pre-made bootstrap token usable while hosts still have to join.
//! `kubeadm init` creates it valid for 24 h, so a host added to the inventory a day later could not
//! join. When the cluster's API (facts section `cluster`) shows inventory hosts that are not nodes
//! yet and the token is gone or expires within [`MARGIN_SECS`], the first control plane creates it
//! again, valid for 24 h, from the kubeadm configuration already on it
//! (`kubeadm token create --config`): the secret part never reaches a command line or the output.
//! With nothing left to join, an expired token stays expired.

use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::paths;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

use super::kubeadm_config::{bootstrap_token, first_control_plane};

pub struct JoinToken;

/// A token with less time left than this is renewed before joins (the joins of one apply follow
/// within minutes; an hour covers slow links and serial control-plane joins).
pub const MARGIN_SECS: i64 = 3600;

fn hours(secs: i64) -> String {
    format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
}

impl Phase for JoinToken {
    fn name(&self) -> &'static str {
        "join-token"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.has(Role::ControlPlane)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        const WHAT: &str = "bootstrap token";
        if first_control_plane(cx.inv).is_none_or(|f| f.name != host.name) {
            hs.unchanged(WHAT, "kept by the first control plane");
            return Ok(hs);
        }
        let files = &hf.facts.state.files;
        if !(files.contains_key(paths::APISERVER_MANIFEST) && files.contains_key(paths::KUBELET_CONF)) {
            hs.unchanged(WHAT, "kubeadm init creates it, valid for 24 h");
            return Ok(hs);
        }
        let token = bootstrap_token(cx)?;
        let why = match &hf.facts.state.cluster {
            // Initialised, but the API did not answer the facts' questions: renew to be safe; the
            // step fails with a clear message if the API is really down.
            None => "the API did not say whether it is still valid".to_string(),
            Some(c) => {
                let pending: Vec<&str> = cx
                    .inv
                    .hosts
                    .iter()
                    .filter(|h| h.is_node() && !c.nodes.iter().any(|n| n == h.name.as_str()))
                    .map(|h| h.name.as_str())
                    .collect();
                if pending.is_empty() {
                    hs.unchanged(WHAT, "every node of the inventory has joined");
                    return Ok(hs);
                }
                let joins = pending.join(", ");
                let now = hf.facts.clock.map(|c| c as i64);
                match (c.tokens.get(token.id()), now) {
                    (Some(None), _) => {
                        hs.unchanged(WHAT, format!("never expires; for {joins}"));
                        return Ok(hs);
                    }
                    (Some(Some(exp)), Some(now)) if exp - now > MARGIN_SECS => {
                        hs.unchanged(WHAT, format!("valid for {} more; for {joins}", hours(exp - now)));
                        return Ok(hs);
                    }
                    (Some(Some(exp)), Some(now)) if *exp > now => {
                        format!("{joins} must join and it expires in {}", hours(exp - now))
                    }
                    (Some(Some(_)), None) => format!("{joins} must join and the host's clock is unknown"),
                    (Some(Some(_)), Some(_)) => format!("{joins} must join and it has expired"),
                    (None, _) => format!("{joins} must join and it is gone (expired tokens are deleted)"),
                }
            }
        };
        hs.change(
            Step::script(
                "bootstrap-token",
                format!("renew bootstrap token {token} for 24 h: {why}"),
                format!(
                    "# the token comes from the InitConfiguration in {init}; kubeadm prints it, so \
                     stdout goes nowhere\n\
                     kubeadm token delete {id} >/dev/null 2>&1 || true\n\
                     kubeadm token create --config {init} >/dev/null",
                    init = paths::KUBEADM_INIT,
                    id = token.id()
                ),
            )
            .with_hint(format!(
                "the API server must answer on {} (`kubectl --kubeconfig {} get nodes`)",
                host.name,
                paths::ADMIN_CONF
            )),
        );
        Ok(hs)
    }
}
