//! A [`Driver`] that keeps everything a core asked for as owned values:
//! for tests, the fuzz driver and the simulator, which act on outputs after
//! the drain (they need the core back to report writes).

use std::net::SocketAddr;
use std::time::Duration;

use crate::format;
use crate::node::{ConnId, DiagKind, Driver, Event, Node};

/// One output, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    Send(ConnId, Vec<u8>),
    Dial(ConnId, SocketAddr),
    Close(ConnId),
    /// A stdout line without its timestamp.
    Log(String),
    /// A stderr diagnostic's text, without `rumor: `.
    Diag(DiagKind, String),
}

/// Outputs in the order the core gave them.
#[derive(Debug, Default)]
pub struct Capture {
    pub outs: Vec<Out>,
}

impl Capture {
    /// Drains `node` into a new capture.
    pub fn of(node: &mut Node) -> Vec<Out> {
        let mut c = Capture::default();
        node.drain(&mut c);
        c.outs
    }
}

impl Driver for Capture {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        self.outs.push(Out::Send(conn, bytes.to_vec()));
    }

    fn dial(&mut self, conn: ConnId, addr: SocketAddr) {
        self.outs.push(Out::Dial(conn, addr));
    }

    fn close(&mut self, conn: ConnId) {
        self.outs.push(Out::Close(conn));
    }

    fn event(&mut self, _at: Duration, event: Event<'_>) {
        self.outs.push(match event {
            Event::Diag { kind, text } => Out::Diag(kind, text.to_string()),
            e => Out::Log(format::body(&e)),
        });
    }
}
