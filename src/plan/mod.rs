//! Planning: what each phase would do on each host, computed from fresh facts by pure functions.
//! Owns the step model ([`Step`], [`Action`], [`Item`]), the [`Phase`] trait and the one ordered
//! list of phases. `plan` prints these values and `apply` runs them: the same code path, so the
//! preview is the run. Nothing here touches a host or prints.

pub mod context;
pub mod etcd_access;
pub mod etcd_release;
pub mod guide;
pub mod phases;
pub mod remove;
pub mod renew;
pub mod reset;
pub mod restore;
pub mod show;
pub mod upgrade;

use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::digest::{hex, sha256_hex};
use crate::facts::HostFacts;
use crate::inventory::Host;

pub use context::Context;

/// One change on one host.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Stable within its phase (`modules-file`); with the phase it keys the resume journal.
    pub id: String,
    /// What a person reads: `write /etc/sysctl.d/99-kubernetes.conf`.
    pub title: String,
    pub action: Action,
    /// Shown when the step fails: what to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Shown as well only when the step's own output says it timed out (kubeadm's waits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// A bash script; the engine runs it with `set -euo pipefail` (see [`Action::script_text`]).
    Script { script: String },
    /// A file written atomically with this mode.
    Write {
        path: String,
        mode: u32,
        #[serde(flatten)]
        content: Content,
    },
    /// A local artifact uploaded to `path`, then checked against `sha256` on the host.
    Upload {
        path: String,
        local: PathBuf,
        sha256: String,
        size: u64,
    },
}

/// File content; secret content (proxy credentials) is never shown or serialized.
#[derive(Debug, Clone)]
pub struct Content {
    pub text: String,
    pub secret: bool,
    pub sha256: String,
}

impl Serialize for Content {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Content", 3)?;
        st.serialize_field("content", if self.secret { "****" } else { &self.text })?;
        st.serialize_field("secret", &self.secret)?;
        st.serialize_field("sha256", &self.sha256)?;
        st.end()
    }
}

impl Content {
    pub fn new(text: String) -> Self {
        Content {
            sha256: sha256_hex(text.as_bytes()),
            text,
            secret: false,
        }
    }
    pub fn secret(text: String) -> Self {
        Content {
            secret: true,
            ..Content::new(text)
        }
    }
}

impl Action {
    /// The exact script the engine sends for a `Script` action.
    pub fn script_text(body: &str) -> String {
        format!("set -euo pipefail\nexport LC_ALL=C DEBIAN_FRONTEND=noninteractive\n{body}")
    }
}

impl Step {
    pub fn script(id: &str, title: impl Into<String>, script: impl Into<String>) -> Step {
        Step {
            id: id.into(),
            title: title.into(),
            action: Action::Script { script: script.into() },
            hint: None,
            on_timeout: None,
        }
    }
    pub fn write(id: &str, path: &str, mode: u32, content: Content) -> Step {
        Step {
            id: id.into(),
            title: format!("write {path}"),
            action: Action::Write {
                path: path.into(),
                mode,
                content,
            },
            hint: None,
            on_timeout: None,
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Step {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_timeout_hint(mut self, hint: impl Into<String>) -> Step {
        self.on_timeout = Some(hint.into());
        self
    }
    /// The hint for this step's failure, from what it printed (issue 21): kubeadm's preflight
    /// errors (`[ERROR ExternalEtcdVersion]: …`) are named first, as the cause; the timeout advice
    /// follows only a timeout; the step's own hint always closes.
    pub fn failure_hint(&self, stderr: &str) -> String {
        let mut parts = Vec::new();
        let checks: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.trim().strip_prefix("[ERROR ")?.split_once(']').map(|(c, _)| c))
            .collect();
        if !checks.is_empty() {
            parts.push(format!(
                "kubeadm's preflight refused: {} (the lines above say why); fix that on the host, then run again",
                checks.join(", ")
            ));
        }
        let lower = stderr.to_ascii_lowercase();
        if lower.contains("timed out") || lower.contains("deadline exceeded") {
            parts.extend(self.on_timeout.clone());
        }
        parts.extend(self.hint.clone());
        parts.join("; ")
    }
    /// Identifies this exact change: the journal only skips a step whose fingerprint matches.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.id.as_bytes());
        match &self.action {
            Action::Script { script } => h.update(script.as_bytes()),
            Action::Write { path, mode, content } => {
                h.update(format!("{path}\0{mode:o}\0{}", content.sha256).as_bytes());
            }
            Action::Upload { path, sha256, .. } => h.update(format!("{path}\0{sha256}").as_bytes()),
        }
        hex(&h.finalize())[..16].to_string()
    }
}

/// A step to run, or the reason nothing needs doing.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Item {
    Change(Step),
    Unchanged { what: String, why: String },
}

impl Item {
    pub fn unchanged(what: impl Into<String>, why: impl Into<String>) -> Item {
        Item::Unchanged {
            what: what.into(),
            why: why.into(),
        }
    }
}

/// What one phase plans for one host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostSteps {
    pub items: Vec<Item>,
    /// Things an operator should know that change nothing (an old containerd, a container host).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl HostSteps {
    pub fn change(&mut self, s: Step) {
        self.items.push(Item::Change(s));
    }
    pub fn unchanged(&mut self, what: impl Into<String>, why: impl Into<String>) {
        self.items.push(Item::unchanged(what, why));
    }
    pub fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.items.iter().filter_map(|i| match i {
            Item::Change(s) => Some(s),
            Item::Unchanged { .. } => None,
        })
    }
}

/// Why a phase cannot plan for a host (unsupported OS, a failed preflight check, missing
/// artifacts). Nothing is run on that host in that phase.
#[derive(Debug, Clone, Serialize)]
pub struct PlanError {
    pub message: String,
    pub hint: String,
}

impl PlanError {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        PlanError {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// One phase of `apply`. Implementations live one per file under `phases/`.
pub trait Phase: Send + Sync {
    /// The name `--until` takes and the journal records.
    fn name(&self) -> &'static str;
    /// Whether the phase has work on this host at all (by role).
    fn applies(&self, _cx: &Context, _host: &Host) -> bool {
        true
    }
    /// Run on one host at a time instead of in the window (control-plane joins).
    fn serial(&self) -> bool {
        false
    }
    /// A failure here stops the whole run before anything is changed (preflight).
    fn gate(&self) -> bool {
        false
    }
    /// Plans from the facts' `leftovers` section (what `reset` removes), which a run gathers
    /// only when one of its phases says so.
    fn reads_leftovers(&self) -> bool {
        false
    }
    /// Plans from the facts' `trust` section (the CA bundles a rotation of the kubernetes CA
    /// moves), gathered only when one of the run's phases says so.
    fn reads_trust(&self) -> bool {
        false
    }
    /// Compares what the inventory wants with the host's facts. Pure.
    fn plan(&self, cx: &Context, host: &Host, facts: &HostFacts) -> Result<HostSteps, PlanError>;
}

/// The plan of one phase for every host it applies to.
#[derive(Debug, Clone, Serialize)]
pub struct PhasePlan {
    pub phase: &'static str,
    pub hosts: Vec<HostPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostPlan {
    pub host: String,
    #[serde(flatten)]
    pub result: HostResult,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum HostResult {
    Planned(HostSteps),
    Error { error: PlanError },
}

/// Plans every phase of `phases` for `targets` from one set of facts (what `groundup plan` shows;
/// `apply` re-plans each phase from fresh facts with the same [`Phase::plan`]).
pub fn build(cx: &Context, phases: &[&dyn Phase], targets: &[(&Host, &HostFacts)]) -> Vec<PhasePlan> {
    phases
        .iter()
        .map(|p| PhasePlan {
            phase: p.name(),
            hosts: targets
                .iter()
                .filter(|(h, _)| p.applies(cx, h))
                .map(|(h, f)| HostPlan {
                    host: h.name.to_string(),
                    result: match p.plan(cx, h, f) {
                        Ok(s) => HostResult::Planned(s),
                        Err(error) => HostResult::Error { error },
                    },
                })
                .collect(),
        })
        .collect()
}

/// `changed`, `unchanged`, `failed`: the recap every plan and apply ends with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub changed: usize,
    pub unchanged: usize,
    pub failed: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "changed: {}  unchanged: {}  failed: {}",
            self.changed, self.unchanged, self.failed
        )
    }
}

pub fn count(plans: &[PhasePlan]) -> Counts {
    let mut c = Counts::default();
    for hp in plans.iter().flat_map(|p| &p.hosts) {
        match &hp.result {
            HostResult::Planned(s) => {
                for i in &s.items {
                    match i {
                        Item::Change(_) => c.changed += 1,
                        Item::Unchanged { .. } => c.unchanged += 1,
                    }
                }
            }
            HostResult::Error { .. } => c.failed += 1,
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::Step;

    fn init() -> Step {
        Step::script("kubeadm-init", "kubeadm init", "kubeadm init")
            .with_hint("read the kubeadm output above")
            .with_timeout_hint("raise the timeout")
    }

    #[test]
    fn a_failure_hint_comes_from_what_the_step_printed() {
        // kubeadm 1.36's refusal of Debian's etcd, as a real init printed it (issue 21).
        let preflight = "[preflight] Running pre-flight checks\nerror execution phase preflight: [preflight] Some fatal \
                         errors occurred:\n\t[ERROR ExternalEtcdVersion]: this version of kubeadm only supports external \
                         etcd version >= 3.5.24-0. Current version: 3.4.23\n";
        assert_eq!(
            init().failure_hint(preflight),
            "kubeadm's preflight refused: ExternalEtcdVersion (the lines above say why); fix that on the host, then \
             run again; read the kubeadm output above"
        );
        let timeout = "[wait-control-plane] Waiting for the kubelet to boot up the control plane\n\
                       error execution phase wait-control-plane: could not initialize a Kubernetes cluster: \
                       context deadline exceeded\n";
        assert_eq!(
            init().failure_hint(timeout),
            "raise the timeout; read the kubeadm output above"
        );
        assert_eq!(init().failure_hint("something else\n"), "read the kubeadm output above");
    }
}
