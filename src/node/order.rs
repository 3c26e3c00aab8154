//! Per-origin ordering, and the seen table (one and the same).
//!
//! Every message carries its origin's id and the origin's sequence number
//! ([`MsgId`]). Per origin the [`Sequencer`] keeps the next sequence number
//! it expects and the later messages it holds; a message is *seen* when its
//! seq is below that next one (delivered, skipped, or from before the
//! origin was first heard of) or is held. That is the whole seen table:
//! nothing else remembers ids.
//!
//! Rules:
//! - **The first message heard from an origin starts it**: it is delivered,
//!   and every earlier seq of that origin counts as seen and is dropped,
//!   but for the [`LATE`] just before it that come within `gap_wait` of it:
//!   they are delivered when they come (a relayed copy of a later message
//!   can overtake the first ones). So a node never prints a message sent
//!   well before it joined, nor loses one to that race.
//! - A message with the next seq is delivered at once, with the held ones
//!   that follow it. A later one is held; the gap before it is waited for
//!   `gap_wait` (from the arrival of the first message after the gap),
//!   then its seqs are skipped: reported as a [`Skip`] and what follows is
//!   delivered. A skipped seq that turns up later is seen, never printed.
//! - Over `max_held_per_origin` held messages for one origin, or
//!   `max_held_bytes` of held payload in all, a gap is skipped at once
//!   (that origin's first one; for the byte cap, the oldest gap of all).
//! - An origin not heard from for `origin_idle` is forgotten, and at
//!   `max_origins` the origin heard from longest ago is forgotten to make
//!   room (its held messages are delivered first, its gaps reported as
//!   skipped). Forgetting costs only this: its next message starts it
//!   anew, so a replayed old message of it (a peer resending an id long
//!   done) would be printed again. Forgetting is what keeps the table
//!   bounded; nothing a peer sends can hold an origin past `origin_idle`
//!   without sending.
//! - Sequence numbers do not wrap: after seq `u32::MAX` every further
//!   message of that origin is seen (it needs a new id). Nothing panics.
//!
//! Sans-IO: every call takes `now`; deliveries and skips are handed to the
//! caller's `emit` in order; [`Sequencer::poll_timeout`] says when
//! [`Sequencer::handle_timeout`] is due. Empty, it holds no memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::mem::size_of;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::keyhash::KeyHash;
use super::plumtree::MsgId;

/// The sequencer's limits (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct OrderConfig {
    /// How long a gap is waited for before its seqs are skipped.
    pub gap_wait: Duration,
    /// Origins remembered; at the cap the one heard from longest ago goes.
    pub max_origins: usize,
    /// An origin not heard from this long is forgotten.
    pub origin_idle: Duration,
    /// Messages held for one origin; over it a gap is skipped at once.
    pub max_held_per_origin: usize,
    /// Payload bytes held for all origins; over it the oldest gap is
    /// skipped at once.
    pub max_held_bytes: usize,
    /// The node's secret for hashing origin ids (`super::keyhash`).
    pub hash_key: u64,
}

impl Default for OrderConfig {
    fn default() -> Self {
        OrderConfig {
            gap_wait: Duration::from_secs(2),
            max_origins: 4096,
            origin_idle: Duration::from_secs(600),
            max_held_per_origin: 256,
            max_held_bytes: 4 << 20,
            hash_key: 0,
        }
    }
}

/// A message to print, in its origin's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub id: MsgId,
    pub origin_addr: SocketAddr,
    pub hops: u8,
    pub payload: &'a [u8],
}

/// Seqs `first..=last` of an origin given up on (the node says so on
/// stderr). `origin_addr` is the one the message after the gap carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skip {
    pub origin: u64,
    pub origin_addr: SocketAddr,
    pub first: u32,
    pub last: u32,
}

/// What the sequencer hands out, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ordered<'a> {
    Deliver(Delivery<'a>),
    Skip(Skip),
}

/// What happened so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages refused as already seen.
    pub duplicates: u64,
    /// Seqs skipped (after `gap_wait`, or at a cap).
    pub skipped: u64,
    /// Gaps skipped early because a held cap was reached.
    pub skipped_at_cap: u64,
    /// Origins forgotten at `max_origins`.
    pub origins_evicted: u64,
    /// Origins forgotten after `origin_idle`.
    pub origins_expired: u64,
    /// Messages older than an origin's first one, printed late because
    /// they came within `gap_wait` of it (a relayed copy overtook them).
    pub late_starts: u64,
}

/// Sums counters (of many nodes).
impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.duplicates += o.duplicates;
        self.skipped += o.skipped;
        self.skipped_at_cap += o.skipped_at_cap;
        self.origins_evicted += o.origins_evicted;
        self.origins_expired += o.origins_expired;
        self.late_starts += o.late_starts;
    }
}

#[derive(Debug)]
struct Held {
    addr: SocketAddr,
    hops: u8,
    payload: Box<[u8]>,
    arrived: Nanos,
}

/// A time in the table: nanoseconds after its `base` (8 bytes where an
/// `Instant` takes 16; every origin holds three).
type Nanos = u64;

/// `gap_due` when there is no gap.
const NO_GAP: Nanos = Nanos::MAX;

/// One origin: 56 bytes (a table slot 64), where `Instant`s and an inline
/// map of held messages took 112. A node of a network where every member
/// writes holds one for each.
#[derive(Debug)]
struct Origin {
    /// The next seq to deliver (u64: past `u32::MAX` everything is seen).
    next: u64,
    /// Messages held past a gap; `None` when none is (no memory). Boxed
    /// on purpose: inline, the map's 24 bytes are in every origin.
    #[allow(clippy::box_collection)]
    held: Option<Box<BTreeMap<u32, Held>>>,
    /// When the current gap is given up, or [`NO_GAP`].
    gap_due: Nanos,
    heard: Nanos,
    /// The first seq seen, and when: up to [`LATE`] seqs before it that
    /// come within `gap_wait` of it are still delivered (out of order:
    /// the origin's first messages can be overtaken by a relayed copy of
    /// a later one).
    start: u64,
    started: Nanos,
    /// Bit `i`: seq `start - 1 - i` has come (delivered late, or too late).
    early: u64,
}

const _: () = assert!(size_of::<Origin>() <= 56);

impl Origin {
    /// Origin `o` (this one) was heard from at `now`: its place in the
    /// `by_heard` index moves, once a turn (messages read in one turn
    /// share `now`).
    fn heard_at(&mut self, o: u64, now: Nanos, by_heard: &mut BTreeSet<(Nanos, u64)>) {
        if self.heard != now {
            by_heard.remove(&(self.heard, o));
            by_heard.insert((now, o));
            self.heard = now;
        }
    }

    fn holds(&self, seq: u32) -> bool {
        self.held.as_ref().is_some_and(|h| h.contains_key(&seq))
    }

    fn held_len(&self) -> usize {
        self.held.as_ref().map_or(0, |h| h.len())
    }
}

/// `d` in nanoseconds (saturating: 584 years).
fn nanos_of(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(Nanos::MAX - 1)
}

/// How many seqs before an origin's first one may still be delivered.
const LATE: u64 = 64;

/// The per-origin order and seen table (see the module docs).
#[derive(Debug)]
pub struct Sequencer {
    cfg: OrderConfig,
    origins: HashMap<u64, Origin, KeyHash>,
    by_heard: BTreeSet<(Nanos, u64)>,
    gaps: BTreeSet<(Nanos, u64)>,
    held_bytes: usize,
    /// What the table's times count from: the first message's `now`.
    base: Option<Instant>,
    counters: Counters,
}

impl Sequencer {
    /// An empty table.
    pub fn new(cfg: OrderConfig) -> Self {
        Sequencer {
            cfg,
            origins: HashMap::with_hasher(KeyHash(cfg.hash_key)),
            by_heard: BTreeSet::new(),
            gaps: BTreeSet::new(),
            held_bytes: 0,
            base: None,
            counters: Counters::default(),
        }
    }

    /// What happened so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Origins remembered, messages held, and their payload bytes.
    pub fn len(&self) -> (usize, usize, usize) {
        let held = self.origins.values().map(Origin::held_len).sum();
        (self.origins.len(), held, self.held_bytes)
    }

    /// Whether no origin is remembered.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// Whether `id` was seen: below its origin's next seq, or held; for
    /// one of the [`LATE`] seqs before the origin's first, whether it came.
    pub fn is_seen(&self, id: MsgId) -> bool {
        self.origins.get(&id.origin).is_some_and(|o| {
            let seq = u64::from(id.seq);
            match o.start.checked_sub(seq + 1) {
                Some(i) if i < LATE => o.early & (1 << i) != 0,
                Some(_) => true,
                None => seq < o.next || o.holds(id.seq),
            }
        })
    }

    /// Whether `id` would be held rather than printed: its origin is
    /// known, and it is past the next sequence number, not seen yet.
    pub fn is_ahead(&self, id: MsgId) -> bool {
        self.origins.get(&id.origin).is_some_and(|o| {
            let seq = u64::from(id.seq);
            seq > o.next && !o.holds(id.seq)
        })
    }

    /// Takes a message: `false` if it was seen (a duplicate, or from
    /// before its origin started), else it is delivered now (with what it
    /// unblocks) or held, and `true`. A cap reached skips a gap at once.
    pub fn accept(
        &mut self,
        id: MsgId,
        origin_addr: SocketAddr,
        hops: u8,
        payload: &[u8],
        now: Instant,
        emit: &mut impl FnMut(Ordered<'_>),
    ) -> bool {
        let this = Delivery {
            id,
            origin_addr,
            hops,
            payload,
        };
        let at = self.nanos(now);
        // The usual case, in one table lookup: a known origin's next
        // message with nothing held. It is not seen (seq is `next`, at or
        // after `start`, and nothing is held) and releases nothing.
        let Sequencer {
            origins, by_heard, ..
        } = self;
        if let Some(origin) = origins.get_mut(&id.origin)
            && u64::from(id.seq) == origin.next
            && origin.held.is_none()
        {
            origin.next += 1;
            origin.heard_at(id.origin, at, by_heard);
            emit(Ordered::Deliver(this));
            return true;
        }
        if self.is_seen(id) {
            self.counters.duplicates += 1;
            return false;
        }
        let o = id.origin;
        if let Some(origin) = self.origins.get_mut(&o)
            && let Some(i) = origin.start.checked_sub(u64::from(id.seq) + 1)
        {
            // Before the origin's first message (is_seen let only the
            // last LATE through): delivered if it came soon enough.
            origin.early |= 1 << i;
            if at.saturating_sub(origin.started) >= nanos_of(self.cfg.gap_wait) {
                self.counters.duplicates += 1;
                return false;
            }
            self.counters.late_starts += 1;
            emit(Ordered::Deliver(this));
            return true;
        }
        if let Some(origin) = self.origins.get_mut(&o) {
            origin.heard_at(o, at, &mut self.by_heard);
        } else {
            if self.origins.len() >= self.cfg.max_origins.max(1)
                && let Some(&(_, oldest)) = self.by_heard.first()
            {
                self.forget(oldest, emit);
                self.counters.origins_evicted += 1;
            }
            let origin = Origin {
                next: u64::from(id.seq),
                held: None,
                gap_due: NO_GAP,
                heard: at,
                start: u64::from(id.seq),
                started: at,
                early: 0,
            };
            self.origins.insert(o, origin);
            self.by_heard.insert((at, o));
        }
        let origin = self.origins.get_mut(&o).expect("inserted above");
        if u64::from(id.seq) == origin.next {
            origin.next += 1;
            emit(Ordered::Deliver(this));
            self.release(o, emit);
        } else {
            let held = Held {
                addr: origin_addr,
                hops,
                payload: payload.into(),
                arrived: at,
            };
            origin.held.get_or_insert_default().insert(id.seq, held);
            self.held_bytes += payload.len();
            // The earliest arrival among the held is unchanged by this one.
            if origin.gap_due == NO_GAP {
                self.reindex_gap(o);
            }
        }
        while self.origins[&o].held_len() > self.cfg.max_held_per_origin {
            self.counters.skipped_at_cap += 1;
            self.skip_gap(o, emit);
        }
        while self.held_bytes > self.cfg.max_held_bytes
            && let Some(&(_, oldest)) = self.gaps.first()
        {
            self.counters.skipped_at_cap += 1;
            self.skip_gap(oldest, emit);
        }
        true
    }

    /// When [`Sequencer::handle_timeout`] is next due: the earliest gap
    /// deadline or idle origin.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let gap = self.gaps.first().map(|&(t, _)| t);
        let idle = self
            .by_heard
            .first()
            .map(|&(t, _)| t.saturating_add(nanos_of(self.cfg.origin_idle)));
        let due = gap.into_iter().chain(idle).min()?;
        self.base?.checked_add(Duration::from_nanos(due))
    }

    /// Skips every gap waited for `gap_wait` by `now` (reporting it and
    /// delivering what follows), and forgets origins idle `origin_idle`.
    pub fn handle_timeout(&mut self, now: Instant, emit: &mut impl FnMut(Ordered<'_>)) {
        let now = self.nanos(now);
        while let Some(&(due, o)) = self.gaps.first() {
            if due > now {
                break;
            }
            self.skip_gap(o, emit);
        }
        while let Some(&(heard, o)) = self.by_heard.first() {
            if heard.saturating_add(nanos_of(self.cfg.origin_idle)) > now {
                break;
            }
            self.forget(o, emit);
            self.counters.origins_expired += 1;
        }
    }

    /// Delivers origin `o`'s held messages from its next seq on, as far
    /// as they run without a gap, and reindexes its gap.
    fn release(&mut self, o: u64, emit: &mut impl FnMut(Ordered<'_>)) {
        let origin = self.origins.get_mut(&o).expect("a known origin");
        let mut released = false;
        while let Some(entry) = origin.held.as_mut().and_then(|h| h.first_entry()) {
            if u64::from(*entry.key()) != origin.next {
                break;
            }
            let (seq, h) = entry.remove_entry();
            if origin.held.as_ref().is_some_and(|h| h.is_empty()) {
                origin.held = None;
            }
            origin.next += 1;
            released = true;
            self.held_bytes -= h.payload.len();
            emit(Ordered::Deliver(Delivery {
                id: MsgId { origin: o, seq },
                origin_addr: h.addr,
                hops: h.hops,
                payload: &h.payload,
            }));
        }
        if released {
            self.reindex_gap(o);
        }
    }

    /// Gives up origin `o`'s first gap: reports it, delivers what follows.
    fn skip_gap(&mut self, o: u64, emit: &mut impl FnMut(Ordered<'_>)) {
        let origin = self.origins.get_mut(&o).expect("a known origin");
        let Some((&seq, h)) = origin.held.as_ref().and_then(|h| h.first_key_value()) else {
            self.reindex_gap(o);
            return;
        };
        // Held seqs are above `next`, so `next` fits a u32 here.
        let first = u32::try_from(origin.next).unwrap_or(u32::MAX);
        self.counters.skipped += u64::from(seq) - origin.next;
        origin.next = u64::from(seq);
        emit(Ordered::Skip(Skip {
            origin: o,
            origin_addr: h.addr,
            first,
            last: seq - 1,
        }));
        self.release(o, emit);
    }

    /// Keeps the gap index in step with origin `o`'s held messages: its
    /// gap is due `gap_wait` after the earliest arrival among them.
    fn reindex_gap(&mut self, o: u64) {
        let origin = self.origins.get_mut(&o).expect("a known origin");
        let since = origin
            .held
            .iter()
            .flat_map(|h| h.values())
            .map(|h| h.arrived)
            .min();
        let due = since.map_or(NO_GAP, |t| {
            t.saturating_add(nanos_of(self.cfg.gap_wait))
                .min(NO_GAP - 1)
        });
        if due != origin.gap_due {
            if origin.gap_due != NO_GAP {
                self.gaps.remove(&(origin.gap_due, o));
            }
            if due != NO_GAP {
                self.gaps.insert((due, o));
            }
            origin.gap_due = due;
        }
    }

    /// Forgets origin `o`, after delivering what it holds.
    fn forget(&mut self, o: u64, emit: &mut impl FnMut(Ordered<'_>)) {
        while self.origins[&o].gap_due != NO_GAP {
            self.skip_gap(o, emit);
        }
        if let Some(origin) = self.origins.remove(&o) {
            self.by_heard.remove(&(origin.heard, o));
        }
        if self.origins.is_empty() {
            self.origins = HashMap::with_hasher(KeyHash(self.cfg.hash_key));
        }
    }

    /// `now` as a time in the table (the first call sets its base).
    fn nanos(&mut self, now: Instant) -> Nanos {
        let base = *self.base.get_or_insert(now);
        nanos_of(now.saturating_duration_since(base))
    }

    /// An estimate of the heap and inline bytes held (tables, held
    /// messages and their payloads; allocator overhead left out).
    pub fn memory(&self) -> usize {
        let index = size_of::<(Nanos, u64)>() + size_of::<usize>();
        let (_, held, bytes) = self.len();
        size_of::<Self>()
            + self.origins.capacity() * (size_of::<(u64, Origin)>() + 1)
            + (self.by_heard.len() + self.gaps.len()) * index
            + held * (size_of::<(u32, Held)>() + size_of::<usize>())
            + self.origins.values().filter(|o| o.held.is_some()).count()
                * size_of::<BTreeMap<u32, Held>>()
            + bytes
    }
}

#[cfg(test)]
mod tests;
