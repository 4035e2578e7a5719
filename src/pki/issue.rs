//! Issuing: private keys and certificates for a set of [`CertSpec`]s, in memory, with rcgen
//! (aws-lc-rs backend: RSA generation, and loading kubeadm's PKCS#1/SEC1 keys later). Profiles
//! follow kubeadm: CAs `CA:TRUE` with digitalSignature, keyEncipherment, keyCertSign; leaves
//! critical `CA:FALSE`, digitalSignature + keyEncipherment and their EKU; random serials;
//! not-before five minutes back. No I/O.

use std::collections::{BTreeMap, HashMap};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData, RsaKeySize, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::spec::{CertSpec, Profile};

pub use crate::inventory::KeyAlgorithm as Algorithm;

/// A new key pair of `alg`.
pub fn generate(alg: Algorithm) -> Result<KeyPair, rcgen::Error> {
    match alg {
        Algorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        Algorithm::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        Algorithm::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
        Algorithm::Rsa3072 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072),
        Algorithm::Rsa4096 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096),
    }
}

/// How long certificates are valid (kubeadm: CAs 10 years, leaves 1 year).
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub ca: Duration,
    pub leaf: Duration,
}

impl Default for Validity {
    fn default() -> Self {
        Validity {
            ca: Duration::days(3650),
            leaf: Duration::days(365),
        }
    }
}

/// How far back not-before is set, for clocks that lag (kubeadm's `CertificateBackdate`).
pub const BACKDATE: Duration = Duration::minutes(5);

#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    /// PKCS#8 PEM.
    pub key_pem: String,
}

/// A whole cluster's PKI in memory.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// By [`CertSpec::id`].
    pub certs: BTreeMap<String, Issued>,
    /// The service-account signing key pair (not a certificate): `sa.key`, `sa.pub`.
    pub sa_key_pem: String,
    pub sa_pub_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("cannot issue `{id}`: {cause}")]
    Rcgen { id: String, cause: rcgen::Error },
    #[error("`{id}` names the issuer `{issuer}`, which is not a CA of this set")]
    NoIssuer { id: String, issuer: String },
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// The CAs that can sign, by spec id: loaded from disk or made in this run.
#[derive(Default)]
pub struct Issuers(HashMap<String, Issuer<'static, KeyPair>>);

impl Issuers {
    /// Adopts an existing CA (key as PKCS#8, PKCS#1 or SEC1 PEM, as kubeadm writes them); the
    /// certificate must be a CA and the key must be its key.
    pub fn load(&mut self, id: &str, cert_pem: &str, key_pem: &str) -> Result<(), String> {
        let info = super::inspect::parse_cert(cert_pem)?;
        if !info.is_ca {
            return Err("the certificate is not a CA (basicConstraints CA:FALSE or missing)".into());
        }
        let key = KeyPair::from_pem(key_pem).map_err(|e| format!("the key does not load: {e}"))?;
        if key.subject_public_key_info() != info.spki {
            return Err("the key does not belong to the certificate".into());
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| format!("cannot sign with it: {e}"))?;
        self.0.insert(id.to_string(), issuer);
        Ok(())
    }
}

/// Issues `specs` in order (a CA before the leaves it signs), signing with `issuers` and adding
/// every CA it makes to them.
pub fn issue_into(
    specs: &[&CertSpec],
    issuers: &mut Issuers,
    alg: Algorithm,
    validity: Validity,
    now: OffsetDateTime,
) -> Result<BTreeMap<String, Issued>, IssueError> {
    let mut certs = BTreeMap::new();
    for spec in specs {
        let err = |cause| IssueError::Rcgen {
            id: spec.id.clone(),
            cause,
        };
        let key = generate(alg).map_err(err)?;
        let params = params(spec, validity, now)?;
        let cert = match &spec.issuer {
            None => params.self_signed(&key).map_err(err)?,
            Some(i) => {
                let issuer = issuers.0.get(i).ok_or_else(|| IssueError::NoIssuer {
                    id: spec.id.clone(),
                    issuer: i.clone(),
                })?;
                params.signed_by(&key, issuer).map_err(err)?
            }
        };
        let issued = Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        if spec.profile == Profile::Ca {
            issuers.0.insert(spec.id.clone(), Issuer::new(params, key));
        }
        certs.insert(spec.id.clone(), issued);
    }
    Ok(certs)
}

/// The whole set in memory, with a service-account key pair (no files, no existing CAs).
pub fn issue(
    specs: &[CertSpec],
    alg: Algorithm,
    validity: Validity,
    now: OffsetDateTime,
) -> Result<Bundle, IssueError> {
    let all: Vec<&CertSpec> = specs.iter().collect();
    let certs = issue_into(&all, &mut Issuers::default(), alg, validity, now)?;
    let sa = generate(alg).map_err(|cause| IssueError::Rcgen { id: "sa".into(), cause })?;
    Ok(Bundle {
        certs,
        sa_key_pem: sa.serialize_pem(),
        sa_pub_pem: sa.public_key_pem(),
    })
}

fn params(spec: &CertSpec, validity: Validity, now: OffsetDateTime) -> Result<CertificateParams, IssueError> {
    let err = |cause| IssueError::Rcgen {
        id: spec.id.clone(),
        cause,
    };
    let mut p = CertificateParams::default();
    // O before CN, as Go writes them (`O=…, CN=…`).
    for o in &spec.orgs {
        p.distinguished_name.push(DnType::OrganizationName, o.as_str());
    }
    p.distinguished_name.push(DnType::CommonName, spec.cn.as_str());
    for d in &spec.dns {
        p.subject_alt_names
            .push(SanType::DnsName(d.as_str().try_into().map_err(err)?));
    }
    p.subject_alt_names
        .extend(spec.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    p.not_before = now - BACKDATE;
    p.not_after = now
        + if spec.profile == Profile::Ca {
            validity.ca
        } else {
            validity.leaf
        };
    p.serial_number = Some(random_serial()?);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    match spec.profile {
        Profile::Ca => {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages.push(KeyUsagePurpose::KeyCertSign);
        }
        leaf => {
            p.is_ca = IsCa::ExplicitNoCa;
            p.use_authority_key_identifier_extension = true;
            p.extended_key_usages = match leaf {
                Profile::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
                Profile::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
                _ => vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
            };
        }
    }
    Ok(p)
}

/// A random positive serial below 2^127 (kubeadm: random, positive).
fn random_serial() -> Result<SerialNumber, IssueError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| IssueError::Random(e.to_string()))?;
    b[0] &= 0x7f;
    b[0] |= 0x01; // never a leading zero byte: DER would shorten it
    Ok(SerialNumber::from(b.to_vec()))
}

impl Validity {
    /// The inventory's `[pki]` validity periods.
    pub fn from_settings(p: &crate::inventory::PkiSettings) -> Self {
        Validity {
            ca: Duration::days(p.ca_validity_days.into()),
            leaf: Duration::days(p.validity_days.into()),
        }
    }
}
