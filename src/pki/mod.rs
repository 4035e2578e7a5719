//! The cluster PKI, made by groundup itself before any host is touched (replacing cfssl and
//! openssl scripts): [`spec`] says which certificates the inventory needs (pure), [`issue`] makes
//! keys and certificates in memory. Storing them under `certs/<cluster>/` and the `pki` commands
//! come next (issue: PKI).

pub mod issue;
pub mod spec;

pub use issue::{ca_cert_hash, issue, Algorithm, Bundle, IssueError, Issued, Validity};
pub use spec::{certificates, CertSpec, Profile, SpecError};
