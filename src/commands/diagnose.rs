//! `groundup diagnose`: one bundle for a bug report. Per host its facts and the output of a
//! read-only script (journal tails, containers, addresses, routes, groundup's and kubeadm's
//! files), once the cluster's nodes, pods and events, and locally the inventory, the last run's
//! log and the journal; secrets are removed on the hosts and again here against every secret the
//! local PKI and the inventory hold, and the bundle is written whole (a temporary file renamed,
//! mode 0600) or not at all.
//! Exit 0 written, 2 bad input, 3 written but a host did not answer (named in the bundle).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::cli::DiagnoseArgs;
use crate::diagnose::{cluster_script, host_script, known_secrets, scrub, sections};
use crate::exec::{window, Request, Transport};
use crate::exit;
use crate::facts;
use crate::inventory::{Host, Role};
use crate::plan::{Action, Context};
use crate::report::Event;

use super::{Failure, Run};

pub async fn run(args: DiagnoseArgs) -> Result<u8, Failure> {
    let run = Run::start(&args.common, "diagnose")?;
    let inv = &run.inventory;
    let cx = Context::with_certs(inv, args.common.certs_dir.as_deref()).map_err(Failure::Usage)?;
    let secrets = known_secrets(&cx.pki, inv);
    let hosts: Vec<Host> = run.targets.clone();
    run.reporter.send(Event::Phase {
        title: "collect".into(),
        hosts: hosts.len(),
    });
    let script = Action::script_text(&host_script(args.lines));
    let t = &run.transport;
    let got = window::for_each(&hosts, args.common.parallel.into(), |h| {
        let req = Request::script("diagnose: collect", script.clone());
        // Every section, the optional ones too: a bug report wants what reset would find.
        async move { (facts::gather_with(t, h, &facts::OPTIONAL).await, t.run(h, &req).await) }
    })
    .await;
    let mut files: Vec<(String, String)> = vec![];
    let mut unreachable = vec![];
    let mut cluster_from: Option<Host> = None;
    for (h, (f, o)) in hosts.iter().zip(got) {
        let dir = format!("hosts/{}", h.name);
        match &f {
            Ok(f) => files.push((format!("{dir}/facts.txt"), f.raw.stdout.clone())),
            Err(e) => files.push((format!("{dir}/facts.error.txt"), format!("{e}\n{}\n", e.hint()))),
        }
        match o {
            Ok(o) => {
                files.extend(sections(&o.stdout).into_iter().map(|(n, c)| (format!("{dir}/{n}"), c)));
                if cluster_from.is_none() && h.has(Role::ControlPlane) {
                    cluster_from = Some(h.clone());
                }
            }
            Err(e) => {
                unreachable.push(h.name.to_string());
                files.push((format!("{dir}/collect.error.txt"), format!("{e}\n")));
            }
        }
    }
    if let Some(h) = &cluster_from {
        let req = Request::script("diagnose: cluster", Action::script_text(&cluster_script()));
        match t.run(h, &req).await {
            Ok(o) => files.extend(
                sections(&o.stdout)
                    .into_iter()
                    .map(|(n, c)| (format!("cluster/{n}"), c)),
            ),
            Err(e) => files.push(("cluster/error.txt".into(), format!("{e}\n"))),
        }
    }
    files.extend(local_files(&args, inv));
    let mut removed = 0;
    for (_, c) in files.iter_mut() {
        let (clean, n) = scrub(c, &secrets);
        *c = clean;
        removed += n;
    }
    files.insert(
        0,
        (
            "README.txt".into(),
            readme(inv.cluster.name.as_str(), &hosts, &unreachable, removed, secrets.len()),
        ),
    );
    let log = run.log_path.display().to_string();
    let (no_pki, certs_dir) = (cx.pki.is_empty(), cx.certs_dir.display().to_string());
    drop(cx);
    run.finish().await;
    let bytes = write_bundle(&args.out, &files)
        .map_err(|e| Failure::Io(format!("cannot write `{}`: {e}", args.out.display())))?;
    println!(
        "wrote {}: {} file(s) from {} host(s), {} KiB; secrets removed on the hosts, and {removed} more occurrence(s) of {} known secret(s) here",
        args.out.display(),
        files.len(),
        hosts.len() - unreachable.len(),
        bytes / 1024,
        secrets.len()
    );
    if no_pki {
        println!("note: no local PKI at `{certs_dir}`: only the hosts' own redaction applied (give --certs-dir to check against its keys too)");
    }
    if !unreachable.is_empty() {
        println!(
            "not reached: {} (their errors are in the bundle); log: {log}",
            unreachable.join(", ")
        );
        return Ok(exit::UNREACHABLE);
    }
    Ok(exit::OK)
}

/// The inventory, the newest run logs (see below), and this inventory's journal.
fn local_files(args: &DiagnoseArgs, inv: &crate::inventory::Inventory) -> Vec<(String, String)> {
    let mut v = vec![];
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    if let Some(t) = read(&inv.path) {
        v.push(("local/inventory.toml".into(), t));
    }
    // The newest log, and the newest of a command that changes hosts when that is another.
    let log_dir = args.common.log_dir.clone().unwrap_or_else(crate::logging::default_dir);
    let mut logs: Vec<(std::time::SystemTime, PathBuf, String)> = std::fs::read_dir(&log_dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let keep = n.starts_with("groundup-") && !n.starts_with("groundup-diagnose-");
                    keep.then_some(())?;
                    Some((e.metadata().ok()?.modified().ok()?, e.path(), n))
                })
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    let changing = ["apply", "reset", "remove", "upgrade", "restore", "pki renew"];
    let newest = logs.last().map(|l| l.1.clone());
    let action = logs
        .iter()
        .rev()
        .find(|l| changing.iter().any(|c| l.2.starts_with(&format!("groundup-{c}-"))))
        .map(|l| l.1.clone());
    for p in [newest.clone(), action.filter(|a| Some(a) != newest.as_ref())]
        .into_iter()
        .flatten()
    {
        if let Some(t) = read(&p) {
            v.push((
                format!("local/{}", p.file_name().unwrap_or_default().to_string_lossy()),
                t,
            ));
        }
    }
    let state = args
        .common
        .state_dir
        .clone()
        .unwrap_or_else(crate::paths::default_state_dir);
    let journal = crate::engine::journal::path_for(&state, inv.cluster.name.as_str(), &inv.path);
    if let Some(t) = read(&journal) {
        v.push(("local/journal.json".into(), t));
    }
    v
}

fn readme(cluster: &str, hosts: &[Host], unreachable: &[String], removed: usize, known: usize) -> String {
    format!(
        "groundup diagnose bundle of cluster `{cluster}`, made {}\n\n\
         hosts/<host>/   facts.txt (groundup's facts), journal-<unit>.txt, status-<unit>.txt, crictl-ps.txt, ip-addr.txt,\n\
         \x20               ip-route.txt, systemctl-failed.txt, disk.txt, files/<path> (configurations)\n\
         cluster/        nodes-pods.txt, events.txt (from one control plane)\n\
         local/          the inventory, the last run's log, the journal\n\n\
         hosts asked: {}; not reached: {}\n\
         Removed on the hosts before sending: private key blocks, *-key-data, token, certificateKey,\n\
         secret and password fields, credentials in URLs. Removed here: {removed} occurrence(s) of\n\
         {known} secret(s) groundup knows (bootstrap token, encryption key, private keys, proxy URLs).\n\
         Each removal reads `{}`.\n",
        crate::engine::journal::utc_stamp(),
        hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", "),
        if unreachable.is_empty() {
            "none".to_string()
        } else {
            unreachable.join(", ")
        },
        crate::diagnose::REDACTED
    )
}

/// A gzip'd tar of `files`, written to a temporary file beside `out` and renamed; its size.
fn write_bundle(out: &Path, files: &[(String, String)]) -> std::io::Result<u64> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        out.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let root = out
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_end_matches(".tar.gz")
                .trim_end_matches(".tgz")
                .to_string()
        })
        .unwrap_or_else(|| "groundup-diagnose".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let result = (|| {
        for (name, content) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o600);
            h.set_mtime(now);
            tar.append_data(&mut h, format!("{root}/{name}"), content.as_bytes())?;
        }
        let mut gz = tar.into_inner()?;
        gz.flush()?;
        gz.finish()?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out)?;
    Ok(std::fs::metadata(out)?.len())
}
