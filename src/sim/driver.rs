//! The [`Driver`] a simulated node's outputs go through: bytes onto their
//! link (in a buffer from a pool, given back after delivery), dials and
//! closes to the network, events into the node's lines or the tally.
//! Writes are reported to the node after the drain, in order.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::net::Net;
use super::queue::{Event as NetEvent, Queue};
use super::tally::Tally;
use crate::format;
use crate::node::{ConnId, Driver, Event, Level};

/// Most spare buffers kept, and the largest kept.
const POOL_CAP: usize = 4096;
const POOL_BUF_MAX: usize = 64 << 10;

/// Buffers for bytes in flight, reused.
#[derive(Debug, Default)]
pub(super) struct Pool(Vec<Vec<u8>>);

impl Pool {
    fn take(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut b = self.0.pop().unwrap_or_default();
        b.extend_from_slice(bytes);
        b
    }

    pub fn give(&mut self, mut b: Vec<u8>) {
        if self.0.len() < POOL_CAP && b.capacity() <= POOL_BUF_MAX {
            b.clear();
            self.0.push(b);
        }
    }
}

/// Where a node's stdout and stderr lines go, when they are kept.
pub(super) struct Lines<'a> {
    pub log: &'a mut Vec<String>,
    pub diag: &'a mut Vec<String>,
}

pub(super) struct SimDriver<'a> {
    pub i: usize,
    pub now: Instant,
    pub net: &'a mut Net,
    pub queue: &'a mut Queue,
    pub pool: &'a mut Pool,
    /// Dials made, batches dropped at a cut.
    pub dials: &'a mut u64,
    pub dropped: &'a mut u64,
    pub written: &'a mut Vec<(ConnId, usize)>,
    pub lines: Option<Lines<'a>>,
    pub tally: Option<&'a mut Tally>,
}

impl Driver for SimDriver<'_> {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        self.written.push((conn, bytes.len()));
        let Some((to, _)) = self.net.peer(self.i, conn) else {
            return;
        };
        if self.net.is_cut(self.i, to) {
            *self.dropped += 1;
            return;
        }
        if let Some((to, their, at)) = self.net.send(self.i, conn, bytes, self.now) {
            let bytes = self.pool.take(bytes);
            let to = to as u32;
            self.queue.push(
                at,
                NetEvent::Deliver {
                    to,
                    conn: their,
                    bytes,
                },
            );
        }
    }

    fn dial(&mut self, conn: ConnId, addr: SocketAddr) {
        *self.dials += 1;
        let target = self.net.node_at(addr, |_| true);
        let at = self.net.dial_arrival(self.i, target, self.now);
        let from = self.i as u32;
        self.queue.push(at, NetEvent::Connect { from, conn, addr });
    }

    fn close(&mut self, conn: ConnId) {
        if let Some((to, their, at)) = self.net.unlink(self.i, conn, self.now)
            && !self.net.is_cut(self.i, to)
        {
            let to = to as u32;
            self.queue.push(at, NetEvent::Eof { to, conn: their });
        }
    }

    fn event(&mut self, _at: Duration, event: Event<'_>) {
        if let (Some(t), Event::Received { text, hops, .. }) = (self.tally.as_deref_mut(), &event) {
            t.received(self.i, text, *hops, self.now);
        }
        let Some(lines) = self.lines.as_mut() else {
            return;
        };
        match event {
            // What stderr shows by default (no -v).
            Event::Diag { kind, text } if kind.level() <= Level::Notice => {
                lines.diag.push(text.to_string())
            }
            Event::Diag { .. } => {}
            e => lines.log.push(format::body(&e)),
        }
    }
}
