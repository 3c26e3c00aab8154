//! A hashed timer wheel: O(1) insert, O(1) amortised expiry per timer.
//!
//! Time is cut into ticks of [`TICK`]; a timer due within one turn of the
//! wheel sits in slot `t % slots` with its absolute tick `t`, so every timer
//! of a slot is due at the same tick and an expiry touches only timers that
//! are due. A timer further out waits on the "later" list: its tick and
//! its place in the table, in one vector sorted latest first, so what has
//! come within a turn is taken off the end into its slot and nothing else
//! is looked at (a node's keepalives and cache ages, seconds out, are
//! touched once each when placed and once when they come near; a linked
//! list walked whole at each of those was a twentieth of a large
//! simulation's time, in misses). A bitmap of occupied slots makes finding the next
//! deadline a scan of `slots / 64` words, not of the slots.
//!
//! The slot count is the owner's choice ([`Wheel::new`]; a node takes
//! `Config::wheel_slots`). A slot is only the index of its first timer (4
//! bytes), and the timers themselves live in one table, each linked to the
//! next of its slot: the real node's 4,096 slots (one turn is 4 s, its usual
//! timers fit in one turn) are 16 KB, the simulator's 64 are 256 bytes, and
//! the table holds what is waiting, not a vector per slot. The table gives
//! its memory back when three quarters of it is free.
//!
//! There is no cancel: owners keep a generation or a due time of their own
//! and ignore stale expiries, which costs one no-op wake-up at most.
//!
//! The wheel never reads the clock; every call takes `now`.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The wheel's resolution. Deadlines are rounded up to it.
pub const TICK: Duration = Duration::from_millis(1);
/// The real node's slot count (`Config::wheel_slots`' default).
pub const DEFAULT_SLOTS: usize = 4096;
/// The fewest slots a wheel has: one word of the bitmap.
const MIN_SLOTS: usize = 64;
/// The end of a slot's list, and of the free list.
const NIL: u32 = u32::MAX;
/// The table is never shrunk below this many entries.
const MIN_TABLE: usize = 16;

#[derive(Debug)]
struct Entry<T> {
    tick: u64,
    /// The next entry of the same slot's list, or of the free list.
    next: u32,
    /// `None` while the entry is on the free list.
    value: Option<T>,
}

#[derive(Debug)]
pub struct Wheel<T> {
    origin: Instant,
    /// Every tick up to and including this one has been expired.
    done: u64,
    /// Per slot, its first entry in `table`, or [`NIL`]. Every entry of
    /// a slot is due at the same tick, within one turn after `done`.
    heads: Vec<u32>,
    /// The entries due more than a turn after `done` when they were
    /// placed: (tick, index in `table`), latest first.
    later: Vec<(u64, u32)>,
    /// Every timer, linked by slot; free entries linked from `free`.
    table: Vec<Entry<T>>,
    free: u32,
    occupied: Vec<u64>,
    /// `heads.len() - 1`: the slot count is a power of two.
    mask: u64,
    len: usize,
    /// The earliest timer's tick, when known: kept by `insert`, forgotten
    /// by `expire`, found again by the first `next_deadline` after it (a
    /// scan of every timer), so polling between expiries costs nothing.
    earliest: Cell<Option<u64>>,
}

impl<T> Wheel<T> {
    /// A wheel of `slots` slots (rounded up to a power of two, at least
    /// 64) whose tick 0 is `origin`.
    pub fn new(origin: Instant, slots: usize) -> Self {
        let slots = slots.max(MIN_SLOTS).next_power_of_two();
        Wheel {
            origin,
            done: 0,
            heads: vec![NIL; slots],
            later: Vec::new(),
            table: Vec::new(),
            free: NIL,
            occupied: vec![0; slots / 64],
            mask: slots as u64 - 1,
            len: 0,
            earliest: Cell::new(None),
        }
    }

    /// Hints at the memory an insert or an expiry touches next: the
    /// occupancy bitmap, the earliest of the later list, the first table
    /// entries.
    pub fn prefetch(&self) {
        crate::prefetch::slice(&self.occupied, 1);
        if let Some(l) = self.later.last() {
            crate::prefetch::line(l);
        }
        crate::prefetch::slice(&self.table, 2);
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.heads.len()
    }

    /// Number of timers waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries the table has room for (waiting timers and free entries).
    #[cfg(test)]
    fn table_capacity(&self) -> usize {
        self.table.capacity()
    }

    fn tick_at_or_after(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.origin);
        let tick = TICK.as_nanos();
        d.as_nanos().div_ceil(tick) as u64
    }

    fn tick_before_or_at(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.origin).as_nanos() / TICK.as_nanos()) as u64
    }

    fn instant_of(&self, tick: u64) -> Instant {
        self.origin + Duration::from_nanos(tick.saturating_mul(TICK.as_nanos() as u64))
    }

    /// Schedules `value` for `deadline` (rounded up to the next tick; a
    /// deadline already past fires at the next expiry).
    pub fn insert(&mut self, deadline: Instant, value: T) {
        let tick = self.tick_at_or_after(deadline).max(self.done + 1);
        self.link(tick, value);
        // Known only if it was known before, or this is the only timer.
        let known = self.earliest.get().filter(|_| self.len > 0);
        self.len += 1;
        match known {
            Some(e) => self.earliest.set(Some(e.min(tick))),
            None if self.len == 1 => self.earliest.set(Some(tick)),
            None => {}
        }
    }

    /// Puts `value` at the head of its slot's list if it is due within a
    /// turn, else on the later list; in a free entry if there is one.
    fn link(&mut self, tick: u64, value: T) {
        if tick > self.done + self.mask + 1 {
            let at = self.push_entry(tick, NIL, value);
            if self.later.len() == self.later.capacity() {
                // Four at a time, not doubling: a simulator holds 100,000
                // of these lists of a dozen or two.
                self.later.reserve_exact(4);
            }
            let i = self.later.partition_point(|&(t, _)| t > tick);
            self.later.insert(i, (tick, at));
            return;
        }
        let slot = (tick & self.mask) as usize;
        self.heads[slot] = self.push_entry(tick, self.heads[slot], value);
        self.occupied[slot / 64] |= 1 << (slot % 64);
    }

    /// Stores an entry linked to `next`; returns its index.
    fn push_entry(&mut self, tick: u64, next: u32, value: T) -> u32 {
        let entry = Entry {
            tick,
            next,
            value: Some(value),
        };
        if self.free != NIL {
            let at = self.free;
            self.free = self.table[at as usize].next;
            self.table[at as usize] = entry;
            at
        } else {
            self.table.push(entry);
            self.table.len() as u32 - 1
        }
    }

    /// Moves the later list's entries due at or before `limit` (at most a
    /// turn after `done`) into their slots.
    fn pull_later(&mut self, limit: u64) {
        while let Some(&(tick, at)) = self.later.last() {
            if tick > limit {
                break;
            }
            self.later.pop();
            let slot = (tick & self.mask) as usize;
            self.table[at as usize].next = self.heads[slot];
            self.heads[slot] = at;
            self.occupied[slot / 64] |= 1 << (slot % 64);
        }
        if self.later.is_empty() && self.later.capacity() > MIN_TABLE {
            self.later = Vec::new();
        }
    }

    /// Moves every timer due at or before `now` into `out`, in no set order.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<T>) {
        let now_tick = self.tick_before_or_at(now);
        if now_tick <= self.done {
            return;
        }
        // Nothing due: what is earliest stays earliest.
        if self.earliest.get().is_some_and(|e| e > now_tick) {
            self.done = now_tick;
            return;
        }
        self.earliest.set(None);
        // What comes due before the next turn after `now` goes to its slot
        // first: the slots then hold every timer due by `now`.
        self.pull_later(now_tick + self.mask + 1);
        // One turn of the wheel covers every slot; a longer gap needs no more.
        let span = (now_tick - self.done).min(self.mask + 1);
        let mut tick = self.done + 1;
        let end = self.done + span;
        while tick <= end {
            let slot = (tick & self.mask) as usize;
            // Skip to the next occupied slot using the bitmap.
            match self.next_occupied(slot, (end - tick) as usize) {
                None => break,
                Some(skip) => tick += skip as u64,
            }
            let slot = (tick & self.mask) as usize;
            self.expire_slot(slot, now_tick, out);
            tick += 1;
        }
        self.done = now_tick;
        self.maybe_shrink();
    }

    /// Unlinks the entries of `slot` due at or before `now_tick`.
    fn expire_slot(&mut self, slot: usize, now_tick: u64, out: &mut Vec<T>) {
        let mut prev = NIL;
        let mut at = self.heads[slot];
        while at != NIL {
            let e = &mut self.table[at as usize];
            let next = e.next;
            if e.tick <= now_tick {
                out.extend(e.value.take());
                e.next = self.free;
                self.free = at;
                self.len -= 1;
                if prev == NIL {
                    self.heads[slot] = next;
                } else {
                    self.table[prev as usize].next = next;
                }
            } else {
                prev = at;
            }
            at = next;
        }
        if self.heads[slot] == NIL {
            self.occupied[slot / 64] &= !(1 << (slot % 64));
        }
    }

    /// Rebuilds the table at the size of what waits when three quarters of
    /// it is free: a burst of timers does not keep its memory.
    fn maybe_shrink(&mut self) {
        let cap = self.table.capacity();
        if cap <= MIN_TABLE || self.len * 4 > cap {
            return;
        }
        let old = std::mem::take(&mut self.table);
        self.table = Vec::with_capacity((self.len * 2).max(MIN_TABLE));
        self.free = NIL;
        self.later.clear();
        self.heads.fill(NIL);
        self.occupied.fill(0);
        for e in old {
            if let Some(value) = e.value {
                self.link(e.tick, value);
            }
        }
    }

    /// Distance from `slot` to the first occupied slot at most `max` ahead.
    fn next_occupied(&self, slot: usize, max: usize) -> Option<usize> {
        let mut dist = 0;
        let mut s = slot;
        while dist <= max {
            let word = self.occupied[s / 64] >> (s % 64);
            if word != 0 {
                let d = dist + word.trailing_zeros() as usize;
                return (d <= max).then_some(d);
            }
            let step = 64 - s % 64;
            dist += step;
            s = (s + step) & self.mask as usize;
        }
        None
    }

    /// When the earliest timer is due, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.len == 0 {
            return None;
        }
        if let Some(e) = self.earliest.get() {
            return Some(self.instant_of(e.max(self.done + 1)));
        }
        let found = self.scan();
        self.earliest.set(found);
        found.map(|t| self.instant_of(t.max(self.done + 1)))
    }

    /// The earliest timer's tick: the first occupied slot after `done` (its
    /// timers are due at the one tick of this turn that maps to it), or
    /// the later list's earliest.
    fn scan(&self) -> Option<u64> {
        let start = ((self.done + 1) & self.mask) as usize;
        let near = self
            .next_occupied(start, self.mask as usize)
            .map(|d| self.done + 1 + d as u64);
        debug_assert!(near.is_none_or(|t| {
            let head = self.heads[(t & self.mask) as usize];
            self.table[head as usize].tick == t
        }));
        let later = self.later.last().map(|&(t, _)| t);
        match (near, later) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The real node's size, the simulator's, and the smallest.
    const SIZES: [usize; 3] = [DEFAULT_SLOTS, 256, 64];

    #[test]
    fn fires_in_deadline_order_and_reports_next_deadline() {
        for size in SIZES {
            fires_in_order(size);
        }
    }

    fn fires_in_order(size: usize) {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, size);
        w.insert(t0 + ms(30), 'c');
        w.insert(t0 + ms(10), 'a');
        w.insert(t0 + ms(20), 'b');
        w.insert(t0 + ms(10_000), 'z'); // more than one turn out
        assert_eq!(w.len(), 4);
        assert_eq!(w.next_deadline(), Some(t0 + ms(10)));
        let mut out = Vec::new();
        w.expire(t0 + ms(9), &mut out);
        assert!(out.is_empty());
        w.expire(t0 + ms(20), &mut out);
        out.sort();
        assert_eq!(out, vec!['a', 'b']);
        assert_eq!(w.next_deadline(), Some(t0 + ms(30)));
        out.clear();
        w.expire(t0 + ms(5_000), &mut out);
        assert_eq!(out, vec!['c']);
        assert_eq!(w.next_deadline(), Some(t0 + ms(10_000)));
        out.clear();
        w.expire(t0 + ms(9_999), &mut out);
        assert!(out.is_empty());
        w.expire(t0 + ms(10_000), &mut out);
        assert_eq!(out, vec!['z']);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn far_timer_sharing_a_slot_does_not_fire_early() {
        for size in SIZES {
            let t0 = Instant::now();
            let mut w = Wheel::new(t0, size);
            assert_eq!(w.slots(), size);
            w.insert(t0 + ms(5), 1);
            w.insert(t0 + ms(5 + size as u64), 2);
            let mut out = Vec::new();
            w.expire(t0 + ms(5), &mut out);
            assert_eq!(out, vec![1]);
            assert_eq!(w.next_deadline(), Some(t0 + ms(5 + size as u64)));
        }
    }

    #[test]
    fn a_slot_count_is_rounded_up_to_a_power_of_two_of_at_least_64() {
        let t0 = Instant::now();
        let sizes = [0, 1, 64, 100, 256, 300].map(|n| Wheel::<u8>::new(t0, n).slots());
        assert_eq!(sizes, [64, 64, 64, 128, 256, 512]);
    }

    #[test]
    fn past_deadlines_fire_on_the_next_expiry_and_rounding_is_up() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, DEFAULT_SLOTS);
        let mut out = Vec::new();
        w.expire(t0 + ms(100), &mut out);
        w.insert(t0 + ms(50), 'p');
        assert_eq!(w.next_deadline(), Some(t0 + ms(101)));
        w.insert(t0 + ms(200) + Duration::from_micros(10), 'q');
        w.expire(t0 + ms(101), &mut out);
        assert_eq!(out, vec!['p']);
        assert_eq!(w.next_deadline(), Some(t0 + ms(201)));
    }

    #[test]
    fn matches_a_sorted_reference_under_random_use() {
        for size in SIZES {
            matches_reference(size);
        }
    }

    fn matches_reference(size: usize) {
        let mut rng = fastrand::Rng::with_seed(7);
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, size);
        let mut reference: Vec<(u64, u32)> = Vec::new();
        let mut now = 0u64;
        let mut out = Vec::new();
        for id in 0..20_000u32 {
            if rng.bool() {
                // Within a turn, a few turns out, and far out.
                let reach = [300, 12_000, 600_000][rng.usize(..3)];
                let at = now + rng.u64(0..reach);
                w.insert(t0 + ms(at), id);
                reference.push((at.max(now + 1), id));
            } else {
                // Mostly small steps; now and then a long idle gap.
                now += match rng.u8(..20) {
                    0 => rng.u64(0..400_000),
                    _ => rng.u64(0..900),
                };
                out.clear();
                w.expire(t0 + ms(now), &mut out);
                out.sort();
                let mut due: Vec<u32> = reference
                    .iter()
                    .filter(|(at, _)| *at <= now)
                    .map(|(_, id)| *id)
                    .collect();
                due.sort();
                reference.retain(|(at, _)| *at > now);
                assert_eq!(out, due);
            }
            let want = reference.iter().map(|(at, _)| *at).min();
            assert_eq!(w.next_deadline(), want.map(|at| t0 + ms(at)));
            assert_eq!(w.len(), reference.len());
        }
    }

    #[test]
    fn a_burst_of_timers_gives_its_memory_back_once_expired() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, 64);
        w.insert(t0 + ms(100_000), u32::MAX);
        for id in 0..10_000u32 {
            w.insert(t0 + ms(1 + u64::from(id % 500)), id);
        }
        assert!(w.table_capacity() >= 10_001);
        let mut out = Vec::new();
        w.expire(t0 + ms(600), &mut out);
        assert_eq!(out.len(), 10_000);
        assert_eq!(w.len(), 1);
        assert!(w.table_capacity() <= MIN_TABLE, "{}", w.table_capacity());
        assert_eq!(w.next_deadline(), Some(t0 + ms(100_000)));
        out.clear();
        w.expire(t0 + ms(100_000), &mut out);
        assert_eq!(out, vec![u32::MAX]);
    }
}
