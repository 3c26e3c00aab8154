//! Wire overhead: bytes a raw peer reads per message beyond the payload.

use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rumor::harness::{RawPeer, frame_bytes};
use rumor::wire::overlay::Overlay;
use rumor::wire::{Frame, FrameReader};

use crate::loopback::{message_chunk, write_lines};
use crate::procs::{Env, Sink};
use crate::report::{Row, Target};
use crate::{Opts, SMALL, fail};

/// Bytes on the wire per delivered message, beyond the payload, counted by
/// a raw peer that reads everything a node sends it.
pub fn overhead(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let count = if o.quick { 20_000 } else { 100_000 };
    eprintln!("overhead: {count} messages to a raw peer");
    let r = (|| -> io::Result<f64> {
        let mut a = env.spawn(&[], Sink::Pipe)?;
        let mut s = RawPeer::connect(a.addr, fastrand::u64(1..), None)?;
        if !a.wait_peers(1, Duration::from_secs(10)) {
            return Err(io::Error::other("the raw peer did not connect"));
        }
        s.set_read_timeout(Some(Duration::from_millis(200)))?;
        let bytes = Arc::new(AtomicU64::new(0));
        let b = bytes.clone();
        let reader = thread::spawn(move || -> io::Result<(u64, u64)> {
            let mut fr = FrameReader::new();
            let (mut msgs, mut payload) = (0u64, 0u64);
            let mut buf = vec![0u8; 64 * 1024];
            let ka = frame_bytes(&Frame::Keepalive);
            let mut last_ka = Instant::now();
            let deadline = Instant::now() + Duration::from_secs(60);
            while msgs < count as u64 && Instant::now() < deadline {
                if last_ka.elapsed() > Duration::from_millis(500) {
                    s.write_all(&ka)?;
                    last_ka = Instant::now();
                }
                let n = match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                b.fetch_add(n as u64, Ordering::Relaxed);
                fr.feed(&buf[..n], |f| {
                    if let Frame::Overlay(Overlay::Gossip { payload: p, .. }) = f {
                        msgs += 1;
                        payload += p.len() as u64;
                    }
                    true
                })
                .map_err(io::Error::other)?;
            }
            Ok((msgs, payload))
        });
        let mut stdin = a.stdin.take().unwrap();
        write_lines(&mut stdin, &message_chunk(SMALL), SMALL, count)?;
        let (msgs, payload) = reader
            .join()
            .map_err(|_| io::Error::other("reader panicked"))??;
        if msgs < count as u64 {
            return Err(io::Error::other(format!("only {msgs} of {count} arrived")));
        }
        let total = bytes.load(Ordering::Relaxed);
        Ok((total - payload) as f64 / msgs as f64)
    })();
    if let Err(e) = &r {
        fail("overhead", e);
    }
    rows.push(
        Row::new(
            "overhead",
            "wire bytes per message beyond the payload (all frames counted)",
            r.ok(),
        )
        .unit("bytes")
        .target(Target::AtMost(32.0)),
    );
}
