//! What is queued for each peer and for all of them together: the
//! per-peer cap, the node-wide budget, backpressure on stdin, and the
//! slow-peer rule's clock.
//!
//! The driver reports bytes written; the core never holds the bytes
//! themselves (the driver's write buffer does), only their count.

use std::time::Instant;

/// One peer's queue, as counts.
#[derive(Debug, Default)]
pub struct PeerQueue {
    unsent: usize,
    /// Since when the queue has been over half of the per-peer cap.
    congested_since: Option<Instant>,
    /// Messages not queued for this peer because its queue was full.
    dropped: u64,
}

impl PeerQueue {
    pub fn unsent(&self) -> usize {
        self.unsent
    }

    pub fn congested_since(&self) -> Option<Instant> {
        self.congested_since
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// What is being queued: it decides how full a queue may get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cargo {
    /// A random message: up to half the cap once the queue is congested.
    Message,
    /// A stdin line: up to the whole cap. The driver stops reading stdin at
    /// half, so the rest of a chunk it already read waits instead of being
    /// lost.
    StdinLine,
    /// A control frame: small, never refused, but counted, so keepalives to
    /// a peer that never reads make it slow as messages do.
    Control,
}

/// The outcome of [`Outbox::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    Refused,
    /// Queued; `newly_congested` when this crossed half the cap, so the
    /// slow-peer deadline starts now.
    Queued {
        newly_congested: bool,
    },
}

/// The node-wide view of every queue.
#[derive(Debug)]
pub struct Outbox {
    max_unsent: usize,
    max_total: usize,
    total: usize,
    /// Queues over half of `max_unsent` (their `congested_since` is set).
    congested: usize,
}

impl Outbox {
    pub fn new(max_unsent: usize, max_total: usize) -> Self {
        Outbox {
            max_unsent,
            max_total,
            total: 0,
            congested: 0,
        }
    }

    /// Bytes queued for every peer together.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Whether stdin may be read: no queue over half, and the total under
    /// half its budget.
    pub fn has_room_for_stdin(&self) -> bool {
        self.congested == 0 && self.total <= self.max_total / 2
    }

    /// Counts `len` bytes into `q` if the rules for `cargo` allow.
    pub fn admit(&mut self, q: &mut PeerQueue, len: usize, cargo: Cargo, now: Instant) -> Admit {
        let cap = self.max_unsent;
        if cargo != Cargo::Control {
            let soft = if cargo == Cargo::StdinLine {
                cap
            } else {
                cap / 2
            };
            let over_total = self.total + len > self.max_total;
            if q.congested_since.is_some() && q.unsent + len > soft
                || q.unsent + len > cap
                || over_total && q.unsent > 0
            {
                q.dropped += 1;
                return Admit::Refused;
            }
        }
        q.unsent += len;
        self.total += len;
        let newly_congested = q.unsent > cap / 2 && q.congested_since.is_none();
        if newly_congested {
            q.congested_since = Some(now);
            self.congested += 1;
        }
        Admit::Queued { newly_congested }
    }

    /// The driver wrote `n` of `q`'s bytes.
    pub fn written(&mut self, q: &mut PeerQueue, n: usize) {
        let n = n.min(q.unsent);
        q.unsent -= n;
        self.total -= n;
        // Control frames can take the queue over half without a message
        // refused: only a marked queue is counted.
        if q.unsent <= self.max_unsent / 2 && q.congested_since.take().is_some() {
            self.congested -= 1;
        }
    }

    /// A connection is gone with its queue.
    pub fn remove(&mut self, q: &PeerQueue) {
        self.total -= q.unsent;
        if q.congested_since.is_some() {
            self.congested -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stop_at_half_once_congested_stdin_at_the_cap() {
        let t = Instant::now();
        let mut o = Outbox::new(100, 1000);
        let mut q = PeerQueue::default();
        assert_eq!(
            o.admit(&mut q, 60, Cargo::Message, t),
            Admit::Queued {
                newly_congested: true
            }
        );
        assert!(!o.has_room_for_stdin());
        assert_eq!(o.admit(&mut q, 10, Cargo::Message, t), Admit::Refused);
        assert_eq!(
            o.admit(&mut q, 30, Cargo::StdinLine, t),
            Admit::Queued {
                newly_congested: false
            }
        );
        assert_eq!(o.admit(&mut q, 11, Cargo::StdinLine, t), Admit::Refused);
        assert_eq!(q.dropped(), 2);
        o.written(&mut q, 50);
        assert_eq!(q.congested_since(), None);
        assert!(o.has_room_for_stdin());
        o.remove(&q);
        assert_eq!(o.total(), 0);
    }

    #[test]
    fn control_frames_always_go_and_count() {
        let t = Instant::now();
        let mut o = Outbox::new(10, 1000);
        let mut q = PeerQueue::default();
        for _ in 0..10 {
            assert_ne!(o.admit(&mut q, 5, Cargo::Control, t), Admit::Refused);
        }
        assert_eq!(q.unsent(), 50);
        assert!(q.congested_since().is_some());
        o.written(&mut q, 1000);
        assert_eq!((q.unsent(), o.total()), (0, 0));
        assert!(o.has_room_for_stdin());
    }

    #[test]
    fn the_total_budget_refuses_a_busy_peer_but_not_an_empty_one() {
        let t = Instant::now();
        let mut o = Outbox::new(100, 120);
        let (mut a, mut b) = (PeerQueue::default(), PeerQueue::default());
        assert_ne!(o.admit(&mut a, 40, Cargo::Message, t), Admit::Refused);
        assert_ne!(o.admit(&mut b, 40, Cargo::Message, t), Admit::Refused);
        assert_ne!(o.admit(&mut a, 40, Cargo::Message, t), Admit::Refused);
        // 120 queued: a busy peer gets nothing more...
        assert_eq!(o.admit(&mut b, 10, Cargo::Message, t), Admit::Refused);
        // ...a peer with an empty queue still gets one message.
        let mut c = PeerQueue::default();
        assert_ne!(o.admit(&mut c, 10, Cargo::Message, t), Admit::Refused);
    }
}
