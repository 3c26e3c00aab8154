//! The membership report (SIGUSR1): who the node is connected to and for
//! how long, and what its address book holds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::Node;

/// One established peer, as [`Node::view`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerView {
    pub addr: SocketAddr,
    /// How long it has been connected.
    pub connected_for: Duration,
}

/// The node's membership at a moment: its peers and its address book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub addr: SocketAddr,
    pub peers: Vec<PeerView>,
    /// Remembered peer addresses (connected ones included).
    pub known: usize,
    /// Addresses with a redial pending.
    pub retrying: usize,
    /// Text hosts (the older protocol), in the order learned.
    pub text_hosts: Vec<SocketAddr>,
}

impl Node {
    /// The node's peers and address book now.
    pub fn view(&self, now: Instant) -> View {
        let peers = self
            .peers
            .conns()
            .iter()
            .zip(self.peers.addrs())
            .map(|(&c, &addr)| PeerView {
                addr,
                connected_for: self
                    .conns
                    .get(c)
                    .map_or(Duration::ZERO, |c| now.saturating_duration_since(c.since())),
            })
            .collect();
        View {
            addr: self.cfg.name(),
            peers,
            known: self.book.len(),
            retrying: self.book.retrying(),
            text_hosts: self.text_hosts(),
        }
    }
}
