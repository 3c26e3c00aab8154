//! RSS per idle peer: one node with 2, then 200 raw peers.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rumor::harness::{RawPeer, frame_bytes};
use rumor::wire::Frame;

use crate::procs::{Env, Sink};
use crate::report::{Row, Target};
use crate::stats::median;
use crate::{Opts, fail};

/// One node with 2, then 200 raw peers: RSS per extra idle peer.
pub fn memory(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let runs = if o.quick { 1 } else { 3 };
    let many = 200;
    eprintln!("memory: a node with 2, then {many} peers, {runs} runs");
    let mut per_peer = Vec::new();
    let mut at2 = Vec::new();
    for _ in 0..runs {
        // An active view that holds them all.
        let a = match env.spawn(&crate::procs::view_for(256), Sink::Pipe) {
            Ok(a) => a,
            Err(e) => return fail("memory", e),
        };
        let peers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let keeper = keep_alive(peers.clone(), stop.clone());
        let connect = |n: usize| -> io::Result<()> {
            for _ in 0..n {
                let s = RawPeer::connect(a.addr, fastrand::u64(1..), None)?;
                peers.lock().unwrap().push(s);
            }
            Ok(())
        };
        let measure = || -> io::Result<(f64, f64)> {
            connect(2)?;
            if !a.wait_peers(2, Duration::from_secs(10)) {
                return Err(io::Error::other("2 peers did not connect"));
            }
            thread::sleep(Duration::from_millis(1500));
            let r2 = a.rss_kib().unwrap_or(f64::NAN);
            // In batches: a node keeps at most 64 connections in their
            // handshake and evicts the oldest beyond that.
            let mut have = 2;
            while have < many {
                let k = (many - have).min(32);
                connect(k)?;
                have += k;
                if !a.wait_peers(have, Duration::from_secs(10)) {
                    break;
                }
            }
            if !a.wait_peers(many, Duration::from_secs(10)) {
                return Err(io::Error::other(format!(
                    "{many} peers did not connect (the node has {})",
                    a.peers()
                )));
            }
            thread::sleep(Duration::from_millis(1500));
            let r200 = a.rss_kib().unwrap_or(f64::NAN);
            if a.peers() != many {
                return Err(io::Error::other("peers dropped while idle"));
            }
            Ok((r2, r200))
        };
        let r = measure();
        stop.store(true, Ordering::Relaxed);
        let _ = keeper.join();
        match r {
            Ok((r2, r200)) => {
                at2.push(r2);
                per_peer.push((r200 - r2) * 1024.0 / (many - 2) as f64);
            }
            Err(e) => fail("memory", e),
        }
    }
    rows.push(
        Row::new(
            "memory",
            format!("RSS per extra idle peer (2 → {many} peers)"),
            median(&per_peer),
        )
        .unit("bytes")
        .target(Target::AtMost(4096.0)),
    );
    let _ = at2;
}

/// Keeps raw peers alive (keepalives each second, incoming bytes read and
/// dropped) until `stop` is set.
fn keep_alive(peers: Arc<Mutex<Vec<TcpStream>>>, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let ka = frame_bytes(&Frame::Keepalive);
        let mut buf = vec![0u8; 64 * 1024];
        let mut last = Instant::now();
        let hard_stop = Instant::now() + Duration::from_secs(600);
        while !stop.load(Ordering::Relaxed) && Instant::now() < hard_stop {
            let send = last.elapsed() >= Duration::from_millis(500);
            if send {
                last = Instant::now();
            }
            for s in peers.lock().unwrap().iter_mut() {
                let _ = s.set_nonblocking(true);
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
                if send {
                    let _ = s.write_all(&ka);
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
    })
}
