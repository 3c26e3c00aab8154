//! Twenty trees on a ring with chords, passing their actions by hand: the
//! tree forms, carries each message once, and heals when a link fails.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;

type T = Plumtree<u32>;

fn addr() -> SocketAddr {
    "127.0.0.1:9000".parse().unwrap()
}

/// Nodes passing actions by hand, one FIFO queue for every link (equal
/// latencies), timers on a virtual clock.
struct Net {
    nodes: Vec<T>,
    seen: Vec<HashSet<MsgId>>,
    delivered: Vec<Vec<MsgId>>,
    queue: VecDeque<(u32, Action<u32>)>,
    /// Payload frames per (from, to) in the current phase.
    links: HashMap<(u32, u32), usize>,
    now: Instant,
}

impl Net {
    fn new(n: u32, edges: &[(u32, u32)]) -> Net {
        let mut nodes: Vec<T> = (0..n)
            .map(|_| Plumtree::new(PlumtreeConfig::default()))
            .collect();
        for &(a, b) in edges {
            nodes[a as usize].neighbor_up(b);
            nodes[b as usize].neighbor_up(a);
        }
        Net {
            nodes,
            seen: vec![HashSet::new(); n as usize],
            delivered: vec![Vec::new(); n as usize],
            queue: VecDeque::new(),
            links: HashMap::new(),
            now: Instant::now(),
        }
    }

    fn send(&mut self, from: u32, out: Vec<Action<u32>>) {
        self.queue.extend(out.into_iter().map(|a| (from, a)));
    }

    fn broadcast(&mut self, from: u32, id: MsgId) {
        self.links.clear();
        self.seen[from as usize].insert(id);
        self.delivered[from as usize].push(id);
        let mut out = Vec::new();
        self.nodes[from as usize].broadcast(id, addr(), b"payload", &mut out);
        self.send(from, out);
        self.run();
    }

    fn step(&mut self, from: u32, action: Action<u32>) {
        let (now, mut out) = (self.now, Vec::new());
        let to = match &action {
            Action::Push { to, .. }
            | Action::IHave { to, .. }
            | Action::Graft { to, .. }
            | Action::Prune { to } => *to as usize,
        };
        let (node, seen) = (&mut self.nodes[to], &mut self.seen[to]);
        match action {
            Action::Push {
                id, hops, payload, ..
            } => {
                *self.links.entry((from, to as u32)).or_default() += 1;
                let fresh = seen.insert(id);
                if fresh {
                    self.delivered[to].push(id);
                }
                node.on_gossip(from, id, addr(), hops, &payload, fresh, now, &mut out);
            }
            Action::IHave { entries, .. } => {
                node.on_ihave(from, entries.iter().copied(), |i| seen.contains(&i), now)
            }
            Action::Graft { id, .. } => node.on_graft(from, id, now, &mut out),
            Action::Prune { .. } => node.on_prune(from),
        }
        self.send(to as u32, out);
    }

    /// Runs frames and timers for 10 virtual seconds.
    fn run(&mut self) {
        let until = self.now + Duration::from_secs(10);
        loop {
            while let Some((from, a)) = self.queue.pop_front() {
                self.step(from, a);
            }
            let next = self.nodes.iter().filter_map(|n| n.poll_timeout()).min();
            match next {
                Some(t) if t <= until => self.now = self.now.max(t),
                _ => break,
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                    let mut out = Vec::new();
                    let seen = &self.seen[i];
                    self.nodes[i].handle_timeout(self.now, |m| seen.contains(&m), &mut out);
                    self.send(i as u32, out);
                }
            }
        }
        self.now = until;
    }

    fn each_delivered_once(&self, id: MsgId) {
        for (i, d) in self.delivered.iter().enumerate() {
            assert_eq!(
                d.iter().filter(|&&m| m == id).count(),
                1,
                "node {i}: {id:?}"
            );
        }
    }

    fn payload_frames(&self) -> usize {
        self.links.values().sum()
    }

    fn total(&self, f: impl Fn(Counters) -> u64) -> u64 {
        self.nodes.iter().map(|n| f(n.counters())).sum()
    }
}

#[test]
fn twenty_nodes_on_a_ring_with_chords_deliver_once_and_prune_to_a_tree() {
    const N: u32 = 20;
    let edges: Vec<(u32, u32)> = (0..N)
        .flat_map(|i| [(i, (i + 1) % N), (i, (i + 5) % N)])
        .collect();
    let mut net = Net::new(N, &edges);
    let m = |origin, seq| MsgId { origin, seq };

    // The first message floods: everyone gets it once, duplicates prune.
    net.broadcast(0, m(0, 0));
    net.each_delivered_once(m(0, 0));
    assert!(net.payload_frames() > N as usize - 1);
    assert!(net.total(|c| c.pruned) > 0);
    assert_eq!(net.total(|c| c.grafts_sent), 0);

    // Once pruned, only tree links carry payloads: N − 1 frames, no copy.
    net.broadcast(0, m(0, 1));
    net.each_delivered_once(m(0, 1));
    assert_eq!(net.payload_frames(), N as usize - 1);
    assert!(net.links.values().all(|&n| n == 1));

    // Another origin shares the tree; after its first message, N − 1 again.
    net.broadcast(13, m(13, 0));
    net.each_delivered_once(m(13, 0));
    net.broadcast(13, m(13, 1));
    net.each_delivered_once(m(13, 1));
    assert_eq!(net.payload_frames(), N as usize - 1);

    // A tree link fails: the lazy links' IHAVEs and a GRAFT heal the tree.
    let mut tree_links: Vec<(u32, u32)> = net.links.keys().copied().collect();
    tree_links.sort();
    let &(a, b) = tree_links.iter().find(|&&(a, _)| a != 13).unwrap();
    net.nodes[a as usize].neighbor_down(b);
    net.nodes[b as usize].neighbor_down(a);
    let grafts = net.total(|c| c.grafts_sent);
    net.broadcast(13, m(13, 2));
    net.each_delivered_once(m(13, 2));
    assert!(net.total(|c| c.grafts_sent) > grafts);
    assert_eq!(net.total(|c| c.missing_given_up), 0);
    // The healed tree carries the next message alone again.
    net.broadcast(13, m(13, 3));
    net.each_delivered_once(m(13, 3));
    assert_eq!(net.payload_frames(), N as usize - 1);
    assert!(net.delivered.iter().all(|d| d.len() == 6));
}
