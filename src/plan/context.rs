//! What planning reads besides a host's facts: the whole inventory and the local artifacts
//! catalogue. Built once per run, before any host is touched.

use crate::artifacts::Catalogue;
use crate::inventory::Inventory;

pub struct Context<'a> {
    pub inv: &'a Inventory,
    pub artifacts: Catalogue,
}

impl<'a> Context<'a> {
    /// Reads the artifacts folder (hashing every file); an unreadable or inconsistent folder is an
    /// error before anything is planned.
    pub fn new(inv: &'a Inventory) -> Result<Context<'a>, String> {
        Ok(Context {
            inv,
            artifacts: Catalogue::load(inv.node.artifacts.as_deref())?,
        })
    }
}
