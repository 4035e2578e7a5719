//! Actions: what a command does to a cluster, as one ordered list of phases the engine runs the
//! same way for each (facts → plan → window → journal → events). Each action is one short file
//! naming its phases and how the engine treats them; the command glue shows the plan, asks, runs
//! and reports. Adding an action is adding a file here and its phases under `plan/`.

pub mod apply;
pub mod remove;
pub mod renew;
pub mod reset;
pub mod restore;
pub mod upgrade;

use crate::plan::Phase;

pub struct Action {
    /// The command's name (logs, journal, lock holder).
    pub name: &'static str,
    pub phases: Vec<&'static dyn Phase>,
    /// Removes something that cannot be brought back by running it again: the plan is shown and
    /// confirmed first (on a terminal, or with `--yes`).
    pub destructive: bool,
    /// A failed step stops neither its host nor the run (see [`crate::engine::Options::keep_going`]).
    pub keep_going: bool,
}
