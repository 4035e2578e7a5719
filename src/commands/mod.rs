//! Command glue: load → select → connect → work → report, one file per command. The only layer
//! (with `report`) that prints; everything it calls returns values or sends events.

pub mod apply;
pub mod backup;
pub mod check;
pub mod class;
pub mod diagnose;
pub mod docs;
pub mod exec;
pub mod explain;
pub mod import;
pub mod kubeconfig;
pub mod pki;
pub mod pki_renew;
pub mod pki_rotate;
pub mod pki_status;
pub mod plan;
pub mod remove;
pub mod render;
pub mod reset;
pub mod restore;
pub mod status;
pub mod upgrade;

use std::path::PathBuf;

use crate::cli::Common;
use crate::exec::openssh::{persist, SshOptions, SshTransport};
use crate::exit;
use crate::inventory::{select::select, Host, Inventory, InventoryError};
use crate::report::{self, Reporter};

/// Why a command could not do its work, mapped to an exit code by `main`.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("{0}")]
    Usage(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Internal(String),
    /// A host could not be reached (the tunnel of `kubeconfig --tunnel`).
    #[error("{0}")]
    Unreachable(String),
    /// Another run holds the cluster's lock.
    #[error("{0}")]
    Locked(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Inventory(_) | Failure::Usage(_) => exit::USAGE,
            Failure::Io(_) => exit::FAILED,
            Failure::Internal(_) => exit::INTERNAL,
            Failure::Unreachable(_) => exit::UNREACHABLE,
            Failure::Locked(_) => exit::LOCKED,
        }
    }
}

/// What every host-touching command starts from.
pub struct Run {
    pub inventory: Inventory,
    pub targets: Vec<Host>,
    pub transport: SshTransport,
    pub reporter: Reporter,
    renderer: tokio::task::JoinHandle<()>,
    pub log_path: PathBuf,
    /// The cluster's lock, for commands that change hosts or cluster state ([`Run::start_locked`]).
    pub lock: Option<crate::lock::Lock>,
    pub state_dir: PathBuf,
}

impl Run {
    /// [`Run::start`] for a command that changes hosts: first takes the cluster's lock, so a second
    /// run on the same cluster refuses at once, before it connects anywhere.
    pub fn start_locked(c: &Common, command: &str) -> Result<Run, Failure> {
        let inventory = Inventory::load(&c.inventory)?;
        let state_dir = c.state_dir.clone().unwrap_or_else(crate::paths::default_state_dir);
        let lock =
            crate::lock::acquire(&state_dir, inventory.cluster.name.as_str(), command).map_err(Failure::Locked)?;
        let mut run = Self::start_with(c, command, inventory)?;
        tracing::info!(lock = %lock.path.display(), "cluster lock taken");
        run.lock = Some(lock);
        Ok(run)
    }

    pub fn start(c: &Common, command: &str) -> Result<Run, Failure> {
        let inventory = Inventory::load(&c.inventory)?;
        Self::start_with(c, command, inventory)
    }

    fn start_with(c: &Common, command: &str, inventory: Inventory) -> Result<Run, Failure> {
        let targets: Vec<Host> = select(&inventory, c.on.as_deref())
            .map_err(|e| Failure::Usage(e.to_string()))?
            .into_iter()
            .cloned()
            .collect();
        let log_dir = c.log_dir.clone().unwrap_or_else(crate::logging::default_dir);
        let log_path = crate::logging::init(&log_dir, command).map_err(|e| {
            Failure::Internal(format!(
                "cannot write the run log in `{}`: {e} (use --log-dir)",
                log_dir.display()
            ))
        })?;
        tracing::info!(inventory = %c.inventory.display(), hosts = targets.len(), command, "run started");
        let transport = SshTransport::new(SshOptions {
            accept_new_host_keys: c.accept_new_host_keys,
            persist: Some((persist::default_dir(), std::time::Duration::from_secs(c.ssh_persist))),
        })
        .map_err(|e| Failure::Internal(format!("cannot create the SSH control directory: {e}")))?;
        let (reporter, renderer) = report::start(c.progress);
        Ok(Run {
            inventory,
            targets,
            transport,
            reporter,
            renderer,
            log_path,
            lock: None,
            state_dir: c.state_dir.clone().unwrap_or_else(crate::paths::default_state_dir),
        })
    }

    /// Runs an action (not apply, which resumes its journal) on `hosts` with a journal of its own
    /// beside apply's (`<journal>.<action>.json`); `marker`: leave groundup's marker on hosts.
    pub async fn action(
        &self,
        cx: &crate::plan::Context<'_>,
        action: &crate::action::Action,
        hosts: &[Host],
        parallel: usize,
        marker: bool,
    ) -> crate::engine::Outcome {
        use crate::engine::{journal, Journal};
        let inv = &self.inventory;
        let name = action.name.replace(' ', "-");
        let journal_path = journal::path_for(&self.state_dir, inv.cluster.name.as_str(), &inv.path)
            .with_extension(format!("{name}.json"));
        let journal = Journal {
            runs: vec![format!("{name}-{}", journal::run_id())],
            inventory: inv.path.display().to_string(),
            phases: action.phases.iter().map(|p| p.name().to_string()).collect(),
            ..Journal::default()
        };
        let opts = crate::engine::Options {
            parallel,
            journal_path,
            resume: false,
            keep_going: action.keep_going,
            marker,
        };
        crate::engine::run(
            cx,
            &action.phases,
            hosts,
            &self.transport,
            &opts,
            journal,
            &self.reporter,
        )
        .await
    }

    /// Gathers the facts of `hosts` (one round each) and plans `phases` from them, as `plan` does.
    pub async fn plan(
        &self,
        cx: &crate::plan::Context<'_>,
        phases: &[&'static dyn crate::plan::Phase],
        hosts: &[Host],
        parallel: usize,
    ) -> (plan::PlanReport, u8) {
        self.reporter.send(report::Event::Phase {
            title: "gather facts".into(),
            hosts: hosts.len(),
        });
        let extra = crate::engine::extra_sections(phases);
        let gathered = crate::exec::window::for_each(hosts, parallel, |h| {
            crate::facts::gather_with(&self.transport, h, &extra)
        })
        .await;
        plan::build(cx, phases, hosts, &gathered)
    }

    /// Ends an action's command: `notes` go before the engine's own, connections close, and the
    /// summary is printed as `apply` prints it. Returns the outcome's exit code.
    pub async fn report(
        self,
        mut outcome: crate::engine::Outcome,
        mut notes: Vec<String>,
        output: crate::cli::OutputFormat,
        command: &str,
    ) -> Result<u8, Failure> {
        notes.append(&mut outcome.notes);
        outcome.notes = notes;
        let log = self.log_path.display().to_string();
        let inv_path = self.inventory.path.display().to_string();
        self.finish().await;
        apply::print_outcome(&outcome, output, &log, &inv_path, command)?;
        Ok(outcome.exit_code)
    }

    /// Closes connections and flushes progress output.
    pub async fn finish(self) {
        self.transport.close().await;
        drop(self.reporter);
        let _ = self.renderer.await;
    }
}

/// A run that goes on to `kubeadm init` with external etcd members whose etcd kubeadm would refuse
/// stops here, before any host is contacted (issue 21: three members were built first).
pub fn refuse_old_etcd(cx: &crate::plan::Context, phases: &[&'static dyn crate::plan::Phase]) -> Result<(), Failure> {
    if !phases.iter().any(|p| p.name() == "control-plane-init") {
        return Ok(());
    }
    match crate::plan::etcd_release::refusal(cx) {
        Some(why) => Err(Failure::Usage(format!("{}: {why}", cx.inv.path.display()))),
        None => Ok(()),
    }
}

/// A destructive action's consent: `--yes`, or `expected` typed on a terminal. Without a terminal
/// and without `--yes` it refuses (scripts must say so explicitly).
pub fn confirm(yes: bool, question: &str, expected: &str) -> Result<(), Failure> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::Usage(format!(
            "{question} Refused: there is no terminal to ask on and --yes was not given; nothing was changed\n  hint: add --yes to go ahead without asking"
        )));
    }
    eprint!("{question}\nType `{expected}` to go on: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Internal(format!("cannot read the answer: {e}")))?;
    if answer.trim() == expected {
        Ok(())
    } else {
        Err(Failure::Usage("not confirmed; nothing was changed".into()))
    }
}
