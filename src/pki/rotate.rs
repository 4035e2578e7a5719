//! CA rotation (`pki rotate-ca`, issue 12), the local half: where a rotation stands is read from
//! the PKI folder itself, and each step moves it on by whole files, so a rotation interrupted at
//! any point goes on from where it stopped. For a CA `<id>` (`etcd/ca`):
//! - **trust**: a new CA made beside the old, `<id>-next.{crt,key}`; hosts get both in their
//!   `<id>.crt` (old first), the old CA still signs.
//! - **leaves**: the new CA signs (`<id>.*` is the new one, the old kept as `<id>-prev.*`); every
//!   leaf it issues is reissued; hosts still trust both (new first).
//! - **drop**: marked by `<id>-prev.drop`: hosts trust the new CA alone.
//!
//! After the drop the old CA goes to `retired/<id>-<time>.*`, never deleted. Only the files'
//! names change here; what a host gets is [`trust`].
//!
//! The kubernetes CA (`ca`) reaches further: kubeconfigs carry the bundle as their CA data
//! ([`kubeconfig`]); the controller manager signs with a copy of the signing CA alone
//! ([`SIGNER_CRT`]), as it refuses a bundle; and each node's kubelet gets a client certificate
//! from the new CA, issued here into `rotation/kubelet/<node>.pem` ([`issue_kubelet_clients`]),
//! removed when the rotation ends.

use std::collections::BTreeMap;
use std::path::Path;

use time::OffsetDateTime;

use super::issue::{issue_into, Issuers, Validity};
use super::spec::{certificates, Profile};
use super::store::{NewFile, Store, StoreError};
use crate::inventory::Inventory;

/// The CAs `rotate-ca` knows, by the name the command line uses.
pub fn ca_id(name: &str) -> Option<&'static str> {
    match name {
        "etcd" => Some("etcd/ca"),
        "kubernetes" => Some("ca"),
        "front-proxy" => Some("front-proxy-ca"),
        _ => None,
    }
}

/// The CA whose rotation is under way in the folder (its command-line name), if any.
pub fn under_way(pki: &BTreeMap<String, String>) -> Option<&'static str> {
    ["kubernetes", "front-proxy", "etcd"]
        .into_iter()
        .find(|c| ca_id(c).is_some_and(|id| stage(pki, id) != Stage::None))
}

/// Why `command` must wait while a rotation is under way (it would place or restart what the
/// rotation moves stage by stage), or `None`.
pub fn finish_first(pki: &BTreeMap<String, String>, inventory: &Path, command: &str) -> Option<String> {
    under_way(pki).map(|ca| {
        format!(
            "the rotation of the {ca} CA is under way: finish it first (`groundup pki rotate-ca --ca {ca} -i {}`), then {command}",
            inventory.display()
        )
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// No rotation under way.
    None,
    Trust,
    Leaves,
    Drop,
}

fn has(pki: &BTreeMap<String, String>, rel: &str) -> bool {
    pki.contains_key(rel)
}

/// Where the rotation of `id` stands, from the folder's files (relative path → content).
pub fn stage(pki: &BTreeMap<String, String>, id: &str) -> Stage {
    if has(pki, &format!("{id}-next.crt")) {
        Stage::Trust
    } else if has(pki, &format!("{id}-prev.drop")) {
        Stage::Drop
    } else if has(pki, &format!("{id}-prev.crt")) {
        Stage::Leaves
    } else {
        Stage::None
    }
}

/// What hosts get as `<id>.crt` while a rotation is under way (both CAs, the signing one first
/// but in the trust stage), or `None` when it is the folder's own `<id>.crt`.
pub fn trust(pki: &BTreeMap<String, String>, rel: &str) -> Option<String> {
    let id = rel.strip_suffix(".crt")?;
    let own = pki.get(rel)?;
    let join = |a: &str, b: &str| format!("{}\n{}\n", a.trim_end(), b.trim_end());
    match stage(pki, id) {
        Stage::Trust => Some(join(own, pki.get(&format!("{id}-next.crt"))?)),
        Stage::Leaves => Some(join(own, pki.get(&format!("{id}-prev.crt"))?)),
        Stage::None | Stage::Drop => None,
    }
}

/// Where the controller manager's signing CA lives while the kubernetes CA rotates (its
/// `--cluster-signing-cert-file` takes one certificate, and `ca.crt` is a bundle meanwhile).
pub const SIGNER_CRT: &str = "/etc/kubernetes/pki/ca-signer.crt";
pub const SIGNER_KEY: &str = "/etc/kubernetes/pki/ca-signer.key";
/// kubeadm's signing CA files, which the controller manager uses outside a rotation.
pub const CA_CRT: &str = "/etc/kubernetes/pki/ca.crt";
pub const CA_KEY: &str = "/etc/kubernetes/pki/ca.key";

/// Whether the kubernetes CA is in its trust or leaves stage (a bundle on the hosts).
pub fn bundling(pki: &BTreeMap<String, String>) -> bool {
    matches!(stage(pki, "ca"), Stage::Trust | Stage::Leaves)
}

/// What hosts are to trust now as the CA `rel` (`ca.crt`): the bundle while it rotates, else the
/// folder's own file.
pub fn trusted(pki: &BTreeMap<String, String>, rel: &str) -> Option<String> {
    trust(pki, rel).or_else(|| pki.get(rel).cloned())
}

/// The CA certificates every consumer of the cluster CA is to trust now.
pub fn cluster_trust(pki: &BTreeMap<String, String>) -> Option<String> {
    trusted(pki, "ca.crt")
}

/// A kubeconfig of the kubernetes CA with the bundle as its CA data while the CA rotates;
/// `None` otherwise (or when it has no CA data).
pub fn kubeconfig(pki: &BTreeMap<String, String>, text: &str) -> Option<String> {
    if !bundling(pki) {
        return None;
    }
    let data = crate::facts::trust::b64(&cluster_trust(pki)?);
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| match l.split_once("certificate-authority-data:") {
            Some((indent, _)) if !found => {
                found = true;
                format!("{indent}certificate-authority-data: {data}")
            }
            _ => l.to_string(),
        })
        .collect();
    found.then(|| out.join("\n") + "\n")
}

/// Where a node's kubelet client certificate from the new CA is kept during the rotation.
pub fn kubelet_client_rel(node: &str) -> String {
    format!("rotation/kubelet/{node}.pem")
}

/// The leaves stage of the kubernetes CA: a kubelet client certificate (`CN=system:node:<name>`,
/// `O=system:nodes`, certificate then key, as kubelet keeps them) from the new CA for every node
/// that has none yet. Returns how many were issued.
pub fn issue_kubelet_clients(inv: &Inventory, store: &Store, now: OffsetDateTime) -> Result<usize, String> {
    let read = |f: &str| std::fs::read_to_string(store.path(f)).map_err(|e| format!("cannot read `{f}`: {e}"));
    let mut issuers = Issuers::default();
    issuers.load("ca", &read("ca.crt")?, &read("ca.key")?)?;
    let mut made = vec![];
    for h in &inv.hosts {
        let rel = kubelet_client_rel(h.name.as_str());
        if store.path(&rel).exists() {
            continue;
        }
        let spec = super::spec::CertSpec {
            id: rel.clone(),
            cn: format!("system:node:{}", h.name),
            orgs: vec!["system:nodes".into()],
            profile: Profile::Client,
            issuer: Some("ca".into()),
            dns: vec![],
            ips: vec![],
        };
        let issued = issue_into(
            &[&spec],
            &mut issuers,
            inv.pki.algorithm,
            Validity::from_settings(&inv.pki),
            now,
        )
        .map_err(|e| e.to_string())?;
        let i = &issued[&rel];
        made.push(NewFile::new(
            rel,
            format!("{}{}", i.cert_pem, i.key_pem).into_bytes(),
            0o600,
            false,
        ));
    }
    let n = made.len();
    store.write_all(&made).map_err(|e| e.to_string())?;
    Ok(n)
}

fn io(action: &'static str, p: &Path, e: std::io::Error) -> StoreError {
    StoreError {
        action,
        path: p.display().to_string(),
        cause: e.to_string(),
        hint: "fix the folder's permissions; the rotation goes on from here when run again".into(),
    }
}

/// Trust: a new CA of the same kind beside the old one (never replacing anything).
pub fn start(inv: &Inventory, store: &Store, id: &str, now: OffsetDateTime) -> Result<(), String> {
    let specs = certificates(inv).map_err(|e| e.to_string())?;
    let mut spec = specs
        .into_iter()
        .find(|s| s.id == id && s.profile == Profile::Ca)
        .ok_or_else(|| format!("this inventory has no CA `{id}`"))?;
    spec.id = format!("{id}-next");
    let issued = issue_into(
        &[&spec],
        &mut Issuers::default(),
        inv.pki.algorithm,
        Validity::from_settings(&inv.pki),
        now,
    )
    .map_err(|e| e.to_string())?;
    let i = &issued[&spec.id];
    store
        .write_all(&[
            NewFile::new(format!("{id}-next.crt"), i.cert_pem.clone().into_bytes(), 0o644, false),
            NewFile::new(format!("{id}-next.key"), i.key_pem.clone().into_bytes(), 0o600, false),
        ])
        .map_err(|e| format!("{e}"))
}

/// Leaves: the new CA becomes the signing one, the old is kept as `-prev`. Each rename is safe to
/// repeat: a swap cut short is finished by the next call.
pub fn swap(store: &Store, id: &str) -> Result<(), StoreError> {
    for ext in ["crt", "key"] {
        let (cur, prev, next) = (
            store.path(&format!("{id}.{ext}")),
            store.path(&format!("{id}-prev.{ext}")),
            store.path(&format!("{id}-next.{ext}")),
        );
        if next.exists() {
            if cur.exists() && !prev.exists() {
                std::fs::rename(&cur, &prev).map_err(|e| io("cannot rename", &cur, e))?;
            }
            if !cur.exists() {
                std::fs::rename(&next, &cur).map_err(|e| io("cannot rename", &next, e))?;
            }
        }
    }
    Ok(())
}

/// Drop: hosts are to trust the new CA alone.
pub fn mark_drop(store: &Store, id: &str) -> Result<(), StoreError> {
    store.write_all(&[NewFile::new(
        format!("{id}-prev.drop"),
        b"the old CA is dropped from the hosts' trust; groundup pki rotate-ca retires it once they all have\n".to_vec(),
        0o644,
        true,
    )])
}

/// The end: the old CA moved to `retired/`, the marker removed. Returns where it went.
pub fn retire(store: &Store, id: &str, stamp: &str) -> Result<String, StoreError> {
    let flat = id.replace('/', "-");
    let dir = store.path("retired");
    std::fs::create_dir_all(&dir).map_err(|e| io("cannot create", &dir, e))?;
    for ext in ["crt", "key"] {
        let prev = store.path(&format!("{id}-prev.{ext}"));
        if prev.exists() {
            let to = dir.join(format!("{flat}-{stamp}.{ext}"));
            std::fs::rename(&prev, &to).map_err(|e| io("cannot move", &prev, e))?;
        }
    }
    let marker = store.path(&format!("{id}-prev.drop"));
    if marker.exists() {
        std::fs::remove_file(&marker).map_err(|e| io("cannot remove", &marker, e))?;
    }
    let kubelet = store.path("rotation/kubelet");
    if id == "ca" && kubelet.exists() {
        std::fs::remove_dir_all(&kubelet).map_err(|e| io("cannot remove", &kubelet, e))?;
        // The folder goes too once nothing else is in it.
        let _ = std::fs::remove_dir(store.path("rotation"));
    }
    Ok(format!("retired/{flat}-{stamp}.crt"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pki(files: &[&str]) -> BTreeMap<String, String> {
        files.iter().map(|f| (f.to_string(), format!("PEM of {f}\n"))).collect()
    }

    #[test]
    fn the_stage_and_the_trust_hosts_get_follow_the_files() {
        let none = pki(&["etcd/ca.crt", "etcd/ca.key"]);
        assert_eq!(stage(&none, "etcd/ca"), Stage::None);
        assert_eq!(trust(&none, "etcd/ca.crt"), None);
        let t = pki(&["etcd/ca.crt", "etcd/ca.key", "etcd/ca-next.crt", "etcd/ca-next.key"]);
        assert_eq!(stage(&t, "etcd/ca"), Stage::Trust);
        assert_eq!(
            trust(&t, "etcd/ca.crt").unwrap(),
            "PEM of etcd/ca.crt\nPEM of etcd/ca-next.crt\n"
        );
        assert_eq!(stage(&t, "ca"), Stage::None, "another CA is not rotating");
        let l = pki(&["etcd/ca.crt", "etcd/ca.key", "etcd/ca-prev.crt", "etcd/ca-prev.key"]);
        assert_eq!(stage(&l, "etcd/ca"), Stage::Leaves);
        assert_eq!(
            trust(&l, "etcd/ca.crt").unwrap(),
            "PEM of etcd/ca.crt\nPEM of etcd/ca-prev.crt\n"
        );
        let mut d = l.clone();
        d.insert("etcd/ca-prev.drop".into(), String::new());
        assert_eq!(stage(&d, "etcd/ca"), Stage::Drop);
        assert_eq!(trust(&d, "etcd/ca.crt"), None);
    }

    #[test]
    fn a_swap_cut_short_is_finished_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path());
        for f in ["etcd/ca.crt", "etcd/ca.key", "etcd/ca-next.crt", "etcd/ca-next.key"] {
            s.write_all(&[NewFile::new(f, f.as_bytes().to_vec(), 0o600, false)])
                .unwrap();
        }
        // Cut short after the first rename.
        std::fs::rename(s.path("etcd/ca.crt"), s.path("etcd/ca-prev.crt")).unwrap();
        swap(&s, "etcd/ca").unwrap();
        let read = |f: &str| std::fs::read_to_string(s.path(f)).unwrap();
        assert_eq!(read("etcd/ca.crt"), "etcd/ca-next.crt");
        assert_eq!(read("etcd/ca.key"), "etcd/ca-next.key");
        assert_eq!(read("etcd/ca-prev.crt"), "etcd/ca.crt");
        assert_eq!(read("etcd/ca-prev.key"), "etcd/ca.key");
        assert!(!s.path("etcd/ca-next.crt").exists());
        swap(&s, "etcd/ca").unwrap();
        assert_eq!(read("etcd/ca.crt"), "etcd/ca-next.crt", "a second swap changes nothing");
        mark_drop(&s, "etcd/ca").unwrap();
        let to = retire(&s, "etcd/ca", "20261202T120000Z").unwrap();
        assert_eq!(to, "retired/etcd-ca-20261202T120000Z.crt");
        assert_eq!(read(&to), "etcd/ca.crt");
        assert!(!s.path("etcd/ca-prev.drop").exists() && !s.path("etcd/ca-prev.key").exists());
    }
}
