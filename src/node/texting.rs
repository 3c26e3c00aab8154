//! How `Node` speaks with text hosts, the older program's plain-text
//! protocol (`docs/PROTOCOL.md`, "Text hosts"): a connection's input
//! routed by what it turned out to be, a text host's message (reply,
//! print once, pass on, learn the host), TEXT and TEXT_HOST frames from
//! peers, a dialed peer that is a text host, and the timers of text
//! connections. Deliveries of our own messages are in `delivering.rs`; the
//! state is in `texts.rs`, the rules in `crate::text`.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::conn::{State, TextRole};
use super::conns::ConnId;
use super::event::{DiagKind, Secs};
use super::inbound::Input;
use super::outbox::Cargo;
use super::reason::Reason;
use super::{Node, Timer};
use crate::text::{self, End, Learn, Learned, TextEvent};
use crate::wire::Frame;
use crate::wire::text::TextFrame;

impl Node {
    /// A piece of `conn`'s input. False if the connection is now closed.
    pub(super) fn on_input(&mut self, conn: ConnId, input: Input<'_>, now: Instant) -> bool {
        match input {
            Input::Frame(f) => self.handle_frame(conn, f, now),
            // An accepted connection's hello waits for the verdict on
            // theirs (`on_hello`).
            Input::Rumor => true,
            Input::TextBegun(at) => {
                // Its input is out of the table while it is read: the
                // deadline comes with the news.
                if let Some(c) = self.conns.get_mut(conn) {
                    c.mark_text_message();
                    if c.live.arm(at.max(now)) {
                        self.wheel.insert(at.max(now), Timer::Conn(conn));
                    }
                }
                true
            }
            Input::Text(ev) => {
                self.on_text_event(conn, ev, true, now);
                false
            }
            Input::TextHost => {
                self.on_dialed_text_host(conn, now);
                false
            }
            Input::Reply(bytes) => self.on_reply(conn, bytes, now),
        }
    }

    /// A text message on `conn` is over. `open`: the connection is still
    /// in the table (a reply can go out, and it is closed here); else its
    /// sender closed it and it is gone already.
    fn on_text_event(&mut self, conn: ConnId, ev: TextEvent, open: bool, now: Instant) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        c.mark_text_message();
        let remote = c.remote();
        if let TextEvent::Message { end, .. } = ev
            && end != End::Closed
        {
            let bytes = self.out.encode(|tx| tx.extend_from_slice(text::REPLY));
            self.enqueue(conn, bytes, Cargo::Control, now);
        }
        self.text_over(remote, ev, now);
        if open {
            self.close(conn, now, Reason::TextDone);
        }
    }

    /// What a text message from `remote` leads to once it is over (its
    /// reply is sent already, if it gets one).
    fn text_over(&mut self, remote: SocketAddr, ev: TextEvent, now: Instant) {
        match ev {
            TextEvent::Message { port, text, .. } => {
                let host = text::canonical(SocketAddr::new(remote.ip(), port));
                self.diag(
                    now,
                    DiagKind::TextDelivery,
                    format_args!(
                        "text message of {} bytes from {remote} as \"{host}\"",
                        text.len()
                    ),
                );
                self.text_arrived(host, &text, now);
                self.learn_text_host(host, Learned::Message, now);
            }
            TextEvent::Invalid { reason, .. } => self.diag(
                now,
                DiagKind::PeerFault,
                format_args!("closed connection with {remote}: invalid text message: {reason}"),
            ),
            TextEvent::TimedOut { bytes } => {
                let secs = Secs(self.cfg.handshake_timeout);
                self.diag(
                    now,
                    DiagKind::PeerFault,
                    format_args!(
                        "closed connection with {remote}: no whole text message in {secs} ({bytes} bytes)"
                    ),
                );
            }
        }
    }

    /// A text host's text, straight from it or in a peer's TEXT frame:
    /// printed once per node (the dedup window), and on that first sighting
    /// passed on to every peer that takes TEXT frames (with partial views
    /// it floods the overlay, once per node).
    fn text_arrived(&mut self, host: SocketAddr, text: &[u8], now: Instant) {
        if !self.texts.dedup.first_sighting(host, text, now) {
            return;
        }
        self.stats.messages_received += 1;
        let at = self.elapsed(now);
        self.out.received(at, text, host, 0);
        let f = Frame::Text(TextFrame::Text {
            ttl: 0,
            origin: host,
            text,
        });
        self.send_text_peers(&f, now);
    }

    /// Queues `f` for every established peer whose hello set TEXT.
    fn send_text_peers(&mut self, f: &Frame<'_>, now: Instant) {
        let bytes = self.out.encode(|tx| f.encode(tx));
        for i in 0..self.peers.len() {
            let c = self.peers.conns()[i];
            if self.conns.get(c).is_some_and(|c| c.text_frames()) {
                self.enqueue(c, bytes.clone(), Cargo::Message, now);
            }
        }
    }

    /// Whether `addr` is this node or a rumor node it knows: never a text
    /// host (so rumor nodes can never take each other for text hosts).
    fn is_rumor_addr(&self, addr: SocketAddr) -> bool {
        self.book.is_self(addr)
            || self.peers.addrs().contains(&addr)
            || self.book.get(addr).is_some_and(|k| k.node_id().is_some())
    }

    /// Remembers the text host `addr`, learned `how`; announces it when it
    /// is proven by this.
    pub(super) fn learn_text_host(&mut self, addr: SocketAddr, how: Learned, now: Instant) {
        let addr = text::canonical(addr);
        if self.is_rumor_addr(addr) || !usable(addr) {
            return;
        }
        let announce = match self.texts.hosts.learn(addr, how, now) {
            Learn::Added { proven } => proven,
            Learn::Replaced { proven, evicted } => {
                self.diag(
                    now,
                    DiagKind::TextDelivery,
                    format_args!("forgot the unproven text host \"{evicted}\" for \"{addr}\""),
                );
                proven
            }
            Learn::Known { now_proven } => now_proven,
            Learn::Full => {
                if self.texts.note_full() {
                    let cap = self.cfg.max_text_hosts;
                    self.diag(
                        now,
                        DiagKind::TextHost,
                        format_args!(
                            "not remembering the text host \"{addr}\": {cap} text hosts are known and all answer"
                        ),
                    );
                }
                false
            }
        };
        // A newly proven host is announced to every peer, whoever told us:
        // the announcement floods the overlay once (a known host stops it).
        if announce {
            self.announce_text_host(addr, now);
        }
        self.arm_text_expiry();
    }

    /// Tells every TEXT peer about the proven text host `addr`.
    pub(super) fn announce_text_host(&mut self, addr: SocketAddr, now: Instant) {
        let f = Frame::Text(TextFrame::TextHost { ttl: 0, addr });
        self.send_text_peers(&f, now);
    }

    /// A new peer listening at `listen`: never a text host too; if it
    /// takes TEXT frames, one TEXT_HOST frame per proven text host.
    pub(super) fn text_peer_joined(&mut self, id: ConnId, listen: SocketAddr, now: Instant) {
        if self.texts.hosts.remove(listen).is_some() {
            self.texts.room_made();
        }
        if !self.conns.get(id).is_some_and(|c| c.text_frames()) {
            return;
        }
        let proven: Vec<SocketAddr> = self.texts.hosts.proven().collect();
        for addr in proven {
            let f = Frame::Text(TextFrame::TextHost { ttl: 0, addr });
            self.send_frame(id, &f, now);
        }
    }

    /// A TEXT or TEXT_HOST frame from an established peer.
    pub(super) fn on_text_frame(&mut self, f: TextFrame<'_>, now: Instant) {
        match f {
            TextFrame::Text { origin, text, .. } => {
                self.text_arrived(text::canonical(origin), text, now);
            }
            TextFrame::TextHost { addr, .. } => {
                self.learn_text_host(addr, Learned::Announced, now);
            }
        }
    }

    /// The peer we dialed on `conn` answered our hello with `Message
    /// received`: it is a text host from now on, never a rumor peer.
    fn on_dialed_text_host(&mut self, conn: ConnId, now: Instant) {
        let Some(addr) = self.conns.get(conn).map(|c| c.remote()) else {
            return;
        };
        self.diag(
            now,
            DiagKind::TextHost,
            format_args!(
                "\"{addr}\" is a text host (it answered our hello with \"Message received\"); sending it text messages from now on"
            ),
        );
        self.close(conn, now, Reason::TextHost);
        self.book.remove(addr);
        // Joining through nothing but text hosts: there is no rumor
        // network to join.
        if self.members.awaiting_welcome() && self.peers.is_empty() && !self.book.has_bootstrap() {
            self.members.abandon();
            self.maybe_depart(now);
        }
        self.learn_text_host(addr, Learned::Dialed, now);
    }

    /// The next deadline of a text connection; `None` for a rumor one.
    /// `Some(None)`: a text connection with nothing left to time.
    pub(super) fn text_deadline(&self, id: ConnId) -> Option<Option<Instant>> {
        let c = self.conns.get(id)?;
        Some(match c.text_role()? {
            TextRole::Message => c.inbound.text_deadline(),
            TextRole::Delivery => self.texts.deadline(id),
        })
    }

    /// A text connection's timer fired (it was checked to be one).
    pub(super) fn on_text_timer(&mut self, id: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        match c.text_role() {
            Some(TextRole::Message) => match c.inbound.text_timeout(now) {
                Some(ev) => self.on_text_event(id, ev, true, now),
                None => self.arm(id, now),
            },
            Some(TextRole::Delivery) => self.delivery_timeout(id, now),
            None => {}
        }
    }

    /// A text connection is gone (closed by us or its end): its message or
    /// delivery ends with it. Returns true (it was known).
    pub(super) fn drop_text_conn(
        &mut self,
        id: ConnId,
        role: TextRole,
        why: Reason,
        now: Instant,
    ) -> bool {
        let Some(mut c) = self.conns.remove(id) else {
            return false;
        };
        self.outbox.remove(&c.queue);
        match role {
            // Ended by its sender's close (no reply: the socket is gone);
            // one we closed (evicted, shutting down) is dropped unread.
            TextRole::Message if matches!(why, Reason::Eof | Reason::Io(_)) => {
                if let Some(ev) = c.inbound.text_closed() {
                    self.text_over(c.remote(), ev, now);
                }
            }
            TextRole::Message => {}
            TextRole::Delivery => {
                let connecting = c.state() == State::Connecting;
                self.delivery_lost(id, connecting, why, now);
            }
        }
        true
    }

    /// Sets the text hosts' age-limit timer for the next host to expire.
    pub(super) fn arm_text_expiry(&mut self) {
        if let Some(at) = self.texts.hosts.next_expiry()
            && self.texts.arm_expiry(at)
        {
            self.wheel.insert(at, Timer::TextHosts);
        }
    }

    pub(super) fn on_text_expiry(&mut self, now: Instant) {
        if !self.texts.expiry_fired(now) {
            return;
        }
        for (addr, why) in self.texts.hosts.expire(now) {
            self.texts.room_made();
            self.diag(
                now,
                DiagKind::TextHost,
                format_args!("dropped the text host \"{addr}\": {why}"),
            );
        }
        self.arm_text_expiry();
    }
}

/// Whether a text host's address can be dialed at all (as peer list
/// entries are checked).
fn usable(addr: SocketAddr) -> bool {
    let ip = addr.ip().to_canonical();
    !(addr.port() == 0
        || ip.is_unspecified()
        || ip.is_multicast()
        || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()))
}
