//! The simulator's two queues: network events in time order (ties in the
//! order they were made), and each node's next timer.
//!
//! Timers: a node's [`Node::poll_timeout`](crate::node::Node::poll_timeout)
//! is read after every input it gets and pushed when it changed; an entry
//! whose node has since moved its deadline (or died) is stale and skipped.
//! So finding the next timer is a heap pop, not a scan of every node.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Instant;

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

#[derive(Debug)]
struct Pending {
    at: Instant,
    seq: u64,
    ev: Event,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    /// Reversed: the heap's top is the earliest, then the first made.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    events: BinaryHeap<Pending>,
    seq: u64,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Each node's deadline as last pushed (`None`: none, or dead).
    armed: Vec<Option<Instant>>,
}

impl Queue {
    pub fn push(&mut self, at: Instant, ev: Event) {
        self.seq += 1;
        self.events.push(Pending {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// Network events waiting.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn next_event(&self) -> Option<Instant> {
        self.events.peek().map(|p| p.at)
    }

    /// The earliest event, if it is due by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Event> {
        if self.events.peek()?.at <= now {
            return self.events.pop().map(|p| p.ev);
        }
        None
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
