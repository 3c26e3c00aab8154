//! The sans-IO protocol core.
//!
//! [`Node`] is a pure state machine. Inputs arrive through `handle_*` methods,
//! each given `now`; outputs (bytes to send, dials, closes, log lines) are
//! taken with [`Node::poll_output`], and [`Node::poll_timeout`] says when
//! [`Node::handle_timeout`] is next due. It never reads the clock, never does
//! I/O and draws randomness only from the seed it was given, so the same
//! inputs always give the same outputs.
//!
//! Connections are named by [`ConnId`]s the core hands out; the driver (the
//! mio shell, or the simulator) maps them to sockets.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::wheel::Wheel;
use crate::wire::{self, DecodeError, Frame, GoodbyeReason, Hello, MAX_PAYLOAD, NodeId, PeerEntry};

/// Every limit and timeout of a node. [`Config::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// The address this node listens on (its port is the real one).
    pub listen: SocketAddr,
    /// How often to send a random message; `None` sends none.
    pub period: Option<Duration>,
    /// Peers to join through.
    pub bootstrap: Vec<SocketAddr>,
    /// Send a keepalive after this long without sending anything.
    pub keepalive_interval: Duration,
    /// Drop a peer heard nothing from for this long.
    pub keepalive_timeout: Duration,
    /// Close a connection whose handshake is not done in this long.
    pub handshake_timeout: Duration,
    /// Most established peers.
    pub max_peers: usize,
    /// Most connections still in their handshake; a new one over it closes
    /// the oldest inbound one. Dials take at most half of these, so joins
    /// always find room.
    pub max_pending: usize,
    /// Most remembered peer addresses.
    pub max_known: usize,
    /// Most entries taken from one peer list.
    pub max_list_take: usize,
    /// Most bytes queued for one peer; a message that would go over it is
    /// not sent to that peer (and counted).
    pub max_unsent: usize,
    /// Most bytes queued for all peers together. Over it, a peer with
    /// anything still queued gets no new message, and stdin waits while the
    /// total is over half of it: many slow peers cannot add up to more.
    pub max_unsent_total: usize,
    /// A peer whose queue stays over half of `max_unsent` this long is
    /// disconnected as too slow.
    pub slow_timeout: Duration,
    /// First redial delay; it doubles per failure up to `redial_max`.
    pub redial_min: Duration,
    pub redial_max: Duration,
    /// Redials of a lost (not bootstrap) peer before it is forgotten.
    pub redial_attempts: u32,
    /// How long to wait for an announced newcomer to dial before dialing it.
    pub announce_grace: Duration,
    /// Longest stdin line (bytes, without the newline).
    pub max_line: usize,
}

impl Config {
    pub fn new(listen: SocketAddr) -> Self {
        Config {
            listen,
            period: Some(Duration::from_secs(5)),
            bootstrap: Vec::new(),
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(3),
            max_peers: 512,
            max_pending: 64,
            max_known: 1024,
            max_list_take: 1024,
            max_unsent: 4 << 20,
            max_unsent_total: 64 << 20,
            slow_timeout: Duration::from_secs(5),
            redial_min: Duration::from_millis(250),
            redial_max: Duration::from_secs(10),
            redial_attempts: 8,
            announce_grace: Duration::from_secs(1),
            max_line: MAX_PAYLOAD,
        }
    }
}

/// A connection handle. The generation makes a reused index a new id, so a
/// stale event for a closed connection can never reach its successor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub index: u32,
    pub generation: u32,
}

/// What the driver must do, taken from [`Node::poll_output`].
#[derive(Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// Queue these bytes on the connection; then report them written with
    /// [`Node::handle_written`].
    Send { conn: ConnId, bytes: &'a [u8] },
    /// Open a connection to `addr`; report [`Node::handle_connected`] or
    /// [`Node::handle_closed`].
    Dial { conn: ConnId, addr: SocketAddr },
    /// Flush what is queued on the connection if it can, then close it. The
    /// core has forgotten it already: report nothing more about it.
    Close { conn: ConnId },
    /// A line for stdout, newline included.
    Log(&'a str),
    /// A line for stderr, newline included.
    Diag(&'a str),
}

/// Why the driver closed a connection.
#[derive(Debug)]
pub enum Closed<'a> {
    /// The peer closed its end.
    Eof,
    /// A socket error (including a failed connect).
    Io(&'a std::io::Error),
    /// The peer sent bytes that are not a frame.
    Protocol(DecodeError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Outbound, waiting for the TCP connect.
    Connecting,
    /// Our hello is sent; waiting for theirs.
    Handshaking,
    /// An established peer.
    Active,
    /// A duplicate being wound down: no new sends, messages still delivered,
    /// closed when the peer's goodbye arrives.
    Retiring,
}

#[derive(Debug)]
struct Conn {
    outbound: bool,
    /// The socket's remote address (inbound) or the address dialed.
    remote: SocketAddr,
    state: State,
    /// When the current state began (for handshake and retire deadlines).
    since: Instant,
    peer_id: NodeId,
    /// The peer's listening address, once known.
    listen: Option<SocketAddr>,
    /// `"ip:port"` with the quotes, as printed.
    name: String,
    got_peer_list: bool,
    /// Made because a peer list named the address (ours or, by its hello
    /// flag, theirs): the mesh knows this peer already, so it is not
    /// announced.
    listed: bool,
    last_rx: Instant,
    last_tx: Instant,
    unsent: usize,
    congested_since: Option<Instant>,
    dropped: u64,
    /// The earliest conn timer pending; later ones are stale.
    armed_at: Option<Instant>,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

#[derive(Debug, Default)]
struct Known {
    node_id: Option<NodeId>,
    /// A connection (being dialed or established) that reaches this address.
    conn: Option<ConnId>,
    bootstrap: bool,
    /// Worth dialing again when a dial fails: it was a peer, or we were told
    /// of it.
    wanted: bool,
    /// Learned from a peer list and not yet connected.
    listed: bool,
    failures: u32,
    retry_at: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Period,
    Conn(ConnId),
    Dial(SocketAddr),
    Join,
}

#[derive(Debug)]
struct Join {
    /// Addresses from the welcome list not yet connected or given up on.
    awaiting: HashSet<SocketAddr>,
    /// A first peer list has come from an established peer (the bootstrap,
    /// or any peer that reached us first).
    welcomed: bool,
    /// The fallback deadline is set: the join ends `handshake_timeout` after
    /// the first peer is established, welcome or not.
    deadline_set: bool,
}

#[derive(Debug)]
enum Pending {
    Send(ConnId, u32, u32),
    Dial(ConnId, SocketAddr),
    Close(ConnId),
    Log(u32, u32),
    Diag(u32, u32),
}

/// Counters a driver or test can read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Message copies not sent to a peer because its queue was full.
    pub messages_dropped: u64,
    pub peers_refused: u64,
}

/// The protocol state machine of one node.
#[derive(Debug)]
pub struct Node {
    cfg: Config,
    id: NodeId,
    rng: fastrand::Rng,
    start: Instant,
    slots: Vec<Slot>,
    free: Vec<u32>,
    n_conns: usize,
    /// Established peers by node id.
    peers: HashMap<NodeId, ConnId>,
    /// Established peers, sorted by listening address.
    active: Vec<ConnId>,
    /// The printed list of `active`, rebuilt when it changes.
    active_names: String,
    /// Bytes queued for all connections together.
    unsent_total: usize,
    /// Peers whose queue is over half of `max_unsent`.
    congested: usize,
    known: HashMap<SocketAddr, Known>,
    self_addrs: HashSet<SocketAddr>,
    wheel: Wheel<Timer>,
    expired: Vec<Timer>,
    join: Option<Join>,
    queue: VecDeque<Pending>,
    tx: Vec<u8>,
    text: String,
    line: Vec<u8>,
    line_overflow: usize,
    stamp_secs: u64,
    stamp: String,
    last_refusal_note: Option<Instant>,
    shutting_down: bool,
    stats: Stats,
    period_at: Option<Instant>,
    sent_mask: Vec<bool>,
    /// Addresses waiting for a free dial slot, oldest first (at most
    /// `max_known`).
    dial_queue: VecDeque<SocketAddr>,
}

const WORDS_A: &[&str] = &[
    "amber", "brave", "calm", "dusty", "eager", "fuzzy", "gentle", "hollow", "icy", "jolly",
    "keen", "lucky", "misty", "noble", "odd", "proud", "quiet", "rapid", "shy", "tidy", "urban",
    "vivid", "witty", "young", "zesty",
];
const WORDS_B: &[&str] = &[
    "otter", "falcon", "maple", "river", "comet", "badger", "lantern", "meadow", "pebble",
    "harbor", "thistle", "walrus", "canyon", "ember", "willow", "kettle", "orchid", "quartz",
    "raven", "sparrow", "tundra", "violet", "yak", "zephyr", "bison",
];

impl Node {
    /// A node with the given config, random seed and start time. Call
    /// [`Node::handle_start`] next.
    pub fn new(cfg: Config, seed: u64, now: Instant) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let id = rng.u64(1..);
        Node {
            cfg,
            id,
            rng,
            start: now,
            slots: Vec::new(),
            free: Vec::new(),
            n_conns: 0,
            peers: HashMap::new(),
            active: Vec::new(),
            active_names: "[]".to_string(),
            unsent_total: 0,
            congested: 0,
            known: HashMap::new(),
            self_addrs: HashSet::new(),
            wheel: Wheel::new(now),
            expired: Vec::new(),
            join: None,
            queue: VecDeque::new(),
            tx: Vec::new(),
            text: String::new(),
            line: Vec::new(),
            line_overflow: 0,
            stamp_secs: u64::MAX,
            stamp: String::new(),
            last_refusal_note: None,
            shutting_down: false,
            stats: Stats::default(),
            period_at: None,
            sent_mask: Vec::new(),
            dial_queue: VecDeque::new(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of established peers.
    pub fn peer_count(&self) -> usize {
        self.active.len()
    }

    /// Listening addresses of the established peers, sorted.
    pub fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.active
            .iter()
            .filter_map(|&c| self.conn(c).and_then(|c| c.listen))
            .collect()
    }

    /// Number of open connections of any state.
    pub fn conn_count(&self) -> usize {
        self.n_conns
    }

    /// Number of remembered peer addresses.
    pub fn known_count(&self) -> usize {
        self.known.len()
    }

    /// Whether `addr` is among the remembered peer addresses.
    pub fn knows(&self, addr: SocketAddr) -> bool {
        self.known.contains_key(&addr)
    }

    /// Bytes queued for all connections together.
    pub fn unsent_total(&self) -> usize {
        self.unsent_total
    }

    /// Bytes queued for `conn` and not yet reported written.
    pub fn unsent(&self, conn: ConnId) -> Option<usize> {
        self.conn(conn).map(|c| c.unsent)
    }

    /// Whether the driver should read more of stdin: false while a peer's
    /// queue is over half full, so a fast stdin waits instead of losing lines.
    /// Nor while a node started with bootstrap peers is still joining, so
    /// lines piped in at start wait for the peers instead of going nowhere.
    pub fn wants_stdin(&self) -> bool {
        self.congested == 0
            && self.unsent_total <= self.cfg.max_unsent_total / 2
            && !self.shutting_down
            && self.join.is_none()
    }

    /// Whether any listed address is one of this node's own.
    pub fn is_self_addr(&self, addr: SocketAddr) -> bool {
        addr == self.cfg.listen || self.self_addrs.contains(&addr)
    }

    // ---- inputs -------------------------------------------------------

    /// Prints the node's address, dials the bootstrap peers and starts the
    /// period timer.
    pub fn handle_start(&mut self, now: Instant) {
        let me = self.cfg.listen;
        self.log(now, format_args!("My address is \"{me}\""));
        if let Some(p) = self.cfg.period {
            self.period_at = Some(now + p);
            self.wheel.insert(now + p, Timer::Period);
        }
        let boots = self.cfg.bootstrap.clone();
        if boots.iter().any(|&a| !self.is_self_addr(a)) {
            self.join = Some(Join {
                awaiting: HashSet::new(),
                welcomed: false,
                deadline_set: false,
            });
        }
        for addr in boots {
            if self.is_self_addr(addr) {
                self.diag(format_args!(
                    "not joining through {addr}: that is this node"
                ));
                continue;
            }
            let k = self.known.entry(addr).or_default();
            k.bootstrap = true;
            self.dial(addr, now);
        }
    }

    /// A connection was accepted from `remote`. Returns its id, or `None`
    /// when the node is at its connection cap: the driver then closes the
    /// socket at once.
    pub fn handle_accepted(&mut self, remote: SocketAddr, now: Instant) -> Option<ConnId> {
        if self.shutting_down {
            return None;
        }
        if self.pending_count() >= self.cfg.max_pending && !self.evict_handshake(now) {
            return self.refuse(remote, now, false);
        }
        if self.n_conns >= self.conn_cap() {
            return self.refuse(remote, now, false);
        }
        let id = self.alloc(Conn::new(false, remote, State::Handshaking, now));
        self.send_hello(id, now);
        self.arm(id, now);
        Some(id)
    }

    /// Like [`Node::handle_accepted`], for a connection the driver could
    /// only accept with its spare descriptor: the process has none left. The
    /// oldest inbound handshake is closed to make room for it; if there is
    /// none, it is refused (`None`) and the driver closes it at once.
    pub fn handle_accepted_spare(&mut self, remote: SocketAddr, now: Instant) -> Option<ConnId> {
        if self.shutting_down || !self.evict_handshake(now) {
            return self.refuse(remote, now, true);
        }
        self.handle_accepted(remote, now)
    }

    /// Closes the oldest inbound connection still in its handshake, to make
    /// room for a new one. Honest peers finish theirs in a round trip, so
    /// only idle ones are old. False if there is none.
    fn evict_handshake(&mut self, now: Instant) -> bool {
        let oldest = self
            .iter_conns()
            .filter(|(_, c)| !c.outbound && c.state == State::Handshaking)
            .min_by_key(|(_, c)| c.since)
            .map(|(id, _)| id);
        match oldest {
            Some(id) => {
                self.close(id, now, Why::Evicted);
                true
            }
            None => false,
        }
    }

    /// An outbound connection finished connecting.
    pub fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conn_mut(conn) else { return };
        if c.state != State::Connecting {
            return;
        }
        c.state = State::Handshaking;
        self.send_hello(conn, now);
    }

    /// The driver reports `n` bytes of `conn`'s queue written to the socket.
    pub fn handle_written(&mut self, conn: ConnId, n: usize) {
        let half = self.cfg.max_unsent / 2;
        let Some(c) = self.conn_mut(conn) else { return };
        let n = n.min(c.unsent);
        c.unsent -= n;
        self.unsent_total -= n;
        let Some(c) = self.conn_mut(conn) else { return };
        // Control frames can take the queue over half without marking it
        // congested: only a marked queue is counted.
        if c.unsent <= half && c.congested_since.take().is_some() {
            self.congested -= 1;
        }
    }

    /// A frame arrived on `conn`. Returns false if the connection is now
    /// closed (the driver should stop feeding it).
    pub fn handle_frame(&mut self, conn: ConnId, frame: Frame<'_>, now: Instant) -> bool {
        let Some(c) = self.conn_mut(conn) else {
            return false;
        };
        c.last_rx = now;
        match (c.state, frame) {
            (State::Handshaking, Frame::Hello(h)) => self.on_hello(conn, h, now),
            (State::Active | State::Retiring, Frame::Message { payload, .. }) => {
                let name = std::mem::take(&mut c.name);
                self.stats.messages_received += 1;
                self.log_with(now, |s| {
                    s.push_str("Received message [");
                    push_escaped(s, payload);
                    s.push_str("] from ");
                    s.push_str(&name);
                });
                if let Some(c) = self.conn_mut(conn) {
                    c.name = name;
                }
                true
            }
            // A retiring connection is one of two to the same proven peer;
            // its welcome may have gone out on either.
            (State::Active | State::Retiring, Frame::Peers(entries)) => {
                self.on_peers(conn, &entries, now);
                true
            }
            (State::Active | State::Retiring, Frame::Keepalive) => true,
            (state @ (State::Active | State::Retiring), Frame::Goodbye(reason)) => {
                let why = match reason {
                    GoodbyeReason::Shutdown => Why::Left,
                    GoodbyeReason::Duplicate if state == State::Active => Why::Disowned,
                    GoodbyeReason::Duplicate => Why::Duplicate,
                    GoodbyeReason::Other(_) => Why::Left,
                };
                self.close(conn, now, why);
                false
            }
            (state, frame) => {
                let what = frame_name(&frame);
                let when = match state {
                    State::Active | State::Retiring => "after the handshake",
                    _ => "before the handshake",
                };
                self.close(conn, now, Why::Unexpected(what, when));
                false
            }
        }
    }

    /// The driver closed `conn` (end of stream, socket error, bad bytes).
    pub fn handle_closed(&mut self, conn: ConnId, why: Closed<'_>, now: Instant) {
        let why = match why {
            Closed::Eof => Why::Eof,
            Closed::Io(e) => Why::Io(describe(e)),
            Closed::Protocol(e) => Why::Protocol(e),
        };
        self.drop_conn(conn, now, why);
    }

    /// Bytes read from stdin. Each complete line is broadcast.
    pub fn handle_stdin(&mut self, mut data: &[u8], now: Instant) {
        while let Some(nl) = find_newline(data) {
            let (head, rest) = (&data[..nl], &data[nl + 1..]);
            if self.line.is_empty() && self.line_overflow == 0 {
                self.stdin_line(head, now);
            } else {
                self.push_line_bytes(head);
                let line = std::mem::take(&mut self.line);
                self.stdin_line(&line, now);
                self.line = line;
                self.line.clear();
            }
            data = rest;
        }
        self.push_line_bytes(data);
    }

    /// stdin reached its end: a last line without a newline still goes out.
    pub fn handle_stdin_closed(&mut self, now: Instant) {
        if !self.line.is_empty() || self.line_overflow > 0 {
            let line = std::mem::take(&mut self.line);
            self.stdin_line(&line, now);
        }
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.expired);
        self.wheel.expire(now, &mut due);
        for t in due.drain(..) {
            match t {
                Timer::Period => self.on_period(now),
                Timer::Conn(id) => self.on_conn_timer(id, now),
                Timer::Dial(addr) => self.on_dial_timer(addr, now),
                Timer::Join => self.finish_join(now, true),
            }
        }
        self.expired = due;
    }

    /// Says goodbye to every peer and closes every connection. Inputs after
    /// this are ignored.
    pub fn handle_shutdown(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        let ids: Vec<ConnId> = self.iter_conns().map(|(id, _)| id).collect();
        for id in ids {
            if matches!(
                self.conn(id).map(|c| c.state),
                Some(State::Active | State::Handshaking)
            ) {
                self.send_frame(id, &Frame::Goodbye(GoodbyeReason::Shutdown), now);
            }
            self.close(id, now, Why::Shutdown);
        }
    }

    // ---- outputs ------------------------------------------------------

    /// The next thing for the driver to do, if any.
    pub fn poll_output(&mut self) -> Option<Output<'_>> {
        let Some(p) = self.queue.pop_front() else {
            self.tx.clear();
            self.text.clear();
            return None;
        };
        Some(match p {
            Pending::Send(conn, a, b) => Output::Send {
                conn,
                bytes: &self.tx[a as usize..b as usize],
            },
            Pending::Dial(conn, addr) => Output::Dial { conn, addr },
            Pending::Close(conn) => Output::Close { conn },
            Pending::Log(a, b) => Output::Log(&self.text[a as usize..b as usize]),
            Pending::Diag(a, b) => Output::Diag(&self.text[a as usize..b as usize]),
        })
    }

    /// When [`Node::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wheel.next_deadline()
    }

    // ---- connection table ---------------------------------------------

    fn conn(&self, id: ConnId) -> Option<&Conn> {
        let s = self.slots.get(id.index as usize)?;
        if s.generation != id.generation {
            return None;
        }
        s.conn.as_ref()
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let s = self.slots.get_mut(id.index as usize)?;
        if s.generation != id.generation {
            return None;
        }
        s.conn.as_mut()
    }

    fn iter_conns(&self) -> impl Iterator<Item = (ConnId, &Conn)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.conn.as_ref().map(|c| {
                (
                    ConnId {
                        index: i as u32,
                        generation: s.generation,
                    },
                    c,
                )
            })
        })
    }

    fn conn_cap(&self) -> usize {
        self.cfg.max_peers + self.cfg.max_pending
    }

    fn pending_count(&self) -> usize {
        self.n_conns - self.active.len()
    }

    /// Outbound connections not yet established.
    fn dialing_count(&self) -> usize {
        self.iter_conns()
            .filter(|(_, c)| {
                c.outbound && matches!(c.state, State::Connecting | State::Handshaking)
            })
            .count()
    }

    fn alloc(&mut self, conn: Conn) -> ConnId {
        self.n_conns += 1;
        if let Some(i) = self.free.pop() {
            let s = &mut self.slots[i as usize];
            s.conn = Some(conn);
            ConnId {
                index: i,
                generation: s.generation,
            }
        } else {
            self.slots.push(Slot {
                generation: 0,
                conn: Some(conn),
            });
            ConnId {
                index: self.slots.len() as u32 - 1,
                generation: 0,
            }
        }
    }

    fn release(&mut self, id: ConnId) -> Option<Conn> {
        let s = self.slots.get_mut(id.index as usize)?;
        if s.generation != id.generation {
            return None;
        }
        let c = s.conn.take()?;
        s.generation = s.generation.wrapping_add(1);
        self.free.push(id.index);
        self.n_conns -= 1;
        Some(c)
    }

    /// Turns an inbound connection away, noting it at most once a second.
    fn refuse(&mut self, remote: SocketAddr, now: Instant, no_fds: bool) -> Option<ConnId> {
        self.stats.peers_refused += 1;
        let quiet = self
            .last_refusal_note
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1));
        if !quiet {
            self.last_refusal_note = Some(now);
            let cap = self.conn_cap();
            if no_fds {
                self.diag(format_args!(
                    "refusing connection from {remote}: out of file descriptors"
                ));
            } else {
                self.diag(format_args!(
                    "refusing connection from {remote}: at the limit of {cap} connections"
                ));
            }
        }
        None
    }

    // ---- handshake ----------------------------------------------------

    fn send_hello(&mut self, id: ConnId, now: Instant) {
        let hello = Frame::Hello(Hello {
            version: wire::VERSION,
            flags: if self.conn(id).is_some_and(|c| c.outbound && c.listed) {
                wire::FLAG_LISTED
            } else {
                0
            },
            node_id: self.id,
            listen_port: self.cfg.listen.port(),
        });
        if let Some(c) = self.conn_mut(id) {
            c.since = now;
        }
        self.send_frame(id, &hello, now);
    }

    fn on_hello(&mut self, id: ConnId, h: Hello, now: Instant) -> bool {
        let Some(c) = self.conn_mut(id) else {
            return false;
        };
        let (outbound, remote) = (c.outbound, c.remote);
        if !outbound && h.flags & wire::FLAG_LISTED != 0 {
            c.listed = true;
        }
        if h.node_id == self.id {
            // We dialed ourselves (our own address came back under another
            // name). Remember the address and never dial it again.
            if outbound {
                if self.self_addrs.len() < self.cfg.max_known {
                    self.self_addrs.insert(remote);
                }
                self.known.remove(&remote);
                // Joining through nobody but ourselves: we are the first node.
                if self.active.is_empty()
                    && self.join.as_ref().is_some_and(|j| !j.welcomed)
                    && !self.known.values().any(|k| k.bootstrap)
                {
                    self.join = None;
                }
            }
            self.close(id, now, Why::SelfConnect);
            return false;
        }
        if h.listen_port == 0 {
            self.close(id, now, Why::NoPort);
            return false;
        }
        let listen = if outbound {
            remote
        } else {
            SocketAddr::new(remote.ip(), h.listen_port)
        };
        if self.is_self_addr(listen) {
            // Another node claims to listen on our own address: listing it
            // would make us a peer of ourselves.
            self.close(id, now, Why::SelfConnect);
            return false;
        }
        if let Some(&other) = self.peers.get(&h.node_id)
            && let Some(at) = self.conn(other).and_then(|c| c.listen)
            && at != listen
        {
            // Node ids are public (peer lists carry them): a hello reusing a
            // connected peer's id from another address never displaces it.
            if outbound
                && let Some(k) = self.known.get(&remote)
                && !k.bootstrap
            {
                self.known.remove(&remote);
            }
            self.close(id, now, Why::IdElsewhere(at));
            return false;
        }
        if let Some(&other) = self.peers.get(&h.node_id) {
            // Two connections between the same pair. Both ends keep the one
            // dialed by the smaller node id (the newer one if the same node
            // dialed both) and wind the other down gracefully.
            let dialer = |out: bool| if out { self.id } else { h.node_id };
            let other_dialer = dialer(self.conn(other).is_some_and(|c| c.outbound));
            let keep_new = dialer(outbound) <= other_dialer;
            let (keep, retire) = if keep_new { (id, other) } else { (other, id) };
            // The peer's welcome counts once, whichever connection it came on.
            if self.conn(retire).is_some_and(|c| c.got_peer_list)
                && let Some(c) = self.conn_mut(keep)
            {
                c.got_peer_list = true;
            }
            if keep_new {
                self.retire(retire, now);
                self.promote(keep, h.node_id, listen, now, false);
            } else {
                if let Some(c) = self.conn_mut(id) {
                    c.peer_id = h.node_id;
                    c.listen = Some(listen);
                    c.name = quote(listen);
                }
                self.retire(retire, now);
            }
            return true;
        }
        if self.active.len() >= self.cfg.max_peers {
            self.close(id, now, Why::Full);
            return false;
        }
        self.promote(id, h.node_id, listen, now, true);
        true
    }

    /// Makes `id` the established connection to `node_id`.
    fn promote(
        &mut self,
        id: ConnId,
        node_id: NodeId,
        listen: SocketAddr,
        now: Instant,
        new: bool,
    ) {
        let Some(c) = self.conn_mut(id) else { return };
        let outbound_done = c.outbound && c.state == State::Handshaking;
        c.state = State::Active;
        c.since = now;
        c.peer_id = node_id;
        c.listen = Some(listen);
        c.name = quote(listen);
        self.peers.insert(node_id, id);
        let pos = self
            .active
            .partition_point(|&o| self.conn(o).and_then(|c| c.listen) < Some(listen));
        self.active.insert(pos, id);
        self.rebuild_names();
        // An outbound peer's address is known unless it was forgotten while
        // the dial was under way: then it too must fit under the cap.
        if self.known.len() >= self.cfg.max_known && !self.known.contains_key(&listen) {
            self.evict_known();
        }
        if self.known.len() < self.cfg.max_known || self.known.contains_key(&listen) {
            let k = self.known.entry(listen).or_default();
            k.node_id = Some(node_id);
            k.conn = Some(id);
            k.failures = 0;
            k.retry_at = None;
            k.wanted = true;
            // If this peer is lost and redialed, the mesh may have lost it
            // too: that reconnection is announced.
            k.listed = false;
        }
        self.arm(id, now);
        if outbound_done {
            self.dial_next(now);
        }
        if !new {
            return;
        }
        // Welcome the peer with everyone else we know, and tell everyone
        // else about it.
        let others: Vec<PeerEntry> = self
            .active
            .iter()
            .filter(|&&o| o != id)
            .filter_map(|&o| {
                let c = self.conn(o)?;
                Some(PeerEntry {
                    node_id: c.peer_id,
                    addr: c.listen?,
                })
            })
            .collect();
        self.send_frame(id, &Frame::Peers(others), now);
        let me = [PeerEntry {
            node_id,
            addr: listen,
        }];
        let a = self.tx.len();
        wire::encode_peers(&mut self.tx, &me);
        let b = self.tx.len();
        // A peer reached through a peer list is known to the mesh already;
        // announcing it again would cost every member a frame per join.
        let listed = self.conn(id).is_some_and(|c| c.listed);
        let targets: Vec<ConnId> = if listed {
            Vec::new()
        } else {
            self.active.iter().copied().filter(|&o| o != id).collect()
        };
        for o in targets {
            self.enqueue(o, a, b, now, false);
        }
        match &mut self.join {
            Some(j) => {
                j.awaiting.remove(&listen);
                if !j.deadline_set {
                    j.deadline_set = true;
                    let at = now + self.cfg.handshake_timeout;
                    self.wheel.insert(at, Timer::Join);
                }
                self.finish_join(now, false);
            }
            None => {
                let name = quote(listen);
                self.log(now, format_args!("Connected to the peer at {name}"));
            }
        }
    }

    fn retire(&mut self, id: ConnId, now: Instant) {
        let Some(c) = self.conn(id) else { return };
        if c.state == State::Active {
            self.unlist(id);
        }
        self.send_frame(id, &Frame::Goodbye(GoodbyeReason::Duplicate), now);
        if let Some(c) = self.conn_mut(id) {
            c.state = State::Retiring;
            c.since = now;
        }
        self.arm(id, now);
    }

    /// Takes an active connection out of the peer tables.
    fn unlist(&mut self, id: ConnId) {
        let Some(c) = self.conn(id) else { return };
        let (peer_id, listen) = (c.peer_id, c.listen);
        if self.peers.get(&peer_id) == Some(&id) {
            self.peers.remove(&peer_id);
        }
        self.active.retain(|&o| o != id);
        self.rebuild_names();
        if let Some(k) = listen.and_then(|l| self.known.get_mut(&l))
            && k.conn == Some(id)
        {
            k.conn = None;
        }
    }

    fn rebuild_names(&mut self) {
        let mut s = String::from("[");
        for (i, &id) in self.active.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            if let Some(c) = self.conn(id) {
                s.push_str(&c.name);
            }
        }
        s.push(']');
        self.active_names = s;
    }

    // ---- peer lists and dialing ---------------------------------------

    fn on_peers(&mut self, from: ConnId, entries: &[PeerEntry], now: Instant) {
        let Some(c) = self.conn_mut(from) else { return };
        let welcome = !c.got_peer_list;
        c.got_peer_list = true;
        let (retiring, peer_id) = (c.state == State::Retiring, c.peer_id);
        if retiring
            && let Some(&kept) = self.peers.get(&peer_id)
            && let Some(k) = self.conn_mut(kept)
        {
            k.got_peer_list = true;
        }
        // The first welcome from any established peer ends the wait for the
        // bootstrap's: with two nodes bootstrapping off each other, or a
        // bootstrap that is down while someone joins through us, the
        // bootstrap's own welcome may never come.
        let from_bootstrap = welcome && self.join.as_ref().is_some_and(|j| !j.welcomed);
        for e in entries.iter().take(self.cfg.max_list_take) {
            if !self.acceptable(e) {
                continue;
            }
            if !self.known.contains_key(&e.addr) {
                if self.known.len() >= self.cfg.max_known {
                    continue;
                }
                self.known.insert(e.addr, Known::default());
            }
            let Some(k) = self.known.get_mut(&e.addr) else {
                continue;
            };
            k.node_id = Some(e.node_id);
            k.wanted = true;
            k.listed = true;
            if welcome {
                if from_bootstrap && let Some(j) = &mut self.join {
                    j.awaiting.insert(e.addr);
                }
                self.dial(e.addr, now);
            } else if k.conn.is_none() && k.retry_at.is_none() {
                // An announced newcomer dials us itself; dial it only if it
                // has not after a grace period.
                let at = now + self.cfg.announce_grace;
                k.retry_at = Some(at);
                self.wheel.insert(at, Timer::Dial(e.addr));
            }
        }
        if welcome && from_bootstrap {
            if let Some(j) = &mut self.join {
                j.welcomed = true;
            }
            let deadline = now + self.cfg.handshake_timeout;
            self.wheel.insert(deadline, Timer::Join);
            self.finish_join(now, false);
        }
    }

    /// Whether a peer list entry may be dialed at all.
    fn acceptable(&self, e: &PeerEntry) -> bool {
        // An IPv4-mapped IPv6 address is its IPv4 address.
        let ip = e.addr.ip().to_canonical();
        let bad_ip = ip.is_unspecified()
            || ip.is_multicast()
            || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
        !(bad_ip
            || e.addr.port() == 0
            || e.node_id == self.id
            || self.is_self_addr(e.addr)
            || self.is_self_addr(SocketAddr::new(ip, e.addr.port()))
            || self.peers.contains_key(&e.node_id))
    }

    fn dial(&mut self, addr: SocketAddr, now: Instant) {
        if self.shutting_down {
            return;
        }
        let Some(k) = self.known.get(&addr) else {
            return;
        };
        if k.conn.is_some() || k.node_id.is_some_and(|n| self.peers.contains_key(&n)) {
            return;
        }
        if self.n_conns >= self.conn_cap() || self.active.len() >= self.cfg.max_peers {
            return;
        }
        // One node listed under two addresses (it listens on every
        // interface) is dialed at one at a time; the other is tried later,
        // and skipped then if that node is connected.
        let listed_id = k.node_id;
        let same_node_dialing = listed_id.is_some_and(|n| {
            self.known
                .iter()
                .any(|(a, o)| *a != addr && o.node_id == Some(n) && o.conn.is_some())
        });
        if same_node_dialing || self.dialing_count() >= (self.cfg.max_pending / 2).max(1) {
            // Half the handshake slots stay free for inbound joins: a peer
            // list full of dead ends must not lock newcomers out. It is
            // dialed when a slot frees, or by the timer as a fallback.
            let at = now + self.cfg.redial_min;
            if let Some(k) = self.known.get_mut(&addr) {
                k.retry_at = Some(at);
            }
            self.wheel.insert(at, Timer::Dial(addr));
            if self.dial_queue.len() < self.cfg.max_known && !self.dial_queue.contains(&addr) {
                self.dial_queue.push_back(addr);
            }
            return;
        }
        let listed = self.known.get(&addr).is_some_and(|k| k.listed);
        let mut conn = Conn::new(true, addr, State::Connecting, now);
        conn.listed = listed;
        let id = self.alloc(conn);
        if let Some(k) = self.known.get_mut(&addr) {
            k.conn = Some(id);
            k.retry_at = None;
        }
        self.queue.push_back(Pending::Dial(id, addr));
        self.arm(id, now);
    }

    /// A dial slot freed: dial the oldest address still waiting for one.
    fn dial_next(&mut self, now: Instant) {
        while let Some(addr) = self.dial_queue.pop_front() {
            let waiting = self
                .known
                .get(&addr)
                .is_some_and(|k| k.conn.is_none() && k.retry_at.is_some());
            if waiting {
                self.dial(addr, now);
                return;
            }
        }
    }

    fn on_dial_timer(&mut self, addr: SocketAddr, now: Instant) {
        let Some(k) = self.known.get(&addr) else {
            return;
        };
        if k.retry_at.is_none_or(|t| t > now) {
            return;
        }
        let lost_everyone = self.active.is_empty();
        if k.bootstrap && !k.wanted && !lost_everyone {
            // A bootstrap address is only redialed while we have no peers.
            if let Some(k) = self.known.get_mut(&addr) {
                k.retry_at = None;
            }
            return;
        }
        self.dial(addr, now);
    }

    /// A dial to `addr` failed or an established peer there was lost.
    fn schedule_redial(&mut self, addr: SocketAddr, now: Instant, why: &Why) {
        let lost_everyone = self.active.is_empty();
        let Some(k) = self.known.get_mut(&addr) else {
            return;
        };
        k.failures = k.failures.saturating_add(1);
        let keep_bootstrap = k.bootstrap && lost_everyone;
        let keep_wanted = k.wanted && k.failures <= self.cfg.redial_attempts;
        if !(keep_bootstrap || keep_wanted) || self.shutting_down {
            if !k.bootstrap {
                self.known.remove(&addr);
            } else {
                k.retry_at = None;
            }
            return;
        }
        let exp = k.failures.saturating_sub(1).min(16);
        let base = self
            .cfg
            .redial_min
            .saturating_mul(1 << exp)
            .min(self.cfg.redial_max);
        // Full jitter over the upper half of the step.
        let delay = base / 2 + base.mul_f64(self.rng.f64() / 2.0);
        let at = now + delay;
        k.retry_at = Some(at);
        let (bootstrap, first) = (k.bootstrap, k.failures == 1);
        self.wheel.insert(at, Timer::Dial(addr));
        // A bootstrap is worth a line per try; any other address one line,
        // so a list of dead ends cannot flood stderr.
        if bootstrap || (first && matches!(why, Why::Io(_))) {
            self.diag(format_args!(
                "cannot reach {addr} ({}); retrying in {}ms",
                why.text(),
                delay.as_millis()
            ));
        }
    }

    fn evict_known(&mut self) {
        let victim = self
            .known
            .iter()
            .find(|(_, k)| k.conn.is_none() && !k.bootstrap)
            .map(|(a, _)| *a);
        if let Some(a) = victim {
            self.known.remove(&a);
        }
    }

    fn finish_join(&mut self, now: Instant, deadline: bool) {
        let Some(j) = &self.join else { return };
        // At the deadline, a join with a peer but no welcome ends too.
        let welcomed = j.welcomed || (deadline && !self.active.is_empty());
        if !welcomed || (!j.awaiting.is_empty() && !deadline) {
            return;
        }
        self.join = None;
        let names = self.active_names.clone();
        self.log(now, format_args!("Connected to the peers at {names}"));
    }

    // ---- timers -------------------------------------------------------

    /// Schedules `id`'s next check at its earliest deadline.
    fn arm(&mut self, id: ConnId, now: Instant) {
        let Some(c) = self.conn(id) else { return };
        let at = self.conn_deadline(c).max(now);
        if c.armed_at.is_none_or(|t| at < t) {
            self.wheel.insert(at, Timer::Conn(id));
            if let Some(c) = self.conn_mut(id) {
                c.armed_at = Some(at);
            }
        }
    }

    fn conn_deadline(&self, c: &Conn) -> Instant {
        let cfg = &self.cfg;
        match c.state {
            State::Connecting | State::Handshaking => c.since + cfg.handshake_timeout,
            State::Retiring => c.since + cfg.keepalive_timeout,
            State::Active => {
                let mut t =
                    (c.last_rx + cfg.keepalive_timeout).min(c.last_tx + cfg.keepalive_interval);
                if let Some(s) = c.congested_since {
                    t = t.min(s + cfg.slow_timeout);
                }
                t
            }
        }
    }

    fn on_conn_timer(&mut self, id: ConnId, now: Instant) {
        let Some(c) = self.conn_mut(id) else { return };
        if c.armed_at.is_none_or(|t| t > now) {
            // Superseded by an earlier timer that already re-armed.
            return;
        }
        c.armed_at = None;
        let Some(c) = self.conn(id) else { return };
        let cfg = &self.cfg;
        let why = match c.state {
            State::Connecting | State::Handshaking if now >= c.since + cfg.handshake_timeout => {
                Some(Why::HandshakeTimeout)
            }
            State::Retiring if now >= c.since + cfg.keepalive_timeout => Some(Why::Duplicate),
            State::Active if now >= c.last_rx + cfg.keepalive_timeout => Some(Why::Silent),
            State::Active
                if c.congested_since
                    .is_some_and(|s| now >= s + cfg.slow_timeout) =>
            {
                Some(Why::Slow(c.dropped))
            }
            _ => None,
        };
        if let Some(why) = why {
            self.close(id, now, why);
            return;
        }
        if c.state == State::Active && now >= c.last_tx + cfg.keepalive_interval {
            self.send_frame(id, &Frame::Keepalive, now);
        }
        self.arm(id, now);
    }

    fn on_period(&mut self, now: Instant) {
        let (Some(p), Some(at)) = (self.cfg.period, self.period_at) else {
            return;
        };
        // Keep to the start's rhythm; after a stall, skip what was missed.
        let mut next = at + p;
        if next <= now {
            next = now + p;
        }
        self.period_at = Some(next);
        self.wheel.insert(next, Timer::Period);
        if self.active.is_empty() || self.shutting_down {
            return;
        }
        let a = WORDS_A[self.rng.usize(..WORDS_A.len())];
        let b = WORDS_B[self.rng.usize(..WORDS_B.len())];
        let n = self.rng.u32(100..1000);
        let msg = format!("{a} {b} {n}");
        self.broadcast(msg.as_bytes(), now, false);
    }

    // ---- stdin and broadcast ------------------------------------------

    fn push_line_bytes(&mut self, bytes: &[u8]) {
        let room = self.cfg.max_line + 1 - self.line.len().min(self.cfg.max_line + 1);
        if self.line_overflow == 0 && bytes.len() <= room {
            self.line.extend_from_slice(bytes);
        } else {
            self.line_overflow += self.line.len() + bytes.len();
            self.line.clear();
        }
    }

    fn stdin_line(&mut self, line: &[u8], now: Instant) {
        let overflow = std::mem::take(&mut self.line_overflow);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if overflow > 0 || line.len() > self.cfg.max_line {
            let n = overflow + line.len();
            let max = self.cfg.max_line;
            self.diag(format_args!(
                "stdin line of {n} bytes is over the {max}-byte limit; not sent"
            ));
            return;
        }
        if line.is_empty() || self.shutting_down {
            return;
        }
        if self.active.is_empty() {
            self.diag(format_args!("no peers connected; line not sent"));
            return;
        }
        // The documented rule: stdin that is not UTF-8 is sent with each bad
        // sequence replaced by U+FFFD.
        match std::str::from_utf8(line) {
            Ok(text) => self.broadcast(text.as_bytes(), now, true),
            Err(_) => {
                let text = String::from_utf8_lossy(line).into_owned();
                self.broadcast(text.as_bytes(), now, true);
            }
        }
    }

    /// Sends `payload` to every established peer with room for it, and logs
    /// exactly the peers it went to. `stdin` lines may fill a queue to
    /// `max_unsent`, not just half: the driver stops reading stdin at half,
    /// so the rest of the chunk it already read waits instead of being lost.
    fn broadcast(&mut self, payload: &[u8], now: Instant, stdin: bool) {
        let id = self.rng.u64(..);
        let a = self.tx.len();
        wire::encode_message(&mut self.tx, id, 0, payload);
        let b = self.tx.len();
        let mut skipped = false;
        let mut mask = std::mem::take(&mut self.sent_mask);
        mask.clear();
        for i in 0..self.active.len() {
            let c = self.active[i];
            let sent = self.enqueue(c, a, b, now, stdin);
            mask.push(sent);
            if sent {
                self.stats.messages_sent += 1;
            } else {
                self.stats.messages_dropped += 1;
                skipped = true;
            }
        }
        let names = if skipped {
            let mut s = String::from("[");
            let sent = self.active.iter().zip(&mask).filter(|(_, sent)| **sent);
            for (i, (&id, _)) in sent.enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(self.conn(id).map_or("", |c| &c.name));
            }
            s.push(']');
            s
        } else {
            std::mem::take(&mut self.active_names)
        };
        self.log_with(now, |s| {
            s.push_str("Sending message [");
            push_escaped(s, payload);
            s.push_str("] to ");
            s.push_str(&names);
        });
        if !skipped {
            self.active_names = names;
        }
        self.sent_mask = mask;
    }

    /// Queues `tx[a..b]` on `id` if its queue has room; false if not.
    fn enqueue(&mut self, id: ConnId, a: usize, b: usize, now: Instant, stdin: bool) -> bool {
        let cap = self.cfg.max_unsent;
        let soft = if stdin { cap } else { cap / 2 };
        let len = b - a;
        let over_total = self.unsent_total + len > self.cfg.max_unsent_total;
        let Some(c) = self.conn_mut(id) else {
            return false;
        };
        if c.congested_since.is_some() && c.unsent + len > soft
            || c.unsent + len > cap
            || over_total && c.unsent > 0
        {
            c.dropped += 1;
            return false;
        }
        c.unsent += len;
        self.unsent_total += len;
        let Some(c) = self.conn_mut(id) else {
            return false;
        };
        c.last_tx = now;
        let newly = c.unsent > cap / 2 && c.congested_since.is_none();
        if newly {
            c.congested_since = Some(now);
            self.congested += 1;
            self.arm(id, now);
        }
        self.queue.push_back(Pending::Send(id, a as u32, b as u32));
        true
    }

    fn send_frame(&mut self, id: ConnId, f: &Frame<'_>, now: Instant) {
        let a = self.tx.len();
        f.encode(&mut self.tx);
        let b = self.tx.len();
        // Control frames are small and must not be lost to a full queue,
        // but they count towards it: keepalives to a peer that never reads
        // make it slow, as messages do, or they would pile up unbounded.
        let half = self.cfg.max_unsent / 2;
        if let Some(c) = self.conn_mut(id) {
            c.unsent += b - a;
            c.last_tx = now;
            self.unsent_total += b - a;
            let Some(c) = self.conn_mut(id) else { return };
            let newly = c.unsent > half && c.congested_since.is_none();
            if newly {
                c.congested_since = Some(now);
                self.congested += 1;
            }
            self.queue.push_back(Pending::Send(id, a as u32, b as u32));
            if newly {
                self.arm(id, now);
            }
        }
    }

    // ---- closing ------------------------------------------------------

    /// Closes `id` from our side: bookkeeping plus a `Close` output.
    fn close(&mut self, id: ConnId, now: Instant, why: Why) {
        if self.drop_conn(id, now, why) {
            self.queue.push_back(Pending::Close(id));
        }
    }

    /// Forgets `id`, logging what its loss means. False if it was unknown.
    fn drop_conn(&mut self, id: ConnId, now: Instant, why: Why) -> bool {
        let Some(c) = self.conn(id) else { return false };
        let (state, outbound, remote, listen) = (c.state, c.outbound, c.remote, c.listen);
        let was_active = state == State::Active;
        if was_active {
            self.unlist(id);
        }
        let Some(c) = self.release(id) else {
            return false;
        };
        if c.congested_since.is_some() {
            self.congested -= 1;
        }
        self.unsent_total -= c.unsent;
        if let Some(k) = listen
            .or(outbound.then_some(remote))
            .and_then(|a| self.known.get_mut(&a))
            && k.conn == Some(id)
        {
            k.conn = None;
        }
        if was_active && !matches!(why, Why::Shutdown) {
            let name = c.name;
            let reason = why.text();
            self.log(
                now,
                format_args!("Disconnected from the peer at {name} ({reason})"),
            );
            if matches!(why, Why::Slow(_) | Why::Protocol(_) | Why::Unexpected(..)) {
                self.diag(format_args!("closed connection to {name}: {reason}"));
            }
        } else if matches!(
            why,
            Why::Protocol(_) | Why::Unexpected(..) | Why::NoPort | Why::Full | Why::IdElsewhere(_)
        ) {
            let reason = why.text();
            self.diag(format_args!("closed connection with {remote}: {reason}"));
        }
        let addr = listen.or(outbound.then_some(remote));
        if let Some(addr) = addr.filter(|_| state != State::Retiring) {
            match why {
                Why::Left
                | Why::Protocol(_)
                | Why::Unexpected(..)
                | Why::SelfConnect
                | Why::NoPort => {
                    if let Some(k) = self.known.get_mut(&addr) {
                        k.wanted = false;
                    }
                    if self.known.get(&addr).is_some_and(|k| !k.bootstrap) {
                        self.known.remove(&addr);
                    }
                }
                Why::Duplicate | Why::Shutdown | Why::Evicted | Why::Full | Why::IdElsewhere(_) => {
                }
                _ if was_active || outbound => {
                    if was_active && let Some(k) = self.known.get_mut(&addr) {
                        k.failures = 0;
                        k.wanted = true;
                    }
                    self.schedule_redial(addr, now, &why);
                }
                _ => {}
            }
            if let Some(j) = &mut self.join
                && j.awaiting.remove(&addr)
            {
                self.finish_join(now, false);
            }
        }
        if was_active && self.active.is_empty() && !self.shutting_down {
            // Lost every peer: go back to the bootstrap addresses.
            let boots: Vec<SocketAddr> = self
                .known
                .iter()
                .filter(|(_, k)| k.bootstrap && k.conn.is_none() && k.retry_at.is_none())
                .map(|(a, _)| *a)
                .collect();
            for a in boots {
                let at = now + self.cfg.redial_min;
                if let Some(k) = self.known.get_mut(&a) {
                    k.retry_at = Some(at);
                }
                self.wheel.insert(at, Timer::Dial(a));
            }
        }
        if outbound && matches!(state, State::Connecting | State::Handshaking) {
            self.dial_next(now);
        }
        true
    }

    // ---- printing -----------------------------------------------------

    fn log(&mut self, now: Instant, args: std::fmt::Arguments<'_>) {
        self.log_with(now, |s| {
            let _ = s.write_fmt(args);
        });
    }

    fn log_with(&mut self, now: Instant, body: impl FnOnce(&mut String)) {
        let secs = now.saturating_duration_since(self.start).as_secs();
        if secs != self.stamp_secs {
            self.stamp_secs = secs;
            self.stamp.clear();
            let _ = write!(
                self.stamp,
                "{:02}:{:02}:{:02} - ",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            );
        }
        let a = self.text.len();
        self.text.push_str(&self.stamp);
        body(&mut self.text);
        self.text.push('\n');
        let b = self.text.len();
        self.queue.push_back(Pending::Log(a as u32, b as u32));
    }

    fn diag(&mut self, args: std::fmt::Arguments<'_>) {
        let a = self.text.len();
        let _ = writeln!(self.text, "rumor: {args}");
        let b = self.text.len();
        self.queue.push_back(Pending::Diag(a as u32, b as u32));
    }
}

impl Conn {
    fn new(outbound: bool, remote: SocketAddr, state: State, now: Instant) -> Self {
        Conn {
            outbound,
            remote,
            state,
            since: now,
            peer_id: 0,
            listen: None,
            name: String::new(),
            got_peer_list: false,
            listed: false,
            last_rx: now,
            last_tx: now,
            unsent: 0,
            congested_since: None,
            dropped: 0,
            armed_at: None,
        }
    }
}

/// Why a connection ended; decides what is logged and whether to redial.
#[derive(Debug)]
enum Why {
    Eof,
    Io(String),
    Protocol(DecodeError),
    Unexpected(&'static str, &'static str),
    Left,
    Duplicate,
    Shutdown,
    SelfConnect,
    NoPort,
    HandshakeTimeout,
    Silent,
    Slow(u64),
    Evicted,
    Full,
    /// A hello with the node id of a peer connected at another address.
    IdElsewhere(SocketAddr),
    /// GOODBYE(duplicate) on the connection we kept: the peer kept another
    /// that we do not have. A loss, redialed.
    Disowned,
}

impl Why {
    fn text(&self) -> String {
        match self {
            Why::Eof => "connection closed".into(),
            Why::Io(e) => e.clone(),
            Why::Protocol(e) => format!("protocol error: {e}"),
            Why::Unexpected(what, when) => format!("protocol error: {what} {when}"),
            Why::Left => "it left".into(),
            Why::Duplicate => "duplicate connection".into(),
            Why::Shutdown => "shutting down".into(),
            Why::SelfConnect => "that is this node".into(),
            Why::NoPort => "protocol error: hello without a listening port".into(),
            Why::HandshakeTimeout => "no handshake in time".into(),
            Why::Silent => "silent too long".into(),
            Why::Slow(n) => format!("not reading; {n} messages not sent to it"),
            Why::Evicted => "too many connections still in their handshake".into(),
            Why::Full => "at the peer limit".into(),
            Why::IdElsewhere(a) => format!("its node id is connected at {a}"),
            Why::Disowned => "it kept another connection that is gone".into(),
        }
    }
}

fn frame_name(f: &Frame<'_>) -> &'static str {
    match f {
        Frame::Hello(_) => "hello",
        Frame::Peers(_) => "peer list",
        Frame::Message { .. } => "message",
        Frame::Keepalive => "keepalive",
        Frame::Goodbye(_) => "goodbye",
    }
}

fn quote(addr: SocketAddr) -> String {
    format!("\"{addr}\"")
}

/// Appends `bytes` for display on one line: invalid UTF-8 becomes U+FFFD and
/// control characters are escaped, so a peer can never forge or break a log
/// line.
pub fn push_escaped(out: &mut String, bytes: &[u8]) {
    if printable_ascii(bytes) {
        // Printable ASCII: the common case, copied as is.
        out.push_str(std::str::from_utf8(bytes).unwrap_or_default());
        return;
    }
    for ch in String::from_utf8_lossy(bytes).chars() {
        if ch.is_control() {
            let _ = write!(out, "{}", ch.escape_default());
        } else {
            out.push(ch);
        }
    }
}

// Word-at-a-time byte scans for the per-message hot path: a byte loop costs
// about seven instructions a byte (callgrind), these well under one.
const LO: u64 = u64::from_ne_bytes([0x01; 8]);
const HI: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether any byte of `w` is zero.
fn any_zero(w: u64) -> bool {
    w.wrapping_sub(LO) & !w & HI != 0
}

/// Where the first `\n` in `data` is.
fn find_newline(data: &[u8]) -> Option<usize> {
    let words = data.chunks_exact(8);
    let tail = words.remainder();
    for (i, c) in words.enumerate() {
        let w = u64::from_ne_bytes(c.try_into().unwrap_or_default());
        if any_zero(w ^ (LO * u64::from(b'\n'))) {
            return c.iter().position(|&b| b == b'\n').map(|j| i * 8 + j);
        }
    }
    let done = data.len() - tail.len();
    tail.iter().position(|&b| b == b'\n').map(|j| done + j)
}

/// Whether every byte is printable ASCII (0x20 to 0x7e).
fn printable_ascii(bytes: &[u8]) -> bool {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    for c in words {
        let w = u64::from_ne_bytes(c.try_into().unwrap_or_default());
        // Every byte below 0x80, none below 0x20 (no borrow out of any byte
        // when 0x20 is taken from each) and none equal to 0x7f.
        if w & HI != 0 || w.wrapping_sub(LO * 0x20) & HI != 0 || any_zero(w ^ (LO * 0x7f)) {
            return false;
        }
    }
    tail.iter().all(|&b| (0x20..0x7f).contains(&b))
}

/// A lowercase description of an error, without "(os error N)".
pub fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => "address already in use".into(),
        std::io::ErrorKind::AddrNotAvailable => "address not available on this machine".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        std::io::ErrorKind::TimedOut => "timed out".into(),
        _ => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s);
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_lowercase().chain(c).collect())
                .unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod scan_tests {
    use super::*;

    #[test]
    fn word_scans_agree_with_byte_loops() {
        let mut rng = fastrand::Rng::with_seed(7);
        let alphabet = [0u8, b'\n', 0x1f, 0x20, b'x', 0x7e, 0x7f, 0x80, 0xe0, 0xff];
        for _ in 0..20_000 {
            let len = rng.usize(0..40);
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.bool() {
                        b'a'
                    } else {
                        alphabet[rng.usize(..alphabet.len())]
                    }
                })
                .collect();
            assert_eq!(
                find_newline(&v),
                v.iter().position(|&b| b == b'\n'),
                "{v:?}"
            );
            assert_eq!(
                printable_ascii(&v),
                v.iter().all(|&b| (0x20..0x7f).contains(&b)),
                "{v:?}"
            );
        }
    }
}
