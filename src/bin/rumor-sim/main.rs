//! `rumor-sim`: runs scenarios of many real rumor cores on a simulated
//! network and prints one row of figures per scenario (docs/SIMULATOR.md).
//!
//! `cargo run --release --bin rumor-sim -- FILE [--seed S] [--only NAME] [--stable] [--shape] [--counters]`
//!
//! The rows are the same for the same seed, byte for byte; the columns after
//! them (wall time and memory, which depend on the machine) are left out
//! with `--stable`.

mod heap;

use std::process::ExitCode;
use std::time::Instant;

use rumor::harness::proc;
use rumor::node::{order, plumtree};
use rumor::sim::{Report, Sim, run::run_scenario_with, scenario, shape::Shape};

#[global_allocator]
static ALLOC: heap::Counting = heap::Counting;

const USAGE: &str = "\
usage: rumor-sim FILE [--seed S] [--only NAME[,NAME...]] [--stable] [--shape] [--counters]

Runs the scenarios of FILE (docs/SIMULATOR.md) on a simulated network of
real rumor cores and prints one row per scenario.

  --seed S    seed of every scenario (default: each scenario's, else 1)
  --only N    run only the scenarios named (comma-separated)
  --stable    leave out wall time and memory: the output is then the same
              for the same seed, byte for byte
  --shape     as each idle window starts, print to stderr how deep the
              overlay is: from the first, middle and last node, the
              farthest node over active links and over eager links
  --counters  as each idle window starts, print to stderr the broadcast
              tree's and the order table's counters, summed over the live
              nodes (what was dropped at which cap)";

/// The machine-dependent columns.
const MACHINE: &str = "    wall  peak-MiB  KB/node  heap-KB/node";

struct Args {
    file: String,
    seed: Option<u64>,
    only: Option<Vec<String>>,
    stable: bool,
    shape: bool,
    counters: bool,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut file, mut seed, mut only) = (None, None, None);
    let (mut stable, mut shape, mut counters) = (false, false, false);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seed" => {
                let v = it.next().ok_or("--seed needs a number")?;
                seed = Some(v.parse().map_err(|_| format!("bad seed {v:?}"))?);
            }
            "--only" => {
                let v = it.next().ok_or("--only needs a scenario name")?;
                only = Some(v.split(',').map(str::to_string).collect());
            }
            "--stable" => stable = true,
            "--shape" => shape = true,
            "--counters" => counters = true,
            "-h" | "--help" => return Err(String::new()),
            _ if a.starts_with('-') => return Err(format!("unknown option {a}")),
            _ if file.is_none() => file = Some(a),
            _ => return Err(format!("unexpected argument {a:?}")),
        }
    }
    let file = file.ok_or("no scenario file")?;
    Ok(Args {
        file,
        seed,
        only,
        stable,
        shape,
        counters,
    })
}

fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("rumor-sim: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    with_huge_pages();
    let text = match std::fs::read_to_string(&a.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rumor-sim: cannot read {}: {e}", a.file);
            return ExitCode::from(2);
        }
    };
    let mut all = match scenario::parse(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rumor-sim: {}:{}: {}", a.file, e.line, e.msg);
            return ExitCode::from(2);
        }
    };
    if let Some(only) = &a.only {
        if let Some(n) = only.iter().find(|n| !all.iter().any(|s| &s.name == *n)) {
            eprintln!("rumor-sim: {}: no scenario named {n:?}", a.file);
            return ExitCode::from(2);
        }
        all.retain(|s| only.contains(&s.name));
    }
    println!("{}{}", Report::HEADER, if a.stable { "" } else { MACHINE });
    for mut sc in all {
        if let Some(s) = a.seed {
            sc.seed = s;
        }
        let (row, machine) = measured(&sc, a.shape, a.counters);
        println!("{row}{}", if a.stable { String::new() } else { machine });
    }
    ExitCode::SUCCESS
}

/// A large simulation waits on memory: each event touches a few random
/// nodes' tables in gigabytes of heap, and much of a miss is the
/// page-table walk. glibc's malloc backs its heap with transparent huge
/// pages when `GLIBC_TUNABLES` says so before the process starts, so
/// rumor-sim starts itself once more with `glibc.malloc.hugetlb=1`
/// (many-senders-10k: 1.10× faster; docs/SIMULATOR.md). It leaves a
/// `GLIBC_TUNABLES` already set alone (even empty: the way to run without),
/// and goes on as it is if the new start fails; other C libraries ignore
/// the variable.
fn with_huge_pages() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(argv0) = args.next() {
        cmd.arg0(argv0);
    }
    // Returns only if the new start failed.
    let _ = cmd
        .args(args)
        .env("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
        .exec();
}

/// The tree's and the order table's counters, summed over the live nodes.
fn summed_counters(sim: &Sim) -> (plumtree::Counters, order::Counters) {
    let (mut tree, mut ord) = (plumtree::Counters::default(), order::Counters::default());
    for n in sim.nodes.iter().filter(|n| n.up) {
        tree += n.node.tree().counters();
        ord += n.node.order().counters();
    }
    (tree, ord)
}

/// Runs one scenario: its row, and its wall time and memory.
fn measured(sc: &scenario::Scenario, shape: bool, counters: bool) -> (String, String) {
    let pid = std::process::id() as i32;
    // Writing 5 resets the peak resident size (VmHWM) to the current one.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = proc::rss_kib(pid).unwrap_or(0);
    let heap_before = heap::live();
    let mut idle_heap = 0;
    let started = Instant::now();
    let report = run_scenario_with(sc, std::time::Instant::now(), |sim: &Sim| {
        let live = sim.nodes.iter().filter(|n| n.up).count().max(1);
        idle_heap = heap::live().saturating_sub(heap_before) / live;
        if shape {
            for root in Shape::roots(sim) {
                eprintln!("rumor-sim: {}: {}", sc.name, Shape::of(sim, root).line());
            }
        }
        if counters {
            let (tree, order) = summed_counters(sim);
            eprintln!("rumor-sim: {}: tree {tree:?}", sc.name);
            eprintln!("rumor-sim: {}: order {order:?}", sc.name);
        }
    });
    let wall = started.elapsed();
    let peak = proc::peak_kib(pid).unwrap_or(0);
    let per_node = peak.saturating_sub(rss_before) as f64 / sc.nodes as f64;
    let machine = format!(
        " {:>7.1}s {:>9.1} {:>8.1} {:>13.1}",
        wall.as_secs_f64(),
        peak as f64 / 1024.0,
        per_node,
        idle_heap as f64 / 1024.0,
    );
    (report.row(), machine)
}
