//! `groundup restore SNAPSHOT`: check the snapshot here (its metadata's sha256, size and cluster
//! name, when the `.json` is beside it), plan the restore of every etcd member and control plane
//! from their facts, show it, ask (or `--yes`), run it with the engine (the snapshot is restored
//! on trial on every member before anything stops), then wait for the nodes when there is an API.
//! Exit 0 restored, 1 a step failed (the summary says where; old data is kept aside), 2 refused
//! (damaged snapshot, another cluster's, no consent), 3 a host unreachable before anything
//! changed, 5 locked.

use sha2::Digest;

use crate::cli::{OutputFormat, RestoreArgs};
use crate::engine::{self, journal};
use crate::exec::window;
use crate::exit;
use crate::facts;
use crate::paths;
use crate::plan::{self, restore, Context};
use crate::report::Event;

use super::backup::Meta;
use super::{confirm, Failure, Run};

pub async fn run(args: RestoreArgs) -> Result<u8, Failure> {
    let action = crate::action::restore::restore();
    let snap = &args.snapshot;
    let bytes = std::fs::read(snap)
        .map_err(|e| Failure::Usage(format!("cannot read the snapshot `{}`: {e}", snap.display())))?;
    let sha = format!("{:x}", sha2::Sha256::digest(&bytes));
    let size = bytes.len() as u64;
    drop(bytes);
    let run = Run::start_locked(&args.common, action.name)?;
    let inv = &run.inventory;
    let mut notes = Vec::new();
    match std::fs::read_to_string(snap.with_extension("json")) {
        Ok(text) => {
            let meta: Meta = serde_json::from_str(&text).map_err(|e| {
                Failure::Usage(format!(
                    "`{}` is not groundup backup metadata: {e}",
                    snap.with_extension("json").display()
                ))
            })?;
            if meta.sha256 != sha || meta.size != size {
                return Err(Failure::Usage(format!(
                    "the snapshot `{}` is damaged: {size} bytes with sha256 {sha}, but its backup recorded {} bytes with sha256 {}; \
                     nothing was stopped\n  hint: use another backup",
                    snap.display(),
                    meta.size,
                    meta.sha256
                )));
            }
            if meta.cluster != inv.cluster.name.as_str() && !args.force {
                return Err(Failure::Usage(format!(
                    "the snapshot `{}` is of cluster `{}`, not `{}`; nothing was stopped\n  hint: pick this cluster's backup, \
                     or add --force to restore another cluster's data here",
                    snap.display(),
                    meta.cluster,
                    inv.cluster.name
                )));
            }
            notes.push(format!(
                "snapshot of `{}` taken {} from {} (etcd {}, revision {}, {} keys); members then: {}",
                meta.cluster,
                meta.created,
                meta.taken_from,
                meta.etcd_version,
                meta.revision,
                meta.total_keys,
                meta.members.join(", ")
            ));
        }
        Err(_) => notes.push(format!(
            "no metadata beside `{}`: its integrity is checked on the members only",
            snap.display()
        )),
    }
    let stamp = journal::utc_stamp();
    let mut cx = Context::teardown(inv, Default::default());
    cx.restore = Some(restore::Options {
        snapshot: snap.clone(),
        sha256: sha,
        size,
        stamp: stamp.clone(),
    });
    let hosts = restore::hosts(inv);
    let parallel: usize = args.common.parallel.into();
    run.reporter.send(Event::Phase {
        title: "gather facts".into(),
        hosts: hosts.len(),
    });
    let gathered = window::for_each(&hosts, parallel, |h| facts::gather(&run.transport, h)).await;
    let api = gathered.iter().any(|f| {
        f.as_ref()
            .is_ok_and(|f| f.facts.state.files.contains_key(paths::APISERVER_MANIFEST))
    });
    // Only the first phase is shown as it will run: the later ones are planned again from the
    // facts the earlier ones leave (a stopped unit, a parked manifest).
    let (planned, code) = super::plan::build(&cx, &action.phases, &hosts, &gathered);
    let text = args.common.output == OutputFormat::Text;
    if text {
        print!("{}", plan::show::text(&planned.phases, false));
        println!("{}", planned.counts);
    }
    if code == exit::UNREACHABLE {
        run.finish().await;
        return Err(Failure::Unreachable(
            "a host did not answer: nothing was changed".into(),
        ));
    }
    if args.dry_run {
        run.finish().await;
        println!("--dry-run: nothing was changed");
        return Ok(exit::OK);
    }
    confirm(
        args.yes,
        &format!(
            "This replaces the data of cluster `{}` on {} etcd member(s) with `{}` (the API is down meanwhile).",
            inv.cluster.name,
            inv.etcd_members().count(),
            snap.display()
        ),
        "yes",
    )?;
    let mut outcome = run.action(&cx, &action, &hosts, parallel, false).await;
    if outcome.exit_code == exit::OK && api && args.ready_timeout > 0 {
        let timeout = std::time::Duration::from_secs(args.ready_timeout);
        outcome.ready = engine::ready::wait(&run.transport, inv, timeout, std::time::Duration::from_secs(5)).await;
        if outcome.ready.as_ref().is_some_and(|r| !r.ok) {
            outcome.exit_code = exit::FAILED;
        }
    }
    if outcome.counts.changed > 0 {
        notes.push(format!(
            "the data directories before this restore are kept on each member as <data dir>.before-restore-{stamp}"
        ));
    }
    if outcome.exit_code != exit::OK && outcome.counts.changed > 0 {
        notes.push(format!(
            "to go on after fixing the cause: `groundup restore -i {} {}` again (each run keeps the data it replaces)",
            inv.path.display(),
            snap.display()
        ));
    }
    run.report(outcome, notes, args.common.output, "restore").await
}
