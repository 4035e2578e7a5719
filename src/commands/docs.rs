//! `groundup completions SHELL` and `groundup man`: what clap knows of the command line, as a
//! shell completion script (clap_complete) and as roff manual pages (clap_mangen), so neither
//! can drift from the real flags. Exit 0; 1 when the folder cannot be written.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

use super::Failure;

pub fn completions(args: CompletionsArgs) -> Result<u8, Failure> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "groundup", &mut std::io::stdout());
    Ok(crate::exit::OK)
}

/// Writes `groundup.1` and `groundup-<command>.1` (and `groundup-pki-<command>.1`) into the folder.
pub fn man(args: ManArgs) -> Result<u8, Failure> {
    let io = |p: &Path, e: std::io::Error| Failure::Io(format!("cannot write `{}`: {e}", p.display()));
    std::fs::create_dir_all(&args.out_dir).map_err(|e| io(&args.out_dir, e))?;
    let mut written = Vec::new();
    write_pages(&Cli::command(), "groundup", &args.out_dir, &mut written).map_err(|(p, e)| io(&p, e))?;
    for p in &written {
        println!("{}", p.display());
    }
    Ok(crate::exit::OK)
}

fn write_pages(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<std::path::PathBuf>,
) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    let cmd = cmd.clone().name(name.to_string());
    let path = dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .map_err(|e| (path.clone(), e))?;
    std::fs::write(&path, buf).map_err(|e| (path.clone(), e))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
