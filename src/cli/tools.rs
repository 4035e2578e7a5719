//! The command line of the tools around a cluster: the guide (`explain`), importers, shell
//! completions, manual pages.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Common;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// An Ansible INI inventory (the FIWARE Lab playbooks', Kubespray's): groups to roles,
    /// connection variables to [ssh], a comment on every line it could not map.
    Ansible(ImportAnsibleArgs),
}

#[derive(Debug, Args)]
pub struct ImportAnsibleArgs {
    /// The INI inventory (`hosts.ini`).
    pub file: PathBuf,
    /// A group's role, before the built-in names: GROUP=control-plane|etcd|worker|none (repeatable).
    #[arg(long = "map", value_name = "GROUP=ROLE")]
    pub map: Vec<String>,
    /// The cluster's name (default: the file's folder name, else "cluster").
    #[arg(long)]
    pub name: Option<String>,
    /// The Kubernetes version to pin when the inventory names none (kube_version, k8s_version).
    #[arg(long, value_name = "X.Y.Z", default_value = "1.36.3")]
    pub kubernetes_version: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The folder the pages are written to (made when missing).
    #[arg(long, value_name = "DIR", default_value = "man")]
    pub out_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub common: Common,
    /// Stop after this phase.
    #[arg(long, value_name = "PHASE")]
    pub until: Option<String>,
    /// One HTML page instead of Markdown.
    #[arg(long)]
    pub html: bool,
    /// Write the guide to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    pub common: Common,
    /// The bundle to write (a gzip'd tar).
    #[arg(long, value_name = "FILE", default_value = "groundup-diagnose.tar.gz")]
    pub out: PathBuf,
    /// How many journal lines per unit and host.
    #[arg(long, default_value_t = 300)]
    pub lines: u32,
}
