//! `groundup render`: every file `apply` would place on each host, written under
//! `DIR/<host>/<absolute path>` without contacting any host — for review, version control, and
//! students who want to read what each node gets. It plans every phase against a blank host of
//! the chosen OS (nothing installed, nothing configured), so it shows the full set. Secret files
//! (keys, kubeconfigs, proxy credentials) are left out and listed in `DIR/SECRETS.txt`.

use std::fmt::Write as _;
use std::path::Path;

use crate::cli::RenderArgs;
use crate::exec::Output;
use crate::facts::{self, HostFacts};
use crate::inventory::Inventory;
use crate::plan::{self, phases, Action, Context, HostResult, Item};

use super::Failure;

/// os-release bodies of the blank hosts `render` plans for.
const OSES: &[(&str, &str)] = &[
    (
        "debian-12",
        "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
    ),
    (
        "ubuntu-24.04",
        "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\nVERSION_CODENAME=noble\nPRETTY_NAME=\"Ubuntu 24.04 LTS\"\n",
    ),
    (
        "ubuntu-22.04",
        "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\nPRETTY_NAME=\"Ubuntu 22.04 LTS\"\n",
    ),
    (
        "rocky-9",
        "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Rocky Linux 9.4\"\n",
    ),
    (
        "almalinux-9",
        "ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"AlmaLinux 9.4\"\n",
    ),
    (
        "centos-stream-9",
        "ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"\nPRETTY_NAME=\"CentOS Stream 9\"\n",
    ),
];

pub fn os_names() -> Vec<&'static str> {
    OSES.iter().map(|(n, _)| *n).collect()
}

/// Facts of a blank x86_64 host of `os` named `name`: nothing installed, nothing configured.
pub fn blank_host(os: &str, name: &str) -> Option<HostFacts> {
    let release = OSES.iter().find(|(n, _)| *n == os)?.1;
    let text = format!(
        "@@groundup-fact:os-release\n{release}@@groundup-fact:uname\nx86_64\n6.1.0\n@@groundup-fact:hostname\n{name}\n\
         @@groundup-fact:services\nsystemd-timesyncd inactive disabled\n"
    );
    Some(HostFacts {
        facts: facts::parse(&text),
        clock_skew: Some(0.0),
        raw: Output {
            status: Some(0),
            stdout: text,
            stderr: String::new(),
            duration: Default::default(),
        },
    })
}

pub fn run(args: RenderArgs) -> Result<u8, Failure> {
    let inv = Inventory::load(&args.inventory)?;
    let cx = Context::with_certs(&inv, args.certs_dir.as_deref()).map_err(Failure::Usage)?;
    let Some(_) = blank_host(&args.os, "x") else {
        return Err(Failure::Usage(format!(
            "unknown OS `{}`: choose one of {}",
            args.os,
            os_names().join(", ")
        )));
    };
    let summary = render(&cx, &args.os, &args.out)?;
    print!("{summary}");
    Ok(crate::exit::OK)
}

/// Writes the files and returns a summary (one line per host). Pure but for the writes in `out`.
pub fn render(cx: &Context, os: &str, out: &Path) -> Result<String, Failure> {
    let io = |p: &Path, e: std::io::Error| Failure::Io(format!("cannot write `{}`: {e}", p.display()));
    let inv = cx.inv;
    let mut summary = String::new();
    let mut secrets = String::from("# Files apply places that render leaves out: their content is secret.\n");
    for host in &inv.hosts {
        let hf = blank_host(os, host.name.as_str()).ok_or_else(|| Failure::Usage(format!("unknown OS `{os}`")))?;
        // Preflight writes nothing, and a blank host has no facts to check.
        let writers: Vec<&dyn plan::Phase> = phases::ALL.iter().copied().filter(|p| !p.gate()).collect();
        let plans = plan::build(cx, &writers, &[(host, &hf)]);
        let mut written = 0;
        let mut missing = Vec::new();
        for p in &plans {
            for hp in &p.hosts {
                let steps = match &hp.result {
                    HostResult::Planned(steps) => steps,
                    HostResult::Error { error } => {
                        missing.push(format!(
                            "  phase {} not rendered: {} (hint: {})",
                            p.phase, error.message, error.hint
                        ));
                        continue;
                    }
                };
                for item in &steps.items {
                    let Item::Change(step) = item else { continue };
                    let Action::Write { path, mode, content } = &step.action else {
                        continue;
                    };
                    if content.secret {
                        let _ = writeln!(secrets, "{}{path} (mode {mode:04o}, from phase {})", host.name, p.phase);
                        continue;
                    }
                    let dest = out.join(host.name.as_str()).join(path.trim_start_matches('/'));
                    if let Some(dir) = dest.parent() {
                        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
                    }
                    std::fs::write(&dest, &content.text).map_err(|e| io(&dest, e))?;
                    written += 1;
                }
            }
        }
        let _ = writeln!(summary, "{}: {written} files", host.name);
        for m in missing {
            let _ = writeln!(summary, "{m}");
        }
    }
    let list = out.join("SECRETS.txt");
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    std::fs::write(&list, secrets).map_err(|e| io(&list, e))?;
    let _ = writeln!(
        summary,
        "written under {} (secret files listed in SECRETS.txt, not written)",
        out.display()
    );
    Ok(summary)
}
