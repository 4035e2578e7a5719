//! `groundup pki status`: reads every certificate that matters on every host over SSH (one
//! read-only script each), compares the files groundup placed with `certs/<cluster>`, and prints
//! one table sorted by expiry (or JSON). Exit 0 all fine, 1 something expires within
//! `--warn-days`, expired, drifted, is missing or its CA is not the local one, 3 unreachable.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::{OutputFormat, PkiStatusArgs};
use crate::exec::{window, Request, Transport};
use crate::exit;
use crate::inventory::Host;
use crate::pki::status::{bad, rows, script, Row};
use crate::plan::phases::placements;
use crate::plan::{Action, Context};
use crate::report::{table, Event};

use super::{Failure, Run};

#[derive(Debug, Serialize)]
struct Report {
    rows: Vec<Row>,
    unreachable: Vec<String>,
    exit_code: u8,
}

pub async fn run(args: PkiStatusArgs) -> Result<u8, Failure> {
    let run = Run::start(&args.common, "pki status")?;
    let inv = &run.inventory;
    let cx = Context::with_certs(inv, args.common.certs_dir.as_deref()).map_err(Failure::Usage)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let hosts: Vec<Host> = run.targets.clone();
    run.reporter.send(Event::Phase {
        title: "read certificates".into(),
        hosts: hosts.len(),
    });
    let (rows, unreachable) = read_rows(
        &run,
        &cx,
        &hosts,
        args.common.parallel.into(),
        now,
        args.warn_days.into(),
    )
    .await;
    let compare = !cx.pki.is_empty();
    let mut report = Report {
        rows,
        unreachable,
        exit_code: exit::OK,
    };
    report.rows.sort_by(|a, b| {
        (a.not_after == 0, a.not_after, &a.host, &a.file).cmp(&(b.not_after == 0, b.not_after, &b.host, &b.file))
    });
    if report.rows.iter().any(bad) {
        report.exit_code = exit::FAILED;
    }
    if !report.unreachable.is_empty() {
        report.exit_code = exit::UNREACHABLE;
    }
    let certs_dir = cx.certs_dir.display().to_string();
    drop(cx);
    run.finish().await;
    match args.common.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Internal(e.to_string()))?
        ),
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = report
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.host.clone(),
                        r.file.clone(),
                        r.subject.clone(),
                        if r.not_after == 0 {
                            "-".into()
                        } else {
                            date(r.not_after)
                        },
                        if r.not_after == 0 {
                            "-".into()
                        } else {
                            r.days_left.to_string()
                        },
                        r.issuer.clone(),
                        if r.status == "ok" {
                            "ok".into()
                        } else {
                            r.status.to_uppercase()
                        },
                    ]
                })
                .collect();
            print!(
                "{}",
                table::render(
                    &["HOST", "FILE", "SUBJECT", "NOT AFTER", "DAYS", "ISSUER", "STATUS"],
                    &rows
                )
            );
            for u in &report.unreachable {
                println!("UNREACHABLE {u}");
            }
            if !compare {
                println!("note: no PKI at `{certs_dir}`: drift and CA mismatches not checked (expiry only)");
            }
            let n = report.rows.iter().filter(|r| bad(r)).count();
            println!(
                "{} certificate(s) and placed file(s) on {} host(s); {n} need attention (expiring within {} days, expired, drift from `{}`, missing, or another CA)",
                report.rows.len(),
                hosts.len() - report.unreachable.len(),
                args.warn_days,
                certs_dir
            );
        }
    }
    Ok(report.exit_code)
}

/// Every host's certificate rows (as `pki status` reads them, compared with the local PKI when
/// there is one), and the hosts that did not answer (`name: error`).
pub(super) async fn read_rows(
    run: &Run,
    cx: &Context<'_>,
    hosts: &[Host],
    parallel: usize,
    now: i64,
    warn_days: i64,
) -> (Vec<Row>, Vec<String>) {
    // Without a local PKI there is nothing to compare with: expiry only.
    let compare = !cx.pki.is_empty();
    let inv = cx.inv;
    let results = window::for_each(hosts, parallel, |h| {
        let placed = if compare {
            placements(inv, h).unwrap_or_default()
        } else {
            vec![]
        };
        let paths: Vec<String> = placed.iter().map(|p| p.path.clone()).collect();
        let t = &run.transport;
        async move {
            let req = Request::script("read certificates", Action::script_text(&script(&paths)));
            (placed, t.run(h, &req).await)
        }
    })
    .await;
    let (mut rows_out, mut unreachable) = (vec![], vec![]);
    // What groundup places, a CA under rotation included (both CAs, `pki rotate-ca`).
    let local: BTreeMap<String, String> = cx
        .pki
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                crate::pki::rotate::trust(&cx.pki, k).unwrap_or_else(|| v.clone()),
            )
        })
        .collect();
    for (h, (placed, res)) in hosts.iter().zip(results) {
        match res {
            Ok(o) => rows_out.extend(rows(h.name.as_str(), &o.stdout, &placed, &local, now, warn_days)),
            Err(e) => unreachable.push(format!("{}: {e}", h.name)),
        }
    }
    (rows_out, unreachable)
}

fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_else(|_| unix.to_string())
}
