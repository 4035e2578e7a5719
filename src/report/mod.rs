//! Everything groundup shows a person: live progress from work events (per-host indicatif bars on
//! a terminal, plain lines otherwise or with NO_COLOR, JSON lines on request) and the final tables.
//! Work never prints: it sends [`Event`]s through a [`Reporter`].

pub mod handout;
mod progress;
pub mod table;

use std::io::IsTerminal;

use serde::Serialize;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Phase { title: String, hosts: usize },
    HostStart { host: String, what: String },
    HostDone { host: String, ok: bool, detail: String },
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise (and when NO_COLOR is set).
    Auto,
    Bars,
    Plain,
    Json,
    None,
}

impl ProgressMode {
    pub fn resolve(self) -> ProgressMode {
        match self {
            ProgressMode::Auto if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() => {
                ProgressMode::Bars
            }
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        }
    }
}

/// The sending side, cloned into work. Sending never blocks and never fails the work.
#[derive(Clone)]
pub struct Reporter(Option<mpsc::UnboundedSender<Event>>);

impl Reporter {
    pub fn silent() -> Self {
        Reporter(None)
    }
    pub fn send(&self, e: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(e);
        }
    }
}

/// Starts the renderer task; drop every `Reporter` clone and await the handle to flush it.
pub fn start(mode: ProgressMode) -> (Reporter, tokio::task::JoinHandle<()>) {
    let mode = mode.resolve();
    if mode == ProgressMode::None {
        return (Reporter(None), tokio::spawn(async {}));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    (Reporter(Some(tx)), tokio::spawn(progress::render(mode, rx)))
}
