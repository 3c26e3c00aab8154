//! The simulator's two queues: network events in time order (ties in the
//! order they were made), and each node's next timer.
//!
//! Timers: a node's [`Node::poll_timeout`](crate::node::Node::poll_timeout)
//! is read after every input it gets and pushed when it changed; an entry
//! whose node has since moved its deadline (or died) is stale and skipped.
//! So finding the next timer is a heap pop, not a scan of every node.
//!
//! Network events: a calendar of buckets [`BUCKET_NS`] wide, a ring of
//! [`BUCKETS`] of them ahead of the current one, and a heap for what is
//! further out. An event is appended to its bucket unsorted; a bucket is
//! sorted once, when it becomes current. The order is exactly a heap's,
//! (time, order of making), so a run is the same event for event; a
//! 10,000-node run keeps about 100,000 events in flight, and a heap of
//! them was a tenth of the simulator's time in sift-down misses.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::node::ConnId;

/// Something the network does to a node at a set time.
#[derive(Debug)]
pub(super) enum Event {
    /// `from`'s dial of `addr` arrives (both ends learn of it at once).
    Connect {
        from: u32,
        conn: ConnId,
        addr: SocketAddr,
    },
    Deliver {
        to: u32,
        conn: ConnId,
        bytes: Vec<u8>,
    },
    Eof {
        to: u32,
        conn: ConnId,
    },
}

/// An event and its place in the order: when (nanoseconds after the
/// queue's start), and its order of making. The event waits in its bucket
/// itself, not in a table beside it (one cache miss a pop fewer).
#[derive(Debug)]
struct Pending {
    at: u64,
    seq: u64,
    ev: Event,
}

impl Pending {
    fn key(&self) -> (u64, u64) {
        (self.at, self.seq)
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// A calendar bucket's width: about 131 µs (links are 5 to 25 ms one way).
const BUCKET_NS: u64 = 1 << 17;
/// Buckets ahead of the current one (about 67 ms); later events wait in a
/// heap.
const BUCKETS: u64 = 512;

fn bucket(at: u64) -> u64 {
    at / BUCKET_NS
}

#[derive(Debug)]
pub(super) struct Queue {
    origin: Instant,
    /// The current bucket's events, sorted latest first (the next one is
    /// last); also every event pushed for a bucket at or before it.
    current: Vec<Pending>,
    /// The bucket `current` holds.
    now_bucket: u64,
    /// Buckets `now_bucket + 1 ..= now_bucket + BUCKETS`, at `b % BUCKETS`,
    /// unsorted.
    ring: Vec<Vec<Pending>>,
    /// Events in `ring`.
    in_ring: usize,
    /// Events past the ring.
    far: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Each node's deadline as last pushed (`None`: none, or dead).
    armed: Vec<Option<Instant>>,
}

impl Queue {
    /// An empty queue; `origin` is the earliest time it is given.
    pub fn new(origin: Instant) -> Self {
        Queue {
            origin,
            current: Vec::new(),
            now_bucket: 0,
            ring: (0..BUCKETS).map(|_| Vec::new()).collect(),
            in_ring: 0,
            far: BinaryHeap::new(),
            seq: 0,
            timers: BinaryHeap::new(),
            armed: Vec::new(),
        }
    }

    pub fn push(&mut self, at: Instant, ev: Event) {
        self.seq += 1;
        let at = at.saturating_duration_since(self.origin).as_nanos() as u64;
        self.place(Pending {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// Puts `p` in the current bucket (in order), the ring, or the heap.
    fn place(&mut self, p: Pending) {
        let b = bucket(p.at);
        if b <= self.now_bucket {
            let i = self.current.partition_point(|q| q.key() > p.key());
            self.current.insert(i, p);
        } else if b <= self.now_bucket + BUCKETS {
            self.ring[(b % BUCKETS) as usize].push(p);
            self.in_ring += 1;
        } else {
            self.far.push(Reverse(p));
        }
    }

    /// Makes the next non-empty bucket current if the current one is
    /// empty. False if no event is left.
    fn refill(&mut self) -> bool {
        while self.current.is_empty() {
            if self.in_ring == 0 {
                let Some(Reverse(p)) = self.far.peek() else {
                    return false;
                };
                // Nothing in the ring: skip to the heap's first bucket.
                self.now_bucket = self.now_bucket.max(bucket(p.at) - 1);
            }
            self.now_bucket += 1;
            let i = (self.now_bucket % BUCKETS) as usize;
            let mut due = std::mem::take(&mut self.ring[i]);
            self.in_ring -= due.len();
            due.sort_unstable_by_key(|p| Reverse(p.key()));
            // The emptied current bucket lets its memory go: 512 buckets
            // each keeping what its busiest moment took would be more than
            // a small network's events.
            self.current = due;
            // What has come within the ring's reach leaves the heap.
            while let Some(Reverse(p)) = self.far.peek() {
                if bucket(p.at) > self.now_bucket + BUCKETS {
                    break;
                }
                if let Some(Reverse(p)) = self.far.pop() {
                    self.place(p);
                }
            }
        }
        true
    }

    /// Network events waiting.
    pub fn len(&self) -> usize {
        self.current.len() + self.in_ring + self.far.len()
    }

    pub fn next_event(&mut self) -> Option<Instant> {
        if !self.refill() {
            return None;
        }
        let p = self.current.last()?;
        Some(self.origin + Duration::from_nanos(p.at))
    }

    /// The earliest event, if it is due by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Event> {
        let now = now.saturating_duration_since(self.origin).as_nanos() as u64;
        if !self.refill() || self.current.last()?.at > now {
            return None;
        }
        self.current.pop().map(|p| p.ev)
    }

    /// The node and connection of the network event `k` places after the
    /// next one to pop (0: the next one), if it is in the current bucket.
    /// A hint for prefetching: an event pushed meanwhile may come first.
    pub fn node_ahead(&self, k: usize) -> Option<(u32, ConnId)> {
        let n = self.current.len();
        let p = self.current.get(n.checked_sub(k + 1)?)?;
        Some(match p.ev {
            Event::Connect { from, conn, .. } => (from, conn),
            Event::Deliver { to, conn, .. } | Event::Eof { to, conn } => (to, conn),
        })
    }

    /// Records node `i`'s next deadline (`None` when it has none or died).
    pub fn arm(&mut self, i: usize, at: Option<Instant>) {
        if self.armed.len() <= i {
            self.armed.resize(i + 1, None);
        }
        if self.armed[i] != at {
            self.armed[i] = at;
            if let Some(t) = at {
                self.timers.push(Reverse((t, i as u32)));
            }
        }
    }

    /// The earliest live timer, dropping stale entries on the way.
    pub fn next_timer(&mut self) -> Option<Instant> {
        while let Some(&Reverse((t, i))) = self.timers.peek() {
            if self.armed[i as usize] == Some(t) {
                return Some(t);
            }
            self.timers.pop();
        }
        None
    }

    /// Nodes whose timer is due by `now`, in index order, into `out`.
    pub fn take_due(&mut self, now: Instant, out: &mut Vec<u32>) {
        out.clear();
        while let Some(&Reverse((t, i))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            if self.armed[i as usize] == Some(t) {
                self.armed[i as usize] = None;
                out.push(i);
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events come out in exactly the order of a heap of (time, order of
    /// making), whether they land in the current bucket, the ring or past
    /// it, with pops between pushes.
    #[test]
    fn events_come_out_in_a_heaps_order() {
        let t0 = Instant::now();
        for seed in 0..50 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut q = Queue::new(t0);
            let mut reference = BinaryHeap::new();
            let mut now = 0u64;
            let mut made = 0u32;
            for _ in 0..2_000 {
                if rng.u8(..) < 140 {
                    // Now, within a bucket, across the ring, or far out.
                    let ahead = match rng.u8(..4) {
                        0 => rng.u64(..BUCKET_NS),
                        1 => rng.u64(..BUCKETS * BUCKET_NS),
                        2 => rng.u64(..4 * BUCKETS * BUCKET_NS),
                        _ => 0,
                    };
                    let at = now + ahead;
                    let ev = Event::Eof {
                        to: made,
                        conn: ConnId::default(),
                    };
                    q.push(t0 + Duration::from_nanos(at), ev);
                    reference.push(Reverse((at, made)));
                    made += 1;
                } else if let Some(Reverse((at, want))) = reference.pop() {
                    assert_eq!(q.next_event(), Some(t0 + Duration::from_nanos(at)));
                    now = now.max(at);
                    let got = q.pop_due(t0 + Duration::from_nanos(now));
                    assert!(matches!(got, Some(Event::Eof { to, .. }) if to == want));
                }
                assert_eq!(q.len(), reference.len());
            }
            // Nothing is due before its time.
            if let Some(&Reverse((at, _))) = reference.peek()
                && at > now
            {
                assert!(q.pop_due(t0 + Duration::from_nanos(at - 1)).is_none());
            }
            while let Some(Reverse((at, want))) = reference.pop() {
                let got = q.pop_due(t0 + Duration::from_nanos(at));
                assert!(matches!(got, Some(Event::Eof { to, .. }) if to == want));
            }
            assert_eq!((q.len(), q.next_event()), (0, None));
        }
    }

    /// `node_ahead(k)` names the node of the event `k` places after the
    /// next one to pop, while they are in the current bucket.
    #[test]
    fn node_ahead_names_the_events_to_come_in_order() {
        let t0 = Instant::now();
        let mut q = Queue::new(t0);
        for (to, at) in [(7u32, 30u64), (3, 10), (9, 20), (1, 10)] {
            let conn = ConnId::default();
            q.push(t0 + Duration::from_nanos(at), Event::Eof { to, conn });
        }
        q.next_event();
        let ahead: Vec<u32> = (0..5)
            .filter_map(|k| q.node_ahead(k))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(ahead, [3, 1, 9, 7], "time order, ties in the order made");
        let end = t0 + Duration::from_nanos(30);
        let mut popped = Vec::new();
        while let Some(Event::Eof { to, .. }) = q.pop_due(end) {
            popped.push(to);
        }
        assert_eq!(popped, ahead);
    }
}
