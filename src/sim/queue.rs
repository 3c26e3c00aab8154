//! The simulator's two queues: network events in time order (ties in the
//! order they were made), and each node's next timer.
//!
//! Timers: a node's [`Node::poll_timeout`](crate::node::Node::poll_timeout)
//! is read after every input it gets and pushed when it changed; an entry
//! whose node has since moved its deadline (or died) is stale and skipped.
//! So finding the next timer is a heap pop, not a scan of every node.

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

/// An event's place in the heap: when (nanoseconds after the queue's
/// start), its order of making, and where the event itself waits. 24
/// bytes: a pop moves these, not the events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: u64,
    seq: u64,
    slot: u32,
}

#[derive(Debug)]
pub(super) struct Queue {
    origin: Instant,
    events: BinaryHeap<Reverse<Pending>>,
    /// The events, by `Pending::slot`; `free` lists the empty slots.
    slots: Vec<Option<Event>>,
    free: Vec<u32>,
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
            events: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            timers: BinaryHeap::new(),
            armed: Vec::new(),
        }
    }

    pub fn push(&mut self, at: Instant, ev: Event) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(ev);
                i
            }
            None => {
                self.slots.push(Some(ev));
                self.slots.len() as u32 - 1
            }
        };
        let at = at.saturating_duration_since(self.origin).as_nanos() as u64;
        self.events.push(Reverse(Pending {
            at,
            seq: self.seq,
            slot,
        }));
    }

    /// Network events waiting.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn next_event(&self) -> Option<Instant> {
        let p = self.events.peek()?.0;
        Some(self.origin + Duration::from_nanos(p.at))
    }

    /// The earliest event, if it is due by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Event> {
        let now = now.saturating_duration_since(self.origin).as_nanos() as u64;
        if self.events.peek()?.0.at > now {
            return None;
        }
        let slot = self.events.pop()?.0.slot;
        self.free.push(slot);
        self.slots[slot as usize].take()
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
