//! The established peers: by node id, and as a list sorted by listening
//! address (the order every printed peer list has).

use std::net::SocketAddr;

use super::conns::ConnId;
use crate::vecmap::{Key, VecMap};
use crate::wire::NodeId;

#[derive(Debug, Default)]
pub struct PeerSet {
    /// Sorted by id (a handful of peers: 16 bytes each, where a hash
    /// table took twice that and its own code).
    by_id: VecMap<NodeId, ConnId>,
    /// Sorted by address; `addrs[i]` is `conns[i]`'s listening address.
    addrs: Vec<SocketAddr>,
    conns: Vec<ConnId>,
}

impl PeerSet {
    /// Hints at the tables of addresses and connections.
    pub fn prefetch(&self) {
        crate::prefetch::slice(&self.addrs, 2);
        crate::prefetch::slice(&self.conns, 1);
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// The connection of the peer with this node id.
    pub fn by_id(&self, id: NodeId) -> Option<ConnId> {
        self.by_id.get(&id).copied()
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn conns(&self) -> &[ConnId] {
        &self.conns
    }

    /// The listening address of peer `conn`.
    pub fn addr_of(&self, conn: ConnId) -> Option<SocketAddr> {
        let i = self.conns.iter().position(|&c| c == conn)?;
        Some(self.addrs[i])
    }

    /// The connection of the peer listening at `addr`.
    pub fn conn_of(&self, addr: SocketAddr) -> Option<ConnId> {
        let i = self.addrs.binary_search_by(|a| a.key_cmp(&addr)).ok()?;
        Some(self.conns[i])
    }

    pub fn insert(&mut self, id: NodeId, addr: SocketAddr, conn: ConnId) {
        self.by_id.insert(id, conn);
        let pos = self.addrs.partition_point(|&a| a < addr);
        self.addrs.insert(pos, addr);
        self.conns.insert(pos, conn);
    }

    /// Takes `conn` (the peer `id`) out. False if it was not a peer.
    pub fn remove(&mut self, id: NodeId, conn: ConnId) -> bool {
        if self.by_id.get(&id) == Some(&conn) {
            self.by_id.remove(&id);
        }
        let Some(i) = self.conns.iter().position(|&c| c == conn) else {
            return false;
        };
        self.conns.remove(i);
        self.addrs.remove(i);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_sorted_by_address() {
        let mut p = PeerSet::default();
        let c = |i| ConnId {
            index: i,
            generation: 0,
        };
        let a = |port| SocketAddr::from(([127, 0, 0, 1], port));
        p.insert(1, a(9003), c(0));
        p.insert(2, a(9001), c(1));
        p.insert(3, a(9002), c(2));
        assert_eq!(p.addrs(), [a(9001), a(9002), a(9003)]);
        assert_eq!(p.conns(), [c(1), c(2), c(0)]);
        assert_eq!(p.by_id(3), Some(c(2)));
        assert!(p.remove(3, c(2)));
        assert!(!p.remove(3, c(2)));
        assert_eq!(p.addrs(), [a(9001), a(9003)]);
        assert_eq!(p.addr_of(c(0)), Some(a(9003)));
        assert_eq!(p.by_id(3), None);
    }
}
