//! `groundup upgrade`: to the inventory's `kubernetes_version`. Plans every part from the nodes'
//! facts and shows it (the gate refuses a skipped minor, a downgrade, a NotReady node or a kit
//! without the new version before anything changes), asks (or `--yes`), takes an etcd backup,
//! then runs the control-plane part, each batch of nodes in turn and the finishing phases, and
//! waits for the nodes. A re-run goes on where a failed one stopped; on an upgraded cluster it
//! plans nothing.
//! Exit 0 upgraded (or nothing to do), 1 a step failed (the summary names the node and step; a
//! node whose drain failed stays cordoned), 2 bad input or no consent, 3 a host unreachable
//! before any change, 4 refused by the gate (nothing changed), 5 locked.

use crate::action::upgrade as parts;
use crate::cli::{OutputFormat, UpgradeArgs};
use crate::engine;
use crate::exit;
use crate::inventory::Host;
use crate::plan::{self, upgrade, Context};

use super::{confirm, Failure, Run};

pub async fn run(args: UpgradeArgs) -> Result<u8, Failure> {
    if args.common.on.is_some() {
        return Err(Failure::Usage(
            "upgrade works on the whole cluster, one node at a time: --on does not apply".into(),
        ));
    }
    let run = Run::start_locked(&args.common, "upgrade")?;
    let inv = &run.inventory;
    let to = inv.cluster.kubernetes_version;
    let mut cx = Context::with_certs(inv, args.common.certs_dir.as_deref()).map_err(Failure::Usage)?;
    cx.upgrade.drain_timeout = args.drain_timeout;
    // kubeadm writes the control plane's manifests again: mid-rotation it would point the
    // controller manager's signer back at a bundle, which it refuses.
    if let Some(why) = crate::pki::rotate::finish_first(&cx.pki, &inv.path, "upgrade") {
        run.finish().await;
        return Err(Failure::Usage(why));
    }
    let nodes: Vec<Host> = inv.hosts.iter().filter(|h| h.is_node()).cloned().collect();
    let parallel: usize = args.common.parallel.into();
    let (planned, code) = run.plan(&cx, &parts::all(), &nodes, parallel).await;
    let text = args.common.output == OutputFormat::Text;
    let order: Vec<String> = upgrade::batches(inv).iter().map(|b| b.join("+")).collect();
    if text {
        print!("{}", plan::show::text(&planned.phases, false));
        println!("{}", planned.counts);
        println!(
            "nodes are rolled in this order: {} (the later phases are planned again from what the earlier ones leave)",
            order.join(" → ")
        );
    }
    if code == exit::UNREACHABLE {
        run.finish().await;
        return Err(Failure::Unreachable(
            "a node did not answer: nothing was changed".into(),
        ));
    }
    // Stops before any change: refused by the plan, nothing to do, or only shown.
    let stop = if planned.counts.failed > 0 {
        Some((
            exit::PREFLIGHT,
            "upgrade refused: the plan has errors (above); nothing was changed".to_string(),
        ))
    } else if planned.counts.changed == 0 {
        Some((exit::OK, format!("nothing to upgrade: every node runs {to}")))
    } else if args.dry_run {
        Some((exit::OK, "--dry-run: nothing was changed".to_string()))
    } else {
        None
    };
    if let Some((code, why)) = stop {
        run.finish().await;
        if text {
            println!("{why}");
        } else {
            let v = serde_json::json!({"plan": planned, "order": order, "note": why, "exit_code": code});
            println!(
                "{}",
                serde_json::to_string_pretty(&v).map_err(|e| Failure::Internal(e.to_string()))?
            );
        }
        return Ok(code);
    }
    confirm(
        args.yes,
        &format!(
            "This upgrades cluster `{}` to Kubernetes {to}, draining {} node(s) one batch at a time.",
            inv.cluster.name,
            nodes.len()
        ),
        "yes",
    )?;
    let mut notes = Vec::new();
    if args.no_backup {
        notes.push("no backup was taken (--no-backup)".to_string());
    } else {
        match super::backup::take(&run, parallel, &args.backup_dir).await {
            Ok(meta) => notes.push(format!(
                "backup before the upgrade: {} (etcd {}, revision {}); `groundup restore` brings it back",
                meta.file, meta.etcd_version, meta.revision
            )),
            Err(e) => {
                run.finish().await;
                return Err(e);
            }
        }
    }
    let mut outcome = run.action(&cx, &parts::control_plane(), &nodes, parallel, true).await;
    let first = upgrade::first_control_plane(inv).cloned();
    if outcome.exit_code == exit::OK {
        for batch in upgrade::batches(inv) {
            // The first control plane issues the drains and uncordons; the batch is upgraded.
            let hosts: Vec<Host> = nodes
                .iter()
                .filter(|h| {
                    first.as_ref().is_some_and(|f| f.name == h.name) || batch.iter().any(|b| b == h.name.as_str())
                })
                .cloned()
                .collect();
            cx.upgrade.batch = Some(batch);
            let o = run.action(&cx, &parts::nodes(), &hosts, parallel, true).await;
            outcome.absorb(o);
            if outcome.exit_code != exit::OK {
                break;
            }
        }
    }
    if outcome.exit_code == exit::OK {
        cx.upgrade.batch = None;
        let o = run.action(&cx, &parts::finish(), &nodes, parallel, true).await;
        outcome.absorb(o);
    }
    if outcome.exit_code == exit::OK && args.ready_timeout > 0 {
        let timeout = std::time::Duration::from_secs(args.ready_timeout);
        outcome.ready = engine::ready::wait(&run.transport, inv, timeout, std::time::Duration::from_secs(5)).await;
        if outcome.ready.as_ref().is_some_and(|r| !r.ok) {
            outcome.exit_code = exit::FAILED;
        }
    }
    if outcome.exit_code != exit::OK {
        notes.push(format!(
            "to go on after fixing the cause: `groundup upgrade -i {}` again: it plans only what is not at {to} yet",
            inv.path.display()
        ));
    }
    drop(cx);
    run.report(outcome, notes, args.common.output, "upgrade").await
}
