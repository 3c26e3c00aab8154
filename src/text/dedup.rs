//! Printing each text host's text once per node.
//!
//! A text host sends each message to every host it knows, and the rumor
//! node that receives it passes it to every peer, so the same text from the
//! same text host can reach a rumor node several times: directly and from
//! peers. A node prints it once: a text is identified by the text host's
//! address and a 64-bit hash of the text (with its length), within a window
//! of 10 s from its first sighting.
//!
//! The cost of having no message id in the older protocol: the same text
//! sent twice by the same text host within the window prints once. A hash
//! collision can only hide a second, different text from the same host in
//! the same window; the hash is keyed by a per-node seed so collisions
//! cannot be chosen for every node at once.
//!
//! The table holds at most `cap` entries (1,024 by default). At the cap the
//! oldest entry is forgotten first: the worst that does is print a late
//! copy twice, never lose a text.

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Default window: how long a text is remembered after its first sighting.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Default cap on remembered texts.
pub const CAP: usize = 1024;

type Key = (SocketAddr, u64, usize);

/// The window of recently printed texts (see the module docs).
#[derive(Debug)]
pub struct Dedup {
    seed: u64,
    window: Duration,
    cap: usize,
    /// Keys in the order first seen, with when.
    order: VecDeque<(Instant, Key)>,
    seen: HashSet<Key>,
}

impl Dedup {
    /// A window of `window` holding at most `cap` (at least 1) texts; `seed`
    /// keys the hash (draw it from the node's seed).
    pub fn new(seed: u64, window: Duration, cap: usize) -> Self {
        Dedup {
            seed,
            window,
            cap: cap.max(1),
            order: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// Texts remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn key(&self, host: SocketAddr, text: &[u8]) -> Key {
        let host = super::canonical(host);
        let mut h = DefaultHasher::new();
        self.seed.hash(&mut h);
        text.hash(&mut h);
        (host, h.finish(), text.len())
    }

    /// Whether `text` from `host` is new at `now`: `true` the first time
    /// (print it, and remember it), `false` for a copy within the window.
    pub fn first_sighting(&mut self, host: SocketAddr, text: &[u8], now: Instant) -> bool {
        self.expire(now);
        let key = self.key(host, text);
        if self.seen.contains(&key) {
            return false;
        }
        if self.order.len() >= self.cap
            && let Some((_, old)) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back((now, key));
        self.seen.insert(key);
        true
    }

    /// Forgets texts first seen a window or more before `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(t, key)) = self.order.front() {
            if now.saturating_duration_since(t) < self.window {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&key);
        }
    }

    /// When the oldest text leaves the window (for the core's timer; it may
    /// also just call [`Self::expire`] now and then).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.order.front().map(|&(t, _)| t + self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_same_text_from_the_same_host_prints_once_within_the_window() {
        let t0 = Instant::now();
        let mut d = Dedup::new(7, WINDOW, CAP);
        let h = a("10.0.0.1:1248");
        assert!(d.first_sighting(h, b"hi", t0));
        assert!(!d.first_sighting(h, b"hi", t0 + Duration::from_secs(9)));
        // Another host, or another text, is another message.
        assert!(d.first_sighting(a("10.0.0.2:1248"), b"hi", t0));
        assert!(d.first_sighting(a("10.0.0.1:1249"), b"hi", t0));
        assert!(d.first_sighting(h, b"hi!", t0));
        // The same host seen through a dual-stack listener.
        assert!(!d.first_sighting(a("[::ffff:10.0.0.1]:1248"), b"hi", t0));
        assert_eq!(d.next_expiry(), Some(t0 + WINDOW));
        // After the window it is new again.
        assert!(d.first_sighting(h, b"hi", t0 + WINDOW));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn at_the_cap_the_oldest_is_forgotten() {
        let t0 = Instant::now();
        let mut d = Dedup::new(1, WINDOW, 3);
        let h = a("127.0.0.1:9");
        for (i, t) in [b"a", b"b", b"c", b"d"].iter().enumerate() {
            assert!(d.first_sighting(h, *t, t0 + Duration::from_millis(i as u64)));
            assert!(d.len() <= 3);
        }
        // "a" was forgotten (a late copy prints again); "d" was not.
        assert!(!d.first_sighting(h, b"d", t0));
        assert!(d.first_sighting(h, b"a", t0));
        assert_eq!(d.len(), 3);
        d.expire(t0 + WINDOW + Duration::from_secs(1));
        assert!(d.is_empty());
        assert_eq!(d.next_expiry(), None);
    }

    #[test]
    fn different_seeds_hash_differently() {
        let h = a("127.0.0.1:9");
        let d1 = Dedup::new(1, WINDOW, CAP);
        let d2 = Dedup::new(2, WINDOW, CAP);
        assert_ne!(d1.key(h, b"x"), d2.key(h, b"x"));
        assert_eq!(d1.key(h, b"x"), Dedup::new(1, WINDOW, CAP).key(h, b"x"));
    }
}
