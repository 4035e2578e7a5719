//! Secrets as a type: `Display` and `Debug` print `****`, so a token can never reach a log line or
//! a plan by accident; `expose()` is the one, greppable, way to the value.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Serialized masked too: inventories are dumped as JSON in reports.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("****")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// A kubeadm bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}`; shown as `abcdef.****`.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken(Secret);

impl BootstrapToken {
    pub fn generate() -> Result<Self, getrandom::Error> {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut raw = [0u8; 22];
        getrandom::fill(&mut raw)?;
        // 252 = 7 × 36: rejection-free mapping would bias; reduce only bytes below 252.
        let mut chars = Vec::with_capacity(22);
        let mut extra = [0u8; 1];
        for b in raw {
            let mut b = b;
            while b >= 252 {
                getrandom::fill(&mut extra)?;
                b = extra[0];
            }
            chars.push(ALPHABET[usize::from(b % 36)] as char);
        }
        let s: String = chars.into_iter().collect();
        Ok(BootstrapToken(Secret::new(format!("{}.{}", &s[..6], &s[6..]))))
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (id, secret) = s.split_once('.')?;
        let ok = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        (ok(id, 6) && ok(secret, 16)).then(|| BootstrapToken(Secret::new(s)))
    }

    pub fn id(&self) -> &str {
        &self.0.expose()[..6]
    }
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Display for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.****************", self.id())
    }
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BootstrapToken({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_kubeadms_shape_and_never_print() {
        let t = BootstrapToken::generate().unwrap();
        assert!(BootstrapToken::parse(t.expose()).is_some(), "{}", t.expose());
        assert_eq!(format!("{t}"), format!("{}.****************", t.id()));
        assert!(!format!("{t:?} {t}").contains(&t.expose()[7..]));
        assert_ne!(BootstrapToken::generate().unwrap(), t);
        assert!(BootstrapToken::parse("ABCDEF.0123456789abcdef").is_none());
        assert_eq!(format!("{}", Secret::new("hunter2")), "****");
    }
}
