//! The queue of what the driver must do, with the arenas its byte slices,
//! address lists and texts live in until it has taken them. The arenas are
//! emptied once the queue is drained, so their memory is reused turn after
//! turn.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use super::conns::ConnId;
use super::event::{DiagKind, Event};
use super::reason::Reason;

/// What the driver must do, taken from [`super::Node::poll_output`].
#[derive(Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// Queue these bytes on the connection; then report them written with
    /// [`super::Node::handle_written`].
    Send { conn: ConnId, bytes: &'a [u8] },
    /// Open a connection to `addr`; report [`super::Node::handle_connected`]
    /// or [`super::Node::handle_closed`].
    Dial { conn: ConnId, addr: SocketAddr },
    /// Flush what is queued on the connection if it can, then close it. The
    /// core has forgotten it already: report nothing more about it.
    Close { conn: ConnId },
    /// Tell the user; `at` is the time since the node started.
    Event { at: Duration, event: Event<'a> },
}

type Span = (u32, u32);

fn span(r: Range<usize>) -> Span {
    (r.start as u32, r.end as u32)
}

fn get<T>(v: &[T], (a, b): Span) -> &[T] {
    &v[a as usize..b as usize]
}

#[derive(Debug)]
enum Stored {
    Listening(SocketAddr),
    Joined(Span),
    Connected(SocketAddr),
    Sending {
        text: Span,
        to: Span,
    },
    Received {
        text: Span,
        from: SocketAddr,
        hops: u8,
    },
    Disconnected {
        peer: SocketAddr,
        reason: Reason,
    },
    Diag {
        kind: DiagKind,
        text: Span,
    },
}

#[derive(Debug)]
enum Pending {
    Send { conn: ConnId, bytes: Span },
    Dial { conn: ConnId, addr: SocketAddr },
    Close { conn: ConnId },
    Event { at: Duration, event: Stored },
}

/// Outputs waiting for the driver, and where their data lives.
#[derive(Debug, Default)]
pub struct Outputs {
    queue: VecDeque<Pending>,
    /// Encoded frames.
    tx: Vec<u8>,
    /// Message texts of events.
    data: Vec<u8>,
    /// Address lists of events.
    addrs: Vec<SocketAddr>,
    /// Diagnostic texts.
    text: String,
}

impl Outputs {
    /// No output is waiting, and the arenas are empty.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
            && self.tx.is_empty()
            && self.data.is_empty()
            && self.addrs.is_empty()
            && self.text.is_empty()
    }

    /// Whether any buffer holds heap memory.
    pub fn holds_memory(&self) -> bool {
        let c = self.queue.capacity() + self.tx.capacity() + self.data.capacity();
        c + self.addrs.capacity() + self.text.capacity() > 0
    }

    /// Encodes with `encode` into the frame arena; returns where it went,
    /// for [`Outputs::send`] (one encoding may go to many connections).
    pub fn encode(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> Range<usize> {
        let a = self.tx.len();
        encode(&mut self.tx);
        a..self.tx.len()
    }

    /// Bytes encoded by [`Outputs::encode`].
    pub fn bytes_of(&self, r: Range<usize>) -> &[u8] {
        &self.tx[r]
    }

    pub fn send(&mut self, conn: ConnId, bytes: Range<usize>) {
        self.queue.push_back(Pending::Send {
            conn,
            bytes: span(bytes),
        });
    }

    pub fn dial(&mut self, conn: ConnId, addr: SocketAddr) {
        self.queue.push_back(Pending::Dial { conn, addr });
    }

    pub fn close(&mut self, conn: ConnId) {
        self.queue.push_back(Pending::Close { conn });
    }

    fn event(&mut self, at: Duration, event: Stored) {
        self.queue.push_back(Pending::Event { at, event });
    }

    fn addr_list(&mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Span {
        let a = self.addrs.len();
        self.addrs.extend(addrs);
        span(a..self.addrs.len())
    }

    fn bytes(&mut self, text: &[u8]) -> Span {
        let a = self.data.len();
        self.data.extend_from_slice(text);
        span(a..self.data.len())
    }

    pub fn listening(&mut self, at: Duration, addr: SocketAddr) {
        self.event(at, Stored::Listening(addr));
    }

    pub fn joined(&mut self, at: Duration, peers: &[SocketAddr]) {
        let s = self.addr_list(peers.iter().copied());
        self.event(at, Stored::Joined(s));
    }

    pub fn connected(&mut self, at: Duration, peer: SocketAddr) {
        self.event(at, Stored::Connected(peer));
    }

    pub fn sending(&mut self, at: Duration, text: &[u8], to: impl IntoIterator<Item = SocketAddr>) {
        let to = self.addr_list(to);
        let text = self.bytes(text);
        self.event(at, Stored::Sending { text, to });
    }

    pub fn received(&mut self, at: Duration, text: &[u8], from: SocketAddr, hops: u8) {
        let text = self.bytes(text);
        self.event(at, Stored::Received { text, from, hops });
    }

    pub fn disconnected(&mut self, at: Duration, peer: SocketAddr, reason: Reason) {
        self.event(at, Stored::Disconnected { peer, reason });
    }

    pub fn diag(&mut self, at: Duration, kind: DiagKind, args: std::fmt::Arguments<'_>) {
        let a = self.text.len();
        let _ = self.text.write_fmt(args);
        let text = span(a..self.text.len());
        self.event(at, Stored::Diag { kind, text });
    }

    /// The next output, if any. Once none is left the arenas are emptied.
    pub fn poll(&mut self) -> Option<Output<'_>> {
        let Some(p) = self.queue.pop_front() else {
            self.tx.clear();
            self.data.clear();
            self.addrs.clear();
            self.text.clear();
            return None;
        };
        Some(match p {
            Pending::Send { conn, bytes } => Output::Send {
                conn,
                bytes: get(&self.tx, bytes),
            },
            Pending::Dial { conn, addr } => Output::Dial { conn, addr },
            Pending::Close { conn } => Output::Close { conn },
            Pending::Event { at, event } => Output::Event {
                at,
                event: match event {
                    Stored::Listening(addr) => Event::Listening { addr },
                    Stored::Joined(s) => Event::Joined {
                        peers: get(&self.addrs, s),
                    },
                    Stored::Connected(peer) => Event::Connected { peer },
                    Stored::Sending { text, to } => Event::Sending {
                        text: get(&self.data, text),
                        to: get(&self.addrs, to),
                    },
                    Stored::Received { text, from, hops } => Event::Received {
                        text: get(&self.data, text),
                        from,
                        hops,
                    },
                    Stored::Disconnected { peer, reason } => Event::Disconnected { peer, reason },
                    Stored::Diag { kind, text } => Event::Diag {
                        kind,
                        text: &self.text[text.0 as usize..text.1 as usize],
                    },
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_come_out_in_order_with_their_data() {
        let mut o = Outputs::default();
        let c = ConnId {
            index: 0,
            generation: 0,
        };
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let r = o.encode(|v| v.extend_from_slice(b"frame"));
        o.send(c, r.clone());
        o.send(c, r);
        o.sending(Duration::from_millis(5), b"hi", [a, a]);
        o.diag(Duration::ZERO, DiagKind::Retry, format_args!("x {}", 1));
        let mut seen = Vec::new();
        while let Some(out) = o.poll() {
            seen.push(format!("{out:?}"));
        }
        assert_eq!(seen.len(), 4);
        assert!(seen[0].contains("[102, 114, 97, 109, 101]"), "{}", seen[0]);
        assert_eq!(seen[0], seen[1]);
        assert!(seen[2].contains("Sending") && seen[2].contains("[104, 105]"));
        assert!(seen[3].contains("\"x 1\""));
        assert!(o.tx.is_empty() && o.data.is_empty() && o.text.is_empty());
    }
}
