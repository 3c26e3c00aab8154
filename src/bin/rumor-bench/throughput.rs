//! Throughput: messages typed into one node, printed by 1 or 10 peers,
//! beside plain loopback TCP moving the same bytes.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::loopback::{loopback_throughput, message_chunk, write_lines};
use crate::procs::{Env, Proc, Sink, mesh};
use crate::report::{Row, Target};
use crate::stats::median;
use crate::{LARGE, Opts, SMALL, fail};

/// Where a file's size should end up: `base` plus `count` received lines.
fn received_line_len(payload: usize, from: &Proc) -> usize {
    "00:00:00 - Received message [".len() + payload + "] from ".len() + from.name().len() + 1
}

/// `count` messages of `len` bytes typed into one node with `peers` peers,
/// each printing to a file; messages per second until every peer printed
/// every one.
fn rumor_throughput(env: &Env, len: usize, peers: usize, count: usize) -> io::Result<f64> {
    let dir = &env.tmp;
    let mut nodes = mesh(env, peers + 1, |i| {
        Sink::File(dir.join(format!("out-{i}-{}", fastrand::u32(..))))
    })?;
    let mut stdin = nodes[0]
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("no stdin"))?;
    let (a, bs) = nodes.split_first().unwrap();
    let line = received_line_len(len, a);
    let targets: Vec<(PathBuf, u64)> = bs
        .iter()
        .map(|b| {
            let p = b.file.clone().unwrap();
            let size = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            (p, size + (count * line) as u64)
        })
        .collect();
    let chunk = message_chunk(len);
    let t0 = Instant::now();
    let writer = thread::spawn(move || write_lines(&mut stdin, &chunk, len, count));
    let deadline = t0 + Duration::from_secs(120);
    let mut last_progress = (Instant::now(), 0u64);
    let end = loop {
        let sizes: Vec<u64> = targets
            .iter()
            .map(|(p, _)| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .collect();
        if sizes.iter().zip(&targets).all(|(s, (_, want))| s >= want) {
            break Instant::now();
        }
        let total: u64 = sizes.iter().sum();
        if total != last_progress.1 {
            last_progress = (Instant::now(), total);
        }
        if Instant::now() >= deadline || last_progress.0.elapsed() > Duration::from_secs(10) {
            return Err(io::Error::other(format!(
                "stalled: peers printed {sizes:?} bytes of {:?}",
                targets.iter().map(|t| t.1).collect::<Vec<_>>()
            )));
        }
        thread::sleep(Duration::from_millis(1));
    };
    let _ = writer.join();
    // Outside the timing: every peer printed exactly `count` more lines.
    for (b, (p, want)) in bs.iter().zip(&targets) {
        let base = want - (count * line) as u64;
        let lines = count_lines_from(p, base)?;
        if lines != count {
            return Err(io::Error::other(format!(
                "{} printed {lines} lines, not {count}",
                b.name()
            )));
        }
    }
    Ok(count as f64 / (end - t0).as_secs_f64())
}

/// Newlines in the file at `path` after its first `skip` bytes.
fn count_lines_from(path: &Path, skip: u64) -> io::Result<usize> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(skip))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        n += buf[..k].iter().filter(|&&b| b == b'\n').count();
    }
}

/// Three loads: small messages to 1 and to 10 peers, large ones to 1.
pub fn throughput(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let q = o.quick;
    let cases: [(usize, usize, usize, usize); 3] = [
        (SMALL, 1, if q { 500_000 } else { 2_000_000 }, o.runs),
        (SMALL, 10, if q { 100_000 } else { 300_000 }, o.runs.min(3)),
        (LARGE, 1, if q { 4_000 } else { 16_000 }, o.runs.min(3)),
    ];
    for (len, peers, count, runs) in cases {
        eprintln!("throughput: {count} messages of {len} bytes to {peers} peer(s), {runs} runs");
        let mut r = Vec::new();
        let mut b = Vec::new();
        for _ in 0..runs {
            match loopback_throughput(len, count) {
                Ok(v) => b.push(v),
                Err(e) => fail("loopback throughput", e),
            }
            match rumor_throughput(env, len, peers, count) {
                Ok(v) => r.push(v),
                Err(e) => fail("throughput", e),
            }
        }
        if len == SMALL {
            rows.push(
                Row::new(
                    "throughput",
                    format!("throughput, {len}-byte messages, 1 node → {peers} peer(s)"),
                    median(&r),
                )
                .unit("msg/s")
                .base(median(&b), "loopback TCP, 64 KiB batches")
                .target_if((peers == 1).then_some(Target::AtLeast(1_000_000.0))),
            );
        } else {
            let mb = |v: Option<f64>| v.map(|v| v * len as f64 / 1e6);
            rows.push(
                Row::new(
                    "throughput",
                    format!("throughput, {} KiB messages, 1 node → 1 peer", len / 1024),
                    mb(median(&r)),
                )
                .unit("MB/s")
                .base(mb(median(&b)), "loopback TCP, 64 KiB batches")
                .target(Target::RatioAtLeast(0.5)),
            );
        }
    }
}
