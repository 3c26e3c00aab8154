//! An in-memory network that drives many [`Node`]s on a virtual clock.
//!
//! No sockets and no real time: connections are pairs of [`ConnId`]s, bytes
//! travel with a fixed latency, and the clock jumps straight to the next
//! event or timer. Given the same seed, a run is the same every time. Tests
//! use it to check joins, meshes, delivery and failures deterministically.
//!
//! Partitions: [`Sim::partition`] cuts the network between groups of nodes
//! like a failed switch, silently: bytes between a cut pair are dropped (a
//! FIN included), and a dial across the cut is never answered, so the
//! dialer's own handshake deadline ends it. [`Sim::heal`] joins it again.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::capture::{Capture, Out};
use crate::node::{Config, ConnId, Level, Node, Reason};

/// One simulated node and what it printed.
#[derive(Debug)]
pub struct SimNode {
    pub node: Node,
    pub addr: SocketAddr,
    /// False once killed: it neither sends nor receives, and its peers are
    /// not told (like a frozen process or a pulled cable).
    pub up: bool,
    /// stdout lines, without the timestamp.
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

#[derive(Debug)]
enum Event {
    Connect {
        from: usize,
        conn: ConnId,
        addr: SocketAddr,
    },
    Deliver {
        to: usize,
        conn: ConnId,
        bytes: Vec<u8>,
    },
    Eof {
        to: usize,
        conn: ConnId,
    },
}

/// The simulated network.
#[derive(Debug)]
pub struct Sim {
    pub now: Instant,
    pub nodes: Vec<SimNode>,
    pub latency: Duration,
    /// Batches of bytes delivered so far (one per `Send`).
    pub deliveries: u64,
    links: HashMap<(usize, ConnId), (usize, ConnId)>,
    events: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    pending: HashMap<usize, Event>,
    seq: u64,
    rng: fastrand::Rng,
    /// Node pairs (smaller index first) that cannot reach each other.
    cut: HashSet<(usize, usize)>,
    /// Bytes dropped at a cut, in batches.
    pub dropped: u64,
    /// Dials started by any node.
    pub dials: u64,
}

impl Sim {
    /// A network whose virtual clock starts at `start` (any instant: the
    /// simulator never reads the real clock).
    pub fn new(seed: u64, start: Instant) -> Self {
        Sim {
            now: start,
            nodes: Vec::new(),
            latency: Duration::from_micros(200),
            deliveries: 0,
            links: HashMap::new(),
            events: BinaryHeap::new(),
            pending: HashMap::new(),
            seq: 0,
            rng: fastrand::Rng::with_seed(seed),
            cut: HashSet::new(),
            dropped: 0,
            dials: 0,
        }
    }

    /// The address node `i` listens on.
    pub fn addr_of(i: usize) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 9000 + i as u16))
    }

    /// Adds and starts a node; `tune` may change its config first.
    pub fn add(&mut self, bootstrap: &[usize], tune: impl FnOnce(&mut Config)) -> usize {
        let i = self.nodes.len();
        let addr = Self::addr_of(i);
        self.add_at(
            addr,
            bootstrap.iter().map(|&b| Self::addr_of(b)).collect(),
            tune,
        )
    }

    /// Adds and starts a node listening on `addr` (which may be a dead
    /// node's, to model a restart).
    pub fn add_at(
        &mut self,
        addr: SocketAddr,
        bootstrap: Vec<SocketAddr>,
        tune: impl FnOnce(&mut Config),
    ) -> usize {
        let mut cfg = Config::new(addr);
        cfg.bootstrap = bootstrap;
        tune(&mut cfg);
        let node = Node::new(cfg, self.rng.u64(..), self.now);
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
        let i = self.nodes.len() - 1;
        self.nodes[i].node.handle_start(self.now);
        self.flush(i);
        i
    }

    /// Cuts the network between `groups`: no byte and no dial crosses from
    /// one group to another until [`Sim::heal`]. Nodes in no group keep
    /// their links (a node may be cut off alone with `&[&[i], ...]`).
    pub fn partition(&mut self, groups: &[&[usize]]) {
        for (g, a) in groups.iter().enumerate() {
            for b in &groups[g + 1..] {
                for &x in a.iter() {
                    for &y in b.iter() {
                        self.cut.insert((x.min(y), x.max(y)));
                    }
                }
            }
        }
    }

    /// Cuts node `i` off from every other node.
    pub fn isolate(&mut self, i: usize) {
        for j in (0..self.nodes.len()).filter(|&j| j != i) {
            self.cut.insert((i.min(j), i.max(j)));
        }
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Whether `a` and `b` are on two sides of a cut.
    pub fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&(a.min(b), a.max(b)))
    }

    /// Kills node `i` silently: its peers are not told.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].up = false;
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
            n.node.handle_stdin(&bytes, now);
            return true;
        }
        if std::mem::take(&mut n.stdin_eof) {
            n.node.handle_stdin_closed(now);
            return true;
        }
        false
    }

    /// Shuts node `i` down cleanly (as on Ctrl-C).
    pub fn shutdown(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].node.handle_shutdown(now);
        self.flush(i);
        self.nodes[i].up = false;
    }

    fn push(&mut self, at: Instant, ev: Event) {
        self.seq += 1;
        self.pending.insert(self.seq as usize, ev);
        self.events.push(Reverse((at, self.seq, self.seq as usize)));
    }

    /// Carries out everything node `i` asked for.
    fn flush(&mut self, i: usize) {
        let at = self.now + self.latency;
        let outs = Capture::of(&mut self.nodes[i].node);
        for out in outs {
            match out {
                Out::Send(conn, bytes) => {
                    let n = bytes.len();
                    if let Some(&(to, their)) = self.links.get(&(i, conn)) {
                        if self.is_cut(i, to) {
                            self.dropped += 1;
                            self.nodes[i].node.handle_written(conn, n);
                            continue;
                        }
                        self.push(
                            at,
                            Event::Deliver {
                                to,
                                conn: their,
                                bytes,
                            },
                        );
                    }
                    self.nodes[i].node.handle_written(conn, n);
                }
                Out::Dial(conn, addr) => {
                    self.dials += 1;
                    self.push(
                        at,
                        Event::Connect {
                            from: i,
                            conn,
                            addr,
                        },
                    )
                }
                Out::Close(conn) => {
                    if let Some((to, their)) = self.links.remove(&(i, conn)) {
                        self.links.remove(&(to, their));
                        if !self.is_cut(i, to) {
                            self.push(at, Event::Eof { to, conn: their });
                        }
                    }
                }
                Out::Log(line) => self.nodes[i].log.push(line),
                // What stderr shows by default (no -v).
                Out::Diag(kind, text) if kind.level() <= Level::Notice => {
                    self.nodes[i].diag.push(text)
                }
                Out::Diag(..) => {}
            }
        }
        if self.read_stdin(i) {
            self.flush(i);
        }
    }

    fn next_time(&self) -> Option<Instant> {
        let ev = self.events.peek().map(|Reverse((t, _, _))| *t);
        let timers = self
            .nodes
            .iter()
            .filter(|n| n.up)
            .filter_map(|n| n.node.poll_timeout())
            .min();
        match (ev, timers) {
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
        if let Some(&Reverse((et, _, key))) = self.events.peek()
            && et <= now
        {
            self.events.pop();
            if let Some(ev) = self.pending.remove(&key) {
                self.apply(ev);
            }
            return true;
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].up && self.nodes[i].node.poll_timeout().is_some_and(|d| d <= now) {
                self.nodes[i].node.handle_timeout(now);
                self.flush(i);
            }
        }
        true
    }

    fn apply(&mut self, ev: Event) {
        let now = self.now;
        match ev {
            Event::Connect { from, conn, addr } => {
                if !self.nodes[from].up {
                    return;
                }
                let target = self.nodes.iter().rposition(|n| n.up && n.addr == addr);
                if target.is_some_and(|t| self.is_cut(from, t)) {
                    // Never answered: the dialer's deadline ends it.
                    return;
                }
                let accepted = target.and_then(|t| {
                    let remote = self.nodes[from].addr;
                    let seed = entropy(&mut self.rng);
                    let node = &mut self.nodes[t].node;
                    if node.needs_entropy() {
                        node.give_entropy(seed);
                    }
                    let their = node.handle_accepted(remote, now)?;
                    Some((t, their))
                });
                match accepted {
                    Some((t, their)) => {
                        self.links.insert((from, conn), (t, their));
                        self.links.insert((t, their), (from, conn));
                        let seed = entropy(&mut self.rng);
                        let node = &mut self.nodes[from].node;
                        if node.needs_entropy() {
                            node.give_entropy(seed);
                        }
                        node.handle_connected(conn, now);
                        self.flush(t);
                    }
                    None => {
                        let e = io::Error::from(io::ErrorKind::ConnectionRefused);
                        self.nodes[from]
                            .node
                            .handle_closed(conn, Reason::io(&e), now);
                        if let Some(t) = target {
                            self.flush(t);
                        }
                    }
                }
                self.flush(from);
            }
            Event::Deliver { to, conn, bytes } => {
                self.deliveries += 1;
                if !self.nodes[to].up {
                    return;
                }
                // A connection the node closed reports its Close as it
                // drains, which ends the link.
                self.nodes[to].node.handle_read(conn, &bytes, now);
                self.flush(to);
            }
            Event::Eof { to, conn } => {
                if !self.nodes[to].up {
                    return;
                }
                self.nodes[to].node.handle_closed(conn, Reason::Eof, now);
                self.drop_link(to, conn);
                self.flush(to);
            }
        }
    }

    fn drop_link(&mut self, i: usize, conn: ConnId) {
        if let Some((to, their)) = self.links.remove(&(i, conn)) {
            self.links.remove(&(to, their));
            if !self.is_cut(i, to) {
                let at = self.now + self.latency;
                self.push(at, Event::Eof { to, conn: their });
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
