//! The sans-IO protocol core.
//!
//! [`Node`] is a pure state machine. Inputs arrive through `handle_*`
//! methods, each given `now`; outputs (bytes to send, dials, closes,
//! events for the user) are taken with [`Node::poll_output`] (or all at
//! once with [`Node::drain`]), and [`Node::poll_timeout`] says when
//! [`Node::handle_timeout`] is next due. It never reads the clock, never
//! does I/O and draws randomness only from the seed it was given, so the
//! same inputs always give the same outputs.
//!
//! `Node` composes one part per concept and routes inputs between them:
//! the connection table ([`conns`]), each connection ([`conn`]) with its
//! input ([`inbound`]), deadlines ([`liveness`]) and queue ([`outbox`]);
//! the handshake rules ([`handshake`]); the established peers ([`peers`]);
//! the address book ([`addrbook`]) and its retry rule ([`heal`]); the join
//! ([`membership`]); stdin lines ([`lines`]); random messages
//! ([`chatter`]); the node's own name (`naming`); the output queue
//! ([`output`]) and its events ([`event`]); close reasons ([`reason`]);
//! every limit ([`config`]); text hosts, the older plain-text protocol
//! ([`texts`], with the wiring in `texting.rs` and `delivering.rs`; the
//! rules are `crate::text`).

pub mod addrbook;
mod addrmap;
pub mod chatter;
pub mod config;
pub mod conn;
pub mod conns;
mod delivering;
pub mod departure;
mod dialing;
pub mod drive;
pub mod event;
mod gossip;
mod handover;
pub mod handshake;
pub mod heal;
pub mod inbound;
pub mod keyed;
pub mod keyhash;
mod leaving;
pub mod lines;
pub mod liveness;
pub mod membership;
mod naming;
pub mod order;
pub mod outbox;
pub mod output;
mod passive;
mod peering;
pub mod peers;
pub mod plumtree;
mod prefetch;
pub mod reason;
mod routes;
mod stats;
mod texting;
pub mod texts;
mod view;
mod views;

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use addrbook::{AddrBook, Backoff};
use chatter::Period;
use conn::{Conn, State};
use conns::ConnTable;
use lines::LineSplitter;
use liveness::Timeouts;
use membership::Membership;
use outbox::Outbox;
use output::Outputs;

pub use config::Config;
pub use conns::ConnId;
pub use drive::Driver;
pub use event::{DiagKind, Event, Level};
pub use output::Output;
pub use reason::{IoFault, Reason};
pub use stats::Stats;
pub use view::{PeerView, View};

use crate::wheel::Wheel;
use crate::wire::{Frame, GoodbyeReason, NodeId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Period,
    Conn(ConnId),
    /// A redial's address is in `Node::dial_slots`.
    Dial(u32),
    Join,
    /// `--exit-on-eof`: the join's time is up.
    JoinLimit,
    /// `--exit-on-eof`: the wait for peers to close is over.
    Leave,
    /// A text host may be idle too long.
    TextHosts,
    /// Shuffle the passive view; fill an active view with room.
    Shuffle,
    /// The broadcast tree's or the order's next deadline.
    Tree,
}

// A wheel entry is a tick, a link and a timer: 24 bytes while a timer is 12.
const _: () = assert!(std::mem::size_of::<Timer>() <= 12);

/// The protocol state machine of one node.
#[derive(Debug)]
pub struct Node {
    cfg: Config,
    timeouts: Timeouts,
    id: NodeId,
    rng: fastrand::Rng,
    start: Instant,
    /// The last `now` given to [`Node::elapsed`] and its answer: every
    /// message read in one turn shares it, and the subtraction was a
    /// tenth of a receiver's own work per message.
    last_elapsed: Cell<(Instant, Duration)>,
    conns: ConnTable<Conn>,
    peers: peers::PeerSet,
    book: AddrBook,
    outbox: Outbox,
    members: Membership,
    wheel: Wheel<Timer>,
    /// The addresses of the wheel's `Dial` timers.
    dial_slots: dialing::DialSlots,
    expired: Vec<Timer>,
    out: Outputs,
    lines: LineSplitter,
    period: Period,
    departure: departure::Departure,
    stdin_ended: bool,
    last_refusal_note: Option<Instant>,
    leaving: bool,
    stats: Stats,
    /// Scratch list of a broadcast's recipients.
    targets: Vec<SocketAddr>,
    /// Keyed: entropy for the next handshake, from the driver.
    entropy: Option<[u8; 32]>,
    /// Keyed: connections with a batch of frames to seal.
    sealing: Vec<ConnId>,
    /// Keyed: scratch for opened records.
    plain: Vec<u8>,
    /// Keyed: a text host was told about once.
    text_host_noted: bool,
    /// Text hosts, their messages and our deliveries to them.
    texts: texts::Texts,
    /// The broadcast tree over the active view.
    tree: plumtree::Plumtree<SocketAddr>,
    /// What was seen and printed of each origin, in order.
    order: order::Sequencer,
    /// Our own last message's sequence number.
    seq: u32,
    /// Scratch list of the tree's actions.
    acts: Vec<plumtree::Action<SocketAddr>>,
    /// The `Tree` timers set in the wheel (`gossip::arm_tree`).
    tree_due: [Option<Instant>; 2],
}

impl Node {
    /// A node with the given config, random seed and start time. Call
    /// [`Node::handle_start`] next.
    pub fn new(cfg: Config, seed: u64, now: Instant) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let id = rng.u64(1..);
        let secret = rng.u64(..);
        let texts = texts::Texts::new(&cfg, secret);
        // The tables keyed by ids peers choose hash with a key of their own.
        let hash_key = secret.rotate_left(23) ^ 0x5851_f42d_4c95_7f2d;
        let backoff = Backoff {
            min: cfg.redial_min,
            max: cfg.redial_max,
            attempts: cfg.redial_attempts,
            heal: cfg.heal_interval,
        };
        Node {
            timeouts: Timeouts {
                handshake: cfg.handshake_timeout,
                keepalive_interval: cfg.keepalive_interval,
                keepalive_timeout: cfg.keepalive_timeout,
                slow: cfg.slow_timeout,
            },
            id,
            rng,
            start: now,
            last_elapsed: Cell::new((now, Duration::ZERO)),
            conns: ConnTable::default(),
            peers: peers::PeerSet::default(),
            book: AddrBook::new(cfg.name(), cfg.max_known, backoff, now),
            outbox: Outbox::new(cfg.max_unsent, cfg.max_unsent_total),
            members: Membership::default(),
            wheel: Wheel::new(now, cfg.wheel_slots),
            dial_slots: dialing::DialSlots::default(),
            expired: Vec::new(),
            out: Outputs::default(),
            lines: LineSplitter::new(cfg.max_line),
            period: Period::new(cfg.period),
            departure: departure::Departure::new(cfg.exit_on_eof),
            stdin_ended: false,
            last_refusal_note: None,
            leaving: false,
            stats: Stats::default(),
            targets: Vec::new(),
            entropy: None,
            sealing: Vec::new(),
            plain: Vec::new(),
            text_host_noted: false,
            texts,
            tree: plumtree::Plumtree::new(plumtree::PlumtreeConfig {
                hash_key,
                ..plumtree::PlumtreeConfig::default()
            }),
            order: order::Sequencer::new(order::OrderConfig {
                gap_wait: cfg.gap_wait,
                hash_key,
                ..order::OrderConfig::default()
            }),
            seq: 0,
            acts: Vec::new(),
            tree_due: [None; 2],
            cfg,
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

    /// Timers waiting in the wheel, stale ones included (the wheel has
    /// no cancel: a superseded timer waits until due, and fires as a
    /// no-op).
    pub fn timers_waiting(&self) -> usize {
        self.wheel.len()
    }

    /// Number of established peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Listening addresses of the established peers, sorted.
    pub fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.peers.addrs().to_vec()
    }

    /// Number of open connections of any state.
    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    /// Number of remembered peer addresses.
    pub fn known_count(&self) -> usize {
        self.book.len()
    }

    /// Whether `addr` is among the remembered peer addresses.
    pub fn knows(&self, addr: SocketAddr) -> bool {
        self.book.contains(addr)
    }

    /// The text hosts this node knows, in the order learned.
    pub fn text_hosts(&self) -> Vec<SocketAddr> {
        self.texts.hosts.addrs().collect()
    }

    /// Bytes queued for all connections together.
    pub fn unsent_total(&self) -> usize {
        self.outbox.total()
    }

    /// Bytes queued for `conn` and not yet reported written.
    pub fn unsent(&self, conn: ConnId) -> Option<usize> {
        self.conns.get(conn).map(|c| c.queue.unsent())
    }

    /// Bytes held for `conn`'s unfinished frame.
    pub fn buffered(&self, conn: ConnId) -> Option<usize> {
        self.conns.get(conn).map(|c| c.inbound.buffered())
    }

    /// The broadcast tree, read-only: its table sizes, links and counters
    /// (for tests and the fuzz target's invariants).
    pub fn tree(&self) -> &plumtree::Plumtree<SocketAddr> {
        &self.tree
    }

    /// The per-origin order and seen table, read-only: its sizes and
    /// counters, and whether an id was seen (for tests and the fuzz target).
    pub fn order(&self) -> &order::Sequencer {
        &self.order
    }

    /// Whether the driver should read more of stdin: false while a peer's
    /// queue is over half full, so a fast stdin waits instead of losing
    /// lines; nor while a node started with bootstrap peers is still
    /// joining, so lines piped in at start wait for the peers.
    pub fn wants_stdin(&self) -> bool {
        self.outbox.has_room_for_stdin() && !self.leaving && !self.members.joining()
    }

    /// Whether the join (if any) is over.
    pub fn joined(&self) -> bool {
        !self.members.joining()
    }

    /// Whether `addr` is one of this node's own addresses.
    pub fn is_self_addr(&self, addr: SocketAddr) -> bool {
        self.book.is_self(addr)
    }

    // ---- inputs -------------------------------------------------------

    /// Announces the node's address, dials the bootstrap peers and starts
    /// the period timer.
    pub fn handle_start(&mut self, now: Instant) {
        let at = self.elapsed(now);
        self.out.listening(at, self.cfg.name());
        self.note_name(now);
        if let Some(t) = self.period.start(now) {
            self.wheel.insert(t, Timer::Period);
        }
        self.wheel
            .insert(now + self.cfg.shuffle_interval, Timer::Shuffle);
        let boots = self.cfg.bootstrap.clone();
        let joining =
            boots.iter().any(|&a| !self.book.is_self(a)) || self.cfg.unresolved_bootstraps > 0;
        self.members.start(joining);
        if joining && self.departure.armed() {
            self.wheel
                .insert(now + self.cfg.join_timeout, Timer::JoinLimit);
        }
        for addr in boots {
            self.handle_bootstrap(addr, now);
        }
    }

    /// A bootstrap address: dialed, and kept as bootstraps are. Called for
    /// each configured one at start, and by the driver for a host name
    /// that resolved later.
    pub fn handle_bootstrap(&mut self, addr: SocketAddr, now: Instant) {
        if self.book.is_self(addr) {
            self.diag(
                now,
                DiagKind::Config,
                format_args!("not joining through {addr}: that is this node"),
            );
            return;
        }
        self.book.add_bootstrap(addr);
        self.dial(addr, now);
    }

    /// A connection was accepted from `remote`. Returns its id, or `None`
    /// when the node is at its connection cap: the driver then closes the
    /// socket at once.
    pub fn handle_accepted(&mut self, remote: SocketAddr, now: Instant) -> Option<ConnId> {
        if self.leaving {
            return None;
        }
        // Deliveries to text hosts are connections, but not handshakes.
        let pending = (self.conns.len() - self.peers.len()).saturating_sub(self.texts.in_flight());
        if pending >= self.cfg.max_pending && !self.evict_handshake(now) {
            return self.refuse(remote, now, Refusal::AtCap);
        }
        if self.conns.len() >= self.cfg.conn_cap() {
            return self.refuse(remote, now, Refusal::AtCap);
        }
        // Our hello waits for the first byte: a text host's message gets
        // nothing but its reply (docs/PROTOCOL.md, "Text hosts").
        let id = self.conns.insert(Conn::inbound(remote, now));
        self.arm(id, now);
        // With a key, both ends start the key handshake at once.
        if self.keyed() {
            self.start_keyed(id, now);
        }
        Some(id)
    }

    /// Like [`Node::handle_accepted`], for a connection the driver could
    /// only accept with its spare descriptor: the process has none left.
    /// The oldest inbound handshake is closed to make room for it; if there
    /// is none, it is refused (`None`) and the driver closes it at once.
    pub fn handle_accepted_spare(&mut self, remote: SocketAddr, now: Instant) -> Option<ConnId> {
        if self.leaving || !self.evict_handshake(now) {
            return self.refuse(remote, now, Refusal::NoDescriptors);
        }
        self.handle_accepted(remote, now)
    }

    /// An outbound connection finished connecting.
    pub fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if c.state() != State::Connecting {
            return;
        }
        c.connected(now);
        if !self.text_connected(conn, now) {
            self.send_hello(conn, now);
        }
    }

    /// The driver reports `n` bytes of `conn`'s queue written to the socket.
    pub fn handle_written(&mut self, conn: ConnId, n: usize) {
        if let Some(c) = self.conns.get_mut(conn) {
            let n = c.key.as_mut().map_or(n, |k| k.written(n));
            self.outbox.written(&mut c.queue, n);
        }
    }

    /// Bytes read from `conn`. Returns false if the connection is now
    /// closed (its `Close` output follows): the driver stops reading it.
    pub fn handle_read(&mut self, conn: ConnId, bytes: &[u8], now: Instant) -> bool {
        if self.cfg.key.is_some() {
            return self.read_keyed(conn, bytes, now);
        }
        self.read_frames(conn, bytes, now)
    }

    /// Plain bytes of `conn` cut into frames and handled.
    fn read_frames(&mut self, conn: ConnId, bytes: &[u8], now: Instant) -> bool {
        let Some(c) = self.conns.get_mut(conn) else {
            return false;
        };
        if c.inbound.is_silent() && self.cfg.key.is_none() && crate::record::looks_keyed(bytes) {
            // A keyed dialer: our hello, before the close, tells it we run
            // without a key.
            self.send_hello(conn, now);
            self.close(conn, now, Reason::PeerKeyed);
            return false;
        }
        let mut inbound = std::mem::take(&mut c.inbound);
        let text = self.texts.reader();
        let r = inbound.feed(bytes, now, text, |i| self.on_input(conn, i, now));
        match r {
            Ok(true) => match self.conns.get_mut(conn) {
                Some(c) => {
                    c.inbound = inbound;
                    true
                }
                None => false,
            },
            Ok(false) => false,
            Err(e) => {
                let hello_due = self.conns.get(conn).is_some_and(|c| c.in_handshake());
                let why = if hello_due && !self.keyed() && crate::record::looks_keyed(bytes) {
                    Reason::PeerKeyed
                } else {
                    Reason::Protocol(e)
                };
                self.close(conn, now, why);
                false
            }
        }
    }

    /// The driver closed `conn`: end of stream or a socket error
    /// ([`Reason::Eof`], [`Reason::io`]).
    pub fn handle_closed(&mut self, conn: ConnId, why: Reason, now: Instant) {
        self.drop_conn(conn, now, why);
    }

    /// Bytes read from stdin. Each complete line is broadcast.
    pub fn handle_stdin(&mut self, data: &[u8], now: Instant) {
        let mut lines = std::mem::replace(&mut self.lines, LineSplitter::new(0));
        lines.feed(data, |l| self.stdin_line(l, now));
        self.lines = lines;
    }

    /// stdin reached its end: a last line without a newline still goes out.
    pub fn handle_stdin_closed(&mut self, now: Instant) {
        let mut lines = std::mem::replace(&mut self.lines, LineSplitter::new(0));
        lines.finish(|l| self.stdin_line(l, now));
        self.lines = lines;
        self.stdin_ended = true;
        self.maybe_depart(now);
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.expired);
        self.wheel.expire(now, &mut due);
        for t in due.drain(..) {
            match t {
                Timer::Period => self.on_period(now),
                Timer::Conn(id) => self.on_conn_timer(id, now),
                Timer::Dial(slot) => self.on_dial_timer(slot, now),
                Timer::Join => {
                    if self.members.quiet(now, self.cfg.join_settle) {
                        self.finish_join(now, membership::Check::Deadline);
                    }
                }
                Timer::JoinLimit => self.join_limit(now),
                Timer::Leave => self.leave_timeout(now),
                Timer::TextHosts => self.on_text_expiry(now),
                Timer::Shuffle => self.on_shuffle_timer(now),
                Timer::Tree => self.on_tree_timer(now),
            }
        }
        self.expired = due;
    }

    /// Says goodbye to every peer and closes every connection. Inputs after
    /// this are ignored.
    pub fn handle_shutdown(&mut self, now: Instant) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        let ids: Vec<ConnId> = self.conns.iter().map(|(id, _)| id).collect();
        for id in ids {
            // Only where our hello went: not to a text connection, nor
            // to an accepted one that has sent nothing yet.
            if self.conns.get(id).is_some_and(|c| {
                matches!(c.state(), State::Active | State::Handshaking) && c.inbound.speaks_rumor()
            }) {
                self.send_frame(id, &Frame::Goodbye(GoodbyeReason::Shutdown), now);
            }
            self.close(id, now, Reason::Shutdown);
        }
    }

    // ---- outputs ------------------------------------------------------

    /// With `exit_on_eof`: how the departure ended, once it has. The driver
    /// then exits (0 when [`departure::Outcome::complete`]).
    pub fn departed(&self) -> Option<&departure::Outcome> {
        self.departure.outcome()
    }

    /// The next thing for the driver to do, if any.
    pub fn poll_output(&mut self) -> Option<Output<'_>> {
        if !self.sealing.is_empty() {
            self.seal_all();
        }
        self.out.poll()
    }

    /// Trades the node's output buffers for `spare`, if neither holds an
    /// output not yet polled: a driver of many nodes (the simulator) lends
    /// one set of buffers to the node it drives instead of each node
    /// keeping its own. False, and nothing traded, otherwise.
    pub fn swap_outputs(&mut self, spare: &mut Outputs) -> bool {
        let idle = self.sealing.is_empty() && self.out.is_empty() && spare.is_empty();
        if idle {
            std::mem::swap(&mut self.out, spare);
        }
        idle
    }

    /// When [`Node::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wheel.next_deadline()
    }

    /// Hands every pending output to `driver`, in order.
    pub fn drain(&mut self, driver: &mut impl Driver) {
        drive::drain(self, driver);
    }

    fn elapsed(&self, now: Instant) -> Duration {
        let (at, d) = self.last_elapsed.get();
        if at == now {
            return d;
        }
        let d = now.saturating_duration_since(self.start);
        self.last_elapsed.set((now, d));
        d
    }

    fn diag(&mut self, now: Instant, kind: DiagKind, args: std::fmt::Arguments<'_>) {
        if kind.level() > self.cfg.diag_level {
            return;
        }
        let at = self.elapsed(now);
        self.out.diag(at, kind, args);
    }
}

/// Why an inbound connection is turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    AtCap,
    NoDescriptors,
}
