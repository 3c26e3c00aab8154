//! The `node` fuzz target's driver: reads a script of inputs from bytes,
//! drives one [`Node`] with them on a fake clock, and checks the node's
//! invariants after every step.
//!
//! The script format is plain bytes (no `arbitrary`), so the main crate's
//! `tests/replay.rs` can include this folder with `#[path]` and replay node
//! regressions on every `cargo test`, and `examples/seeds.rs` can write
//! meaningful scripts with [`Script`]. Only `std` and `rumor` may be used.
//!
//! Layout: a header (seed, flags, caps, period, listen address, bootstrap
//! peers), then ops until the input ends. Reading past the end gives zeros,
//! so every byte string is a valid script. The parts: the ops
//! (`ops.rs`), the outputs and the invariants checked after each step
//! (`checks.rs`), the broadcast's own rules (`ledger.rs`: what was printed
//! against what arrived), and the script writer (`script.rs`).
//!
//! The header's flag byte: bit 0 an IPv6 listen address, bit 1 a network
//! key (raw peers then never get past the key handshake: nothing of theirs
//! may be printed or relayed, and no peer ever joins), bits 2-3 a small
//! passive view (0: the default).

mod checks;
mod ledger;
mod ops;
mod script;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rumor::keyring::{Key, KeyRing};
use rumor::node::{Config, ConnId, Node};
use rumor::text::{self, REPLY};
use rumor::wire::{Frame, GoodbyeReason};

use ledger::Ledger;
pub use script::{Header, Script};

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
    pub(super) data: &'a [u8],
}

impl Cursor<'_> {
    pub(super) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    pub(super) fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    pub(super) fn u32(&mut self) -> u32 {
        (u32::from(self.u16()) << 16) | u32::from(self.u16())
    }
    pub(super) fn u64(&mut self) -> u64 {
        (u64::from(self.u16()) << 48)
            | (u64::from(self.u16()) << 32)
            | (u64::from(self.u16()) << 16)
            | u64::from(self.u16())
    }
    pub(super) fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
    /// An address: a pool index below 0xf0, else a literal one.
    pub(super) fn addr(&mut self) -> SocketAddr {
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
    pub(super) fn node_id(&mut self, own: u64) -> u64 {
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
    /// Version 2's broadcast: GOSSIP (origin id, seq, hops, origin
    /// address, a tagged payload), IHAVE, GRAFT, PRUNE.
    pub const GOSSIP: u8 = 17;
    pub const IHAVE: u8 = 18;
    pub const GRAFT: u8 = 19;
    pub const PRUNE: u8 = 20;
    /// Version 2's overlay: FORWARD_JOIN, SHUFFLE and SHUFFLE_REPLY.
    pub const FORWARD_JOIN: u8 = 21;
    pub const SHUFFLE: u8 = 22;
    pub const COUNT: u8 = 23;
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
    /// GOSSIP frames handed to the node, and those it printed.
    pub gossip_offered: usize,
    pub gossip_printed: usize,
    /// Overlay frames (types 8 to 14) the node sent.
    pub overlay_sent: usize,
    /// Peers the node let go with GOODBYE "replaced" (room made).
    pub replaced: usize,
    /// The most ids the broadcast tree held as missing, and payloads it
    /// held in its cache, at once.
    pub max_missing_seen: usize,
    pub max_cached_seen: usize,
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
    /// Run with a network key: raw peers never get a session.
    keyed: bool,
    /// Entropy handed out for key handshakes so far.
    entropy: u64,
    seed: u64,
    /// The last step that was not time passing (an input of any kind).
    last_input: Instant,
    /// What the peers' GOSSIP carried and what the node printed.
    ledger: Ledger,
    /// `Received` events so far, and the node's count of them.
    received: u64,
    printed_count: u64,
}

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// Runs one script; panics when an invariant fails.
pub fn run(data: &[u8]) -> Summary {
    let mut c = Cursor { data };
    let seed = c.u64();
    let flags = c.u8();
    let own = listen_addr(flags & 1 == 1);
    let keyed = flags & 2 != 0;
    let mut cfg = Config::new(own);
    if keyed {
        let ring = KeyRing::new(vec![Key([0x5a; 32])]).expect("a ring of one key");
        cfg.key = Some(ring);
    }
    // A small passive view so its replacement rule runs (0: the default).
    if flags >> 2 & 3 != 0 {
        cfg.max_passive = usize::from(flags >> 2 & 3);
    }
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
    let own_id = node.id();
    if node.needs_entropy() {
        node.give_entropy(entropy(seed, 0));
    }
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
        keyed,
        entropy: 0,
        seed,
        last_input: now,
        ledger: Ledger::new(own_id),
        received: 0,
        printed_count: 0,
    };
    d.drain();
    d.check();
    while !c.data.is_empty() {
        d.give_entropy();
        d.step(&mut c);
        d.drain();
        d.check();
        d.summary.steps += 1;
    }
    d.summary.messages_received = d.node.stats().messages_received;
    d.summary.messages_sent = d.node.stats().messages_sent;
    d.summary
}

/// Seeded bytes for a key handshake.
fn entropy(seed: u64, n: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut x = seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for chunk in out.chunks_mut(8) {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        chunk.copy_from_slice(&x.to_be_bytes());
    }
    out
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

    /// Keyed: entropy for the next handshake, whenever the node has used
    /// the last.
    fn give_entropy(&mut self) {
        if self.node.needs_entropy() {
            self.entropy += 1;
            self.node.give_entropy(entropy(self.seed, self.entropy));
        }
    }
}

/// The reason the decoder gives for a goodbye code (asked of the decoder
/// itself, so the two never differ).
pub fn goodbye(code: u8) -> GoodbyeReason {
    match rumor::wire::decode(&[0, 0, 0, 2, 5, code]) {
        Ok(rumor::wire::Status::Complete((Frame::Goodbye(r), _))) => r,
        other => panic!("a goodbye frame decodes as {other:?}"),
    }
}
