//! `pki status`, the pure part: the read-only script that lists every certificate that matters on
//! a host (never a key: from kubelet's combined PEM only the CERTIFICATE block is printed, from
//! kubeconfigs only `client-certificate-data`), with the sha256 of every file groundup placed
//! there; and the rows made of its output against `certs/<cluster>`: subject, expiry, issuer,
//! and drift (a placed file whose content is not the local one) or a CA that is not the local CA.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::digest::sha256_hex;
use crate::plan::phases::Placement;

use super::inspect::parse_cert;

const MARK: &str = "@@pki:";

/// The host's certificates and the checksums of `placed` (paths), one marked block each.
pub fn script(placed: &[String]) -> String {
    let mut s = format!(
        "for f in $(find /etc/kubernetes/pki -name '*.crt' 2>/dev/null | sort); do echo \"{MARK}cert $f\"; cat \"$f\"; done\n\
         for f in /etc/kubernetes/*.conf; do [ -f \"$f\" ] || continue; d=$(awk '$1 == \"client-certificate-data:\" {{print $2; exit}}' \"$f\"); \
         [ -n \"$d\" ] && {{ echo \"{MARK}cert $f\"; echo \"$d\" | base64 -d; }}; done\n\
         for f in /var/lib/kubelet/pki/kubelet-client-current.pem /var/lib/kubelet/pki/kubelet.crt; do [ -f \"$f\" ] || continue; \
         echo \"{MARK}cert $f\"; sed -n '/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p' \"$f\"; done\n"
    );
    if !placed.is_empty() {
        s.push_str(&format!(
            "echo '{MARK}sums'\nsha256sum {} 2>/dev/null || true\n",
            placed.join(" ")
        ));
    }
    s
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub host: String,
    pub file: String,
    pub subject: String,
    pub issuer: String,
    /// Unix seconds.
    pub not_after: i64,
    pub days_left: i64,
    /// `ok`, `expiring`, `expired`, `drift`, `missing`, `ca-mismatch`, `unreadable`.
    pub status: String,
}

impl Row {
    /// A placed file that is not a certificate here (a key, a kubeconfig, or a missing one).
    fn file(host: &str, path: &str, status: &str) -> Row {
        Row {
            host: host.into(),
            file: path.into(),
            subject: String::new(),
            issuer: String::new(),
            not_after: 0,
            days_left: 0,
            status: status.into(),
        }
    }
}

/// Rows for one host from its script output. `placed` are the files groundup put there, `local`
/// the PKI folder (relative path → content).
pub fn rows(
    host: &str,
    out: &str,
    placed: &[Placement],
    local: &BTreeMap<String, String>,
    now: i64,
    warn_days: i64,
) -> Vec<Row> {
    let mut certs: Vec<(String, String)> = Vec::new();
    let mut sums = String::new();
    let mut cur: Option<(String, String)> = None;
    let mut in_sums = false;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix(MARK) {
            if let Some(c) = cur.take() {
                certs.push(c);
            }
            in_sums = rest == "sums";
            if let Some(path) = rest.strip_prefix("cert ") {
                cur = Some((path.to_string(), String::new()));
            }
        } else if in_sums {
            sums.push_str(line);
            sums.push('\n');
        } else if let Some((_, text)) = cur.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    if let Some(c) = cur.take() {
        certs.push(c);
    }
    let remote = crate::digest::parse_sha256sum(&sums);
    let placed_by_path: BTreeMap<&str, &Placement> = placed.iter().map(|p| (p.path.as_str(), p)).collect();
    let local_ca = local.get("ca.crt").and_then(|c| parse_cert(c).ok());
    let mut out_rows = Vec::new();
    for (path, pem) in &certs {
        let row = match parse_cert(pem) {
            Err(e) => Row {
                host: host.into(),
                file: path.clone(),
                subject: format!("({e})"),
                issuer: String::new(),
                not_after: 0,
                days_left: 0,
                status: "unreadable".into(),
            },
            Ok(c) => {
                let days_left = (c.not_after - now).div_euclid(86_400);
                let mut status = if c.not_after <= now {
                    "expired"
                } else if days_left < warn_days {
                    "expiring"
                } else {
                    "ok"
                };
                if let Some(p) = placed_by_path.get(path.as_str()) {
                    let want = local.get(&p.rel).map(|t| sha256_hex(t.as_bytes()));
                    if remote.get(path.as_str()).is_some_and(|got| Some(got) != want.as_ref()) {
                        status = "drift";
                    }
                }
                if path.ends_with("/pki/ca.crt") && local_ca.as_ref().is_some_and(|l| l.spki != c.spki) {
                    status = "ca-mismatch";
                }
                Row {
                    host: host.into(),
                    file: path.clone(),
                    subject: c.cn,
                    issuer: c.issuer_cn,
                    not_after: c.not_after,
                    days_left,
                    status: status.into(),
                }
            }
        };
        out_rows.push(row);
    }
    // Placed files that are not certificates (keys, kubeconfigs) only show up when they drifted.
    for p in placed.iter().filter(|p| !p.path.ends_with(".crt")) {
        let want = local.get(&p.rel).map(|t| sha256_hex(t.as_bytes()));
        let status = match remote.get(p.path.as_str()) {
            None => "missing",
            Some(got) if Some(got) != want.as_ref() => "drift",
            Some(_) => continue,
        };
        if out_rows.iter().any(|r| r.file == p.path) {
            if let Some(r) = out_rows.iter_mut().find(|r| r.file == p.path) {
                r.status = status.into();
            }
            continue;
        }
        out_rows.push(Row::file(host, &p.path, status));
    }
    for p in placed.iter().filter(|p| p.path.ends_with(".crt")) {
        if !certs.iter().any(|(path, _)| *path == p.path) {
            out_rows.push(Row::file(host, &p.path, "missing"));
        }
    }
    out_rows
}

/// Whether a row needs attention (the command's exit code).
pub fn bad(r: &Row) -> bool {
    r.status != "ok"
}
