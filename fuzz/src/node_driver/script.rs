//! Writes scripts for the driver: `examples/seeds.rs` builds the node
//! seeds with these.

use super::op;
use rumor::wire;

/// Writes scripts for [`super::run`], for hand-made seeds.
#[derive(Clone, Debug, Default)]
pub struct Script {
    pub bytes: Vec<u8>,
}

/// The settings a script starts with.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub seed: u64,
    pub v6: bool,
    /// 1 to 4.
    pub max_peers: u8,
    /// 1 to 4.
    pub max_pending: u8,
    /// 1 to 8.
    pub max_known: u8,
    /// 1 to 8.
    pub max_list_take: u8,
    /// `8 << max_line_shift`, shift 0 to 7.
    pub max_line_shift: u8,
    /// `16 + 4 * max_unsent`.
    pub max_unsent: u8,
    /// 0: none, 1: 100 ms, 2: 1 s, 3: 5 s.
    pub period: u8,
    /// Pool indexes below [`super::GOOD`], at most 3.
    pub bootstrap: &'static [u8],
    /// Run with a network key.
    pub keyed: bool,
    /// 0: the default passive view; 1 to 3: that many.
    pub max_passive: u8,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            seed: 1,
            v6: false,
            max_peers: 4,
            max_pending: 4,
            max_known: 8,
            max_list_take: 8,
            max_line_shift: 5,
            max_unsent: 255,
            period: 0,
            bootstrap: &[],
            keyed: false,
            max_passive: 0,
        }
    }
}

impl Script {
    pub fn new(h: Header) -> Self {
        let mut s = Script::default();
        s.bytes.extend_from_slice(&h.seed.to_be_bytes());
        s.bytes
            .push(u8::from(h.v6) | u8::from(h.keyed) << 1 | (h.max_passive & 3) << 2);
        s.bytes
            .push((h.max_peers - 1) | (h.max_pending - 1) << 2 | (h.max_known - 1) << 4);
        s.bytes.push((h.max_list_take - 1) | h.max_line_shift << 3);
        s.bytes.push(h.max_unsent);
        s.bytes.push(h.period);
        s.bytes.push(h.bootstrap.len() as u8);
        s.bytes.extend_from_slice(h.bootstrap);
        s
    }
    fn op(&mut self, code: u8, args: &[u8]) -> &mut Self {
        self.bytes.push(code);
        self.bytes.extend_from_slice(args);
        self
    }
    /// An inbound connection from [`super::remote`]`(r)`.
    pub fn accept(&mut self, r: u8) -> &mut Self {
        self.op(op::ACCEPT, &[r])
    }
    /// The `i`th dial still connecting has connected.
    pub fn connected(&mut self, i: u8) -> &mut Self {
        self.op(op::CONNECTED, &[i])
    }
    /// The `i`th live conn closed; kind 0 EOF, 1 refused, 2 reset, 3 bad bytes.
    pub fn closed(&mut self, i: u8, kind: u8) -> &mut Self {
        self.op(op::CLOSED, &[i, kind])
    }
    /// A hello from node `id` (1 to 0xef; 0 is the node's own id) listening
    /// on port `7000 + port` (`port` 2 to 3).
    pub fn hello(&mut self, i: u8, id: u8, port: u8) -> &mut Self {
        self.op(op::HELLO, &[i, id, 0, 0, port, 0])
    }
    /// Like [`Script::hello`], with the TEXT flag: the peer takes TEXT
    /// and TEXT_HOST frames.
    pub fn hello_text(&mut self, i: u8, id: u8, port: u8) -> &mut Self {
        self.op(op::HELLO, &[i, id, 0, wire::text::FLAG_TEXT, port, 0])
    }
    /// A peer list of `(node id, pool index)` entries.
    pub fn peers(&mut self, i: u8, entries: &[(u8, u8)]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::PEERS, i, entries.len() as u8]);
        for &(id, a) in entries {
            self.bytes.extend_from_slice(&[id, a]);
        }
        self.bytes.push(3);
        self
    }
    pub fn message(&mut self, i: u8, payload: &[u8]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::MESSAGE, i, 0, payload.len() as u8, 0, 1]);
        self.bytes.extend_from_slice(payload);
        self.bytes.push(7);
        self
    }
    pub fn keepalive(&mut self, i: u8) -> &mut Self {
        self.op(op::KEEPALIVE, &[i])
    }
    pub fn goodbye(&mut self, i: u8, code: u8) -> &mut Self {
        self.op(op::GOODBYE, &[i, code])
    }
    pub fn raw(&mut self, i: u8, bytes: &[u8]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::RAW, i, bytes.len() as u8]);
        self.bytes.extend_from_slice(bytes);
        self
    }
    /// Conn `i` wrote everything queued.
    pub fn written(&mut self, i: u8) -> &mut Self {
        self.op(op::WRITTEN, &[i, 0])
    }
    /// Time moves on: 0 to the next deadline, 1 1 ms, 2 250 ms, 3 1 s,
    /// 4 3 s, 5 10 s.
    pub fn time(&mut self, kind: u8) -> &mut Self {
        self.op(op::TIME, &[kind])
    }
    pub fn stdin(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::STDIN, bytes.len() as u8]);
        self.bytes.extend_from_slice(bytes);
        self
    }
    pub fn stdin_closed(&mut self) -> &mut Self {
        self.op(op::STDIN_CLOSED, &[])
    }
    pub fn shutdown(&mut self) -> &mut Self {
        self.op(op::SHUTDOWN, &[])
    }
    /// A text message on conn `i`: port kind 0 the node's own port, 1 `0`,
    /// 2 7001, 3 7002, 4 `65536`, 5 none, 6 `1`.
    pub fn text(&mut self, i: u8, port: u8, text: &[u8]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::TEXT, i, port, text.len() as u8]);
        self.bytes.extend_from_slice(text);
        self.bytes.push(0);
        self
    }
    /// The first `n` bytes of a text host's reply on conn `i`.
    pub fn reply(&mut self, i: u8, n: u8) -> &mut Self {
        self.op(op::REPLY, &[i, n, 0])
    }
    /// A TEXT frame (with `Some(text)`) or a TEXT_HOST frame naming pool
    /// address `a`, on conn `i`.
    pub fn text_frame(&mut self, i: u8, a: u8, text: Option<&[u8]>) -> &mut Self {
        let t = text.unwrap_or_default();
        let kind = u8::from(text.is_none());
        self.bytes
            .extend_from_slice(&[op::TEXT_FRAME, i, kind, a, t.len() as u8]);
        self.bytes.extend_from_slice(t);
        self.bytes.push(0);
        self
    }

    /// A hello of protocol `version` with hello `flags` (JOIN, LOW, TEXT).
    pub fn hello_v(&mut self, i: u8, id: u8, port: u8, version: u8, flags: u8) -> &mut Self {
        // 0xf0 | v picks version v (0 to 15).
        self.op(op::HELLO, &[i, id, 0xf0 | version, flags, port, 0])
    }
    /// A GOSSIP of message (`origin`, `seq`) at `hops`, written by the
    /// node at pool address `addr`.
    pub fn gossip(
        &mut self,
        i: u8,
        origin: u8,
        seq: u8,
        hops: u8,
        addr: u8,
        text: &[u8],
    ) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::GOSSIP, i, hops, origin, seq, addr, text.len() as u8]);
        self.bytes.extend_from_slice(text);
        self.bytes.push(0);
        self
    }
    /// An IHAVE of `(origin, seq, hops)` entries.
    pub fn ihave(&mut self, i: u8, entries: &[(u8, u8, u8)]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::IHAVE, i, entries.len() as u8]);
        for &(o, s, h) in entries {
            self.bytes.extend_from_slice(&[o, s, h]);
        }
        self.bytes.push(0);
        self
    }
    pub fn graft(&mut self, i: u8, origin: u8, seq: u8) -> &mut Self {
        self.op(op::GRAFT, &[i, origin, seq])
    }
    pub fn prune(&mut self, i: u8) -> &mut Self {
        self.op(op::PRUNE, &[i])
    }
    /// A join walk of newcomer `id` at pool address `addr`.
    pub fn forward_join(&mut self, i: u8, ttl: u8, id: u8, addr: u8) -> &mut Self {
        self.op(op::FORWARD_JOIN, &[i, ttl, id, addr, 0])
    }
    /// A SHUFFLE (or, `reply`, a SHUFFLE_REPLY) of `(node id, pool index)`
    /// entries.
    pub fn shuffle(&mut self, i: u8, reply: bool, entries: &[(u8, u8)]) -> &mut Self {
        self.bytes
            .extend_from_slice(&[op::SHUFFLE, i, u8::from(reply), entries.len() as u8]);
        for &(id, a) in entries {
            self.bytes.extend_from_slice(&[id, a]);
        }
        self.bytes.push(0);
        self
    }
}
