//! Phase `pki-files`: the PKI made here goes to the hosts that need it, at kubeadm's paths.
//! Control planes get the shared CA material (ca, front-proxy-ca, etcd ca, sa) and their own
//! leaves and kubeconfigs; external etcd members get the etcd CA certificate and their own etcd
//! certificates; workers get nothing (they join with the token and CA hash). Keys and
//! kubeconfigs are 0600 secrets: never shown, never logged.

use crate::facts::HostFacts;
use crate::inventory::{EtcdTopology, Host, Inventory, Role};
use crate::paths;
use crate::pki::spec::{certificates, Profile};
use crate::plan::{Content, Context, HostSteps, Phase, PlanError};

use super::file;

pub struct PkiFiles;

/// A PKI file on a host: where it comes from in `certs/<cluster>/` and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub rel: String,
    pub path: String,
    pub mode: u32,
    pub secret: bool,
}

fn place(rel: String, path: String) -> Placement {
    let secret = rel.ends_with(".key") || rel.ends_with(".conf");
    Placement {
        mode: if secret { 0o600 } else { 0o644 },
        secret,
        rel,
        path,
    }
}

fn external_member(inv: &Inventory, h: &Host) -> bool {
    inv.cluster.etcd == EtcdTopology::External && h.has(Role::Etcd) && !h.has(Role::ControlPlane)
}

/// Every PKI file `host` needs, from the whole inventory's certificate set.
pub fn placements(inv: &Inventory, host: &Host) -> Result<Vec<Placement>, PlanError> {
    let specs = certificates(inv).map_err(|e| PlanError::new(e.to_string(), e.hint()))?;
    let mut out = Vec::new();
    let shared = |rel: &str| place(rel.to_string(), format!("{}/{rel}", paths::KUBE_PKI));
    if host.has(Role::ControlPlane) {
        let mut rels = vec![
            "ca.crt",
            "ca.key",
            "sa.key",
            "sa.pub",
            "front-proxy-ca.crt",
            "front-proxy-ca.key",
            "etcd/ca.crt",
        ];
        if inv.cluster.etcd == EtcdTopology::Stacked {
            rels.push("etcd/ca.key");
        }
        out.extend(rels.into_iter().map(shared));
    } else if external_member(inv, host) {
        out.push(shared("etcd/ca.crt"));
    } else {
        return Ok(out);
    }
    let own = format!("nodes/{}/", host.name);
    for s in specs.iter().filter(|s| s.profile != Profile::Ca) {
        let Some(rest) = s.id.strip_prefix(&own) else { continue };
        if let Some(pki) = rest.strip_prefix("pki/") {
            for ext in ["crt", "key"] {
                out.push(place(
                    format!("{}.{ext}", s.id),
                    format!("{}/{pki}.{ext}", paths::KUBE_PKI),
                ));
            }
        } else {
            out.push(place(s.id.clone(), format!("{}/{rest}", paths::KUBERNETES)));
        }
    }
    Ok(out)
}

/// The local content of a placement (secret for keys and kubeconfigs), or why it is missing.
pub fn content(cx: &Context, p: &Placement) -> Result<Content, PlanError> {
    let Some(text) = cx.pki.get(&p.rel) else {
        return Err(PlanError::new(
            format!("`{}/{}` is missing", cx.certs_dir.display(), p.rel),
            "run `groundup pki generate` for this inventory",
        ));
    };
    // A CA under rotation: hosts trust the old and the new one (`pki rotate-ca`), kubeconfigs too.
    let text = crate::pki::rotate::trust(&cx.pki, &p.rel)
        .or_else(|| {
            p.rel
                .ends_with(".conf")
                .then(|| crate::pki::rotate::kubeconfig(&cx.pki, text))
                .flatten()
        })
        .unwrap_or_else(|| text.clone());
    Ok(if p.secret {
        Content::secret(text)
    } else {
        Content::new(text)
    })
}

impl Phase for PkiFiles {
    fn name(&self) -> &'static str {
        "pki-files"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.has(Role::ControlPlane) || host.has(Role::Etcd)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        let wanted = placements(cx.inv, host)?;
        if wanted.is_empty() {
            hs.unchanged("PKI", "nothing for this host: it joins with the token and CA hash");
            return Ok(hs);
        }
        if !cx.pki_pending.is_empty() {
            return Err(PlanError::new(
                if cx.pki.is_empty() {
                    format!("there is no PKI in `{}` yet", cx.certs_dir.display())
                } else {
                    format!(
                        "the PKI in `{}` does not fit the inventory ({} file(s) to make again, first {})",
                        cx.certs_dir.display(),
                        cx.pki_pending.len(),
                        cx.pki_pending[0]
                    )
                },
                format!(
                    "run `groundup pki generate -i {}` (it never replaces a CA), then apply again",
                    cx.inv.path.display()
                ),
            ));
        }
        let before = hs.items.len();
        for p in &wanted {
            let content = content(cx, p)?;
            file(&mut hs, &hf.facts, &format!("pki-{}", p.rel), &p.path, p.mode, content);
        }
        // One line for all current files instead of one per file.
        let current = hs.items.drain(before..).collect::<Vec<_>>();
        let (same, changes): (Vec<_>, Vec<_>) = current
            .into_iter()
            .partition(|i| matches!(i, crate::plan::Item::Unchanged { .. }));
        if !same.is_empty() {
            hs.unchanged(format!("{} PKI files", same.len()), "content is current");
        }
        hs.items.extend(changes);
        Ok(hs)
    }
}
