//! The address book: every peer address a node knows, with its redial
//! state (failures, backoff, the next try), the bootstrap addresses, the
//! node's own addresses under other names, and the queue of dials waiting
//! for a free slot. Capped at `max_known` entries (own addresses too).
//!
//! Bootstrap addresses are never forgotten, and an address that was once
//! an established peer (a *member*) is kept and retried for as long as it
//! is not connected, by the rule in [`super::heal`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::addrmap::AddrMap;
use super::conns::ConnId;
pub use super::heal::Backoff;
use super::heal::Standing;
use crate::vecmap::VecSet;
use crate::wire::NodeId;

/// One remembered address. Laid out small (32 bytes, 56 with its key): a
/// node keeps up to 64 passive addresses and its members, and the
/// simulator 100,000 nodes' worth: the optional id and connection are
/// flagged, not `Option`s, and the retry time is 8 bytes, not 16.
#[derive(Debug, Default)]
pub struct Known {
    id: NodeId,
    /// When it is dialed again, if a retry is pending ([`Retry`]).
    pub(super) retry_at: Option<Retry>,
    /// A connection (being dialed or established) that reaches it, if
    /// `has_conn`.
    conn_id: ConnId,
    /// Failed dials in a row (saturating: `redial_attempts` past 65,535
    /// is never reached).
    failures: u16,
    has_id: bool,
    has_conn: bool,
    pub(super) bootstrap: bool,
    /// Worth dialing again when a dial fails: it was a peer, or we were
    /// told of it.
    wanted: bool,
    /// Learned from a peer list and not yet connected: the mesh knows it.
    listed: bool,
    /// Was an established peer once (and has not left with GOODBYE):
    /// retried for as long as it is not connected.
    pub(super) member: bool,
}

impl Known {
    pub fn node_id(&self) -> Option<NodeId> {
        self.has_id.then_some(self.id)
    }

    pub(super) fn set_node_id(&mut self, id: Option<NodeId>) {
        (self.has_id, self.id) = (id.is_some(), id.unwrap_or_default());
    }

    pub fn conn(&self) -> Option<ConnId> {
        self.has_conn.then_some(self.conn_id)
    }

    pub(super) fn set_conn(&mut self, c: Option<ConnId>) {
        (self.has_conn, self.conn_id) = (c.is_some(), c.unwrap_or_default());
    }

    pub fn is_bootstrap(&self) -> bool {
        self.bootstrap
    }

    pub fn listed(&self) -> bool {
        self.listed
    }

    pub fn is_member(&self) -> bool {
        self.member
    }
}

const _: () = assert!(std::mem::size_of::<Known>() <= 32);

/// A time in the book: nanoseconds after its `base`, plus one (so that
/// `Option<Retry>` is 8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Retry(std::num::NonZeroU64);

impl Retry {
    /// `t` after `base` (a time before it counts as `base`).
    fn at(base: Instant, t: Instant) -> Retry {
        let n = u64::try_from(t.saturating_duration_since(base).as_nanos());
        Retry(std::num::NonZeroU64::MIN.saturating_add(n.unwrap_or(u64::MAX)))
    }
}

/// The outcome of [`AddrBook::failed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redial {
    /// Not tried again (forgotten, or a bootstrap left idle).
    No,
    /// Tried again at `at`. `note` when it is worth a line on stderr: a
    /// bootstrap at every try, any other address at its first failure.
    At {
        at: Instant,
        delay: Duration,
        note: bool,
    },
}

#[derive(Debug)]
pub struct AddrBook {
    /// What [`Retry`] times count from: the node's start.
    base: Instant,
    listen: SocketAddr,
    max_known: usize,
    backoff: Backoff,
    pub(super) known: AddrMap<Known>,
    /// Our own address under other names (found by dialing ourselves).
    own: VecSet<SocketAddr>,
    /// Addresses waiting for a free dial slot, oldest first.
    queue: VecDeque<SocketAddr>,
}

impl AddrBook {
    pub fn new(listen: SocketAddr, max_known: usize, backoff: Backoff, base: Instant) -> Self {
        AddrBook {
            base,
            listen,
            max_known,
            backoff,
            known: AddrMap::new(),
            own: VecSet::new(),
            queue: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// `t` as a time in the book.
    pub(super) fn retry(&self, t: Instant) -> Retry {
        Retry::at(self.base, t)
    }

    pub fn contains(&self, addr: SocketAddr) -> bool {
        self.known.contains_key(&addr)
    }

    pub fn get(&self, addr: SocketAddr) -> Option<&Known> {
        self.known.get(&addr)
    }

    /// Addresses with a retry pending.
    pub fn retrying(&self) -> usize {
        self.known.values().filter(|k| k.retry_at.is_some()).count()
    }

    /// Whether `addr` is this node's own.
    pub fn is_self(&self, addr: SocketAddr) -> bool {
        addr == self.listen || self.own.contains_key(&addr)
    }

    /// `addr` turned out to be this node: never dial it again.
    pub fn remember_self(&mut self, addr: SocketAddr) {
        if self.own.len() < self.max_known {
            self.own.add(addr);
        }
        self.known.remove(&addr);
    }

    pub fn has_bootstrap(&self) -> bool {
        self.known.values().any(|k| k.bootstrap)
    }

    pub fn add_bootstrap(&mut self, addr: SocketAddr) {
        self.known
            .get_or_insert_with(addr, Known::default)
            .bootstrap = true;
    }

    /// Learns `addr` from a peer list. False if it is not kept (no room).
    pub fn learn(&mut self, addr: SocketAddr, node_id: NodeId) -> bool {
        if !self.known.contains_key(&addr) {
            if self.known.len() >= self.max_known {
                return false;
            }
            self.known.insert(addr, Known::default());
        }
        let Some(k) = self.known.get_mut(&addr) else {
            return false;
        };
        k.set_node_id(Some(node_id));
        k.wanted = true;
        k.listed = true;
        true
    }

    /// `conn` became the established peer `node_id` listening at `addr`.
    /// An address forgotten while its dial was under way must fit under
    /// the cap again, taking an idle address's place if need be.
    pub fn connected(&mut self, addr: SocketAddr, node_id: NodeId, conn: ConnId) {
        if self.known.len() >= self.max_known && !self.known.contains_key(&addr) {
            self.evict_one();
        }
        if self.known.len() >= self.max_known && !self.known.contains_key(&addr) {
            return;
        }
        let k = self.known.get_or_insert_with(addr, Known::default);
        k.set_node_id(Some(node_id));
        k.set_conn(Some(conn));
        k.failures = 0;
        k.retry_at = None;
        k.wanted = true;
        k.member = true;
        // If this peer is lost and redialed, the mesh may have lost it too:
        // that reconnection is announced.
        k.listed = false;
    }

    /// A dial to `addr` started on `conn`.
    pub fn dialing(&mut self, addr: SocketAddr, conn: ConnId) {
        if let Some(k) = self.known.get_mut(&addr) {
            k.set_conn(Some(conn));
            k.retry_at = None;
        }
    }

    /// `conn` no longer reaches `addr`.
    pub fn detach(&mut self, addr: SocketAddr, conn: ConnId) {
        if let Some(k) = self.known.get_mut(&addr)
            && k.conn() == Some(conn)
        {
            k.set_conn(None);
        }
    }

    /// Whether another address of the same node is being dialed or is
    /// connected: a node listed under two names is dialed at one at a time.
    pub fn same_node_busy(&self, addr: SocketAddr) -> bool {
        let Some(n) = self.known.get(&addr).and_then(|k| k.node_id()) else {
            return false;
        };
        self.known
            .iter()
            .any(|(a, o)| a != addr && o.node_id() == Some(n) && o.conn().is_some())
    }

    pub fn set_retry(&mut self, addr: SocketAddr, at: Instant) {
        let at = self.retry(at);
        if let Some(k) = self.known.get_mut(&addr) {
            k.retry_at = Some(at);
        }
    }

    /// `addr` waits for a dial slot (the queue holds each once, at most
    /// `max_known`).
    pub fn queue_dial(&mut self, addr: SocketAddr) {
        if self.queue.len() < self.max_known && !self.queue.contains(&addr) {
            self.queue.push_back(addr);
        }
    }

    /// The oldest queued address still waiting for a dial.
    pub fn next_queued(&mut self) -> Option<SocketAddr> {
        while let Some(addr) = self.queue.pop_front() {
            if self
                .known
                .get(&addr)
                .is_some_and(|k| k.conn().is_none() && k.retry_at.is_some())
            {
                return Some(addr);
            }
        }
        None
    }

    /// A dial timer for `addr` fired: whether to dial now. A bootstrap
    /// address that was never a peer is redialed only while we have none.
    pub fn due(&mut self, addr: SocketAddr, now: Instant, have_peers: bool) -> bool {
        let now = self.retry(now);
        let Some(k) = self.known.get_mut(&addr) else {
            return false;
        };
        if k.retry_at.is_none_or(|t| t > now) {
            return false;
        }
        if k.bootstrap && !k.wanted && have_peers {
            k.retry_at = None;
            return false;
        }
        true
    }

    /// Not worth dialing again (it left, or is not a rumor peer); a
    /// bootstrap address stays known.
    pub fn forget(&mut self, addr: SocketAddr) {
        if let Some(k) = self.known.get_mut(&addr) {
            k.wanted = false;
            k.member = false;
            if !k.bootstrap {
                self.known.remove(&addr);
            }
        }
    }

    /// Forgets `addr` altogether, a bootstrap address too (it turned out
    /// to be a text host).
    pub fn remove(&mut self, addr: SocketAddr) {
        self.known.remove(&addr);
    }

    /// Forgets `addr` unless it is a bootstrap address.
    pub fn forget_unless_bootstrap(&mut self, addr: SocketAddr) {
        if self.known.get(&addr).is_some_and(|k| !k.bootstrap) {
            self.known.remove(&addr);
        }
    }

    /// An established peer at `addr` was lost: its backoff starts afresh.
    pub fn lost_peer(&mut self, addr: SocketAddr) {
        if let Some(k) = self.known.get_mut(&addr) {
            k.failures = 0;
            k.wanted = true;
        }
    }

    /// A dial to `addr` failed or its peer was lost: when to try again,
    /// with jitter drawn from `rng` (only when it is tried again).
    pub fn failed(
        &mut self,
        addr: SocketAddr,
        now: Instant,
        have_peers: bool,
        leaving: bool,
        rng: &mut fastrand::Rng,
    ) -> Redial {
        let (b, base) = (self.backoff, self.base);
        let Some(k) = self.known.get_mut(&addr) else {
            return Redial::No;
        };
        k.failures = k.failures.saturating_add(1);
        let standing = Standing {
            bootstrap: k.bootstrap,
            member: k.member,
            wanted: k.wanted,
        };
        if !b.keeps(standing, k.failures.into(), have_peers) || leaving {
            if k.bootstrap {
                k.retry_at = None;
            } else {
                self.known.remove(&addr);
            }
            return Redial::No;
        }
        let delay = b.delay(k.failures.into(), rng);
        let at = now + delay;
        k.retry_at = Some(Retry::at(base, at));
        Redial::At {
            at,
            delay,
            note: k.bootstrap || k.failures == 1,
        }
    }

    /// Bootstrap addresses neither connected nor waiting for a retry.
    pub fn idle_bootstraps(&self) -> Vec<SocketAddr> {
        self.known
            .iter()
            .filter(|(_, k)| k.bootstrap && k.conn().is_none() && k.retry_at.is_none())
            .map(|(a, _)| a)
            .collect()
    }

    /// Makes room: forgets an address with no connection that is not a
    /// bootstrap, one never connected before a member.
    fn evict_one(&mut self) {
        let idle = |k: &Known| k.conn().is_none() && !k.bootstrap;
        let victim = self
            .known
            .iter()
            .find(|(_, k)| idle(k) && !k.member)
            .or_else(|| self.known.iter().find(|(_, k)| idle(k)))
            .map(|(a, _)| a);
        if let Some(a) = victim {
            self.known.remove(&a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(max: usize) -> AddrBook {
        AddrBook::new(
            "127.0.0.1:7000".parse().unwrap(),
            max,
            Backoff {
                min: Duration::from_millis(250),
                max: Duration::from_secs(10),
                attempts: 3,
                heal: Duration::from_secs(30),
            },
            Instant::now(),
        )
    }

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn c(i: u32) -> ConnId {
        ConnId {
            index: i,
            generation: 0,
        }
    }

    #[test]
    fn learning_stops_at_the_cap_and_a_peer_takes_an_idle_place() {
        let mut b = book(2);
        assert!(b.learn(a(1), 1));
        assert!(b.learn(a(2), 2));
        assert!(!b.learn(a(3), 3));
        assert_eq!(b.len(), 2);
        b.connected(a(4), 4, c(0));
        assert_eq!(b.len(), 2);
        assert!(b.contains(a(4)));
    }

    #[test]
    fn backoff_doubles_with_jitter_then_gives_up() {
        let mut b = book(8);
        b.learn(a(1), 1);
        let t = Instant::now();
        let mut rng = fastrand::Rng::with_seed(3);
        let mut delays = Vec::new();
        for _ in 0..3 {
            match b.failed(a(1), t, true, false, &mut rng) {
                Redial::At { delay, .. } => delays.push(delay.as_millis()),
                Redial::No => panic!("gave up early"),
            }
        }
        // Each in the upper half of its doubling step.
        for (d, step) in delays.iter().zip([250, 500, 1000]) {
            assert!((step / 2..step).contains(d), "{d} for a {step} ms step");
        }
        assert_eq!(b.failed(a(1), t, true, false, &mut rng), Redial::No);
        assert!(!b.contains(a(1)), "forgotten after its attempts");
    }

    #[test]
    fn a_bootstrap_is_retried_while_alone_and_never_forgotten() {
        let mut b = book(8);
        b.add_bootstrap(a(1));
        let t = Instant::now();
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..20 {
            assert!(matches!(
                b.failed(a(1), t, false, false, &mut rng),
                Redial::At { note: true, .. }
            ));
        }
        assert_eq!(b.failed(a(1), t, true, false, &mut rng), Redial::No);
        assert!(b.contains(a(1)));
        assert_eq!(b.idle_bootstraps(), vec![a(1)]);
    }

    #[test]
    fn a_member_is_retried_forever_at_the_heal_interval_until_it_leaves() {
        let mut b = book(8);
        b.connected(a(1), 1, c(0));
        b.detach(a(1), c(0));
        b.lost_peer(a(1));
        let t = Instant::now();
        let mut rng = fastrand::Rng::with_seed(5);
        for i in 1..=1000 {
            let Redial::At { delay, note, .. } = b.failed(a(1), t, true, false, &mut rng) else {
                panic!("gave up on a member after {i} tries");
            };
            if i > 3 {
                let s = delay.as_secs_f64();
                assert!((15.0..30.0).contains(&s), "try {i}: {s}s");
                assert!(!note, "one stderr line, at the first failure");
            }
        }
        b.forget(a(1));
        assert!(!b.contains(a(1)), "it left with GOODBYE");
    }

    #[test]
    fn a_bootstrap_member_is_retried_even_with_other_peers() {
        let mut b = book(8);
        b.add_bootstrap(a(1));
        b.connected(a(1), 1, c(0));
        b.detach(a(1), c(0));
        let t = Instant::now();
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..50 {
            assert!(matches!(
                b.failed(a(1), t, true, false, &mut rng),
                Redial::At { .. }
            ));
        }
        assert_eq!(b.failed(a(1), t, true, true, &mut rng), Redial::No);
    }

    #[test]
    fn the_cap_evicts_addresses_never_connected_before_members() {
        let mut b = book(2);
        b.connected(a(1), 1, c(0));
        b.detach(a(1), c(0));
        b.learn(a(2), 2);
        b.connected(a(3), 3, c(1));
        assert!(b.contains(a(1)) && !b.contains(a(2)));
    }

    #[test]
    fn own_addresses_are_never_known() {
        let mut b = book(8);
        assert!(b.is_self(a(7000)));
        b.learn(a(5), 5);
        b.remember_self(a(5));
        assert!(b.is_self(a(5)) && !b.contains(a(5)));
    }

    #[test]
    fn the_dial_queue_skips_addresses_no_longer_waiting() {
        let mut b = book(8);
        let t = Instant::now();
        for p in 1..=3 {
            b.learn(a(p), p as u64);
            b.set_retry(a(p), t);
            b.queue_dial(a(p));
            b.queue_dial(a(p));
        }
        b.dialing(a(1), c(1));
        assert_eq!(b.next_queued(), Some(a(2)));
        assert_eq!(b.next_queued(), Some(a(3)));
        assert_eq!(b.next_queued(), None);
    }
}
