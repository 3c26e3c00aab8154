//! Scale: N real processes on 127.0.0.1, all joining through the first, and
//! lines typed at one of them delivered to all the others (issue 11, part
//! 7). `--scale-nodes 100,1000` sets N (default 100, quick 30),
//! `--scale-lines` the lines per swarm, `--max-peers` is passed to every
//! node when given.
//!
//! The nodes start at a steady pace ([`WINDOW`] at a time not yet joined,
//! [`PACE`] apart), through `rumor::harness::swarm`. The lines are typed
//! one after the other (the next once the last reached everyone or the
//! deadline passed), by the newest node, the first, and one in the
//! middle in turn. A delivery's time runs from just before the line is
//! written to the writer's stdin to the moment the bench read the
//! `Received` line naming the writer at a node: one clock for all the
//! processes (the nodes' `--json` `ms` counts from each one's own start).
//! Then, with the swarm quiet: sockets per node (the socket entries of
//! `/proc/PID/fd`: its listener, its signal handler's socket pair, its
//! peers, dials and handshakes), RSS, and
//! CPU over an idle window (the scheduler's runtime, `/proc/PID/sched`,
//! where the kernel shows it: `utime + stime` of `/proc/PID/stat` count
//! 10 ms ticks, coarser than an idle node's use).

use std::time::{Duration, Instant};

use rumor::harness::proc;
use rumor::harness::swarm::{Spec, Stderr, Swarm};

use crate::procs::Env;
use crate::report::{Row, Target};
use crate::stats::percentile;
use crate::{Opts, fail};

/// Nodes started and not yet joined at a time.
const WINDOW: usize = 8;
/// At least this long between two starts.
const PACE: Duration = Duration::from_millis(10);
/// The deadline of each wait while starting (an address, a join line).
const START_LIMIT: Duration = Duration::from_secs(30);
/// The deadline of one line's deliveries to every node.
const DELIVERY_LIMIT: Duration = Duration::from_secs(10);
/// The active view the issue gives a node by default, when no
/// `--max-peers` is passed.
const DEFAULT_ACTIVE: usize = 8;
/// Sockets a node may hold beyond its active view: its listener, the
/// socket pair of its signal handler (three in an idle lone node), and a
/// couple of connections in handshake.
const SOCKET_SLACK: usize = 5;

pub fn scale(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let sizes = if o.scale_nodes.is_empty() {
        vec![if o.quick { 30 } else { 100 }]
    } else {
        o.scale_nodes.clone()
    };
    for n in sizes {
        let lines = o.scale_lines.unwrap_or(if o.quick { 4 } else { 10 });
        let figures = match limits_allow(n).and_then(|()| measure(env, o, n, lines)) {
            Ok(f) => f,
            Err(e) => {
                fail(&format!("scale {n}"), e);
                Figures::default()
            }
        };
        figures.rows(n, lines, o, rows);
    }
}

/// What one swarm measured; `None` where it failed.
#[derive(Default)]
struct Figures {
    start_secs: Option<f64>,
    each: Vec<f64>,
    last: Vec<f64>,
    missed: Option<f64>,
    sockets: Vec<f64>,
    rss_mib: Vec<f64>,
    cpu_pct: Vec<f64>,
    window_secs: u64,
}

/// Raises the bench's soft descriptor limit to the hard one and checks
/// that it, and the process limit, fit `n` nodes: the bench holds two
/// pipes per node (stdin, stdout) and a reader thread per pipe it reads.
fn limits_allow(n: usize) -> Result<(), String> {
    let mut fds = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut fds) == 0 && fds.rlim_cur < fds.rlim_max {
            fds.rlim_cur = fds.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &fds);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut fds);
    }
    let need_fds = 3 * n as u64 + 64;
    if fds.rlim_cur != libc::RLIM_INFINITY && fds.rlim_cur < need_fds {
        return Err(format!(
            "{n} nodes need about {need_fds} descriptors in the bench; `ulimit -n` allows {}",
            fds.rlim_cur
        ));
    }
    let mut procs = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as above.
    unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut procs) };
    let need_procs = 2 * n as u64 + 64;
    if procs.rlim_cur != libc::RLIM_INFINITY && procs.rlim_cur < need_procs {
        return Err(format!(
            "{n} nodes need about {need_procs} processes and threads; `ulimit -u` allows {}",
            procs.rlim_cur
        ));
    }
    Ok(())
}

fn measure(env: &Env, o: &Opts, n: usize, lines: usize) -> Result<Figures, String> {
    let mut args = Vec::new();
    if let Some(m) = o.max_peers {
        args = vec!["--max-peers".into(), m.to_string()];
    }
    let spec = Spec {
        bin: env.bin.clone(),
        nodes: n,
        args,
        window: WINDOW,
        pace: PACE,
        stderr: if env.verbose {
            Stderr::Inherit
        } else {
            Stderr::Null
        },
        limit: START_LIMIT,
    };
    eprintln!("scale: starting {n} nodes");
    let t0 = Instant::now();
    let mut swarm = Swarm::start(&spec)?;
    let mut f = Figures {
        start_secs: Some(t0.elapsed().as_secs_f64()),
        ..Figures::default()
    };
    eprintln!(
        "scale: {n} nodes joined in {:.1}s; {lines} lines",
        t0.elapsed().as_secs_f64()
    );
    let mut missed = 0;
    for k in 0..lines {
        let from = match k % 3 {
            0 => n - 1,
            1 => 0,
            _ => (k * 7919) % n,
        };
        let sent = swarm.type_line(from, &format!("scale {n} line {k}"))?;
        let at = swarm.deliveries(&sent, DELIVERY_LIMIT);
        let ms: Vec<f64> = at
            .iter()
            .flatten()
            .map(|t| t.duration_since(sent.at).as_secs_f64() * 1000.0)
            .collect();
        missed += n - 1 - ms.len();
        eprintln!(
            "scale: line {k} from node {from}: reached {} of {} in {:.0?}",
            ms.len(),
            n - 1,
            sent.at.elapsed()
        );
        if let Some(last) = ms.iter().copied().reduce(f64::max) {
            f.last.push(last);
        }
        f.each.extend(ms);
    }
    f.missed = Some(missed as f64);
    let pids = swarm.pids();
    f.window_secs = if o.quick { 3 } else { 10 };
    eprintln!("scale: {}s idle window", f.window_secs);
    let cpu0: Vec<Option<Duration>> = pids.iter().map(|&p| proc::cpu_time(p)).collect();
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs(f.window_secs));
    let secs = w0.elapsed().as_secs_f64();
    for (i, &p) in pids.iter().enumerate() {
        if let (Some(a), Some(b)) = (cpu0[i], proc::cpu_time(p)) {
            f.cpu_pct.push((b - a).as_secs_f64() / secs * 100.0);
        }
    }
    // Counted once the swarm is quiet: right after the lines, the joins'
    // forced dials, evictions and goodbyes (each kept open up to 3 s for
    // its receiver to close) were still settling: 40-70 sockets a node
    // then, 11-12 a few seconds later.
    f.sockets = pids
        .iter()
        .filter_map(|&p| proc::sockets(p))
        .map(|s| s as f64)
        .collect();
    f.rss_mib = pids
        .iter()
        .filter_map(|&p| proc::rss_kib(p))
        .map(|k| k as f64 / 1024.0)
        .collect();
    Ok(f)
}

impl Figures {
    fn rows(&self, n: usize, lines: usize, o: &Opts, rows: &mut Vec<Row>) {
        let p = |v: &[f64], q: f64| percentile(v, q);
        let max = |v: &[f64]| percentile(v, 100.0);
        let view = o.max_peers.unwrap_or(DEFAULT_ACTIVE);
        let mut row = |name: String, value: Option<f64>, unit: &'static str| {
            rows.push(Row::new("scale", format!("scale {n}: {name}"), value).unit(unit));
        };
        row(
            format!("start {n} nodes, each joined ({WINDOW} at a time, ≥ {PACE:?} apart)"),
            self.start_secs,
            "s",
        );
        row(
            "delivery time, p50 over every node and line".into(),
            p(&self.each, 50.0),
            "ms",
        );
        row("delivery time, p99".into(), p(&self.each, 99.0), "ms");
        row(
            format!("time to last delivery, p50 over {lines} lines"),
            p(&self.last, 50.0),
            "ms",
        );
        row(
            format!("time to last delivery, p99 over {lines} lines"),
            p(&self.last, 99.0),
            "ms",
        );
        rows.push(
            Row::new(
                "scale",
                format!("scale {n}: deliveries missed (of {})", lines * (n - 1)),
                self.missed,
            )
            .target(Target::AtMost(0.0)),
        );
        let sockets = |q: &str| format!("scale {n}: sockets per node, {q}");
        rows.push(
            Row::new("scale", sockets("p50"), p(&self.sockets, 50.0))
                .target(Target::AtMost((view + SOCKET_SLACK) as f64)),
        );
        rows.push(
            Row::new("scale", sockets("max"), max(&self.sockets))
                .target(Target::AtMost((view + SOCKET_SLACK) as f64)),
        );
        let mut row = |name: String, value: Option<f64>, unit: &'static str| {
            rows.push(Row::new("scale", format!("scale {n}: {name}"), value).unit(unit));
        };
        row("RSS per node, p50".into(), p(&self.rss_mib, 50.0), "MiB");
        row("RSS per node, max".into(), max(&self.rss_mib), "MiB");
        let idle = |q: &str| format!("idle CPU per node over {}s, {q}", self.window_secs);
        row(idle("p50"), p(&self.cpu_pct, 50.0), "%");
        row(idle("max"), max(&self.cpu_pct), "%");
    }
}
