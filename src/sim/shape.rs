//! The overlay's shape at one moment: how the live nodes' active views and
//! eager (tree) links connect them, seen from one node. `rumor-sim
//! --shape` prints it at the start of each scenario's idle window, to
//! tell a deep overlay (a long shortest path) from a deep tree (long
//! paths on tree links over a shallow overlay).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use super::Sim;

/// Breadth-first distances from one node, over the active views and over
/// the eager links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The node measured from.
    pub root: usize,
    /// Live nodes.
    pub live: usize,
    /// Smallest and largest active view of a live node, and the mean ×100.
    pub degree: (usize, usize, usize),
    /// Live nodes reachable from `root` over active links, and the
    /// largest distance to one (its eccentricity).
    pub reach: (usize, usize),
    /// The same over eager links (pushes from a node to its eager peers).
    pub eager_reach: (usize, usize),
}

impl Shape {
    /// Three live nodes to measure from: the first, the first at or after
    /// the middle, and the last (none if every node is down; fewer if
    /// they coincide).
    pub fn roots(sim: &Sim) -> Vec<usize> {
        let up = |i: &usize| sim.nodes[*i].up;
        let n = sim.nodes.len();
        let mut roots: Vec<usize> = [(0..n).find(up), (n / 2..n).find(up), (0..n).rev().find(up)]
            .into_iter()
            .flatten()
            .collect();
        roots.dedup();
        roots
    }

    /// The shape of `sim`'s overlay seen from node `root`.
    pub fn of(sim: &Sim, root: usize) -> Shape {
        let index: HashMap<SocketAddr, usize> = sim
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.up)
            .map(|(i, n)| (n.addr, i))
            .collect();
        let edges = |eager: bool| -> Vec<Vec<usize>> {
            sim.nodes
                .iter()
                .map(|n| {
                    if !n.up {
                        return Vec::new();
                    }
                    let peers: Vec<SocketAddr> = if eager {
                        n.node.tree().eager().collect()
                    } else {
                        n.node.peer_addrs()
                    };
                    peers.iter().filter_map(|a| index.get(a).copied()).collect()
                })
                .collect()
        };
        let active = edges(false);
        let live = index.len();
        let degrees = || {
            active
                .iter()
                .zip(&sim.nodes)
                .filter(|(_, n)| n.up)
                .map(|(e, _)| e.len())
        };
        let degree = (
            degrees().min().unwrap_or(0),
            degrees().max().unwrap_or(0),
            degrees().sum::<usize>() * 100 / live.max(1),
        );
        Shape {
            root,
            live,
            degree,
            reach: bfs(&active, root),
            eager_reach: bfs(&edges(true), root),
        }
    }

    /// One line: `shape from N: L live, degree MIN..MAX (mean M), ...`.
    pub fn line(&self) -> String {
        format!(
            "shape from node {}: {} live, active views {}..{} (mean {}.{:02}), \
             {} reachable at most {} hops away, {} over eager links at most {}",
            self.root,
            self.live,
            self.degree.0,
            self.degree.1,
            self.degree.2 / 100,
            self.degree.2 % 100,
            self.reach.0,
            self.reach.1,
            self.eager_reach.0,
            self.eager_reach.1,
        )
    }
}

/// Nodes reachable from `root` (itself included) and the largest distance.
fn bfs(edges: &[Vec<usize>], root: usize) -> (usize, usize) {
    let mut dist = vec![usize::MAX; edges.len()];
    let mut q = VecDeque::from([root]);
    dist[root] = 0;
    let (mut n, mut far) = (0, 0);
    while let Some(i) = q.pop_front() {
        n += 1;
        far = far.max(dist[i]);
        for &j in &edges[i] {
            if dist[j] == usize::MAX {
                dist[j] = dist[i] + 1;
                q.push_back(j);
            }
        }
    }
    (n, far)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Sim;
    use std::time::{Duration, Instant};

    #[test]
    fn breadth_first_distances_count_hops_and_reach() {
        // 0 - 1 - 2 - 3, and 4 alone.
        let edges = vec![vec![1], vec![0, 2], vec![1, 3], vec![2], vec![]];
        assert_eq!(bfs(&edges, 0), (4, 3));
        assert_eq!(bfs(&edges, 1), (4, 2));
        assert_eq!(bfs(&edges, 4), (1, 0));
    }

    #[test]
    fn a_full_mesh_of_three_is_one_hop_deep() {
        let mut sim = Sim::new(3, Instant::now());
        sim.add(&[], |_| {});
        sim.add(&[0], |_| {});
        sim.add(&[0], |_| {});
        assert!(sim.run_until(Duration::from_secs(10), |s| s.full_mesh()));
        let s = Shape::of(&sim, 0);
        assert_eq!((s.live, s.degree, s.reach), (3, (2, 2, 200), (3, 1)));
        assert!(s.eager_reach.0 == 3 && s.eager_reach.1 == 1, "{s:?}");
        assert!(s.line().starts_with("shape from node 0: 3 live, active views 2..2 (mean 2.00), 3 reachable at most 1 hops away"));
    }

    #[test]
    fn the_roots_measured_from_are_live_nodes() {
        let mut sim = Sim::new(5, Instant::now());
        sim.add(&[], |_| {});
        for _ in 1..5 {
            sim.add(&[0], |_| {});
        }
        assert_eq!(Shape::roots(&sim), vec![0, 2, 4]);
        sim.kill(0);
        sim.kill(2);
        sim.kill(4);
        assert_eq!(Shape::roots(&sim), vec![1, 3]);
        sim.kill(1);
        sim.kill(3);
        assert!(Shape::roots(&sim).is_empty());
    }
}
