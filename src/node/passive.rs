//! The passive view (HyParView): the addresses in the address book that
//! are neither connected nor members being healed, capped at
//! `max_passive`. A new address at the cap takes a random one's place, so
//! shuffles keep the view fresh; the candidates to fill the active view
//! with, and the samples sent in welcomes and shuffles, come from here.
//!
//! Every choice is drawn from the node's seeded RNG over addresses in
//! sorted order (the book is a `BTreeMap`): the same seed, the same picks.

use std::net::SocketAddr;
use std::time::Instant;

use super::addrbook::{AddrBook, Known};
use crate::wire::{NodeId, PeerEntry};

impl AddrBook {
    /// Learns `addr` (from a welcome or a shuffle) into the passive view;
    /// at `max_passive` passive entries a random one makes room. False if
    /// it is not kept (the book's own cap).
    pub fn learn_passive(
        &mut self,
        addr: SocketAddr,
        node_id: NodeId,
        max_passive: usize,
        rng: &mut fastrand::Rng,
    ) -> bool {
        let e = PeerEntry { node_id, addr };
        self.learn_all_passive(&[e], max_passive, rng) == 1
    }

    /// [`Self::learn_passive`] for each entry (the passive view is listed
    /// once for them all); returns how many are kept.
    pub fn learn_all_passive(
        &mut self,
        entries: &[PeerEntry],
        max_passive: usize,
        rng: &mut fastrand::Rng,
    ) -> usize {
        let mut passive: Option<Vec<SocketAddr>> = None;
        let mut kept = 0;
        for e in entries {
            if !self.contains(e.addr) {
                let p = passive.get_or_insert_with(|| {
                    self.known
                        .iter()
                        .filter(|(_, k)| is_passive(k))
                        .map(|(a, _)| a)
                        .collect()
                });
                // Demoted members may have put it over: back to the cap.
                while p.len() >= max_passive && !p.is_empty() {
                    let victim = p.swap_remove(rng.usize(..p.len()));
                    self.known.remove(&victim);
                }
                if max_passive == 0 {
                    continue;
                }
                if self.learn(e.addr, e.node_id) {
                    p.push(e.addr);
                    kept += 1;
                }
            } else if self.learn(e.addr, e.node_id) {
                kept += 1;
            }
        }
        kept
    }

    /// It replaced us in its active view (or we it): an ordinary passive
    /// entry from now on, not a member to heal.
    pub fn demote(&mut self, addr: SocketAddr) {
        if let Some(k) = self.known.get_mut(&addr) {
            k.member = false;
        }
    }

    /// Passive addresses free to dial now: no connection, no retry
    /// pending (a refused or failed one waits for its time), in order.
    pub fn candidates(&self, now: Instant) -> Vec<SocketAddr> {
        let now = self.retry(now);
        self.known
            .iter()
            .filter(|(a, k)| {
                k.conn().is_none() && k.retry_at.is_none_or(|t| t <= now) && !self.is_self(*a)
            })
            .map(|(a, _)| a)
            .collect()
    }

    /// Up to `n` random known addresses with their node ids, none of them
    /// `except`: for a welcome or a shuffle.
    pub fn sample(&self, n: usize, except: SocketAddr, rng: &mut fastrand::Rng) -> Vec<PeerEntry> {
        let mut all: Vec<PeerEntry> = self
            .known
            .iter()
            .filter(|(a, _)| *a != except)
            .filter_map(|(a, k)| {
                Some(PeerEntry {
                    node_id: k.node_id()?,
                    addr: a,
                })
            })
            .collect();
        rng.shuffle(&mut all);
        all.truncate(n);
        all
    }

    /// Number of passive entries.
    pub fn passive_len(&self) -> usize {
        self.known.values().filter(|k| is_passive(k)).count()
    }
}

/// Neither connected, nor a bootstrap, nor a member being healed.
fn is_passive(k: &Known) -> bool {
    k.conn().is_none() && !k.bootstrap && !k.member
}

#[cfg(test)]
mod tests {
    use super::super::addrbook::Backoff;
    use super::super::conns::ConnId;
    use super::*;
    use std::time::Duration;

    fn book() -> AddrBook {
        let b = Backoff {
            min: Duration::from_millis(250),
            max: Duration::from_secs(10),
            attempts: 3,
            heal: Duration::from_secs(30),
        };
        AddrBook::new("127.0.0.1:7000".parse().unwrap(), 1024, b, Instant::now())
    }

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn the_passive_view_is_capped_and_a_newcomer_takes_a_random_place() {
        let mut b = book();
        let mut rng = fastrand::Rng::with_seed(1);
        for p in 1..=10 {
            assert!(b.learn_passive(a(p), p as u64, 4, &mut rng));
        }
        assert_eq!(b.passive_len(), 4);
        assert!(b.contains(a(10)), "the newest is kept");
        // Members and connected addresses are not passive: never replaced.
        let conn = ConnId {
            index: 0,
            generation: 0,
        };
        b.connected(a(100), 100, conn);
        for p in 11..=20 {
            b.learn_passive(a(p), p as u64, 4, &mut rng);
        }
        assert!(b.contains(a(100)));
        assert_eq!(b.passive_len(), 4);
    }

    #[test]
    fn candidates_skip_the_connected_and_those_waiting() {
        let mut b = book();
        let mut rng = fastrand::Rng::with_seed(2);
        let now = Instant::now();
        for p in 1..=3 {
            b.learn_passive(a(p), p as u64, 64, &mut rng);
        }
        b.set_retry(a(2), now + Duration::from_secs(5));
        assert_eq!(b.candidates(now), vec![a(1), a(3)]);
        assert_eq!(b.candidates(now + Duration::from_secs(5)).len(), 3);
        let s = b.sample(2, a(1), &mut rng);
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|e| e.addr != a(1)));
    }
}
