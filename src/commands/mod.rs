//! Command glue: load → select → connect → work → report, one file per command. The only layer
//! (with `report`) that prints; everything it calls returns values or sends events.

pub mod apply;
pub mod check;
pub mod exec;
pub mod kubeconfig;
pub mod pki;
pub mod plan;
pub mod render;

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
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Inventory(_) | Failure::Usage(_) => exit::USAGE,
            Failure::Io(_) => exit::FAILED,
            Failure::Internal(_) => exit::INTERNAL,
            Failure::Unreachable(_) => exit::UNREACHABLE,
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
}

impl Run {
    pub fn start(c: &Common, command: &str) -> Result<Run, Failure> {
        let inventory = Inventory::load(&c.inventory)?;
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
        })
    }

    /// Closes connections and flushes progress output.
    pub async fn finish(self) {
        self.transport.close().await;
        drop(self.reporter);
        let _ = self.renderer.await;
    }
}
