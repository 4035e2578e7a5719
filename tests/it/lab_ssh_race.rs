//! Issue 21, defect 6: many groundup processes share the folder of persisted SSH masters. A class
//! of 16 clusters × 3 hosts on the sshd endpoints runs at once, 16 processes starting together,
//! first contact included (a fresh known_hosts each trial, `--accept-new-host-keys`), then again
//! with the keys known. Every cluster answers every time and known_hosts holds every key. Before
//! the fix, each process swept `.ssh-connection*` folders another one was connecting through:
//! 4 of 16 clusters answered at first contact and known_hosts kept 17 of 48 keys.
//!
//! `GROUNDUP_SSH_RACE_TRIALS` sets the trials (default 5, 10 runs; the proof was 50 trials by hand).

use std::path::Path;

use assert_cmd::Command;

const SSHD: &str = "/var/tmp/groundup-lab/sshd";
const CLUSTERS: usize = 16;
const PER_CLUSTER: usize = 3;

fn class_file(d: &Path, known_hosts: &Path) -> std::path::PathBuf {
    let hosts: Vec<String> = (1..=CLUSTERS * PER_CLUSTER)
        .map(|i| {
            format!(
                "  {{ address = \"127.0.78.{}\", internal_address = \"10.78.0.{}\" }},",
                i + 1,
                i + 1
            )
        })
        .collect();
    let text = format!(
        "[class]\nname = \"race\"\nclusters_at_once = {CLUSTERS}\n\n[class.generate]\nprefix = \"r\"\nper_cluster = {PER_CLUSTER}\nhosts = [\n{}\n]\n\n\
         [cluster]\nkubernetes_version = \"1.36.3\"\npod_subnet = \"10.244.0.0/16\"\nservice_subnet = \"10.96.0.0/12\"\n\n\
         [ssh]\nuser = \"gulab\"\nsudo = false\nport = 2200\nidentity_file = \"/var/tmp/groundup-lab/ssh/id_ed25519\"\nknown_hosts = \"{}\"\n",
        hosts.join("\n"),
        known_hosts.display()
    );
    let p = d.join("class.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// `groundup exec -- true` on the whole class; masters persist in `runtime` (shared by all 16).
fn exec(d: &Path, runtime: &Path, class: &Path, accept_new: bool) -> std::process::Output {
    let mut c = Command::cargo_bin("groundup").unwrap();
    c.current_dir(d)
        .env("GROUNDUP_LOG_DIR", d.join("logs"))
        .env("GROUNDUP_STATE_DIR", d.join("state"))
        .env("NO_COLOR", "1")
        .env("XDG_RUNTIME_DIR", runtime)
        .env("GROUNDUP_SSH_PERSIST", "30")
        .env_remove("GROUNDUP_CLUSTER")
        .args(["exec", "--progress", "none", "-i"])
        .arg(class);
    if accept_new {
        c.arg("--accept-new-host-keys");
    }
    c.args(["--", "true"]).output().unwrap()
}

/// Ends the masters this test left persisting (each by its own control socket).
fn close_masters(runtime: &Path) {
    let Ok(entries) = std::fs::read_dir(runtime.join("groundup/ssh")) else {
        return;
    };
    for e in entries.flatten() {
        let sock = e.path().join("master");
        if sock.exists() {
            let _ = std::process::Command::new("ssh")
                .args(["-o", "BatchMode=yes", "-S"])
                .arg(&sock)
                .args(["-O", "exit", "x"])
                .output();
        }
    }
}

#[test]
fn sixteen_clusters_starting_together_share_persisted_masters_without_a_failure() {
    let n = std::fs::read_to_string(format!("{SSHD}/inventory.toml"))
        .map(|t| t.matches("[[hosts]]").count())
        .unwrap_or(0);
    assert!(
        n >= CLUSTERS * PER_CLUSTER,
        "run `scripts/lab up 50 --kind ssh` first ({n} endpoints)"
    );
    let trials: usize = std::env::var("GROUNDUP_SSH_RACE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let runtime = d.join("run");
    std::fs::create_dir(&runtime).unwrap();
    let mut failed = Vec::new();
    for trial in 1..=trials {
        let known = d.join(format!("known_hosts.{trial}"));
        let class = class_file(d, &known);
        for (round, accept_new) in [("first contact", true), ("keys known", false)] {
            let o = exec(d, &runtime, &class, accept_new);
            let keys = std::fs::read_to_string(&known).map(|t| t.lines().count()).unwrap_or(0);
            if o.status.code() != Some(0) || keys != CLUSTERS * PER_CLUSTER {
                let err = String::from_utf8_lossy(&o.stderr);
                let why: Vec<&str> = err
                    .lines()
                    .filter(|l| l.contains("r-") && !l.contains(": ok in"))
                    .take(4)
                    .collect();
                failed.push(format!(
                    "trial {trial}, {round}: exit {:?}, {keys} of {} keys known; {}",
                    o.status.code(),
                    CLUSTERS * PER_CLUSTER,
                    why.join(" / ")
                ));
            }
        }
    }
    close_masters(&runtime);
    assert!(
        failed.is_empty(),
        "{} of {} runs failed:\n{}",
        failed.len(),
        2 * trials,
        failed.join("\n")
    );
}
