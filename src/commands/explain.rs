//! `groundup explain`: gathers facts like `plan` and prints the same plan as a guide (Markdown,
//! or one HTML page with `--html`), to standard output or `--out FILE`. Read-only. Exit codes as
//! `plan`'s (0; 3 a host unreachable; 4 preflight failed, the guide says where).

use crate::cli::ExplainArgs;
use crate::plan::{guide, Context};

use super::plan::select_phases;
use super::{Failure, Run};

pub async fn run(args: ExplainArgs) -> Result<u8, Failure> {
    let phases = select_phases(args.until.as_deref())?;
    let run = Run::start(&args.common, "explain")?;
    let cx = Context::with_certs(&run.inventory, args.common.certs_dir.as_deref()).map_err(Failure::Usage)?;
    let (report, code) = run.plan(&cx, &phases, &run.targets, args.common.parallel.into()).await;
    let md = guide::markdown(&run.inventory, &report.phases);
    let text = if args.html {
        guide::html(&format!("groundup: {}", run.inventory.cluster.name), &md)
    } else {
        md
    };
    run.finish().await;
    match &args.out {
        Some(p) => {
            std::fs::write(p, text).map_err(|e| Failure::Io(format!("cannot write `{}`: {e}", p.display())))?;
            eprintln!("guide written to {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(code)
}
