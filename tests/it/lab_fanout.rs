//! Fan-out on the bare sshd endpoints (`scripts/lab up 50 --kind ssh`): every endpoint answers
//! through a window much smaller than the host count, output stays attributed to its host.

use assert_cmd::Command;

const INVENTORY: &str = "/var/tmp/groundup-lab/sshd/inventory.toml";

#[test]
fn exec_fans_out_to_fifty_endpoints_through_a_window_of_eight() {
    let text = std::fs::read_to_string(INVENTORY)
        .unwrap_or_else(|_| panic!("run `scripts/lab up 50 --kind ssh` first ({INVENTORY} missing)"));
    let n = text.matches("[[hosts]]").count();
    assert!(
        n >= 50,
        "the ssh lab has {n} endpoints; run `scripts/lab up 50 --kind ssh`"
    );
    let logs = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("groundup")
        .unwrap()
        .env("GROUNDUP_LOG_DIR", logs.path())
        .args([
            "exec",
            "--progress",
            "none",
            "--parallel",
            "8",
            "--on",
            "ep-*",
            "-i",
            INVENTORY,
            "--",
            "sh",
            "-c",
            "echo $SSH_CONNECTION | cut -d' ' -f3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), n);
    for (i, line) in lines.iter().enumerate() {
        // each endpoint reports the address it was reached on: output is attributed to the right host
        assert_eq!(*line, format!("ep-{} | 127.0.78.{}", i + 1, i + 2));
    }
}
