//! Running things on hosts. Owns the [`Transport`] trait, the request/response types, the remote
//! command line (where `sudo -n` and the remote timeout are added, in one place), the
//! classification of failures (connection, host key, sudo, timeout), and the sliding window that
//! runs work on many hosts at once. Only [`openssh`] knows that SSH exists.

pub mod openssh;
pub mod window;

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use crate::inventory::Host;

/// What to run on one host.
#[derive(Debug, Clone)]
pub struct Request {
    /// A short description for progress and logs; never contains secrets.
    pub what: String,
    pub payload: Payload,
    /// Run as root (through `sudo -n` when the SSH user is not root).
    pub privileged: bool,
    /// Overrides the host's command timeout.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub enum Payload {
    /// A bash script, sent on stdin to `bash -s` (never on the command line).
    Script(String),
    /// Bytes written atomically to `path` with `mode`, sent on stdin.
    Upload { path: String, mode: u32, bytes: Vec<u8> },
    /// A remote file's bytes on stdout (see `SshTransport::download`).
    Download { path: String },
}

impl Request {
    pub fn script(what: impl Into<String>, script: impl Into<String>) -> Self {
        Request {
            what: what.into(),
            payload: Payload::Script(script.into()),
            privileged: true,
            timeout: None,
        }
    }
    pub fn upload(path: impl Into<String>, mode: u32, bytes: Vec<u8>) -> Self {
        let path = path.into();
        Request {
            what: format!("upload {path}"),
            payload: Payload::Upload { path, mode, bytes },
            privileged: true,
            timeout: None,
        }
    }
    pub fn download(path: impl Into<String>) -> Self {
        let path = path.into();
        Request {
            what: format!("download {path}"),
            payload: Payload::Download { path },
            privileged: true,
            timeout: None,
        }
    }
    pub fn unprivileged(mut self) -> Self {
        self.privileged = false;
        self
    }
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
}

/// What a remote command did. A non-zero exit is an `Output`, not an error.
#[derive(Debug, Clone, Serialize)]
pub struct Output {
    /// Exit status; `None` when the remote process was killed by a signal.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    #[serde(serialize_with = "ms")]
    pub duration: Duration,
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
    /// The last `n` lines of stderr, for error messages.
    pub fn stderr_tail(&self, n: usize) -> String {
        tail(&self.stderr, n)
    }
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Why the SSH connection could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectKind {
    Refused,
    Timeout,
    HostKeyUnknown,
    HostKeyChanged,
    AuthFailed,
    NameResolution,
    Other,
}

#[derive(Debug, Clone, Error, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ExecError {
    #[error("cannot connect to {target}: {detail}")]
    Connect {
        target: String,
        reason: ConnectKind,
        detail: String,
    },
    #[error("sudo on {target} needs a password (the SSH user `{user}` has no passwordless sudo)")]
    SudoPassword { target: String, user: String },
    #[error("sudo on {target} requires a terminal (`requiretty` is set for `{user}`)")]
    SudoTty { target: String, user: String },
    #[error("`{what}` on {target} did not finish within {secs} s")]
    Timeout { target: String, what: String, secs: u64 },
    #[error("lost the connection to {target} during `{what}`: {detail}")]
    Disconnected {
        target: String,
        what: String,
        detail: String,
    },
}

impl ExecError {
    /// True when the host could not be reached at all (exit code 3 territory).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ExecError::Connect { .. } | ExecError::Disconnected { .. })
    }

    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            ExecError::Connect { reason, target, .. } => match reason {
                ConnectKind::Refused => format!("is sshd running on {target}, and is the port right?"),
                ConnectKind::Timeout => format!("check that {target} is up and reachable from this machine (firewall, address)"),
                ConnectKind::HostKeyUnknown => "first contact: verify the host's key fingerprint out of band, then re-run with --accept-new-host-keys (it is added to known_hosts)".into(),
                ConnectKind::HostKeyChanged => "the host key changed since it was recorded: if the VM was re-created, remove its old line from known_hosts (`ssh-keygen -R`); otherwise treat this as an attack".into(),
                ConnectKind::AuthFailed => "check `user` and `identity_file` in the inventory, or that your ssh-agent holds the key".into(),
                ConnectKind::NameResolution => "the address does not resolve: use an IP address or fix DNS / ~/.ssh/config".into(),
                ConnectKind::Other => "run `ssh -v` with the same user, port and key to see why".into(),
            },
            ExecError::SudoPassword { user, .. } => format!(
                "allow passwordless sudo for `{user}` (e.g. `{user} ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/), or connect as root"),
            ExecError::SudoTty { user, .. } => format!("remove `Defaults requiretty` for `{user}` (visudo); groundup never allocates a terminal"),
            ExecError::Timeout { .. } => "raise ssh.command_timeout in the inventory if the host is just slow".into(),
            ExecError::Disconnected { .. } => "the host went away mid-command; re-run once it is back".into(),
        }
    }
}

/// Runs requests on hosts. Implemented by the SSH transport and by test doubles.
pub trait Transport: Send + Sync {
    fn run(&self, host: &Host, req: &Request) -> impl Future<Output = Result<Output, ExecError>> + Send;
}

/// The command line the remote side runs: what reads the payload from stdin, wrapped in a remote
/// `timeout` and, when privileged as a non-root user, `sudo -n`. Contains no payload data.
pub fn remote_command(host: &Host, req: &Request) -> String {
    let secs = req.timeout.unwrap_or(host.ssh.command_timeout).as_secs().max(1);
    let body = match &req.payload {
        Payload::Script(_) => "bash -s".to_string(),
        Payload::Upload { path, mode, .. } => {
            let tmp = format!("{path}.groundup-tmp");
            let dir = std::path::Path::new(path)
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "/".into());
            let inner = format!(
                "umask 077 && mkdir -p {d} && cat > {t} && chmod {m:o} {t} && mv -f {t} {p}",
                d = shell_words::quote(&dir),
                t = shell_words::quote(&tmp),
                m = mode,
                p = shell_words::quote(path)
            );
            format!("sh -c {}", shell_words::quote(&inner))
        }
        Payload::Download { path } => format!("cat -- {}", shell_words::quote(path)),
    };
    let timed = format!("timeout -k 5 {secs} {body}");
    if req.privileged && host.ssh.sudo {
        format!("sudo -n -- {timed}")
    } else {
        timed
    }
}

/// The bytes sent on stdin for a request.
pub fn stdin_bytes(req: &Request) -> &[u8] {
    match &req.payload {
        Payload::Script(s) => s.as_bytes(),
        Payload::Upload { bytes, .. } => bytes,
        Payload::Download { .. } => &[],
    }
}

/// Turns sudo's own refusals into typed errors; anything else stays an ordinary exit status.
pub fn classify_sudo(host: &Host, req: &Request, out: &Output) -> Option<ExecError> {
    if !(req.privileged && host.ssh.sudo) || out.status != Some(1) {
        return None;
    }
    let target = target(host);
    let user = host.ssh.user.clone();
    let first = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("sudo:"))
        .map(str::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    if first.contains("a password is required") || first.contains("a terminal is required to read the password") {
        Some(ExecError::SudoPassword { target, user })
    } else if first.contains("must have a tty") {
        Some(ExecError::SudoTty { target, user })
    } else {
        None
    }
}

/// `name (user@address:port)`, how a host is named in messages.
pub fn target(host: &Host) -> String {
    format!(
        "{} ({}@{}:{})",
        host.name, host.ssh.user, host.ssh.address, host.ssh.port
    )
}
