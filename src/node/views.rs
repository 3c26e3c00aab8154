//! HyParView's wiring: the active view is the established peers, capped
//! at `max_peers`; the passive view is the rest of the address book
//! (`passive.rs`). Here: why each dial is made ([`Intent`]), room made in
//! a full active view, the join walks (FORWARD_JOIN), filling an active
//! view with room from the passive view, and the periodic shuffle.
//!
//! The rules (docs/PROTOCOL.md, "Version 2"): a newcomer dials its
//! bootstrap with JOIN; the contact takes it (replacing a random peer if
//! full), welcomes it with its active view and sends FORWARD_JOIN with
//! `active_walk` steps to every other peer. A node on the walk takes the
//! newcomer into its active view when it has room or the walk is over,
//! otherwise passes it to a random peer (and keeps it in its passive view
//! at `passive_walk` steps left). Because a node with room takes the
//! newcomer at once, a network of at most `max_peers + 1` nodes is a full
//! mesh: the task's 3-node example looks as it always did.

use std::net::SocketAddr;
use std::time::Instant;

use super::conn::PeerInfo;
use super::conns::ConnId;
use super::handshake::Intent;
use super::reason::Reason;
use super::{Node, Timer};
use crate::wire::overlay::Overlay;
use crate::wire::{Frame, GoodbyeReason, PeerEntry};

impl Node {
    /// Why we would dial `addr` now.
    pub(super) fn intent_for(&self, addr: SocketAddr) -> Intent {
        let k = self.book.get(addr);
        if self.peers.is_empty() {
            // Alone: through a bootstrap we join; anyone else must take us.
            if k.is_some_and(|k| k.is_bootstrap()) {
                return Intent::Join;
            }
            return Intent::Forced;
        }
        // A lost member is healed even into a full view: that is how two
        // sides of a partition meet again.
        if k.is_some_and(|k| k.is_member()) {
            return Intent::Forced;
        }
        Intent::Low
    }

    /// The active view is full and `keep` is about to join it: a random
    /// other peer gets GOODBYE "replaced" and goes to the passive view.
    pub(super) fn make_room(&mut self, keep: ConnId, now: Instant) {
        let others: Vec<ConnId> = self
            .peers
            .conns()
            .iter()
            .copied()
            .filter(|&c| c != keep)
            .collect();
        if others.is_empty() {
            return;
        }
        let victim = others[self.rng.usize(..others.len())];
        let Some(addr) = self.peers.addr_of(victim) else {
            return;
        };
        self.book.demote(addr);
        self.retire(victim, GoodbyeReason::Replaced, now);
        let at = self.elapsed(now);
        self.out.disconnected(at, addr, Reason::Replaced);
    }

    /// We are `peer`'s contact: its join walks start at every other peer.
    /// A contact that had room (a small network, or one that just lost a
    /// peer) ends them there (`ttl` 0): each of its peers dials the
    /// newcomer, so a network of at most `max_peers` + 1 nodes stays a
    /// full mesh. A full one sends `active_walk`-step walks.
    pub(super) fn start_walks(
        &mut self,
        newcomer: ConnId,
        peer: PeerInfo,
        had_room: bool,
        now: Instant,
    ) {
        let walk = Overlay::ForwardJoin {
            ttl: if had_room { 0 } else { self.cfg.active_walk },
            node_id: peer.id,
            addr: peer.listen,
        };
        let bytes = self.out.encode(|tx| walk.encode(tx));
        let targets: Vec<ConnId> = self
            .peers
            .conns()
            .iter()
            .copied()
            .filter(|&o| o != newcomer)
            .collect();
        for o in targets {
            self.enqueue(o, bytes.clone(), super::outbox::Cargo::Message, now);
        }
        let sample = self
            .book
            .sample(self.cfg.shuffle_size, peer.listen, &mut self.rng);
        if !sample.is_empty() {
            self.send_overlay(
                newcomer,
                &Frame::Overlay(Overlay::ShuffleReply(sample)),
                now,
            );
        }
    }

    /// A join walk reached us from `from`.
    pub(super) fn on_forward_join(
        &mut self,
        from: ConnId,
        ttl: u8,
        node_id: u64,
        addr: SocketAddr,
        now: Instant,
    ) {
        let entry = PeerEntry { node_id, addr };
        if !self.acceptable(&entry) {
            return;
        }
        let others: Vec<ConnId> = self
            .peers
            .conns()
            .iter()
            .copied()
            .filter(|&c| c != from && self.peers.addr_of(c) != Some(addr))
            .collect();
        // The walk ends at its last step or where it cannot go on, never
        // earlier at a node with room: the nodes with room in a large
        // network are the newest, and ending there linked each newcomer to
        // the ones just before it, a chain 105 hops deep at 100,000 nodes.
        if ttl == 0 || others.is_empty() {
            self.book
                .learn_passive(addr, node_id, self.cfg.max_passive, &mut self.rng);
            self.dial_as(addr, Intent::Forced, now);
            return;
        }
        if ttl == self.cfg.passive_walk {
            self.book
                .learn_passive(addr, node_id, self.cfg.max_passive, &mut self.rng);
        }
        let next = others[self.rng.usize(..others.len())];
        let walk = Overlay::ForwardJoin {
            ttl: ttl - 1,
            node_id,
            addr,
        };
        self.send_overlay(next, &Frame::Overlay(walk), now);
    }

    /// Addresses from a welcome, shuffle or shuffle reply go to the
    /// passive view.
    pub(super) fn learn_entries(&mut self, entries: &[PeerEntry]) {
        let ok: Vec<PeerEntry> = entries
            .iter()
            .take(self.cfg.max_list_take)
            .filter(|e| self.acceptable(e))
            .copied()
            .collect();
        self.book
            .learn_all_passive(&ok, self.cfg.max_passive, &mut self.rng);
    }

    /// Dials random passive addresses while the active view (with the
    /// dials under way) has room. One that refuses (full) is not a
    /// candidate again before the next shuffle; one that fails follows the
    /// redial rule.
    pub(super) fn fill_view(&mut self, now: Instant) {
        if self.leaving {
            return;
        }
        let want = self.cfg.max_peers.saturating_sub(self.peers.len());
        let busy = self.dialing_count();
        if busy >= want {
            return;
        }
        let mut cands = self.book.candidates(now);
        self.rng.shuffle(&mut cands);
        for addr in cands.into_iter().take(want - busy) {
            let intent = self.intent_for(addr);
            self.dial_as(addr, intent, now);
        }
    }

    /// The shuffle timer: a sample of our views to a random peer, and an
    /// active view with room is filled.
    pub(super) fn on_shuffle_timer(&mut self, now: Instant) {
        self.wheel
            .insert(now + self.cfg.shuffle_interval, Timer::Shuffle);
        if self.leaving {
            return;
        }
        if !self.peers.is_empty() {
            let i = self.rng.usize(..self.peers.len());
            let (to, to_addr) = (self.peers.conns()[i], self.peers.addrs()[i]);
            let mut sample = self
                .book
                .sample(self.cfg.shuffle_size - 1, to_addr, &mut self.rng);
            let me = self.cfg.name();
            if !me.ip().is_unspecified() {
                sample.push(PeerEntry {
                    node_id: self.id,
                    addr: me,
                });
            }
            self.send_overlay(to, &Frame::Overlay(Overlay::Shuffle(sample)), now);
        }
        self.fill_view(now);
    }

    /// A SHUFFLE from `from`: answered with a sample of ours, then learned.
    pub(super) fn on_shuffle(&mut self, from: ConnId, entries: &[PeerEntry], now: Instant) {
        let except = self.peers.addr_of(from).unwrap_or(self.cfg.listen);
        let sample = self
            .book
            .sample(self.cfg.shuffle_size, except, &mut self.rng);
        self.send_overlay(from, &Frame::Overlay(Overlay::ShuffleReply(sample)), now);
        self.learn_entries(entries);
    }
}
