//! Checksums as groundup writes and reads them: SHA-256 in lowercase hex, and `sha256sum`'s
//! output format. Pure; the plan, the facts, the PKI and the artifacts folder all use it, so it
//! depends on none of them.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|x| format!("{x:02x}")).collect()
}

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// `sha256sum` output (`<hex>  <path>`, or `<hex> *<path>` in binary mode); also reads the
/// `.sha256` files groundup writes beside artifacts, which use the same format.
pub fn parse_sha256sum(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (sum, path) = l.split_once(char::is_whitespace)?;
            let path = path.trim_start().trim_start_matches('*');
            (sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()) && !path.is_empty())
                .then(|| (path.to_string(), sum.to_ascii_lowercase()))
        })
        .collect()
}
