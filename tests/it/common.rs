//! Shared test helpers: fixture paths, inventories built in memory, the lab inventory.

use std::path::{Path, PathBuf};

use groundup::exec::Output;
use groundup::facts::{self, HostFacts};
use groundup::inventory::Inventory;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures").join(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// Facts parsed from a captured fixture, with the given clock skew.
pub fn host_facts(name: &str, skew: f64) -> HostFacts {
    let raw = fixture(&format!("facts/{name}.txt"));
    let facts = facts::parse(&raw);
    HostFacts {
        facts,
        clock_skew: Some(skew),
        raw: Output {
            status: Some(0),
            stdout: raw,
            stderr: String::new(),
            duration: Default::default(),
        },
    }
}

pub fn inventory(text: &str) -> Inventory {
    Inventory::parse(Path::new("test.toml"), text.to_string()).unwrap_or_else(|e| panic!("{}", e.render_plain()))
}

/// An inventory of `n` hosts (the first a control plane) with the given per-host extra lines.
pub fn n_hosts(n: usize, extra: impl Fn(usize) -> String) -> Inventory {
    let mut s = String::from("[cluster]\nname = \"t\"\nkubernetes_version = \"1.36.3\"\npod_subnet = \"10.0.0.0/8\"\nservice_subnet = \"172.16.0.0/16\"\n");
    for i in 0..n {
        let roles = if i == 0 {
            "[\"control-plane\", \"etcd\"]"
        } else {
            "[\"worker\"]"
        };
        s.push_str(&format!(
            "\n[[hosts]]\nname = \"h-{i}\"\naddress = \"127.1.{}.{}\"\nroles = {roles}\n{}\n",
            i / 250,
            i % 250 + 1,
            extra(i)
        ));
    }
    inventory(&s)
}

/// The lab's inventory; panics with the fix when the lab is not up.
pub fn lab() -> Inventory {
    let path = root().join("inventory/lab.toml");
    let inv = Inventory::load(&path).unwrap_or_else(|e| panic!("{}", e.render_plain()));
    let key = inv.hosts[0]
        .ssh
        .known_hosts
        .clone()
        .expect("lab inventory names its known_hosts");
    let first = format!("{}:{}", inv.hosts[0].ssh.address, inv.hosts[0].ssh.port);
    let answers = first
        .parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(2)).ok());
    assert!(
        key.exists() && Path::new("/run/netns/gulab").exists() && answers.is_some(),
        "the test lab is not up ({first} does not answer): run `scripts/lab up` (as root) first"
    );
    inv
}
