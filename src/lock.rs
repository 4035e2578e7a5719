//! One groundup run per cluster at a time: a lock file per cluster name in the state directory,
//! held (an OS file lock, `flock`) for as long as the process lives, so a crashed run never leaves
//! a stale lock behind. The file says who holds it (PID, command, start time) for the refusal.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A held lock; released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

pub fn path_for(state_dir: &Path, cluster: &str) -> PathBuf {
    state_dir.join("locks").join(format!("{cluster}.lock"))
}

/// Takes the cluster's lock at once or says who holds it; never waits.
pub fn acquire(state_dir: &Path, cluster: &str, command: &str) -> Result<Lock, String> {
    let path = path_for(state_dir, cluster);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create `{}`: {e} (use --state-dir)", dir.display()))?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open the lock `{}`: {e} (use --state-dir)", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(format!(
                "another groundup run holds cluster `{cluster}`: {}; nothing was done\n  \
                 hint: wait for it to finish (or stop that process); the lock is `{}` and goes away with its process",
                if holder.is_empty() {
                    "(it has not written its details yet)"
                } else {
                    holder
                },
                path.display()
            ));
        }
        Err(TryLockError::Error(e)) => return Err(format!("cannot lock `{}`: {e}", path.display())),
    }
    let started = crate::engine::journal::utc_stamp();
    let holder = format!("`groundup {command}` PID {} started {started}\n", std::process::id());
    let written = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(holder.as_bytes()))
        .and_then(|_| file.flush());
    if let Err(e) = written {
        tracing::warn!(lock = %path.display(), "cannot record the lock holder: {e}");
    }
    Ok(Lock { _file: file, path })
}
