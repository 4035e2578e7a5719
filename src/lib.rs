//! groundup: builds a kubeadm Kubernetes cluster on bare Linux hosts over SSH.
//!
//! The pipeline is the architecture: `inventory` (load + validate) → `exec` (the only module that
//! speaks SSH) → `facts` (one round trip per host, pure parsers) → `preflight` (pure checks) →
//! `report` (the only place that prints) — glued together per command in `commands`.

pub mod action;
pub mod artifacts;
pub mod cli;
pub mod commands;
pub mod diagnose;
pub mod digest;
pub mod engine;
pub mod exec;
pub mod exit;
pub mod facts;
pub mod image_archive;
pub mod import;
pub mod inventory;
pub mod kubeconfig;
pub mod lock;
pub mod logging;
pub mod os;
pub mod paths;
pub mod pki;
pub mod plan;
pub mod preflight;
pub mod render;
pub mod report;
pub mod secret;
pub mod status;
