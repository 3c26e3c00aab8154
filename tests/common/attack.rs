//! What `tests/hostile.rs` and `tests/keyed_hostile.rs` share: a live
//! three-node mesh, plain or under a network key ([`Net`]), a member driven
//! by hand ([`Member`]: a raw peer, or one that does the key handshake and
//! seals what it sends), the end every attack is judged by
//! ([`after_attack`]), and the attacks whose logic is the same with and
//! without a key.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::*;
use rumor::keyring::KeyRing;
use rumor::record::{Handshake, PREAMBLE, Session, Step};
use rumor::wire::Frame;

/// Peak resident memory (VmHWM) an attacked node may reach, debug build.
/// Measured: 3 to 4 MiB for most attacks, about 9 MiB with a peer that
/// stops reading (its 4 MiB queue); see docs/LIMITS.md.
pub const PEAK_KIB: u64 = 16 * 1024;

/// Once an attack is over, a node's CPU is measured while it prints this
/// many more lines: its own messages and its peers', every 0.2 or 0.3 s, so
/// about 1.5 to 2 s on an idle machine, longer on a loaded one.
pub const IDLE_LINES: usize = 20;
/// The share of that span a node back to idle may use: a loop that spins
/// uses all the CPU it is given.
pub const IDLE_SHARE: f64 = 0.10;
/// The CPU one turn of the loop (one sleep in `poll`) may take on average:
/// a turn that reads a message and prints a line takes tens of µs.
pub const TURN_CPU: Duration = Duration::from_millis(2);

/// A port nothing listens on, announced by raw peers (dials to it fail).
pub const NO_PORT: u16 = 1;

/// A network key in a file of its own, removed when dropped.
pub struct KeyFile {
    dir: PathBuf,
    path: String,
    pub ring: KeyRing,
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// How the nodes of a test run: without a key, or all with one key.
pub struct Net {
    pub key: Option<KeyFile>,
}

impl Net {
    pub fn plain() -> Net {
        Net { key: None }
    }

    /// A fresh key from `rumor keygen`, in a mode-600 file.
    pub fn keyed() -> Net {
        let o = Command::new(binary()).arg("keygen").output().unwrap();
        assert!(o.status.success());
        let dir = std::env::temp_dir().join(format!(
            "rumor-attack-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("net.key");
        fs::write(&path, &o.stdout).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        Net {
            key: Some(KeyFile {
                path: path.to_str().unwrap().to_string(),
                ring: KeyRing::parse(&o.stdout).unwrap(),
                dir,
            }),
        }
    }

    /// `args`, after `--key-file FILE` when keyed.
    pub fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = Vec::new();
        if let Some(k) = &self.key {
            all.extend(["--key-file", k.path.as_str()]);
        }
        all.extend_from_slice(args);
        all
    }

    #[track_caller]
    pub fn start(&self, args: &[&str]) -> Rumor {
        Rumor::start(&self.args(args))
    }

    /// What an outsider sends to open a connection, cut off halfway: half
    /// a hello, or half the key handshake's first message.
    pub fn half_opening(&self) -> Vec<u8> {
        match self.key {
            None => frame_bytes(&hello(9, 4000))[..7].to_vec(),
            Some(_) => {
                let mut b = PREAMBLE.to_vec();
                b.extend_from_slice(&[7; 24]);
                b
            }
        }
    }
}

/// A member driven by hand: what it sends is framed by the test, and goes
/// out as it is, or sealed into records under the key.
pub trait Member: Send {
    fn stream(&mut self) -> &mut TcpStream;
    /// `plain` as it goes on the wire.
    fn wire(&mut self, plain: &[u8]) -> Vec<u8>;
    /// Sends `plain` (frames, or not).
    fn send_plain(&mut self, plain: &[u8]) -> std::io::Result<()> {
        let bytes = self.wire(plain);
        self.stream().write_all(&bytes)
    }
}

impl Member for RawPeer {
    fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    fn wire(&mut self, plain: &[u8]) -> Vec<u8> {
        plain.to_vec()
    }
}

/// A member holding the key: it does the key handshake and says hello,
/// then seals whatever the test gives it.
pub struct KeyedPeer {
    pub stream: TcpStream,
    session: Box<Session>,
}

impl KeyedPeer {
    #[track_caller]
    pub fn join(node: &Rumor, ring: &KeyRing, node_id: u64, listen_port: u16) -> KeyedPeer {
        let mut stream = TcpStream::connect(node.addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut e = [0u8; 32];
        e[..8].copy_from_slice(&node_id.to_le_bytes());
        e[8..10].copy_from_slice(&listen_port.to_le_bytes());
        let (mut hs, first) = Handshake::initiator(ring, e);
        stream.write_all(&first).unwrap();
        let mut buf = [0u8; 256];
        let session = loop {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "closed in the key handshake{}", node.tails());
            if let Step::Done { session, .. } = hs.read(&buf[..n]).unwrap() {
                break session;
            }
        };
        let mut p = KeyedPeer { stream, session };
        p.send_plain(&frame_bytes(&hello(node_id, listen_port)))
            .unwrap();
        p
    }
}

impl Member for KeyedPeer {
    fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    fn wire(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.session.seal(plain, &mut out).unwrap();
        out
    }
}

pub struct Mesh {
    pub a: Rumor,
    pub b: Rumor,
    pub c: Rumor,
    pub net: Net,
}

impl Mesh {
    /// A member joining `a` as `node_id`, announcing `listen_port`; once
    /// `a` printed it as a peer.
    #[track_caller]
    pub fn member(&self, node_id: u64, listen_port: u16) -> Box<dyn Member> {
        match &self.net.key {
            None => Box::new(self.a.join_raw(node_id, listen_port)),
            Some(k) => {
                let p = KeyedPeer::join(&self.a, &k.ring, node_id, listen_port);
                let name = format!("\"127.0.0.1:{listen_port}\"");
                self.a.wait_out(&format!("{name} as a peer"), |l| {
                    peers_in(l.iter().map(String::as_str)).contains(&name)
                });
                Box::new(p)
            }
        }
    }
}

/// Three honest nodes in a full mesh, `b` and `c` joined through `a`
/// (started with `a_args`).
pub fn mesh(net: Net, a_args: &[&str]) -> Mesh {
    let a = net.start(a_args);
    let b = net.start(&["--period", "0.3", "--connect", &a.addr.to_string()]);
    let c = net.start(&["--period", "0.3", "--connect", &a.addr.to_string()]);
    a.wait_peers(&[&b, &c]);
    c.wait_peers(&[&a, &b]);
    Mesh { a, b, c, net }
}

pub fn mesh3(net: Net) -> Mesh {
    mesh(net, &["--period", "0.3"])
}

pub fn received_from(lines: &[String], name: &str) -> usize {
    let tail = format!("] from {name}");
    count(lines, |b| {
        b.starts_with("Received message [") && b.ends_with(&tail)
    })
}

/// Waits until every node of `nodes` has heard at least two more messages
/// from every other one.
pub fn exchanging(nodes: &[&Rumor]) {
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
pub fn newcomer(m: &Mesh) -> Rumor {
    let d = m
        .net
        .start(&["--period", "0.3", "--connect", &m.a.addr.to_string()]);
    d.wait_peers(&[&m.a, &m.b, &m.c]);
    exchanging(&[&m.a, &m.b, &m.c, &d]);
    d
}

/// The end of every attack: everyone up and exchanging exactly once, `a`'s
/// peak memory bounded and its CPU back to idle. Returns (peak KiB, idle
/// CPU) for the record.
pub fn after_attack(what: &str, m: &mut Mesh, d: &mut Rumor) -> (u64, Idle) {
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

/// No honest node printed anything from `name` (an outsider's address or
/// name): nothing of the attacker's was printed or relayed.
#[track_caller]
pub fn nothing_from(m: &Mesh, name: &str) {
    for n in [&m.a, &m.b, &m.c] {
        let lines = n.out.snapshot();
        assert_eq!(received_from(&lines, name), 0, "{}", n.tails());
    }
}

/// What a node used while it printed [`IDLE_LINES`] lines.
pub struct Idle {
    pub cpu: Duration,
    pub span: Duration,
    pub sleeps: u64,
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
pub fn idle_cpu(n: &Rumor) -> Idle {
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

pub fn message(payload: &[u8]) -> Frame<'_> {
    Frame::Message {
        id: 7,
        ttl: 0,
        payload,
    }
}

/// The descriptor numbers `n` has open.
pub fn fds(n: &Rumor) -> Vec<u64> {
    std::fs::read_dir(format!("/proc/{}/fd", n.pid()))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// rumor started by `net` with its descriptor limit set to `nofile`.
pub fn with_nofile(net: &Net, nofile: u64, args: &[&str]) -> Rumor {
    let mut cmd = Command::new(binary());
    cmd.args(["--port", "0"]).args(net.args(args));
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

/// Opens up to `n` connections to `addr` and holds them.
pub fn flood(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok())
        .collect()
}

// The attacks whose logic is the same with and without a key.

/// Non-UTF-8 from a member and from stdin is replaced, never a panic.
pub fn non_utf8(net: Net) {
    let mut m = mesh3(net);
    let mut p = m.member(0xfeed, NO_PORT);
    let payload = b"caf\xc3\xa9 \xff\xfe ok \x1b[31m\x07\n\x00 end";
    p.send_plain(&frame_bytes(&message(payload))).unwrap();
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

/// A 10 MB stdin line is refused with a note; the next line still goes.
pub fn long_stdin_line(m: &mut Mesh) {
    let max = rumor::wire::MAX_PAYLOAD;
    let stdin = m.a.stdin.as_mut().unwrap();
    let line = vec![b'z'; 10_000_000];
    stdin.write_all(&line).unwrap();
    stdin.write_all(b"\nafter the long line\n").unwrap();
    stdin.flush().unwrap();
    m.a.wait_err(&[&format!(
        "stdin line of 10000000 bytes is over the {max}-byte limit; not sent"
    )]);
    let want = format!("Received message [after the long line] from {}", m.a.name());
    m.b.wait_line(&want);
    m.c.wait_line(&want);
    assert!(
        !m.b.out.snapshot().iter().any(|l| l.contains("zzzz")),
        "the long line was sent"
    );
}

/// Many members find `a` stopped and all send control bytes at once: the
/// log is written out as it grows. See `tests/hostile.rs` for the figures.
pub fn control_bytes(net: Net) {
    const PEERS: usize = 30;
    const PAYLOAD: usize = 48 * 1024;
    const LOG_PEAK_KIB: u64 = 8 * 1024;
    // An active view that holds them all: no peer replaces another.
    let mut m = mesh(net, &["--period", "0.3", "--max-peers", "64"]);
    // Joined one after the other; each earlier member says something after
    // every join, so none is silent for the keepalive timeout while the
    // rest join (30 keyed handshakes take seconds in a debug build).
    let keepalive = frame_bytes(&Frame::Keepalive);
    let mut peers: Vec<Box<dyn Member>> = Vec::new();
    for i in 0..PEERS {
        for p in peers.iter_mut() {
            let bytes = p.wire(&keepalive);
            p.stream().write_all(&bytes).unwrap();
        }
        peers.push(m.member(0x500 + i as u64, 2 + i as u16));
    }
    // Stopped, `a` lets every connection fill, then finds all of them
    // readable in one turn. The senders are ready before `a` stops, so
    // that it stays stopped only while they write.
    let plain = frame_bytes(&message(&[1u8; PAYLOAD]));
    let go = Arc::new(Barrier::new(PEERS + 1));
    let senders: Vec<_> = peers
        .iter_mut()
        .map(|p| {
            let bytes = p.wire(&plain);
            let mut s = p.stream().try_clone().unwrap();
            let go = go.clone();
            thread::spawn(move || {
                go.wait();
                s.write_all(&bytes)
            })
        })
        .collect();
    m.a.signal(SIGSTOP);
    let stopped = Instant::now();
    go.wait();
    for s in senders {
        s.join()
            .unwrap()
            .expect("a message fits in the socket buffers");
    }
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

/// 50 openings cut off halfway (half a hello, or half a key handshake) are
/// closed by the handshake deadline; a member gone quiet mid-frame by the
/// keepalive deadline.
pub fn half_frames(net: Net) {
    let mut m = mesh3(net);
    let start = Instant::now();
    let half = m.net.half_opening();
    let mut held: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(m.a.addr).unwrap();
            s.write_all(&half).unwrap();
            s
        })
        .collect();
    // An established member that sends half a message and goes quiet.
    let mut p = m.member(0x4a1f, NO_PORT);
    p.send_plain(&frame_bytes(&message(b"never ends"))[..9])
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
        panic!("a half opening was kept open for {WAIT:?}{}", m.a.tails());
    };
    let handshakes_closed = closed_at - start;
    m.a.wait_closed(p.stream(), "the member that went quiet mid-frame");
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
    assert!(
        !m.a.out.snapshot().iter().any(|l| l.contains("never ends")),
        "half a message was printed"
    );
    drop(held);
    after_attack("half frames", &mut m, &mut d);
}

/// 300 idle sockets: at most 64 handshakes are kept at once, each closed
/// at its deadline, and joins go on.
pub fn idle_sockets(net: Net) {
    let mut m = mesh3(net);
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

/// A member that stops reading is cut off; stdin loses nothing.
pub fn slow_reader(net: Net) {
    let mut m = mesh3(net);
    let mut p = m.member(0x510, NO_PORT);
    // A small receive buffer, so the node's queue fills quickly.
    let small: libc::c_int = 8192;
    // SAFETY: setsockopt reads `small` for the given size only.
    unsafe {
        libc::setsockopt(
            p.stream().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&small as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    // It keeps sending keepalives, so only its reading is at fault: every
    // 200 ms (its own keepalive timer) until it is cut off or the test ends.
    let (end_keepalives, ended) = mpsc::channel::<()>();
    let keepalive = thread::spawn(move || {
        let frame = frame_bytes(&Frame::Keepalive);
        while p.send_plain(&frame).is_ok()
            && ended.recv_timeout(Duration::from_millis(200))
                == Err(mpsc::RecvTimeoutError::Timeout)
        {}
        p
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
    let p = keepalive.join().unwrap();
    drop(p);
    after_attack("slow reader", &mut m, &mut d);
}

/// A frozen member is dropped by keepalive and rejoins when thawed.
pub fn frozen_peer(net: Net) {
    let mut m = mesh3(net);
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
    let d = m
        .net
        .start(&["--period", "0.3", "--connect", &m.a.addr.to_string()]);
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

/// A flood past the descriptor limit neither spins nor blocks joins; with
/// every descriptor taken, a new connection is refused at once.
pub fn descriptor_flood(net: Net) {
    // The descriptor limit that leaves a node `free` descriptors over what
    // it uses with no connection at all (inherited ones included).
    let probe = net.start(&["--period", "off"]);
    let open = fds(&probe);
    drop(probe);
    let limit = |free: u64| {
        (1..)
            .find(|&l| l - open.iter().filter(|&&f| f < l).count() as u64 == free)
            .unwrap()
    };
    // Room for the two honest peers, the newcomer and one handshake.
    let a = with_nofile(&net, limit(4), &["--period", "0.3"]);
    let b = net.start(&["--period", "0.3", "--connect", &a.addr.to_string()]);
    let c = net.start(&["--period", "0.3", "--connect", &a.addr.to_string()]);
    a.wait_peers(&[&b, &c]);
    c.wait_peers(&[&a, &b]);
    let mut m = Mesh { a, b, c, net };
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
    let e = with_nofile(&m.net, limit(1), &["--period", "0.2"]);
    let f = m
        .net
        .start(&["--period", "0.2", "--connect", &e.addr.to_string()]);
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

/// `total` bytes streamed at `a` twice over: raw junk from an outsider
/// (cut off at its first bytes) and valid messages of 64 KiB from a
/// member, while a newcomer joins; all in bounded memory.
pub fn streamed(net: Net, total: usize) {
    let max = rumor::wire::MAX_PAYLOAD;
    let mut m = mesh3(net);
    let mut s = TcpStream::connect(m.a.addr).unwrap();
    let junk = thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        let mut sent = 0;
        while sent < total && s.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        sent
    });
    let mut p = m.member(0x64, NO_PORT);
    let n_msgs = total / max;
    let frames = thread::spawn(move || {
        for i in 0..n_msgs {
            let mut payload = format!("{i:08} ").into_bytes();
            payload.resize(max, b'm');
            p.send_plain(&frame_bytes(&message(&payload))).unwrap();
        }
        p
    });
    // A newcomer joins while both streams are still coming.
    let mut d = newcomer(&m);
    let junk_sent = junk.join().unwrap();
    assert!(junk_sent < total, "the junk stream was read to its end");
    let p = frames.join().unwrap();
    let name = format!("\"127.0.0.1:{NO_PORT}\"");
    m.a.wait_out(&format!("all {n_msgs} messages from {name}"), |l| {
        received_from(l, &name) == n_msgs
    });
    drop(p);
    after_attack(&format!("{} MiB stream", total >> 20), &mut m, &mut d);
}

/// From a member, the largest frame is printed whole and one byte more
/// closes it; a 10 MB stdin line is refused; then the end of the attack.
pub fn frame_limits(mut m: Mesh, what: &str) {
    use rumor::wire::{MAX_FRAME_LEN, MAX_PAYLOAD};
    let mut p = m.member(0xb16, NO_PORT);
    let big = vec![b'y'; MAX_PAYLOAD];
    p.send_plain(&frame_bytes(&message(&big))).unwrap();
    m.a.wait_out("the largest message, printed whole", |l| {
        l.iter().map(|l| body(l)).any(|l| {
            l.starts_with("Received message [yyyy")
                && l.len() == "Received message [] from \"127.0.0.1:1\"".len() + MAX_PAYLOAD
        })
    });
    // The node may close mid-write once it has seen the length.
    let _ = p.send_plain(&(MAX_FRAME_LEN as u32 + 1).to_be_bytes());
    m.a.wait_closed(p.stream(), "the member that declared one byte too many");
    let limit = format!(
        "frame of {} bytes is over the {MAX_FRAME_LEN}-byte limit",
        MAX_FRAME_LEN + 1
    );
    m.a.wait_err(&["closed connection to \"127.0.0.1:1\"", &limit]);
    long_stdin_line(&mut m);
    let mut d = newcomer(&m);
    after_attack(what, &mut m, &mut d);
}
