//! Reading certificates back: identity, SANs, usages, validity, issuer, public key; whether one
//! certificate was signed by another; whether a key belongs to a certificate; kubeadm's discovery
//! hash. Pure (PEM text in); used to decide reissues and by `pki show` / `pki verify`.

use std::net::IpAddr;

use rcgen::{KeyPair, PublicKeyData};
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::*;

#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    pub cn: String,
    pub orgs: Vec<String>,
    pub issuer_cn: String,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub is_ca: bool,
    pub server_auth: bool,
    pub client_auth: bool,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    #[serde(skip)]
    pub spki: Vec<u8>,
}

fn cert_der(pem: &str) -> Result<Vec<u8>, String> {
    let (_, p) = parse_x509_pem(pem.as_bytes()).map_err(|e| format!("not a PEM certificate: {e}"))?;
    if p.label != "CERTIFICATE" {
        return Err(format!("a PEM `{}` block, not a CERTIFICATE", p.label));
    }
    Ok(p.contents)
}

/// Parses the first certificate of a PEM text.
pub fn parse_cert(pem: &str) -> Result<CertInfo, String> {
    let der = cert_der(pem)?;
    let (_, c) = parse_x509_certificate(&der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let names = |n: &X509Name, f: fn(&X509Name) -> Vec<String>| f(n);
    let cn = names(c.subject(), |n| {
        n.iter_common_name()
            .filter_map(|a| a.as_str().ok().map(String::from))
            .collect()
    });
    let orgs = names(c.subject(), |n| {
        n.iter_organization()
            .filter_map(|a| a.as_str().ok().map(String::from))
            .collect()
    });
    let issuer_cn = names(c.issuer(), |n| {
        n.iter_common_name()
            .filter_map(|a| a.as_str().ok().map(String::from))
            .collect()
    });
    let (mut dns, mut ips) = (Vec::new(), Vec::new());
    for ext in c.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for n in &san.general_names {
                match n {
                    GeneralName::DNSName(d) => dns.push(d.to_string()),
                    GeneralName::IPAddress(b) if b.len() == 4 => {
                        ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default()))
                    }
                    GeneralName::IPAddress(b) if b.len() == 16 => {
                        ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default()))
                    }
                    _ => {}
                }
            }
        }
    }
    let eku = c
        .extended_key_usage()
        .ok()
        .flatten()
        .map(|e| (e.value.server_auth, e.value.client_auth))
        .unwrap_or_default();
    Ok(CertInfo {
        cn: cn.join(","),
        orgs,
        issuer_cn: issuer_cn.join(","),
        dns,
        ips,
        is_ca: c.basic_constraints().ok().flatten().is_some_and(|b| b.value.ca),
        server_auth: eku.0,
        client_auth: eku.1,
        not_before: c.validity().not_before.timestamp(),
        not_after: c.validity().not_after.timestamp(),
        spki: c.tbs_certificate.subject_pki.raw.to_vec(),
    })
}

/// Whether `ca_pem`'s key signed `cert_pem`.
pub fn signed_by(cert_pem: &str, ca_pem: &str) -> bool {
    let (Ok(cert), Ok(ca)) = (cert_der(cert_pem), cert_der(ca_pem)) else {
        return false;
    };
    let (Ok((_, cert)), Ok((_, ca))) = (parse_x509_certificate(&cert), parse_x509_certificate(&ca)) else {
        return false;
    };
    cert.verify_signature(Some(&ca.tbs_certificate.subject_pki)).is_ok()
}

/// Whether the private key `key_pem` (PKCS#8, PKCS#1 or SEC1) belongs to `cert`.
pub fn key_matches(cert: &CertInfo, key_pem: &str) -> Result<bool, String> {
    let key = KeyPair::from_pem(key_pem).map_err(|e| format!("the key does not load: {e}"))?;
    Ok(key.subject_public_key_info() == cert.spki)
}

/// kubeadm's `--discovery-token-ca-cert-hash`: `sha256:` + hex of SHA-256 over the CA
/// certificate's DER SubjectPublicKeyInfo.
pub fn ca_cert_hash(ca_pem: &str) -> Result<String, String> {
    let info = parse_cert(ca_pem)?;
    Ok(format!(
        "sha256:{}",
        Sha256::digest(&info.spki)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}
