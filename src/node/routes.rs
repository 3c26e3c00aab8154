//! How `Node` routes each input between its parts: frames by connection
//! phase, the handshake's verdicts, peer lists, dials and redials, closes,
//! timers, and broadcasts. The rules themselves live in the parts; this is
//! the wiring.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, Instant};

use super::addrbook::Redial;
use super::chatter;
use super::conn::{Conn, PeerInfo, State};
use super::conns::ConnId;
use super::event::DiagKind;
use super::handshake::{self, Arrival, Direction, Existing, Verdict};
use super::lines::Line;
use super::liveness::Check;
use super::membership::{self, Step};
use super::outbox::{Admit, Cargo};
use super::reason::{Aftermath, Phase, Reason};
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
    /// A frame arrived on `conn`. False if the connection is now closed.
    pub(super) fn handle_frame(&mut self, conn: ConnId, frame: Frame<'_>, now: Instant) -> bool {
        let Some(c) = self.conns.get_mut(conn) else {
            return false;
        };
        c.live.heard(now);
        let state = c.state();
        let from = c.peer().map_or(c.remote(), |p| p.listen);
        match (state, frame) {
            (State::Handshaking, Frame::Hello(h)) => self.on_hello(conn, h, now),
            (State::Active | State::Retiring, Frame::Message { payload, .. }) => {
                self.stats.messages_received += 1;
                let at = self.elapsed(now);
                self.out.received(at, payload, from);
                true
            }
            // A retiring connection is one of two to the same proven peer;
            // its welcome may have gone out on either.
            (State::Active | State::Retiring, Frame::Peers(entries)) => {
                self.on_peers(conn, &entries, now);
                true
            }
            (State::Active | State::Retiring, Frame::Keepalive) => true,
            (State::Active | State::Retiring, Frame::Goodbye(reason)) => {
                let why = match reason {
                    GoodbyeReason::Duplicate if state == State::Active => Reason::Disowned,
                    GoodbyeReason::Duplicate => Reason::Duplicate,
                    GoodbyeReason::Shutdown | GoodbyeReason::Other(_) => Reason::Left,
                };
                self.close(conn, now, why);
                false
            }
            (state, frame) => {
                let when = match state {
                    State::Active | State::Retiring => Phase::AfterHandshake,
                    _ => Phase::BeforeHandshake,
                };
                let frame = frame_name(&frame);
                self.close(conn, now, Reason::Unexpected { frame, when });
                false
            }
        }
    }

    // ---- handshake ----------------------------------------------------

    pub(super) fn send_hello(&mut self, id: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let listed = c.is_outbound() && c.listed();
        c.hello_sent(now);
        let hello = handshake::hello(self.id, self.cfg.listen.port(), listed);
        self.send_frame(id, &Frame::Hello(hello), now);
    }

    fn on_hello(&mut self, id: ConnId, h: Hello, now: Instant) -> bool {
        let Some(c) = self.conns.get_mut(id) else {
            return false;
        };
        let (dir, remote) = (c.dir(), c.remote());
        if dir == Direction::Inbound && h.flags & wire::FLAG_LISTED != 0 {
            c.mark_listed();
        }
        let listen = handshake::listen_addr(dir, remote, &h);
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
        };
        let peer = PeerInfo {
            id: h.node_id,
            listen,
        };
        let outbound = dir == Direction::Outbound;
        match handshake::judge(&h, &arrival) {
            Verdict::SelfConnect => {
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
                self.retire(retire, now);
                if keep_new {
                    self.promote(keep, peer, now, Promotion::Replace);
                }
                true
            }
            Verdict::Full => {
                self.close(id, now, Reason::Full);
                false
            }
            Verdict::Accept => {
                self.promote(id, peer, now, Promotion::New);
                true
            }
        }
    }

    /// Makes `id` the established connection to `peer`.
    fn promote(&mut self, id: ConnId, peer: PeerInfo, now: Instant, kind: Promotion) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let outbound_done = c.is_outbound() && c.state() == State::Handshaking;
        let listed = c.listed();
        c.promote(peer, now);
        self.peers.insert(peer.id, peer.listen, id);
        self.book.connected(peer.listen, peer.id, id);
        self.arm(id, now);
        if outbound_done {
            self.dial_next(now);
        }
        if kind == Promotion::Replace {
            return;
        }
        // Welcome the peer with everyone else we know, and tell everyone
        // else about it.
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
        self.send_frame(id, &Frame::Peers(others), now);
        // A peer reached through a peer list is known to the mesh already;
        // announcing it again would cost every member a frame per join.
        if !listed {
            let me = [PeerEntry {
                node_id: peer.id,
                addr: peer.listen,
            }];
            let bytes = self.out.encode(|tx| wire::encode_peers(tx, &me));
            let targets: Vec<ConnId> = self
                .peers
                .conns()
                .iter()
                .copied()
                .filter(|&o| o != id)
                .collect();
            for o in targets {
                self.enqueue(o, bytes.clone(), Cargo::Message, now);
            }
        }
        if self.members.joining() {
            if self.members.established(peer.listen) == Step::ArmDeadline {
                let at = now + self.cfg.handshake_timeout;
                self.wheel.insert(at, Timer::Join);
            }
            self.finish_join(now, membership::Check::Progress);
        } else {
            let at = self.elapsed(now);
            self.out.connected(at, peer.listen);
        }
    }

    fn retire(&mut self, id: ConnId, now: Instant) {
        let Some(c) = self.conns.get(id) else { return };
        if c.state() == State::Active {
            self.unlist(id);
        }
        self.send_frame(id, &Frame::Goodbye(GoodbyeReason::Duplicate), now);
        if let Some(c) = self.conns.get_mut(id) {
            c.retire(now);
        }
        self.arm(id, now);
    }

    /// Takes an established connection out of the peer set.
    fn unlist(&mut self, id: ConnId) {
        let Some(p) = self.conns.get(id).and_then(|c| c.peer()) else {
            return;
        };
        self.peers.remove(p.id, id);
        self.book.detach(p.listen, id);
    }

    pub(super) fn finish_join(&mut self, now: Instant, check: membership::Check) {
        if self.members.finish(check, !self.peers.is_empty()) {
            let at = self.elapsed(now);
            self.out.joined(at, self.peers.addrs());
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

    // ---- peer lists and dialing ---------------------------------------

    fn on_peers(&mut self, from: ConnId, entries: &[PeerEntry], now: Instant) {
        let Some(c) = self.conns.get_mut(from) else {
            return;
        };
        let welcome = c.take_peer_list();
        if c.state() == State::Retiring
            && let Some(p) = c.peer()
            && let Some(kept) = self.peers.by_id(p.id)
            && let Some(k) = self.conns.get_mut(kept)
        {
            k.take_peer_list();
        }
        // The first welcome from any established peer ends the wait for the
        // bootstrap's: with two nodes bootstrapping off each other, or a
        // bootstrap that is down while someone joins through us, the
        // bootstrap's own welcome may never come.
        let join_welcome = welcome && self.members.awaiting_welcome();
        for e in entries.iter().take(self.cfg.max_list_take) {
            if !self.acceptable(e) || !self.book.learn(e.addr, e.node_id) {
                continue;
            }
            if welcome {
                if join_welcome {
                    self.members.expect(e.addr);
                }
                self.dial(e.addr, now);
            } else if self
                .book
                .get(e.addr)
                .is_some_and(|k| k.conn().is_none() && k.retry_at().is_none())
            {
                // An announced newcomer dials us itself; dial it only if it
                // has not after a grace period.
                let at = now + self.cfg.announce_grace;
                self.book.set_retry(e.addr, at);
                self.wheel.insert(at, Timer::Dial(e.addr));
            }
        }
        if join_welcome {
            self.members.welcomed();
            let deadline = now + self.cfg.handshake_timeout;
            self.wheel.insert(deadline, Timer::Join);
            self.finish_join(now, membership::Check::Progress);
        }
    }

    /// Whether a peer list entry may be dialed at all.
    fn acceptable(&self, e: &PeerEntry) -> bool {
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

    pub(super) fn dial(&mut self, addr: SocketAddr, now: Instant) {
        if self.leaving {
            return;
        }
        let Some(k) = self.book.get(addr) else {
            return;
        };
        if k.conn().is_some() || k.node_id().is_some_and(|n| self.peers.by_id(n).is_some()) {
            return;
        }
        if self.conns.len() >= self.cfg.conn_cap() || self.peers.len() >= self.cfg.max_peers {
            return;
        }
        let listed = k.listed();
        // One node listed under two addresses (it listens on every
        // interface) is dialed at one at a time. Half the handshake slots
        // stay free for inbound joins: a peer list full of dead ends must
        // not lock newcomers out. Either way the address is dialed when a
        // slot frees, or by the timer as a fallback.
        if self.book.same_node_busy(addr) || self.dialing_count() >= self.cfg.dial_cap() {
            let at = now + self.cfg.redial_min;
            self.book.set_retry(addr, at);
            self.wheel.insert(at, Timer::Dial(addr));
            self.book.queue_dial(addr);
            return;
        }
        let id = self.conns.insert(Conn::dial(addr, listed, now));
        self.book.dialing(addr, id);
        self.out.dial(id, addr);
        self.arm(id, now);
    }

    /// Outbound connections not yet established.
    fn dialing_count(&self) -> usize {
        self.conns
            .iter()
            .filter(|(_, c)| c.is_outbound() && c.in_handshake())
            .count()
    }

    /// A dial slot freed: dial the oldest address still waiting for one.
    fn dial_next(&mut self, now: Instant) {
        if let Some(addr) = self.book.next_queued() {
            self.dial(addr, now);
        }
    }

    pub(super) fn on_dial_timer(&mut self, addr: SocketAddr, now: Instant) {
        if self.book.due(addr, now, !self.peers.is_empty()) {
            self.dial(addr, now);
        }
    }

    /// A dial to `addr` failed or an established peer there was lost.
    fn schedule_redial(&mut self, addr: SocketAddr, now: Instant, why: Reason) {
        let have_peers = !self.peers.is_empty();
        let redial = self
            .book
            .failed(addr, now, have_peers, self.leaving, &mut self.rng);
        let Redial::At { at, delay, note } = redial else {
            return;
        };
        self.wheel.insert(at, Timer::Dial(addr));
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

    // ---- closing ------------------------------------------------------

    /// Closes `id` from our side: bookkeeping plus a `Close` output.
    pub(super) fn close(&mut self, id: ConnId, now: Instant, why: Reason) {
        if self.drop_conn(id, now, why) {
            self.out.close(id);
        }
    }

    /// Forgets `id` and acts on what its loss means. False if unknown.
    pub(super) fn drop_conn(&mut self, id: ConnId, now: Instant, why: Reason) -> bool {
        let Some(c) = self.conns.get(id) else {
            return false;
        };
        let (state, outbound, remote) = (c.state(), c.is_outbound(), c.remote());
        let (book_addr, peer) = (c.book_addr(), c.peer());
        let was_peer = state == State::Active;
        if was_peer {
            self.unlist(id);
        }
        let Some(c) = self.conns.remove(id) else {
            return false;
        };
        self.outbox.remove(&c.queue);
        if let Some(a) = book_addr {
            self.book.detach(a, id);
        }
        let at = self.elapsed(now);
        if was_peer && why != Reason::Shutdown {
            let name = peer.map_or(remote, |p| p.listen);
            self.out.disconnected(at, name, why);
            if why.is_notable_loss() {
                let text = why.text();
                self.diag(
                    now,
                    DiagKind::PeerFault,
                    format_args!("closed connection to \"{name}\": {text}"),
                );
            }
        } else if why.is_peer_fault() {
            let text = why.text();
            self.diag(
                now,
                DiagKind::PeerFault,
                format_args!("closed connection with {remote}: {text}"),
            );
        }
        if let Some(addr) = book_addr.filter(|_| state != State::Retiring) {
            match why.aftermath(was_peer, outbound) {
                Aftermath::Forget => self.book.forget(addr),
                Aftermath::Keep => {}
                Aftermath::Redial => {
                    if was_peer {
                        self.book.lost_peer(addr);
                    }
                    self.schedule_redial(addr, now, why);
                }
            }
            if self.members.gave_up(addr) {
                self.finish_join(now, membership::Check::Progress);
            }
        }
        if was_peer && self.peers.is_empty() && !self.leaving {
            // Lost every peer: go back to the bootstrap addresses.
            for a in self.book.idle_bootstraps() {
                let at = now + self.cfg.redial_min;
                self.book.set_retry(a, at);
                self.wheel.insert(at, Timer::Dial(a));
            }
        }
        if outbound && matches!(state, State::Connecting | State::Handshaking) {
            self.dial_next(now);
        }
        true
    }

    // ---- timers -------------------------------------------------------

    /// Schedules `id`'s next check at its earliest deadline.
    pub(super) fn arm(&mut self, id: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let at = c.live.deadline(c.stage(), &self.timeouts).max(now);
        if c.live.arm(at) {
            self.wheel.insert(at, Timer::Conn(id));
        }
    }

    pub(super) fn on_conn_timer(&mut self, id: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        if !c.live.fire(now) {
            return; // superseded by an earlier timer that already re-armed
        }
        match c.live.check(c.stage(), &self.timeouts, now) {
            Check::Close(Reason::Slow { .. }) => {
                let dropped = c.queue.dropped();
                self.close(id, now, Reason::Slow { dropped });
                return;
            }
            Check::Close(why) => {
                self.close(id, now, why);
                return;
            }
            Check::Keepalive => self.send_frame(id, &Frame::Keepalive, now),
            Check::Fine => {}
        }
        self.arm(id, now);
    }

    pub(super) fn on_period(&mut self, now: Instant) {
        let Some(next) = self.period.fire(now) else {
            return;
        };
        self.wheel.insert(next, Timer::Period);
        if self.peers.is_empty() || self.leaving {
            return;
        }
        let msg = chatter::random_message(&mut self.rng);
        self.broadcast(msg.as_bytes(), now, Cargo::Message);
    }

    // ---- stdin and broadcast ------------------------------------------

    pub(super) fn stdin_line(&mut self, line: Line<'_>, now: Instant) {
        let text = match line {
            Line::TooLong(n) => {
                let max = self.cfg.max_line;
                self.diag(
                    now,
                    DiagKind::LineDropped,
                    format_args!("stdin line of {n} bytes is over the {max}-byte limit; not sent"),
                );
                return;
            }
            Line::Text(t) => t,
        };
        if text.is_empty() || self.leaving {
            return;
        }
        if self.peers.is_empty() {
            self.diag(
                now,
                DiagKind::LineDropped,
                format_args!("no peers connected; line not sent"),
            );
            return;
        }
        // The documented rule: stdin that is not UTF-8 is sent with each bad
        // sequence replaced by U+FFFD.
        match std::str::from_utf8(text) {
            Ok(_) => self.broadcast(text, now, Cargo::StdinLine),
            Err(_) => {
                let fixed = String::from_utf8_lossy(text).into_owned();
                self.broadcast(fixed.as_bytes(), now, Cargo::StdinLine);
            }
        }
    }

    /// Sends `payload` to every established peer with room for it, and
    /// tells exactly the peers it went to.
    fn broadcast(&mut self, payload: &[u8], now: Instant, cargo: Cargo) {
        let id = self.rng.u64(..);
        let bytes = self
            .out
            .encode(|tx| wire::encode_message(tx, id, 0, payload));
        let mut to = std::mem::take(&mut self.targets);
        to.clear();
        for i in 0..self.peers.len() {
            let (c, addr) = (self.peers.conns()[i], self.peers.addrs()[i]);
            if self.enqueue(c, bytes.clone(), cargo, now) {
                self.stats.messages_sent += 1;
                to.push(addr);
            } else {
                self.stats.messages_dropped += 1;
            }
        }
        let at = self.elapsed(now);
        self.out.sending(at, payload, to.iter().copied());
        self.targets = to;
    }

    /// Queues the encoded `bytes` on `id` if its queue has room.
    fn enqueue(&mut self, id: ConnId, bytes: Range<usize>, cargo: Cargo, now: Instant) -> bool {
        let Some(c) = self.conns.get_mut(id) else {
            return false;
        };
        let Admit::Queued { newly_congested } =
            self.outbox.admit(&mut c.queue, bytes.len(), cargo, now)
        else {
            return false;
        };
        c.live.sent(now);
        self.out.send(id, bytes);
        if newly_congested {
            self.arm(id, now);
        }
        true
    }

    pub(super) fn send_frame(&mut self, id: ConnId, f: &Frame<'_>, now: Instant) {
        if self.conns.contains(id) {
            let bytes = self.out.encode(|tx| f.encode(tx));
            self.enqueue(id, bytes, Cargo::Control, now);
        }
    }
}

fn frame_name(f: &Frame<'_>) -> &'static str {
    match f {
        Frame::Hello(_) => "hello",
        Frame::Peers(_) => "peer list",
        Frame::Message { .. } => "message",
        Frame::Keepalive => "keepalive",
        Frame::Goodbye(_) => "goodbye",
    }
}
