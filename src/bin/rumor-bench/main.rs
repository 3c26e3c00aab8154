//! `rumor-bench`: footprint, join time, throughput, latency and wire
//! overhead of real `rumor` processes on loopback, beside the machine's own
//! limits (plain loopback TCP moving the same messages).
//!
//! Run it with `cargo run --release --bin rumor-bench` (add `-- --quick` for
//! a short run, `-- --json` for JSON). It starts the release `rumor` binary
//! that sits next to its own executable, on 127.0.0.1 with `--port 0`, and
//! kills every process it started when it is done (and, through
//! `PR_SET_PDEATHSIG`, if it dies).
//!
//! This is a harness, not the product: it uses threads and blocking sockets
//! freely. Every wait in it is bounded in time.
//!
//! One file per measure (`idle`, `memory`, `join`, `throughput`,
//! `latency`, `overhead`, `keyed`, `scale`), with `loopback` for the plain-TCP references,
//! `procs` for starting and stopping nodes, `report` for the table and the
//! JSON and `stats` for medians. What the bench shares with the tests
//! (collecting a node's lines, `/proc` figures, the raw peer) is in
//! `rumor::harness`.

mod idle;
mod join;
mod keyed;
mod latency;
mod loopback;
mod memory;
mod overhead;
mod procs;
mod report;
mod scale;
mod stats;
mod throughput;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use procs::Env;
use report::{Row, Target, load_avg, machine, print_json, print_table};

const USAGE: &str = "\
usage: rumor-bench [--quick] [--json] [--runs N] [--only SECTION,...] [--verbose]
                   [--scale-nodes N,...] [--scale-lines K] [--max-peers N]

Starts real rumor processes on 127.0.0.1 and prints a Markdown table (or
JSON with --json) of their footprint, join time, throughput, latency and
wire overhead, beside plain loopback TCP doing the same work.

  --quick     fewer runs and smaller loads (about a minute)
  --json      print JSON instead of the table
  --runs N    runs per measurement (medians are reported; default 5, quick 2)
  --only S    sections to run: idle, memory, join, throughput, latency, overhead,
              keyed (the same figures with a network key, and handshakes/s),
              scale (N nodes joining through one; a line reaching all)
  --scale-nodes N,...  node counts for scale (default 100, quick 30)
  --scale-lines K      lines typed per scale swarm (default 10, quick 4)
  --max-peers N        passed to every node of scale
  --verbose   let the nodes' stderr through";

const SECTIONS: &[&str] = &[
    "idle",
    "memory",
    "join",
    "throughput",
    "latency",
    "overhead",
    "keyed",
    "scale",
];

/// Payload size of the small messages.
pub const SMALL: usize = 64;
/// Payload size of the large messages.
pub const LARGE: usize = 16 * 1024;

pub struct Opts {
    pub quick: bool,
    pub json: bool,
    pub runs: usize,
    only: Vec<String>,
    verbose: bool,
    pub scale_nodes: Vec<usize>,
    pub scale_lines: Option<usize>,
    pub max_peers: Option<usize>,
}

impl Opts {
    fn parse() -> Result<Opts, String> {
        let mut o = Opts {
            quick: false,
            json: false,
            runs: 0,
            only: Vec::new(),
            verbose: false,
            scale_nodes: Vec::new(),
            scale_lines: None,
            max_peers: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => o.quick = true,
                "--json" => o.json = true,
                "--verbose" => o.verbose = true,
                "--runs" => {
                    let n = args.next().ok_or("--runs needs a number")?;
                    o.runs = n
                        .parse()
                        .ok()
                        .filter(|n| (1..=50).contains(n))
                        .ok_or("--runs takes 1 to 50")?;
                }
                "--only" => {
                    let s = args.next().ok_or("--only needs section names")?;
                    for name in s.split(',') {
                        if !SECTIONS.contains(&name) {
                            return Err(format!("unknown section {name:?}"));
                        }
                        o.only.push(name.to_string());
                    }
                }
                "--scale-nodes" => {
                    let s = args.next().ok_or("--scale-nodes needs node counts")?;
                    for n in s.split(',') {
                        let n = n
                            .parse()
                            .ok()
                            .filter(|n| (2..=100_000).contains(n))
                            .ok_or("--scale-nodes takes counts of 2 to 100,000")?;
                        o.scale_nodes.push(n);
                    }
                }
                "--scale-lines" => {
                    let k = args.next().ok_or("--scale-lines needs a number")?;
                    let k = k.parse().ok().filter(|k| (1..=1000).contains(k));
                    o.scale_lines = Some(k.ok_or("--scale-lines takes 1 to 1,000")?);
                }
                "--max-peers" => {
                    let m = args.next().ok_or("--max-peers needs a number")?;
                    let m = m.parse().ok().filter(|&m| m >= 1);
                    o.max_peers = Some(m.ok_or("--max-peers takes a number of at least 1")?);
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        if o.runs == 0 {
            o.runs = if o.quick { 2 } else { 5 };
        }
        Ok(o)
    }

    fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

/// Reports a measure that failed; its row says `failed`.
pub fn fail(what: &str, e: impl std::fmt::Display) {
    eprintln!("rumor-bench: {what}: {e}");
}

/// The release `rumor` next to this executable, rebuilt first when run
/// through cargo so it is never stale.
fn find_rumor() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = me.with_file_name("rumor");
    if let Ok(cargo) = std::env::var("CARGO") {
        let release = me
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "release");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--bin", "rumor"]);
        if release {
            cmd.arg("--release");
        }
        let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
        if !ok {
            return Err("cargo build --bin rumor failed".into());
        }
    }
    if !bin.exists() {
        return Err(format!(
            "no rumor binary at {}: run `cargo build --release` first",
            bin.display()
        ));
    }
    Ok(bin)
}

fn main() {
    let o = match Opts::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("rumor-bench: {e}");
            std::process::exit(2);
        }
    };
    let bin = match find_rumor() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("rumor-bench: {e}");
            std::process::exit(1);
        }
    };
    let tmp = std::env::temp_dir().join(format!("rumor-bench-{}", std::process::id()));
    if let Err(e) = fs::create_dir_all(&tmp) {
        eprintln!("rumor-bench: cannot create {}: {e}", tmp.display());
        std::process::exit(1);
    }
    let env = Env {
        bin: bin.clone(),
        tmp: tmp.clone(),
        verbose: o.verbose,
        key: None,
    };
    let load0 = load_avg();
    let mut rows = Vec::new();
    type Section = fn(&Env, &Opts, &mut Vec<Row>);
    let sections: [(&str, Section); 8] = [
        ("idle", idle::idle),
        ("memory", memory::memory),
        ("join", join::join),
        ("throughput", throughput::throughput),
        ("latency", latency::latency),
        ("overhead", overhead::overhead),
        ("keyed", keyed::keyed),
        ("scale", scale::scale),
    ];
    for (name, f) in sections {
        if o.wants(name) {
            f(&env, &o, &mut rows);
        }
    }
    let size = fs::metadata(&bin).map(|m| m.len() as f64 / 1000.0).ok();
    rows.push(
        Row::new("binary", "release binary size", size)
            .unit("KB")
            .target(Target::AtMost(900.0)),
    );
    let info = machine(&bin, &load0, &load_avg(), &o);
    if o.json {
        print_json(&info, &rows);
    } else {
        print_table(&info, &rows);
    }
    let _ = fs::remove_dir_all(&tmp);
}
