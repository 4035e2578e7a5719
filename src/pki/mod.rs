//! The cluster PKI, made by groundup itself before any host is touched (replacing cfssl and
//! openssl scripts): [`spec`] says which certificates the inventory needs (pure), [`issue`] makes
//! keys and certificates in memory, [`store`] keeps them under `certs/<cluster>/`, [`generate`]
//! decides what to create, keep or reissue, and [`inspect`] reads certificates back.

mod decide;
pub mod generate;
pub mod inspect;
pub mod issue;
pub mod rotate;
pub mod spec;
pub mod status;
pub mod store;

pub use inspect::ca_cert_hash;
pub use issue::{generate, issue, issue_into, Algorithm, Bundle, IssueError, Issued, Issuers, Validity};
pub use spec::{certificates, CertSpec, Profile, SpecError};
