//! The groundup binary: parses the command line, runs the command, maps the outcome to an exit
//! code (see `exit` and README "Exit codes"). Prints errors; everything else is in the library.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use groundup::cli::{Cli, Command, ImportCommand, PkiCommand};
use groundup::commands::{self, Failure};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    groundup::inventory::class::select(cli.cluster.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(groundup::exit::INTERNAL);
        }
    };
    let result = runtime.block_on(async {
        // A class file with other than one cluster selected: each cluster in a process of its own.
        if let Some(class) = commands::class::invocation(&matches) {
            return commands::class::run(class).await;
        }
        match cli.command {
            Command::Check(a) => commands::check::run(a).await,
            Command::Exec(a) => commands::exec::run(a).await,
            Command::Plan(a) => commands::plan::run(a).await,
            Command::Explain(a) => commands::explain::run(a).await,
            Command::Status(a) => commands::status::run(a).await,
            Command::Diagnose(a) => commands::diagnose::run(a).await,
            Command::Apply(a) => commands::apply::run(a).await,
            Command::Backup(a) => commands::backup::run(a).await,
            Command::Restore(a) => commands::restore::run(a).await,
            Command::Remove(a) => commands::remove::run(a).await,
            Command::Upgrade(a) => commands::upgrade::run(a).await,
            Command::Reset(a) => commands::reset::run(a).await,
            Command::Render(a) => commands::render::run(a),
            Command::Kubeconfig(a) => commands::kubeconfig::run(a).await,
            Command::Pki(PkiCommand::Status(a)) => commands::pki_status::run(a).await,
            Command::Pki(PkiCommand::Renew(a)) => commands::pki_renew::run(a).await,
            Command::Pki(PkiCommand::RotateCa(a)) => commands::pki_rotate::run(a).await,
            Command::Pki(c) => commands::pki::run(c),
            Command::Import(ImportCommand::Ansible(a)) => commands::import::ansible(a),
            Command::Completions(a) => commands::docs::completions(a),
            Command::Man(a) => commands::docs::man(a),
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            match &f {
                Failure::Inventory(e) => eprint!("{}", e.render_for_stderr()),
                other => eprintln!("error: {other}"),
            }
            ExitCode::from(f.exit_code())
        }
    }
}
