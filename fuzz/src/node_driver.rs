//! The `node` fuzz target's driver: reads a script of inputs from bytes,
//! drives one [`Node`] with them on a fake clock, and checks the node's
//! invariants after every step.
//!
//! The script format is plain bytes (no `arbitrary`), so the main crate's
//! `tests/replay.rs` can include this file with `#[path]` and replay node
//! regressions on every `cargo test`, and `examples/seeds.rs` can write
//! meaningful scripts with [`Script`]. Only `std` and `rumor` may be used.
//!
//! Layout: a header (seed, caps, period, listen address, bootstrap peers),
//! then ops until the input ends. Reading past the end gives zeros, so every
//! byte string is a valid script.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rumor::capture::{Capture, Out};
use rumor::node::{Config, ConnId, Node, Reason};
use rumor::text::{self, REPLY};
use rumor::wire::text::TextFrame;
use rumor::wire::{self, DecodeError, Frame, GoodbyeReason, Hello, PeerEntry, Status};

/// The port both listen addresses use.
pub const PORT: u16 = 7000;

/// The node listens on one of these.
pub fn listen_addr(v6: bool) -> SocketAddr {
    if v6 {
        SocketAddr::new(Ipv6Addr::LOCALHOST.into(), PORT)
    } else {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), PORT)
    }
}

fn v4(a: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::from(a).into(), port)
}

fn v6(s: &str, port: u16) -> SocketAddr {
    SocketAddr::new(
        s.parse::<Ipv6Addr>().unwrap_or(Ipv6Addr::LOCALHOST).into(),
        port,
    )
}

/// Addresses peers may listen on or list: the node's own ones, other good
/// ones, and every kind of address a node must never dial (port 0,
/// unspecified, multicast, broadcast, and the same in IPv4-mapped form).
/// Indexes below [`GOOD`] are good bootstrap addresses.
pub fn pool(i: u8) -> SocketAddr {
    match i % POOL_LEN {
        0 => listen_addr(false),
        1 => listen_addr(true),
        2 => v4([127, 0, 0, 1], 7001),
        3 => v4([127, 0, 0, 1], 7002),
        4 => v4([192, 0, 2, 1], 7000),
        5 => v4([192, 0, 2, 2], 7003),
        6 => v6("2001:db8::1", 7000),
        7 => v6("::1", 7001),
        // Never to be dialed.
        8 => v4([127, 0, 0, 1], 0),
        9 => v4([0, 0, 0, 0], 7000),
        10 => v4([224, 0, 0, 1], 7000),
        11 => v4([255, 255, 255, 255], 7000),
        12 => v6("::", 7000),
        13 => v6("ff02::1", 7000),
        14 => v6("::ffff:127.0.0.1", PORT),
        15 => v6("::ffff:255.255.255.255", 7000),
        16 => v6("::ffff:0.0.0.0", 7000),
        _ => v6("::ffff:224.0.0.1", 7000),
    }
}
pub const POOL_LEN: u8 = 18;
pub const GOOD: u8 = 8;

/// Remote addresses of inbound connections: unicast, nonzero port, as a
/// socket reports them. Some share the node's IP (another process on the
/// same host).
pub fn remote(i: u8) -> SocketAddr {
    match i % 6 {
        0 => v4([127, 0, 0, 1], 40000),
        1 => v4([127, 0, 0, 1], 40001),
        2 => v6("::1", 40002),
        3 => v4([192, 0, 2, 1], 50000),
        4 => v4([192, 0, 2, 2], 50001),
        _ => v6("2001:db8::1", 50002),
    }
}

/// Byte cursor: reads past the end give zeros.
struct Cursor<'a> {
    data: &'a [u8],
}

impl Cursor<'_> {
    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        (u64::from(self.u16()) << 48)
            | (u64::from(self.u16()) << 32)
            | (u64::from(self.u16()) << 16)
            | u64::from(self.u16())
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
    /// An address: a pool index below 0xf0, else a literal one.
    fn addr(&mut self) -> SocketAddr {
        match self.u8() {
            b if b < 0xf0 => pool(b),
            b if b & 1 == 0 => {
                let ip = Ipv4Addr::from(<[u8; 4]>::try_from(self.bytes(4)).unwrap_or_default());
                SocketAddr::new(ip.into(), self.u16())
            }
            _ => {
                let ip = Ipv6Addr::from(<[u8; 16]>::try_from(self.bytes(16)).unwrap_or_default());
                SocketAddr::new(ip.into(), self.u16())
            }
        }
    }
    /// A node id: 0 is the node's own, 1 to 0xef small fixed ones, else a
    /// literal one.
    fn node_id(&mut self, own: u64) -> u64 {
        match self.u8() {
            0 => own,
            b if b < 0xf0 => u64::from(b),
            _ => self.u64(),
        }
    }
}

/// Op codes.
pub mod op {
    pub const ACCEPT: u8 = 0;
    pub const CONNECTED: u8 = 1;
    pub const CLOSED: u8 = 2;
    pub const HELLO: u8 = 3;
    pub const PEERS: u8 = 4;
    pub const MESSAGE: u8 = 5;
    pub const KEEPALIVE: u8 = 6;
    pub const GOODBYE: u8 = 7;
    pub const RAW: u8 = 8;
    pub const WRITTEN: u8 = 9;
    pub const TIME: u8 = 10;
    pub const STDIN: u8 = 11;
    pub const STDIN_CLOSED: u8 = 12;
    pub const SHUTDOWN: u8 = 13;
    /// A text host's message, `PORT:TEXT`, as raw bytes.
    pub const TEXT: u8 = 14;
    /// A text host's reply, `Message received`, maybe cut short.
    pub const REPLY: u8 = 15;
    /// A TEXT or TEXT_HOST frame.
    pub const TEXT_FRAME: u8 = 16;
    pub const COUNT: u8 = 17;
}

/// A conn as the fake driver sees it.
struct FakeConn {
    /// The TCP connection is up (inbound, or outbound and connected).
    open: bool,
    /// Bytes of `Send` outputs not yet reported written.
    queued: usize,
    /// Accepted (not dialed).
    inbound: bool,
    /// The first byte the driver handed the node on it.
    first: Option<u8>,
    /// It was sent text-protocol bytes (a reply, or a delivery's message).
    text: bool,
}

impl FakeConn {
    fn new(inbound: bool) -> Self {
        FakeConn {
            open: inbound,
            queued: 0,
            inbound,
            first: None,
            text: false,
        }
    }
}

/// What a run reached, for the seed generator's sanity checks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub steps: usize,
    pub max_peers_seen: usize,
    pub frames_sent: usize,
    pub dials: usize,
    pub messages_received: u64,
    pub messages_sent: u64,
    pub max_text_hosts_seen: usize,
    /// Replies and deliveries the node sent in the text protocol.
    pub text_sends: usize,
}

struct Driver {
    node: Node,
    cfg: Config,
    now: Instant,
    own: SocketAddr,
    /// Live conns in the order they appeared; ops pick among them by index.
    order: Vec<ConnId>,
    conns: HashMap<ConnId, FakeConn>,
    shut_down: bool,
    allowance: usize,
    summary: Summary,
    /// `RUMOR_FUZZ_TRACE` set: print every op and output to stderr.
    trace: bool,
}

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// Runs one script; panics when an invariant fails.
pub fn run(data: &[u8]) -> Summary {
    let mut c = Cursor { data };
    let seed = c.u64();
    let own = listen_addr(c.u8() & 1 == 1);
    let mut cfg = Config::new(own);
    let caps = c.u8();
    cfg.max_peers = 1 + usize::from(caps & 3);
    cfg.max_pending = 1 + usize::from(caps >> 2 & 3);
    cfg.max_known = 1 + usize::from(caps >> 4 & 7);
    // No script byte of its own, so older seeds keep their layout.
    cfg.max_text_hosts = cfg.max_known;
    let b = c.u8();
    cfg.max_list_take = 1 + usize::from(b & 7);
    cfg.max_line = 8 << (b >> 3 & 7);
    cfg.max_unsent = 16 + 4 * usize::from(c.u8());
    // Small enough that a few slow peers reach it (no script byte of its
    // own, so older seeds keep their layout).
    cfg.max_unsent_total = 2 * cfg.max_unsent + 64;
    cfg.period = match c.u8() & 3 {
        0 => None,
        1 => Some(Duration::from_millis(100)),
        2 => Some(Duration::from_secs(1)),
        _ => Some(Duration::from_secs(5)),
    };
    // Bootstrap peers come from the user: good addresses only (the node's
    // own included, which it must skip), no more than it may remember.
    let n_boot = usize::from(c.u8() & 3).min(cfg.max_known);
    for _ in 0..n_boot {
        cfg.bootstrap.push(pool(c.u8() % GOOD));
    }
    // Control frames bypass the queue cap: a hello, the welcome list, a
    // goodbye, and keepalives for as long as a slow peer is tolerated.
    let keepalives = cfg.slow_timeout.as_millis() / cfg.keepalive_interval.as_millis() + 2;
    let allowance = 21 + (7 + 27 * cfg.max_peers) + 6 + 5 * keepalives as usize;
    let now = t0();
    let mut node = Node::new(cfg.clone(), seed, now);
    node.handle_start(now);
    let mut d = Driver {
        node,
        cfg,
        now,
        own,
        order: Vec::new(),
        conns: HashMap::new(),
        shut_down: false,
        allowance,
        summary: Summary::default(),
        trace: std::env::var_os("RUMOR_FUZZ_TRACE").is_some(),
    };
    d.drain();
    d.check();
    while !c.data.is_empty() {
        d.step(&mut c);
        d.drain();
        d.check();
        d.summary.steps += 1;
    }
    d.summary.messages_received = d.node.stats().messages_received;
    d.summary.messages_sent = d.node.stats().messages_sent;
    d.summary
}

/// `addr` as the one address it names (IPv4-mapped IPv6 as IPv4).
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

fn is_undialable(addr: SocketAddr) -> bool {
    let ip = addr.ip().to_canonical();
    addr.port() == 0
        || ip.is_unspecified()
        || ip.is_multicast()
        || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

impl Driver {
    /// The live conn `i` picks, among those `open` (if given) matches.
    fn pick(&self, i: u8, open: Option<bool>) -> Option<ConnId> {
        let live: Vec<ConnId> = self
            .order
            .iter()
            .copied()
            .filter(|id| open.is_none_or(|o| self.conns[id].open == o))
            .collect();
        if live.is_empty() {
            return None;
        }
        Some(live[usize::from(i) % live.len()])
    }

    fn forget(&mut self, id: ConnId) {
        self.conns.remove(&id);
        self.order.retain(|&o| o != id);
    }

    fn step(&mut self, c: &mut Cursor<'_>) {
        let now = self.now;
        let own_id = self.node.id();
        let code = c.u8() % op::COUNT;
        if self.trace {
            let t = now.saturating_duration_since(t0());
            let next: Vec<u8> = c.data.iter().take(8).copied().collect();
            eprintln!("[{t:?}] op {code} {next:02x?}");
        }
        match code {
            op::ACCEPT => {
                let remote = remote(c.u8());
                if let Some(id) = self.node.handle_accepted(remote, now) {
                    assert!(!self.shut_down, "accepted after shutdown");
                    assert!(!self.conns.contains_key(&id), "{id:?} handed out twice");
                    self.conns.insert(id, FakeConn::new(true));
                    self.order.push(id);
                }
            }
            op::CONNECTED => {
                if let Some(id) = self.pick(c.u8(), Some(false)) {
                    self.node.handle_connected(id, now);
                    if let Some(fc) = self.conns.get_mut(&id) {
                        fc.open = true;
                    }
                }
            }
            op::CLOSED => {
                let (i, kind) = (c.u8(), c.u8());
                if let Some(id) = self.pick(i, None) {
                    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
                    let reset = io::Error::from(io::ErrorKind::ConnectionReset);
                    let why = match kind % 4 {
                        0 => Reason::Eof,
                        1 => Reason::io(&refused),
                        2 => Reason::io(&reset),
                        _ => Reason::Protocol(DecodeError::UnknownType(kind)),
                    };
                    self.node.handle_closed(id, why, now);
                    self.forget(id);
                }
            }
            op::HELLO => {
                let i = c.u8();
                let node_id = c.node_id(own_id);
                // Mostly the right version; sometimes any, 0 included.
                let version = match c.u8() {
                    v if v >= 0xf0 => v & 0x0f,
                    _ => wire::VERSION,
                };
                let flags = c.u8();
                let listen_port = match c.u8() {
                    0 => PORT,
                    1 => 0,
                    b if b < 0xf0 => 7000 + u16::from(b % 4),
                    _ => c.u16(),
                };
                let cut = c.u8();
                let f = Frame::Hello(Hello {
                    version,
                    flags,
                    node_id,
                    listen_port,
                    advertised: None,
                });
                self.send_frame(i, &f, cut);
            }
            op::PEERS => {
                let i = c.u8();
                let n = c.u8();
                // Mostly short lists; sometimes longer than any cap here.
                let n = if n >= 0xf0 {
                    usize::from(n)
                } else {
                    usize::from(n % 8)
                };
                let entries: Vec<PeerEntry> = (0..n)
                    .map(|_| PeerEntry {
                        node_id: c.node_id(own_id),
                        addr: c.addr(),
                    })
                    .collect();
                let cut = c.u8();
                self.send_frame(i, &Frame::Peers(entries), cut);
            }
            op::MESSAGE => {
                let (i, ttl, n) = (c.u8(), c.u8(), c.u8());
                let id = u64::from(c.u16());
                let payload = c.bytes(usize::from(n)).to_vec();
                let cut = c.u8();
                let f = Frame::Message {
                    id,
                    ttl,
                    payload: &payload,
                };
                self.send_frame(i, &f, cut);
            }
            op::KEEPALIVE => {
                let i = c.u8();
                self.send_frame(i, &Frame::Keepalive, 0);
            }
            op::GOODBYE => {
                let (i, code) = (c.u8(), c.u8());
                let f = Frame::Goodbye(goodbye(code));
                self.send_frame(i, &f, 0);
            }
            op::RAW => {
                let (i, n) = (c.u8(), c.u8());
                let bytes = c.bytes(usize::from(n)).to_vec();
                self.feed(i, &bytes, u8::MAX);
            }
            op::WRITTEN => {
                let (i, n) = (c.u8(), c.u8());
                if let Some(id) = self.pick(i, Some(true)) {
                    let fc = self.conns.get_mut(&id).expect("picked a live conn");
                    let n = match n {
                        0 => fc.queued,
                        n => fc.queued.min(usize::from(n) * 4),
                    };
                    fc.queued -= n;
                    self.node.handle_written(id, n);
                }
            }
            op::TIME => {
                let next = self.node.poll_timeout();
                let step = match c.u8() % 8 {
                    0 => next.map_or(Duration::ZERO, |t| t.saturating_duration_since(now)),
                    1 => Duration::from_millis(1),
                    2 => Duration::from_millis(250),
                    3 => Duration::from_secs(1),
                    4 => Duration::from_secs(3),
                    5 => Duration::from_secs(10),
                    6 => Duration::from_millis(u64::from(c.u16())),
                    _ => Duration::ZERO,
                };
                self.now += step;
                let now = self.now;
                if self.node.poll_timeout().is_some_and(|t| t <= now) {
                    self.node.handle_timeout(now);
                    if let Some(t) = self.node.poll_timeout() {
                        assert!(t > now, "a timer is still due after handle_timeout");
                    }
                }
            }
            op::STDIN => {
                let n = c.u8();
                let bytes = c.bytes(usize::from(n)).to_vec();
                self.node.handle_stdin(&bytes, now);
            }
            op::STDIN_CLOSED => self.node.handle_stdin_closed(now),
            op::TEXT => {
                let (i, port, n) = (c.u8(), c.u8(), c.u8());
                let port = match port % 8 {
                    0 => PORT.to_string(),
                    1 => "0".into(),
                    2 => "7001".into(),
                    3 => "7002".into(),
                    4 => "65536".into(),
                    5 => String::new(),
                    6 => "1".into(),
                    _ => c.u16().to_string(),
                };
                let mut bytes = format!("{port}:").into_bytes();
                bytes.extend_from_slice(c.bytes(usize::from(n)));
                let cut = c.u8();
                self.feed(i, &bytes, cut);
            }
            op::REPLY => {
                let (i, n, cut) = (c.u8(), c.u8(), c.u8());
                let n = usize::from(n).min(REPLY.len());
                self.feed(i, &REPLY[..n], cut);
            }
            op::TEXT_FRAME => {
                let (i, kind) = (c.u8(), c.u8());
                let addr = c.addr();
                let n = c.u8();
                let text = c.bytes(usize::from(n)).to_vec();
                let cut = c.u8();
                let f = if kind & 1 == 0 {
                    TextFrame::Text {
                        ttl: kind >> 1,
                        origin: addr,
                        text: &text,
                    }
                } else {
                    TextFrame::TextHost {
                        ttl: kind >> 1,
                        addr,
                    }
                };
                self.send_frame(i, &Frame::Text(f), cut);
            }
            _ => {
                self.node.handle_shutdown(now);
                self.shut_down = true;
            }
        }
    }

    /// Encodes `f` and feeds it to conn `i`, cut in two at `cut`.
    fn send_frame(&mut self, i: u8, f: &Frame<'_>, cut: u8) {
        let mut bytes = Vec::new();
        f.encode(&mut bytes);
        self.feed(i, &bytes, cut);
    }

    /// Hands `bytes` to the node as read from conn `i`, as a driver would,
    /// in two pieces cut at `cut` (mod the length + 1).
    fn feed(&mut self, i: u8, bytes: &[u8], cut: u8) {
        let Some(id) = self.pick(i, Some(true)) else {
            return;
        };
        let now = self.now;
        if let Some(fc) = self.conns.get_mut(&id)
            && fc.first.is_none()
        {
            fc.first = bytes.first().copied();
        }
        let at = usize::from(cut) % (bytes.len() + 1);
        for piece in [&bytes[..at], &bytes[at..]] {
            if !self.conns.contains_key(&id) || !self.node.handle_read(id, piece, now) {
                // The node closed it: its Close output is still to come.
                return;
            }
        }
    }

    /// Whether `bytes` sent on `conn` are the text protocol's: the reply
    /// to an accepted connection whose first byte was not 0 (a text
    /// message), or `PORT:TEXT` with the node's port, at most 4,096 bytes,
    /// on a connection it dialed (a delivery). Anything else must be frames.
    fn is_text_send(&self, conn: ConnId, bytes: &[u8]) -> bool {
        let Some(fc) = self.conns.get(&conn) else {
            return false;
        };
        if fc.inbound {
            return bytes == REPLY && fc.first.is_some_and(|b| b != 0);
        }
        let head = format!("{}:", self.own.port());
        bytes.starts_with(head.as_bytes()) && bytes.len() <= text::MAX_TEXT_MESSAGE
    }

    /// Takes every output and checks it.
    fn drain(&mut self) {
        let own = canonical(self.own);
        let mut closed: HashSet<ConnId> = HashSet::new();
        let mut dials = Vec::new();
        for out in Capture::of(&mut self.node) {
            if self.trace {
                eprintln!("    {out:?}");
            }
            match out {
                Out::Send(conn, bytes) => {
                    assert!(!closed.contains(&conn), "Send to {conn:?} after its Close");
                    assert!(!bytes.is_empty(), "empty Send");
                    if self.is_text_send(conn, &bytes) {
                        self.summary.text_sends += 1;
                        if let Some(fc) = self.conns.get_mut(&conn) {
                            fc.text = true;
                        }
                    } else {
                        let mut at = 0;
                        while at < bytes.len() {
                            match wire::decode(&bytes[at..]) {
                                Ok(Status::Complete((_, n))) => at += n,
                                other => panic!("Send of bytes that are not frames: {other:?}"),
                            }
                        }
                    }
                    self.summary.frames_sent += 1;
                    // A Send to a conn the driver has just reported closed
                    // is dropped, as a real driver has no socket for it.
                    if let Some(fc) = self.conns.get_mut(&conn) {
                        fc.queued += bytes.len();
                    }
                }
                Out::Dial(conn, addr) => {
                    assert!(!self.shut_down, "Dial {addr} after shutdown");
                    assert!(
                        canonical(addr) != own,
                        "Dial of the node's own address {addr}"
                    );
                    assert!(!is_undialable(addr), "Dial of {addr}");
                    dials.push(conn);
                }
                Out::Close(conn) => {
                    assert!(
                        self.conns.contains_key(&conn),
                        "Close of {conn:?}, which is not open"
                    );
                    closed.insert(conn);
                    self.forget(conn);
                }
                Out::Log(line) | Out::Diag(_, line) => {
                    assert!(
                        !line.contains(['\n', '\r']),
                        "output line {line:?} is not one line"
                    );
                }
            }
        }
        for conn in dials {
            if closed.contains(&conn) {
                continue;
            }
            assert!(!self.conns.contains_key(&conn), "{conn:?} handed out twice");
            self.summary.dials += 1;
            self.conns.insert(conn, FakeConn::new(false));
            self.order.push(conn);
        }
    }

    /// The node's invariants, after every step.
    fn check(&mut self) {
        let cfg = &self.cfg;
        let node = &self.node;
        if self.trace {
            eprintln!(
                "    peers {:?}, conns {}, known {}",
                node.peer_addrs(),
                node.conn_count(),
                node.known_count()
            );
        }
        let peers = node.peer_count();
        self.summary.max_peers_seen = self.summary.max_peers_seen.max(peers);
        assert!(
            peers <= cfg.max_peers,
            "{peers} peers over {}",
            cfg.max_peers
        );
        let conns = node.conn_count();
        assert!(
            conns <= cfg.max_peers + cfg.max_pending,
            "{conns} conns over {} + {}",
            cfg.max_peers,
            cfg.max_pending
        );
        assert_eq!(
            conns,
            self.conns.len(),
            "the node counts {conns} conns, the driver has {}",
            self.conns.len()
        );
        let known = node.known_count();
        assert!(
            known <= cfg.max_known,
            "{known} known over {}",
            cfg.max_known
        );
        let addrs = node.peer_addrs();
        assert_eq!(addrs.len(), peers);
        let own = canonical(self.own);
        assert!(
            !addrs.iter().any(|&a| canonical(a) == own),
            "the node lists itself as a peer: {addrs:?}"
        );
        let total: usize = self.conns.values().map(|fc| fc.queued).sum();
        assert_eq!(
            node.unsent_total(),
            total,
            "the node's total queue differs from the sum"
        );
        // Over the budget only peers with empty queues get a message, and
        // control frames always go: one message and the control allowance
        // per connection past it at most.
        // A text connection gets at most one message of its own protocol.
        let texts = self.conns.values().filter(|fc| fc.text).count();
        let slack = self.conns.len() * (cfg.max_line + 14 + self.allowance)
            + texts * text::MAX_TEXT_MESSAGE;
        assert!(
            total <= cfg.max_unsent_total + slack,
            "{total} bytes queued in all; the budget is {} (+{slack})",
            cfg.max_unsent_total
        );
        for (&id, fc) in &self.conns {
            let unsent = node.unsent(id);
            assert_eq!(
                unsent,
                Some(fc.queued),
                "{id:?}: the node's unsent count differs from what it sent"
            );
            let extra = if fc.text { text::MAX_TEXT_MESSAGE } else { 0 };
            assert!(
                fc.queued <= cfg.max_unsent + self.allowance + extra,
                "{id:?} has {} bytes queued; the cap is {} (+{})",
                fc.queued,
                cfg.max_unsent,
                self.allowance + extra
            );
        }
        let hosts = node.text_hosts();
        self.summary.max_text_hosts_seen = self.summary.max_text_hosts_seen.max(hosts.len());
        assert!(
            hosts.len() <= cfg.max_text_hosts,
            "{} text hosts over {}",
            hosts.len(),
            cfg.max_text_hosts
        );
        for h in &hosts {
            assert!(!is_undialable(*h), "text host {h}");
            assert!(canonical(*h) != own, "the node is its own text host");
            assert!(!addrs.contains(h), "text host {h} is also a peer");
        }
        if self.shut_down {
            assert_eq!(conns, 0, "conns left after shutdown");
            assert!(!node.wants_stdin(), "wants stdin after shutdown");
        }
    }
}

/// The reason the decoder gives for a goodbye code.
fn goodbye(code: u8) -> GoodbyeReason {
    match code {
        0 => GoodbyeReason::Shutdown,
        1 => GoodbyeReason::Duplicate,
        c => GoodbyeReason::Other(c),
    }
}

/// Writes scripts for [`run`], for hand-made seeds.
#[derive(Clone, Debug, Default)]
pub struct Script {
    pub bytes: Vec<u8>,
}

/// The settings a script starts with.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub seed: u64,
    pub v6: bool,
    /// 1 to 4.
    pub max_peers: u8,
    /// 1 to 4.
    pub max_pending: u8,
    /// 1 to 8.
    pub max_known: u8,
    /// 1 to 8.
    pub max_list_take: u8,
    /// `8 << max_line_shift`, shift 0 to 7.
    pub max_line_shift: u8,
    /// `16 + 4 * max_unsent`.
    pub max_unsent: u8,
    /// 0: none, 1: 100 ms, 2: 1 s, 3: 5 s.
    pub period: u8,
    /// Pool indexes below [`GOOD`], at most 3.
    pub bootstrap: &'static [u8],
}

impl Default for Header {
    fn default() -> Self {
        Header {
            seed: 1,
            v6: false,
            max_peers: 4,
            max_pending: 4,
            max_known: 8,
            max_list_take: 8,
            max_line_shift: 5,
            max_unsent: 255,
            period: 0,
            bootstrap: &[],
        }
    }
}

impl Script {
    pub fn new(h: Header) -> Self {
        let mut s = Script::default();
        s.bytes.extend_from_slice(&h.seed.to_be_bytes());
        s.bytes.push(u8::from(h.v6));
        s.bytes
            .push((h.max_peers - 1) | (h.max_pending - 1) << 2 | (h.max_known - 1) << 4);
        s.bytes.push((h.max_list_take - 1) | h.max_line_shift << 3);
        s.bytes.push(h.max_unsent);
        s.bytes.push(h.period);
        s.bytes.push(h.bootstrap.len() as u8);
        s.bytes.extend_from_slice(h.bootstrap);
        s
    }
    fn op(&mut self, code: u8, args: &[u8]) -> &mut Self {
        self.bytes.push(code);
        self.bytes.extend_from_slice(args);
        self
    }
    /// An inbound connection from [`remote`]`(r)`.
    pub fn accept(&mut self, r: u8) -> &mut Self {
        self.op(op::ACCEPT, &[r])
    }
    /// The `i`th dial still connecting has connected.
    pub fn connected(&mut self, i: u8) -> &mut Self {
        self.op(op::CONNECTED, &[i])
    }
    /// The `i`th live conn closed; kind 0 EOF, 1 refused, 2 reset, 3 bad bytes.
    pub fn closed(&mut self, i: u8, kind: u8) -> &mut Self {
        self.op(op::CLOSED, &[i, kind])
    }
    /// A hello from node `id` (1 to 0xef; 0 is the node's own id) listening
    /// on port `7000 + port` (`port` 2 to 3).
    pub fn hello(&mut self, i: u8, id: u8, port: u8) -> &mut Self {
        self.op(op::HELLO, &[i, id, 0, 0, port, 0])
    }
    /// Like [`Script::hello`], with the TEXT flag: the peer takes TEXT
    /// and TEXT_HOST frames.
    pub fn hello_text(&mut self, i: u8, id: u8, port: u8) -> &mut Self {
        self.op(op::HELLO, &[i, id, 0, wire::text::FLAG_TEXT, port, 0])
    }
    /// A peer list of `(node id, pool index)` entries.
    pub fn peers(&mut self, i: u8, entries: &[(u8, u8)]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::PEERS, i, entries.len() as u8]);
        for &(id, a) in entries {
            self.bytes.extend_from_slice(&[id, a]);
        }
        self.bytes.push(3);
        self
    }
    pub fn message(&mut self, i: u8, payload: &[u8]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::MESSAGE, i, 0, payload.len() as u8, 0, 1]);
        self.bytes.extend_from_slice(payload);
        self.bytes.push(7);
        self
    }
    pub fn keepalive(&mut self, i: u8) -> &mut Self {
        self.op(op::KEEPALIVE, &[i])
    }
    pub fn goodbye(&mut self, i: u8, code: u8) -> &mut Self {
        self.op(op::GOODBYE, &[i, code])
    }
    pub fn raw(&mut self, i: u8, bytes: &[u8]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::RAW, i, bytes.len() as u8]);
        self.bytes.extend_from_slice(bytes);
        self
    }
    /// Conn `i` wrote everything queued.
    pub fn written(&mut self, i: u8) -> &mut Self {
        self.op(op::WRITTEN, &[i, 0])
    }
    /// Time moves on: 0 to the next deadline, 1 1 ms, 2 250 ms, 3 1 s,
    /// 4 3 s, 5 10 s.
    pub fn time(&mut self, kind: u8) -> &mut Self {
        self.op(op::TIME, &[kind])
    }
    pub fn stdin(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::STDIN, bytes.len() as u8]);
        self.bytes.extend_from_slice(bytes);
        self
    }
    pub fn stdin_closed(&mut self) -> &mut Self {
        self.op(op::STDIN_CLOSED, &[])
    }
    pub fn shutdown(&mut self) -> &mut Self {
        self.op(op::SHUTDOWN, &[])
    }
    /// A text message on conn `i`: port kind 0 the node's own port, 1 `0`,
    /// 2 7001, 3 7002, 4 `65536`, 5 none, 6 `1`.
    pub fn text(&mut self, i: u8, port: u8, text: &[u8]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::TEXT, i, port, text.len() as u8]);
        self.bytes.extend_from_slice(text);
        self.bytes.push(0);
        self
    }
    /// The first `n` bytes of a text host's reply on conn `i`.
    pub fn reply(&mut self, i: u8, n: u8) -> &mut Self {
        self.op(op::REPLY, &[i, n, 0])
    }
    /// A TEXT frame (with `Some(text)`) or a TEXT_HOST frame naming pool
    /// address `a`, on conn `i`.
    pub fn text_frame(&mut self, i: u8, a: u8, text: Option<&[u8]>) -> &mut Self {
        let t = text.unwrap_or_default();
        let kind = u8::from(text.is_none());
        self.bytes
            .extend_from_slice(&[op::TEXT_FRAME, i, kind, a, t.len() as u8]);
        self.bytes.extend_from_slice(t);
        self.bytes.push(0);
        self
    }
}
