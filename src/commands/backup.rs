//! `groundup backup`: an etcd snapshot from the first member whose facts show etcd running,
//! saved on that member, checked there (`snapshot status`), downloaded over the same SSH
//! connection into `backups/<cluster>/<UTC time>.db` (0600) with its sha256 compared to the
//! member's, the remote copy removed whatever happened, and a JSON beside it: cluster, versions,
//! members, revision, keys, size, sha256. `--keep N` prunes older ones after a good backup.
//! Exit 0 saved, 1 the snapshot or download failed, 3 no member reachable, 5 locked.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::{BackupArgs, OutputFormat};
use crate::exec::{window, Request, Transport};
use crate::facts;
use crate::inventory::Host;
use crate::plan::etcd_access::Access;
use crate::plan::Action as StepAction;
use crate::report::Event;

use super::{Failure, Run};

/// The metadata beside each snapshot; `restore` reads it back.
#[derive(Debug, Serialize, Deserialize)]
pub struct Meta {
    pub cluster: String,
    pub kubernetes_version: String,
    pub etcd_version: String,
    pub topology: String,
    pub taken_from: String,
    /// `name=peer-url` of each member when the snapshot was taken.
    pub members: Vec<String>,
    pub revision: u64,
    pub total_keys: u64,
    pub size: u64,
    pub sha256: String,
    pub created: String,
    pub file: String,
}

pub async fn run(args: BackupArgs) -> Result<u8, Failure> {
    let run = Run::start_locked(&args.common, "backup")?;
    let meta = match take(&run, args.common.parallel.into(), &args.out).await {
        Ok(m) => m,
        Err(e) => {
            run.finish().await;
            return Err(e);
        }
    };
    let mut pruned = Vec::new();
    if let Some(keep) = args.keep {
        pruned = prune(&args.out.join(&meta.cluster), keep as usize);
    }
    run.finish().await;
    match args.common.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"backup": meta, "pruned": pruned}))
                .map_err(|e| Failure::Internal(e.to_string()))?
        ),
        OutputFormat::Text => {
            println!(
                "snapshot of `{}` from {} (etcd {}): revision {}, {} keys, {} bytes, sha256 {}",
                meta.cluster,
                meta.taken_from,
                meta.etcd_version,
                meta.revision,
                meta.total_keys,
                meta.size,
                meta.sha256
            );
            println!("saved: {} (metadata beside it: .json)", meta.file);
            for p in pruned {
                println!("pruned: {p}");
            }
        }
    }
    Ok(crate::exit::OK)
}

/// Takes a backup into `out/<cluster>/` (the command, and `upgrade` before it changes anything).
pub async fn take(run: &Run, parallel: usize, out: &Path) -> Result<Meta, Failure> {
    let inv = &run.inventory;
    let access = Access::of(inv);
    let members: Vec<Host> = inv.etcd_members().cloned().collect();
    run.reporter.send(Event::Phase {
        title: "gather facts".into(),
        hosts: members.len(),
    });
    let gathered = window::for_each(&members, parallel, |h| facts::gather(&run.transport, h)).await;
    let Some(from) = members
        .iter()
        .zip(&gathered)
        .find(|(_, f)| f.as_ref().is_ok_and(|f| access.running(f)))
        .map(|(h, _)| h.clone())
    else {
        let why: Vec<String> = members
            .iter()
            .zip(&gathered)
            .map(|(h, f)| match f {
                Err(e) => format!("{}: {e}", h.name),
                Ok(_) => format!("{}: etcd is not running", h.name),
            })
            .collect();
        let unreachable = gathered.iter().all(|g| g.is_err());
        let msg = format!("no etcd member to take a snapshot from ({})", why.join("; "));
        return Err(if unreachable {
            Failure::Unreachable(msg)
        } else {
            Failure::Io(msg)
        });
    };
    let result = snapshot(run, access, &from, out).await;
    // The remote copy goes whatever happened.
    let cleanup = Request::script(
        "remove the remote snapshot",
        StepAction::script_text(&format!("rm -f {}", access.snapshot_path())),
    );
    if let Err(e) = run.transport.run(&from, &cleanup).await {
        tracing::warn!(host = %from.name, "cannot remove the remote snapshot: {e}");
    }
    result
}

/// Saves, checks, describes and downloads the snapshot.
async fn snapshot(run: &Run, access: Access, from: &Host, out: &Path) -> Result<Meta, Failure> {
    let inv = &run.inventory;
    let remote = access.snapshot_path();
    let script = format!(
        "{prelude}\ninstall -d -m 0700 \"$(dirname {remote})\"\nrm -f {remote}\nectl snapshot save {remote} >&2\n{tool}\n\
         echo @@status; $ETCDUTL snapshot status {remote} -w json\n\
         echo @@endpoint; ectl endpoint status -w json\necho @@members; ectl member list -w json\n\
         echo @@sha256; sha256sum {remote} | cut -c1-64",
        prelude = access.prelude(),
        tool = access.etcdutl(),
    );
    run.reporter.send(Event::Phase {
        title: format!("snapshot on {}", from.name),
        hosts: 1,
    });
    let req = Request::script("etcd snapshot save and status", StepAction::script_text(&script))
        .with_timeout(std::time::Duration::from_secs(600));
    let o = run
        .transport
        .run(from, &req)
        .await
        .map_err(|e| Failure::Io(format!("{}: snapshot: {e} (hint: {})", from.name, e.hint())))?;
    if !o.success() {
        return Err(Failure::Io(format!(
            "{}: the snapshot failed (exit {:?}):\n{}\n  hint: is etcd healthy? `groundup check` and the member's logs",
            from.name,
            o.status,
            o.stderr_tail(8)
        )));
    }
    let sections = crate::facts::sections(&o.stdout.replace("@@", "@@groundup-fact:"));
    let get = |k: &str| sections.get(k).map(String::as_str).unwrap_or("");
    let status: serde_json::Value = serde_json::from_str(get("status").trim()).map_err(|e| {
        Failure::Io(format!(
            "{}: unreadable `snapshot status` ({e}): {}",
            from.name,
            get("status")
        ))
    })?;
    let endpoint: serde_json::Value = serde_json::from_str(get("endpoint").trim()).unwrap_or_default();
    let members: serde_json::Value = serde_json::from_str(get("members").trim()).unwrap_or_default();
    let remote_sha = get("sha256").trim().to_string();

    let stamp = crate::engine::journal::utc_stamp();
    let dir = out.join(inv.cluster.name.as_str());
    std::fs::create_dir_all(&dir).map_err(|e| Failure::Io(format!("cannot create `{}`: {e}", dir.display())))?;
    let file = dir.join(format!("{stamp}.db"));
    let partial = dir.join(format!(".{stamp}.db.partial"));
    run.reporter.send(Event::Phase {
        title: format!("download from {}", from.name),
        hosts: 1,
    });
    let (size, sha) = run
        .transport
        .download(from, remote, &partial)
        .await
        .map_err(|e| Failure::Io(format!("{}: download: {e}", from.name)))?;
    if sha != remote_sha {
        let _ = std::fs::remove_file(&partial);
        return Err(Failure::Io(format!(
            "{}: the downloaded snapshot's sha256 {sha} is not the member's {remote_sha}; nothing was kept (run backup again)",
            from.name
        )));
    }
    std::fs::rename(&partial, &file).map_err(|e| Failure::Io(format!("cannot write `{}`: {e}", file.display())))?;
    let member_list = members["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    format!(
                        "{}={}",
                        m["name"].as_str().unwrap_or("?"),
                        m["peerURLs"][0].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let ep = endpoint.as_array().and_then(|a| a.first()).cloned().unwrap_or_default();
    let meta = Meta {
        cluster: inv.cluster.name.to_string(),
        kubernetes_version: inv.cluster.kubernetes_version.to_string(),
        etcd_version: ep["Status"]["version"].as_str().unwrap_or("unknown").to_string(),
        topology: format!("{access:?}").to_lowercase(),
        taken_from: from.name.to_string(),
        members: member_list,
        revision: status["revision"].as_u64().unwrap_or(0),
        total_keys: status["totalKey"].as_u64().unwrap_or(0),
        size,
        sha256: sha,
        created: stamp,
        file: file.display().to_string(),
    };
    let json = serde_json::to_string_pretty(&meta).map_err(|e| Failure::Internal(e.to_string()))?;
    std::fs::write(file.with_extension("json"), json + "\n")
        .map_err(|e| Failure::Io(format!("cannot write the metadata beside `{}`: {e}", file.display())))?;
    Ok(meta)
}

/// Deletes all but the newest `keep` snapshots (and their metadata) of one cluster's folder.
fn prune(dir: &Path, keep: usize) -> Vec<String> {
    let mut dbs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "db"))
                .collect()
        })
        .unwrap_or_default();
    dbs.sort();
    let n = dbs.len().saturating_sub(keep);
    dbs.into_iter()
        .take(n)
        .filter(|p| std::fs::remove_file(p).is_ok())
        .map(|p| {
            let _ = std::fs::remove_file(p.with_extension("json"));
            p.display().to_string()
        })
        .collect()
}
