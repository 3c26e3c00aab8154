//! The `rumor` binary: parse the command line, run the shell.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use rumor::cli::Args;
use rumor::format::Style;
use rumor::node::{Config, Level};
use rumor::shell::{self, Options};

fn main() -> ExitCode {
    // Usage errors: clap prints one line and exits 2.
    let args = Args::parse();
    let mut cfg = Config::new(SocketAddr::new(args.bind, args.port));
    cfg.period = args.period.0;
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
    };
    match shell::run(cfg, fastrand::u64(..), opts) {
        Ok(shell::Exit::Clean) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rumor: {e}");
            ExitCode::from(1)
        }
    }
}
