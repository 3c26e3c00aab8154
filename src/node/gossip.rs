//! The broadcast's wiring: our own messages get the next sequence number
//! and go to the whole active view; GOSSIP, IHAVE, GRAFT and PRUNE from
//! peers go through the tree ([`super::plumtree`]) and, when fresh, the
//! per-origin order ([`super::order`]), which prints each message once, in
//! its origin's order. One wheel timer serves both tables' deadlines.
//!
//! A relayed payload that does not fit a peer's queue is not sent to that
//! peer (counted in `messages_dropped`); the peer can still get it by
//! GRAFT from a neighbor whose IHAVE names it.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::Instant;

use super::conn::PeerInfo;
use super::conns::ConnId;
use super::event::DiagKind;
use super::order::{Ordered, Skip};
use super::outbox::Cargo;
use super::plumtree::Action;
use super::{Node, Timer};
use crate::wire::overlay::{self, MsgId, Overlay};
use crate::wire::{Frame, MAX_PAYLOAD};

impl Node {
    /// A peer joined the active view: a tree link until a duplicate prunes
    /// it.
    pub(super) fn gossip_up(&mut self, peer: SocketAddr) {
        self.tree.neighbor_up(peer);
    }

    pub(super) fn gossip_down(&mut self, peer: SocketAddr) {
        self.tree.neighbor_down(peer);
    }

    /// Sends our own `payload` to every peer of the active view with room
    /// for it; returns the peers it went to, into `to`.
    pub(super) fn gossip_own(
        &mut self,
        payload: &[u8],
        cargo: Cargo,
        to: &mut Vec<SocketAddr>,
        now: Instant,
    ) {
        let payload = &payload[..payload.len().min(MAX_PAYLOAD)];
        self.seq = self.seq.wrapping_add(1);
        let id = MsgId {
            origin: self.id,
            seq: self.seq,
        };
        let name = self.cfg.name();
        let bytes = self
            .out
            .encode(|tx| overlay::encode_gossip(tx, id, 0, name, payload));
        // The tree's neighbors (what `Plumtree::broadcast` pushes to), one
        // shared frame for all: the payload is neither copied nor cached.
        let first = to.len();
        to.extend(self.tree.neighbors());
        let mut kept = first;
        for i in first..to.len() {
            let peer = to[i];
            let Some(c) = self.peers.conn_of(peer) else {
                continue;
            };
            if self.enqueue(c, bytes.clone(), cargo, now) {
                self.stats.messages_sent += 1;
                to[kept] = peer;
                kept += 1;
            } else {
                self.stats.messages_dropped += 1;
                if cargo == Cargo::StdinLine {
                    self.stats.lines_dropped += 1;
                }
            }
        }
        to.truncate(kept);
        to.sort_unstable();
        self.arm_tree(now);
    }

    /// GOSSIP, IHAVE, GRAFT or PRUNE from the peer on `conn`.
    pub(super) fn on_tree(&mut self, conn: ConnId, o: Overlay<'_>, now: Instant) -> bool {
        // A retiring connection (a duplicate being wound down) is still
        // its peer's: what it brings counts.
        let Some(PeerInfo {
            id: from_id,
            listen: from,
        }) = self.conns.get(conn).and_then(|c| c.peer())
        else {
            return true;
        };
        let mut acts = std::mem::take(&mut self.acts);
        match o {
            Overlay::Gossip {
                id,
                hops,
                origin,
                payload,
            } => {
                // An origin listening on every interface without
                // `--advertise` does not know its own address: the first
                // relay names it by the IP it came from.
                let origin = match origin.ip().is_unspecified() {
                    true => SocketAddr::new(from.ip(), origin.port()),
                    false => origin,
                };
                self.stats.payload_frames += 1;
                // The origin is our neighbor and sends every message it
                // writes to us itself, in order, on this one connection
                // (each `Sending` line names us): a relayed copy that runs
                // ahead of it is not held, which under a backlog on the
                // direct link would open a gap that `gap_wait` gives up on
                // while the copies it waits for are on their way. It is
                // left as if it never came (not seen, not relayed, no
                // PRUNE); the direct copy is the one printed and relayed.
                // It is remembered as announced by its sender, like an
                // IHAVE: should the origin's copy never come (it refused
                // to queue it to us, or closed our connection), it is
                // grafted once it is no longer ahead (`waiting` below),
                // within `missing_age`.
                if id.origin != from_id
                    && self.peers.by_id(id.origin).is_some()
                    && self.order.is_ahead(id)
                {
                    self.stats.relays_ahead += 1;
                    self.tree.on_ihave(from, [(id, hops)], |_| false, now);
                    self.keep_acts(acts);
                    self.arm_tree(now);
                    return true;
                }
                let mut fresh = false;
                if id.origin != self.id {
                    let at = self.elapsed(now);
                    let mut skips = Vec::new();
                    let (out, stats) = (&mut self.out, &mut self.stats);
                    fresh = self.order.accept(id, origin, hops, payload, now, &mut |o| {
                        emit(o, at, out, stats, &mut skips)
                    });
                    if !skips.is_empty() {
                        self.note_skips(skips, now);
                    }
                }
                if !fresh {
                    self.stats.duplicates += 1;
                }
                self.tree
                    .on_gossip(from, id, origin, hops, payload, fresh, now, &mut acts);
            }
            Overlay::IHave(a) => {
                let (order, me) = (&self.order, self.id);
                self.tree.on_ihave(
                    from,
                    a.iter(),
                    |id| id.origin == me || order.is_seen(id),
                    now,
                );
            }
            Overlay::Graft(id) => self.tree.on_graft(from, id, now, &mut acts),
            Overlay::Prune => self.tree.on_prune(from),
            // The overlay's own frames are `views.rs`'s.
            Overlay::ForwardJoin { .. } | Overlay::Shuffle(_) | Overlay::ShuffleReply(_) => {}
        }
        self.run_tree(&mut acts, now);
        self.keep_acts(acts);
        self.arm_tree(now);
        self.conns.contains(conn)
    }

    /// The tree's and the order's deadlines.
    pub(super) fn on_tree_timer(&mut self, now: Instant) {
        // Stale: a timer that was superseded (untracked, or re-armed).
        if !self.tree_due.iter().flatten().any(|&t| t <= now) {
            return;
        }
        for t in &mut self.tree_due {
            *t = t.filter(|&t| t > now);
        }
        let mut acts = std::mem::take(&mut self.acts);
        let (order, peers, me) = (&self.order, &self.peers, self.id);
        self.tree.handle_timeout_waiting(
            now,
            |id| id.origin == me || order.is_seen(id),
            |id| peers.by_id(id.origin).is_some() && order.is_ahead(id),
            &mut acts,
        );
        self.run_tree(&mut acts, now);
        self.keep_acts(acts);
        let at = self.elapsed(now);
        let mut skips = Vec::new();
        let (out, stats) = (&mut self.out, &mut self.stats);
        self.order
            .handle_timeout(now, &mut |o| emit(o, at, out, stats, &mut skips));
        self.note_skips(skips, now);
        self.arm_tree(now);
    }

    /// Gaps given up on: a line each on stderr.
    fn note_skips(&mut self, skips: Vec<Skip>, now: Instant) {
        for s in skips {
            self.stats.messages_skipped += u64::from(s.last.wrapping_sub(s.first)) + 1;
            let range = match s.first == s.last {
                true => format!("message {}", s.first),
                false => format!("messages {} to {}", s.first, s.last),
            };
            let wait = super::event::Secs(self.cfg.gap_wait);
            self.diag(
                now,
                DiagKind::Gap,
                format_args!(
                    "{range} from \"{}\" did not arrive in {wait}; skipped",
                    s.origin_addr
                ),
            );
        }
    }

    /// Puts the tree's scratch list back, unless it grew past its first
    /// allocation (4 actions: the pushes of a message to a small mesh
    /// never allocate again): a push is about 100 bytes, and a list kept at
    /// its largest (a message relayed to every other peer, an IHAVE flush
    /// to every lazy one) held 0.8 KB a node, 80 MiB at 100,000 simulated
    /// nodes.
    fn keep_acts(&mut self, acts: Vec<Action<SocketAddr>>) {
        const KEEP: usize = 4;
        if acts.capacity() <= KEEP {
            self.acts = acts;
        }
    }

    /// Sends what the tree asked for. Pushes of one message share one
    /// encoded frame.
    fn run_tree(&mut self, acts: &mut Vec<Action<SocketAddr>>, now: Instant) {
        let mut last: Option<(MsgId, u8, Range<usize>)> = None;
        for a in acts.drain(..) {
            match a {
                Action::Push {
                    to,
                    id,
                    origin_addr,
                    hops,
                    payload,
                } => {
                    let Some(c) = self.peers.conn_of(to) else {
                        continue;
                    };
                    let bytes = match &last {
                        Some((i, h, r)) if *i == id && *h == hops => r.clone(),
                        _ => {
                            let r = self.out.encode(|tx| {
                                overlay::encode_gossip(tx, id, hops, origin_addr, &payload)
                            });
                            last = Some((id, hops, r.clone()));
                            r
                        }
                    };
                    if self.enqueue(c, bytes, Cargo::Message, now) {
                        self.stats.relayed += 1;
                    } else {
                        self.stats.messages_dropped += 1;
                    }
                }
                Action::IHave { to, entries } => {
                    if let Some(c) = self.peers.conn_of(to) {
                        let bytes = self
                            .out
                            .encode(|tx| overlay::encode_ihave(tx, entries.iter().copied()));
                        self.enqueue(c, bytes, Cargo::Message, now);
                    }
                }
                Action::Graft { to, id } => {
                    if let Some(c) = self.peers.conn_of(to) {
                        self.send_overlay(c, &Frame::Overlay(Overlay::Graft(id)), now);
                    }
                }
                Action::Prune { to } => {
                    if let Some(c) = self.peers.conn_of(to) {
                        self.send_overlay(c, &Frame::Overlay(Overlay::Prune), now);
                    }
                }
            }
        }
    }

    /// Sets the wheel timer for the earlier of the two tables' deadlines,
    /// unless one at or before it is set already. Two timers in the wheel
    /// are tracked, so that a far one (a cache age, 30 s out) set before a
    /// nearer one (an IHAVE flush) serves again once the nearer fires,
    /// instead of a new far timer per message; the wheel has no cancel,
    /// and each would stay in it until due.
    fn arm_tree(&mut self, now: Instant) {
        let next = match (self.tree.poll_timeout(), self.order.poll_timeout()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return,
            },
        };
        let next = next.max(now);
        if self.tree_due.iter().flatten().any(|&t| t <= next) {
            return;
        }
        self.wheel.insert(next, Timer::Tree);
        // An empty place, else the later one's: that timer still fires,
        // as a no-op, and the new one is earlier.
        let [a, b] = &mut self.tree_due;
        let slot = match (*a, *b) {
            (None, _) => a,
            (_, None) => b,
            (Some(x), Some(y)) if x > y => a,
            _ => b,
        };
        *slot = Some(next);
    }
}

/// One output of the order: a message printed, or a gap noted for
/// [`Node::note_skips`].
fn emit(
    o: Ordered<'_>,
    at: std::time::Duration,
    out: &mut super::output::Outputs,
    stats: &mut super::Stats,
    skips: &mut Vec<Skip>,
) {
    match o {
        Ordered::Deliver(d) => {
            stats.messages_received += 1;
            out.received(at, d.payload, d.origin_addr, d.hops);
        }
        Ordered::Skip(s) => skips.push(s),
    }
}
