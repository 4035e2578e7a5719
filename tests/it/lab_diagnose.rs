//! Issue 13: `diagnose` on real lab hosts (called from lab_apply, once lab-4..6 hold the PKI,
//! the kubeadm configurations, the encryption key and the proxy password).

use std::path::Path;

use crate::lab_support::{groundup, walk};

/// Issue 13: `diagnose` collects what a bug report needs from hosts that hold the whole PKI, the
/// token, the encryption key and the proxy password, and none of those secrets is in the bundle.
pub(crate) fn diagnose_bundle_holds_no_secret(d: &Path, inv: &Path, certs: &Path) {
    let out = d.join("bundle.tar.gz");
    let o = groundup(d)
        .args(["diagnose", "--progress", "none", "-i"])
        .arg(inv)
        .arg("--out")
        .arg(&out)
        .arg("--certs-dir")
        .arg(certs)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&o.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);

    // Every secret, found here on its own: the token and its secret part, the encryption key,
    // each private key's PEM lines and its base64 form (a kubeconfig's client-key-data), the
    // proxy password.
    let b64 = |t: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, t);
    let token = std::fs::read_to_string(certs.join("bootstrap-token"))
        .unwrap()
        .trim()
        .to_string();
    let mut secrets = vec![
        token.clone(),
        token.split_once('.').unwrap().1.to_string(),
        "pw-SECRET".to_string(),
    ];
    secrets.push(
        std::fs::read_to_string(certs.join("encryption-key"))
            .unwrap()
            .trim()
            .to_string(),
    );
    for f in walk(certs) {
        let text = std::fs::read_to_string(&f).unwrap();
        if f.extension().is_some_and(|x| x == "key") {
            secrets.push(b64(&text));
            secrets.extend(
                text.lines()
                    .filter(|l| !l.starts_with("-----") && l.len() > 20)
                    .map(String::from),
            );
        }
    }
    assert!(secrets.len() > 40, "{} secrets", secrets.len());

    let mut files = std::collections::BTreeMap::new();
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&out).unwrap());
    for e in tar::Archive::new(gz).entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut e, &mut text).unwrap();
        files.insert(name.trim_start_matches("bundle/").to_string(), text);
    }
    for (name, text) in &files {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{name} holds a secret ({}…)", &s[..6]);
        }
    }
    // And what it is for is there, with the secrets' places marked.
    let has = |name: &str, want: &str| {
        let t = files
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", files.keys().collect::<Vec<_>>()));
        assert!(t.contains(want), "{name} lacks `{want}`:\n{t}");
    };
    has(
        "hosts/lab-4/files/etc/kubernetes/groundup/init.yaml",
        "token: <redacted>",
    );
    has(
        "hosts/lab-4/files/etc/kubernetes/groundup/encryption.yaml",
        "secret: <redacted>",
    );
    has(
        "hosts/lab-4/files/etc/kubernetes/admin.conf",
        "client-key-data: <redacted>",
    );
    has(
        "hosts/lab-4/files/etc/kubernetes/admin.conf",
        "client-certificate-data: LS0t",
    );
    has(
        "hosts/lab-5/files/etc/kubernetes/groundup/join.yaml",
        "token: <redacted>",
    );
    has(
        "hosts/lab-6/files/etc/groundup/proxy.env",
        "http://gu:<redacted>@10.77.0.1:3142",
    );
    has("hosts/lab-4/files/etc/containerd/config.toml", "SystemdCgroup = true");
    // The journal tail is collected (its lines depend on what journald kept on the host).
    assert!(
        files.contains_key("hosts/lab-4/journal-containerd.txt"),
        "{:?}",
        files.keys().collect::<Vec<_>>()
    );
    has("hosts/lab-4/status-containerd.txt", "Active: active (running)");
    has("hosts/lab-5/ip-addr.txt", "10.77.0.15");
    has("hosts/lab-6/facts.txt", "@@groundup-fact:hostname");
    has("local/inventory.toml", "gu:<redacted>@");
    has("README.txt", "not reached: none");
    assert!(
        files.keys().any(|k| k.starts_with("local/groundup-apply-")),
        "the last run's log"
    );
    assert!(said.contains("from 3 host(s)"), "{said}");
}
