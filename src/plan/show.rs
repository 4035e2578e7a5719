//! Plan text: per phase, per host, each step with exactly what it runs (scripts in full, files by
//! path, mode and checksum, or in full with `show_files`), or `unchanged: why`. Pure: returns text.

use std::fmt::Write;

use super::{Action, HostResult, HostSteps, Item, PhasePlan, Step};

/// Hosts whose plans read the same are shown once, under all their names.
pub fn text(plans: &[PhasePlan], show_files: bool) -> String {
    let mut out = String::from(
        "# scripts run as root through `bash -s` with `set -euo pipefail`; files are written atomically\n",
    );
    for p in plans {
        let _ = writeln!(out, "phase {}", p.phase);
        if p.hosts.is_empty() {
            let _ = writeln!(out, "  (no host in this phase)");
        }
        let mut groups: Vec<(Vec<&str>, String)> = Vec::new();
        for h in &p.hosts {
            let mut block = String::new();
            match &h.result {
                HostResult::Planned(s) => host(&mut block, s, show_files),
                HostResult::Error { error } => {
                    let _ = writeln!(block, "    ! cannot plan: {}", error.message);
                    let _ = writeln!(block, "      hint: {}", error.hint);
                }
            }
            match groups.iter_mut().find(|(_, b)| *b == block) {
                Some((names, _)) => names.push(&h.host),
                None => groups.push((vec![&h.host], block)),
            }
        }
        for (names, block) in groups {
            let _ = writeln!(out, "  {}", names.join(", "));
            out.push_str(&block);
        }
    }
    out
}

fn host(out: &mut String, s: &HostSteps, show_files: bool) {
    for w in &s.warnings {
        let _ = writeln!(out, "    warning: {w}");
    }
    for i in &s.items {
        match i {
            Item::Unchanged { what, why } => {
                let _ = writeln!(out, "    = {what}: {why}");
            }
            Item::Change(st) => step(out, st, show_files),
        }
    }
}

pub fn step(out: &mut String, st: &Step, show_files: bool) {
    let _ = writeln!(out, "    + {}", st.title);
    match &st.action {
        Action::Script { script } => {
            for l in script.lines() {
                let _ = writeln!(out, "        {l}");
            }
        }
        Action::Write { path: _, mode, content } => {
            let _ = writeln!(
                out,
                "        mode {mode:04o}, {} bytes, sha256 {}{}",
                content.text.len(),
                &content.sha256[..16],
                if content.secret {
                    ", secret: content not shown"
                } else {
                    ""
                }
            );
            if show_files && !content.secret {
                for l in content.text.lines() {
                    let _ = writeln!(out, "        | {l}");
                }
            }
        }
        Action::Upload { path, local, .. } => {
            let _ = writeln!(out, "        {} -> {path}", local.display());
        }
    }
}
