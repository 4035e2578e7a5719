//! In-process PKI timings (not a test): the ha.toml certificate set (36 certificates, ECDSA-P256)
//! issued in memory, and generated into an empty folder (issuing + writing every file with fsync).
//! Run with `cargo bench --bench pki`; scripts/bench/pki compares whole processes with cfssl/openssl.

use std::path::Path;
use std::time::Instant;

use groundup::inventory::Inventory;
use groundup::pki::generate::{generate, RENEW_BEFORE};
use groundup::pki::store::Store;
use groundup::pki::{certificates, issue, Validity};
use time::OffsetDateTime;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let inv = Inventory::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/inventory/ha.toml"))).expect("inventory");
    let specs = certificates(&inv).expect("specs");
    let runs = 21;
    let mut mem = Vec::new();
    let mut disk = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let b = issue(
            &specs,
            inv.pki.algorithm,
            Validity::default(),
            OffsetDateTime::now_utc(),
        )
        .expect("issue");
        mem.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(b.certs.len(), specs.len());
        let dir = tempfile::tempdir().expect("tempdir");
        let t = Instant::now();
        generate(
            &inv,
            &Store::new(dir.path().join("pki")),
            RENEW_BEFORE,
            OffsetDateTime::now_utc(),
        )
        .expect("generate");
        disk.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("pki: {} certificates, ECDSA-P256, median of {runs} runs", specs.len());
    println!(
        "  first run in this process: issue {:.2} ms, generate {:.2} ms (one-time library start-up)",
        mem[0], disk[0]
    );
    println!("  issue in memory:          {:7.2} ms", median(mem));
    println!(
        "  generate into a folder:   {:7.2} ms (issue + 80 files written with fsync)",
        median(disk)
    );
}
