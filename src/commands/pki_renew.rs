//! `groundup pki renew`: reissue here (leaves that expire within `--renew-before-days`, or all
//! with `--all`; CAs never), then run the rollout action on the hosts that hold the PKI, one at a
//! time, and print the same summary as `apply`. Exit 0 rolled out, 1 a host failed (the hosts
//! after it keep the old files), 2 bad PKI or inventory, 3 unreachable, 5 locked.

use crate::cli::PkiRenewArgs;
use crate::pki::generate::{generate, Action as PkiAction};
use crate::pki::store::Store;
use crate::plan::Context;

use super::{Failure, Run};

pub async fn run(args: PkiRenewArgs) -> Result<u8, Failure> {
    let action = crate::action::renew::renew();
    let run = Run::start_locked(&args.common, "pki renew")?;
    let inv = &run.inventory;
    let dir = inv.certs_dir(args.common.certs_dir.as_deref());
    if !dir.join("ca.crt").exists() {
        return Err(Failure::Usage(format!(
            "no PKI in `{}`: nothing to renew\n  hint: `groundup pki generate -i {}` makes it",
            dir.display(),
            inv.path.display()
        )));
    }
    let pki = crate::plan::Context::with_certs(inv, Some(&dir))
        .map_err(Failure::Usage)?
        .pki;
    if let Some(why) = crate::pki::rotate::finish_first(&pki, &inv.path, "renew") {
        return Err(Failure::Usage(why));
    }
    let renew = if args.all {
        time::Duration::days(365 * 200)
    } else {
        time::Duration::days(args.renew_before_days.into())
    };
    let decisions = generate(inv, &Store::new(&dir), renew, time::OffsetDateTime::now_utc())
        .map_err(|e| Failure::Usage(format!("{e}\nhint: {}", e.hint())))?;
    let mut notes: Vec<String> = decisions
        .iter()
        .filter(|d| d.action != PkiAction::Keep)
        .map(|d| format!("reissued {}: {}", d.file, d.why))
        .collect();
    if notes.is_empty() {
        notes.push("nothing reissued here: every leaf is valid beyond the threshold".into());
    }
    let cx = Context::with_certs(inv, Some(&dir)).map_err(Failure::Usage)?;
    let parallel: usize = args.common.parallel.into();
    let outcome = run.action(&cx, &action, &run.targets, parallel, true).await;
    drop(cx);
    run.report(outcome, notes, args.common.output, "pki renew").await
}
