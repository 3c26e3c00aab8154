//! An idle 3-node mesh: threads, RSS beside `sleep`'s, CPU and wake-ups.

use std::fs;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::procs::{Env, Proc, Sink, mesh};
use crate::report::{Row, Target};
use crate::stats::median;
use crate::{Opts, fail};

/// Idle 3-node mesh: footprint, CPU and wake-ups.
pub fn idle(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let window = Duration::from_secs(if o.quick { 3 } else { 10 });
    eprintln!("idle: a 3-node mesh, {}s window", window.as_secs());
    let mesh = match mesh(env, 3, |_| Sink::Pipe) {
        Ok(m) => m,
        Err(e) => return fail("idle mesh", e),
    };
    // A reference process: how small can any process on this machine be.
    let sleeper = Command::new("sleep").arg("30").stdin(Stdio::null()).spawn();
    thread::sleep(Duration::from_millis(1000));
    let rss: Vec<f64> = mesh.iter().filter_map(Proc::rss_kib).collect();
    let threads: Vec<f64> = mesh
        .iter()
        .filter_map(|p| p.status_field("Threads:"))
        .collect();
    let sleep_rss = sleeper.as_ref().ok().and_then(|c| {
        let s = fs::read_to_string(format!("/proc/{}/status", c.id())).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    });
    if let Ok(mut c) = sleeper {
        let _ = c.kill();
        let _ = c.wait();
    }
    let cpu0: Vec<Option<f64>> = mesh.iter().map(Proc::cpu_secs).collect();
    let wk0: Vec<Option<f64>> = mesh.iter().map(Proc::wakeups).collect();
    let t0 = Instant::now();
    thread::sleep(window);
    let secs = t0.elapsed().as_secs_f64();
    let mut cpu = Vec::new();
    let mut wk = Vec::new();
    for (i, p) in mesh.iter().enumerate() {
        if let (Some(a), Some(b)) = (cpu0[i], p.cpu_secs()) {
            cpu.push((b - a) / secs * 100.0);
        }
        if let (Some(a), Some(b)) = (wk0[i], p.wakeups()) {
            wk.push((b - a) / secs);
        }
    }
    let all_joined = mesh.iter().all(|p| p.peers() == 2);
    if !all_joined {
        eprintln!("idle: a node lost a peer during the window");
    }
    rows.push(
        Row::new("idle", "threads of an idle node", median(&threads)).target(Target::AtMost(1.0)),
    );
    rows.push(
        Row::new(
            "idle",
            "RSS of an idle node with 2 peers",
            median(&rss).map(|k| k / 1024.0),
        )
        .unit("MiB")
        .base(sleep_rss.map(|k: f64| k / 1024.0), "RSS of `sleep`")
        .target(Target::AtMost(2.5)),
    );
    rows.push(
        Row::new(
            "idle",
            format!("CPU of an idle node (3-node mesh, {}s)", window.as_secs()),
            median(&cpu),
        )
        .unit("%")
        .target(Target::AtMost(0.1)),
    );
    rows.push(
        Row::new(
            "idle",
            "wake-ups of an idle node (keepalives due: 2 sent + 2 received /s)",
            median(&wk),
        )
        .unit("/s"),
    );
}
