//! `groundup completions` for bash, zsh and fish, and `groundup man`: generated from the real
//! command line, so every command (and a flag of a deep one) must be in them.

use crate::lab_support::groundup;

#[test]
fn completions_name_every_command_in_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = groundup(dir.path()).args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for word in [
            "apply",
            "upgrade",
            "restore",
            "import",
            "drain-timeout",
            "kubernetes-version",
        ] {
            assert!(text.contains(word), "{shell} completion lacks `{word}`");
        }
    }
    let out = groundup(dir.path()).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn the_man_pages_build_one_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man");
    let out = groundup(dir.path())
        .args(["man", "--out-dir"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for page in [
        "groundup.1",
        "groundup-upgrade.1",
        "groundup-pki-renew.1",
        "groundup-import-ansible.1",
    ] {
        let text = std::fs::read_to_string(out_dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page} is not roff:\n{text}"
        );
    }
    let upgrade = std::fs::read_to_string(out_dir.join("groundup-upgrade.1")).unwrap();
    assert!(
        upgrade.contains("drain\\-timeout") || upgrade.contains("drain-timeout"),
        "{upgrade}"
    );
    // man(1) renders it where it is installed.
    if std::process::Command::new("man").arg("--version").output().is_ok() {
        let rendered = std::process::Command::new("man")
            .arg("-l")
            .arg(out_dir.join("groundup-upgrade.1"))
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&rendered.stdout).contains("upgrade"));
    }
}
