//! What a scenario counts instead of keeping every node's lines: per
//! message, who received it (a bit per node), when it was last received
//! and at what hop counts. Messages are known by their text, `m<seq>-...`
//! ([`Tally::text`]): the sequence number is the row.

use std::time::Instant;

/// One message of a scenario.
#[derive(Clone, Debug)]
pub struct Sent {
    pub origin: u32,
    /// When the scenario typed it at its origin.
    pub at: Instant,
    /// The latest time a node received it.
    pub last: Option<Instant>,
    /// Bit `j`: node `j` received it.
    got: Vec<u64>,
}

impl Sent {
    pub fn received_by(&self, j: usize) -> bool {
        self.got.get(j / 64).is_some_and(|w| w >> (j % 64) & 1 == 1)
    }

    /// How many of the nodes in `mask` (a bit per node) received it.
    pub fn count_in(&self, mask: &[u64]) -> u64 {
        self.got
            .iter()
            .zip(mask)
            .map(|(a, b)| (a & b).count_ones() as u64)
            .sum()
    }
}

/// Deliveries of a scenario's messages.
#[derive(Clone, Debug)]
pub struct Tally {
    pub sent: Vec<Sent>,
    /// Deliveries at each hop count.
    pub hops: Vec<u64>,
    /// A node printing a message it had already printed.
    pub duplicates: u64,
    /// Received messages that are not the scenario's (none expected).
    pub foreign: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            sent: Vec::new(),
            hops: vec![0; 256],
            duplicates: 0,
            foreign: 0,
        }
    }
}

impl Tally {
    /// The text of message `seq` from node `origin`.
    pub fn text(seq: usize, origin: usize) -> String {
        format!("m{seq}-{origin}")
    }

    /// Message `seq` of `origin` typed at `at`; returns its text. Rows are
    /// made in order: `seq` is the number of messages so far.
    pub fn send(&mut self, origin: usize, at: Instant) -> String {
        let seq = self.sent.len();
        self.sent.push(Sent {
            origin: origin as u32,
            at,
            last: None,
            got: Vec::new(),
        });
        Self::text(seq, origin)
    }

    fn seq_of(text: &[u8]) -> Option<usize> {
        let rest = text.strip_prefix(b"m")?;
        let end = rest.iter().position(|&b| b == b'-')?;
        let digits = &rest[..end];
        if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(digits.iter().fold(0, |n, &d| n * 10 + (d - b'0') as usize))
    }

    /// Node `j` printed `text`, relayed `hops` times, at `now`.
    pub fn received(&mut self, j: usize, text: &[u8], hops: u8, now: Instant) {
        let Some(m) = Self::seq_of(text).and_then(|s| self.sent.get_mut(s)) else {
            self.foreign += 1;
            return;
        };
        let (w, bit) = (j / 64, 1u64 << (j % 64));
        if m.got.len() <= w {
            m.got.resize(w + 1, 0);
        }
        if m.got[w] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        m.got[w] |= bit;
        m.last = Some(m.last.map_or(now, |l| l.max(now)));
        self.hops[hops as usize] += 1;
    }

    /// Deliveries counted (each node once per message).
    pub fn deliveries(&self) -> u64 {
        self.hops.iter().sum()
    }

    /// The largest hop count of any delivery.
    pub fn max_hops(&self) -> Option<u8> {
        self.hops.iter().rposition(|&n| n > 0).map(|h| h as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counts_each_node_once_and_knows_only_its_own_texts() {
        let t0 = Instant::now();
        let mut t = Tally::default();
        assert_eq!(t.send(3, t0), "m0-3");
        assert_eq!(t.send(5, t0), "m1-5");
        t.received(70, b"m1-5", 2, t0 + Duration::from_millis(9));
        t.received(70, b"m1-5", 1, t0 + Duration::from_millis(12));
        t.received(1, b"m1-5", 4, t0 + Duration::from_millis(7));
        for bad in [&b"m9-1"[..], b"hello", b"m-1", b"mx-1", b"m1"] {
            t.received(1, bad, 0, t0);
        }
        assert_eq!((t.deliveries(), t.duplicates, t.foreign), (2, 1, 5));
        assert_eq!(t.max_hops(), Some(4));
        let m = &t.sent[1];
        assert!(m.received_by(70) && m.received_by(1) && !m.received_by(3));
        assert_eq!(m.last, Some(t0 + Duration::from_millis(9)));
        assert_eq!(m.count_in(&[!0, 0]), 1);
        assert_eq!(m.count_in(&[!0, !0]), 2);
        assert_eq!(t.sent[0].count_in(&[!0, !0]), 0);
    }
}
