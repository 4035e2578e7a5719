//! One phase on one host: plan from the fresh facts, run each change in order, record it in the
//! journal, stop at the first failure; then leave the host's marker. A step the fresh facts plan
//! always runs, resumed or not: the journal records, it never decides (issue 10, defect 3).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::exec::{ExecError, Request, Transport};
use crate::facts::HostFacts;
use crate::inventory::{Host, Role};
use crate::paths;
use crate::plan::{Action, Context, Item, Phase, Step};
use crate::report::{Event, Reporter};

use super::journal::{self, Journal};
use super::FailedStep;

pub struct HostPhase<'a> {
    phase: &'a dyn Phase,
    host: &'a Host,
    run_id: &'a str,
    pub changed: usize,
    pub unchanged: usize,
    pub failed: Option<FailedStep>,
    /// Stopped before a step because another host's failure halted the phase.
    pub interrupted: bool,
    /// What the plan warned of (shown by `plan`; carried into the run's notes).
    pub warnings: Vec<String>,
    /// Go on with the next step after a failed one (reset: remove all that can be removed).
    keep_going: bool,
    marker: bool,
}

pub fn failed_exec(phase: &'static str, step: &str, e: &ExecError) -> FailedStep {
    FailedStep {
        phase,
        step: step.into(),
        error: e.to_string(),
        stderr_tail: String::new(),
        hint: e.hint(),
    }
}

impl<'a> HostPhase<'a> {
    pub fn new(phase: &'a dyn Phase, host: &'a Host, run_id: &'a str, keep_going: bool, marker: bool) -> Self {
        HostPhase {
            keep_going,
            marker,
            phase,
            host,
            run_id,
            changed: 0,
            unchanged: 0,
            failed: None,
            interrupted: false,
            warnings: vec![],
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the engine's shared state for one host and phase"
    )]
    pub async fn run<T: Transport>(
        mut self,
        cx: &Context<'_>,
        t: &T,
        facts: &Result<HostFacts, ExecError>,
        journal: &Mutex<Journal>,
        journal_path: &Path,
        stop: &AtomicBool,
        r: &Reporter,
    ) -> HostPhase<'a> {
        let name = self.phase.name();
        let host = self.host.name.to_string();
        let f = match facts {
            Ok(f) => f,
            Err(e) => {
                self.fail(failed_exec(name, "gather facts", e), journal, journal_path, stop);
                return self.done(r, "");
            }
        };
        let steps = match self.phase.plan(cx, self.host, f) {
            Ok(s) => s,
            Err(pe) => {
                let failed = FailedStep {
                    phase: name,
                    step: "plan".into(),
                    error: pe.message,
                    stderr_tail: String::new(),
                    hint: pe.hint,
                };
                self.fail(failed, journal, journal_path, stop);
                return self.done(r, "");
            }
        };
        self.warnings = steps.warnings;
        for item in steps.items {
            let step = match item {
                Item::Unchanged { .. } => {
                    self.unchanged += 1;
                    continue;
                }
                Item::Change(s) => s,
            };
            let fp = step.fingerprint();
            if stop.load(Ordering::SeqCst) {
                self.interrupted = true;
                break;
            }
            r.send(Event::HostStart {
                host: host.clone(),
                what: format!("{name}: {}", step.title),
            });
            match execute(t, self.host, &step).await {
                Ok(()) => {
                    self.changed += 1;
                    let mut j = journal.lock().unwrap_or_else(|e| e.into_inner());
                    j.record_done(&host, name, &step.id, &fp);
                    if let Err(e) = journal::save(journal_path, &j) {
                        tracing::warn!("{e}");
                    }
                }
                Err(mut failed) => {
                    failed.phase = name;
                    if self.keep_going && self.failed.is_some() {
                        tracing::warn!(host, step = failed.step, "failed too: {}", failed.error);
                        continue;
                    }
                    self.fail(failed, journal, journal_path, stop);
                    if !self.keep_going {
                        break;
                    }
                }
            }
        }
        if self.changed > 0 && self.marker {
            let mark = format!(
                "install -d -m 0755 \"$(dirname {m})\"\nprintf 'run=%s phase=%s\\n' {run} {name} > {m}",
                m = paths::MARKER,
                run = shell_words::quote(self.run_id),
            );
            if let Err(e) = t
                .run(self.host, &Request::script("write the groundup marker", mark))
                .await
            {
                tracing::warn!(host, "cannot write the marker: {e}");
            }
        }
        let detail = format!("{name}: {} changed, {} unchanged", self.changed, self.unchanged);
        self.done(r, &detail)
    }

    fn fail(&mut self, failed: FailedStep, journal: &Mutex<Journal>, journal_path: &Path, stop: &AtomicBool) {
        if !self.keep_going && (self.host.has(Role::ControlPlane) || self.host.has(Role::Etcd)) {
            stop.store(true, Ordering::SeqCst);
        }
        let mut j = journal.lock().unwrap_or_else(|e| e.into_inner());
        j.record_failed(self.host.name.as_str(), failed.phase, &failed.step, &failed.error);
        if let Err(e) = journal::save(journal_path, &j) {
            tracing::warn!("{e}");
        }
        self.failed = Some(failed);
    }

    fn done(self, r: &Reporter, detail: &str) -> HostPhase<'a> {
        let (ok, detail) = match &self.failed {
            Some(f) => (false, format!("{}: step `{}` failed: {}", f.phase, f.step, f.error)),
            None if self.interrupted => (false, format!("{}: stopped (another host failed)", self.phase.name())),
            None => (true, detail.to_string()),
        };
        r.send(Event::HostDone {
            host: self.host.name.to_string(),
            ok,
            detail,
        });
        self
    }
}

/// Runs one step's action; a non-zero exit or a transport error becomes a [`FailedStep`].
async fn execute<T: Transport>(t: &T, host: &Host, step: &Step) -> Result<(), FailedStep> {
    let phase = "";
    let fail_out = |out: &crate::exec::Output| FailedStep {
        phase,
        step: step.title.clone(),
        error: format!(
            "exited with status {}",
            out.status.map(|s| s.to_string()).unwrap_or_else(|| "(killed)".into())
        ),
        stderr_tail: out.stderr_tail(12),
        hint: step.failure_hint(&out.stderr),
    };
    let run = |req: Request| async move { t.run(host, &req).await.map_err(|e| failed_exec(phase, &step.title, &e)) };
    match &step.action {
        Action::Script { script } => {
            let out = run(Request::script(step.title.clone(), Action::script_text(script))).await?;
            if !out.success() {
                return Err(fail_out(&out));
            }
        }
        Action::Write { path, mode, content } => {
            let out = run(Request::upload(path.clone(), *mode, content.text.as_bytes().to_vec())).await?;
            if !out.success() {
                return Err(fail_out(&out));
            }
        }
        Action::Upload {
            path, local, sha256, ..
        } => {
            let bytes = std::fs::read(local).map_err(|e| FailedStep {
                phase,
                step: step.title.clone(),
                error: format!("cannot read `{}`: {e}", local.display()),
                stderr_tail: String::new(),
                hint: "the [artifacts] folder changed during the run".into(),
            })?;
            let out = run(Request::upload(path.clone(), 0o644, bytes)).await?;
            if !out.success() {
                return Err(fail_out(&out));
            }
            let q = shell_words::quote(path);
            let verify = format!(
                "if printf '%s  %s\\n' {sha256} {q} | sha256sum -c --status; then\n  \
                 printf '%s  %s\\n' {sha256} {q} > {q}.sha256\nelse\n  \
                 rm -f {q}\n  echo \"sha256 of {q} does not match the local artifact after upload\" >&2\n  exit 1\nfi"
            );
            let out = run(Request::script(format!("verify {path}"), Action::script_text(&verify))).await?;
            if !out.success() {
                return Err(fail_out(&out));
            }
        }
    }
    Ok(())
}
