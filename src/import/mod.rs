//! Importers: other tools' inventories turned into groundup's TOML (`groundup import`). Each
//! reads its format purely and writes text that `Inventory::parse` then validates; nothing here
//! touches a host.

pub mod ansible;
pub mod map;
