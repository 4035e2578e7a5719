//! Where the SSH transport's control sockets live, and master reuse across runs (ControlPersist).
//! Persistent: a directory of the user's own, mode 0700, with one `<key>.ctl` index file per SSH
//! target (key = hash of every connection-relevant setting) naming its live master's socket.
//! Otherwise a fresh temporary directory per run. Part of the transport: nothing else uses it.
//!
//! Many groundup processes share the directory at once (a class's clusters, `status` in a second
//! terminal, CI jobs). Each holds a shared lock on `users.lock` for its whole life; leftovers of
//! exited masters are swept only by a process that gets the lock alone, so no run ever removes the
//! `.ssh-connection*` folder another run's ssh is still connecting through (issue 21, defect 6:
//! that removal failed first contacts with a bare ENOENT and hid ssh's own words).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::exec::target;
use crate::inventory::Host;

/// Idle time of a master that is not meant to outlive the run: it only matters if groundup dies
/// without closing it (the crate's default would be "forever").
pub const NON_PERSISTENT_IDLE_SECS: u64 = 30;

pub enum ControlRoot {
    /// `_users` holds the shared lock on `users.lock` until the transport is dropped.
    Persistent {
        dir: PathBuf,
        idle: Duration,
        _users: std::fs::File,
    },
    PerRun(tempfile::TempDir),
}

impl ControlRoot {
    /// Persistent in `dir` when asked and `dir` is private to us; otherwise per run.
    pub fn new(persist: Option<&(PathBuf, Duration)>) -> std::io::Result<ControlRoot> {
        if let Some((dir, idle)) = persist.filter(|(_, idle)| !idle.is_zero()) {
            match private_dir(dir).and_then(|()| join_users(dir)) {
                Ok(users) => {
                    return Ok(ControlRoot::Persistent {
                        dir: dir.clone(),
                        idle: *idle,
                        _users: users,
                    });
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "not persisting SSH masters")
                }
            }
        }
        // Short path under /tmp: unix socket paths are length-limited.
        Ok(ControlRoot::PerRun(
            tempfile::Builder::new().prefix("gu-").tempdir_in("/tmp")?,
        ))
    }

    pub fn dir(&self) -> &Path {
        match self {
            ControlRoot::Persistent { dir, .. } => dir,
            ControlRoot::PerRun(t) => t.path(),
        }
    }

    pub fn idle_secs(&self) -> u64 {
        match self {
            ControlRoot::Persistent { idle, .. } => idle.as_secs().max(1),
            ControlRoot::PerRun(_) => NON_PERSISTENT_IDLE_SECS,
        }
    }

    /// The index file for `host`, when masters persist.
    pub fn index(&self, host: &Host) -> Option<PathBuf> {
        match self {
            ControlRoot::Persistent { dir, .. } => Some(dir.join(format!("{}.ctl", master_key(host)))),
            ControlRoot::PerRun(_) => None,
        }
    }

    /// The recorded socket of `host`'s master, if it is inside our directory and still there.
    pub fn recorded(&self, host: &Host) -> Option<PathBuf> {
        let index = self.index(host)?;
        let ctl = PathBuf::from(std::fs::read_to_string(&index).ok()?.trim());
        (ctl.starts_with(self.dir()) && ctl.exists()).then_some(ctl)
    }

    /// Records `ctl` as `host`'s master (atomically).
    pub fn record(&self, host: &Host, ctl: &Path) -> std::io::Result<()> {
        let Some(index) = self.index(host) else {
            return Ok(());
        };
        // A temporary name of our own: two runs may record the same host at once.
        let mut tmp = tempfile::Builder::new().prefix(".ctl-").tempfile_in(self.dir())?;
        std::io::Write::write_all(&mut tmp, ctl.to_string_lossy().as_bytes())?;
        tmp.persist(&index).map(drop).map_err(|e| e.error)
    }

    pub fn forget(&self, host: &Host) {
        if let Some(index) = self.index(host) {
            let _ = std::fs::remove_file(index);
        }
    }
}

/// The default directory for persisted masters: `$XDG_RUNTIME_DIR/groundup/ssh`, else
/// `/tmp/groundup-<uid>/ssh`.
pub fn default_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("groundup/ssh"),
        _ => PathBuf::from(format!("/tmp/groundup-{}/ssh", euid())),
    }
}

fn euid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

/// Creates `dir` (0700) or checks that it and its parent are ours, and makes them private;
/// a directory of another user could hand us, or take from us, authenticated masters.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for d in [dir.parent().unwrap_or(dir), dir] {
        let m = std::fs::symlink_metadata(d)?;
        if m.uid() != euid() || !m.is_dir() {
            return Err(std::io::Error::other(format!(
                "{} is not a directory of our own",
                d.display()
            )));
        }
        if m.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Takes a shared lock on `dir/users.lock`, after sweeping the leftovers of exited masters when
/// no other process holds it: only then is no `.ssh-connection*` folder in the middle of a
/// connect. With other users present the sweep waits for a run that finds the folder to itself.
fn join_users(dir: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let users = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join("users.lock"))?;
    match users.try_lock() {
        Ok(()) => sweep(dir),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    // flock converts an exclusive lock to a shared one on the same descriptor.
    users.lock_shared()?;
    Ok(users)
}

/// Removes leftovers of masters that have exited (ssh removes its socket when it exits). Call only
/// with `users.lock` held exclusively.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(".ssh-connection") && !p.join("master").exists() {
            let _ = std::fs::remove_dir_all(&p);
        } else if name.starts_with(".ctl-") {
            let _ = std::fs::remove_file(&p);
        } else if name.ends_with(".ctl") {
            let live = std::fs::read_to_string(&p)
                .map(|t| Path::new(t.trim()).exists())
                .unwrap_or(false);
            if !live {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

/// Everything that makes two connections interchangeable.
fn master_key(host: &Host) -> String {
    let s = &host.ssh;
    let id = format!(
        "{}\0{:?}\0{:?}\0{:?}\0{:?}",
        target(host),
        s.identity_file,
        s.jump_host,
        s.known_hosts,
        s.config
    );
    Sha256::digest(id.as_bytes())
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}
