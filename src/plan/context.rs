//! What planning reads besides a host's facts: the whole inventory, the local artifacts catalogue
//! and the cluster PKI (`certs/<cluster>/`, made by `groundup pki generate`). Built once per run,
//! before any host is touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::artifacts::Catalogue;
use crate::inventory::Inventory;

pub struct Context<'a> {
    pub inv: &'a Inventory,
    pub artifacts: Catalogue,
    /// Where the PKI lives, and its files by path relative to that folder (empty when absent).
    pub certs_dir: PathBuf,
    pub pki: BTreeMap<String, String>,
    /// What `groundup pki generate` would still create or reissue (`file: why`): hosts must not
    /// get a PKI that no longer fits the inventory.
    pub pki_pending: Vec<String>,
    /// What `reset` (or `remove`) acts on; empty for every other action.
    pub reset: super::reset::Options,
    /// The snapshot `restore` brings back; `None` for every other action.
    pub restore: Option<super::restore::Options>,
    /// The batch `upgrade` rolls and its drain timeout; default for every other action.
    pub upgrade: super::upgrade::Options,
}

impl<'a> Context<'a> {
    /// Reads the artifacts folder (hashing every file); an unreadable or inconsistent folder is an
    /// error before anything is planned. The PKI is read from `certs/<cluster>` unless given.
    pub fn new(inv: &'a Inventory) -> Result<Context<'a>, String> {
        Self::with_certs(inv, None)
    }

    pub fn with_certs(inv: &'a Inventory, certs_dir: Option<&Path>) -> Result<Context<'a>, String> {
        let certs_dir = inv.certs_dir(certs_dir);
        let mut pki = BTreeMap::new();
        read_tree(&certs_dir, &certs_dir, &mut pki)?;
        let pki_pending = if pki.is_empty() {
            vec!["(all): no PKI yet".to_string()]
        } else {
            let store = crate::pki::store::Store::new(&certs_dir);
            let now = time::OffsetDateTime::now_utc();
            match crate::pki::generate::plan(inv, &store, crate::pki::generate::RENEW_BEFORE, now) {
                Ok((decisions, _)) => decisions
                    .into_iter()
                    .filter(|d| !matches!(d.action, crate::pki::generate::Action::Keep))
                    .map(|d| format!("{}: {}", d.file, d.why))
                    .collect(),
                Err(e) => vec![format!("(all): {e}")],
            }
        };
        Ok(Context {
            inv,
            artifacts: Catalogue::load(inv.node.artifacts.as_deref())?,
            certs_dir,
            pki,
            pki_pending,
            reset: Default::default(),
            restore: None,
            upgrade: Default::default(),
        })
    }
}

impl<'a> Context<'a> {
    /// For actions that take a cluster apart (reset, remove): the inventory alone; no artifacts
    /// are read and no PKI is checked, since nothing is installed or placed.
    pub fn teardown(inv: &'a Inventory, reset: super::reset::Options) -> Context<'a> {
        Context {
            inv,
            artifacts: Catalogue::default(),
            certs_dir: inv.certs_dir(None),
            pki: BTreeMap::new(),
            pki_pending: vec![],
            reset,
            restore: None,
            upgrade: Default::default(),
        }
    }
}

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<(), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read `{}`: {e}", dir.display())),
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            read_tree(root, &p, out)?;
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            if let Ok(rel) = p.strip_prefix(root) {
                out.insert(rel.to_string_lossy().into_owned(), text);
            }
        }
    }
    Ok(())
}
