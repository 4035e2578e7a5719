//! The SSH transport against real sshd test hosts (scripts/lab): exit codes, stream separation,
//! uploads, timeouts, host-key policy, sudo, refused connections, one master per host.

use std::time::{Duration, Instant};

use groundup::exec::openssh::{SshOptions, SshTransport};
use groundup::exec::{ConnectKind, ExecError, Request, Transport};
use groundup::inventory::Host;
use sha2::{Digest, Sha256};

use crate::common::lab;

fn host(i: usize) -> Host {
    lab().hosts[i].clone()
}

fn as_user(mut h: Host, user: &str) -> Host {
    h.ssh.user = user.into();
    h.ssh.sudo = user != "root";
    h
}

fn transport() -> SshTransport {
    SshTransport::new(SshOptions::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_and_streams_are_kept_apart() {
    let t = transport();
    let out = t
        .run(
            &host(0),
            &Request::script("streams", "echo to-out; echo to-err >&2; exit 7"),
        )
        .await
        .unwrap();
    assert_eq!(out.status, Some(7));
    assert_eq!(out.stdout, "to-out\n");
    assert_eq!(out.stderr, "to-err\n");
    let ok = t.run(&host(0), &Request::script("true", "true")).await.unwrap();
    assert!(ok.success());
    t.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_arrives_byte_identical_with_mode_0600() {
    let t = transport();
    let h = host(1);
    let bytes: Vec<u8> = (0..(1 << 20) + 17)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = "/var/tmp/groundup-test/sub dir/upload.bin";
    t.run(&h, &Request::upload(path, 0o600, bytes.clone())).await.unwrap();
    let out = t
        .run(
            &h,
            &Request::script(
                "stat",
                format!("stat -c '%a %U %s' '{path}'; sha256sum '{path}' | cut -d' ' -f1"),
            ),
        )
        .await
        .unwrap();
    let want = format!("600 root {}\n{:x}\n", bytes.len(), Sha256::digest(&bytes));
    assert_eq!(out.stdout, want);
    // replaced atomically: no temporary file is left behind
    let ls = t
        .run(&h, &Request::script("ls", "ls -A '/var/tmp/groundup-test/sub dir'"))
        .await
        .unwrap();
    assert_eq!(ls.stdout, "upload.bin\n");
    t.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_past_its_timeout_is_stopped_and_reported() {
    let t = transport();
    // The connection first, so that only the command is timed (this machine may be loaded).
    t.run(&host(2), &Request::script("warm", "true")).await.unwrap();
    let started = Instant::now();
    let err = t
        .run(
            &host(2),
            &Request::script("nap", "sleep 31").with_timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::Timeout { secs: 2, .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?} (the command sleeps 31 s)",
        started.elapsed()
    );
    // the remote side really ended it
    let ps = t
        .run(&host(2), &Request::script("ps", "pgrep -xf 'sleep 31' || true"))
        .await
        .unwrap();
    assert_eq!(ps.stdout, "");
    t.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_host_key_is_refused_unless_first_contact_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, "").unwrap();
    let mut h = host(0);
    h.ssh.known_hosts = Some(kh.clone());

    let strict = transport();
    let err = strict.run(&h, &Request::script("t", "true")).await.unwrap_err();
    assert!(
        matches!(
            err,
            ExecError::Connect {
                reason: ConnectKind::HostKeyUnknown,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_unreachable() && err.hint().contains("--accept-new-host-keys"));
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        "",
        "nothing recorded without the flag"
    );

    let tofu = SshTransport::new(SshOptions {
        accept_new_host_keys: true,
        persist: None,
    })
    .unwrap();
    tofu.run(&h, &Request::script("t", "true")).await.unwrap();
    tofu.close().await;
    // ssh may hash the entry (HashKnownHosts), so look it up the way ssh does
    let found = std::process::Command::new("ssh-keygen")
        .args(["-F", "[127.0.77.11]:2200", "-f"])
        .arg(&kh)
        .output()
        .unwrap();
    assert!(
        found.status.success() && String::from_utf8_lossy(&found.stdout).contains("ssh-ed25519"),
        "key recorded for [127.0.77.11]:2200"
    );

    // and from then on strict checking accepts it
    let again = transport();
    again.run(&h, &Request::script("t", "true")).await.unwrap();
    again.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_host_key_is_refused_even_with_first_contact_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    let other = std::fs::read_to_string(lab().hosts[1].ssh.known_hosts.as_ref().unwrap()).unwrap();
    let lab2_key = other
        .lines()
        .find(|l| l.starts_with("[127.0.77.12]"))
        .unwrap()
        .split_once(' ')
        .unwrap()
        .1;
    std::fs::write(&kh, format!("[127.0.77.11]:2200 {lab2_key}\n")).unwrap();
    let mut h = host(0);
    h.ssh.known_hosts = Some(kh);
    let t = SshTransport::new(SshOptions {
        accept_new_host_keys: true,
        persist: None,
    })
    .unwrap();
    let err = t.run(&h, &Request::script("t", "true")).await.unwrap_err();
    assert!(
        matches!(
            err,
            ExecError::Connect {
                reason: ConnectKind::HostKeyChanged,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sudo_makes_a_passwordless_user_root_and_names_what_else_is_wrong() {
    let t = transport();
    let ops = as_user(host(1), "ops");
    let out = t.run(&ops, &Request::script("id", "id -un")).await.unwrap();
    assert_eq!(out.stdout, "root\n");
    let plain = t
        .run(&ops, &Request::script("id", "id -un").unprivileged())
        .await
        .unwrap();
    assert_eq!(plain.stdout, "ops\n", "unprivileged requests skip sudo");

    let err = t
        .run(&as_user(host(1), "pwuser"), &Request::script("id", "id -un"))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::SudoPassword { .. }), "{err:?}");
    assert!(err.hint().contains("NOPASSWD") && !err.is_unreachable());
    let err = t
        .run(&as_user(host(1), "ttyuser"), &Request::script("id", "id -un"))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::SudoTty { .. }), "{err:?}");
    assert!(err.hint().contains("requiretty"));
    t.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_is_classified() {
    let mut h = host(0);
    h.ssh.address = "127.0.77.99".into();
    let err = transport().run(&h, &Request::script("t", "true")).await.unwrap_err();
    assert!(
        matches!(
            err,
            ExecError::Connect {
                reason: ConnectKind::Refused,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("127.0.77.99:2200"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn many_commands_share_one_master_connection() {
    let t = transport();
    let ops = as_user(host(2), "ops");
    let runs = (0..8).map(|i| {
        let t = &t;
        let ops = &ops;
        async move {
            t.run(
                ops,
                &Request::script("n", format!("sleep 0.3; echo {i}")).unprivileged(),
            )
            .await
            .unwrap()
        }
    });
    let outs = futures::future::join_all(runs).await;
    assert!(outs.iter().enumerate().all(|(i, o)| o.stdout == format!("{i}\n")));
    let count = t
        .run(
            &ops,
            &Request::script("count", "pgrep -c -u ops -x sshd || pgrep -c -u ops sshd"),
        )
        .await
        .unwrap();
    assert_eq!(
        count.stdout.trim(),
        "1",
        "one SSH connection (one sshd session process) for 9 commands"
    );
    t.close().await;
}

/// The client port sshd sees: the same port means the same TCP connection, i.e. the same master.
async fn client_port(t: &SshTransport, h: &Host) -> String {
    let out = t
        .run(h, &Request::script("port", "echo $SSH_CONNECTION").unprivileged())
        .await
        .unwrap();
    out.stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("{out:?}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn masters_persist_across_runs_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let persist = Some((dir.path().join("ssh"), Duration::from_secs(30)));
    let h = as_user(host(0), "ttyuser");
    let opts = || SshOptions {
        accept_new_host_keys: false,
        persist: persist.clone(),
    };

    let first = SshTransport::new(opts()).unwrap();
    let a = client_port(&first, &h).await;
    first.close().await;
    let second = SshTransport::new(opts()).unwrap();
    assert_eq!(
        client_port(&second, &h).await,
        a,
        "the second run reuses the first run's master"
    );
    second.close().await;

    let fresh = transport();
    assert_ne!(
        client_port(&fresh, &h).await,
        a,
        "without persistence every run has its own master"
    );
    fresh.close().await;

    let closer = SshTransport::new(opts()).unwrap();
    closer.close_persisted(std::slice::from_ref(&h)).await;
    let after = SshTransport::new(opts()).unwrap();
    assert_ne!(client_port(&after, &h).await, a, "a closed master is not resumed");
    after.close_persisted(std::slice::from_ref(&h)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persist_directory_of_another_user_is_never_used() {
    let dir = tempfile::tempdir().unwrap();
    let ssh_dir = dir.path().join("ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::os::unix::fs::chown(&ssh_dir, Some(65534), Some(65534)).unwrap();
    let h = as_user(host(2), "ttyuser");
    let t = SshTransport::new(SshOptions {
        accept_new_host_keys: false,
        persist: Some((ssh_dir.clone(), Duration::from_secs(30))),
    })
    .unwrap();
    client_port(&t, &h).await;
    t.close().await;
    assert_eq!(
        std::fs::read_dir(&ssh_dir).unwrap().count(),
        0,
        "nothing was put in a directory we do not own"
    );
}

/// Issue 10, found by the end-to-end run: a control plane idle while a worker's join waited a
/// minute lost its master to ControlPersist, and its next command failed "connection terminated".
/// A master that went away between commands is replaced before the next command is sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_master_that_idled_out_between_commands_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let t = SshTransport::new(SshOptions {
        accept_new_host_keys: false,
        persist: Some((dir.path().join("ssh"), Duration::from_secs(1))),
    })
    .unwrap();
    let h = host(1);
    let pid = |out: &str| out.trim().to_string();
    let first = t.run(&h, &Request::script("ppid", "echo $PPID")).await.unwrap();
    // Past the 1 s idle time, the master exits by itself, as it would after a long wait.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let second = t.run(&h, &Request::script("ppid", "echo $PPID")).await.unwrap();
    assert_eq!((first.status, second.status), (Some(0), Some(0)));
    assert_ne!(pid(&first.stdout), "", "{first:?}");
    t.close_persisted(std::slice::from_ref(&h)).await;
    t.close().await;
}
