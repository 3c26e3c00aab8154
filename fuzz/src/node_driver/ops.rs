//! The script's ops: each reads its arguments from the cursor and hands
//! the node one input (see `mod.rs` for the format). Version 2's frames
//! are in [`Driver::overlay_step`].

use std::io;
use std::time::Duration;

use rumor::node::Reason;
use rumor::text::REPLY;
use rumor::wire::overlay::{MsgId, Overlay};
use rumor::wire::text::TextFrame;
use rumor::wire::{self, DecodeError, Frame, Hello, PeerEntry};

use super::ledger::{TAG, tagged};
use super::{Cursor, Driver, FakeConn, PORT, goodbye, op, remote, t0};

impl Driver {
    pub(super) fn step(&mut self, c: &mut Cursor<'_>) {
        let now = self.now;
        let own_id = self.node.id();
        let code = c.u8() % op::COUNT;
        if code != op::TIME {
            self.last_input = now;
        }
        if self.trace {
            let t = now.saturating_duration_since(t0());
            let next: Vec<u8> = c.data.iter().take(8).copied().collect();
            eprintln!("[{t:?}] op {code} {next:02x?}");
        }
        match code {
            op::ACCEPT => {
                let remote = remote(c.u8());
                if let Some(id) = self.node.handle_accepted(remote, now) {
                    assert!(!self.shut_down, "accepted after shutdown");
                    assert!(!self.conns.contains_key(&id), "{id:?} handed out twice");
                    self.conns.insert(id, FakeConn::new(true));
                    self.order.push(id);
                }
            }
            op::CONNECTED => {
                if let Some(id) = self.pick(c.u8(), Some(false)) {
                    self.node.handle_connected(id, now);
                    if let Some(fc) = self.conns.get_mut(&id) {
                        fc.open = true;
                    }
                }
            }
            op::CLOSED => {
                let (i, kind) = (c.u8(), c.u8());
                if let Some(id) = self.pick(i, None) {
                    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
                    let reset = io::Error::from(io::ErrorKind::ConnectionReset);
                    let why = match kind % 4 {
                        0 => Reason::Eof,
                        1 => Reason::io(&refused),
                        2 => Reason::io(&reset),
                        _ => Reason::Protocol(DecodeError::UnknownType(kind)),
                    };
                    self.node.handle_closed(id, why, now);
                    self.forget(id);
                }
            }
            op::HELLO => {
                let i = c.u8();
                let node_id = c.node_id(own_id);
                // Mostly the right version; sometimes any, 0 included.
                let version = match c.u8() {
                    v if v >= 0xf0 => v & 0x0f,
                    v @ 0xe0.. => [1, 3][usize::from(v & 1)],
                    _ => wire::VERSION,
                };
                let flags = c.u8();
                let listen_port = match c.u8() {
                    0 => PORT,
                    1 => 0,
                    b if b < 0xf0 => 7000 + u16::from(b % 4),
                    _ => c.u16(),
                };
                // The address follows when the flag says so.
                let advertised = (flags & wire::FLAG_ADVERTISED != 0).then(|| c.addr());
                let cut = c.u8();
                let f = Frame::Hello(Hello {
                    version,
                    flags,
                    node_id,
                    listen_port,
                    advertised,
                });
                self.send_frame(i, &f, cut);
            }
            op::PEERS => {
                let i = c.u8();
                let entries = peer_list(c, own_id);
                let cut = c.u8();
                self.send_frame(i, &Frame::Peers(entries), cut);
            }
            op::MESSAGE => {
                let (i, ttl, n) = (c.u8(), c.u8(), c.u8());
                let id = u64::from(c.u16());
                let payload = untagged(c.bytes(usize::from(n)));
                let cut = c.u8();
                let f = Frame::Message {
                    id,
                    ttl,
                    payload: &payload,
                };
                self.send_frame(i, &f, cut);
            }
            op::KEEPALIVE => {
                let i = c.u8();
                self.send_frame(i, &Frame::Keepalive, 0);
            }
            op::GOODBYE => {
                let (i, code) = (c.u8(), c.u8());
                let f = Frame::Goodbye(goodbye(code));
                self.send_frame(i, &f, 0);
            }
            op::RAW => {
                let (i, n) = (c.u8(), c.u8());
                let bytes = c.bytes(usize::from(n)).to_vec();
                self.feed(i, &bytes, u8::MAX);
            }
            op::WRITTEN => {
                let (i, n) = (c.u8(), c.u8());
                if let Some(id) = self.pick(i, Some(true)) {
                    let fc = self.conns.get_mut(&id).expect("picked a live conn");
                    let n = match n {
                        0 => fc.queued,
                        n => fc.queued.min(usize::from(n) * 4),
                    };
                    fc.queued -= n;
                    self.node.handle_written(id, n);
                }
            }
            op::TIME => {
                let next = self.node.poll_timeout();
                let step = match c.u8() % 8 {
                    0 => next.map_or(Duration::ZERO, |t| t.saturating_duration_since(now)),
                    1 => Duration::from_millis(1),
                    2 => Duration::from_millis(250),
                    3 => Duration::from_secs(1),
                    4 => Duration::from_secs(3),
                    5 => Duration::from_secs(10),
                    6 => Duration::from_millis(u64::from(c.u16())),
                    _ => Duration::ZERO,
                };
                self.now += step;
                let now = self.now;
                if self.node.poll_timeout().is_some_and(|t| t <= now) {
                    self.node.handle_timeout(now);
                    if let Some(t) = self.node.poll_timeout() {
                        assert!(t > now, "a timer is still due after handle_timeout");
                    }
                }
            }
            op::STDIN => {
                let n = c.u8();
                let bytes = c.bytes(usize::from(n)).to_vec();
                self.node.handle_stdin(&bytes, now);
            }
            op::STDIN_CLOSED => self.node.handle_stdin_closed(now),
            op::TEXT => {
                let (i, port, n) = (c.u8(), c.u8(), c.u8());
                let port = match port % 8 {
                    0 => PORT.to_string(),
                    1 => "0".into(),
                    2 => "7001".into(),
                    3 => "7002".into(),
                    4 => "65536".into(),
                    5 => String::new(),
                    6 => "1".into(),
                    _ => c.u16().to_string(),
                };
                let mut bytes = format!("{port}:").into_bytes();
                bytes.extend_from_slice(&untagged(c.bytes(usize::from(n))));
                let cut = c.u8();
                self.feed(i, &bytes, cut);
            }
            op::REPLY => {
                let (i, n, cut) = (c.u8(), c.u8(), c.u8());
                let n = usize::from(n).min(REPLY.len());
                self.feed(i, &REPLY[..n], cut);
            }
            op::TEXT_FRAME => {
                let (i, kind) = (c.u8(), c.u8());
                let addr = c.addr();
                let n = c.u8();
                let text = untagged(c.bytes(usize::from(n)));
                let cut = c.u8();
                let f = if kind & 1 == 0 {
                    TextFrame::Text {
                        ttl: kind >> 1,
                        origin: addr,
                        text: &text,
                    }
                } else {
                    TextFrame::TextHost {
                        ttl: kind >> 1,
                        addr,
                    }
                };
                self.send_frame(i, &Frame::Text(f), cut);
            }
            op::SHUTDOWN => {
                self.node.handle_shutdown(now);
                self.shut_down = true;
            }
            _ => self.overlay_step(code, c),
        }
    }

    /// GOSSIP, IHAVE, GRAFT, PRUNE, FORWARD_JOIN, SHUFFLE and
    /// SHUFFLE_REPLY from a raw peer, with fuzzer-chosen fields.
    fn overlay_step(&mut self, code: u8, c: &mut Cursor<'_>) {
        let own_id = self.node.id();
        match code {
            op::GOSSIP => {
                let (i, hops) = (c.u8(), c.u8());
                let id = MsgId {
                    origin: c.node_id(own_id),
                    seq: seq(c),
                };
                let origin = c.addr();
                let n = c.u8();
                let payload = tagged(id, c.bytes(usize::from(n)));
                let cut = c.u8();
                let f = Frame::Overlay(Overlay::Gossip {
                    id,
                    hops,
                    origin,
                    payload: &payload,
                });
                if self.pick(i, Some(true)).is_some() {
                    self.summary.gossip_offered += 1;
                    self.ledger.offered(id, origin, hops, &payload);
                }
                self.send_frame(i, &f, cut);
            }
            op::IHAVE => {
                let (i, n) = (c.u8(), c.u8());
                // Mostly short; 0xff: the most a frame may hold.
                let n = if n == 0xff { 64 } else { usize::from(n % 9) };
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = MsgId {
                        origin: c.node_id(own_id),
                        seq: seq(c),
                    };
                    entries.push((id, c.u8()));
                }
                let cut = c.u8();
                let mut bytes = Vec::new();
                wire::overlay::encode_ihave(&mut bytes, entries);
                self.feed(i, &bytes, cut);
            }
            op::GRAFT => {
                let i = c.u8();
                let id = MsgId {
                    origin: c.node_id(own_id),
                    seq: seq(c),
                };
                self.send_frame(i, &Frame::Overlay(Overlay::Graft(id)), 0);
            }
            op::PRUNE => {
                let i = c.u8();
                self.send_frame(i, &Frame::Overlay(Overlay::Prune), 0);
            }
            op::FORWARD_JOIN => {
                let (i, ttl) = (c.u8(), c.u8());
                let node_id = c.node_id(own_id);
                let addr = c.addr();
                let cut = c.u8();
                let f = Overlay::ForwardJoin { ttl, node_id, addr };
                self.send_frame(i, &Frame::Overlay(f), cut);
            }
            _ => {
                let (i, kind) = (c.u8(), c.u8());
                let entries = peer_list(c, own_id);
                let cut = c.u8();
                let f = match kind & 1 {
                    0 => Overlay::Shuffle(entries),
                    _ => Overlay::ShuffleReply(entries),
                };
                self.send_frame(i, &Frame::Overlay(f), cut);
            }
        }
    }
}

/// A peer list (PEERS, SHUFFLE, SHUFFLE_REPLY): a count, then node ids
/// and addresses. Mostly short lists; sometimes longer than any cap here.
fn peer_list(c: &mut Cursor<'_>, own_id: u64) -> Vec<PeerEntry> {
    let n = match c.u8() {
        n @ 0xf0.. => usize::from(n),
        n => usize::from(n % 8),
    };
    (0..n)
        .map(|_| PeerEntry {
            node_id: c.node_id(own_id),
            addr: c.addr(),
        })
        .collect()
}

/// A sequence number: small ones mostly (so orders and gaps happen), any
/// one sometimes.
fn seq(c: &mut Cursor<'_>) -> u32 {
    match c.u8() {
        b @ 0..=0xef => u32::from(b),
        0xff => u32::MAX,
        _ => c.u32(),
    }
}

/// Text that is not a GOSSIP payload: one that starts with the ledger's tag
/// has its first byte changed, so every printed line is told apart.
fn untagged(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    if v.starts_with(&TAG) {
        v[0] ^= 0xff;
    }
    v
}
