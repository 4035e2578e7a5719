//! Parser for `ss -Htlnp`: which TCP ports are listening, and (when run as root) by which process.
//! Pure.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub address: String,
    pub port: u16,
    pub process: Option<String>,
}

/// `LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))` → listener.
pub fn parse_ss(text: &str) -> Vec<Listener> {
    let mut out: Vec<Listener> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = f.get(3)?;
            let (addr, port) = local.rsplit_once(':')?;
            let port = port.parse().ok()?;
            let process = l
                .split("((\"")
                .nth(1)
                .and_then(|p| p.split('"').next())
                .map(str::to_string);
            Some(Listener {
                address: addr.trim_matches(['[', ']']).to_string(),
                port,
                process,
            })
        })
        .collect();
    out.sort_by(|a, b| (a.port, &a.address).cmp(&(b.port, &b.address)));
    out.dedup();
    out
}
