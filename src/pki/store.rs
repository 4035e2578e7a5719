//! The PKI on disk: `certs/<cluster>/` (or `--certs-dir`), laid out as on a node: shared files as in
//! /etc/kubernetes/pki (`ca.crt`, `etcd/ca.key`, `sa.key`), each control plane's own files under
//! `nodes/<name>/` (`pki/apiserver.crt`, `admin.conf`). Folders 0700, keys and kubeconfigs 0600.
//! Writes are all-or-nothing: every file goes to a temporary name first, then all are renamed;
//! a CA file is never replaced. The only module of `pki` that touches the filesystem.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{action} `{path}`: {cause}")]
pub struct StoreError {
    pub action: &'static str,
    pub path: String,
    pub cause: String,
    pub hint: String,
}

/// One file to write: path relative to the store, contents, mode, and whether it may replace an
/// existing file (never for a CA).
#[derive(Debug, Clone)]
pub struct NewFile {
    pub rel: String,
    pub bytes: Vec<u8>,
    pub mode: u32,
    pub replace: bool,
}

impl NewFile {
    pub fn new(rel: impl Into<String>, bytes: Vec<u8>, mode: u32, replace: bool) -> Self {
        NewFile {
            rel: rel.into(),
            bytes,
            mode,
            replace,
        }
    }
}

pub struct Store {
    pub root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The file's text, `None` when it does not exist.
    pub fn read(&self, rel: &str) -> Result<Option<String>, StoreError> {
        let p = self.path(rel);
        match std::fs::read_to_string(&p) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError {
                action: "cannot read",
                path: p.display().to_string(),
                cause: e.to_string(),
                hint: "check the folder and its permissions, or choose another with --certs-dir".into(),
            }),
        }
    }

    /// Writes every file or none.
    pub fn write_all(&self, files: &[NewFile]) -> Result<(), StoreError> {
        let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
        let result = (|| {
            for f in files {
                let dest = self.path(&f.rel);
                if !f.replace && dest.exists() {
                    return Err(StoreError {
                        action: "refusing to replace",
                        path: dest.display().to_string(),
                        cause: "a CA is never overwritten".into(),
                        hint: "this is a bug in groundup's planning; nothing was written".into(),
                    });
                }
                let dir = dest.parent().unwrap_or(&self.root);
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| io("cannot create", dir, e))?;
                // Appended, never replacing the extension: `ca.crt` and `ca.key` must not share one.
                let mut tmp = dest.clone().into_os_string();
                tmp.push(".groundup-new");
                let tmp = PathBuf::from(tmp);
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(f.mode)
                    .open(&tmp)
                    .map_err(|e| io("cannot write", &tmp, e))?;
                staged.push((tmp.clone(), dest));
                file.write_all(&f.bytes)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| io("cannot write", &tmp, e))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            for (tmp, _) in &staged {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(e);
        }
        for (tmp, dest) in &staged {
            std::fs::rename(tmp, dest).map_err(|e| io("cannot rename into place", dest, e))?;
        }
        Ok(())
    }
}

fn io(action: &'static str, p: &Path, e: std::io::Error) -> StoreError {
    StoreError {
        action,
        path: p.display().to_string(),
        cause: e.to_string(),
        hint: "choose a writable folder with --certs-dir, or fix the permissions; nothing was changed".into(),
    }
}

/// A certificate found in a folder: its file (relative), PEM, and its key when one is beside it.
#[derive(Debug, Clone)]
pub struct FoundCert {
    pub rel: String,
    pub cert_pem: String,
    pub key_pem: Option<String>,
}

impl Store {
    /// Every `*.crt` (with its `*.key`) and every kubeconfig's embedded client certificate below
    /// the root, sorted by path. Works on any folder, e.g. /etc/kubernetes copied from a node.
    pub fn certificates(&self) -> Result<Vec<FoundCert>, StoreError> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| io("cannot read", &dir, e))?;
            for e in entries.flatten() {
                let p = e.path();
                let rel = p.strip_prefix(&self.root).unwrap_or(&p).to_string_lossy().to_string();
                if p.is_dir() {
                    stack.push(p);
                } else if rel.ends_with(".crt") {
                    let cert_pem = self.read(&rel)?.unwrap_or_default();
                    let key_pem = self.read(&format!("{}.key", rel.trim_end_matches(".crt")))?;
                    out.push(FoundCert { rel, cert_pem, key_pem });
                } else if rel.ends_with(".conf") {
                    let text = self.read(&rel)?.unwrap_or_default();
                    if let Some(cert_pem) = kubeconfig_field(&text, "client-certificate-data:") {
                        out.push(FoundCert {
                            rel,
                            cert_pem,
                            key_pem: kubeconfig_field(&text, "client-key-data:"),
                        });
                    }
                }
            }
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }
}

/// A base64 PEM field of a kubeconfig (`client-certificate-data:`, `client-key-data:`), decoded.
pub fn kubeconfig_field(text: &str, name: &str) -> Option<String> {
    use base64::Engine;
    text.lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
}
