//! `--on` host selection: a comma-separated list of exact names, globs (`worker-*`) and roles
//! (`@control-plane`). Selection narrows which hosts a run touches, never what is planned from
//! (PKI SANs, etcd members and endpoints always come from the whole inventory).

use globset::{Glob, GlobMatcher};
use thiserror::Error;

use super::{Host, Inventory, Role};

#[derive(Debug, Error, PartialEq)]
pub enum SelectError {
    #[error("`--on {0}`: unknown role `{1}` (roles are control-plane, etcd, worker)")]
    UnknownRole(String, String),
    #[error("`--on {0}`: `{1}` is not a valid pattern: {2}")]
    BadGlob(String, String, String),
    #[error("`--on {0}`: `{1}` matches no host in the inventory (hosts: {2})")]
    NoMatch(String, String, String),
}

enum Term {
    Role(Role),
    Glob(GlobMatcher),
}

impl Term {
    fn matches(&self, h: &Host) -> bool {
        match self {
            Term::Role(r) => h.has(*r),
            Term::Glob(g) => g.is_match(h.name.as_str()),
        }
    }
}

/// The hosts `spec` selects, in inventory order; `None` selects every host.
pub fn select<'a>(inv: &'a Inventory, spec: Option<&str>) -> Result<Vec<&'a Host>, SelectError> {
    let Some(spec) = spec else {
        return Ok(inv.hosts.iter().collect());
    };
    let mut terms = Vec::new();
    for raw in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let term = if let Some(role) = raw.strip_prefix('@') {
            Term::Role(Role::parse(role).ok_or_else(|| SelectError::UnknownRole(spec.into(), role.into()))?)
        } else {
            let g = Glob::new(raw).map_err(|e| SelectError::BadGlob(spec.into(), raw.into(), e.kind().to_string()))?;
            Term::Glob(g.compile_matcher())
        };
        if !inv.hosts.iter().any(|h| term.matches(h)) {
            let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
            return Err(SelectError::NoMatch(spec.into(), raw.into(), names.join(", ")));
        }
        terms.push(term);
    }
    Ok(inv
        .hosts
        .iter()
        .filter(|h| terms.iter().any(|t| t.matches(h)))
        .collect())
}
