//! `diagnose`'s host-side redaction, run by real bash and sed over the kinds of text a host holds
//! (the bundle itself is checked on lab hosts in lab_apply).

use std::io::Write;
use std::process::{Command, Stdio};

const INPUT: &str = r#"apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    server: https://10.77.0.14:6443
users:
- name: kubernetes-admin
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCg==
bootstrapTokens:
- token: abcdef.0123456789abcdef
discovery:
  bootstrapToken:
    token: abcdef.0123456789abcdef
  tlsBootstrapToken: abcdef.0123456789abcdef
certificateKey: 7f3a4c3b2e1d
        secret: c2VjcmV0LWtleS1vZi0zMi1ieXRlcy1sb25nLS0tLS0=
HTTP_PROXY='http://gu:pw-SECRET@10.77.0.1:3142'
Acquire::http::Proxy "http://gu:pw-SECRET@10.77.0.1:3142";
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oh7ok9kN6sBsoAoGCCqGSM49
-----END EC PRIVATE KEY-----
taints:
- key: node-role.kubernetes.io/control-plane
  effect: NoSchedule
"#;

#[test]
fn the_host_side_filter_removes_every_kind_of_secret_and_keeps_the_rest() {
    let mut c = Command::new("bash")
        .arg("-c")
        .arg(format!("{}\nred", groundup::diagnose::redact_fn()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(INPUT.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for secret in [
        "0123456789abcdef",
        "pw-SECRET",
        "7f3a4c3b2e1d",
        "c2VjcmV0",
        "MHcCAQEE",
        "UFJJVkFURSBLRVk",
    ] {
        assert!(!text.contains(secret), "{secret} left in:\n{text}");
    }
    insta::assert_snapshot!("diagnose_redacted", text);
}
