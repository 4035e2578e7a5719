//! `groundup exec -- CMD…`: an ad-hoc command on every (or every `--on`) host through the window.
//! Prints each host's output prefixed with its name. Exit 0 all succeeded, 1 a command failed,
//! 3 a host was unreachable.

use serde::Serialize;

use crate::cli::{ExecArgs, OutputFormat};
use crate::exec::{window, ExecError, Output, Request, Transport};
use crate::exit;
use crate::inventory::Host;
use crate::report::{Event, Reporter};

use super::{Failure, Run};

#[derive(Debug, Serialize)]
pub struct ExecResult {
    pub host: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Output(Output),
    Error {
        error: ExecError,
        message: String,
        hint: String,
    },
}

pub async fn run(args: ExecArgs) -> Result<u8, Failure> {
    let run = Run::start(&args.common, "exec")?;
    let script = format!("{}\n", shell_words::join(&args.command));
    let mut req = Request::script(
        format!("exec {}", args.command.first().map(String::as_str).unwrap_or("")),
        script,
    );
    if !args.sudo {
        req = req.unprivileged();
    }
    let results = exec(
        &run.targets,
        &run.transport,
        &req,
        args.common.parallel.into(),
        &run.reporter,
    )
    .await;
    run.finish().await;
    match args.common.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&results).map_err(|e| Failure::Internal(e.to_string()))?
        ),
        OutputFormat::Text => print!("{}", render_text(&results)),
    }
    Ok(exit_code(&results))
}

pub async fn exec<T: Transport>(
    targets: &[Host],
    t: &T,
    req: &Request,
    parallel: usize,
    r: &Reporter,
) -> Vec<ExecResult> {
    r.send(Event::Phase {
        title: req.what.clone(),
        hosts: targets.len(),
    });
    window::for_each(targets, parallel, |h| async move {
        r.send(Event::HostStart {
            host: h.name.to_string(),
            what: req.what.clone(),
        });
        let outcome = match t.run(h, req).await {
            Ok(o) => {
                r.send(Event::HostDone {
                    host: h.name.to_string(),
                    ok: o.success(),
                    detail: format!("exit {}", status(&o)),
                });
                Outcome::Output(o)
            }
            Err(e) => {
                r.send(Event::HostDone {
                    host: h.name.to_string(),
                    ok: false,
                    detail: e.to_string(),
                });
                Outcome::Error {
                    message: e.to_string(),
                    hint: e.hint(),
                    error: e,
                }
            }
        };
        ExecResult {
            host: h.name.to_string(),
            outcome,
        }
    })
    .await
}

fn status(o: &Output) -> String {
    o.status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "killed by a signal".into())
}

pub fn exit_code(results: &[ExecResult]) -> u8 {
    let unreachable = results
        .iter()
        .any(|r| matches!(&r.outcome, Outcome::Error { error, .. } if error.is_unreachable()));
    let failed = results.iter().any(|r| match &r.outcome {
        Outcome::Output(o) => !o.success(),
        Outcome::Error { .. } => true,
    });
    if unreachable {
        exit::UNREACHABLE
    } else if failed {
        exit::FAILED
    } else {
        exit::OK
    }
}

pub fn render_text(results: &[ExecResult]) -> String {
    let mut out = String::new();
    for r in results {
        match &r.outcome {
            Outcome::Output(o) => {
                for line in o.stdout.lines() {
                    out.push_str(&format!("{} | {line}\n", r.host));
                }
                for line in o.stderr.lines() {
                    out.push_str(&format!("{} ! {line}\n", r.host));
                }
                if !o.success() {
                    out.push_str(&format!("{} : exit {}\n", r.host, status(o)));
                }
            }
            Outcome::Error { message, hint, .. } => {
                out.push_str(&format!("{} : error: {message}\n{} : hint: {hint}\n", r.host, r.host))
            }
        }
    }
    out
}
