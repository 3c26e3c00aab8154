//! The payload cache that answers GRAFTs: each first-seen payload this
//! node announces by IHAVE (only an announcer is ever grafted) is kept
//! `age` long, at most `max_msgs` of them and `max_bytes` in all; at
//! either cap the oldest goes first, and a payload larger than the whole
//! cache is not kept. Payloads are shared (`Rc<[u8]>`) with the pushes
//! that send them, never copied per recipient. Empty, it holds no memory.
//!
//! One ring of 56-byte entries in the order cached (so in time order):
//! inserting and expiring touch only its ends, and a GRAFT's lookup reads
//! it from the newest end, at most `max_msgs` entries. Every node caches
//! every message it announces, so this is most of what a node holds per
//! message in flight: a hash table and a separate age queue took 134
//! bytes a message here, the ring 72 (both beside the payload's own
//! allocation).

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
}

const _: () = assert!(size_of::<Entry>() <= 56);

impl Entry {
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
    /// What entries' `at` counts from: the first insert into an empty
    /// cache.
    base: Option<Instant>,
    bytes: usize,
}

impl Cache {
    pub(super) fn new(age: Duration, max_msgs: usize, max_bytes: usize) -> Cache {
        Cache {
            age,
            max_msgs,
            max_bytes,
            ring: VecDeque::new(),
            base: None,
            bytes: 0,
        }
    }

    /// The payload of `id`, if cached (the newest copy, if it was cached
    /// twice).
    pub(super) fn get(&self, id: MsgId) -> Option<Cached> {
        let e = self
            .ring
            .iter()
            .rev()
            .find(|e| e.origin == id.origin && e.seq == id.seq)?;
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
        });
        (shared, evicted)
    }

    fn pop(&mut self) {
        if let Some(e) = self.ring.pop_front() {
            self.bytes -= e.payload.len();
        }
        if self.ring.is_empty() {
            // Give the ring's memory back once idle.
            self.ring = VecDeque::new();
            self.base = None;
        }
    }

    /// Drops the payloads cached `age` or longer before `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        while self.next_expiry().is_some_and(|t| t <= now) {
            self.pop();
        }
    }

    /// Heap bytes held: the ring's capacity, payloads and their `Rc`
    /// headers.
    pub(super) fn memory(&self) -> usize {
        self.ring.capacity() * size_of::<Entry>()
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
}
