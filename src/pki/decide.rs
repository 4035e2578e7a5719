//! Judging what is already in the store: reads an existing leaf (from its .crt/.key or from the
//! kubeconfig that embeds it) and says why it must be reissued, or `None` when it still fits the
//! inventory. Used by `generate` and, through it, by `pki verify -i`.

use time::{Duration, OffsetDateTime};

use super::generate::server_for;
use super::inspect::{key_matches, parse_cert, signed_by};
use super::spec::{CertSpec, Profile};
use super::store::{kubeconfig_field, Store, StoreError};
use crate::inventory::Inventory;

/// An existing leaf: (certificate PEM, key PEM, kubeconfig text when it lives in one).
/// A leaf already in the store.
pub(super) struct Existing {
    pub cert: String,
    pub key: String,
    /// The kubeconfig that embeds it, when it lives in one.
    pub kubeconfig: Option<String>,
}

pub(super) fn existing(store: &Store, spec: &CertSpec) -> Result<Option<Existing>, StoreError> {
    if spec.id.ends_with(".conf") {
        let Some(text) = store.read(&spec.id)? else {
            return Ok(None);
        };
        let field = |name: &str| kubeconfig_field(&text, name);
        return Ok(match (field("client-certificate-data:"), field("client-key-data:")) {
            (Some(cert), Some(key)) => Some(Existing {
                cert,
                key,
                kubeconfig: Some(text),
            }),
            _ => Some(Existing {
                cert: String::new(),
                key: String::new(),
                kubeconfig: Some(text),
            }),
        });
    }
    match (
        store.read(&format!("{}.crt", spec.id))?,
        store.read(&format!("{}.key", spec.id))?,
    ) {
        (Some(cert), Some(key)) => Ok(Some(Existing {
            cert,
            key,
            kubeconfig: None,
        })),
        _ => Ok(None),
    }
}

/// Why an existing leaf must be reissued, or `None` when it still fits.
pub(super) fn stale(
    inv: &Inventory,
    spec: &CertSpec,
    found: &Existing,
    ca: &str,
    now: OffsetDateTime,
    renew_before: Duration,
) -> Option<String> {
    let (cert, key, kubeconfig) = (found.cert.as_str(), found.key.as_str(), found.kubeconfig.as_deref());
    let info = match parse_cert(cert) {
        Ok(i) => i,
        Err(e) => return Some(format!("unreadable: {e}")),
    };
    if info.cn != spec.cn || info.orgs != spec.orgs {
        return Some(format!(
            "identity is CN={} O={:?}, should be CN={} O={:?}",
            info.cn, info.orgs, spec.cn, spec.orgs
        ));
    }
    let (mut have, mut want): (Vec<String>, Vec<String>) = (
        info.dns
            .iter()
            .cloned()
            .chain(info.ips.iter().map(ToString::to_string))
            .collect(),
        spec.dns
            .iter()
            .cloned()
            .chain(spec.ips.iter().map(ToString::to_string))
            .collect(),
    );
    have.sort();
    want.sort();
    if have != want {
        let added: Vec<&String> = want.iter().filter(|w| !have.contains(w)).collect();
        let gone: Vec<&String> = have.iter().filter(|h| !want.contains(h)).collect();
        return Some(format!("SANs changed (add {added:?}, drop {gone:?})"));
    }
    let eku = match spec.profile {
        Profile::Server => (true, false),
        Profile::Client => (false, true),
        _ => (true, true),
    };
    if (info.server_auth, info.client_auth) != eku || info.is_ca {
        return Some("key usage differs from kubeadm's".into());
    }
    if !signed_by(cert, ca) {
        return Some(format!(
            "not signed by the current `{}`",
            spec.issuer.as_deref().unwrap_or("ca")
        ));
    }
    if !key_matches(&info, key).unwrap_or(false) {
        return Some("the key does not belong to the certificate".into());
    }
    if let Some(text) = kubeconfig {
        let server = server_for(inv, spec);
        if !text.lines().any(|l| l.trim() == format!("server: {server}")) {
            return Some(format!("server is no longer {server}"));
        }
    }
    let left = info.not_after - now.unix_timestamp();
    if left < renew_before.whole_seconds() {
        return Some(format!("expires in {} days", left.max(0) / 86_400));
    }
    None
}
