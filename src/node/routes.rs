//! How `Node` routes frames by connection phase, closes connections (and
//! what a loss means for its address), runs connection and period timers,
//! and sends stdin lines and random messages. The rules themselves live in
//! the parts; this is the wiring. Handshakes are in `peering.rs`, peer lists
//! and dials in `dialing.rs`.

use std::ops::Range;
use std::time::Instant;

use super::chatter;
use super::conn::State;
use super::conns::ConnId;
use super::event::{DiagKind, Secs};
use super::lines::Line;
use super::liveness::Check;
use super::membership;
use super::outbox::{Admit, Cargo};
use super::reason::{Aftermath, Phase, Reason};
use super::{Node, Timer};
use crate::wire::overlay::Overlay;
use crate::wire::text::TextFrame;
use crate::wire::{self, Frame, GoodbyeReason};

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
                self.out.received(at, payload, from, 0);
                true
            }
            // A retiring connection is one of two to the same proven peer;
            // its welcome may have gone out on either.
            (State::Active | State::Retiring, Frame::Peers(entries)) => {
                self.on_peers(conn, &entries, now);
                true
            }
            (State::Active | State::Retiring, Frame::Keepalive) => true,
            (State::Active | State::Retiring, Frame::Text(t)) => {
                self.on_text_frame(conn, t, now);
                true
            }
            (State::Active | State::Retiring, Frame::Overlay(o)) => self.on_overlay(conn, o, now),
            (State::Active | State::Retiring, Frame::Goodbye(reason)) => {
                // The peer kept our dial, whose answer is on its way: this
                // connection stays its link till then (`handover.rs`).
                if state == State::Active
                    && reason == GoodbyeReason::Duplicate
                    && self.wait_for_dial(conn)
                {
                    return true;
                }
                let why = match reason {
                    GoodbyeReason::Duplicate if state == State::Active => Reason::Disowned,
                    GoodbyeReason::Duplicate => Reason::Duplicate,
                    GoodbyeReason::Replaced | GoodbyeReason::Full => Reason::Replaced,
                    GoodbyeReason::Version => Reason::Version(0),
                    GoodbyeReason::Shutdown | GoodbyeReason::Other(_) => Reason::Left,
                };
                if why == Reason::Replaced
                    && let Some(p) = self.conns.get(conn).and_then(|c| c.peer())
                {
                    // It is full: not a candidate to fill our view again
                    // before the next shuffle (asking at once would only
                    // take a handshake slot of a busy contact for a refusal).
                    self.book.demote(p.listen);
                    let retry = now + self.cfg.shuffle_interval;
                    self.book.set_retry(p.listen, retry);
                }
                self.close(conn, now, why);
                false
            }
            // Our dial refused before its hello: a full active view, or
            // another protocol version.
            (State::Handshaking, Frame::Goodbye(GoodbyeReason::Full)) => {
                let retry = now + self.cfg.shuffle_interval;
                self.book.set_retry(from, retry);
                self.close(conn, now, Reason::Full);
                false
            }
            (State::Handshaking, Frame::Goodbye(GoodbyeReason::Version)) => {
                self.diag(
                    now,
                    DiagKind::PeerFault,
                    format_args!("closed connection with {from}: it speaks another protocol version (this node speaks version {})", wire::VERSION),
                );
                // Not a candidate again before the next shuffle.
                let retry = now + self.cfg.shuffle_interval;
                self.book.set_retry(from, retry);
                self.close(conn, now, Reason::Version(0));
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

    /// A version-2 overlay frame from an established peer.
    fn on_overlay(&mut self, conn: ConnId, o: Overlay<'_>, now: Instant) -> bool {
        match o {
            Overlay::ForwardJoin { ttl, node_id, addr } => {
                self.on_forward_join(conn, ttl, node_id, addr, now)
            }
            Overlay::Shuffle(entries) => self.on_shuffle(conn, &entries, now),
            Overlay::ShuffleReply(entries) => self.learn_entries(&entries),
            other => return self.on_tree(conn, other, now),
        }
        true
    }

    /// Closes `id` from our side: bookkeeping plus a `Close` output.
    pub(super) fn close(&mut self, id: ConnId, now: Instant, why: Reason) {
        if self.cfg.key.is_some() {
            self.seal(id);
        }
        if self.drop_conn(id, now, why) {
            self.out.close(id);
        }
    }

    /// Forgets `id` and acts on what its loss means. False if unknown.
    pub(super) fn drop_conn(&mut self, id: ConnId, now: Instant, why: Reason) -> bool {
        let Some(c) = self.conns.get(id) else {
            return false;
        };
        if let Some(role) = c.text_role() {
            return self.drop_text_conn(id, role, why, now);
        }
        let (state, outbound, remote) = (c.state(), c.is_outbound(), c.remote());
        let (book_addr, peer) = (c.book_addr(), c.peer());
        let was_peer = state == State::Active;
        // A peer closing after our goodbye (`--exit-on-eof`) has every line.
        let departing = self.departure.waits_for(id);
        if departing {
            self.departure
                .gone(id, matches!(why, Reason::Eof | Reason::Left));
        }
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
        if was_peer && why != Reason::Shutdown && !departing {
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
        // The active view lost a peer, or a dial to fill it ended: fill it
        // from the passive view.
        if (was_peer || outbound) && why != Reason::Shutdown && !self.leaving {
            self.fill_view(now);
        }
        if was_peer && self.peers.is_empty() && !self.leaving {
            // Lost every peer: go back to the bootstrap addresses.
            for a in self.book.idle_bootstraps() {
                let at = now + self.cfg.redial_min;
                self.book.set_retry(a, at);
                self.arm_dial(at, a);
            }
        }
        if outbound && matches!(state, State::Connecting | State::Handshaking) {
            self.dial_next(now);
        }
        if outbound && state == State::Handshaking {
            self.dial_ended(remote, why, now);
        }
        true
    }

    /// Schedules `id`'s next check at its earliest deadline.
    pub(super) fn arm(&mut self, id: ConnId, now: Instant) {
        let text = self.text_deadline(id);
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let at = match text {
            None => c.live.deadline(c.stage(), &self.timeouts),
            Some(Some(at)) => at,
            Some(None) => return,
        };
        let at = at.max(now);
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
        if c.text_role().is_some() {
            self.on_text_timer(id, now);
            return;
        }
        match c.live.check(c.stage(), &self.timeouts, now) {
            Check::Close(Reason::Slow { .. }) => {
                let dropped = c.queue.dropped();
                self.close(id, now, Reason::Slow { dropped });
                return;
            }
            Check::Close(why) => {
                if why == Reason::HandshakeTimeout {
                    let remote = c.remote();
                    if c.inbound.is_silent() {
                        // Neither a rumor node nor a text host: nothing came.
                        let secs = Secs(self.cfg.handshake_timeout);
                        self.diag(
                            now,
                            DiagKind::PeerFault,
                            format_args!(
                                "closed connection with {remote}: it sent nothing in {secs}"
                            ),
                        );
                    } else {
                        self.diag(
                            now,
                            DiagKind::Handshake,
                            format_args!("no handshake from {remote} in time; closing"),
                        );
                    }
                }
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
        if !self.has_members() || self.leaving {
            return;
        }
        let msg = chatter::random_message(&mut self.rng);
        self.broadcast(msg.as_bytes(), now, Cargo::Message);
    }

    pub(super) fn stdin_line(&mut self, line: Line<'_>, now: Instant) {
        let text = match line {
            Line::TooLong(n) => {
                self.stats.lines_dropped += 1;
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
        if !self.has_members() {
            self.stats.lines_dropped += 1;
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

    /// Whether there is anyone to send to: a peer or a text host.
    fn has_members(&self) -> bool {
        !self.peers.is_empty() || !self.texts.hosts.is_empty()
    }

    /// Sends `payload` to every peer of the active view with room for it
    /// (and to text hosts), and tells exactly whom it went to.
    fn broadcast(&mut self, payload: &[u8], now: Instant, cargo: Cargo) {
        let mut to = std::mem::take(&mut self.targets);
        to.clear();
        self.gossip_own(payload, cargo, &mut to, now);
        // Text hosts are listed with the peers, by address.
        if !self.texts.hosts.is_empty() {
            self.text_broadcast(payload, &mut to, now);
            to.sort_unstable();
        }
        let at = self.elapsed(now);
        self.out.sending(at, payload, to.iter().copied());
        self.targets = to;
    }

    /// Queues the encoded `bytes` on `id` if its queue has room.
    pub(super) fn enqueue(
        &mut self,
        id: ConnId,
        bytes: Range<usize>,
        cargo: Cargo,
        now: Instant,
    ) -> bool {
        let Some(c) = self.conns.get_mut(id) else {
            return false;
        };
        let Admit::Queued { newly_congested } =
            self.outbox.admit(&mut c.queue, bytes.len(), cargo, now)
        else {
            return false;
        };
        c.live.sent(now);
        if c.key.is_none() || !self.batch(id, bytes.clone()) {
            self.out.send(id, bytes);
        }
        if newly_congested {
            self.arm(id, now);
        }
        true
    }

    /// An overlay frame (peer list, shuffle, join walk, IHAVE, GRAFT,
    /// PRUNE): refused, like a message, by a congested queue, so a peer
    /// that asks without reading cannot pile up our answers. Each of them
    /// may be lost: the overlay and the tree repair what one would do.
    pub(super) fn send_overlay(&mut self, id: ConnId, f: &Frame<'_>, now: Instant) {
        if self.conns.contains(id) {
            let bytes = self.out.encode(|tx| f.encode(tx));
            self.enqueue(id, bytes, Cargo::Message, now);
        }
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
        Frame::Text(TextFrame::Text { .. }) => "text",
        Frame::Text(TextFrame::TextHost { .. }) => "text host",
        Frame::Overlay(o) => overlay_name(o),
    }
}

fn overlay_name(o: &Overlay<'_>) -> &'static str {
    match o {
        Overlay::Gossip { .. } => "gossip",
        Overlay::IHave(_) => "ihave",
        Overlay::Graft(_) => "graft",
        Overlay::Prune => "prune",
        Overlay::ForwardJoin { .. } => "forward join",
        Overlay::Shuffle(_) => "shuffle",
        Overlay::ShuffleReply(_) => "shuffle reply",
    }
}
