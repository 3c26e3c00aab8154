//! Hostile peers and faults against a live three-node mesh of real
//! binaries on loopback. Each attack is aimed at node `a`; while it still
//! holds its sockets a newcomer joins through `a` and hears everyone; then
//! every node must be up, the honest nodes must have exchanged every message
//! exactly once, `a`'s peak memory must be under [`PEAK_KIB`] and, once the
//! attack is over, `a` must be back to idle CPU. See docs/LIMITS.md.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use rumor::wire::{Frame, MAX_FRAME_LEN, MAX_PAYLOAD, PeerEntry};

/// Peak resident memory (VmHWM) an attacked node may reach, debug build.
/// Measured: 3 to 4 MiB for most attacks, about 9 MiB with a peer that
/// stops reading (its 4 MiB queue); see docs/LIMITS.md.
const PEAK_KIB: u64 = 16 * 1024;

/// Once an attack is over, a node's CPU is measured while it prints this
/// many more lines: its own messages and its peers', every 0.2 or 0.3 s, so
/// about 1.5 to 2 s on an idle machine, longer on a loaded one.
const IDLE_LINES: usize = 20;
/// The share of that span a node back to idle may use: a loop that spins
/// uses all the CPU it is given.
const IDLE_SHARE: f64 = 0.10;
/// The CPU one turn of the loop (one sleep in `poll`) may take on average:
/// a turn that reads a message and prints a line takes tens of µs.
const TURN_CPU: Duration = Duration::from_millis(2);

/// A port nothing listens on, announced by raw peers (dials to it fail).
const NO_PORT: u16 = 1;

struct Mesh {
    a: Rumor,
    b: Rumor,
    c: Rumor,
}

/// Three honest nodes in a full mesh, `b` and `c` joined through `a`.
fn mesh(a: Rumor) -> Mesh {
    let b = Rumor::start(&["--period", "0.3", "--connect", &a.addr.to_string()]);
    let c = Rumor::start(&["--period", "0.3", "--connect", &a.addr.to_string()]);
    a.wait_peers(&[&b, &c]);
    c.wait_peers(&[&a, &b]);
    Mesh { a, b, c }
}

fn mesh3() -> Mesh {
    mesh(Rumor::start(&["--period", "0.3"]))
}

fn received_from(lines: &[String], name: &str) -> usize {
    let tail = format!("] from {name}");
    count(lines, |b| {
        b.starts_with("Received message [") && b.ends_with(&tail)
    })
}

/// Waits until every node of `nodes` has heard at least two more messages
/// from every other one.
fn exchanging(nodes: &[&Rumor]) {
    let mut goals = Vec::new();
    for n in nodes {
        let lines = n.out.snapshot();
        for o in nodes.iter().filter(|o| o.addr != n.addr) {
            let name = o.name();
            goals.push((n, received_from(&lines, &name) + 2, name));
        }
    }
    for (n, goal, name) in goals {
        n.wait_out(&format!("{goal} messages from {name}"), |l| {
            received_from(l, &name) >= goal
        });
    }
}

/// A newcomer joins through `m.a` and hears, and is heard by, everyone.
fn newcomer(m: &Mesh) -> Rumor {
    let d = Rumor::start(&["--period", "0.3", "--connect", &m.a.addr.to_string()]);
    d.wait_peers(&[&m.a, &m.b, &m.c]);
    exchanging(&[&m.a, &m.b, &m.c, &d]);
    d
}

/// The end of every attack: everyone up and exchanging exactly once, `a`'s
/// peak memory bounded and its CPU back to idle. Returns (peak KiB, idle
/// CPU) for the record.
fn after_attack(what: &str, m: &mut Mesh, d: &mut Rumor) -> (u64, Idle) {
    for n in [&mut m.a, &mut m.b, &mut m.c, &mut *d] {
        assert!(n.alive(), "{what}: {} died{}", n.name(), n.tails());
    }
    exchanging(&[&m.a, &m.b, &m.c, d]);
    assert_exactly_once_among(&[&m.a, &m.b, &m.c, d]);
    let peak = m.a.peak_kib();
    assert!(
        peak > 0 && peak < PEAK_KIB,
        "{what}: peak {peak} KiB{}",
        m.a.tails()
    );
    let idle = idle_cpu(&m.a);
    eprintln!("{what}: peak VmHWM {peak} KiB; after the attack {idle}");
    (peak, idle)
}

/// What a node used while it printed [`IDLE_LINES`] lines.
struct Idle {
    cpu: Duration,
    span: Duration,
    sleeps: u64,
}

impl std::fmt::Display for Idle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CPU {:?} over {:?} ({} sleeps in poll)",
            self.cpu, self.span, self.sleeps
        )
    }
}

/// Measures `n` while it prints [`IDLE_LINES`] more lines, and asserts it
/// is idle: under [`IDLE_SHARE`] of that span in CPU, it slept in `poll`
/// between turns, and its turns took under [`TURN_CPU`] each on average.
fn idle_cpu(n: &Rumor) -> Idle {
    let (cpu0, sleeps0, lines0, t0) = (n.cpu_time(), n.sleeps(), n.out.len(), Instant::now());
    n.wait_out(&format!("{IDLE_LINES} more lines, idle"), |l| {
        l.len() >= lines0 + IDLE_LINES
    });
    let idle = Idle {
        cpu: n.cpu_time().saturating_sub(cpu0),
        span: t0.elapsed(),
        sleeps: n.sleeps().saturating_sub(sleeps0),
    };
    let busy = format!("{} busy after the attack: {idle}{}", n.name(), n.tails());
    assert!(
        idle.cpu.as_secs_f64() < IDLE_SHARE * idle.span.as_secs_f64(),
        "{busy}"
    );
    assert!(idle.sleeps > 0, "{busy}");
    assert!(idle.cpu / idle.sleeps as u32 <= TURN_CPU, "{busy}");
    idle
}

fn message(payload: &[u8]) -> Frame<'_> {
    Frame::Message {
        id: 7,
        ttl: 0,
        payload,
    }
}

/// The descriptor numbers `n` has open.
fn fds(n: &Rumor) -> Vec<u64> {
    std::fs::read_dir(format!("/proc/{}/fd", n.pid()))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn garbage_bytes_close_only_that_connection_with_a_reason() {
    let mut m = mesh3();
    let mut rng = fastrand::Rng::with_seed(1);
    let noise: Vec<u8> = (0..100_000).map(|_| rng.u8(..)).collect();
    let mut bad_magic = frame_bytes(&hello(5, 4000));
    bad_magic[5..9].copy_from_slice(b"XXXX");
    // A first byte other than 0 is a text message (docs/PROTOCOL.md,
    // "Telling them apart"): junk that is not one is refused as such.
    let not_number = "invalid text message: the port before ':' is not a decimal number";
    let mut rumor_noise = noise.clone();
    rumor_noise[0] = 0;
    let mut text_noise = noise;
    text_noise[0] = b'x';
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), not_number),
        (b"{\"type\":\"hello\",\"port\":1}\n".to_vec(), not_number),
        (
            b"hello\n".to_vec(),
            "invalid text message: no ':' after a port number",
        ),
        (b"0:text\n".to_vec(), "invalid text message: port 0"),
        (vec![0, 0, 0, 0], "empty frame"),
        (vec![0, 0, 0, 1, 99], "unknown frame type 99"),
        (
            vec![0, 0, 0, 2, 4, 0],
            "frame type 4 cannot be 2 bytes long",
        ),
        (bad_magic, "bad magic"),
        (frame_bytes(&message(b"hi")), "message before the handshake"),
        (frame_bytes(&hello(5, 0)), "hello without a listening port"),
        (rumor_noise, "protocol error"),
        (text_noise, "invalid text message"),
    ];
    let mut held = Vec::new();
    for (bytes, reason) in cases {
        let mut s = TcpStream::connect(m.a.addr).unwrap();
        let local = s.local_addr().unwrap().to_string();
        let _ = s.write_all(&bytes);
        m.a.wait_closed(&mut s, &format!("the connection that sent {reason:?}"));
        let who = format!("closed connection with {local}: ");
        m.a.wait_err(&[&who, reason]);
        held.push(s);
    }
    // `1:text` is a valid text message: answered, printed on every node,
    // and its host (where nothing listens) dropped at its first delivery.
    let reply = common::text_host::send_text(m.a.addr, 1, b"text\n").unwrap();
    assert_eq!(reply, b"Message received");
    for n in [&m.a, &m.b, &m.c] {
        n.wait_line("Received message [text\\n] from \"127.0.0.1:1\"");
    }
    m.a.wait_err(&["dropped the text host \"127.0.0.1:1\": the first message to it failed"]);
    // An established peer that turns to garbage is dropped, named.
    let mut p = m.a.join_raw(0xbad, NO_PORT);
    let name = format!("\"127.0.0.1:{NO_PORT}\"");
    p.stream.write_all(&[0, 0, 0, 1, 77]).unwrap();
    m.a.wait_closed(&mut p.stream, "the peer that sent garbage");
    let reason = "protocol error: unknown frame type 77";
    m.a.wait_err(&[&format!("closed connection to {name}: {reason}")]);
    m.a.wait_line(&format!("Disconnected from the peer at {name} ({reason})"));
    let mut d = newcomer(&m);
    drop(held);
    after_attack("garbage", &mut m, &mut d);
}

#[test]
fn non_utf8_from_a_peer_and_from_stdin_is_replaced_never_a_panic() {
    let mut m = mesh3();
    let mut p = m.a.join_raw(0xfeed, NO_PORT);
    let payload = b"caf\xc3\xa9 \xff\xfe ok \x1b[31m\x07\n\x00 end";
    p.send(&message(payload)).unwrap();
    let want = format!(
        "Received message [caf\u{e9} \u{fffd}\u{fffd} ok \\u{{1b}}[31m\\u{{7}}\\n\\u{{0}} end] \
         from \"127.0.0.1:{NO_PORT}\""
    );
    m.a.wait_line(&want);
    // stdin: invalid sequences are sent as U+FFFD.
    let stdin = m.a.stdin.as_mut().unwrap();
    stdin.write_all(b"bytes \xff\xfe\xc3 here\n").unwrap();
    stdin.flush().unwrap();
    let want = format!(
        "Received message [bytes \u{fffd}\u{fffd}\u{fffd} here] from {}",
        m.a.name()
    );
    m.b.wait_line(&want);
    m.c.wait_line(&want);
    let mut d = newcomer(&m);
    drop(p);
    after_attack("non-UTF-8", &mut m, &mut d);
}

#[test]
fn huge_declared_lengths_and_lines_are_refused_at_once() {
    let mut m = mesh3();
    // Before the handshake: closed on the four length bytes. (A rumor
    // stream starts with 0; any other first byte is a text message.)
    let mut s = TcpStream::connect(m.a.addr).unwrap();
    let local = s.local_addr().unwrap().to_string();
    s.write_all(&[0, 0xff, 0xff, 0xff]).unwrap();
    m.a.wait_closed(&mut s, "a connection that declared 16 MiB");
    let limit = format!("frame of 16777215 bytes is over the {MAX_FRAME_LEN}-byte limit");
    m.a.wait_err(&[&format!("closed connection with {local}"), &limit]);
    let mut s = TcpStream::connect(m.a.addr).unwrap();
    let local = s.local_addr().unwrap().to_string();
    s.write_all(&[0xff; 4]).unwrap();
    m.a.wait_closed(&mut s, "a connection that sent 0xff 0xff 0xff 0xff");
    m.a.wait_err(&[
        &format!("closed connection with {local}"),
        "invalid text message: no ':' after a port number",
    ]);
    // After it: the largest frame is fine, one byte more is not.
    let mut p = m.a.join_raw(0xb16, NO_PORT);
    let big = vec![b'y'; MAX_PAYLOAD];
    p.send(&message(&big)).unwrap();
    m.a.wait_out("the largest message, printed whole", |l| {
        l.iter().map(|l| body(l)).any(|l| {
            l.starts_with("Received message [yyyy")
                && l.len() == "Received message [] from \"127.0.0.1:1\"".len() + MAX_PAYLOAD
        })
    });
    let over = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
    p.stream.write_all(&over).unwrap();
    m.a.wait_closed(&mut p.stream, "the peer that declared one byte too many");
    let limit = format!(
        "frame of {} bytes is over the {MAX_FRAME_LEN}-byte limit",
        MAX_FRAME_LEN + 1
    );
    m.a.wait_err(&["closed connection to \"127.0.0.1:1\"", &limit]);
    // A 10 MB stdin line is refused with a note; the next line still goes.
    let stdin = m.a.stdin.as_mut().unwrap();
    let line = vec![b'z'; 10_000_000];
    stdin.write_all(&line).unwrap();
    stdin.write_all(b"\nafter the long line\n").unwrap();
    stdin.flush().unwrap();
    m.a.wait_err(&[&format!(
        "stdin line of 10000000 bytes is over the {MAX_PAYLOAD}-byte limit; not sent"
    )]);
    let want = format!("Received message [after the long line] from {}", m.a.name());
    m.b.wait_line(&want);
    m.c.wait_line(&want);
    assert!(
        !m.b.out.snapshot().iter().any(|l| l.contains("zzzz")),
        "the long line was sent"
    );
    let mut d = newcomer(&m);
    after_attack("huge length", &mut m, &mut d);
}

#[test]
fn sixty_four_mib_streamed_at_a_node_is_consumed_in_bounded_memory() {
    const TOTAL: usize = 64 << 20;
    let mut m = mesh3();
    // Raw bytes, no framing: cut off at the first four.
    let mut s = TcpStream::connect(m.a.addr).unwrap();
    let junk = thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        let mut sent = 0;
        while sent < TOTAL && s.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        sent
    });
    // Valid frames from an established peer: 1024 messages of 64 KiB.
    let p = m.a.join_raw(0x64, NO_PORT);
    let mut w = p.stream.try_clone().unwrap();
    let n_msgs = TOTAL / MAX_PAYLOAD;
    let frames = thread::spawn(move || {
        let mut buf = Vec::new();
        for i in 0..n_msgs {
            let mut payload = format!("{i:08} ").into_bytes();
            payload.resize(MAX_PAYLOAD, b'm');
            buf.clear();
            message(&payload).encode(&mut buf);
            w.write_all(&buf).unwrap();
        }
    });
    // A newcomer joins while both streams are still coming.
    let mut d = newcomer(&m);
    let junk_sent = junk.join().unwrap();
    assert!(junk_sent < TOTAL, "the junk stream was read to its end");
    frames.join().unwrap();
    let name = format!("\"127.0.0.1:{NO_PORT}\"");
    m.a.wait_out(&format!("all {n_msgs} messages from {name}"), |l| {
        received_from(l, &name) == n_msgs
    });
    drop(p);
    after_attack("64 MiB stream", &mut m, &mut d);
}

#[test]
fn many_peers_sending_control_bytes_at_once_cannot_swell_the_log_buffer() {
    // Each printed control byte takes six (`\u{1}`), and one turn may read
    // from every readable connection: the log must be written out as it
    // grows, not held for the end of the turn (30 x 48 KiB x 6 = 8.4 MiB
    // on top of the 4 MiB a node peaks at anyway, against a bound of 8).
    // More peers would make that one turn longer than the 3 s keepalive
    // timeout on a loaded machine (it takes 0.3 s of CPU in a debug
    // build), and the mesh peers would rightly drop `a` as silent.
    const PEERS: usize = 30;
    const PAYLOAD: usize = 48 * 1024;
    const LOG_PEAK_KIB: u64 = 8 * 1024;
    // An active view that holds them all: no peer replaces another.
    let mut m = mesh(Rumor::start(&["--period", "0.3", "--max-peers", "64"]));
    let peers: Vec<RawPeer> = (0..PEERS)
        .map(|i| m.a.join_raw(0x500 + i as u64, 2 + i as u16))
        .collect();
    // Stopped, `a` lets every connection fill, then finds all of them
    // readable in one turn. One message each fits in the socket buffers.
    // The senders are ready before `a` stops, so that it stays stopped
    // only while they write: its peers drop it if it is silent for 3 s.
    let frame = frame_bytes(&message(&[1u8; PAYLOAD]));
    let go = Arc::new(Barrier::new(PEERS + 1));
    let senders: Vec<_> = peers
        .into_iter()
        .map(|mut p| {
            let (frame, go) = (frame.clone(), go.clone());
            thread::spawn(move || {
                go.wait();
                p.stream.write_all(&frame).map(|_| p)
            })
        })
        .collect();
    m.a.signal(SIGSTOP);
    let stopped = Instant::now();
    go.wait();
    let peers: Vec<RawPeer> = senders
        .into_iter()
        .map(|s| {
            s.join()
                .unwrap()
                .expect("a frame fits in the socket buffers")
        })
        .collect();
    let cpu0 = m.a.cpu_time();
    m.a.signal(SIGCONT);
    let resumed = Instant::now();
    let ones = "\\u{1}".repeat(8);
    let prefix = format!("Received message [{ones}");
    m.a.wait_out(&format!("a message from each of {PEERS} peers"), |l| {
        count(l, |b| b.starts_with(&prefix)) >= PEERS
    });
    eprintln!(
        "control bytes: a stopped for {:?}, printed all {PEERS} messages {:?} after, using {:?} CPU",
        resumed - stopped,
        resumed.elapsed(),
        m.a.cpu_time() - cpu0
    );
    let mut d = newcomer(&m);
    drop(peers);
    let (peak, _) = after_attack("control bytes from 30 peers at once", &mut m, &mut d);
    assert!(
        peak < LOG_PEAK_KIB,
        "the log swelled: peak {peak} KiB{}",
        m.a.tails()
    );
}

#[test]
fn half_sent_frames_held_open_are_closed_by_the_handshake_and_keepalive_deadlines() {
    let mut m = mesh3();
    let start = Instant::now();
    let half_hello = &frame_bytes(&hello(9, 4000))[..7];
    let mut held: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(m.a.addr).unwrap();
            s.write_all(half_hello).unwrap();
            s
        })
        .collect();
    // An established peer that sends half a message and goes quiet.
    let mut p = m.a.join_raw(0x4a1f, NO_PORT);
    p.stream
        .write_all(&frame_bytes(&message(b"never ends"))[..9])
        .unwrap();
    // Watched from now on, so that the time of each close is when it
    // happened, however long the newcomer below takes to join.
    let watch = thread::spawn(move || {
        let all_closed = held.iter_mut().all(|s| wait_closed(s, WAIT));
        (all_closed.then(Instant::now), held)
    });
    let mut d = newcomer(&m);
    let (closed_at, held) = watch.join().unwrap();
    let Some(closed_at) = closed_at else {
        panic!("a half hello was kept open for {WAIT:?}{}", m.a.tails());
    };
    let handshakes_closed = closed_at - start;
    m.a.wait_closed(&mut p.stream, "the peer that went quiet mid-frame");
    let name = format!("\"127.0.0.1:{NO_PORT}\"");
    let silent_closed = m.a.wait_line(&format!(
        "Disconnected from the peer at {name} (silent too long)"
    )) - start;
    eprintln!(
        "half frames: handshakes closed after {handshakes_closed:?}, silent peer after {silent_closed:?}"
    );
    // Handshake and keepalive timeouts are 3 s.
    assert!(
        handshakes_closed < Duration::from_secs(5),
        "{handshakes_closed:?}"
    );
    drop(held);
    after_attack("half frames", &mut m, &mut d);
}

#[test]
fn hundreds_of_idle_sockets_neither_pile_up_nor_block_joins() {
    let mut m = mesh3();
    let held: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(m.a.addr).unwrap())
        .collect();
    // At most max_pending (64) handshakes are kept at once.
    let open = fds(&m.a).len();
    eprintln!("idle sockets: node holds {open} descriptors with 300 idle sockets");
    assert!(open < 100, "{open} descriptors");
    let mut d = newcomer(&m);
    let mut held = held;
    for s in &mut held {
        m.a.wait_closed(s, "an idle socket");
    }
    drop(held);
    after_attack("idle sockets", &mut m, &mut d);
}

/// A command that runs rumor with its descriptor limit set to `nofile`.
fn with_nofile(nofile: u64, args: &[&str]) -> Rumor {
    let mut cmd = Command::new(binary());
    cmd.args(["--port", "0"]).args(args);
    // SAFETY: setrlimit is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit {
                rlim_cur: nofile,
                rlim_max: nofile,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Rumor::start_with(&mut cmd, true)
}

/// Waits up to `limit` for a connection to come to `l` (poll(2) on it).
fn readable_within(l: &TcpListener, limit: Duration) -> bool {
    let mut p = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, left.as_millis() as i32) };
        if r > 0 {
            return true;
        }
        // 0: the deadline; -1: a signal, so look again.
        if r == 0 || left.is_zero() {
            return false;
        }
    }
}

/// Opens up to `n` connections to `addr` and holds them.
fn flood(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok())
        .collect()
}

#[test]
fn a_flood_past_the_descriptor_limit_neither_spins_nor_blocks_joins() {
    // The descriptor limit that leaves a node `free` descriptors over what
    // it uses with no connection at all (inherited ones included).
    let probe = Rumor::start(&["--period", "off"]);
    let open = fds(&probe);
    drop(probe);
    let limit = |free: u64| {
        (1..)
            .find(|&l| l - open.iter().filter(|&&f| f < l).count() as u64 == free)
            .unwrap()
    };
    // Room for the two honest peers, the newcomer and one handshake.
    let mut m = mesh(with_nofile(limit(4), &["--period", "0.3"]));
    let mut attack = flood(m.a.addr, 100);
    let cpu0 = m.a.cpu_time();
    let mut d = newcomer(&m);
    let cpu = m.a.cpu_time() - cpu0;
    assert!(
        cpu < Duration::from_secs(1),
        "{cpu:?} CPU while a newcomer joined during the flood{}",
        m.a.tails()
    );
    // Out of descriptors, each new connection is accepted with a spare one
    // and the oldest idle handshake closed for it: none is left hanging
    // (waiting for handshake timeouts would free two every 3 s).
    for s in &mut attack {
        m.a.wait_closed(s, "a connection of the flood");
    }
    drop(attack);
    after_attack("descriptor flood", &mut m, &mut d);

    // With every descriptor taken by a peer, a new connection is refused
    // at once (accepted with a spare descriptor and closed), not left
    // hanging, and the peer is still served.
    let e = with_nofile(limit(1), &["--period", "0.2"]);
    let f = Rumor::start(&["--period", "0.2", "--connect", &e.addr.to_string()]);
    e.wait_peers(&[&f]);
    let mut attack = flood(e.addr, 50);
    for s in &mut attack {
        e.wait_closed(s, "a connection of the flood");
    }
    e.wait_err(&["refusing connection from", "out of file descriptors"]);
    let idle = idle_cpu(&e);
    exchanging(&[&e, &f]);
    eprintln!("descriptor flood, all taken: after 50 refusals {idle}");
}

#[test]
fn a_peer_that_stops_reading_is_cut_off_and_stdin_loses_nothing() {
    let mut m = mesh3();
    let p = m.a.join_raw(0x510, NO_PORT);
    // A small receive buffer, so the node's queue fills quickly.
    let small: libc::c_int = 8192;
    // SAFETY: setsockopt reads `small` for the given size only.
    unsafe {
        libc::setsockopt(
            p.stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&small as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    // It keeps sending keepalives, so only its reading is at fault: every
    // 200 ms (its own keepalive timer) until it is cut off or the test ends.
    let mut ka = p.stream.try_clone().unwrap();
    let (end_keepalives, ended) = mpsc::channel::<()>();
    let keepalive = thread::spawn(move || {
        let frame = frame_bytes(&Frame::Keepalive);
        while ka.write_all(&frame).is_ok()
            && ended.recv_timeout(Duration::from_millis(200)) == Err(RecvTimeoutError::Timeout)
        {
        }
    });
    // 12 MiB of stdin lines, far more than the socket and the 4 MiB queue.
    const LINES: usize = 1500;
    let mut stdin = m.a.stdin.take().unwrap();
    let writer = thread::spawn(move || {
        for i in 0..LINES {
            let mut line = format!("line {i:05} ").into_bytes();
            line.resize(8 * 1024, b'.');
            line.push(b'\n');
            stdin.write_all(&line).unwrap();
        }
        stdin
    });
    let mut d = newcomer(&m);
    let name = format!("\"127.0.0.1:{NO_PORT}\"");
    m.a.wait_err(&[&format!("closed connection to {name}: not reading; ")]);
    m.a.wait_prefix(&format!(
        "Disconnected from the peer at {name} (not reading; "
    ));
    m.a.stdin = Some(writer.join().unwrap());
    // Every line reached every honest peer.
    let from_a = m.a.name();
    for n in [&m.b, &m.c] {
        n.wait_out(&format!("all {LINES} stdin lines of {from_a}"), |l| {
            count(l, |b| {
                b.starts_with("Received message [line ") && b.ends_with(&from_a)
            }) == LINES
        });
    }
    drop(end_keepalives);
    keepalive.join().unwrap();
    drop(p);
    after_attack("slow reader", &mut m, &mut d);
}

#[test]
fn a_peer_list_full_of_bogus_and_self_addresses_dials_none_of_them() {
    // An active view with room for every good entry, so each is dialed.
    let mut m = mesh(Rumor::start(&["--period", "0.3", "--max-peers", "64"]));
    // Listeners that never accept: a dial to one hangs in its handshake.
    const HOLES: usize = 24;
    let holes: Vec<TcpListener> = (0..HOLES)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let hole = |i: usize| holes[i].local_addr().unwrap();
    let target = hole(0);
    let mut p = m.a.join_raw(0x12, NO_PORT);
    let a_id = p.hello.node_id;
    let entry = |node_id: u64, addr: SocketAddr| PeerEntry { node_id, addr };
    let at = |ip: &str, port: u16| SocketAddr::new(ip.parse().unwrap(), port);
    let mut list = vec![
        entry(1, m.a.addr),
        entry(2, at("0.0.0.0", target.port())),
        entry(3, at("::", target.port())),
        entry(4, at("127.0.0.1", 0)),
        entry(5, at("224.0.0.1", target.port())),
        entry(6, at("255.255.255.255", target.port())),
        entry(7, at("ff02::1", target.port())),
        entry(a_id, hole(1)),
        entry(8, target),
        entry(9, target),
        entry(10, target),
    ];
    list.extend((2..HOLES).map(|i| entry(100 + i as u64, hole(i))));
    p.send(&Frame::Peers(list)).unwrap();
    let accepted = |l: &TcpListener| {
        l.set_nonblocking(true).unwrap();
        let mut n = 0;
        while l.accept().is_ok() {
            n += 1;
        }
        n
    };
    // Every good address is dialed (in a random order, all at once: the
    // view has room and the dial slots suffice), each once.
    for i in std::iter::once(0).chain(2..HOLES) {
        assert!(
            readable_within(&holes[i], WAIT),
            "hole {i} was never dialed{}",
            m.a.tails()
        );
        assert_eq!(accepted(&holes[i]), 1, "hole {i} was dialed twice");
    }
    assert_eq!(
        accepted(&holes[1]),
        0,
        "an entry with a's own id was dialed"
    );
    // Dials hanging in their handshakes do not lock joins out.
    let mut d = newcomer(&m);
    drop(holes);
    drop(p);
    after_attack("bogus peer list", &mut m, &mut d);
}

#[test]
fn a_frozen_peer_is_dropped_by_keepalive_and_rejoins_when_thawed() {
    let mut m = mesh3();
    m.c.signal(SIGSTOP);
    let stopped = Instant::now();
    let gone = format!(
        "Disconnected from the peer at {} (silent too long)",
        m.c.name()
    );
    // When the lines were read, not when this thread got to look.
    let detected = [&m.a, &m.b]
        .map(|n| n.wait_line(&gone) - stopped)
        .into_iter()
        .max()
        .unwrap_or_default();
    // The others keep exchanging, and a newcomer joins meanwhile.
    let d = Rumor::start(&["--period", "0.3", "--connect", &m.a.addr.to_string()]);
    d.wait_peers(&[&m.a, &m.b]);
    exchanging(&[&m.a, &m.b, &d]);
    m.c.signal(SIGCONT);
    for n in [&m.a, &m.b, &d] {
        n.wait_line(&format!("Connected to the peer at {}", m.c.name()));
    }
    let mut d = d;
    let (peak, idle) = after_attack("frozen peer", &mut m, &mut d);
    eprintln!("frozen peer: detected after {detected:?}; peak {peak} KiB, {idle}");
    assert!(detected < Duration::from_secs(5), "{detected:?}");
}
