//! The `rumor` binary: parse the command line, run the shell.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use rumor::cli::{Args, Command};
use rumor::keyfile;
use rumor::node::Config;
use rumor::shell;

fn main() -> ExitCode {
    // Usage errors: clap prints one line and exits 2.
    let args = Args::parse();
    if let Some(Command::Keygen) = args.command {
        return match keyfile::keygen() {
            Ok(key) => {
                println!("{key}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    if let Some(path) = &args.key_file {
        // The ring is loaded and checked, but the keyed node is not wired
        // in yet: refuse rather than run unencrypted with a key given.
        if let Err(e) = keyfile::load(path) {
            return fail(e);
        }
        return fail(
            "--key-file: the keyed node is not built yet; refusing to run without encryption",
        );
    }
    let mut cfg = Config::new(SocketAddr::new(args.bind, args.port));
    cfg.period = args.period.0;
    cfg.bootstrap = args
        .connect
        .iter()
        .filter_map(|p| p.pick(args.bind))
        .collect();
    match shell::run(cfg, fastrand::u64(..)) {
        Ok(shell::Exit::Clean) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Could not run: one line on stderr, exit code 1.
fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("rumor: {e}");
    ExitCode::from(1)
}
