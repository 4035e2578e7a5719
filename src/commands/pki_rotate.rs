//! `groundup pki rotate-ca --ca kubernetes|front-proxy|etcd`: a new CA in place of the old
//! without downtime, in three rollouts (one host at a time, each restart waited for): hosts trust
//! both CAs; every leaf is reissued from the new CA; hosts trust the new CA alone. Where the
//! rotation stands is read from the PKI folder ([`crate::pki::rotate`]), so a run that stopped
//! goes on where it stopped when run again. The kubernetes CA also moves every kubelet (its trust
//! and its client certificate), the kubeconfigs, the system workloads' service-account trust and
//! what the API publishes; the front-proxy CA, what the API publishes for aggregated API servers
//! (`plan::renew::ca`). Refused while a node is NotReady, an etcd member is not running, the PKI
//! does not fit the inventory, or another CA's rotation is under way.
//! Exit 0 rotated, 1 a rollout failed (run again to go on), 2 bad input or no consent, 3 a host
//! unreachable before any change, 4 refused, 5 locked.

use crate::cli::PkiRotateCaArgs;
use crate::exec::window;
use crate::exit;
use crate::facts;
use crate::inventory::{Host, Role};
use crate::pki::generate::{generate, Action as PkiAction, RENEW_BEFORE};
use crate::pki::rotate::{self, Stage};
use crate::pki::store::Store;
use crate::plan::etcd_access::Access;
use crate::plan::{self, Context};

use super::{confirm, Failure, Run};

pub async fn run(args: PkiRotateCaArgs) -> Result<u8, Failure> {
    if args.common.on.is_some() {
        return Err(Failure::Usage(
            "a CA is rotated on every host that holds it: --on does not apply".into(),
        ));
    }
    let id = rotate::ca_id(&args.ca).unwrap_or("etcd/ca");
    let next = format!(
        "run `groundup pki rotate-ca --ca {}` again: it goes on from here",
        args.ca
    );
    let run = Run::start_locked(&args.common, "pki rotate-ca")?;
    let inv = &run.inventory;
    let dir = inv.certs_dir(args.common.certs_dir.as_deref());
    let store = Store::new(&dir);
    let read = || Context::with_certs(inv, Some(&dir)).map_err(Failure::Usage);
    let cx = read()?;
    if cx.pki.is_empty() {
        return Err(Failure::Usage(format!(
            "no PKI in `{}`: nothing to rotate\n  hint: `groundup pki generate -i {}` makes it",
            dir.display(),
            inv.path.display()
        )));
    }
    let hosts: Vec<Host> = inv
        .hosts
        .iter()
        .filter(|h| id == "ca" || h.has(Role::ControlPlane) || h.has(Role::Etcd))
        .cloned()
        .collect();
    let parallel: usize = args.common.parallel.into();
    let first = rotate::stage(&cx.pki, id);
    if rotate::under_way(&cx.pki).is_some_and(|c| rotate::ca_id(c) != Some(id)) {
        let then = format!("rotate the {} CA", args.ca);
        return Err(Failure::Usage(
            rotate::finish_first(&cx.pki, &inv.path, &then).unwrap_or_default(),
        ));
    }
    let text = args.common.output == crate::cli::OutputFormat::Text;

    // Before the first change: every host answers, the cluster is whole, the PKI current.
    if first == Stage::None {
        let gathered = window::for_each(&hosts, parallel, |h| facts::gather(&run.transport, h)).await;
        let mut refusals = vec![];
        for (h, f) in hosts.iter().zip(&gathered) {
            match f {
                Err(e) => {
                    run.finish().await;
                    return Err(Failure::Unreachable(format!("{}: {e}: nothing was changed", h.name)));
                }
                Ok(f) => {
                    if h.has(Role::Etcd) && !Access::of(inv).running(f) && Access::of(inv) == Access::External {
                        refusals.push(format!("etcd is not running on {}", h.name));
                    }
                    if let Some(c) = &f.facts.state.cluster {
                        for (n, info) in &c.node_info {
                            if info.ready != Some(true) && !refusals.iter().any(|r| r.contains(n.as_str())) {
                                refusals.push(format!("node {n} is not Ready"));
                            }
                        }
                    }
                }
            }
        }
        refusals.extend(
            cx.pki_pending
                .iter()
                .map(|p| format!("the PKI does not fit the inventory: {p}")),
        );
        if !refusals.is_empty() {
            run.finish().await;
            let hint = "`groundup apply` (or `pki generate`) brings the cluster to the inventory first";
            if text {
                println!("rotate-ca refused, nothing was changed:");
                for r in &refusals {
                    println!("  - {r}");
                }
                println!("hint: {hint}");
            } else {
                let v = serde_json::json!({ "refused": refusals, "hint": hint, "exit_code": exit::PREFLIGHT });
                println!("{v:#}");
            }
            return Ok(exit::PREFLIGHT);
        }
    }
    if args.dry_run {
        let (planned, code) = run
            .plan(&cx, &crate::action::renew::rotate(id).phases, &hosts, parallel)
            .await;
        run.finish().await;
        println!(
            "the {} CA: {}; the rollout of this stage:",
            args.ca,
            match first {
                Stage::None => "no rotation under way (a new CA would be made, then trusted beside the old)",
                Stage::Trust => "stage 1 of 3, both CAs trusted, the old one signs",
                Stage::Leaves => "stage 2 of 3, the new CA signs, every leaf reissued from it",
                Stage::Drop => "stage 3 of 3, the new CA trusted alone",
            }
        );
        print!("{}", plan::show::text(&planned.phases, false));
        println!("{}\n--dry-run: nothing was changed", planned.counts);
        return Ok(code);
    }
    if first == Stage::None {
        let question = format!(
            "Rotate the {} CA of `{}`: a new CA, then {} host(s) restarted one at a time, three times.",
            args.ca,
            inv.cluster.name,
            hosts.len()
        );
        if let Err(e) = confirm(args.yes, &question, "yes") {
            run.finish().await;
            return Err(e);
        }
        rotate::start(inv, &store, id, time::OffsetDateTime::now_utc()).map_err(Failure::Io)?;
    }

    let mut notes = vec![];
    let mut outcome: Option<crate::engine::Outcome> = None;
    let action = crate::action::renew::rotate(id);
    loop {
        let cx = read()?;
        let stage = rotate::stage(&cx.pki, id);
        if stage == Stage::None {
            break;
        }
        let cx = if stage == Stage::Leaves {
            let decisions = generate(inv, &store, RENEW_BEFORE, time::OffsetDateTime::now_utc())
                .map_err(|e| Failure::Usage(format!("{e}\nhint: {}", e.hint())))?;
            let n = decisions.iter().filter(|d| d.action != PkiAction::Keep).count();
            if n > 0 {
                notes.push(format!("{n} certificate(s) reissued from the new {} CA", args.ca));
            }
            if id == "ca" {
                let n = rotate::issue_kubelet_clients(inv, &store, time::OffsetDateTime::now_utc())
                    .map_err(|e| Failure::Io(format!("{e} ({next})")))?;
                if n > 0 {
                    notes.push(format!("{n} kubelet client certificate(s) issued from the new CA"));
                }
            }
            read()?
        } else {
            cx
        };
        let o = run.action(&cx, &action, &hosts, parallel, true).await;
        let failed = o.exit_code != exit::OK;
        match outcome.as_mut() {
            Some(all) => all.absorb(o),
            None => outcome = Some(o),
        }
        if failed {
            notes.push(format!("the rotation stopped at stage {} of 3; {next}", stage as u8));
            break;
        }
        let step = match stage {
            Stage::Trust => {
                rotate::swap(&store, id).map(|_| "every host trusts both CAs; the new one signs now".to_string())
            }
            Stage::Leaves => rotate::mark_drop(&store, id).map(|_| "every host runs leaves of the new CA".to_string()),
            Stage::Drop => rotate::retire(&store, id, &crate::engine::journal::utc_stamp()).map(|to| {
                format!(
                    "every host trusts the new CA alone; the old one is kept in `{}`",
                    dir.join(to).display()
                )
            }),
            Stage::None => unreachable!(),
        };
        notes.push(step.map_err(|e| Failure::Io(format!("{e} ({next})")))?);
    }
    let outcome = outcome.ok_or_else(|| Failure::Internal("no rollout ran".into()))?;
    if text && outcome.exit_code == exit::OK {
        notes.push(format!("the {} CA of `{}` is rotated", args.ca, inv.cluster.name));
        if id == "ca" {
            notes.push(format!(
                "kubeconfigs made before trust the old CA alone: get a new one (`groundup kubeconfig -i {}`)",
                inv.path.display()
            ));
        }
    }
    run.report(outcome, notes, args.common.output, "pki rotate-ca").await
}
