//! Latency: one message at a time from a node's stdin to its peer's
//! stdout, beside plain loopback TCP between two threads.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use crate::loopback::loopback_latency;
use crate::procs::{Env, Sink, mesh};
use crate::report::Row;
use crate::stats::median;
use crate::stats::percentile;
use crate::{Opts, SMALL, fail};

/// p50 and p99 of one message at a time, stdin to the peer's stdout.
pub fn latency(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let samples = if o.quick { 300 } else { 1000 };
    let runs = o.runs.min(3);
    eprintln!("latency: {samples} messages one at a time, {runs} runs");
    let (mut p50, mut p99, mut b50, mut b99) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        match loopback_latency(samples) {
            Ok(v) => {
                b50.extend(percentile(&v, 50.0));
                b99.extend(percentile(&v, 99.0));
            }
            Err(e) => fail("loopback latency", e),
        }
        let r = (|| -> io::Result<Vec<f64>> {
            let mut nodes = mesh(env, 2, |_| Sink::Pipe)?;
            let mut stdin = nodes[0].stdin.take().unwrap();
            let out = nodes[1].out.clone().unwrap();
            let mut from = out.len();
            let mut v = Vec::with_capacity(samples);
            for i in 0..samples {
                let mut line = format!("lat{i:08} ").into_bytes();
                line.resize(SMALL, b'x');
                let tag = format!("Received message [lat{i:08} ");
                line.push(b'\n');
                let t0 = Instant::now();
                stdin.write_all(&line)?;
                stdin.flush()?;
                let (idx, at) = out
                    .wait_for(from, Duration::from_secs(2), |b| b.starts_with(&tag))
                    .ok_or_else(|| io::Error::other("a message was not printed in 2 s"))?;
                from = idx + 1;
                v.push((at - t0).as_secs_f64() * 1e6);
            }
            drop(nodes);
            Ok(v)
        })();
        match r {
            Ok(v) => {
                p50.extend(percentile(&v, 50.0));
                p99.extend(percentile(&v, 99.0));
            }
            Err(e) => fail("latency", e),
        }
    }
    let what = "loopback TCP, thread to thread";
    rows.push(
        Row::new(
            "latency",
            "latency p50 (stdin → peer's stdout)",
            median(&p50),
        )
        .unit("µs")
        .base(median(&b50), what),
    );
    rows.push(
        Row::new(
            "latency",
            "latency p99 (stdin → peer's stdout)",
            median(&p99),
        )
        .unit("µs")
        .base(median(&b99), what),
    );
}
