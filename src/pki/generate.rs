//! `pki generate`: creates or completes the cluster PKI in the store. CAs found there are adopted
//! and never replaced; a leaf is reissued only when it no longer matches the inventory (identity,
//! SANs, usage, issuer, key, kubeconfig server) or expires within the renewal window, and every
//! decision says why. Everything is issued in memory first and written all at once.

use std::collections::HashMap;

use base64::Engine;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::decide::{existing, stale};
use super::issue::{generate as new_key, issue_into, Issued, Issuers, Validity};
use super::spec::{cert_ip, certificates, CertSpec, Profile, SpecError};
use super::store::{NewFile, Store, StoreError};
use crate::inventory::{Inventory, Role};
use crate::render::{self, Kubeconfig};
use crate::secret::BootstrapToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Keep,
    Create,
    Reissue,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub file: String,
    pub action: Action,
    pub why: String,
}

impl Decision {
    fn new(file: impl Into<String>, action: Action, why: impl Into<String>) -> Self {
        Decision {
            file: file.into(),
            action,
            why: why.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`{file}`: {why}")]
    Ca { file: String, why: String, hint: String },
    #[error(transparent)]
    Issue(#[from] super::IssueError),
    #[error("cannot render `{file}`: {cause}")]
    Render { file: String, cause: String },
}

impl PkiError {
    pub fn hint(&self) -> String {
        match self {
            PkiError::Spec(e) => e.hint(),
            PkiError::Store(e) => e.hint.clone(),
            PkiError::Ca { hint, .. } => hint.clone(),
            PkiError::Issue(_) | PkiError::Render { .. } => "this is a bug in groundup; nothing was written".into(),
        }
    }
}

/// Leaves expiring within this window are reissued.
pub const RENEW_BEFORE: Duration = Duration::days(30);

/// Creates or completes the PKI in `store`; returns a decision per file.
pub fn generate(
    inv: &Inventory,
    store: &Store,
    renew_before: Duration,
    now: OffsetDateTime,
) -> Result<Vec<Decision>, PkiError> {
    let (decisions, files) = plan(inv, store, renew_before, now)?;
    store.write_all(&files)?;
    Ok(decisions)
}

/// What `generate` would do, and the files it would write; writes nothing.
pub fn plan(
    inv: &Inventory,
    store: &Store,
    renew_before: Duration,
    now: OffsetDateTime,
) -> Result<(Vec<Decision>, Vec<NewFile>), PkiError> {
    let specs = certificates(inv)?;
    let mut issuers = Issuers::default();
    let mut ca_pems: HashMap<String, String> = HashMap::new();
    let mut decisions = Vec::new();
    let mut todo: Vec<&CertSpec> = Vec::new();

    for spec in specs.iter().filter(|s| s.profile == Profile::Ca) {
        let (crt, key) = (format!("{}.crt", spec.id), format!("{}.key", spec.id));
        match (store.read(&crt)?, store.read(&key)?) {
            (Some(c), Some(k)) => {
                issuers.load(&spec.id, &c, &k).map_err(|why| PkiError::Ca {
                    file: store.path(&crt).display().to_string(),
                    why,
                    hint: format!("restore this CA's own certificate and key, or move `{}` away to start a new PKI (every node would then need the new CA)", store.root.display()),
                })?;
                ca_pems.insert(spec.id.clone(), c);
                decisions.push(Decision::new(crt, Action::Keep, "existing CA (never replaced)"));
            }
            (Some(_), None) => {
                return Err(PkiError::Ca {
                    file: store.path(&key).display().to_string(),
                    why: format!("`{crt}` exists but its key does not"),
                    hint: format!("copy `{key}` from a control plane's /etc/kubernetes/pki; groundup needs the CA key to sign (external-CA mode is not supported)"),
                })
            }
            (None, Some(_)) => {
                return Err(PkiError::Ca {
                    file: store.path(&crt).display().to_string(),
                    why: format!("`{key}` exists without its certificate `{crt}`"),
                    hint: format!("copy `{crt}` from a control plane, or remove `{key}` to make a new CA"),
                })
            }
            (None, None) => {
                todo.push(spec);
                decisions.push(Decision::new(crt, Action::Create, "no CA yet"));
            }
        }
    }
    for spec in specs.iter().filter(|s| s.profile != Profile::Ca) {
        let file = if spec.id.ends_with(".conf") {
            spec.id.clone()
        } else {
            format!("{}.crt", spec.id)
        };
        let issuer = spec.issuer.as_deref().unwrap_or("ca");
        let decision = match (ca_pems.get(issuer), existing(store, spec)?) {
            (None, _) => Some((Action::Create, format!("its CA `{issuer}` is new"))),
            (_, None) => Some((Action::Create, "missing".to_string())),
            (Some(ca), Some(found)) => {
                stale(inv, spec, &found, ca, now, renew_before).map(|why| (Action::Reissue, why))
            }
        };
        match decision {
            Some((action, why)) => {
                todo.push(spec);
                decisions.push(Decision { file, action, why });
            }
            None => decisions.push(Decision {
                file,
                action: Action::Keep,
                why: "matches the inventory".into(),
            }),
        }
    }

    let issued = issue_into(
        &todo,
        &mut issuers,
        inv.pki.algorithm,
        Validity::from_settings(&inv.pki),
        now,
    )?;
    for spec in todo.iter().filter(|s| s.profile == Profile::Ca) {
        ca_pems.insert(spec.id.clone(), issued[&spec.id].cert_pem.clone());
    }
    let mut files = Vec::new();
    for spec in &todo {
        let i = &issued[&spec.id];
        if spec.id.ends_with(".conf") {
            let text = kubeconfig(inv, spec, i, &ca_pems["ca"])?;
            files.push(NewFile::new(spec.id.clone(), text.into_bytes(), 0o600, true));
        } else {
            let replace = spec.profile != Profile::Ca;
            files.push(NewFile {
                rel: format!("{}.crt", spec.id),
                bytes: i.cert_pem.clone().into_bytes(),
                mode: 0o644,
                replace,
            });
            files.push(NewFile {
                rel: format!("{}.key", spec.id),
                bytes: i.key_pem.clone().into_bytes(),
                mode: 0o600,
                replace,
            });
        }
    }
    service_account_and_token(inv, store, &mut files, &mut decisions)?;
    Ok((decisions, files))
}

fn service_account_and_token(
    inv: &Inventory,
    store: &Store,
    files: &mut Vec<NewFile>,
    decisions: &mut Vec<Decision>,
) -> Result<(), PkiError> {
    match store.read("sa.key")? {
        Some(k) => {
            let key = rcgen::KeyPair::from_pem(&k).map_err(|e| PkiError::Ca {
                file: store.path("sa.key").display().to_string(),
                why: format!("the service-account key does not load: {e}"),
                hint: "restore sa.key from a control plane; replacing it invalidates every service-account token"
                    .into(),
            })?;
            decisions.push(Decision::new("sa.key", Action::Keep, "existing key (never replaced)"));
            if store.read("sa.pub")?.as_deref() != Some(key.public_key_pem().as_str()) {
                files.push(NewFile::new("sa.pub", key.public_key_pem().into_bytes(), 0o644, true));
                decisions.push(Decision::new("sa.pub", Action::Reissue, "derived again from sa.key"));
            }
        }
        None => {
            let key =
                new_key(inv.pki.algorithm).map_err(|cause| super::IssueError::Rcgen { id: "sa".into(), cause })?;
            files.push(NewFile::new("sa.key", key.serialize_pem().into_bytes(), 0o600, false));
            files.push(NewFile::new("sa.pub", key.public_key_pem().into_bytes(), 0o644, true));
            decisions.push(Decision::new("sa.key", Action::Create, "no service-account key yet"));
        }
    }
    match store
        .read("bootstrap-token")?
        .as_deref()
        .and_then(BootstrapToken::parse)
    {
        Some(_) => decisions.push(Decision::new("bootstrap-token", Action::Keep, "existing token")),
        None => {
            let t =
                BootstrapToken::generate().map_err(|e| PkiError::Issue(super::IssueError::Random(e.to_string())))?;
            files.push(NewFile::new(
                "bootstrap-token",
                format!("{}\n", t.expose()).into_bytes(),
                0o600,
                true,
            ));
            decisions.push(Decision::new(
                "bootstrap-token",
                Action::Create,
                "no bootstrap token yet",
            ));
        }
    }
    encryption_key(store, files, decisions)
}

/// The key that encrypts Secrets at rest (secretbox: 32 random bytes, base64). Like a CA it is
/// never replaced: Secrets written with it could not be read any more.
fn encryption_key(store: &Store, files: &mut Vec<NewFile>, decisions: &mut Vec<Decision>) -> Result<(), PkiError> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    match store.read("encryption-key")? {
        Some(k) if engine.decode(k.trim()).is_ok_and(|b| b.len() == 32) => {
            decisions.push(Decision::new("encryption-key", Action::Keep, "existing key (never replaced)"))
        }
        Some(_) => {
            return Err(PkiError::Ca {
                file: store.path("encryption-key").display().to_string(),
                why: "not 32 bytes of base64".into(),
                hint: "restore the key from /etc/kubernetes/groundup/encryption.yaml on a control plane; a new key would leave every Secret unreadable".into(),
            })
        }
        None => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| PkiError::Issue(super::IssueError::Random(e.to_string())))?;
            files.push(NewFile::new("encryption-key", format!("{}\n", engine.encode(key)).into_bytes(), 0o600, false));
            decisions.push(Decision::new("encryption-key", Action::Create, "no key for Secrets at rest yet"));
        }
    }
    Ok(())
}

/// The API server URL a kubeconfig uses: the cluster endpoint for admin.conf / super-admin.conf,
/// the node's own API server for controller-manager.conf / scheduler.conf (as kubeadm does).
pub fn server_for(inv: &Inventory, spec: &CertSpec) -> String {
    let local = spec.id.ends_with("/controller-manager.conf") || spec.id.ends_with("/scheduler.conf");
    match spec.id.split('/').nth(1).and_then(|n| inv.host(n)).filter(|_| local) {
        Some(h) => url(cert_ip(h).map(|ip| ip.to_string()).unwrap_or_default(), 6443),
        None => endpoint_url(inv),
    }
}

/// The cluster's API endpoint: `control_plane_endpoint`, else the first control plane on 6443.
pub fn endpoint_url(inv: &Inventory) -> String {
    match &inv.cluster.control_plane_endpoint {
        Some(ep) => format!("https://{ep}"),
        None => {
            let first = inv.with_role(Role::ControlPlane).next().and_then(|h| cert_ip(h).ok());
            url(first.map(|ip| ip.to_string()).unwrap_or_default(), 6443)
        }
    }
}

fn url(host: String, port: u16) -> String {
    if host.contains(':') {
        format!("https://[{host}]:{port}")
    } else {
        format!("https://{host}:{port}")
    }
}

fn kubeconfig(inv: &Inventory, spec: &CertSpec, issued: &Issued, ca_pem: &str) -> Result<String, PkiError> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let server = server_for(inv, spec);
    let ctx = Kubeconfig {
        cluster: inv.cluster.name.as_str(),
        server: &server,
        user: &spec.cn,
        ca_data: b64(ca_pem),
        cert_data: b64(&issued.cert_pem),
        key_data: b64(&issued.key_pem),
    };
    render::render("kubeconfig.yaml", ctx).map_err(|e| PkiError::Render {
        file: spec.id.clone(),
        cause: e.to_string(),
    })
}
