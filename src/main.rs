//! The `rumor` binary: parse the command line, run the shell.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use rumor::cli::{Args, Command};
use rumor::format::Style;
use rumor::keyfile;
use rumor::node::{Config, Level};
use rumor::shell::{self, Options};

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
    let key = match &args.key_file {
        Some(path) => match keyfile::load(path) {
            Ok(ring) => Some(ring),
            Err(e) => return fail(e),
        },
        None => None,
    };
    let mut cfg = Config::new(SocketAddr::new(args.bind, args.port));
    cfg.period = args.period.0;
    cfg.exit_on_eof = args.exit_on_eof;
    cfg.max_peers = usize::from(args.max_peers);
    cfg.key = key;
    cfg.advertise = args.advertise.as_ref().and_then(|p| p.pick(args.bind));
    cfg.bootstrap = args
        .connect
        .iter()
        .filter_map(|p| p.pick(args.bind))
        .collect();
    let opts = Options {
        style: if args.json { Style::Json } else { Style::Text },
        level: match (args.quiet, args.verbose) {
            (true, _) => Level::Error,
            (_, true) => Level::Debug,
            _ => Level::Notice,
        },
        key_file: args.key_file.clone(),
    };
    cfg.diag_level = opts.level;
    cfg.unresolved_bootstraps = args.connect.iter().filter(|p| p.addrs.is_empty()).count();
    match shell::run(cfg, fastrand::u64(..), opts, &args.connect) {
        Ok(shell::Exit::Clean) => ExitCode::SUCCESS,
        Ok(shell::Exit::Departed(o)) if o.complete() => ExitCode::SUCCESS,
        Ok(shell::Exit::Departed(o)) => {
            if o.lines_dropped > 0 {
                let n = o.lines_dropped;
                eprintln!(
                    "rumor: not every stdin line was sent to every peer ({n} not sent; see above)"
                );
            }
            if !o.unconfirmed.is_empty() {
                let list: Vec<String> = o.unconfirmed.iter().map(|a| a.to_string()).collect();
                eprintln!(
                    "rumor: {} of {} peers did not confirm they have every line: {}",
                    list.len(),
                    list.len() + o.confirmed,
                    list.join(", ")
                );
            }
            ExitCode::from(3)
        }
        Err(e) => fail(e),
    }
}

/// Could not run: one line on stderr, exit code 1.
fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("rumor: {e}");
    ExitCode::from(1)
}
