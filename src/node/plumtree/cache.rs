//! The payload cache that answers GRAFTs: each first-seen payload this
//! node announces by IHAVE (only an announcer is ever grafted) is kept
//! `age` long, at most `max_msgs` of them and `max_bytes` in all; at
//! either cap the oldest goes first, and a payload larger than the whole
//! cache is not kept. Payloads are shared (`Rc<[u8]>`) with the pushes
//! that send them, never copied per recipient. Empty, it holds no memory.

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::MsgId;
use crate::node::keyhash::KeyHash;

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

/// The cache (see the module docs).
#[derive(Debug)]
pub(super) struct Cache {
    age: Duration,
    max_msgs: usize,
    max_bytes: usize,
    map: HashMap<MsgId, Cached, KeyHash>,
    hasher: KeyHash,
    /// Cached ids in the order cached, with when.
    order: VecDeque<(Instant, MsgId)>,
    bytes: usize,
}

impl Cache {
    pub(super) fn new(age: Duration, max_msgs: usize, max_bytes: usize, hasher: KeyHash) -> Cache {
        Cache {
            age,
            max_msgs,
            max_bytes,
            map: HashMap::with_hasher(hasher),
            hasher,
            order: VecDeque::new(),
            bytes: 0,
        }
    }

    pub(super) fn get(&self, id: MsgId) -> Option<&Cached> {
        self.map.get(&id)
    }

    /// Payloads cached, and their bytes.
    pub(super) fn len(&self) -> (usize, usize) {
        (self.map.len(), self.bytes)
    }

    /// When the oldest payload expires.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.order.front().map(|&(t, _)| t + self.age)
    }

    /// Caches a payload (unless it is already cached, or larger than the
    /// whole cache) and returns the shared bytes, and how many payloads
    /// were dropped at a cap for it (a payload not kept counts as one).
    pub(super) fn insert(
        &mut self,
        id: MsgId,
        origin_addr: SocketAddr,
        hops: u8,
        payload: &[u8],
        now: Instant,
    ) -> (Rc<[u8]>, u64) {
        self.expire(now);
        if let Some(c) = self.map.get(&id) {
            return (c.payload.clone(), 0);
        }
        let shared: Rc<[u8]> = Rc::from(payload);
        if self.max_msgs == 0 || payload.len() > self.max_bytes {
            return (shared, 1);
        }
        let mut evicted = 0;
        while self.map.len() >= self.max_msgs || self.bytes + payload.len() > self.max_bytes {
            self.pop();
            evicted += 1;
        }
        self.bytes += payload.len();
        self.order.push_back((now, id));
        let cached = Cached {
            origin_addr,
            hops,
            payload: shared.clone(),
        };
        self.map.insert(id, cached);
        (shared, evicted)
    }

    fn pop(&mut self) {
        if let Some((_, id)) = self.order.pop_front()
            && let Some(c) = self.map.remove(&id)
        {
            self.bytes -= c.payload.len();
        }
        if self.map.is_empty() {
            // Give the tables' memory back once idle.
            self.map = HashMap::with_hasher(self.hasher);
            self.order = VecDeque::new();
        }
    }

    /// Drops the payloads cached `age` or longer before `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        while self.next_expiry().is_some_and(|t| t <= now) {
            self.pop();
        }
    }

    /// Heap bytes held: table capacities, payloads and their `Rc` headers.
    pub(super) fn memory(&self) -> usize {
        self.map.capacity() * (size_of::<(MsgId, Cached)>() + 1)
            + self.order.capacity() * size_of::<(Instant, MsgId)>()
            + self.map.len() * 2 * size_of::<usize>()
            + self.bytes
    }
}
