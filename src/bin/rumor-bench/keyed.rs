//! The same figures with a network key, beside the unkeyed ones: 64-byte
//! messages to one peer (and the ratio), 16 KiB messages in MB/s, join
//! time, idle RSS, and how many key handshakes a node completes a second.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use rumor::keyring::KeyRing;
use rumor::record::{Handshake, Step};

use crate::procs::{Env, Proc, Sink, mesh};
use crate::report::{Row, Target};
use crate::stats::median;
use crate::throughput::rumor_throughput;
use crate::{LARGE, Opts, SMALL, fail};

/// A fresh key file (mode 600) from `rumor keygen`, and its ring.
fn key_file(env: &Env) -> io::Result<(std::path::PathBuf, KeyRing)> {
    let o = Command::new(&env.bin).arg("keygen").output()?;
    if !o.status.success() {
        return Err(io::Error::other("rumor keygen failed"));
    }
    let path = env.tmp.join("bench.key");
    fs::write(&path, &o.stdout)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    let ring = KeyRing::parse(&o.stdout).map_err(|e| io::Error::other(e.to_string()))?;
    Ok((path, ring))
}

pub fn keyed(env: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let (path, ring) = match key_file(env) {
        Ok(k) => k,
        Err(e) => return fail("keyed: key file", e),
    };
    let kenv = Env {
        key: Some(path.clone()),
        ..env.clone()
    };
    throughput(env, &kenv, o, rows);
    join(&kenv, o, rows);
    idle_rss(&kenv, rows);
    handshakes(&kenv, &ring, o, rows);
    let _ = fs::remove_file(&path);
}

fn runs_of(what: &str, runs: usize, mut f: impl FnMut() -> io::Result<f64>) -> Vec<f64> {
    let mut v = Vec::new();
    for _ in 0..runs {
        match f() {
            Ok(x) => v.push(x),
            Err(e) => fail(what, e),
        }
    }
    v
}

fn throughput(env: &Env, kenv: &Env, o: &Opts, rows: &mut Vec<Row>) {
    let count = if o.quick { 500_000 } else { 2_000_000 };
    eprintln!("keyed: {count} messages of {SMALL} bytes to 1 peer, with and without a key");
    let mut plain = Vec::new();
    let mut keyed = Vec::new();
    for _ in 0..o.runs {
        plain.extend(runs_of("throughput", 1, || {
            rumor_throughput(env, SMALL, 1, count)
        }));
        keyed.extend(runs_of("keyed throughput", 1, || {
            rumor_throughput(kenv, SMALL, 1, count)
        }));
    }
    rows.push(
        Row::new(
            "keyed",
            format!("with a key: throughput, {SMALL}-byte messages, 1 node → 1 peer"),
            median(&keyed),
        )
        .unit("msg/s")
        .base(median(&plain), "the same without a key")
        .target(Target::AtLeast(1_000_000.0)),
    );
    let count = if o.quick { 4_000 } else { 16_000 };
    eprintln!("keyed: {count} messages of {LARGE} bytes to 1 peer, with and without a key");
    let runs = o.runs.min(3);
    let mb = |v: Option<f64>| v.map(|v| v * LARGE as f64 / 1e6);
    let plain = runs_of("throughput", runs, || {
        rumor_throughput(env, LARGE, 1, count)
    });
    let keyed = runs_of("keyed throughput", runs, || {
        rumor_throughput(kenv, LARGE, 1, count)
    });
    rows.push(
        Row::new(
            "keyed",
            format!(
                "with a key: throughput, {} KiB messages, 1 node → 1 peer",
                LARGE / 1024
            ),
            mb(median(&keyed)),
        )
        .unit("MB/s")
        .base(mb(median(&plain)), "the same without a key"),
    );
}

fn join(kenv: &Env, o: &Opts, rows: &mut Vec<Row>) {
    eprintln!("keyed: a newcomer joining a keyed 3-node mesh");
    let nodes = match mesh(kenv, 3, |_| Sink::Pipe) {
        Ok(m) => m,
        Err(e) => return fail("keyed join", e),
    };
    let boot = nodes[0].connect_arg();
    let mut joins = Vec::new();
    for _ in 0..o.runs {
        let seen = nodes[0].out.as_ref().map_or(0, |l| l.len());
        let t0 = Instant::now();
        let p = match kenv.spawn(&boot, Sink::Pipe) {
            Ok(p) => p,
            Err(e) => {
                fail("keyed join", e);
                continue;
            }
        };
        let out = p.out.clone().unwrap();
        let done = out.wait_for(0, Duration::from_secs(10), |l| {
            l.starts_with("Connected to the peers at [")
        });
        if let Some((_, at)) = done.filter(|_| p.peers() == 3) {
            joins.push((at - t0).as_secs_f64() * 1000.0);
        }
        let name = p.name();
        p.stop();
        if let Some(l) = &nodes[0].out {
            let gone = format!("Disconnected from the peer at {name}");
            l.wait_for(seen, Duration::from_secs(3), |b| b.starts_with(&gone));
        }
    }
    rows.push(
        Row::new(
            "keyed",
            "with a key: join time, newcomer to a 3-node mesh",
            median(&joins),
        )
        .unit("ms")
        .target(Target::AtMost(50.0)),
    );
}

fn idle_rss(kenv: &Env, rows: &mut Vec<Row>) {
    eprintln!("keyed: idle RSS of a keyed 3-node mesh");
    let nodes = match mesh(kenv, 3, |_| Sink::Pipe) {
        Ok(m) => m,
        Err(e) => return fail("keyed idle", e),
    };
    thread::sleep(Duration::from_millis(1000));
    let rss: Vec<f64> = nodes.iter().filter_map(Proc::rss_kib).collect();
    rows.push(
        Row::new(
            "keyed",
            "with a key: idle RSS per node, 3-node mesh",
            median(&rss).map(|k| k / 1024.0),
        )
        .unit("MiB")
        .target(Target::AtMost(2.6)),
    );
}

/// One full key handshake with the node at `addr`: our first message,
/// its reply. The node then sends its sealed hello; we close.
fn one_handshake(addr: SocketAddr, ring: &KeyRing, entropy: [u8; 32]) -> io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let (mut hs, first) = Handshake::initiator(ring, entropy);
    s.write_all(&first)?;
    let mut buf = [0u8; 512];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other("closed during the handshake"));
        }
        match hs
            .read(&buf[..n])
            .map_err(|e| io::Error::other(e.to_string()))?
        {
            Step::NeedMore => {}
            Step::Done { .. } => return Ok(()),
        }
    }
}

fn handshakes(kenv: &Env, ring: &KeyRing, o: &Opts, rows: &mut Vec<Row>) {
    let window = Duration::from_secs(if o.quick { 2 } else { 5 });
    eprintln!("keyed: handshakes with one node for {}s", window.as_secs());
    let node = match kenv.spawn(&[], Sink::Pipe) {
        Ok(p) => p,
        Err(e) => return fail("keyed handshakes", e),
    };
    let cpu0 = node.cpu_secs();
    let t0 = Instant::now();
    let mut done = 0u64;
    let mut seed = 0u64;
    while t0.elapsed() < window {
        seed += 1;
        let mut e = [0u8; 32];
        e[..8].copy_from_slice(&seed.to_le_bytes());
        match one_handshake(node.addr, ring, e) {
            Ok(()) => done += 1,
            Err(e) => {
                fail("keyed handshake", e);
                break;
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = match (cpu0, node.cpu_secs()) {
        (Some(a), Some(b)) if b > a => Some(b - a),
        _ => None,
    };
    rows.push(
        Row::new(
            "keyed",
            "with a key: handshakes a node completes per second (one client at a time)",
            Some(done as f64 / secs),
        )
        .unit("/s"),
    );
    rows.push(
        Row::new(
            "keyed",
            "with a key: handshakes per second of the node's own CPU",
            cpu.map(|c| done as f64 / c),
        )
        .unit("/s"),
    );
    node.stop();
}
