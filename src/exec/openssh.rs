//! The SSH transport: one multiplexed OpenSSH master per host per run (the `openssh` crate with
//! native-mux), reused for every command; honours ~/.ssh/config, the agent, ProxyJump and
//! known_hosts. Strict host-key checking unless the run opted in to accepting new keys. Masters
//! may outlive a run for a short idle time (ControlPersist) so the next run skips the handshake;
//! see [`persist`]. This is the only module in groundup that knows SSH exists.

pub mod persist;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use persist::ControlRoot;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, OnceCell};

use super::{classify_sudo, remote_command, stdin_bytes, target, ConnectKind, ExecError, Output, Request, Transport};
use crate::inventory::Host;

#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    /// First contact: record unknown host keys (`StrictHostKeyChecking=accept-new`). Changed keys
    /// are still refused.
    pub accept_new_host_keys: bool,
    /// Keep masters for this idle time after the run, in this private directory, and reuse them.
    pub persist: Option<(PathBuf, Duration)>,
}

type Slot = Arc<OnceCell<Result<Arc<Session>, ExecError>>>;

pub struct SshTransport {
    opts: SshOptions,
    root: ControlRoot,
    sessions: Mutex<HashMap<String, Slot>>,
}

impl SshTransport {
    pub fn new(opts: SshOptions) -> std::io::Result<Self> {
        let root = ControlRoot::new(opts.persist.as_ref())?;
        Ok(SshTransport {
            opts,
            root,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// A live persisted master for `host`, if there is one.
    async fn resume(&self, host: &Host) -> Option<Session> {
        let ctl = self.root.recorded(host)?;
        let session = Session::resume_mux(ctl.into_boxed_path(), None);
        match session.check().await {
            Ok(()) => Some(session),
            Err(_) => {
                self.root.forget(host);
                None
            }
        }
    }

    async fn session(&self, host: &Host) -> Result<Arc<Session>, ExecError> {
        let key = target(host);
        let slot = {
            let mut map = self.sessions.lock().await;
            // One master per SSH target: the same host reached as another user is another connection.
            map.entry(key.clone()).or_default().clone()
        };
        let session = slot.get_or_init(|| self.connect(host)).await.clone();
        let Ok(live) = &session else { return session };
        if live.check().await.is_ok() {
            return session;
        }
        // The master is gone before this command was sent: its idle timer (ControlPersist) ran out
        // while this host waited on the others (a slow join elsewhere), or the host rebooted.
        // Connect once more; whoever gets here first replaces the slot, the others share it.
        tracing::info!(host = %host.name, "the SSH master went away between commands; connecting again");
        let slot = {
            let mut map = self.sessions.lock().await;
            let cur = map.entry(key).or_default();
            if Arc::ptr_eq(cur, &slot) {
                *cur = Slot::default();
            }
            cur.clone()
        };
        slot.get_or_init(|| self.connect(host)).await.clone()
    }

    async fn connect(&self, host: &Host) -> Result<Arc<Session>, ExecError> {
        if let Some(session) = self.resume(host).await {
            tracing::info!(host = %host.name, "reusing persisted master");
            return Ok(Arc::new(session));
        }
        let s = &host.ssh;
        let mut b = SessionBuilder::default();
        b.user(s.user.clone())
            .port(s.port)
            .connect_timeout(s.connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(self.root.dir())
            .control_persist(ControlPersist::IdleFor(
                NonZeroUsize::new(self.root.idle_secs() as usize).unwrap_or(NonZeroUsize::MIN),
            ))
            .known_hosts_check(if self.opts.accept_new_host_keys {
                KnownHosts::Add
            } else {
                KnownHosts::Strict
            });
        if let Some(k) = &s.identity_file {
            b.keyfile(k);
        }
        if let Some(k) = &s.known_hosts {
            b.user_known_hosts_file(k);
        }
        if let Some(c) = &s.config {
            b.config_file(c);
        }
        if let Some(j) = &s.jump_host {
            b.jump_hosts([j]);
        }
        let started = Instant::now();
        match b.connect_mux(&s.address).await {
            Ok(session) => {
                tracing::info!(host = %host.name, ms = started.elapsed().as_millis() as u64, "connected");
                if let Err(e) = self.root.record(host, session.control_socket()) {
                    tracing::warn!(host = %host.name, error = %e, "cannot record the master for reuse");
                }
                Ok(Arc::new(session))
            }
            Err(e) => {
                let detail = error_chain(&e);
                let reason = classify_connect(&detail);
                tracing::warn!(host = %host.name, ?reason, detail = %detail, "connect failed");
                Err(ExecError::Connect {
                    target: target(host),
                    reason,
                    detail: last_line(&detail),
                })
            }
        }
    }

    /// Ends the run's use of every master (call once at the end): persisted masters are left to
    /// their idle timer, the others are closed now.
    pub async fn close(&self) {
        let slots: Vec<Slot> = self.sessions.lock().await.drain().map(|(_, v)| v).collect();
        for slot in slots {
            let Ok(slot) = Arc::try_unwrap(slot) else {
                continue;
            };
            let Some(Ok(session)) = slot.into_inner() else {
                continue;
            };
            let Ok(session) = Arc::try_unwrap(session) else {
                continue;
            };
            match &self.root {
                ControlRoot::Persistent { .. } => drop(session.detach()),
                ControlRoot::PerRun(_) => drop(session.close().await),
            }
        }
    }

    /// `ssh -L`: connections to `listen` on this machine reach `connect` as `host` sees it, over
    /// the host's master, for as long as the master lives (groundup kubeconfig --tunnel).
    pub async fn forward_local(&self, host: &Host, listen: SocketAddr, connect: SocketAddr) -> Result<(), ExecError> {
        self.forward(host, listen, connect, true).await
    }

    /// Ends a forward [`Self::forward_local`] opened. Closing a master only stops it listening
    /// for new clients: a forward of its own would outlive groundup until the master's idle end.
    pub async fn close_forward(&self, host: &Host, listen: SocketAddr, connect: SocketAddr) -> Result<(), ExecError> {
        self.forward(host, listen, connect, false).await
    }

    async fn forward(&self, host: &Host, listen: SocketAddr, connect: SocketAddr, open: bool) -> Result<(), ExecError> {
        let session = self.session(host).await?;
        let kind = openssh::ForwardType::Local;
        let done = if open {
            session.request_port_forward(kind, listen, connect).await
        } else {
            session.close_port_forward(kind, listen, connect).await
        };
        done.map_err(|e| ExecError::Disconnected {
            target: target(host),
            what: format!(
                "{} the forward of {listen} to {connect}",
                if open { "open" } else { "close" }
            ),
            detail: error_chain(&e),
        })
    }

    /// Copies a remote file to `to` (created 0600, never left half-written: a failed copy is
    /// removed) over the host's master, hashing it on the way; returns (bytes, sha256 hex).
    pub async fn download(&self, host: &Host, path: &str, to: &std::path::Path) -> Result<(u64, String), ExecError> {
        use sha2::Digest;
        use std::io::Write;
        use tokio::io::AsyncReadExt;
        let req = Request::download(path);
        let session = self.session(host).await?;
        let failed = |detail: String| ExecError::Disconnected {
            target: target(host),
            what: req.what.clone(),
            detail,
        };
        let mut child = session
            .raw_command(remote_command(host, &req))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .map_err(|e| failed(error_chain(&e)))?;
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(to)
                .map_err(|e| failed(format!("cannot write `{}`: {e}", to.display())))?
        };
        let mut hash = sha2::Sha256::new();
        let mut total = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        let mut stdout = child.stdout().take();
        let copied: Result<(), String> = async {
            let Some(out) = stdout.as_mut() else { return Ok(()) };
            loop {
                let n = out.read(&mut buf).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Ok(());
                }
                hash.update(&buf[..n]);
                file.write_all(&buf[..n])
                    .map_err(|e| format!("cannot write `{}`: {e}", to.display()))?;
                total += n as u64;
            }
        }
        .await;
        drop(stdout);
        let out = child.wait_with_output().await;
        let status = match (&copied, out) {
            (Ok(()), Ok(o)) if o.status.success() => Ok(()),
            (Ok(()), Ok(o)) => Err(format!(
                "exit status {:?}: {}",
                o.status.code(),
                last_line(&String::from_utf8_lossy(&o.stderr))
            )),
            (Err(e), _) => Err(e.clone()),
            (_, Err(e)) => Err(error_chain(&e)),
        };
        if let Err(e) = status.and_then(|_| file.sync_all().map_err(|e| e.to_string())) {
            let _ = std::fs::remove_file(to);
            return Err(failed(e));
        }
        tracing::info!(host = %host.name, path, bytes = total, "download");
        Ok((total, format!("{:x}", hash.finalize())))
    }

    /// Closes every persisted master of this transport's hosts now (for `--ssh-persist 0` runs
    /// after persisted ones, and for tests).
    pub async fn close_persisted(&self, hosts: &[Host]) {
        for h in hosts {
            if let Some(session) = self.resume(h).await {
                let _ = session.close().await;
            }
        }
    }
}

impl Transport for SshTransport {
    async fn run(&self, host: &Host, req: &Request) -> Result<Output, ExecError> {
        let session = self.session(host).await?;
        let cmdline = remote_command(host, req);
        let limit = req.timeout.unwrap_or(host.ssh.command_timeout);
        let started = Instant::now();
        let what = req.what.clone();
        let disconnected = |e: openssh::Error| ExecError::Disconnected {
            target: target(host),
            what: what.clone(),
            detail: error_chain(&e),
        };

        let mut child = session
            .raw_command(&cmdline)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .map_err(disconnected)?;
        let mut stdin = child.stdin().take();
        let input = stdin_bytes(req).to_vec();
        let writer = async move {
            if let Some(w) = stdin.as_mut() {
                // A remote side that exits early closes the pipe; its exit status tells the story.
                let _ = w.write_all(&input).await;
                let _ = w.shutdown().await;
            }
            drop(stdin);
        };
        // The remote `timeout` ends the command; this local limit only catches a hung connection.
        let waited = tokio::time::timeout(limit + Duration::from_secs(15), async {
            let ((), out) = tokio::join!(writer, child.wait_with_output());
            out
        })
        .await;
        let duration = started.elapsed();
        let secs = limit.as_secs();
        let out = match waited {
            Err(_) => {
                return Err(ExecError::Timeout {
                    target: target(host),
                    what: req.what.clone(),
                    secs,
                })
            }
            // The crate turns exit status 127 into an error (and drops the output): to us it is
            // an ordinary failed command, e.g. a script whose last command does not exist.
            Ok(Err(openssh::Error::Remote(e))) if e.kind() == std::io::ErrorKind::NotFound => Output {
                status: Some(127),
                stdout: String::new(),
                stderr: "exit status 127: a command was not found on the host (the ssh crate keeps no output for this status)".into(),
                duration,
            },
            Ok(Err(e)) => return Err(disconnected(e)),
            Ok(Ok(o)) => Output {
                status: o.status.code(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
                duration,
            },
        };
        tracing::info!(
            host = %host.name, what = %req.what, exit = ?out.status, ms = duration.as_millis() as u64,
            stderr_tail = %out.stderr_tail(5), "command"
        );
        if out.status == Some(124) && duration + Duration::from_secs(1) >= limit {
            return Err(ExecError::Timeout {
                target: target(host),
                what: req.what.clone(),
                secs,
            });
        }
        if let Some(e) = classify_sudo(host, req, &out) {
            return Err(e);
        }
        Ok(out)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(s)
        .to_string()
}

/// Classifies ssh's own words about a failed connection.
pub fn classify_connect(detail: &str) -> ConnectKind {
    let d = detail.to_ascii_lowercase();
    if d.contains("remote host identification has changed") {
        ConnectKind::HostKeyChanged
    } else if d.contains("host key verification failed")
        || d.contains("no ed25519 host key is known")
        || d.contains("host key is known for")
    {
        ConnectKind::HostKeyUnknown
    } else if d.contains("connection refused") {
        ConnectKind::Refused
    } else if d.contains("timed out") {
        ConnectKind::Timeout
    } else if d.contains("permission denied") || d.contains("too many authentication failures") {
        ConnectKind::AuthFailed
    } else if d.contains("could not resolve hostname") || d.contains("name or service not known") {
        ConnectKind::NameResolution
    } else {
        ConnectKind::Other
    }
}
