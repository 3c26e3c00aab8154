//! The text hosts a node knows, and the messages waiting for each.
//!
//! A text host is an address: the IP of a connection that sent a valid text
//! message, with the message's port (or one announced by a peer, or one we
//! dialed that answered our hello with `Message received`).
//!
//! - **Probation.** A host learned from a message is *unproven* until one
//!   delivery to it succeeds; an unproven host is dropped at its first
//!   failure. So `1:text` (a port nothing listens on) never makes a lasting
//!   member: it fails its first delivery and is gone. A host becomes proven
//!   when a delivery succeeds (the core then announces it to its peers), or
//!   at once when a peer announces it or it answered our hello.
//! - **Failures.** A proven host is dropped after `max_failures` (3)
//!   deliveries in a row fail; any success resets the count.
//! - **Age.** A host neither heard from nor delivered to for `max_idle`
//!   (10 min) is dropped; with a period of a few seconds a live host is
//!   refreshed at every message.
//! - **Cap.** At most `cap` (64) hosts. At the cap a newcomer takes the
//!   place of the unproven host heard from longest ago; if every host is
//!   proven it is refused (and the core says so once): members are never
//!   displaced, so one sender inventing ports cannot push real hosts out.
//! - **Queues.** Each host has at most one delivery in flight (one
//!   connection) and at most `max_queued` (16) messages waiting; a message
//!   that finds the queue full is not queued for that host, and the
//!   `Sending` line leaves it out. A dropped host's queue is discarded and
//!   counted.
//!
//! Iteration order is insertion order, so `Sending` lines are stable.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Default cap on text hosts.
pub const CAP: usize = 64;
/// Default consecutive failures that drop a proven host.
pub const MAX_FAILURES: u8 = 3;
/// Default time without news that drops a host.
pub const MAX_IDLE: Duration = Duration::from_secs(600);
/// Default messages waiting per host.
pub const MAX_QUEUED: usize = 16;

/// How a host was learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// It sent us a valid text message (its port is the message's): on
    /// probation until a delivery succeeds.
    Message,
    /// A peer announced it: that peer delivered to it.
    Announced,
    /// We dialed it and it answered our hello with `Message received`.
    Dialed,
}

/// What [`TextHosts::learn`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learn {
    /// A new host. `proven` says whether the core should announce it now.
    Added { proven: bool },
    /// It took the place of this unproven host.
    Replaced { proven: bool, evicted: SocketAddr },
    /// Already known; refreshed. `now_proven`: it was on probation and an
    /// announcement or a dial just proved it.
    Known { now_proven: bool },
    /// The table is full of proven hosts: not remembered.
    Full,
}

/// Why a host was dropped; printed as `dropped the text host "ADDR": WHY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// Its first delivery failed (nothing listens at the port it gave).
    Unproven,
    /// This many deliveries in a row failed.
    Failures(u8),
    /// Nothing heard from it or delivered to it for this long.
    Idle(Duration),
}

impl fmt::Display for Drop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drop::Unproven => write!(f, "the first message to it failed"),
            Drop::Failures(n) => write!(f, "{n} messages in a row to it failed"),
            Drop::Idle(d) => write!(
                f,
                "nothing heard from or delivered to it for {}",
                humantime::format_duration(*d)
            ),
        }
    }
}

#[derive(Debug)]
struct Host {
    addr: SocketAddr,
    proven: bool,
    failures: u8,
    /// Last time it sent us a message or took a delivery.
    last_seen: Instant,
    in_flight: bool,
    queue: VecDeque<Rc<[u8]>>,
}

/// The table (see the module docs).
#[derive(Debug)]
pub struct TextHosts {
    hosts: Vec<Host>,
    cap: usize,
    max_failures: u8,
    max_idle: Duration,
    max_queued: usize,
}

impl Default for TextHosts {
    fn default() -> Self {
        Self::new(CAP, MAX_FAILURES, MAX_IDLE, MAX_QUEUED)
    }
}

impl TextHosts {
    pub fn new(cap: usize, max_failures: u8, max_idle: Duration, max_queued: usize) -> Self {
        TextHosts {
            hosts: Vec::new(),
            cap,
            max_failures: max_failures.max(1),
            max_idle,
            max_queued,
        }
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    pub fn contains(&self, addr: SocketAddr) -> bool {
        self.find(addr).is_some()
    }

    /// Every host, in the order learned.
    pub fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.hosts.iter().map(|h| h.addr)
    }

    /// The hosts with a message waiting or a delivery in flight.
    pub fn busy(&self) -> Vec<SocketAddr> {
        self.hosts
            .iter()
            .filter(|h| h.in_flight || !h.queue.is_empty())
            .map(|h| h.addr)
            .collect()
    }

    /// The proven hosts: what a node announces to a newcomer.
    pub fn proven(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.hosts.iter().filter(|h| h.proven).map(|h| h.addr)
    }

    fn find(&self, addr: SocketAddr) -> Option<usize> {
        let addr = super::canonical(addr);
        self.hosts.iter().position(|h| h.addr == addr)
    }

    /// Remembers `addr`, learned `how`, at `now`.
    /// An IPv4-mapped address is kept as plain IPv4 ([`super::canonical`]).
    pub fn learn(&mut self, addr: SocketAddr, how: Learned, now: Instant) -> Learn {
        let addr = super::canonical(addr);
        let proven = how != Learned::Message;
        if let Some(i) = self.find(addr) {
            let h = &mut self.hosts[i];
            h.last_seen = now;
            let now_proven = proven && !h.proven;
            h.proven |= proven;
            return Learn::Known { now_proven };
        }
        let host = Host {
            addr,
            proven,
            failures: 0,
            last_seen: now,
            in_flight: false,
            queue: VecDeque::new(),
        };
        if self.hosts.len() < self.cap {
            self.hosts.push(host);
            return Learn::Added { proven };
        }
        let victim = self
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.proven)
            .min_by_key(|(_, h)| h.last_seen)
            .map(|(i, _)| i);
        match victim {
            Some(i) => {
                let evicted = self.hosts.remove(i).addr;
                self.hosts.push(host);
                Learn::Replaced { proven, evicted }
            }
            None => Learn::Full,
        }
    }

    /// Queues `text` for every host whose queue has room; returns the
    /// hosts it was queued for, for the `Sending` line. The caller has
    /// checked [`super::fits`].
    pub fn queue_all(&mut self, text: &Rc<[u8]>) -> Vec<SocketAddr> {
        let mut to = Vec::new();
        for h in &mut self.hosts {
            if h.queue.len() < self.max_queued {
                h.queue.push_back(text.clone());
                to.push(h.addr);
            }
        }
        to
    }

    /// The next delivery to start, if a host with a waiting message has
    /// none in flight: that host is then busy until [`Self::delivered`] or
    /// [`Self::failed`]. Call until `None`.
    pub fn next_delivery(&mut self) -> Option<(SocketAddr, Rc<[u8]>)> {
        let h = self
            .hosts
            .iter_mut()
            .find(|h| !h.in_flight && !h.queue.is_empty())?;
        let text = h.queue.pop_front()?;
        h.in_flight = true;
        Some((h.addr, text))
    }

    /// A delivery to `addr` succeeded at `now`. Returns `true` when this
    /// proved an unproven host (the core announces it).
    pub fn delivered(&mut self, addr: SocketAddr, now: Instant) -> bool {
        let Some(i) = self.find(addr) else {
            return false;
        };
        let h = &mut self.hosts[i];
        h.in_flight = false;
        h.failures = 0;
        h.last_seen = now;
        let newly = !h.proven;
        h.proven = true;
        newly
    }

    /// A delivery to `addr` failed. Returns why the host was dropped, with
    /// the number of messages that were still waiting for it, if it was.
    pub fn failed(&mut self, addr: SocketAddr) -> Option<(Drop, usize)> {
        let i = self.find(addr)?;
        let h = &mut self.hosts[i];
        h.in_flight = false;
        h.failures = h.failures.saturating_add(1);
        let why = if !h.proven {
            Drop::Unproven
        } else if h.failures >= self.max_failures {
            Drop::Failures(h.failures)
        } else {
            return None;
        };
        let h = self.hosts.remove(i);
        Some((why, h.queue.len()))
    }

    /// Drops `addr` (for example: it turned out to be a rumor peer).
    /// Returns the number of messages that were waiting for it.
    pub fn remove(&mut self, addr: SocketAddr) -> Option<usize> {
        let i = self.find(addr)?;
        Some(self.hosts.remove(i).queue.len())
    }

    /// Drops the hosts idle for `max_idle` at `now`, except those with a
    /// delivery in flight (its outcome decides), and says which and why.
    pub fn expire(&mut self, now: Instant) -> Vec<(SocketAddr, Drop)> {
        let max = self.max_idle;
        let mut gone = Vec::new();
        self.hosts.retain(|h| {
            let idle = now.saturating_duration_since(h.last_seen);
            let keep = h.in_flight || idle < max;
            if !keep {
                gone.push((h.addr, Drop::Idle(max)));
            }
            keep
        });
        gone
    }

    /// When the next host may be idle long enough to expire.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.hosts.iter().map(|h| h.last_seen + self.max_idle).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn text(s: &str) -> Rc<[u8]> {
        Rc::from(s.as_bytes())
    }

    #[test]
    fn a_host_from_a_message_that_fails_its_first_delivery_is_gone() {
        let t0 = Instant::now();
        let mut t = TextHosts::default();
        assert_eq!(
            t.learn(a(1), Learned::Message, t0),
            Learn::Added { proven: false }
        );
        assert_eq!(t.proven().count(), 0);
        assert_eq!(t.queue_all(&text("hi")), vec![a(1)]);
        let (to, _) = t.next_delivery().unwrap();
        assert_eq!(to, a(1));
        assert_eq!(t.failed(a(1)), Some((Drop::Unproven, 0)));
        assert!(t.is_empty());
        assert_eq!(Drop::Unproven.to_string(), "the first message to it failed");
    }

    #[test]
    fn a_proven_host_survives_two_failures_and_goes_at_the_third() {
        let t0 = Instant::now();
        let mut t = TextHosts::default();
        t.learn(a(9), Learned::Message, t0);
        t.queue_all(&text("1"));
        t.next_delivery();
        assert!(t.delivered(a(9), t0));
        assert_eq!(t.proven().collect::<Vec<_>>(), vec![a(9)]);
        for round in 0..2 {
            t.queue_all(&text("x"));
            t.next_delivery().unwrap();
            assert_eq!(t.failed(a(9)), None, "round {round}");
        }
        // A success resets the count.
        t.queue_all(&text("ok"));
        t.next_delivery().unwrap();
        assert!(!t.delivered(a(9), t0));
        for _ in 0..2 {
            t.queue_all(&text("x"));
            t.next_delivery().unwrap();
            assert_eq!(t.failed(a(9)), None);
        }
        t.queue_all(&text("x"));
        t.queue_all(&text("waiting"));
        t.next_delivery().unwrap();
        assert_eq!(t.failed(a(9)), Some((Drop::Failures(3), 1)));
        assert!(!t.contains(a(9)));
    }

    #[test]
    fn announced_and_dialed_hosts_are_proven_and_prove_a_known_one() {
        let t0 = Instant::now();
        let mut t = TextHosts::default();
        assert_eq!(
            t.learn(a(1), Learned::Announced, t0),
            Learn::Added { proven: true }
        );
        assert_eq!(
            t.learn(a(2), Learned::Dialed, t0),
            Learn::Added { proven: true }
        );
        t.learn(a(3), Learned::Message, t0);
        assert_eq!(
            t.learn(a(3), Learned::Message, t0),
            Learn::Known { now_proven: false }
        );
        assert_eq!(
            t.learn(a(3), Learned::Announced, t0),
            Learn::Known { now_proven: true }
        );
        assert_eq!(t.proven().count(), 3);
        assert_eq!(t.addrs().collect::<Vec<_>>(), vec![a(1), a(2), a(3)]);
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:3".parse().unwrap();
        assert_eq!(
            t.learn(mapped, Learned::Message, t0),
            Learn::Known { now_proven: false }
        );
        assert!(t.contains(mapped));
    }

    #[test]
    fn at_the_cap_newcomers_displace_only_unproven_hosts() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut t = TextHosts::new(3, 3, MAX_IDLE, 4);
        t.learn(a(1), Learned::Announced, t0);
        t.learn(a(2), Learned::Message, t0 + s);
        t.learn(a(3), Learned::Message, t0);
        // a(3) is the unproven host heard from longest ago.
        assert_eq!(
            t.learn(a(4), Learned::Message, t0 + 2 * s),
            Learn::Replaced {
                proven: false,
                evicted: a(3)
            }
        );
        assert_eq!(
            t.learn(a(5), Learned::Announced, t0 + 2 * s),
            Learn::Replaced {
                proven: true,
                evicted: a(2)
            }
        );
        t.queue_all(&text("p"));
        let (h, _) = t.next_delivery().unwrap();
        t.delivered(h, t0);
        t.next_delivery().unwrap();
        t.delivered(a(4), t0);
        assert_eq!(t.proven().count(), 3);
        assert_eq!(t.learn(a(6), Learned::Message, t0), Learn::Full);
        assert_eq!(t.learn(a(6), Learned::Announced, t0), Learn::Full);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn one_delivery_in_flight_per_host_and_a_bounded_queue() {
        let t0 = Instant::now();
        let mut t = TextHosts::new(CAP, 3, MAX_IDLE, 2);
        t.learn(a(1), Learned::Dialed, t0);
        t.learn(a(2), Learned::Dialed, t0);
        assert_eq!(t.queue_all(&text("a")), vec![a(1), a(2)]);
        assert_eq!(t.queue_all(&text("b")), vec![a(1), a(2)]);
        assert_eq!(t.queue_all(&text("c")), vec![]);
        let first: Vec<_> = std::iter::from_fn(|| t.next_delivery()).collect();
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|(_, m)| &m[..] == b"a"));
        t.delivered(a(2), t0);
        let (h, m) = t.next_delivery().unwrap();
        assert_eq!((h, &m[..]), (a(2), &b"b"[..]));
        assert_eq!(t.next_delivery(), None);
        // a(1) still holds "b" (one of two); a(2) holds nothing.
        assert_eq!(t.queue_all(&text("d")), vec![a(1), a(2)]);
        assert_eq!(t.queue_all(&text("e")), vec![a(2)]);
    }

    #[test]
    fn idle_hosts_expire_but_not_mid_delivery() {
        let t0 = Instant::now();
        let mut t = TextHosts::default();
        t.learn(a(1), Learned::Dialed, t0);
        t.learn(a(2), Learned::Dialed, t0);
        t.learn(a(3), Learned::Dialed, t0 + Duration::from_secs(60));
        assert_eq!(t.next_expiry(), Some(t0 + MAX_IDLE));
        t.queue_all(&text("x"));
        t.next_delivery();
        assert_eq!(t.expire(t0 + MAX_IDLE - Duration::from_secs(1)), vec![]);
        assert_eq!(t.expire(t0 + MAX_IDLE), vec![(a(2), Drop::Idle(MAX_IDLE))]);
        assert_eq!(t.addrs().collect::<Vec<_>>(), vec![a(1), a(3)]);
        assert_eq!(
            Drop::Idle(MAX_IDLE).to_string(),
            "nothing heard from or delivered to it for 10m"
        );
        assert_eq!(t.remove(a(1)), Some(0));
        assert_eq!(t.remove(a(1)), None);
    }
}
