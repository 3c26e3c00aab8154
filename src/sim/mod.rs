//! An in-memory network that drives many [`Node`]s on a virtual clock.
//!
//! No sockets and no real time: connections are pairs of [`ConnId`]s, bytes
//! travel with a latency ([`Latency`]: fixed, or drawn per link) and maybe
//! a loss ([`Loss`]), and the clock jumps straight to the next event or
//! timer. Given the same seed, a run is the same every time. Tests use it
//! to check joins, meshes, delivery and failures deterministically;
//! `rumor-sim` runs scripted scenarios at up to 100,000 nodes with it
//! ([`scenario`], [`run`], docs/SIMULATOR.md).
//!
//! Partitions: [`Sim::partition`] cuts the network between groups of nodes
//! like a failed switch, silently: bytes between a cut pair are dropped (a
//! FIN included), and a dial across the cut is never answered, so the
//! dialer's own handshake deadline ends it. [`Sim::heal`] joins it again.
//!
//! Lean mode ([`Sim::lean`]): nodes keep no lines; a [`Tally`] counts the
//! deliveries of scenario messages instead.
//!
//! Parts: the event and timer queues (`queue`), links, latency, loss and
//! cuts (`net`), the driver the nodes' outputs go through (`driver`), the
//! delivery tables ([`tally`]).

mod driver;
mod net;
mod queue;
pub mod run;
pub mod scenario;
pub mod shape;
pub mod tally;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::node::output::Outputs;
use crate::node::{Config, ConnId, Node, Reason};
use driver::{Lines, Pool, SimDriver};
use net::Net;
pub use net::{Latency, Loss, Traffic};
use queue::{Event, Queue};
pub use run::{Report, run_scenario};
pub use scenario::Scenario;
pub use tally::Tally;

/// The simulator's timer wheels: 64 slots (1.5 KB) instead of the real
/// node's 4,096 (98 KB); timers are as exact (`crate::wheel`).
pub const WHEEL_SLOTS: usize = 64;

/// One simulated node and what it printed.
#[derive(Debug)]
pub struct SimNode {
    pub node: Node,
    pub addr: SocketAddr,
    /// False once killed: it neither sends nor receives, and its peers are
    /// not told (like a frozen process or a pulled cable).
    pub up: bool,
    /// stdout lines, without the timestamp (none in lean mode).
    pub log: Vec<String>,
    /// stderr lines at the default level (no `-v`), without `rumor: `.
    pub diag: Vec<String>,
    /// When it was added, on the virtual clock.
    pub started: Instant,
    /// Typed and not yet read: like a real driver, the simulator hands
    /// stdin to the node only while it wants more.
    stdin: Vec<u8>,
    /// stdin has ended (delivered once `stdin` is read).
    stdin_eof: bool,
}

/// How node indices become addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// `127.0.0.1:9000+i` ([`Sim::addr_of`]): at most 56,535 nodes.
    Loopback,
    /// `10.x.y.z:9000` ([`Sim::wide_addr_of`]): up to 16 million.
    Wide,
}

/// The prefetch stage (`Node::prefetch`) for the 1st, 2nd, ... node
/// ahead: each stage reads what the one before brought into cache, so
/// they stand an input or two apart.
const SCHEDULE: [Option<u8>; 4] = [Some(2), Some(1), None, Some(0)];

/// Spare output buffers kept (two nodes take inputs before a flush).
const SPARES: usize = 4;

/// The simulated network.
#[derive(Debug)]
pub struct Sim {
    pub now: Instant,
    pub nodes: Vec<SimNode>,
    /// Batches of bytes delivered so far (one per `Send`).
    pub deliveries: u64,
    /// Bytes dropped at a cut, in batches.
    pub dropped: u64,
    /// Dials started by any node.
    pub dials: u64,
    /// Lean mode: with a tally, deliveries are counted here, and nodes keep
    /// no lines (see [`Sim::lean`]).
    pub tally: Option<Tally>,
    pub addressing: Addressing,
    keep_lines: bool,
    net: Net,
    queue: Queue,
    rng: fastrand::Rng,
    pool: Pool,
    written: Vec<(ConnId, usize)>,
    due: Vec<u32>,
    /// Output buffers lent to the node being driven (see [`Sim::node_mut`]).
    spares: Vec<Outputs>,
    /// Hint at the next events' memory ([`Sim::set_prefetch`]).
    prefetch: bool,
}

impl Sim {
    /// A network whose virtual clock starts at `start` (any instant: the
    /// simulator never reads the real clock).
    pub fn new(seed: u64, start: Instant) -> Self {
        Sim {
            now: start,
            nodes: Vec::new(),
            deliveries: 0,
            dropped: 0,
            dials: 0,
            tally: None,
            addressing: Addressing::Loopback,
            keep_lines: true,
            net: Net::new(seed, start),
            queue: Queue::new(start),
            rng: fastrand::Rng::with_seed(seed),
            pool: Pool::default(),
            written: Vec::new(),
            due: Vec::new(),
            spares: Vec::new(),
            prefetch: true,
        }
    }

    /// Whether to hint at the memory of the next few events' nodes before
    /// each event (on by default). The hints change nothing but speed: a
    /// large run waits on memory, and the queue knows which nodes come
    /// next (`Node::prefetch`).
    pub fn set_prefetch(&mut self, on: bool) {
        self.prefetch = on;
    }

    /// Lean mode, for scale: nodes keep no lines, wide addresses, and
    /// deliveries of [`Tally::send`] messages are counted in [`Sim::tally`].
    pub fn lean(mut self) -> Self {
        self.keep_lines = false;
        self.addressing = Addressing::Wide;
        self.tally = Some(Tally::default());
        self
    }

    /// Makes room for `n` more nodes at once: a table grown by doubling
    /// keeps up to half its room unused (at 100,000 nodes a node's inline
    /// state is 1.4 KB, so that slack was 45 MB of the simulator's peak).
    pub fn reserve(&mut self, n: usize) {
        self.nodes.reserve_exact(n);
        self.net.reserve(n);
    }

    /// Sets every link's delay (the default: a fixed 200 µs one way).
    pub fn set_latency(&mut self, l: Latency) {
        self.net.latency = l;
    }

    /// Sets the one-way delay between nodes `a` and `b` alone (a slow
    /// link in a fast network), for what is sent from now on.
    pub fn set_link_delay(&mut self, a: usize, b: usize, d: Duration) {
        self.net.set_link_delay(a, b, d);
    }

    /// Sets the loss on every link (the default: none).
    pub fn set_loss(&mut self, l: Loss) {
        self.net.loss = l;
    }

    /// Bytes, batches and frames sent over links so far.
    pub fn traffic(&self) -> Traffic {
        self.net.traffic
    }

    /// Network events in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// The address node `i` listens on, with [`Addressing::Loopback`].
    pub fn addr_of(i: usize) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 9000 + i as u16))
    }

    /// The address node `i` listens on, with [`Addressing::Wide`]:
    /// `10.0.0.1:9000` for node 0, counting up.
    pub fn wide_addr_of(i: usize) -> SocketAddr {
        let n = i as u32 + 1;
        SocketAddr::from((Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff)), 9000))
    }

    /// The address of node `i` under this network's addressing.
    pub fn addr(&self, i: usize) -> SocketAddr {
        match self.addressing {
            Addressing::Loopback => Self::addr_of(i),
            Addressing::Wide => Self::wide_addr_of(i),
        }
    }

    /// Adds and starts a node; `tune` may change its config first.
    pub fn add(&mut self, bootstrap: &[usize], tune: impl FnOnce(&mut Config)) -> usize {
        let addr = self.addr(self.nodes.len());
        let boots = bootstrap.iter().map(|&b| self.addr(b)).collect();
        self.add_at(addr, boots, tune)
    }

    /// Adds and starts a node listening on `addr` (which may be a dead
    /// node's, to model a restart). Its wheel has [`WHEEL_SLOTS`] slots
    /// unless `tune` says otherwise.
    pub fn add_at(
        &mut self,
        addr: SocketAddr,
        bootstrap: Vec<SocketAddr>,
        tune: impl FnOnce(&mut Config),
    ) -> usize {
        let mut cfg = Config::new(addr);
        cfg.bootstrap = bootstrap;
        cfg.wheel_slots = WHEEL_SLOTS;
        // The simulator keeps the default level's lines (no `-v`).
        cfg.diag_level = crate::node::Level::Notice;
        tune(&mut cfg);
        let node = Node::new(cfg, self.rng.u64(..), self.now);
        let i = self.nodes.len();
        self.net.add_node(i, addr);
        self.nodes.push(SimNode {
            node,
            addr,
            up: true,
            log: Vec::new(),
            diag: Vec::new(),
            started: self.now,
            stdin: Vec::new(),
            stdin_eof: false,
        });
        let now = self.now;
        self.node_mut(i).handle_start(now);
        self.flush(i);
        i
    }

    /// Cuts the network between `groups`: no byte and no dial crosses from
    /// one group to another until [`Sim::heal`]. Nodes in no group keep
    /// their links (a node may be cut off alone with `&[&[i], ...]`).
    pub fn partition(&mut self, groups: &[&[usize]]) {
        self.net.partition(self.nodes.len(), groups);
    }

    /// Cuts node `i` off from every other node.
    pub fn isolate(&mut self, i: usize) {
        let rest: Vec<usize> = (0..self.nodes.len()).filter(|&j| j != i).collect();
        self.partition(&[&[i], &rest]);
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        self.net.heal();
    }

    /// Whether `a` and `b` are on two sides of a cut.
    pub fn is_cut(&self, a: usize, b: usize) -> bool {
        self.net.is_cut(a, b)
    }

    /// Kills node `i` silently: its peers are not told.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].up = false;
        self.queue.arm(i, None);
    }

    /// Types a line on node `i`'s stdin.
    pub fn type_line(&mut self, i: usize, line: &str) {
        let n = &mut self.nodes[i];
        n.stdin.extend_from_slice(line.as_bytes());
        n.stdin.push(b'\n');
        self.flush(i);
    }

    /// Ends node `i`'s stdin (as Ctrl-D, or the end of a pipe).
    pub fn close_stdin(&mut self, i: usize) {
        self.nodes[i].stdin_eof = true;
        self.flush(i);
    }

    /// Hands node `i` what it has of stdin, if it wants it now.
    fn read_stdin(&mut self, i: usize) -> bool {
        let now = self.now;
        let n = &mut self.nodes[i];
        if !n.up || !n.node.wants_stdin() {
            return false;
        }
        if !n.stdin.is_empty() {
            let bytes = std::mem::take(&mut n.stdin);
            self.node_mut(i).handle_stdin(&bytes, now);
            return true;
        }
        if std::mem::take(&mut n.stdin_eof) {
            self.node_mut(i).handle_stdin_closed(now);
            return true;
        }
        false
    }

    /// Shuts node `i` down cleanly (as on Ctrl-C).
    pub fn shutdown(&mut self, i: usize) {
        let now = self.now;
        self.node_mut(i).handle_shutdown(now);
        self.flush(i);
        self.kill(i);
    }

    /// Carries out everything node `i` asked for, and notes its next
    /// timer. Call it after handing `sim.nodes[i].node` an input directly.
    pub fn flush(&mut self, i: usize) {
        let mut written = std::mem::take(&mut self.written);
        written.clear();
        let n = &mut self.nodes[i];
        let lines = self.keep_lines.then_some(Lines {
            log: &mut n.log,
            diag: &mut n.diag,
        });
        n.node.drain(&mut SimDriver {
            i,
            now: self.now,
            net: &mut self.net,
            queue: &mut self.queue,
            pool: &mut self.pool,
            dials: &mut self.dials,
            dropped: &mut self.dropped,
            written: &mut written,
            lines,
            tally: self.tally.as_mut(),
        });
        for &(conn, len) in &written {
            n.node.handle_written(conn, len);
        }
        self.written = written;
        if self.read_stdin(i) {
            self.flush(i);
        }
        let mut o = Outputs::default();
        if self.nodes[i].node.swap_outputs(&mut o) && o.holds_memory() && self.spares.len() < SPARES
        {
            self.spares.push(o);
        }
        let n = &self.nodes[i];
        self.queue.arm(i, n.node.poll_timeout().filter(|_| n.up));
    }

    /// Node `i`, lent a spare set of output buffers if it holds none of
    /// its own: a node keeps no output memory between inputs (a kilobyte
    /// or more a node at scale), and [`Sim::flush`] takes the buffers back
    /// once drained. Hand every input through this.
    fn node_mut(&mut self, i: usize) -> &mut Node {
        let node = &mut self.nodes[i].node;
        if let Some(mut o) = self.spares.pop() {
            node.swap_outputs(&mut o);
            if o.holds_memory() {
                self.spares.push(o);
            }
        }
        node
    }

    fn next_time(&mut self) -> Option<Instant> {
        match (self.queue.next_event(), self.queue.next_timer()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs one event or one round of due timers. False if nothing is left.
    pub fn step(&mut self) -> bool {
        let Some(t) = self.next_time() else {
            return false;
        };
        self.now = self.now.max(t);
        let now = self.now;
        if let Some(ev) = self.queue.pop_due(now) {
            self.prefetch_ahead();
            self.apply(ev);
            return true;
        }
        let mut due = std::mem::take(&mut self.due);
        self.queue.take_due(now, &mut due);
        for (k, &i) in due.iter().enumerate() {
            self.prefetch_due(&due[k + 1..]);
            let i = i as usize;
            if self.nodes[i].up && self.nodes[i].node.poll_timeout().is_some_and(|d| d <= now) {
                self.node_mut(i).handle_timeout(now);
            }
            self.flush(i);
        }
        self.due = due;
        true
    }

    /// Hints at the memory of the next few events' nodes, each a stage
    /// further the nearer it is (`Node::prefetch`).
    fn prefetch_ahead(&self) {
        if !self.prefetch {
            return;
        }
        for (k, stage) in SCHEDULE.iter().enumerate() {
            if let Some(stage) = *stage
                && let Some((j, conn)) = self.queue.node_ahead(k)
            {
                let n = &self.nodes[j as usize];
                n.node.prefetch(Some(conn), stage);
                self.net.prefetch(j as usize, stage);
            }
        }
    }

    /// Hints at the memory of the next nodes whose timers are due, as
    /// [`Sim::prefetch_ahead`] does for events.
    fn prefetch_due(&self, next: &[u32]) {
        if !self.prefetch {
            return;
        }
        for (stage, &j) in SCHEDULE.iter().zip(next) {
            if let Some(stage) = *stage {
                self.nodes[j as usize].node.prefetch(None, stage);
            }
        }
    }

    fn apply(&mut self, ev: Event) {
        let now = self.now;
        match ev {
            Event::Connect { from, conn, addr } => {
                let from = from as usize;
                if !self.nodes[from].up {
                    return;
                }
                let target = self.net.node_at(addr, |t| self.nodes[t].up);
                if target.is_some_and(|t| self.is_cut(from, t)) {
                    // Never answered: the dialer's deadline ends it.
                    return;
                }
                let accepted = target.and_then(|t| {
                    let remote = self.nodes[from].addr;
                    let seed = entropy(&mut self.rng);
                    let node = self.node_mut(t);
                    if node.needs_entropy() {
                        node.give_entropy(seed);
                    }
                    let their = node.handle_accepted(remote, now)?;
                    Some((t, their))
                });
                match accepted {
                    Some((t, their)) => {
                        self.net.link((from, conn), (t, their), now);
                        let seed = entropy(&mut self.rng);
                        let node = self.node_mut(from);
                        if node.needs_entropy() {
                            node.give_entropy(seed);
                        }
                        node.handle_connected(conn, now);
                        self.flush(t);
                    }
                    None => {
                        let e = io::Error::from(io::ErrorKind::ConnectionRefused);
                        self.node_mut(from).handle_closed(conn, Reason::io(&e), now);
                        if let Some(t) = target {
                            self.flush(t);
                        }
                    }
                }
                self.flush(from);
            }
            Event::Deliver { to, conn, bytes } => {
                let to = to as usize;
                self.deliveries += 1;
                if self.nodes[to].up {
                    // A connection the node closed reports its Close as it
                    // drains, which ends the link.
                    self.node_mut(to).handle_read(conn, &bytes, now);
                    self.flush(to);
                }
                self.pool.give(bytes);
            }
            Event::Eof { to, conn } => {
                let to = to as usize;
                if !self.nodes[to].up {
                    return;
                }
                self.node_mut(to).handle_closed(conn, Reason::Eof, now);
                if let Some((peer, their, at)) = self.net.unlink(to, conn, now)
                    && !self.is_cut(to, peer)
                {
                    let to = peer as u32;
                    self.queue.push(at, Event::Eof { to, conn: their });
                }
                self.flush(to);
            }
        }
    }

    /// Runs until `until` on the virtual clock.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.next_time().is_some_and(|t| t <= end) {
            self.step();
        }
        self.now = self.now.max(end);
    }

    /// Runs until `done` holds, for at most `limit` of virtual time. Returns
    /// whether it held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            match self.next_time() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => {
                    self.now = self.now.max(end);
                    return done(self);
                }
            }
        }
    }

    /// Whether every live node is connected to every other live node.
    pub fn full_mesh(&self) -> bool {
        let live: Vec<SocketAddr> = self.nodes.iter().filter(|n| n.up).map(|n| n.addr).collect();
        // Cheap first: every live node must have the right number of peers.
        if self
            .nodes
            .iter()
            .any(|n| n.up && n.node.peer_count() + 1 != live.len())
        {
            return false;
        }
        self.nodes.iter().filter(|n| n.up).all(|n| {
            let mut want: Vec<SocketAddr> = live.iter().copied().filter(|&a| a != n.addr).collect();
            want.sort();
            n.node.peer_addrs() == want
        })
    }
}

/// Seeded bytes standing in for the OS's entropy in a keyed handshake: the
/// same seed, the same run.
fn entropy(rng: &mut fastrand::Rng) -> [u8; 32] {
    let mut e = [0u8; 32];
    rng.fill(&mut e);
    e
}
