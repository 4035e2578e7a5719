//! `groundup kubeconfig`: the cluster's admin kubeconfig (from the local PKI) to a file, or
//! merged into ~/.kube/config (`$KUBECONFIG`'s first file when set). Written atomically, 0600;
//! a merged file keeps a backup. Contacts no host.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::KubeconfigArgs;
use crate::inventory::{ApiMode, Inventory, Role};
use crate::kubeconfig::{admin_conf_rel, merge, with_server};

use super::Failure;

pub fn run(a: KubeconfigArgs) -> Result<u8, Failure> {
    let inv = Inventory::load(&a.inventory)?;
    let certs = a
        .certs_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("certs").join(inv.cluster.name.as_str()));
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
    let admin = if inv.cluster.api == ApiMode::LocalLb {
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
    if let Some(out) = &a.out {
        write_private(out, admin.as_bytes())?;
        println!("wrote {} (admin of `{cluster}`; keep it private)", out.display());
        println!("use it: export KUBECONFIG={}", out.display());
        return Ok(crate::exit::OK);
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
    Ok(crate::exit::OK)
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
