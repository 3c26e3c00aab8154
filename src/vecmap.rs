//! A map kept as a vector sorted by key: the core's small tables (the
//! address book, a node's tree links) iterate in key order, so the
//! simulator is deterministic, and cost one contiguous allocation and one
//! copy of the code, where a `BTreeMap` per key type adds kilobytes of
//! code each and a tree of nodes to walk. Lookups are binary searches;
//! inserts and removes move the tail, fine at the sizes used (at most a
//! few thousand entries).

use std::cmp::Ordering;
use std::net::SocketAddr;

/// A key of a [`VecMap`]: ordered and copied, with a comparison that may
/// be faster than `Ord::cmp` and always agrees with it.
pub trait Key: Ord + Copy {
    fn key_cmp(&self, other: &Self) -> Ordering {
        self.cmp(other)
    }
}

impl Key for u8 {}
impl Key for u32 {}
impl Key for u64 {}
impl Key for crate::node::ConnId {}

/// Two IPv4 addresses compare as two integers (std's `cmp` is a call
/// through the address kinds and their fields, a tenth of a large
/// simulation's time in lookups by peer).
impl Key for SocketAddr {
    #[inline]
    fn key_cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SocketAddr::V4(a), SocketAddr::V4(b)) => {
                let key =
                    |a: &std::net::SocketAddrV4| (a.ip().to_bits() as u64) << 16 | a.port() as u64;
                key(a).cmp(&key(b))
            }
            _ => self.cmp(other),
        }
    }
}

/// A sorted-vector map.
#[derive(Clone, Debug)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> VecMap<K, V> {
    /// Hints at the entries' first cache lines.
    pub fn prefetch(&self, max_lines: usize) {
        crate::prefetch::slice(&self.entries, max_lines);
    }
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Key, V> VecMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn find(&self, k: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(e, _)| e.key_cmp(k))
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_ok()
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        self.find(k).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.find(k).ok().map(|i| &mut self.entries[i].1)
    }

    /// Inserts or replaces; returns the old value.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, v)),
            Err(i) => {
                self.grow();
                self.entries.insert(i, (k, v));
                None
            }
        }
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.find(k).ok().map(|i| self.entries.remove(i).1)
    }

    /// The value at `k`, inserted with `make` first if missing.
    pub fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&k) {
            Ok(i) => i,
            Err(i) => {
                self.grow();
                self.entries.insert(i, (k, make()));
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Room for one more, growing by an eighth (at least 4), not by
    /// doubling: these tables sit near their size for a node's life, and a
    /// doubled vector would hold up to twice what they use.
    fn grow(&mut self) {
        if self.entries.len() == self.entries.capacity() {
            self.entries.reserve_exact((self.entries.len() / 8).max(4));
        }
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Keeps the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// Takes every entry out, in key order.
    pub fn take(&mut self) -> Vec<(K, V)> {
        std::mem::take(&mut self.entries)
    }
}

/// A sorted-vector set.
pub type VecSet<K> = VecMap<K, ()>;

impl<K: Key> VecMap<K, ()> {
    /// Adds `k`; false if it was there.
    pub fn add(&mut self, k: K) -> bool {
        self.insert(k, ()).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_sorted_map() {
        let mut m: VecMap<u32, &str> = VecMap::new();
        let mut rng = fastrand::Rng::with_seed(4);
        let mut model = std::collections::BTreeMap::new();
        for _ in 0..2000 {
            let k = rng.u32(..50);
            match rng.u8(..4) {
                0 | 1 => assert_eq!(m.insert(k, "v"), model.insert(k, "v")),
                2 => assert_eq!(m.remove(&k), model.remove(&k)),
                _ => assert_eq!(m.get(&k), model.get(&k)),
            }
            assert_eq!(m.len(), model.len());
        }
        assert!(m.iter().map(|(k, _)| *k).eq(model.keys().copied()));
        *m.get_or_insert_with(100, || "new") = "set";
        assert_eq!(m.get(&100), Some(&"set"));
        m.retain(|k, _| k % 2 == 0);
        assert!(m.keys().all(|k| k % 2 == 0));
        let mut s: VecSet<u8> = VecSet::new();
        assert!(s.add(3) && !s.add(3) && s.contains_key(&3));
    }

    #[test]
    fn an_address_key_orders_as_the_address_does() {
        let mut rng = fastrand::Rng::with_seed(9);
        let mut addr = || -> SocketAddr {
            // Few values per field, so ties and near ties are common.
            let port = rng.u16(..4) * 16_000;
            match rng.u8(..3) {
                0 => SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, rng.u16(..3)], port)),
                _ => SocketAddr::from(([rng.u8(..3) * 100, 0, rng.u8(..2), rng.u8(..3)], port)),
            }
        };
        for _ in 0..5000 {
            let (a, b) = (addr(), addr());
            assert_eq!(a.key_cmp(&b), a.cmp(&b), "{a} {b}");
        }
    }
}
