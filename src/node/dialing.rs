//! Peer lists in, dials out: which entries are worth dialing, the dial
//! slots, the waiting queue, and redials with backoff.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::addrbook::Redial;
use super::conn::Conn;
use super::conns::ConnId;
use super::event::DiagKind;
use super::handshake::Intent;
use super::membership;
use super::reason::Reason;
use super::{Node, Timer};
use crate::wire::PeerEntry;

impl Node {
    /// A peer list: an acceptor's welcome (its active view). Its entries
    /// go to the passive view; during our join, the first one's entries
    /// are the peers our join walks started at, and the join waits a
    /// little for them to dial us (`membership`).
    pub(super) fn on_peers(&mut self, from: ConnId, entries: &[PeerEntry], now: Instant) {
        let Some(c) = self.conns.get_mut(from) else {
            return;
        };
        let welcome = c.take_peer_list();
        let join_welcome = welcome && self.members.awaiting_welcome();
        if join_welcome {
            for e in entries.iter().take(self.cfg.max_list_take) {
                if self.acceptable(e) {
                    self.members.expect(e.addr);
                }
            }
        }
        self.learn_entries(entries);
        // During the join, the walks bring peers; after it, a view with
        // room dials what it learns.
        if !self.members.joining() {
            self.fill_view(now);
        }
        if join_welcome {
            self.members.welcomed();
            self.members.progress(now);
            self.wheel.insert(now + self.cfg.join_settle, Timer::Join);
            self.finish_join(now, membership::Check::Progress);
        }
    }

    /// Whether a peer list entry may be dialed at all.
    pub(super) fn acceptable(&self, e: &PeerEntry) -> bool {
        // An IPv4-mapped IPv6 address is its IPv4 address.
        let ip = e.addr.ip().to_canonical();
        let bad_ip = ip.is_unspecified()
            || ip.is_multicast()
            || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
        !(bad_ip
            || e.addr.port() == 0
            || e.node_id == self.id
            || self.book.is_self(e.addr)
            || self.book.is_self(SocketAddr::new(ip, e.addr.port()))
            || self.peers.by_id(e.node_id).is_some())
    }

    /// Dials `addr` with the intent its standing gives it.
    pub(super) fn dial(&mut self, addr: SocketAddr, now: Instant) {
        let intent = self.intent_for(addr);
        self.dial_as(addr, intent, now);
    }

    pub(super) fn dial_as(&mut self, addr: SocketAddr, intent: Intent, now: Instant) {
        if self.leaving {
            return;
        }
        let Some(k) = self.book.get(addr) else {
            return;
        };
        if k.conn().is_some() || k.node_id().is_some_and(|n| self.peers.by_id(n).is_some()) {
            return;
        }
        // Only a low-priority request waits for room; the others make it.
        let full = self.peers.len() >= self.cfg.max_peers;
        if self.conns.len() >= self.cfg.conn_cap() || (full && intent == Intent::Low) {
            return;
        }
        // One node listed under two addresses (it listens on every
        // interface) is dialed at one at a time. Half the handshake slots
        // stay free for inbound joins: a peer list full of dead ends must
        // not lock newcomers out. Either way the address is dialed when a
        // slot frees, or by the timer as a fallback.
        if self.book.same_node_busy(addr) || self.dialing_count() >= self.cfg.dial_cap() {
            let at = now + self.cfg.redial_min;
            self.book.set_retry(addr, at);
            self.arm_dial(at, addr);
            self.book.queue_dial(addr);
            return;
        }
        let id = self.conns.insert(Conn::dial(addr, intent, now));
        self.book.dialing(addr, id);
        self.out.dial(id, addr);
        self.arm(id, now);
        self.diag(now, DiagKind::Dial, format_args!("dialing {addr}"));
    }

    /// Outbound connections not yet established.
    pub(super) fn dialing_count(&self) -> usize {
        self.conns
            .iter()
            .filter(|(_, c)| c.is_outbound() && c.in_handshake() && c.text_role().is_none())
            .count()
    }

    /// A dial slot freed: dial the oldest address still waiting for one.
    pub(super) fn dial_next(&mut self, now: Instant) {
        if let Some(addr) = self.book.next_queued() {
            self.dial(addr, now);
        }
    }

    /// Sets a timer to look at `addr` again at `at`.
    pub(super) fn arm_dial(&mut self, at: Instant, addr: SocketAddr) {
        let slot = self.dial_slots.put(addr);
        self.wheel.insert(at, Timer::Dial(slot));
    }

    pub(super) fn on_dial_timer(&mut self, slot: u32, now: Instant) {
        let addr = self.dial_slots.take(slot);
        if self.book.due(addr, now, !self.peers.is_empty()) {
            self.dial(addr, now);
        }
    }

    /// A dial to `addr` failed or an established peer there was lost.
    pub(super) fn schedule_redial(&mut self, addr: SocketAddr, now: Instant, why: Reason) {
        let have_peers = !self.peers.is_empty();
        let redial = self
            .book
            .failed(addr, now, have_peers, self.leaving, &mut self.rng);
        let Redial::At { at, delay, note } = redial else {
            return;
        };
        self.arm_dial(at, addr);
        let bootstrap = self.book.get(addr).is_some_and(|k| k.is_bootstrap());
        // A bootstrap is worth a line per try; any other address one line,
        // so a list of dead ends cannot flood stderr.
        if note && (bootstrap || matches!(why, Reason::Io(_))) {
            self.diag(
                now,
                DiagKind::Retry,
                format_args!(
                    "cannot reach {addr} ({}); retrying in {}ms",
                    why.text(),
                    delay.as_millis()
                ),
            );
        }
    }
}

/// The addresses of pending dial timers. A wheel entry carries a slot
/// number here (4 bytes) rather than the address (32), so every timer
/// entry is 24 bytes, not 48. Each timer holds its slot until it fires;
/// the table is dropped whole once none is held.
#[derive(Debug, Default)]
pub(super) struct DialSlots {
    addrs: Vec<SocketAddr>,
    free: Vec<u32>,
}

impl DialSlots {
    /// Keeps `addr` until [`DialSlots::take`]; returns its slot.
    pub fn put(&mut self, addr: SocketAddr) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.addrs[i as usize] = addr;
                i
            }
            None => {
                self.addrs.push(addr);
                self.addrs.len() as u32 - 1
            }
        }
    }

    /// The address put in `slot`, which is free again.
    pub fn take(&mut self, slot: u32) -> SocketAddr {
        let addr = self.addrs[slot as usize];
        self.free.push(slot);
        if self.free.len() == self.addrs.len() {
            *self = DialSlots::default();
        }
        addr
    }

    /// Slots held.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.addrs.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_gives_back_its_address_and_is_reused_and_the_table_empties() {
        let a = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let mut s = DialSlots::default();
        let (x, y) = (s.put(a(1)), s.put(a(2)));
        assert_ne!(x, y);
        assert_eq!(s.take(x), a(1));
        let z = s.put(a(3));
        assert_eq!(z, x, "a free slot is used first");
        assert_eq!(s.held(), 2);
        assert_eq!(s.take(y), a(2));
        assert_eq!(s.take(z), a(3));
        assert_eq!(s.held(), 0);
        assert_eq!(s.addrs.capacity(), 0, "nothing kept once none is held");
    }
}
