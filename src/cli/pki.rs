//! The command line of `groundup pki`: clap types only.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Common, OutputFormat};

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create or complete certs/<cluster>/: CAs are never replaced; a leaf is reissued only when it
    /// no longer matches the inventory or expires soon, and the output says why.
    Generate(PkiArgs),
    /// A table of every certificate: file, CN, O, SANs, not-after, issuer.
    Show(PkiReadArgs),
    /// Chains, key/certificate pairs, expiry, and (with -i) SANs and identities against the inventory.
    Verify(PkiReadArgs),
    /// The bootstrap token (masked unless --reveal), the CA certificate hash and the join command.
    JoinInfo(JoinInfoArgs),
    /// Every certificate on every host (over SSH): one table sorted by expiry, with drift from the
    /// local PKI and CA mismatches marked.
    Status(PkiStatusArgs),
    /// Reissue what expires (or --all) here, then roll it out one host at a time, restarting what
    /// reads it and waiting for it to be healthy before the next.
    Renew(PkiRenewArgs),
    /// Replace a CA with a new one without downtime: both trusted, every leaf reissued from the
    /// new one and rolled out one host at a time, then the old one dropped (and kept here under
    /// retired/). Resumable: run it again to go on.
    RotateCa(PkiRotateCaArgs),
}

#[derive(Debug, Args)]
pub struct PkiRenewArgs {
    #[command(flatten)]
    pub common: Common,
    /// Reissue every leaf, not only those that expire soon (CAs are never replaced).
    #[arg(long)]
    pub all: bool,
    /// Reissue leaves that expire within this many days.
    #[arg(long, default_value_t = 30)]
    pub renew_before_days: u32,
}

#[derive(Debug, Args)]
pub struct PkiStatusArgs {
    #[command(flatten)]
    pub common: Common,
    /// A certificate that expires within this many days makes the exit code 1 (for `status`:
    /// counts as a problem).
    #[arg(long, default_value_t = 30)]
    pub warn_days: u32,
}

#[derive(Debug, Clone, Args)]
pub struct PkiArgs {
    /// The inventory file.
    #[arg(short, long, env = "GROUNDUP_INVENTORY", default_value = "inventory.toml")]
    pub inventory: PathBuf,
    /// Where the PKI lives (default: certs/<cluster> in the current directory).
    #[arg(long)]
    pub certs_dir: Option<PathBuf>,
    /// Reissue leaves that expire within this many days.
    #[arg(long, default_value_t = 30)]
    pub renew_before_days: u32,
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct PkiReadArgs {
    /// The inventory (its certs folder, and what the certificates should say).
    #[arg(short, long, env = "GROUNDUP_INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// Where the PKI lives (default: certs/<cluster>).
    #[arg(long)]
    pub certs_dir: Option<PathBuf>,
    /// Any folder of certificates instead, e.g. /etc/kubernetes/pki copied from a node.
    #[arg(long, conflicts_with = "certs_dir")]
    pub dir: Option<PathBuf>,
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct JoinInfoArgs {
    #[arg(short, long, env = "GROUNDUP_INVENTORY", default_value = "inventory.toml")]
    pub inventory: PathBuf,
    #[arg(long)]
    pub certs_dir: Option<PathBuf>,
    /// Print the bootstrap token in full (it lets a machine join the cluster).
    #[arg(long)]
    pub reveal: bool,
}

#[derive(Debug, Args)]
pub struct PkiRotateCaArgs {
    #[command(flatten)]
    pub common: Common,
    /// The CA to replace.
    #[arg(long, value_parser = ["etcd", "kubernetes", "front-proxy"])]
    pub ca: String,
    /// Go ahead without asking.
    #[arg(long)]
    pub yes: bool,
    /// Show where the rotation stands and the next rollout; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}
