//! Exit codes, by class of outcome. Documented in README ("Exit codes"); scripts rely on them.

/// Everything worked.
pub const OK: u8 = 0;
/// Work ran and failed on some host (a command exited non-zero; a partial apply).
pub const FAILED: u8 = 1;
/// The inventory or the command line is wrong; nothing was contacted.
pub const USAGE: u8 = 2;
/// At least one host could not be reached (connection refused, timeout, host key, auth).
pub const UNREACHABLE: u8 = 3;
/// Every host answered, and a preflight check failed; nothing was changed.
pub const PREFLIGHT: u8 = 4;
/// Another groundup run holds this cluster's lock; nothing was done.
pub const LOCKED: u8 = 5;
/// A bug or a local problem (cannot write the log, spawn ssh): not the user's input.
pub const INTERNAL: u8 = 70;
