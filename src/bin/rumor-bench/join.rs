//! Join time: a newcomer joining meshes of 3, 20 and 100 nodes.

use std::time::{Duration, Instant};

use crate::procs::{Env, Sink, mesh};
use crate::report::{Row, Target};
use crate::stats::median;
use crate::{Opts, fail};

/// A newcomer joining meshes of 3, 20 and 100 nodes.
pub fn join(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let sizes: &[(usize, f64)] = &[(3, 50.0), (20, 0.0), (100, 1000.0)];
    for &(n, target) in sizes {
        eprintln!("join: building a {n}-node mesh");
        let nodes = match mesh(env, n, |_| Sink::Pipe) {
            Ok(m) => m,
            Err(e) => {
                fail("join", e);
                continue;
            }
        };
        let mut boot = crate::procs::view_for(n);
        boot.extend(nodes[0].connect_arg());
        let mut joins = Vec::new();
        let mut starts = Vec::new();
        let mut incomplete = 0;
        for _ in 0..o.runs {
            let seen = nodes[0].out.as_ref().map_or(0, |l| l.len());
            let t0 = Instant::now();
            let p = match env.spawn(&boot, Sink::Pipe) {
                Ok(p) => p,
                Err(e) => {
                    fail("join", e);
                    continue;
                }
            };
            starts.push((p.first_line - t0).as_secs_f64() * 1000.0);
            let out = p.out.clone().unwrap();
            let done = out.wait_for(0, Duration::from_secs(10), |l| {
                l.starts_with("Connected to the peers at [")
            });
            match done {
                Some((_, at)) if p.peers() == n => {
                    joins.push((at - t0).as_secs_f64() * 1000.0);
                }
                _ => incomplete += 1,
            }
            let name = p.name();
            p.stop();
            // Let the mesh take in the goodbye before the next newcomer.
            if let Some(l) = &nodes[0].out {
                let gone = format!("Disconnected from the peer at {name}");
                l.wait_for(seen, Duration::from_secs(3), |b| b.starts_with(&gone));
            }
        }
        if incomplete > 0 {
            eprintln!("join: {incomplete} newcomers did not reach all {n} peers");
        }
        rows.push(
            Row::new(
                "join",
                format!("join time, newcomer to a {n}-node mesh (start → connected to all)"),
                median(&joins),
            )
            .unit("ms")
            .base(median(&starts), "start → first line printed")
            .target_if((target > 0.0).then_some(Target::AtMost(target))),
        );
    }
}
