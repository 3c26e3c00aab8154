//! How a connection becomes a peer: our hello, the verdict on theirs, the
//! promotion with its welcome list and announcement, a duplicate's
//! retirement, the join's end, and inbound connections turned away.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::conn::{PeerInfo, State};
use super::conns::ConnId;
use super::event::DiagKind;
use super::handshake::{self, Arrival, Direction, Existing, Intent, Verdict};
use super::membership::{self, Step};
use super::reason::Reason;
use super::{Node, Refusal, Timer};
use crate::wire::{self, Frame, GoodbyeReason, Hello, PeerEntry};

/// Whether a promotion makes a new peer or replaces a duplicate's
/// connection to a peer we already had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Promotion {
    New,
    Replace,
}

impl Node {
    pub(super) fn send_hello(&mut self, id: ConnId, now: Instant) {
        if self.start_keyed(id, now) {
            return;
        }
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        // An accepted connection's hello answers theirs: it says no intent.
        let intent = match c.is_outbound() {
            true => c.intent(),
            false => Intent::Forced,
        };
        // An accepted connection's deadline counts from its accept.
        if c.is_outbound() {
            c.hello_sent(now);
        }
        let advertised = self.cfg.hello_advertised();
        let hello = handshake::hello(self.id, self.cfg.listen.port(), intent, advertised);
        self.send_frame(id, &Frame::Hello(hello), now);
    }

    pub(super) fn on_hello(&mut self, id: ConnId, h: Hello, now: Instant) -> bool {
        let Some(c) = self.conns.get_mut(id) else {
            return false;
        };
        let (dir, remote) = (c.dir(), c.remote());
        if dir == Direction::Inbound {
            c.set_intent(Intent::of(h.flags));
        }
        if h.flags & wire::text::FLAG_TEXT != 0 {
            c.mark_text_frames();
        }
        let listen = handshake::listen_addr(dir, remote, &h);
        if let Some(claim) = handshake::unproven_claim(dir, remote, &h) {
            self.diag(
                now,
                DiagKind::Handshake,
                format_args!("handshake with {remote}: it advertises {claim}, not on its own IP; known as {listen}"),
            );
        }
        let existing = self.peers.by_id(h.node_id).and_then(|other| {
            let o = self.conns.get(other)?;
            Some(Existing {
                conn: other,
                listen: o.peer()?.listen,
                dir: o.dir(),
            })
        });
        let arrival = Arrival {
            me: self.id,
            dir,
            listen,
            listen_is_self: self.book.is_self(listen),
            existing,
            at_peer_cap: self.peers.len() >= self.cfg.max_peers,
            addr_taken: self
                .peers
                .conn_of(listen)
                .and_then(|c| self.conns.get(c)?.peer())
                .is_some_and(|p| p.id != h.node_id),
        };
        let peer = PeerInfo {
            id: h.node_id,
            listen,
        };
        let outbound = dir == Direction::Outbound;
        let verdict = handshake::judge(&h, &arrival);
        // An accepted connection's hello answers the verdict: none for a
        // refusal (the dialer gets GOODBYE alone, before it counts us as a
        // peer), ours for anything else, so a dialer that reached itself
        // or an older version can tell.
        if !outbound && verdict != Verdict::Full {
            self.send_hello(id, now);
        }
        match verdict {
            Verdict::Version(v) => {
                let ours = wire::VERSION;
                self.diag(
                    now,
                    DiagKind::PeerFault,
                    format_args!("closed connection with {remote}: it speaks protocol version {v}; this node speaks version {ours}"),
                );
                if outbound {
                    let retry = now + self.cfg.shuffle_interval;
                    self.book.set_retry(remote, retry);
                }
                self.retire(id, GoodbyeReason::Version, now);
                false
            }
            Verdict::SelfConnect => {
                self.diag(
                    now,
                    DiagKind::Handshake,
                    format_args!("handshake with {remote}: that is this node"),
                );
                // We dialed ourselves (our own address under another name).
                if outbound {
                    self.book.remember_self(remote);
                    if self.peers.is_empty()
                        && self.members.awaiting_welcome()
                        && !self.book.has_bootstrap()
                    {
                        self.members.abandon();
                    }
                }
                self.close(id, now, Reason::SelfConnect);
                false
            }
            Verdict::ClaimsOurAddress => {
                // Listing it would make us a peer of ourselves.
                self.close(id, now, Reason::SelfConnect);
                false
            }
            Verdict::NoPort => {
                self.close(id, now, Reason::NoPort);
                false
            }
            Verdict::IdElsewhere(at) => {
                if outbound {
                    self.book.forget_unless_bootstrap(remote);
                }
                self.close(id, now, Reason::IdElsewhere(at));
                false
            }
            Verdict::Duplicate { other, keep_new } => {
                self.diag(
                    now,
                    DiagKind::Handshake,
                    format_args!("handshake with {remote}: a second connection to {listen}; keeping the {} one", if keep_new { "new" } else { "old" }),
                );
                let (keep, retire) = if keep_new { (id, other) } else { (other, id) };
                // The peer's welcome counts once, whichever connection it
                // came on.
                if self.conns.get(retire).is_some_and(|c| c.got_peer_list())
                    && let Some(c) = self.conns.get_mut(keep)
                {
                    c.take_peer_list();
                }
                if let Some(c) = self.conns.get_mut(id) {
                    c.name(peer);
                }
                self.retire(retire, GoodbyeReason::Duplicate, now);
                if keep_new {
                    self.promote(keep, peer, now, Promotion::Replace);
                }
                true
            }
            Verdict::AddrTaken => {
                self.close(id, now, Reason::AddrTaken(listen));
                false
            }
            Verdict::Full => {
                self.diag(
                    now,
                    DiagKind::Handshake,
                    format_args!("handshake with {remote}: a neighbor request, and the active view is full; refused"),
                );
                self.retire(id, GoodbyeReason::Full, now);
                false
            }
            Verdict::Accept => {
                self.diag(
                    now,
                    DiagKind::Handshake,
                    format_args!(
                        "handshake with {remote} done: node {:016x} listening on {listen}",
                        h.node_id
                    ),
                );
                self.promote(id, peer, now, Promotion::New);
                true
            }
        }
    }

    /// Makes `id` the established connection to `peer`: it joins the
    /// active view (a full one makes room), an accepted peer is welcomed
    /// with our active view, and a newcomer's join walks start.
    fn promote(&mut self, id: ConnId, peer: PeerInfo, now: Instant, kind: Promotion) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let outbound_done = c.is_outbound() && c.state() == State::Handshaking;
        let (inbound, intent) = (!c.is_outbound(), c.intent());
        c.promote(peer, now);
        let had_room = self.peers.len() < self.cfg.max_peers;
        if kind == Promotion::New && !had_room {
            self.make_room(id, now);
        }
        self.peers.insert(peer.id, peer.listen, id);
        self.gossip_up(peer.listen);
        self.book.connected(peer.listen, peer.id, id);
        self.arm(id, now);
        if outbound_done {
            self.dial_next(now);
        }
        if kind == Promotion::Replace {
            return;
        }
        {
            // Our active view, for its passive view: from an acceptor, the
            // welcome (for a newcomer, the peers its join walks start at);
            // both ways, so a small network whose joins raced still ends
            // a full mesh (a node with room dials what it learns).
            let others: Vec<PeerEntry> = self
                .peers
                .conns()
                .iter()
                .zip(self.peers.addrs())
                .filter(|&(&o, _)| o != id)
                .filter_map(|(&o, &addr)| {
                    Some(PeerEntry {
                        node_id: self.conns.get(o)?.peer()?.id,
                        addr,
                    })
                })
                .collect();
            self.send_overlay(id, &Frame::Peers(others), now);
            if inbound && intent == Intent::Join {
                self.start_walks(id, peer, had_room, now);
            }
        }
        self.text_peer_joined(id, peer.listen, now);
        if self.members.joining() {
            self.members.progress(now);
            if self.members.established(peer.listen) == Step::ArmDeadline {
                let at = now + self.cfg.handshake_timeout;
                self.wheel.insert(at, Timer::Join);
            }
            self.wheel.insert(now + self.cfg.join_settle, Timer::Join);
            let check = match self.peers.len() >= self.cfg.max_peers {
                true => membership::Check::Deadline,
                false => membership::Check::Progress,
            };
            self.finish_join(now, check);
        } else {
            let at = self.elapsed(now);
            self.out.connected(at, peer.listen);
        }
    }

    /// Says GOODBYE with `why` and waits for the peer to close (at most a
    /// keepalive timeout): closing at once could reset the connection
    /// before the peer has read the goodbye, and it would take the loss for
    /// a failure and dial again.
    pub(super) fn retire(&mut self, id: ConnId, why: GoodbyeReason, now: Instant) {
        let Some(c) = self.conns.get(id) else { return };
        if c.state() == State::Active {
            self.unlist(id);
        }
        self.send_frame(id, &Frame::Goodbye(why), now);
        if let Some(c) = self.conns.get_mut(id) {
            c.retire(now);
        }
        self.arm(id, now);
    }

    /// Takes an established connection out of the peer set.
    pub(super) fn unlist(&mut self, id: ConnId) {
        let Some(p) = self.conns.get(id).and_then(|c| c.peer()) else {
            return;
        };
        if self.peers.remove(p.id, id) {
            self.gossip_down(p.listen);
        }
        self.book.detach(p.listen, id);
    }

    pub(super) fn finish_join(&mut self, now: Instant, check: membership::Check) {
        if self.members.finish(check, !self.peers.is_empty()) {
            let at = self.elapsed(now);
            self.out.joined(at, self.peers.addrs());
            self.fill_view(now);
            self.maybe_depart(now);
        }
    }

    /// Closes the oldest inbound connection still in its handshake, to make
    /// room for a new one. Honest peers finish theirs in a round trip, so
    /// only idle ones are old. False if there is none.
    pub(super) fn evict_handshake(&mut self, now: Instant) -> bool {
        let oldest = self
            .conns
            .iter()
            .filter(|(_, c)| !c.is_outbound() && c.state() == State::Handshaking)
            .min_by_key(|(_, c)| c.since())
            .map(|(id, _)| id);
        match oldest {
            Some(id) => {
                self.close(id, now, Reason::Evicted);
                true
            }
            None => false,
        }
    }

    /// Turns an inbound connection away, noting it at most once a second.
    pub(super) fn refuse(
        &mut self,
        remote: SocketAddr,
        now: Instant,
        why: Refusal,
    ) -> Option<ConnId> {
        self.stats.peers_refused += 1;
        let quiet = self
            .last_refusal_note
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1));
        if !quiet {
            self.last_refusal_note = Some(now);
            let cap = self.cfg.conn_cap();
            match why {
                Refusal::NoDescriptors => self.diag(
                    now,
                    DiagKind::Refused,
                    format_args!("refusing connection from {remote}: out of file descriptors"),
                ),
                Refusal::AtCap => self.diag(
                    now,
                    DiagKind::Refused,
                    format_args!(
                        "refusing connection from {remote}: at the limit of {cap} connections"
                    ),
                ),
            }
        }
        None
    }
}
