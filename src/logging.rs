//! The per-run log file: every command groundup runs, with host, exit code, duration and the tail
//! of stderr, as tracing events. Scripts and uploaded bytes are never logged.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where logs go unless `--log-dir` says otherwise: `$XDG_STATE_HOME/groundup/logs`.
pub fn default_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("groundup/logs")
}

/// Starts logging to a new file in `dir`; returns its path.
pub fn init(dir: &Path, command: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let path = dir.join(format!("groundup-{command}-{secs}-{}.log", std::process::id()));
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("GROUNDUP_LOG").unwrap_or_else(|_| "info,openssh=warn".into());
    let _ = tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    Ok(path)
}
