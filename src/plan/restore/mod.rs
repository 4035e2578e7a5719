//! The phases of `restore`, in the one order they run across the cluster: the snapshot uploaded
//! to every etcd member and restored there once on trial (which checks its integrity hash) before
//! anything is stopped; API servers and etcd stopped; each member's data directory moved aside
//! (kept, named with the time) and restored with the member list of the **current inventory**
//! (rebuilt hosts with new addresses work); etcd started and waited for until healthy with quorum;
//! the API servers back and waited for; kubelets restarted. Pure, like every phase.

mod api;
mod check;
mod data;
mod start;
mod stop;

use std::path::PathBuf;

use crate::inventory::{Host, Inventory, Role};

use super::etcd_access::{members, Access};
use super::{Context, Phase, PlanError};

pub const ALL: &[&dyn Phase] = &[
    &check::RestoreCheck,
    &stop::RestoreStop,
    &data::RestoreData,
    &start::RestoreStart,
    &api::RestoreApi,
    &api::RestoreKubelets,
];

/// Where the snapshot is uploaded on each member.
pub const REMOTE: &str = "/var/lib/groundup/restore/snapshot.db";

/// The snapshot being restored.
#[derive(Debug, Clone)]
pub struct Options {
    pub snapshot: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// UTC time of this restore (`20261202T101500Z`): names the data directories kept aside.
    pub stamp: String,
}

/// The restore options of a context, or the error a phase reports without them.
fn opts<'a>(cx: &'a Context) -> Result<&'a Options, PlanError> {
    cx.restore
        .as_ref()
        .ok_or_else(|| PlanError::new("no snapshot given", "this is a bug: restore phases need a snapshot"))
}

fn member(inv: &Inventory, host: &Host) -> bool {
    inv.etcd_members().any(|m| m.name == host.name)
}

/// `snapshot restore` of the uploaded snapshot into `dir` for this member.
fn restore_into(cx: &Context, host: &Host, dir: &str) -> Result<String, PlanError> {
    let (initial, url) = members(cx.inv, host)?;
    Ok(format!(
        "$ETCDUTL snapshot restore {REMOTE} --data-dir {dir} --name {name} --initial-cluster {initial} \
         --initial-cluster-token {token} --initial-advertise-peer-urls {url}",
        name = host.name,
        token = cx.inv.cluster.name,
    ))
}

/// The hosts a restore works on: every etcd member and every node.
pub fn hosts(inv: &Inventory) -> Vec<Host> {
    inv.hosts
        .iter()
        .filter(|h| member(inv, h) || h.is_node())
        .cloned()
        .collect()
}

fn access(cx: &Context) -> Access {
    Access::of(cx.inv)
}

fn control_plane(h: &Host) -> bool {
    h.has(Role::ControlPlane)
}
