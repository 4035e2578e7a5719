//! The command line: clap types only. `main` parses, `commands` acts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::ProgressMode;

mod pki;
mod tools;
pub use pki::{JoinInfoArgs, PkiArgs, PkiCommand, PkiReadArgs, PkiRenewArgs, PkiRotateCaArgs, PkiStatusArgs};
pub use tools::{CompletionsArgs, DiagnoseArgs, ExplainArgs, ImportAnsibleArgs, ImportCommand, ManArgs};

#[derive(Debug, Parser)]
#[command(
    name = "groundup",
    version,
    about = "Builds a kubeadm Kubernetes cluster on bare Linux hosts over SSH",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// With a class file (many clusters): only these clusters, comma-separated. One name runs the
    /// command on that cluster alone, here; otherwise each cluster runs in a process of its own.
    #[arg(long, global = true, env = "GROUNDUP_CLUSTER", value_name = "NAME,…")]
    pub cluster: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read-only: validate the inventory, connect, gather facts and run preflight checks.
    Check(CheckArgs),
    /// Run an ad-hoc command on every (or every --on) host.
    Exec(ExecArgs),
    /// Show what `apply` would do: per phase and host, every step it would run, or why nothing is needed.
    Plan(PlanArgs),
    /// The plan as a guide: per phase why it is needed, then the exact commands and files per host
    /// (secrets masked), and what each host already has. Read-only.
    Explain(ExplainArgs),
    /// The running cluster at a glance: nodes, control-plane components, etcd members, add-ons,
    /// certificate expiry and whether `plan` would change anything. Read-only.
    Status(PkiStatusArgs),
    /// Logs, facts and configurations of every host and the cluster in one bundle for a bug
    /// report, with every key, token and password removed. Read-only on the hosts.
    Diagnose(DiagnoseArgs),
    /// Bring the hosts to the inventory's state, phase by phase; a second apply changes nothing.
    Apply(ApplyArgs),
    /// Take hosts back to a clean OS (kubeadm reset and all it leaves behind), verified after;
    /// shows its plan and asks first.
    Reset(ResetArgs),
    /// Take nodes out of the cluster: drain, delete, etcd member out (control planes), reset the hosts.
    Remove(RemoveArgs),
    /// The whole cluster to the inventory's kubernetes_version (one minor up, or a patch): a backup,
    /// the control plane, then every node drained, upgraded and uncordoned in turn.
    Upgrade(UpgradeArgs),
    /// An etcd snapshot from a healthy member, checked, downloaded to backups/<cluster>/ with its metadata.
    Backup(BackupArgs),
    /// The whole cluster back from an etcd snapshot (made by `backup`), onto the current inventory's hosts.
    Restore(RestoreArgs),
    /// Write every file apply would place on each host under DIR/<host>/<path>, contacting no host.
    Render(RenderArgs),
    /// The cluster's admin kubeconfig (from the local PKI) to a file, or merged into ~/.kube/config.
    Kubeconfig(KubeconfigArgs),
    /// The cluster PKI, made here before any host is touched.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Another tool's inventory turned into groundup's TOML, on standard output.
    #[command(subcommand)]
    Import(ImportCommand),
    /// A shell completion script on standard output (`source <(groundup completions bash)`).
    Completions(CompletionsArgs),
    /// The manual pages (groundup.1 and one per command) into a folder, for `man -l` or MANPATH.
    Man(ManArgs),
}

#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The inventory file.
    #[arg(short, long, env = "GROUNDUP_INVENTORY", default_value = "inventory.toml")]
    pub inventory: PathBuf,
    /// Only these hosts: names, globs (`worker-*`) or roles (`@control-plane`), comma-separated.
    #[arg(long)]
    pub on: Option<String>,
    /// How many hosts to work on at once (a sliding window).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
    /// First contact: accept and record host keys not yet in known_hosts (changed keys are still refused).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Keep SSH masters this many seconds after the run so the next run skips the handshake
    /// (0: close them at the end). They live in a private directory ($XDG_RUNTIME_DIR/groundup/ssh).
    #[arg(long, env = "GROUNDUP_SSH_PERSIST", default_value_t = 60, value_name = "SECS")]
    pub ssh_persist: u64,
    /// Result format on stdout.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// How progress is shown on stderr.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Where the per-run log file goes (default: $XDG_STATE_HOME/groundup/logs).
    #[arg(long, env = "GROUNDUP_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// Where the journals, cluster locks and caches live (default: $XDG_STATE_HOME/groundup).
    #[arg(long, env = "GROUNDUP_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Where the PKI lives (default: certs/<cluster>; made by `groundup pki generate`). With a
    /// class file, each cluster's is DIR/<cluster>, with or without --cluster.
    #[arg(long, value_name = "DIR")]
    pub certs_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: Common,
    /// Also write each host's raw facts output to DIR/<host>.txt (for bug reports and test fixtures).
    #[arg(long, value_name = "DIR")]
    pub save_facts: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: Common,
    /// Stop after this phase (preflight, proxy, prepare-os, runtime-packages, container-runtime, kube-packages).
    #[arg(long, value_name = "PHASE")]
    pub until: Option<String>,
    /// Print the full content of every file a step writes (secrets stay hidden).
    #[arg(long)]
    pub show_files: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub common: Common,
    /// Stop after this phase (see `plan --help`).
    #[arg(long, value_name = "PHASE")]
    pub until: Option<String>,
    /// Continue an interrupted apply: steps its journal records as finished are not run again.
    #[arg(long)]
    pub resume: bool,
    /// After the last phase, how long to wait for every node Ready and flannel and CoreDNS
    /// running (seconds; 0: do not wait). Image pulls on slow networks take minutes.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub ready_timeout: u64,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub common: Common,
    /// The nodes to take out (inventory names).
    #[arg(required = true, num_args = 1..)]
    pub nodes: Vec<String>,
    /// Do not ask (scripts, CI). Without a terminal and without --yes, remove refuses.
    #[arg(long, short)]
    pub yes: bool,
    /// Show the plan and stop; nothing is changed.
    #[arg(long)]
    pub dry_run: bool,
    /// How long a drain may take before remove gives up, leaving the node cordoned (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub drain_timeout: u64,
    /// Go on when a leaving node cannot be reached (powered off, gone for good): its Node and
    /// etcd member are taken out through the hosts that stay; the host itself is not reset.
    #[arg(long)]
    pub unreachable: bool,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Do not ask (scripts, CI). Without a terminal and without --yes, upgrade refuses.
    #[arg(long, short)]
    pub yes: bool,
    /// Show the plan and stop; nothing is changed.
    #[arg(long)]
    pub dry_run: bool,
    /// How long each drain may take before the upgrade stops, leaving that node cordoned (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub drain_timeout: u64,
    /// Where the etcd backup taken before any change goes (one subfolder per cluster).
    #[arg(long, value_name = "DIR", default_value = "backups")]
    pub backup_dir: PathBuf,
    /// Skip that backup (not recommended: kubeadm cannot downgrade).
    #[arg(long)]
    pub no_backup: bool,
    /// After the last phase, how long to wait for every node Ready (seconds; 0: do not wait).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub ready_timeout: u64,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub common: Common,
    /// The folder backups go to, one subfolder per cluster.
    #[arg(long, value_name = "DIR", default_value = "backups")]
    pub out: PathBuf,
    /// Keep only the newest N backups of this cluster (older ones are deleted after a good backup).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: Option<u32>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub common: Common,
    /// The snapshot file (`backups/<cluster>/<time>.db`; its `.json` beside it is checked when present).
    pub snapshot: PathBuf,
    /// Do not ask before restoring (scripts, CI). Without a terminal and without --yes, restore refuses.
    #[arg(long, short)]
    pub yes: bool,
    /// Show the plan and stop; nothing is changed.
    #[arg(long)]
    pub dry_run: bool,
    /// Restore a snapshot whose metadata names another cluster.
    #[arg(long)]
    pub force: bool,
    /// After the restore, how long to wait for every node Ready (seconds; 0: do not wait).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub ready_timeout: u64,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub common: Common,
    /// Do not ask before resetting (scripts, CI). Without a terminal and without --yes, reset refuses.
    #[arg(long, short)]
    pub yes: bool,
    /// Show the plan and stop; nothing is changed.
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove the images of containerd's k8s.io namespace.
    #[arg(long)]
    pub images: bool,
    /// Also unhold and remove the Kubernetes packages, their repository and uploaded artifacts.
    #[arg(long)]
    pub purge_packages: bool,
    /// With --on: reset even when etcd would fall below quorum or workers would lose every control plane.
    #[arg(long)]
    pub force: bool,
    /// After a clean reset of every host, delete the cluster's PKI too (asks for the cluster name on a terminal).
    #[arg(long)]
    pub forget_pki: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("dest").required(true).args(["out", "merge", "out_dir"])))]
pub struct KubeconfigArgs {
    #[arg(short, long, env = "GROUNDUP_INVENTORY", default_value = "inventory.toml")]
    pub inventory: PathBuf,
    /// Write the admin kubeconfig to this file (0600).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Merge it into a kubeconfig (default: $KUBECONFIG's first file, else ~/.kube/config).
    #[arg(long)]
    pub merge: bool,
    /// The kubeconfig to merge into.
    #[arg(long, value_name = "FILE", requires = "merge")]
    pub kubeconfig: Option<PathBuf>,
    /// Where the PKI lives (default: certs/<cluster>).
    #[arg(long)]
    pub certs_dir: Option<PathBuf>,
    /// Write `<cluster>.kubeconfig` (context `kubernetes-admin@<cluster>`) and a handout page
    /// (`<cluster>.md`, `<cluster>.html`: nodes, addresses, first commands) into this folder.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "merge", "tunnel"])]
    pub out_dir: Option<PathBuf>,
    /// Reach the API through SSH: the kubeconfig points at 127.0.0.1:PORT here, forwarded to the
    /// first control plane's own API server, and groundup keeps the tunnel open until Ctrl-C.
    /// For API addresses this machine cannot reach (two-NIC VMs, private networks, bastions).
    #[arg(long)]
    pub tunnel: bool,
    /// The local port of the tunnel.
    #[arg(long, default_value_t = 16443, requires = "tunnel")]
    pub port: u16,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[arg(short, long, env = "GROUNDUP_INVENTORY", default_value = "inventory.toml")]
    pub inventory: PathBuf,
    /// The folder to write into (created; existing files are overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The distribution of the hosts (debian-12, ubuntu-24.04, ubuntu-22.04, rocky-9, almalinux-9, centos-stream-9).
    #[arg(long, default_value = "debian-12")]
    pub os: String,
    /// Where the PKI lives (default: certs/<cluster>).
    #[arg(long)]
    pub certs_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub common: Common,
    /// Run the command as root (through `sudo -n` when the SSH user is not root).
    #[arg(long)]
    pub sudo: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}
