//! A connection under the network key: its Noise handshake, then its
//! session, and how its frames become records.
//!
//! With `Config::key` set, every connection first runs the record layer's
//! handshake ([`crate::record`]); nothing it sends is a frame, printed or
//! relayed until the handshake is done. Then our hello goes out sealed and
//! every later byte read is opened here before [`super::inbound`] cuts it
//! into frames.
//!
//! Sealing is per write batch: the frames queued for a connection during one
//! input are gathered in its `batch` and sealed together when the driver
//! next takes outputs ([`super::Node::poll_output`]), or before the
//! connection's `Close`. The per-peer queue counts stay in plaintext bytes;
//! the driver reports ciphertext written, and [`KeyedConn::written`] credits
//! plaintext only once the ciphertext behind it is surely out.
//!
//! Entropy comes from the driver ([`super::Node::give_entropy`]): the shell
//! hands in 32 bytes from the OS before each accept or connect; the
//! simulator and the fuzz driver hand in seeded bytes. The core never draws
//! randomness for keys itself.

use std::fmt;
use std::time::Instant;

use super::Node;
use super::conns::ConnId;
use super::event::DiagKind;
use super::handshake::Direction;
use super::inbound::Inbound;
use super::outbox::Cargo;
use super::reason::Reason;
use crate::keyring::KeyRing;
use crate::record::{Handshake, HandshakeError, Session, Step};

mod rekey;

enum Wire {
    Handshake(Box<Handshake>),
    Session(Box<Session>),
}

/// One keyed connection's record state.
pub struct KeyedConn {
    wire: Wire,
    /// Frames queued since the last seal (plaintext).
    batch: Vec<u8>,
    /// On the node's list of connections with a batch to seal.
    listed: bool,
    /// Bytes handed to the driver and not yet reported written: ciphertext
    /// (with raw handshake bytes), and the plaintext they carry.
    cipher_out: usize,
    plain_out: usize,
    /// Since when its session's key is no longer in the ring (see
    /// [`rekey`]).
    stale_since: Option<Instant>,
}

impl fmt::Debug for KeyedConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.wire {
            Wire::Handshake(_) => "handshake",
            Wire::Session(_) => "session",
        };
        f.debug_struct("KeyedConn")
            .field("phase", &phase)
            .field("batch", &self.batch.len())
            .finish()
    }
}

impl KeyedConn {
    fn new(hs: Handshake) -> Self {
        KeyedConn {
            wire: Wire::Handshake(Box::new(hs)),
            batch: Vec::new(),
            listed: false,
            cipher_out: 0,
            plain_out: 0,
            stale_since: None,
        }
    }

    /// Whether the handshake is done.
    pub fn has_session(&self) -> bool {
        matches!(self.wire, Wire::Session(_))
    }

    /// Bytes handed out raw (handshake messages): ciphertext and plaintext
    /// alike.
    fn sent_raw(&mut self, n: usize) {
        self.cipher_out += n;
        self.plain_out += n;
    }

    /// The driver wrote `n` bytes: the plaintext now surely written. A
    /// record's remaining ciphertext is never shorter than its remaining
    /// plaintext, so what is left unsent is at most `cipher_out`.
    pub fn written(&mut self, n: usize) -> usize {
        self.cipher_out = self.cipher_out.saturating_sub(n);
        let left = self.plain_out.min(self.cipher_out);
        let credit = self.plain_out - left;
        self.plain_out = left;
        credit
    }

    /// The key of the ring this session was made with, if still in `ring`.
    fn key_in(&self, ring: &KeyRing) -> Option<usize> {
        match &self.wire {
            Wire::Session(s) => s.key_in(ring),
            Wire::Handshake(_) => Some(0),
        }
    }
}

impl Node {
    /// 32 bytes of entropy for the next keyed connection's handshake. The
    /// driver gives them before each accept or connect when
    /// [`Node::needs_entropy`]; from the OS in the real node.
    pub fn give_entropy(&mut self, bytes: [u8; 32]) {
        self.entropy = Some(bytes);
    }

    /// Whether the node is keyed and has no entropy for the next handshake.
    pub fn needs_entropy(&self) -> bool {
        self.cfg.key.is_some() && self.entropy.is_none()
    }

    /// Whether the node runs with a network key.
    pub fn keyed(&self) -> bool {
        self.cfg.key.is_some()
    }

    /// With a key, a connection starts with the record handshake instead
    /// of the hello. True if it did (the hello waits for the session).
    pub(super) fn start_keyed(&mut self, id: ConnId, now: Instant) -> bool {
        let Some(ring) = self.cfg.key.as_ref() else {
            return false;
        };
        let Some(c) = self.conns.get(id) else {
            return true;
        };
        if c.key.is_some() {
            return false;
        }
        let Some(entropy) = self.entropy.take() else {
            self.close(id, now, Reason::NoEntropy);
            return true;
        };
        let (hs, first) = match c.dir() {
            Direction::Outbound => Handshake::initiator(ring, entropy),
            Direction::Inbound => Handshake::responder(ring, entropy),
        };
        if let Some(c) = self.conns.get_mut(id) {
            c.hello_sent(now);
            c.key = Some(Box::new(KeyedConn::new(hs)));
        }
        self.send_raw(id, &first, now);
        true
    }

    /// Handshake bytes, sent as they are.
    fn send_raw(&mut self, id: ConnId, bytes: &[u8], now: Instant) {
        if bytes.is_empty() {
            return;
        }
        let range = self.out.encode(|tx| tx.extend_from_slice(bytes));
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let Some(k) = c.key.as_mut() else {
            return;
        };
        k.sent_raw(bytes.len());
        self.outbox
            .admit(&mut c.queue, range.len(), Cargo::Control, now);
        c.live.sent(now);
        self.out.send(id, range);
    }

    /// Takes frames queued for a keyed connection into its batch. False if
    /// the connection is not keyed (send them as they are). Before its
    /// session a keyed connection sends no frame at all (a goodbye at
    /// shutdown, say): it is dropped and its count released.
    pub(super) fn batch(&mut self, id: ConnId, bytes: std::ops::Range<usize>) -> bool {
        let Some(c) = self.conns.get_mut(id) else {
            return false;
        };
        let Some(k) = c.key.as_mut() else {
            return false;
        };
        if !k.has_session() {
            self.outbox.written(&mut c.queue, bytes.len());
            return true;
        }
        k.batch.extend_from_slice(self.out.bytes_of(bytes));
        if !k.listed {
            k.listed = true;
            self.sealing.push(id);
        }
        true
    }

    /// Seals every pending batch into one record run per connection.
    pub(super) fn seal_all(&mut self) {
        let ids = std::mem::take(&mut self.sealing);
        for &id in &ids {
            self.seal(id);
        }
        self.sealing = ids;
        self.sealing.clear();
    }

    /// Seals `id`'s batch, if any, as a `Send` output.
    pub(super) fn seal(&mut self, id: ConnId) {
        let Some(k) = self.conns.get_mut(id).and_then(|c| c.key.as_mut()) else {
            return;
        };
        k.listed = false;
        if k.batch.is_empty() {
            return;
        }
        let Wire::Session(s) = &mut k.wire else {
            return;
        };
        let batch = std::mem::take(&mut k.batch);
        let mut sealed = Ok(());
        let range = self.out.encode(|tx| sealed = s.seal(&batch, tx));
        k.plain_out += batch.len();
        k.cipher_out += range.len();
        k.batch = batch;
        k.batch.clear();
        // Sealing fails only when 2^64 records are used up; the connection
        // is then useless and its timers close it.
        if sealed.is_ok() {
            self.out.send(id, range);
        }
    }

    /// Bytes read on a keyed connection: the handshake's, then records.
    /// False if the connection is now closed.
    pub(super) fn read_keyed(&mut self, id: ConnId, bytes: &[u8], now: Instant) -> bool {
        let Some(c) = self.conns.get_mut(id) else {
            return false;
        };
        let Some(k) = c.key.as_ref() else {
            return self.read_frames(id, bytes, now);
        };
        if k.stale_since.is_some() && self.stale_expired(id, now) {
            return false;
        }
        let Some(k) = self.conns.get_mut(id).and_then(|c| c.key.as_mut()) else {
            return false;
        };
        let step = match &mut k.wire {
            Wire::Session(s) => {
                let mut plain = std::mem::take(&mut self.plain);
                plain.clear();
                let r = s.open(bytes, &mut plain);
                let open = match r {
                    Ok(()) => self.read_frames(id, &plain, now),
                    Err(e) => {
                        self.close(id, now, Reason::Record(e));
                        false
                    }
                };
                self.plain = plain;
                return open;
            }
            Wire::Handshake(hs) => match hs.read(bytes) {
                Ok(step) => step,
                Err(e) => {
                    let farewell = hs.farewell();
                    self.send_raw(id, farewell, now);
                    self.handshake_failed(id, e, now);
                    return false;
                }
            },
        };
        let Step::Done {
            session,
            reply,
            leftover,
        } = step
        else {
            return true;
        };
        self.send_raw(id, &reply, now);
        let ring = self.cfg.key.as_ref().expect("keyed");
        if session.key_in(ring).is_none() {
            // The ring changed during the handshake.
            self.close(id, now, Reason::Rekeyed);
            return false;
        }
        if let Some(c) = self.conns.get_mut(id) {
            // Records carry frames only: no text with a key.
            c.inbound = Inbound::frames();
            if let Some(k) = c.key.as_mut() {
                k.wire = Wire::Session(session);
            }
        }
        // An accepted connection's hello waits for the verdict on theirs.
        if self.conns.get(id).is_some_and(|c| c.is_outbound()) {
            self.send_hello(id, now);
        }
        if leftover.is_empty() {
            return self.conns.contains(id);
        }
        self.read_keyed(id, &leftover, now)
    }

    fn handshake_failed(&mut self, id: ConnId, e: HandshakeError, now: Instant) {
        if e == HandshakeError::TextHost {
            if !self.text_host_noted {
                self.text_host_noted = true;
                let remote = self.conns.get(id).map(|c| c.remote());
                if let Some(remote) = remote {
                    self.diag(
                        now,
                        DiagKind::PeerFault,
                        format_args!(
                            "{remote} speaks the older text protocol, which is off with a network key (said once)"
                        ),
                    );
                }
            }
            self.close(id, now, Reason::TextOff);
            return;
        }
        self.close(id, now, Reason::Key(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::Key;
    use crate::record::RECORD_OVERHEAD;

    fn hs() -> Handshake {
        let ring = KeyRing::new(vec![Key([7; 32])]).unwrap();
        Handshake::initiator(&ring, [1; 32]).0
    }

    #[test]
    fn plaintext_is_credited_only_once_its_ciphertext_is_written() {
        let mut k = KeyedConn::new(hs());
        k.sent_raw(53);
        assert_eq!(k.written(50), 50);
        assert_eq!(k.written(3), 3);
        // A sealed batch of 100 plaintext bytes: 118 on the wire.
        k.plain_out += 100;
        k.cipher_out += 100 + RECORD_OVERHEAD;
        assert_eq!(k.written(10), 0, "the header and first bytes");
        assert_eq!(k.written(58), 50);
        assert_eq!(k.written(50), 50);
        assert_eq!((k.plain_out, k.cipher_out), (0, 0));
    }
}
