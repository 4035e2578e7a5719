//! The local journal of an `apply`: which steps finished on which host, and where a host failed.
//! Saved atomically after every step, so a run killed at any point leaves a record `--resume`
//! continues. A record only: the engine never skips a step because it is here (issue 10, defect 3:
//! a skipped restart, and PKI files not placed again after `kubeadm reset`). Local files only; the
//! matching host marker is written by the engine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Journal {
    /// This run and the interrupted runs it resumes, oldest first.
    pub runs: Vec<String>,
    pub inventory: String,
    /// The phases this run was asked to do (`--until`).
    pub phases: Vec<String>,
    pub finished: bool,
    pub hosts: BTreeMap<String, HostJournal>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostJournal {
    pub done: Vec<Done>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Failed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub phase: String,
    pub step: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failed {
    pub phase: String,
    pub step: String,
    pub error: String,
}

impl Journal {
    pub fn run(&self) -> &str {
        self.runs.last().map(String::as_str).unwrap_or("")
    }

    pub fn record_done(&mut self, host: &str, phase: &str, step: &str, fingerprint: &str) {
        let h = self.hosts.entry(host.to_string()).or_default();
        h.failed = None;
        h.done.push(Done {
            phase: phase.into(),
            step: step.into(),
            fingerprint: fingerprint.into(),
        });
    }

    pub fn record_failed(&mut self, host: &str, phase: &str, step: &str, error: &str) {
        self.hosts.entry(host.to_string()).or_default().failed = Some(Failed {
            phase: phase.into(),
            step: step.into(),
            error: error.into(),
        });
    }

    /// Forgets what the journal says about a host whose own marker does not confirm it (the host
    /// was rebuilt or changed by another run since).
    pub fn forget(&mut self, host: &str) {
        self.hosts.remove(host);
    }

    /// A journal to continue: the previous run's record, with `run` appended to the chain.
    pub fn resume(mut prev: Journal, run: String, phases: Vec<String>) -> Journal {
        prev.runs.push(run);
        prev.phases = phases;
        prev.finished = false;
        for h in prev.hosts.values_mut() {
            h.failed = None;
        }
        prev
    }
}

/// Where the journal of an inventory lives: `<state>/journal/<cluster>-<hash of the inventory path>.json`.
pub fn path_for(state_dir: &Path, cluster: &str, inventory: &Path) -> PathBuf {
    let canon = std::fs::canonicalize(inventory).unwrap_or_else(|_| inventory.to_path_buf());
    let hash = crate::digest::sha256_hex(canon.to_string_lossy().as_bytes());
    state_dir
        .join("journal")
        .join(format!("{cluster}-{}.json", &hash[..10]))
}

/// Now in UTC, sortable: `20261123T230512Z` (backups, kept data directories, run ids).
pub fn utc_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// `20261123T230512Z-4242`: sortable, unique per process.
pub fn run_id() -> String {
    format!("{}-{}", utc_stamp(), std::process::id())
}

pub fn load(path: &Path) -> Result<Option<Journal>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            format!(
                "the journal `{}` is damaged ({e}); remove it and run without --resume",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read the journal `{}`: {e}", path.display())),
    }
}

/// Writes the journal atomically (temp file, fsync, rename).
pub fn save(path: &Path, j: &Journal) -> Result<(), String> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("cannot write in `{}`: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(j).map_err(|e| e.to_string())?;
    tmp.write_all(text.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| format!("cannot write the journal: {e}"))?;
    tmp.persist(path)
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    Ok(())
}
