//! How `Node` sends its own messages to text hosts: queued with every
//! broadcast (if short enough), one connection per message and at most one
//! per host at a time, each a [`crate::text::Delivery`] fed with what
//! happens to its connection; a host that fails is dropped by the rules of
//! [`crate::text::TextHosts`], and said so.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use super::Node;
use super::conn::Conn;
use super::conns::ConnId;
use super::event::DiagKind;
use super::outbox::Cargo;
use super::reason::Reason;
use super::texts::{DeliveryInput, DeliveryNext};
use crate::text::{self, DeliveryError, Failure};

impl Node {
    /// A broadcast of `payload`: it is queued for every text host too, and
    /// the hosts it was queued for are added to `to` (the `Sending` line).
    /// A text too long for a text host goes to none, and stderr says so.
    pub(super) fn text_broadcast(
        &mut self,
        payload: &[u8],
        to: &mut Vec<SocketAddr>,
        now: Instant,
    ) {
        let n = self.texts.hosts.len();
        if n == 0 {
            return;
        }
        let port = self.cfg.listen.port();
        if !text::fits(port, payload.len()) {
            self.stats.messages_dropped += n as u64;
            let e = DeliveryError {
                len: text::message_len(port, payload.len()),
            };
            self.diag(
                now,
                DiagKind::TextHost,
                format_args!(
                    "message of {} bytes not sent to text hosts ({n} known): {e}",
                    payload.len()
                ),
            );
            return;
        }
        let text: Rc<[u8]> = Rc::from(payload);
        let queued = self.texts.hosts.queue_all(&text);
        self.stats.messages_sent += queued.len() as u64;
        self.stats.messages_dropped += (n - queued.len()) as u64;
        to.extend(queued);
        self.start_deliveries(now);
    }

    /// Starts every delivery that can start: a host with a message waiting
    /// and none in flight, while there is room for a connection.
    pub(super) fn start_deliveries(&mut self, now: Instant) {
        let port = self.cfg.listen.port();
        // A departure still sends what it queued for text hosts.
        let go = !self.leaving || self.departure.waits_for_texts();
        while go && self.conns.len() < self.cfg.conn_cap() {
            let Some((addr, msg)) = self.texts.hosts.next_delivery() else {
                return;
            };
            let id = self.conns.insert(Conn::delivery(addr, now));
            if !self.texts.start(id, addr, port, &msg, now) {
                // Checked when queued: cannot happen. Count it a failure.
                self.conns.remove(id);
                self.texts.hosts.failed(addr);
                continue;
            }
            self.out.dial(id, addr);
            self.arm(id, now);
        }
    }

    /// The connect of a delivery finished: its message goes out. False if
    /// `conn` is not a delivery.
    pub(super) fn text_connected(&mut self, conn: ConnId, now: Instant) -> bool {
        let Some(next) = self
            .texts
            .step(conn, DeliveryInput::Connected, &mut self.out)
        else {
            return false;
        };
        self.delivery_next(conn, next, now);
        true
    }

    /// Bytes of a text host's reply. False if the connection is now closed.
    pub(super) fn on_reply(&mut self, conn: ConnId, bytes: &[u8], now: Instant) -> bool {
        match self
            .texts
            .step(conn, DeliveryInput::Read(bytes), &mut self.out)
        {
            Some(next) => self.delivery_next(conn, next, now),
            None => {
                self.close(conn, now, Reason::TextDone);
                false
            }
        }
    }

    pub(super) fn delivery_timeout(&mut self, conn: ConnId, now: Instant) {
        let input = DeliveryInput::Timeout(now);
        if let Some(next) = self.texts.step(conn, input, &mut self.out) {
            self.delivery_next(conn, next, now);
        }
    }

    /// A delivery's connection is gone (it was taken out of the table):
    /// unless it was over, the delivery failed.
    pub(super) fn delivery_lost(
        &mut self,
        conn: ConnId,
        connecting: bool,
        why: Reason,
        now: Instant,
    ) {
        if self.leaving && !self.departure.waits_for_texts() {
            self.texts.take(conn);
            return;
        }
        let input = match why {
            Reason::Io(e) if connecting => DeliveryInput::ConnectFailed(e.kind()),
            _ => DeliveryInput::Closed,
        };
        // Closing ends every delivery not yet over (with a failure).
        if let Some(DeliveryNext::Done(addr, r)) = self.texts.step(conn, input, &mut self.out) {
            self.delivery_done(addr, r, now);
        }
        self.texts.take(conn);
    }

    /// Acts on a delivery's next step. False if the connection is closed.
    fn delivery_next(&mut self, conn: ConnId, next: DeliveryNext, now: Instant) -> bool {
        match next {
            DeliveryNext::Wait => {
                self.arm(conn, now);
                true
            }
            DeliveryNext::Write(bytes) => {
                self.enqueue(conn, bytes, Cargo::Control, now);
                self.arm(conn, now);
                true
            }
            DeliveryNext::Done(addr, r) => {
                self.close(conn, now, Reason::TextDone);
                self.delivery_done(addr, r, now);
                false
            }
        }
    }

    /// A delivery to `addr` is over: the host is proven (and announced if
    /// this proved it), or it failed once more, maybe for the last time.
    fn delivery_done(&mut self, addr: SocketAddr, r: Result<(), Failure>, now: Instant) {
        let ok = r.is_ok();
        match r {
            Ok(()) => {
                if self.texts.hosts.delivered(addr, now) {
                    self.announce_text_host(addr, None, now);
                }
            }
            Err(f) => match self.texts.hosts.failed(addr) {
                Some((why, waiting)) => {
                    self.texts.room_made();
                    self.stats.messages_dropped += waiting as u64;
                    self.diag(
                        now,
                        DiagKind::TextHost,
                        format_args!("dropped the text host \"{addr}\": {why} (last: {f})"),
                    );
                }
                None => self.diag(
                    now,
                    DiagKind::TextDelivery,
                    format_args!("a message to the text host \"{addr}\" failed: {f}"),
                ),
            },
        }
        // A departure waits for each text host's last message.
        if self.departure.waits_for_text(addr) && (!ok || !self.texts.hosts.busy().contains(&addr))
        {
            self.departure.text_done(addr, ok);
        }
        self.start_deliveries(now);
    }
}
