//! The `groundup` binary against the lab: check (exit 0, 3, 4), exec, inventory errors (exit 2),
//! and the per-run log.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

use crate::common::{lab, root};

fn groundup(log: &Path) -> Command {
    let mut c = Command::cargo_bin("groundup").unwrap();
    // Each test gets fresh masters; persistence has its own tests.
    c.env("GROUNDUP_LOG_DIR", log)
        .env("NO_COLOR", "1")
        .env("GROUNDUP_SSH_PERSIST", "0");
    c
}

/// The lab inventory with `edit` applied, written to a temp dir.
fn lab_variant(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    lab();
    let text = std::fs::read_to_string(root().join("inventory/lab.toml")).unwrap();
    let path = dir.join("inv.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// The table with every run of spaces made one (column widths follow the longest check name).
fn squeezed(table: &str) -> String {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

#[test]
fn check_passes_on_the_lab_and_logs_every_command() {
    lab();
    let logs = tempfile::tempdir().unwrap();
    let out = groundup(logs.path())
        .args(["check", "-i"])
        .arg(root().join("inventory/lab.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("check lab: 3 hosts, 0 unreachable, 0 failed"),
        "{stdout}"
    );
    for h in ["lab-1", "lab-2", "lab-3"] {
        assert!(
            squeezed(&stdout).contains(&format!("{h} os ok Debian GNU/Linux 12 (bookworm)")),
            "{stdout}"
        );
    }
    let log: String = std::fs::read_dir(logs.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for h in ["lab-1", "lab-2", "lab-3"] {
        assert!(
            log.contains(&format!("host={h} what=gather facts exit=Some(0)")),
            "{log}"
        );
    }
    assert!(!log.contains("@@groundup-fact"), "scripts are never logged");
}

#[test]
fn check_json_carries_facts_and_the_exit_code() {
    lab();
    let logs = tempfile::tempdir().unwrap();
    let out = groundup(logs.path())
        .args(["check", "--output", "json", "--progress", "none", "-i"])
        .arg(root().join("inventory/lab.toml"))
        .output()
        .unwrap();
    let v = json(&out.stdout);
    assert_eq!(v["summary"]["exit_code"], 0);
    assert_eq!(v["hosts"].as_array().unwrap().len(), 3);
    assert_eq!(v["hosts"][1]["facts"]["os"]["id"], "debian");
    assert_eq!(v["hosts"][1]["facts"]["hostname"], "lab-2");
    assert_eq!(v["hosts"][2]["facts"]["interfaces"][0]["addresses"][0], "10.77.0.13/24");
}

#[test]
fn an_unreachable_host_gives_exit_3_while_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let inv = lab_variant(dir.path(), |t| {
        t + "\n[[hosts]]\nname = \"gone\"\naddress = \"127.0.77.99\"\nroles = [\"worker\"]\n"
    });
    let out = groundup(dir.path())
        .args(["check", "-o", "json", "--progress", "none", "-i"])
        .arg(&inv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v = json(&out.stdout);
    let hosts = v["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 4);
    assert!(hosts[..3]
        .iter()
        .all(|h| h["reachable"] == true && h["facts"]["os"]["id"] == "debian"));
    assert_eq!(hosts[3]["reachable"], false);
    assert_eq!(hosts[3]["error"]["reason"], "refused");
}

#[test]
fn a_failed_preflight_check_gives_exit_4_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let inv = lab_variant(dir.path(), |t| {
        t.replace("internal_address = \"10.77.0.12\"", "node_ip = \"10.77.0.99\"")
    });
    let out = groundup(dir.path())
        .args(["check", "--progress", "none", "-i"])
        .arg(&inv)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    assert!(stdout.contains("FAIL lab-2 node-ip: node_ip 10.77.0.99 is not configured on any interface of lab-2 (it has: host0 10.77.0.12)"), "{stdout}");
    assert!(
        stdout.contains("hint: set node_ip, internal_address or iface"),
        "{stdout}"
    );
}

#[test]
fn check_works_through_sudo_and_explains_a_sudo_password() {
    let dir = tempfile::tempdir().unwrap();
    let ops = lab_variant(dir.path(), |t| t.replace("user = \"root\"", "user = \"ops\""));
    let out = groundup(dir.path())
        .args(["check", "--progress", "none", "-i"])
        .arg(&ops)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        squeezed(&stdout).contains("privilege ok root via sudo -n as ops"),
        "{stdout}"
    );

    let pw = lab_variant(dir.path(), |t| t.replace("user = \"root\"", "user = \"pwuser\""));
    let out = groundup(dir.path())
        .args(["check", "--progress", "none", "-i"])
        .arg(&pw)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "reachable, but a check failed: {stdout}");
    assert!(
        stdout.contains("sudo on lab-1 (pwuser@127.0.77.11:2200) needs a password"),
        "{stdout}"
    );
    assert!(stdout.contains("NOPASSWD"), "{stdout}");
}

#[test]
fn exec_runs_on_all_or_selected_hosts() {
    lab();
    let logs = tempfile::tempdir().unwrap();
    let inv = root().join("inventory/lab.toml");
    let out = groundup(logs.path())
        .args(["exec", "--progress", "none", "-i"])
        .arg(&inv)
        .args(["--", "cat", "/etc/hostname"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "lab-1 | lab-1\nlab-2 | lab-2\nlab-3 | lab-3\n"
    );

    let out = groundup(logs.path())
        .args(["exec", "--progress", "none", "--on", "@worker", "-i"])
        .arg(&inv)
        .args(["--", "sh", "-c", "echo oops >&2; exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a failed command is exit 1");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "lab-2 ! oops\nlab-2 : exit 3\nlab-3 ! oops\nlab-3 : exit 3\n"
    );

    // Exit status 127 is a failed command, not a lost connection (the ssh crate reports it as
    // an error of its own).
    let out = groundup(logs.path())
        .args(["exec", "--progress", "none", "--on", "lab-1", "-i"])
        .arg(&inv)
        .args(["--", "no-such-command-here"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("lab-1 : exit 127") && !text.contains("lost the connection"),
        "{text}"
    );
}

#[test]
fn an_invalid_inventory_gives_exit_2_and_points_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let inv = lab_variant(dir.path(), |t| t.replace("name = \"lab-2\"", "name = \"Lab_2\""));
    let out = groundup(dir.path()).args(["check", "-i"]).arg(&inv).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("host name `Lab_2` contains the uppercase letter `L`"),
        "{err}"
    );
    let line = std::fs::read_to_string(&inv)
        .unwrap()
        .lines()
        .position(|l| l == "name = \"Lab_2\"")
        .unwrap()
        + 1;
    assert!(err.contains(&format!("inv.toml:{line}:8]")), "{err}");
    assert!(err.contains("try `lab-2`"), "{err}");
}

/// `scripts/lab status` finds hosts by what runs in their cgroup: a lost or stale pid file no
/// longer makes a running host look dead (which once let `reset` wipe disks under running hosts).
#[test]
fn lab_status_finds_running_hosts_without_their_pid_files() {
    lab();
    let lab_dir = std::env::var("LAB_DIR").unwrap_or_else(|_| "/var/tmp/groundup-lab".into());
    let pid = Path::new(&lab_dir).join("run/nspawn-lab-3.pid");
    let saved = std::fs::read(&pid).ok();
    std::fs::write(&pid, "1 1\n").unwrap(); // stale: PID 1 never has that start time
    let out = std::process::Command::new(root().join("scripts/lab"))
        .arg("status")
        .output()
        .unwrap();
    match saved {
        Some(s) => std::fs::write(&pid, s).unwrap(),
        None => std::fs::remove_file(&pid).unwrap(),
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(" lab-3 "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.starts_with("up    lab-3 (nspawn pid "), "{text}");
    // The PID it names is systemd-nspawn for lab-3, read from /proc.
    let p: u32 = line["up    lab-3 (nspawn pid ".len()..]
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let cmd = std::fs::read_to_string(format!("/proc/{p}/cmdline"))
        .unwrap()
        .replace('\0', " ");
    assert!(
        cmd.starts_with("systemd-nspawn ") && cmd.contains(" -M lab-3 "),
        "{cmd}"
    );
}

/// `kubeconfig --tunnel`: the kubeconfig points at a local port, checks the API server's
/// certificate under the name `kubernetes`, and the port reaches 127.0.0.1:6443 of the first
/// control plane over SSH until Ctrl-C or SIGTERM (here: a stand-in listener on lab-1's 6443).
/// Either signal closes the forward before groundup exits (issue 21: on SIGTERM it stayed open
/// inside the SSH master for about a minute).
#[test]
fn kubeconfig_tunnel_reaches_the_first_control_planes_own_api_port() {
    use std::io::{BufRead, Read};
    let d = tempfile::tempdir().unwrap();
    let inv = root().join("inventory/lab.toml");
    lab();
    let certs = crate::lab_support::pki_generate(d.path(), &inv);
    let (st, out) = crate::lab_support::sh(
        d.path(),
        &inv,
        "lab-1",
        "systemctl stop groundup-tunnel-test 2>/dev/null; systemctl reset-failed groundup-tunnel-test 2>/dev/null; systemd-run -q --unit groundup-tunnel-test \
         systemd-socket-activate -l 127.0.0.1:6443 -a --inetd /bin/echo api-port-of-lab-1 && sleep 0.5",
    );
    assert_eq!(st, 0, "{out}");
    let port = 16443 + (std::process::id() % 1000) as u16;
    let conf = d.path().join("tunnel.conf");
    let mut said = vec![];
    for signal in ["INT", "TERM"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_groundup"))
            .args(["kubeconfig", "--tunnel", "--port", &port.to_string(), "-i"])
            .arg(&inv)
            .arg("--certs-dir")
            .arg(&certs)
            .arg("--out")
            .arg(&conf)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let open = lines
            .by_ref()
            .map(|l| l.unwrap())
            .find(|l| l.starts_with("tunnel open"));
        let mut reached = String::new();
        if open.is_some() {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            let _ = s.read_to_string(&mut reached);
        }
        let _ = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status();
        let closed = lines.map(|l| l.unwrap()).find(|l| l.starts_with("tunnel closed"));
        let status = child.wait().unwrap();
        let still_open = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        said.push((
            signal,
            open.is_some(),
            reached.trim().to_string(),
            closed,
            status.success(),
            still_open,
        ));
    }
    crate::lab_support::sh(d.path(), &inv, "lab-1", "systemctl stop groundup-tunnel-test");
    for (signal, open, reached, closed, ok, still_open) in said {
        assert!(open, "SIG{signal}: no `tunnel open` line");
        assert_eq!(reached, "api-port-of-lab-1", "SIG{signal}");
        assert!(closed.is_some() && ok, "SIG{signal} closes it: {closed:?}");
        assert!(!still_open, "SIG{signal}: the forward on {port} outlived groundup");
    }
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains(&format!("server: https://127.0.0.1:{port}\n")) && text.contains("tls-server-name: kubernetes\n"),
        "{text}"
    );
}
