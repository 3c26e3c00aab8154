//! A map by socket address whose keys take 24 bytes, not 32: the address
//! book keeps about 76 entries a node (64 passive, the active view, the
//! bootstrap), and the simulator 100,000 nodes' worth, so its entries are
//! 56 bytes where a `SocketAddr` key made them 64.
//!
//! A key keeps what names a peer: the IP (IPv4 in the first four bytes),
//! the port, and an IPv6 scope id (a link-local bootstrap address needs
//! it to be dialed). An IPv6 flow label does not name a peer and is not
//! kept: an address comes back from the map with flow label 0. Keys sort
//! as `SocketAddr`s do (IPv4 before IPv6, then IP, then port), so the
//! map's order, and whatever a node draws from it, is the order a map of
//! `SocketAddr`s had.

use std::cmp::Ordering;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::vecmap::{Key, VecMap};

/// A socket address in 24 bytes (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedAddr {
    ip: [u8; 16],
    scope: u32,
    port: u16,
    v6: bool,
}

const _: () = assert!(std::mem::size_of::<PackedAddr>() <= 24);

impl From<SocketAddr> for PackedAddr {
    #[inline]
    fn from(a: SocketAddr) -> Self {
        let mut ip = [0; 16];
        let (v6, scope) = match a {
            SocketAddr::V4(a) => {
                ip[..4].copy_from_slice(&a.ip().octets());
                (false, 0)
            }
            SocketAddr::V6(a) => {
                ip = a.ip().octets();
                (true, a.scope_id())
            }
        };
        PackedAddr {
            ip,
            scope,
            port: a.port(),
            v6,
        }
    }
}

impl PackedAddr {
    #[inline]
    pub fn addr(&self) -> SocketAddr {
        if self.v6 {
            let ip = Ipv6Addr::from(self.ip);
            SocketAddrV6::new(ip, self.port, 0, self.scope).into()
        } else {
            let [a, b, c, d, ..] = self.ip;
            SocketAddr::new(Ipv4Addr::new(a, b, c, d).into(), self.port)
        }
    }
}

impl Ord for PackedAddr {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        let key = |a: &PackedAddr| (a.v6, u128::from_be_bytes(a.ip), a.port, a.scope);
        key(self).cmp(&key(other))
    }
}

impl PartialOrd for PackedAddr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Key for PackedAddr {}

/// A [`VecMap`] by socket address, keys packed (see the module docs).
#[derive(Debug)]
pub struct AddrMap<V> {
    map: VecMap<PackedAddr, V>,
}

impl<V> Default for AddrMap<V> {
    fn default() -> Self {
        AddrMap { map: VecMap::new() }
    }
}

impl<V> AddrMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn contains_key(&self, k: &SocketAddr) -> bool {
        self.map.contains_key(&(*k).into())
    }

    pub fn get(&self, k: &SocketAddr) -> Option<&V> {
        self.map.get(&(*k).into())
    }

    pub fn get_mut(&mut self, k: &SocketAddr) -> Option<&mut V> {
        self.map.get_mut(&(*k).into())
    }

    pub fn insert(&mut self, k: SocketAddr, v: V) -> Option<V> {
        self.map.insert(k.into(), v)
    }

    pub fn remove(&mut self, k: &SocketAddr) -> Option<V> {
        self.map.remove(&(*k).into())
    }

    pub fn get_or_insert_with(&mut self, k: SocketAddr, make: impl FnOnce() -> V) -> &mut V {
        self.map.get_or_insert_with(k.into(), make)
    }

    /// Entries in address order.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &V)> {
        self.map.iter().map(|(k, v)| (k.addr(), v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Vec<SocketAddr> {
        [
            "10.1.2.3:7000",
            "10.1.2.3:6999",
            "10.1.2.4:1",
            "1.2.3.4:65535",
            "255.255.255.255:0",
            "0.0.0.0:0",
            "[::1]:9",
            "[::1]:8",
            "[2001:db8::1]:9",
            "[fe80::1%3]:9000",
            "[fe80::1%2]:9000",
            "[::ffff:1.2.3.4]:65535",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
    }

    #[test]
    fn an_address_comes_back_as_it_went_in_and_sorts_as_socket_addrs_do() {
        let all = addrs();
        for a in &all {
            assert_eq!(PackedAddr::from(*a).addr(), *a);
        }
        for a in &all {
            for b in &all {
                let (pa, pb) = (PackedAddr::from(*a), PackedAddr::from(*b));
                assert_eq!(pa.cmp(&pb), a.cmp(b), "{a} against {b}");
            }
        }
    }

    #[test]
    fn an_ipv6_flow_label_is_dropped_and_the_scope_kept() {
        let a = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 7, 12345, 4);
        let back = PackedAddr::from(SocketAddr::V6(a)).addr();
        assert_eq!(back, SocketAddrV6::new(Ipv6Addr::LOCALHOST, 7, 0, 4).into());
    }

    #[test]
    fn the_map_finds_iterates_and_removes_by_socket_address() {
        let mut m = AddrMap::new();
        for (i, a) in addrs().into_iter().enumerate() {
            assert!(m.insert(a, i).is_none());
        }
        let mut sorted = addrs();
        sorted.sort();
        let order: Vec<SocketAddr> = m.iter().map(|(a, _)| a).collect();
        assert_eq!(order, sorted);
        let a: SocketAddr = "10.1.2.3:7000".parse().unwrap();
        assert_eq!(m.get(&a), Some(&0));
        *m.get_mut(&a).unwrap() = 100;
        assert_eq!(m.remove(&a), Some(100));
        assert!(!m.contains_key(&a));
        assert_eq!(*m.get_or_insert_with(a, || 70), 70);
        assert_eq!(m.len(), addrs().len());
        assert_eq!(m.values().filter(|v| **v == 70).count(), 1);
    }
}
