//! Plumtree, the epidemic broadcast tree (Leitão, Pereira, Rodrigues,
//! "Epidemic Broadcast Trees", SRDS 2007), as a pure state machine.
//!
//! Each neighbor (a peer of the active view) is either *eager* (a tree
//! link: first-seen payloads are pushed to it) or *lazy* (only their ids
//! are announced to it, in IHAVE batches). Every neighbor starts eager; a
//! duplicate payload from an eager neighbor makes it lazy and PRUNEs the
//! link, so the eager links thin out into a spanning tree. A payload
//! announced by IHAVE that does not arrive within `graft_timeout` is asked
//! for with GRAFT, which also makes that link eager again (the tree heals);
//! the next announcer is tried every `graft_retry`.
//!
//! Sans-IO: every call takes `now`, outputs are [`Action`]s appended to
//! the caller's vector, [`Plumtree::poll_timeout`] says when
//! [`Plumtree::handle_timeout`] is next due. Freshness is the caller's:
//! it keeps the seen table (`super::order::Sequencer`) and passes it in.
//!
//! Hop counts: a GOSSIP frame carries the number of relays before it (the
//! origin sends 0). A node that receives hops `h` pushes and announces the
//! message with `h + 1` (saturating), and answers a GRAFT with that same
//! `h + 1` ([`Cached::hops`] is the count this node sends), so a grafted
//! copy carries the hop count an eager push would have.
//!
//! Bounded (docs/LIMITS.md, "Broadcast tree and ordering"): the payload
//! cache (`cache_max_msgs`, `cache_max_bytes`, `cache_age`; the oldest
//! goes first), the IHAVE queues (`max_ihave_queue` per peer; the oldest
//! is dropped), the missing table (`missing_cap`, a new id past it is
//! ignored; `missing_age`, `max_graft_tries`; at most [`MAX_ANNOUNCERS`]
//! announcers an id). Every table starts empty and allocates on first use.
//!
//! Calls naming a peer that is not a neighbor (never `neighbor_up`, or
//! since `neighbor_down`) never add it to a set: its IHAVE is ignored, its
//! GRAFT is answered, its GOSSIP is relayed but it is not made eager.

mod cache;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::mem::size_of;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::keyhash::KeyHash;
use crate::vecmap::{Key, VecMap, VecSet};
use crate::wire::overlay::MAX_IHAVE;
use cache::Cache;
pub use cache::Cached;

/// A message's id: its origin node's random id and the origin's sequence
/// number for it (the wire's).
pub use crate::wire::overlay::MsgId;

/// Announcers remembered per missing id (one IHAVE from each neighbor at
/// most; a larger active view still grafts from the first 16).
pub const MAX_ANNOUNCERS: usize = 16;

/// The timers and caps of the tree (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct PlumtreeConfig {
    /// First wait for a payload announced by IHAVE before grafting it.
    pub graft_timeout: Duration,
    /// Wait after a GRAFT before trying the next announcer.
    pub graft_retry: Duration,
    /// Queued IHAVE announcements are sent this long after the first one
    /// (to any peer) was queued.
    pub ihave_delay: Duration,
    /// Entries in one IHAVE frame.
    pub max_ihave_batch: usize,
    /// Announcements queued per peer; at the cap the oldest is dropped.
    pub max_ihave_queue: usize,
    /// How long a payload is kept to answer GRAFTs: a GRAFT comes from a
    /// node that had our IHAVE and still misses the message, and it gives
    /// the id up `missing_age` after its first IHAVE, so no GRAFT can come
    /// much later than `missing_age` after we cached it.
    pub cache_age: Duration,
    /// Payload bytes cached in all; at the cap the oldest goes first.
    pub cache_max_bytes: usize,
    /// Payloads cached; at the cap the oldest goes first.
    pub cache_max_msgs: usize,
    /// Ids in the missing table; at the cap a new id is ignored.
    pub missing_cap: usize,
    /// An id still missing this long after its first IHAVE is given up.
    pub missing_age: Duration,
    /// GRAFTs sent for one id before it is given up.
    pub max_graft_tries: u32,
    /// The node's secret for hashing message ids (`super::keyhash`).
    pub hash_key: u64,
}

impl Default for PlumtreeConfig {
    fn default() -> Self {
        PlumtreeConfig {
            graft_timeout: Duration::from_millis(120),
            graft_retry: Duration::from_millis(60),
            ihave_delay: Duration::from_millis(50),
            max_ihave_batch: 64,
            max_ihave_queue: 1024,
            cache_age: Duration::from_secs(3),
            cache_max_bytes: 1 << 20,
            cache_max_msgs: 8192,
            missing_cap: 1024,
            missing_age: Duration::from_secs(2),
            max_graft_tries: 3,
            hash_key: 0,
        }
    }
}

/// What the node must send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<P> {
    /// A GOSSIP frame with the payload (shared with the cache).
    Push {
        to: P,
        id: MsgId,
        origin_addr: SocketAddr,
        hops: u8,
        payload: Rc<[u8]>,
    },
    /// An IHAVE frame: ids with the hop count they would arrive with.
    IHave { to: P, entries: Vec<(MsgId, u8)> },
    /// A GRAFT frame: send me `id`, and be a tree link.
    Graft { to: P, id: MsgId },
    /// A PRUNE frame: stop pushing payloads to me.
    Prune { to: P },
}

/// What the tree did that a user of it may want to count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// PRUNEs sent (duplicates from an eager neighbor).
    pub pruned: u64,
    /// GRAFTs sent.
    pub grafts_sent: u64,
    /// Announcements not sent: the neighbor announced the id first.
    pub ihave_spared: u64,
    /// GRAFTs received for a payload no longer (or never) cached.
    pub graft_misses: u64,
    /// Queued IHAVE announcements dropped at `max_ihave_queue`.
    pub ihave_dropped: u64,
    /// Announced ids not tracked because the missing table was full.
    pub missing_ignored: u64,
    /// Missing ids given up (`max_graft_tries`, `missing_age`, or no
    /// announcer left).
    pub missing_given_up: u64,
    /// Payloads dropped from the cache at a cap before their age.
    pub cache_evicted: u64,
}

/// Sums counters (of many nodes).
impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.pruned += o.pruned;
        self.grafts_sent += o.grafts_sent;
        self.ihave_spared += o.ihave_spared;
        self.graft_misses += o.graft_misses;
        self.ihave_dropped += o.ihave_dropped;
        self.missing_ignored += o.missing_ignored;
        self.missing_given_up += o.missing_given_up;
        self.cache_evicted += o.cache_evicted;
    }
}

#[derive(Debug)]
struct Missing<P> {
    /// Announcers not yet tried come first; a tried one goes to the back.
    announcers: VecDeque<P>,
    first: Instant,
    deadline: Instant,
    tries: u32,
}

/// The broadcast tree's state (see the module docs).
#[derive(Debug)]
pub struct Plumtree<P> {
    cfg: PlumtreeConfig,
    eager: VecSet<P>,
    lazy: VecSet<P>,
    cache: Cache,
    missing: HashMap<MsgId, Missing<P>, KeyHash>,
    missing_due: BTreeSet<(Instant, MsgId)>,
    ihave: VecMap<P, VecDeque<(MsgId, u8)>>,
    ihave_flush: Option<Instant>,
    counters: Counters,
}

impl<P: Key + Hash + Debug> Plumtree<P> {
    /// An empty tree: no neighbor, nothing cached, nothing allocated.
    pub fn new(cfg: PlumtreeConfig) -> Self {
        Plumtree {
            cfg,
            eager: VecSet::new(),
            lazy: VecSet::new(),
            cache: Cache::new(cfg.cache_age, cfg.cache_max_msgs, cfg.cache_max_bytes),
            missing: HashMap::with_hasher(KeyHash(cfg.hash_key)),
            missing_due: BTreeSet::new(),
            ihave: VecMap::new(),
            ihave_flush: None,
            counters: Counters::default(),
        }
    }

    /// The eager (tree) neighbors, in order.
    pub fn eager(&self) -> impl Iterator<Item = P> + '_ {
        self.eager.keys().copied()
    }

    /// Hints at the neighbor sets and the IHAVE queues' table.
    pub fn prefetch(&self) {
        self.eager.prefetch(2);
        self.lazy.prefetch(2);
        self.ihave.prefetch(2);
    }

    /// The lazy neighbors, in order.
    pub fn lazy(&self) -> impl Iterator<Item = P> + '_ {
        self.lazy.keys().copied()
    }

    /// What happened so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The cached payload of `id`, if it is still cached.
    pub fn payload(&self, id: MsgId) -> Option<Cached> {
        self.cache.get(id)
    }

    /// Ids in the missing table.
    pub fn missing_len(&self) -> usize {
        self.missing.len()
    }

    /// Payloads cached, and their bytes.
    pub fn cache_len(&self) -> (usize, usize) {
        self.cache.len()
    }

    /// `p` joined the active view: it is an eager neighbor (also if it was
    /// lazy).
    pub fn neighbor_up(&mut self, p: P) {
        self.lazy.remove(&p);
        self.eager.add(p);
    }

    /// `p` left the active view: it is no neighbor, its queued IHAVEs are
    /// dropped, and it is no announcer of any missing id (an id it alone
    /// announced is forgotten at once, not counted as given up).
    pub fn neighbor_down(&mut self, p: P) {
        self.eager.remove(&p);
        self.lazy.remove(&p);
        self.ihave.remove(&p);
        let due = &mut self.missing_due;
        self.missing.retain(|id, m| {
            m.announcers.retain(|a| *a != p);
            let keep = !m.announcers.is_empty();
            if !keep {
                due.remove(&(m.deadline, *id));
            }
            keep
        });
        if self.ihave.is_empty() {
            self.ihave_flush = None;
        }
    }

    fn is_neighbor(&self, p: P) -> bool {
        self.eager.contains_key(&p) || self.lazy.contains_key(&p)
    }

    fn make_eager(&mut self, p: P) {
        if !self.lazy.is_empty() && self.lazy.remove(&p).is_some() {
            self.eager.add(p);
        }
    }

    fn make_lazy(&mut self, p: P) -> bool {
        let was = self.eager.remove(&p).is_some();
        if was {
            self.lazy.add(p);
        }
        was
    }

    /// Our own message `id`: pushed with hops 0 to every neighbor, eager
    /// and lazy (the origin sends to its whole active view); not cached.
    pub fn broadcast(
        &mut self,
        id: MsgId,
        origin_addr: SocketAddr,
        payload: &[u8],
        out: &mut Vec<Action<P>>,
    ) {
        // Not cached: it is pushed to every neighbor and announced to none,
        // and only an announcer is ever grafted.
        let payload: Rc<[u8]> = Rc::from(payload);
        for to in self.neighbors() {
            out.push(push(to, id, origin_addr, 0, &payload));
        }
    }

    /// Every neighbor, eager then lazy: whom [`Plumtree::broadcast`]
    /// pushes to (a node sending its own message needs only this list).
    pub fn neighbors(&self) -> impl Iterator<Item = P> + '_ {
        self.eager.keys().chain(self.lazy.keys()).copied()
    }

    /// A GOSSIP frame from `from`. `fresh` (the caller's seen table says it
    /// is new): cached, no longer missing, `from` made eager if it was
    /// lazy, pushed with `hops + 1` to every other eager neighbor and
    /// queued for IHAVE to every other lazy one (cached only then: only a
    /// neighbor it was announced to grafts it). A duplicate from an eager
    /// neighbor makes it lazy and PRUNEs it; from a lazy one it is ignored.
    #[allow(clippy::too_many_arguments)]
    pub fn on_gossip(
        &mut self,
        from: P,
        id: MsgId,
        origin_addr: SocketAddr,
        hops: u8,
        payload: &[u8],
        fresh: bool,
        now: Instant,
        out: &mut Vec<Action<P>>,
    ) {
        if !fresh {
            if self.make_lazy(from) {
                self.counters.pruned += 1;
                out.push(Action::Prune { to: from });
            }
            return;
        }
        // A neighbor that announced it has it: no IHAVE goes back to it.
        let mut announcers = VecDeque::new();
        if !self.missing.is_empty()
            && let Some(m) = self.missing.remove(&id)
        {
            self.missing_due.remove(&(m.deadline, id));
            announcers = m.announcers;
        }
        self.make_eager(from);
        let hops = hops.saturating_add(1);
        let eager = self.eager.keys().any(|&p| p != from);
        let others = self.lazy.keys().copied().filter(|&p| p != from);
        let lazy: Vec<P> = others.filter(|p| !announcers.contains(p)).collect();
        let spared = self.lazy.len() - self.lazy.contains_key(&from) as usize - lazy.len();
        self.counters.ihave_spared += spared as u64;
        if lazy.is_empty() {
            // Only a neighbor it was announced to can GRAFT it from here:
            // with no IHAVE to send, nothing is cached (a node whose only
            // neighbor is the sender does no work for it at all).
            if eager {
                let payload: Rc<[u8]> = Rc::from(payload);
                for &to in self.eager.keys().filter(|&&p| p != from) {
                    out.push(push(to, id, origin_addr, hops, &payload));
                }
            }
            return;
        }
        let payload = self.cache_insert(id, origin_addr, hops, payload, now);
        for &to in self.eager.keys().filter(|&&p| p != from) {
            out.push(push(to, id, origin_addr, hops, &payload));
        }
        for to in lazy {
            self.queue_ihave(to, id, hops, now);
        }
    }

    fn queue_ihave(&mut self, to: P, id: MsgId, hops: u8, now: Instant) {
        if self.cfg.max_ihave_queue == 0 {
            self.counters.ihave_dropped += 1;
            return;
        }
        let q = self.ihave.get_or_insert_with(to, VecDeque::new);
        if q.len() >= self.cfg.max_ihave_queue {
            q.pop_front();
            self.counters.ihave_dropped += 1;
        }
        q.push_back((id, hops));
        self.ihave_flush.get_or_insert(now + self.cfg.ihave_delay);
    }

    /// Takes `id` off the queue to `to` if it is among the newest
    /// [`MAX_IHAVE`] entries queued there (an announcement crosses ours
    /// within a flush or two; looking deeper into a queue of up to
    /// `max_ihave_queue` for each of an IHAVE's 64 entries would let a
    /// peer make every frame cost 65,536 comparisons).
    fn unqueue_ihave(&mut self, to: P, id: MsgId) {
        if let Some(q) = self.ihave.get_mut(&to)
            && let Some(back) = q.iter().rev().take(MAX_IHAVE).position(|&(i, _)| i == id)
        {
            q.remove(q.len() - 1 - back);
            self.counters.ihave_spared += 1;
        }
    }

    /// An IHAVE frame from neighbor `from`: each id not `seen` is missing,
    /// with `from` as an announcer; the first announcement of an id sets
    /// its deadline to `now + graft_timeout`. A full table ignores new ids.
    pub fn on_ihave(
        &mut self,
        from: P,
        entries: impl IntoIterator<Item = (MsgId, u8)>,
        seen: impl Fn(MsgId) -> bool,
        now: Instant,
    ) {
        if !self.is_neighbor(from) {
            return;
        }
        for (id, _hops) in entries {
            if seen(id) {
                // It has it: our own announcement of it, if still queued,
                // would tell it nothing.
                self.unqueue_ihave(from, id);
                continue;
            }
            if let Some(m) = self.missing.get_mut(&id) {
                if m.announcers.len() < MAX_ANNOUNCERS && !m.announcers.contains(&from) {
                    m.announcers.push_back(from);
                }
                continue;
            }
            if self.missing.len() >= self.cfg.missing_cap {
                self.counters.missing_ignored += 1;
                continue;
            }
            let deadline = now + self.cfg.graft_timeout.min(self.cfg.missing_age);
            self.missing.insert(
                id,
                Missing {
                    announcers: VecDeque::from([from]),
                    first: now,
                    deadline,
                    tries: 0,
                },
            );
            self.missing_due.insert((deadline, id));
        }
    }

    /// A GRAFT frame: `from` (if a neighbor) becomes eager, and gets the
    /// payload if it is still cached, with the cached hop count (the one
    /// an eager push from here carries).
    pub fn on_graft(&mut self, from: P, id: MsgId, now: Instant, out: &mut Vec<Action<P>>) {
        self.cache.expire(now);
        self.make_eager(from);
        match self.cache.get(id) {
            Some(c) => out.push(push(from, id, c.origin_addr, c.hops, &c.payload)),
            None => self.counters.graft_misses += 1,
        }
    }

    /// A PRUNE frame: `from` (if eager) becomes lazy.
    pub fn on_prune(&mut self, from: P) {
        self.make_lazy(from);
    }

    /// When [`Plumtree::handle_timeout`] is next due: the earliest missing
    /// deadline, IHAVE flush, or cache expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let missing = self.missing_due.first().map(|&(t, _)| t);
        [missing, self.ihave_flush, self.cache.next_expiry()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs what is due at `now`: expired payloads leave the cache; each
    /// due missing id not `seen` is grafted from its next announcer (made
    /// eager), then waited for `graft_retry`, or given up after
    /// `max_graft_tries` GRAFTs or `missing_age`; due IHAVE queues are sent
    /// in frames of at most `max_ihave_batch` entries.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        seen: impl Fn(MsgId) -> bool,
        out: &mut Vec<Action<P>>,
    ) {
        self.handle_timeout_waiting(now, seen, |_| false, out);
    }

    /// [`Plumtree::handle_timeout`], but a due missing id that `wait`
    /// says is still coming another way (its origin, a neighbor, is
    /// behind on its own connection) is not grafted yet: it is looked at
    /// again `graft_retry` later, no try counted, until `missing_age`.
    pub fn handle_timeout_waiting(
        &mut self,
        now: Instant,
        seen: impl Fn(MsgId) -> bool,
        wait: impl Fn(MsgId) -> bool,
        out: &mut Vec<Action<P>>,
    ) {
        self.cache.expire(now);
        while let Some(&(due, id)) = self.missing_due.first() {
            if due > now {
                break;
            }
            self.missing_due.pop_first();
            let Some(mut m) = self.missing.remove(&id) else {
                continue;
            };
            if seen(id) {
                continue;
            }
            let gone = now >= m.first + self.cfg.missing_age;
            if m.tries >= self.cfg.max_graft_tries || gone || m.announcers.is_empty() {
                self.counters.missing_given_up += 1;
                continue;
            }
            if wait(id) {
                m.deadline = (now + self.cfg.graft_retry).min(m.first + self.cfg.missing_age);
                self.missing_due.insert((m.deadline, id));
                self.missing.insert(id, m);
                continue;
            }
            let to = m
                .announcers
                .pop_front()
                .expect("announcers checked non-empty");
            m.announcers.push_back(to);
            m.tries += 1;
            m.deadline = (now + self.cfg.graft_retry).min(m.first + self.cfg.missing_age);
            self.make_eager(to);
            self.counters.grafts_sent += 1;
            out.push(Action::Graft { to, id });
            self.missing_due.insert((m.deadline, id));
            self.missing.insert(id, m);
        }
        if self.ihave_flush.is_some_and(|t| t <= now) {
            self.ihave_flush = None;
            let batch = self.cfg.max_ihave_batch.max(1);
            for (to, q) in self.ihave.take() {
                let q = Vec::from(q);
                for chunk in q.chunks(batch) {
                    out.push(Action::IHave {
                        to,
                        entries: chunk.to_vec(),
                    });
                }
            }
        }
    }

    fn cache_insert(
        &mut self,
        id: MsgId,
        origin_addr: SocketAddr,
        hops: u8,
        payload: &[u8],
        now: Instant,
    ) -> Rc<[u8]> {
        let (shared, evicted) = self.cache.insert(id, origin_addr, hops, payload, now);
        self.counters.cache_evicted += evicted;
        shared
    }

    /// An estimate of the heap and inline bytes this state holds (table
    /// capacities and cached payloads; allocator overhead left out).
    pub fn memory(&self) -> usize {
        let set = |n: usize| n * (size_of::<P>() + 2 * size_of::<usize>());
        let cache = self.cache.memory();
        let missing = self.missing.capacity() * (size_of::<(MsgId, Missing<P>)>() + 1)
            + self
                .missing
                .values()
                .map(|m| m.announcers.capacity())
                .sum::<usize>()
                * size_of::<P>()
            + self.missing_due.len() * (size_of::<(Instant, MsgId)>() + size_of::<usize>());
        let ihave = self
            .ihave
            .values()
            .map(|q| size_of::<P>() + q.capacity() * size_of::<(MsgId, u8)>())
            .sum::<usize>();
        size_of::<Self>() + set(self.eager.len() + self.lazy.len()) + cache + missing + ihave
    }
}

fn push<P>(to: P, id: MsgId, origin_addr: SocketAddr, hops: u8, payload: &Rc<[u8]>) -> Action<P> {
    Action::Push {
        to,
        id,
        origin_addr,
        hops,
        payload: payload.clone(),
    }
}

#[cfg(test)]
mod net;
#[cfg(test)]
mod tests;
