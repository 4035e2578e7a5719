//! A command on a class file (many clusters, issue 13): every cluster is checked first (all
//! problems of all clusters reported together, nothing started), then each selected cluster runs
//! the same command line in a groundup process of its own (`--cluster NAME`), at most
//! `[class] clusters_at_once` at a time; one failed cluster never stops the others. Each cluster
//! keeps its own PKI folder (`certs/<cluster>`, or `<--certs-dir>/<cluster>`), journal, lock and
//! log; its whole output is kept in a folder beside the logs, and a line is printed as each one
//! ends, then one table (or JSON). Exit 0 when every cluster's command exited 0, else 1.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;

use crate::cli::OutputFormat;
use crate::exit;
use crate::inventory::class;
use crate::report::table;

use super::Failure;

/// A command line whose inventory is a class file with other than one cluster selected.
pub struct Invocation {
    pub inventory: PathBuf,
    pub command: String,
    pub json: bool,
    pub log_dir: Option<PathBuf>,
}

/// `Some` when this command line must run through the class runner.
pub fn invocation(m: &clap::ArgMatches) -> Option<Invocation> {
    let mut names = vec![];
    let mut leaf = m;
    while let Some((name, sub)) = leaf.subcommand() {
        names.push(name.to_string());
        leaf = sub;
    }
    let inventory = leaf.try_get_one::<PathBuf>("inventory").ok().flatten()?.clone();
    let text = std::fs::read_to_string(&inventory).ok()?;
    if !class::is_class(&text) || class::selection().len() == 1 {
        return None;
    }
    Some(Invocation {
        inventory,
        command: names.join(" "),
        json: leaf.try_get_one::<OutputFormat>("output").ok().flatten() == Some(&OutputFormat::Json),
        log_dir: leaf.try_get_one::<PathBuf>("log_dir").ok().flatten().cloned(),
    })
}

#[derive(Debug, Serialize)]
struct Done {
    cluster: String,
    exit_code: i32,
    result: String,
    seconds: f64,
    summary: String,
    /// The cluster's own JSON answer (with `-o json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<serde_json::Value>,
    /// Its whole standard output and error.
    log: PathBuf,
}

pub async fn run(i: Invocation) -> Result<u8, Failure> {
    let class = class::load(&i.inventory)?;
    let all: Vec<String> = class.clusters.iter().map(|c| c.cluster.name.to_string()).collect();
    let selected = class::selection();
    if let Some(bad) = selected.iter().find(|s| !all.contains(s)) {
        return Err(Failure::Usage(format!(
            "--cluster `{bad}`: the class `{}` has no such cluster (its clusters: {})",
            class.name,
            all.join(", ")
        )));
    }
    let chosen: Vec<String> = all
        .iter()
        .filter(|n| selected.is_empty() || selected.contains(n))
        .cloned()
        .collect();
    let log_dir = i
        .log_dir
        .clone()
        .or_else(|| std::env::var_os("GROUNDUP_LOG_DIR").map(PathBuf::from))
        .unwrap_or_else(crate::logging::default_dir);
    let dir = outputs_dir(&log_dir, &class.name, &i.command)?;
    let exe =
        std::env::current_exe().map_err(|e| Failure::Internal(format!("cannot find groundup's own binary: {e}")))?;
    let args = without_cluster(std::env::args_os().skip(1).collect());
    let has = |flag: &str| args.iter().any(|a| a.to_string_lossy().split('=').next() == Some(flag));
    if i.command == "kubeconfig" && has("--tunnel") {
        return Err(Failure::Usage(
            "a tunnel is held for one cluster at a time: name it with --cluster NAME".into(),
        ));
    }
    // Merging into one kubeconfig file: one cluster after the other, never two writers at once.
    let at_once = if i.command == "kubeconfig" && has("--merge") {
        1
    } else {
        class.clusters_at_once
    };
    eprintln!(
        "class `{}`: {} on {} cluster(s), {} at a time; outputs in {}",
        class.name,
        i.command,
        chosen.len(),
        at_once,
        dir.display()
    );
    let finished = AtomicUsize::new(0);
    let total = chosen.len();
    let mut done: Vec<Done> = futures::stream::iter(chosen.iter().map(|name| {
        let (exe, dir, finished) = (&exe, &dir, &finished);
        let args = for_cluster(&args, name);
        async move {
            let t0 = Instant::now();
            let out = tokio::process::Command::new(exe)
                .args(&args)
                .env("GROUNDUP_CLUSTER", name)
                .stdin(Stdio::null())
                .output()
                .await;
            let log = dir.join(format!("{name}.txt"));
            let (code, stdout, stderr) = match out {
                Ok(o) => (
                    o.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&o.stdout).into_owned(),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                ),
                Err(e) => (-1, String::new(), format!("cannot start groundup: {e}\n")),
            };
            // Private: a cluster's output may name what only its admins should read.
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&log)
                .and_then(|mut f| f.write_all(format!("{stdout}\n--- standard error ---\n{stderr}").as_bytes()));
            let d = Done {
                cluster: name.clone(),
                exit_code: code,
                result: verdict(code),
                seconds: (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
                summary: summary(&stdout, &stderr, i.json),
                output: if i.json {
                    serde_json::from_str(&stdout).ok()
                } else {
                    None
                },
                log,
            };
            let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
            eprintln!(
                "[{n}/{total}] {}: {} in {:.1} s: {}",
                d.cluster, d.result, d.seconds, d.summary
            );
            d
        }
    }))
    .buffer_unordered(at_once)
    .collect()
    .await;
    done.sort_by_key(|d| all.iter().position(|n| *n == d.cluster));
    let ok = done.iter().filter(|d| d.exit_code == 0).count();
    let code = if ok == done.len() { exit::OK } else { exit::FAILED };
    if i.json {
        #[derive(Serialize)]
        struct Out<'a> {
            class: &'a str,
            command: &'a str,
            clusters: &'a [Done],
            exit_code: u8,
        }
        let out = Out {
            class: &class.name,
            command: &i.command,
            clusters: &done,
            exit_code: code,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| Failure::Internal(e.to_string()))?
        );
    } else {
        let rows: Vec<Vec<String>> = done
            .iter()
            .map(|d| {
                vec![
                    d.cluster.clone(),
                    d.result.clone(),
                    format!("{:.1} s", d.seconds),
                    d.summary.clone(),
                ]
            })
            .collect();
        print!("{}", table::render(&["CLUSTER", "RESULT", "TIME", "SUMMARY"], &rows));
        println!(
            "class `{}`: {ok} of {} cluster(s) ok; each cluster's whole output is in {}",
            class.name,
            done.len(),
            dir.display()
        );
    }
    Ok(code)
}

fn verdict(code: i32) -> String {
    match code {
        0 => "ok".into(),
        1 => "failed (1)".into(),
        2 => "bad input (2)".into(),
        3 => "unreachable (3)".into(),
        4 => "refused (4)".into(),
        5 => "locked (5)".into(),
        c => format!("error ({c})"),
    }
}

/// The line that says how it went: the last of standard output, else of standard error.
fn summary(stdout: &str, stderr: &str, json: bool) -> String {
    let last = |t: &str| t.lines().rev().map(str::trim).find(|l| !l.is_empty()).map(String::from);
    let line = if json { None } else { last(stdout) }
        .or_else(|| last(stderr))
        .unwrap_or_default();
    if line.chars().count() > 110 {
        format!("{}…", line.chars().take(110).collect::<String>())
    } else {
        line
    }
}

/// The command line without `--cluster` (the runner names each cluster itself).
fn without_cluster(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = vec![];
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        let s = a.to_string_lossy();
        if s == "--cluster" {
            skip = true;
        } else if !s.starts_with("--cluster=") {
            out.push(a);
        }
    }
    out
}

/// One cluster's command line: `--out FILE` becomes `<cluster>-FILE` beside it (each cluster its
/// own output file). `--certs-dir DIR` stays: a class's cluster reads it as `DIR/<cluster>`
/// itself ([`crate::inventory::Inventory::certs_dir`]), as it does when a user names the cluster.
fn for_cluster(args: &[OsString], cluster: &str) -> Vec<OsString> {
    let out = |v: &str| {
        let p = Path::new(v);
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        p.with_file_name(format!("{cluster}-{name}")).into_os_string()
    };
    let mut v = vec![];
    let mut pending = false;
    for a in args {
        let s = a.to_string_lossy();
        if std::mem::take(&mut pending) {
            v.push(out(&s));
            continue;
        }
        match s.split_once('=') {
            Some(("--out", val)) => v.push(format!("--out={}", out(val).to_string_lossy()).into()),
            _ => {
                pending = s == "--out";
                v.push(a.clone());
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cluster_gets_its_own_output_file_and_the_same_certs_dir_option() {
        let args: Vec<OsString> = [
            "apply",
            "-i",
            "c.toml",
            "--cluster",
            "a,b",
            "--certs-dir",
            "pki",
            "--out=x/g.md",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let got = for_cluster(&without_cluster(args), "s-01");
        let got: Vec<String> = got.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            got,
            ["apply", "-i", "c.toml", "--certs-dir", "pki", "--out=x/s-01-g.md"]
        );
    }
}

/// A folder of its own for this run's outputs, `class-<class>-<command>-<stamp>`, with `-2`, `-3`…
/// when another run started in the same second: two runs never write into one folder.
fn outputs_dir(log_dir: &Path, class: &str, command: &str) -> Result<PathBuf, Failure> {
    let io = |p: &Path, e: std::io::Error| Failure::Io(format!("cannot create `{}`: {e}", p.display()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(log_dir)
        .map_err(|e| io(log_dir, e))?;
    let base = format!("class-{class}-{command}-{}", crate::engine::journal::utc_stamp());
    let mut n = 1;
    loop {
        let dir = log_dir.join(if n == 1 { base.clone() } else { format!("{base}-{n}") });
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(io(&dir, e)),
        }
    }
}
