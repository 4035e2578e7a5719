//! `groundup kubeconfig`: the cluster's admin kubeconfig (from the local PKI) to a file, or
//! merged into ~/.kube/config (`$KUBECONFIG`'s first file when set). Written atomically, 0600;
//! a merged file keeps a backup. Contacts no host, but with `--tunnel`: then the kubeconfig
//! points at a local port that SSH forwards to the first control plane's own API server (its
//! certificate is checked under the name `kubernetes`), and the command holds the tunnel open.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::KubeconfigArgs;
use crate::exec::openssh::{SshOptions, SshTransport};
use crate::inventory::{ApiMode, Inventory, Role};
use crate::kubeconfig::{admin_conf_rel, merge, with_server, with_tls_server_name};

use super::Failure;

pub async fn run(a: KubeconfigArgs) -> Result<u8, Failure> {
    let inv = Inventory::load(&a.inventory)?;
    let certs = inv.certs_dir(a.certs_dir.as_deref());
    let first = inv
        .with_role(Role::ControlPlane)
        .next()
        .ok_or_else(|| Failure::Usage("the inventory has no control plane".into()))?;
    let src = certs.join(admin_conf_rel(first.name.as_str()));
    let admin = std::fs::read_to_string(&src).map_err(|e| {
        Failure::Usage(format!(
            "cannot read `{}`: {e}\nhint: run `groundup pki generate -i {}` first",
            src.display(),
            a.inventory.display()
        ))
    })?;
    // With a local load balancer the endpoint is 127.0.0.1 on the nodes; from here, the first
    // control plane's API server answers (its certificate names its node IP).
    let admin = if a.tunnel {
        with_tls_server_name(
            &with_server(&admin, &format!("https://127.0.0.1:{}", a.port)),
            "kubernetes",
        )
    } else if inv.cluster.api == ApiMode::LocalLb {
        let ip = crate::pki::spec::cert_ip(first).map_err(|e| Failure::Usage(e.to_string()))?;
        let server = format!(
            "https://{}",
            crate::inventory::Endpoint {
                host: ip.to_string(),
                port: 6443
            }
        );
        eprintln!("note: [api] mode = \"local-lb\" serves the API on 127.0.0.1 of each node; this kubeconfig uses {server} ({})", first.name);
        with_server(&admin, &server)
    } else {
        admin
    };
    let cluster = inv.cluster.name.as_str();
    if let Some(dir) = &a.out_dir {
        return handout(dir, &inv, &admin);
    }
    if let Some(out) = &a.out {
        write_private(out, admin.as_bytes())?;
        println!("wrote {} (admin of `{cluster}`; keep it private)", out.display());
        println!("use it: export KUBECONFIG={}", out.display());
        return hold_tunnel(&a, first).await;
    }
    let target = a.kubeconfig.clone().unwrap_or_else(default_kubeconfig);
    let existing = match std::fs::read_to_string(&target) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Failure::Io(format!("cannot read `{}`: {e}", target.display()))),
    };
    let (text, context) = merge(existing.as_deref(), &admin, cluster)
        .map_err(|e| Failure::Usage(format!("`{}`: {e}", target.display())))?;
    if let Some(old) = &existing {
        let backup = target.with_extension("groundup-backup");
        write_private(&backup, old.as_bytes())?;
    }
    write_private(&target, text.as_bytes())?;
    println!("merged `{cluster}` into {} as context `{context}`", target.display());
    println!("use it: kubectl config use-context {context}");
    hold_tunnel(&a, first).await
}

/// `--out-dir`: `<cluster>.kubeconfig` with its context named after the cluster, and the handout
/// page beside it as Markdown and HTML.
fn handout(dir: &Path, inv: &Inventory, admin: &str) -> Result<u8, Failure> {
    let cluster = inv.cluster.name.as_str();
    let (text, context) = merge(None, admin, cluster).map_err(Failure::Usage)?;
    let server = crate::kubeconfig::server_of(&text).unwrap_or_default();
    let file = format!("{cluster}.kubeconfig");
    write_private(&dir.join(&file), text.as_bytes())?;
    let md = crate::report::handout::markdown(inv, &file, &server, &context);
    let html = crate::plan::guide::html(&format!("Cluster {cluster}"), &md);
    for (name, body) in [(format!("{cluster}.md"), md), (format!("{cluster}.html"), html)] {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|e| Failure::Io(format!("cannot write `{}`: {e}", p.display())))?;
    }
    println!(
        "wrote {}/{cluster}.kubeconfig (context `{context}`, admin of `{cluster}`; keep it private) and the handout {cluster}.md, {cluster}.html",
        dir.display()
    );
    Ok(crate::exit::OK)
}

/// With `--tunnel`: forwards 127.0.0.1:PORT here to 127.0.0.1:6443 on `cp` over SSH (strict host
/// keys, the inventory's SSH settings) until Ctrl-C, SIGTERM or SIGHUP (systemd, tmux, `kill`):
/// each closes the master, and with it the forward, before groundup exits.
async fn hold_tunnel(a: &KubeconfigArgs, cp: &crate::inventory::Host) -> Result<u8, Failure> {
    if !a.tunnel {
        return Ok(crate::exit::OK);
    }
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], a.port));
    let remote = std::net::SocketAddr::from(([127, 0, 0, 1], 6443));
    // Refuse a port in use here before SSH would (its message is less clear).
    drop(std::net::TcpListener::bind(listen).map_err(|e| {
        Failure::Usage(format!(
            "cannot listen on {listen}: {e}\nhint: choose another with --port"
        ))
    })?);
    let t = SshTransport::new(SshOptions {
        accept_new_host_keys: false,
        persist: None,
    })
    .map_err(|e| Failure::Internal(format!("cannot create the SSH control directory: {e}")))?;
    t.forward_local(cp, listen, remote)
        .await
        .map_err(|e| Failure::Unreachable(format!("{e}\nhint: {}", e.hint())))?;
    println!(
        "tunnel open: https://{listen} -> {}:6443 over SSH; Ctrl-C closes it",
        cp.name
    );
    let why = stopped().await;
    if let Err(e) = t.close_forward(cp, listen, remote).await {
        eprintln!("warning: {e}");
    }
    t.close().await;
    println!("tunnel closed ({why})");
    Ok(crate::exit::OK)
}

/// Waits for Ctrl-C, SIGTERM or SIGHUP; says which.
async fn stopped() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupt",
        Some(_) = async { term.as_mut()?.recv().await } => "SIGTERM",
        Some(_) = async { hup.as_mut()?.recv().await } => "SIGHUP",
    }
}

fn default_kubeconfig() -> PathBuf {
    if let Some(first) = std::env::var_os("KUBECONFIG").and_then(|v| std::env::split_paths(&v).next()) {
        return first;
    }
    dirs::home_dir().unwrap_or_default().join(".kube/config")
}

/// Atomic write with mode 0600 (temp file in the same folder, then rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::Io(format!("cannot write `{}`: {e}", path.display()));
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
