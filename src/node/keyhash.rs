//! A fast keyed hash for the core's tables keyed by ids that peers
//! choose (message ids, origin ids): SipHash, std's default, was a third
//! of a receiver's instructions per message. Each node draws its key from
//! its seed, so a peer cannot pick ids that collide at a node it does not
//! know the secret of; every table it guards is capped anyway.

use std::hash::{BuildHasher, Hasher};

/// Builds [`KeyHasher`]s with one node's key.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHash(pub u64);

impl BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.0 ^ 0x243f_6a88_85a3_08d3)
    }
}

/// Folds each word in with a multiply and a rotate (the finish mixes the
/// high bits down, where hashbrown takes its control bytes from).
#[derive(Clone, Copy, Debug)]
pub struct KeyHasher(u64);

const M: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(M).rotate_left(29);
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(M);
        h ^ (h >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn spreads_sequential_ids_and_depends_on_the_key() {
        let (a, b) = (KeyHash(1), KeyHash(2));
        let hs: HashSet<u64> = (0..10_000u64)
            .map(|i| a.hash_one((7u64, i as u32)))
            .collect();
        assert_eq!(hs.len(), 10_000);
        // The top 7 bits (hashbrown's tags) take many values.
        let tags: HashSet<u64> = (0..1000u64).map(|i| a.hash_one(i) >> 57).collect();
        assert!(tags.len() > 100, "{}", tags.len());
        assert_ne!(a.hash_one(5u64), b.hash_one(5u64));
    }
}
