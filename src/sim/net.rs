//! The simulated network: links between nodes' connections, their delay
//! and loss, partitions, and the traffic counters.
//!
//! Latency: either one fixed one-way delay for every link (the default,
//! 200 µs), or per link a one-way delay drawn once, from a range, for each
//! pair of nodes. The draw is a hash of the seed and the pair, so it costs
//! no memory and is the same for every connection between the two.
//!
//! Loss is TCP-like: a batch of bytes (one write) is lost with the given
//! probability and then arrives one retransmit timeout later, like a
//! segment TCP sends again; a dial's SYN lost arrives a second later
//! (Linux's first SYN timeout). Each direction of a link keeps its order:
//! nothing overtakes a delayed batch, the end of stream included. So loss
//! shows as delay and head-of-line blocking, never as missing bytes.
//!
//! Partitions are cuts: each labels the nodes that existed when it was made
//! with a group (0: in no group); two nodes in different groups of any cut
//! cannot reach each other.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::node::ConnId;

/// How long bytes take from one node to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    /// The same one-way delay on every link.
    Fixed(Duration),
    /// Per pair of nodes, a one-way delay drawn once from `lo..=hi`.
    PerLink { lo: Duration, hi: Duration },
}

/// Packet loss on every link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loss {
    /// Chance that a batch (or a dial) is lost once.
    pub rate: f64,
    /// How much later a lost batch arrives.
    pub rto: Duration,
}

/// A dial's SYN, lost, is sent again after this long.
const SYN_RETRY: Duration = Duration::from_secs(1);

/// One end of a connection between two nodes.
#[derive(Clone, Copy, Debug)]
struct End {
    conn: ConnId,
    peer: u32,
    their: ConnId,
    /// When the last batch this way arrives, in nanoseconds after the
    /// network's start: later ones wait for it. (The delay is not kept:
    /// [`Net::delay`] is a hash of the pair; an end is 40 bytes, not 64.)
    last: u64,
    /// Bytes of the frame being sent that are still to come (frames are
    /// counted by their length prefix), and a split length prefix so far.
    frame_left: u32,
    head: [u8; 4],
    head_len: u8,
}

const _: () = assert!(std::mem::size_of::<End>() <= 40);

/// Bytes and frames sent, summed over every link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub batches: u64,
    pub frames: u64,
    pub bytes: u64,
}

#[derive(Debug)]
pub(super) struct Net {
    /// The virtual clock's start, for [`End::last`].
    origin: Instant,
    pub latency: Latency,
    pub loss: Loss,
    seed: u64,
    rng: fastrand::Rng,
    /// Per node, its connections' links, sorted by the connection's slot
    /// index (a node has a few, so a search beats a table by index).
    ends: Vec<Vec<End>>,
    cuts: Vec<Vec<u32>>,
    /// Pairs of nodes whose one-way delay is set apart from `latency`.
    slow: Vec<((u32, u32), Duration)>,
    /// The newest node at each address, and per node the one it replaced.
    by_addr: HashMap<SocketAddr, u32>,
    before: Vec<Option<u32>>,
    pub traffic: Traffic,
}

/// SplitMix64: one well-mixed word from another.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Net {
    /// Sets the one-way delay between `a` and `b` apart from the latency
    /// model, for batches sent from now on (each still arrives after the
    /// one before it on its link).
    pub fn set_link_delay(&mut self, a: usize, b: usize, d: Duration) {
        let pair = (a.min(b) as u32, a.max(b) as u32);
        self.slow.retain(|(p, _)| *p != pair);
        self.slow.push((pair, d));
    }

    /// Room for `n` more nodes in the per-node tables.
    pub fn reserve(&mut self, n: usize) {
        self.ends.reserve_exact(n);
        self.before.reserve_exact(n);
        self.by_addr.reserve(n);
    }

    pub fn new(seed: u64, origin: Instant) -> Self {
        Net {
            origin,
            latency: Latency::Fixed(Duration::from_micros(200)),
            loss: Loss {
                rate: 0.0,
                rto: Duration::from_millis(200),
            },
            seed: mix(seed ^ 0x006e_6574),
            rng: fastrand::Rng::with_seed(mix(seed ^ 0x6c6f_7373)),
            ends: Vec::new(),
            cuts: Vec::new(),
            slow: Vec::new(),
            by_addr: HashMap::new(),
            before: Vec::new(),
            traffic: Traffic::default(),
        }
    }

    /// Hints at node `i`'s ends, at `Node::prefetch`'s stages: nothing at
    /// 0, its entry in the table of ends at 1, the ends themselves after.
    pub fn prefetch(&self, i: usize, stage: u8) {
        match stage {
            0 => {}
            1 => crate::prefetch::line(self.ends.as_ptr().wrapping_add(i)),
            _ => {
                if let Some(v) = self.ends.get(i) {
                    crate::prefetch::slice(v, 5);
                }
            }
        }
    }

    /// Node `i` now listens on `addr`.
    pub fn add_node(&mut self, i: usize, addr: SocketAddr) {
        self.ends.push(Vec::new());
        self.before.push(self.by_addr.insert(addr, i as u32));
    }

    /// The newest node at `addr` for which `up` holds.
    pub fn node_at(&self, addr: SocketAddr, up: impl Fn(usize) -> bool) -> Option<usize> {
        let mut at = self.by_addr.get(&addr).copied();
        while let Some(i) = at {
            if up(i as usize) {
                return Some(i as usize);
            }
            at = self.before[i as usize];
        }
        None
    }

    /// The one-way delay between nodes `a` and `b`.
    pub fn delay(&self, a: usize, b: usize) -> Duration {
        if !self.slow.is_empty() {
            let pair = (a.min(b) as u32, a.max(b) as u32);
            if let Some(&(_, d)) = self.slow.iter().find(|(p, _)| *p == pair) {
                return d;
            }
        }
        match self.latency {
            Latency::Fixed(d) => d,
            Latency::PerLink { lo, hi } => {
                let (x, y) = (a.min(b) as u64, a.max(b) as u64);
                let span = (hi - lo).as_micros() as u64 + 1;
                lo + Duration::from_micros(mix(self.seed ^ (x << 32 | y)) % span)
            }
        }
    }

    fn lost(&mut self) -> bool {
        self.loss.rate > 0.0 && self.rng.f64() < self.loss.rate
    }

    /// When a dial from `a` to `b` made at `now` arrives.
    pub fn dial_arrival(&mut self, a: usize, b: Option<usize>, now: Instant) -> Instant {
        let d = b.map_or(self.delay(a, a), |b| self.delay(a, b));
        let extra = if self.lost() {
            SYN_RETRY
        } else {
            Duration::ZERO
        };
        now + d + extra
    }

    /// Where `i`'s end for connection slot `index` is, or would go.
    fn find(&self, i: usize, index: u32) -> Result<usize, usize> {
        self.ends[i].binary_search_by_key(&index, |e| e.conn.index)
    }

    fn end(&self, i: usize, conn: ConnId) -> Option<&End> {
        let v = self.ends.get(i)?;
        let k = v.binary_search_by_key(&conn.index, |e| e.conn.index).ok()?;
        Some(&v[k]).filter(|e| e.conn == conn)
    }

    fn end_mut(&mut self, i: usize, conn: ConnId) -> Option<&mut End> {
        let v = self.ends.get_mut(i)?;
        let k = v.binary_search_by_key(&conn.index, |e| e.conn.index).ok()?;
        Some(&mut v[k]).filter(|e| e.conn == conn)
    }

    /// Puts `e` in its connection slot, replacing what was there.
    fn set(&mut self, i: usize, e: End) {
        match self.find(i, e.conn.index) {
            Ok(k) => self.ends[i][k] = e,
            Err(k) => {
                let v = &mut self.ends[i];
                // Grown by one: a node's few links keep no spare room.
                v.reserve_exact(1);
                v.insert(k, e);
            }
        }
    }

    /// Empties `conn`'s connection slot at node `i`.
    fn clear(&mut self, i: usize, conn: ConnId) {
        if let Ok(k) = self.find(i, conn.index) {
            self.ends[i].remove(k);
        }
    }

    /// Links `a`'s `ca` with `b`'s `cb`, at `now`.
    pub fn link(&mut self, (a, ca): (usize, ConnId), (b, cb): (usize, ConnId), now: Instant) {
        let last = self.nanos(now);
        let end = |conn, peer: usize, their| End {
            conn,
            peer: peer as u32,
            their,
            last,
            frame_left: 0,
            head: [0; 4],
            head_len: 0,
        };
        self.set(a, end(ca, b, cb));
        self.set(b, end(cb, a, ca));
    }

    /// The other end of `i`'s `conn`, if linked.
    pub fn peer(&self, i: usize, conn: ConnId) -> Option<(usize, ConnId)> {
        self.end(i, conn).map(|e| (e.peer as usize, e.their))
    }

    /// Removes both ends of `i`'s `conn`; returns the other end and when
    /// its end of stream would arrive, after everything sent before.
    pub fn unlink(
        &mut self,
        i: usize,
        conn: ConnId,
        now: Instant,
    ) -> Option<(usize, ConnId, Instant)> {
        let e = *self.end(i, conn)?;
        self.clear(i, conn);
        if self.end(e.peer as usize, e.their).is_some() {
            self.clear(e.peer as usize, e.their);
        }
        let at = self.arrival(i, &e, now);
        Some((e.peer as usize, e.their, at))
    }

    /// `t` in nanoseconds after the network's start.
    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.origin).as_nanos() as u64
    }

    /// When a batch sent now on `i`'s end `e` arrives: after its delay
    /// (and a retransmit's, if lost), and not before the one before it.
    fn arrival(&mut self, i: usize, e: &End, now: Instant) -> Instant {
        let extra = if self.lost() {
            self.loss.rto
        } else {
            Duration::ZERO
        };
        let last = self.origin + Duration::from_nanos(e.last);
        (now + self.delay(i, e.peer as usize) + extra).max(last)
    }

    /// `bytes` written on `i`'s `conn` at `now`: when they arrive, and
    /// where (`None`: the connection has no link). Counts the traffic.
    pub fn send(
        &mut self,
        i: usize,
        conn: ConnId,
        bytes: &[u8],
        now: Instant,
    ) -> Option<(usize, ConnId, Instant)> {
        let e = *self.end(i, conn)?;
        let at = self.arrival(i, &e, now);
        let last = self.nanos(at);
        let frames = {
            let e = self.end_mut(i, conn)?;
            e.last = last;
            count_frames(e, bytes)
        };
        self.traffic.batches += 1;
        self.traffic.frames += frames;
        self.traffic.bytes += bytes.len() as u64;
        Some((e.peer as usize, e.their, at))
    }

    /// Adds a cut between `groups`.
    pub fn partition(&mut self, n: usize, groups: &[&[usize]]) {
        let mut label = vec![0u32; n];
        for (g, members) in groups.iter().enumerate() {
            for &i in members.iter() {
                label[i] = g as u32 + 1;
            }
        }
        self.cuts.push(label);
    }

    pub fn heal(&mut self) {
        self.cuts.clear();
    }

    pub fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cuts.iter().any(|c| {
            let (x, y) = (
                c.get(a).copied().unwrap_or(0),
                c.get(b).copied().unwrap_or(0),
            );
            x != 0 && y != 0 && x != y
        })
    }
}

/// Frames that `bytes` end, walking the wire's 4-byte length prefixes
/// (a frame or a prefix may be split across batches).
fn count_frames(e: &mut End, mut bytes: &[u8]) -> u64 {
    let mut frames = 0;
    while !bytes.is_empty() {
        if e.frame_left > 0 {
            let n = (e.frame_left as usize).min(bytes.len());
            e.frame_left -= n as u32;
            bytes = &bytes[n..];
            if e.frame_left == 0 {
                frames += 1;
            }
            continue;
        }
        let need = 4 - e.head_len as usize;
        let n = need.min(bytes.len());
        e.head[e.head_len as usize..e.head_len as usize + n].copy_from_slice(&bytes[..n]);
        e.head_len += n as u8;
        bytes = &bytes[n..];
        if e.head_len == 4 {
            e.head_len = 0;
            e.frame_left = u32::from_be_bytes(e.head);
            if e.frame_left == 0 {
                frames += 1;
            }
        }
    }
    frames
}
