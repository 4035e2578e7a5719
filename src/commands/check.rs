//! `groundup check`: validate, connect, gather facts, run preflight; print a table or JSON.
//! Never changes anything on a host. Exit 0 all good, 3 a host unreachable, 4 a check failed.

use serde::Serialize;

use crate::cli::{CheckArgs, OutputFormat};
use crate::exec::{window, ExecError, Transport};
use crate::exit;
use crate::facts::{self, Facts, HostFacts};
use crate::inventory::{Host, Inventory};
use crate::preflight::{self, Check, Level};
use crate::report::{table, Event, Reporter};

use super::{Failure, Run};

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub cluster: String,
    /// Each answering host's raw facts output (for `--save-facts`).
    #[serde(skip)]
    pub raw: Vec<(String, String)>,
    pub hosts: Vec<HostReport>,
    pub cluster_checks: Vec<Check>,
    pub summary: Summary,
}

#[derive(Debug, Serialize)]
pub struct HostReport {
    pub name: String,
    pub address: String,
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_skew: Option<f64>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Serialize)]
pub struct ErrorView {
    #[serde(flatten)]
    pub error: ExecError,
    pub message: String,
    pub hint: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub hosts: usize,
    pub unreachable: usize,
    pub ok: usize,
    pub warn: usize,
    pub fail: usize,
    pub exit_code: u8,
}

pub async fn run(args: CheckArgs) -> Result<u8, Failure> {
    let run = Run::start(&args.common, "check")?;
    let report = check(
        &run.inventory,
        &run.targets,
        &run.transport,
        args.common.parallel.into(),
        &run.reporter,
    )
    .await;
    let log = run.log_path.clone();
    run.finish().await;
    if let Some(dir) = &args.save_facts {
        std::fs::create_dir_all(dir).map_err(|e| Failure::Io(format!("cannot create `{}`: {e}", dir.display())))?;
        for (host, raw) in &report.raw {
            let p = dir.join(format!("{host}.txt"));
            std::fs::write(&p, raw).map_err(|e| Failure::Io(format!("cannot write `{}`: {e}", p.display())))?;
        }
    }
    match args.common.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Internal(e.to_string()))?
        ),
        OutputFormat::Text => print!("{}", render_text(&report, &log.display().to_string())),
    }
    Ok(report.summary.exit_code)
}

/// Gathers facts from `targets` through the window and evaluates every check. Reads only.
pub async fn check<T: Transport>(
    inv: &Inventory,
    targets: &[Host],
    t: &T,
    parallel: usize,
    r: &Reporter,
) -> CheckReport {
    r.send(Event::Phase {
        title: "gather facts".into(),
        hosts: targets.len(),
    });
    let gathered: Vec<Result<HostFacts, ExecError>> = window::for_each(targets, parallel, |h| async move {
        r.send(Event::HostStart {
            host: h.name.to_string(),
            what: "gathering facts".into(),
        });
        let res = facts::gather(t, h).await;
        let detail = match &res {
            Ok(f) => f.facts.os.pretty_name.clone(),
            Err(e) => e.to_string(),
        };
        r.send(Event::HostDone {
            host: h.name.to_string(),
            ok: res.is_ok(),
            detail,
        });
        res
    })
    .await;

    let mut hosts = Vec::new();
    let mut answered: Vec<(&Host, &HostFacts)> = Vec::new();
    for (h, res) in targets.iter().zip(&gathered) {
        let address = format!("{}:{}", h.ssh.address, h.ssh.port);
        match res {
            Ok(hf) => {
                answered.push((h, hf));
                hosts.push(HostReport {
                    name: h.name.to_string(),
                    address,
                    reachable: true,
                    error: None,
                    facts: Some(hf.facts.clone()),
                    clock_skew: hf.clock_skew,
                    checks: preflight::host_checks(inv, h, hf),
                });
            }
            Err(e) => {
                let check = if e.is_unreachable() { "connect" } else { "privilege" };
                hosts.push(HostReport {
                    name: h.name.to_string(),
                    address,
                    reachable: !e.is_unreachable(),
                    facts: None,
                    clock_skew: None,
                    checks: vec![Check::fail(check, e.to_string(), e.hint())],
                    error: Some(ErrorView {
                        message: e.to_string(),
                        hint: e.hint(),
                        error: e.clone(),
                    }),
                });
            }
        }
    }
    let cluster_checks = if answered.is_empty() {
        Vec::new()
    } else {
        preflight::cluster_checks(&answered)
    };
    let mut s = Summary {
        hosts: hosts.len(),
        ..Summary::default()
    };
    for c in hosts.iter().flat_map(|h| &h.checks).chain(&cluster_checks) {
        match c.level {
            Level::Ok => s.ok += 1,
            Level::Warn => s.warn += 1,
            Level::Fail => s.fail += 1,
        }
    }
    s.unreachable = hosts.iter().filter(|h| !h.reachable).count();
    s.exit_code = if s.unreachable > 0 {
        exit::UNREACHABLE
    } else if s.fail > 0 {
        exit::PREFLIGHT
    } else {
        exit::OK
    };
    CheckReport {
        cluster: inv.cluster.name.to_string(),
        raw: answered
            .iter()
            .map(|(h, hf)| (h.name.to_string(), hf.raw.stdout.clone()))
            .collect(),
        hosts,
        cluster_checks,
        summary: s,
    }
}

pub fn render_text(r: &CheckReport, log: &str) -> String {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let all = r
        .hosts
        .iter()
        .flat_map(|h| h.checks.iter().map(move |c| (h.name.as_str(), c)))
        .chain(r.cluster_checks.iter().map(|c| ("(cluster)", c)));
    for (host, c) in all {
        rows.push(vec![
            host.to_string(),
            c.name.to_string(),
            c.level.as_str().to_string(),
            c.detail.clone(),
        ]);
        if let (Some(hint), true) = (&c.hint, c.level != Level::Ok) {
            notes.push(format!(
                "{} {host} {}: {}\n  hint: {hint}\n",
                c.level.as_str(),
                c.name,
                c.detail
            ));
        }
    }
    let mut out = table::render(&["HOST", "CHECK", "RESULT", "DETAIL"], &rows);
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes.concat());
    }
    let s = &r.summary;
    out.push_str(&format!(
        "\ncheck {}: {} host{}, {} unreachable, {} failed, {} warning{} (log: {log})\n",
        r.cluster,
        s.hosts,
        if s.hosts == 1 { "" } else { "s" },
        s.unreachable,
        s.fail,
        s.warn,
        if s.warn == 1 { "" } else { "s" }
    ));
    out
}
