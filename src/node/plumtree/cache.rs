//! The payload cache that answers GRAFTs: each first-seen payload this
//! node announces by IHAVE (only an announcer is ever grafted) is kept
//! `age` long, at most `max_msgs` of them and `max_bytes` in all; at
//! either cap the oldest goes first, and a payload larger than the whole
//! cache is not kept. Payloads are shared (`Rc<[u8]>`) with the pushes
//! that send them, never copied per recipient. Empty, it holds no memory.
//!
//! One ring of 64-byte entries in the order cached (so in time order):
//! inserting and expiring touch only its ends. A GRAFT's lookup goes
//! through a chained hash index beside it that needs no deletions: a
//! bucket holds the position of its newest entry, each entry the position
//! of the next older one in its bucket, and a position already dropped
//! from the ring's old end ends a chain. Positions count inserts (`u32`,
//! wrapping); the index has a bucket per entry at most (a power of two,
//! doubled and rebuilt as the ring grows), 4 bytes each. Every node
//! caches every message it announces, so this is most of what a node
//! holds per message in flight: a hash table and a separate age queue
//! took 134 bytes a message here, the ring and index 72 to 76 (both
//! beside the payload's own allocation). Ids whose hashes collide (an
//! origin can pick its id) make a chain longer, never longer than the
//! ring: a lookup reads at most `max_msgs` entries, as a plain scan would.

use std::collections::VecDeque;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::MsgId;

/// A cached payload: what a GOSSIP frame for it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cached {
    /// The origin's listening address, as its frames carry it.
    pub origin_addr: SocketAddr,
    /// The hop count this node sends it with (0 for its own message).
    pub hops: u8,
    /// Shared, never copied per recipient.
    pub payload: Rc<[u8]>,
}

/// One cached payload. The origin's address is kept as the wire carries
/// it (IP and port: an IPv6 flow label or scope never crosses the wire).
#[derive(Debug)]
struct Entry {
    origin: u64,
    /// Nanoseconds after the cache's `base` it was cached.
    at: u64,
    payload: Rc<[u8]>,
    seq: u32,
    /// An IPv4 address in the first four bytes, unless `v6`.
    ip: [u8; 16],
    port: u16,
    v6: bool,
    hops: u8,
    /// The position of the next older entry in this one's bucket (one
    /// not in the ring ends the chain).
    next: u32,
}

const _: () = assert!(size_of::<Entry>() <= 64);

impl Entry {
    fn id(&self) -> MsgId {
        MsgId {
            origin: self.origin,
            seq: self.seq,
        }
    }

    fn origin_addr(&self) -> SocketAddr {
        let ip: IpAddr = if self.v6 {
            Ipv6Addr::from(self.ip).into()
        } else {
            Ipv4Addr::new(self.ip[0], self.ip[1], self.ip[2], self.ip[3]).into()
        };
        SocketAddr::new(ip, self.port)
    }
}

/// The cache (see the module docs).
#[derive(Debug)]
pub(super) struct Cache {
    age: Duration,
    max_msgs: usize,
    max_bytes: usize,
    /// Oldest first.
    ring: VecDeque<Entry>,
    /// Per bucket, the position of its newest entry (see the module docs).
    heads: Vec<u32>,
    /// Inserts since the ring was last empty (wrapping): the position the
    /// next entry gets; the newest entry's is one less.
    pushed: u32,
    /// What entries' `at` counts from: the first insert into an empty
    /// cache.
    base: Option<Instant>,
    bytes: usize,
}

impl Cache {
    pub(super) fn new(age: Duration, max_msgs: usize, max_bytes: usize) -> Cache {
        Cache {
            age,
            // Positions are `u32`s a chain compares within the ring's
            // length, and a new index marks empty buckets 2^31 back.
            max_msgs: max_msgs.min(1 << 30),
            max_bytes,
            ring: VecDeque::new(),
            heads: Vec::new(),
            pushed: 0,
            base: None,
            bytes: 0,
        }
    }

    /// `id`'s bucket among `buckets` (a power of two).
    fn bucket(id: MsgId, buckets: usize) -> usize {
        let h = (id.origin ^ u64::from(id.seq).rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 32) as usize & (buckets - 1)
    }

    /// The ring index of the entry at position `pos`, if it is still in
    /// the ring and older than the entry at `younger` positions back
    /// (chains only go back in time, so a walk always ends).
    fn index_of(&self, pos: u32, younger: u32) -> Option<(usize, u32)> {
        let back = self.pushed.wrapping_sub(pos);
        (back > younger && back as usize <= self.ring.len())
            .then(|| (self.ring.len() - back as usize, back))
    }

    /// The payload of `id`, if cached (the newest copy, if it was cached
    /// twice).
    pub(super) fn get(&self, id: MsgId) -> Option<Cached> {
        if self.heads.is_empty() {
            return None;
        }
        let mut pos = self.heads[Self::bucket(id, self.heads.len())];
        let mut younger = 0;
        let e = loop {
            let (i, back) = self.index_of(pos, younger)?;
            let e = &self.ring[i];
            if e.id() == id {
                break e;
            }
            (pos, younger) = (e.next, back);
        };
        Some(Cached {
            origin_addr: e.origin_addr(),
            hops: e.hops,
            payload: e.payload.clone(),
        })
    }

    /// Payloads cached, and their bytes.
    pub(super) fn len(&self) -> (usize, usize) {
        (self.ring.len(), self.bytes)
    }

    /// When the oldest payload expires.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        let (base, e) = (self.base?, self.ring.front()?);
        Some(base + Duration::from_nanos(e.at) + self.age)
    }

    /// Caches a payload (unless it is larger than the whole cache) and
    /// returns the shared bytes, and how many payloads were dropped at a
    /// cap for it (a payload not kept counts as one). The caller caches
    /// an id once (a node announces a message the first time it sees
    /// it); one cached again is kept twice, and found as its newest copy.
    pub(super) fn insert(
        &mut self,
        id: MsgId,
        origin_addr: SocketAddr,
        hops: u8,
        payload: &[u8],
        now: Instant,
    ) -> (Rc<[u8]>, u64) {
        self.expire(now);
        let shared: Rc<[u8]> = Rc::from(payload);
        if self.max_msgs == 0 || payload.len() > self.max_bytes {
            return (shared, 1);
        }
        let mut evicted = 0;
        while self.ring.len() >= self.max_msgs || self.bytes + payload.len() > self.max_bytes {
            self.pop();
            evicted += 1;
        }
        let base = *self.base.get_or_insert(now);
        let (ip, v6) = match origin_addr.ip() {
            IpAddr::V4(v4) => {
                let mut ip = [0; 16];
                ip[..4].copy_from_slice(&v4.octets());
                (ip, false)
            }
            IpAddr::V6(v6) => (v6.octets(), true),
        };
        self.bytes += payload.len();
        self.ring.push_back(Entry {
            origin: id.origin,
            at: now.saturating_duration_since(base).as_nanos() as u64,
            payload: shared.clone(),
            seq: id.seq,
            ip,
            port: origin_addr.port(),
            v6,
            hops,
            next: 0,
        });
        self.pushed = self.pushed.wrapping_add(1);
        if self.ring.len() > self.heads.len() {
            self.rebuild_index();
        } else {
            self.link_newest();
        }
        (shared, evicted)
    }

    /// Puts the newest entry at the head of its bucket's chain.
    fn link_newest(&mut self) {
        let pos = self.pushed.wrapping_sub(1);
        let e = self.ring.back_mut().expect("just pushed");
        let b = Self::bucket(e.id(), self.heads.len());
        e.next = self.heads[b];
        self.heads[b] = pos;
    }

    /// A new index with a bucket for each entry the ring can hold before
    /// it grows (at least 16), every entry linked, oldest first.
    fn rebuild_index(&mut self) {
        let buckets = self.ring.capacity().next_power_of_two().max(16);
        // A position no chain can reach for 2^31 inserts: every bucket
        // starts empty.
        let none = self.pushed.wrapping_sub(1 << 31);
        self.heads = vec![none; buckets];
        let first = self.pushed.wrapping_sub(self.ring.len() as u32);
        for (i, e) in self.ring.iter_mut().enumerate() {
            let b = Self::bucket(e.id(), buckets);
            e.next = self.heads[b];
            self.heads[b] = first.wrapping_add(i as u32);
        }
    }

    fn pop(&mut self) {
        if let Some(e) = self.ring.pop_front() {
            self.bytes -= e.payload.len();
        }
        if self.ring.is_empty() {
            // Give the ring's memory back once idle.
            self.ring = VecDeque::new();
            self.heads = Vec::new();
            self.pushed = 0;
            self.base = None;
        }
    }

    /// Drops the payloads cached `age` or longer before `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        while self.next_expiry().is_some_and(|t| t <= now) {
            self.pop();
        }
    }

    /// Heap bytes held: the ring's capacity, the index, payloads and
    /// their `Rc` headers.
    pub(super) fn memory(&self) -> usize {
        self.ring.capacity() * size_of::<Entry>()
            + self.heads.capacity() * size_of::<u32>()
            + self.ring.len() * 2 * size_of::<usize>()
            + self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(origin: u64, seq: u32) -> MsgId {
        MsgId { origin, seq }
    }

    #[test]
    fn entries_give_back_the_address_hops_and_payload_they_were_given() {
        let t0 = Instant::now();
        let mut c = Cache::new(Duration::from_secs(5), 8, 1 << 10);
        let addrs: [SocketAddr; 3] = [
            "10.1.2.3:7000".parse().unwrap(),
            "[2001:db8::1]:9".parse().unwrap(),
            "[::ffff:1.2.3.4]:65535".parse().unwrap(),
        ];
        for (i, &a) in addrs.iter().enumerate() {
            c.insert(id(i as u64, 3), a, i as u8, &[i as u8; 3], t0);
        }
        for (i, &a) in addrs.iter().enumerate() {
            let got = c.get(id(i as u64, 3)).unwrap();
            assert_eq!(got.origin_addr, a);
            assert_eq!(got.hops, i as u8);
            assert_eq!(&got.payload[..], &[i as u8; 3]);
        }
        assert!(c.get(id(0, 4)).is_none() && c.get(id(3, 3)).is_none());
    }

    #[test]
    fn an_id_cached_twice_is_found_as_its_newest_copy_and_ages_from_each() {
        let t0 = Instant::now();
        let age = Duration::from_secs(5);
        let mut c = Cache::new(age, 8, 1 << 10);
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        c.insert(id(1, 1), a, 1, b"old", t0);
        c.insert(id(1, 1), a, 2, b"new", t0 + Duration::from_secs(1));
        assert_eq!(c.get(id(1, 1)).unwrap().hops, 2);
        assert_eq!(c.len(), (2, 6));
        assert_eq!(c.next_expiry(), Some(t0 + age));
        c.expire(t0 + age);
        assert_eq!(c.get(id(1, 1)).unwrap().hops, 2);
        c.expire(t0 + age + Duration::from_secs(1));
        assert_eq!(c.len(), (0, 0));
        assert_eq!(c.memory(), 0);
        // Empty, it counts time from its next insert again.
        let t1 = t0 + Duration::from_secs(100);
        c.insert(id(1, 2), a, 0, b"x", t1);
        assert_eq!(c.next_expiry(), Some(t1 + age));
    }

    /// The lookup a plain scan does: the newest entry with the id.
    fn scanned(c: &Cache, id: MsgId) -> Option<u8> {
        c.ring.iter().rev().find(|e| e.id() == id).map(|e| e.hops)
    }

    /// Random inserts (ids often repeated), expiries at both caps and at
    /// the age, and positions wrapping past `u32::MAX`: the index finds
    /// exactly what a scan of the ring finds, for every id, after every
    /// step.
    #[test]
    fn the_index_finds_what_a_scan_of_the_ring_finds() {
        for start in [0, u32::MAX - 20] {
            let mut rng = fastrand::Rng::with_seed(u64::from(start) ^ 11);
            let t0 = Instant::now();
            let mut c = Cache::new(Duration::from_millis(500), 37, 400);
            c.pushed = start;
            let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
            let mut now = t0;
            let (mut found, mut wrapped) = (0, false);
            for step in 0..3000u32 {
                now += Duration::from_millis(rng.u64(0..12));
                let i = id(rng.u64(0..6), rng.u32(0..20));
                let len = rng.usize(0..30);
                c.insert(i, a, step as u8, &vec![0; len], now);
                wrapped |= c.pushed < start;
                assert!(c.heads.len() >= c.ring.len());
                for origin in 0..6 {
                    for seq in 0..20 {
                        let i = id(origin, seq);
                        let got = c.get(i).map(|g| g.hops);
                        assert_eq!(got, scanned(&c, i), "step {step}, id {i:?}");
                        found += usize::from(got.is_some());
                    }
                }
                if rng.u8(0..50) == 0 {
                    // Idle past the age: empty, and it starts again.
                    now += Duration::from_secs(1);
                    c.expire(now);
                    assert_eq!((c.len(), c.memory()), ((0, 0), 0));
                    c.pushed = start;
                }
            }
            assert!(
                found > 10_000,
                "{found} hits: the test must exercise lookups"
            );
            assert!(start == 0 || wrapped, "positions must wrap");
        }
    }
}
