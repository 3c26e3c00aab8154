//! Runs a [`Scenario`] on a lean [`Sim`] and measures it ([`Report`]).
//! Every figure is a function of the scenario and its seed: the same seed
//! gives the same report, byte for byte. Wall time and memory are the
//! caller's to measure (`rumor-sim` does).

use std::time::{Duration, Instant};

use super::scenario::{Fault, Scenario, Senders};
use super::{Latency, Loss, Sim, Traffic};
use crate::node::{Config, Stats};

/// What a scenario measured (docs/SIMULATOR.md defines each figure).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub name: String,
    pub nodes: usize,
    /// Messages sent (a sender dead at its time sends nothing).
    pub messages: usize,
    /// Deliveries expected: per message, the nodes alive from its sending
    /// to the end, its origin aside.
    pub expected: u64,
    /// Of those, made.
    pub delivered: u64,
    pub missed: u64,
    /// Every delivery, to any node (a node that later died included).
    pub deliveries: u64,
    /// A node printing a message twice.
    pub duplicates: u64,
    /// Payload frames received by all nodes, duplicates included.
    pub payload_frames: u64,
    /// Relative message redundancy: payload frames / deliveries − 1.
    pub rmr: f64,
    /// Largest hop count of any delivery.
    pub ldh: u8,
    /// Per message, from its sending to its last delivery: median and 99th
    /// percentile (nearest rank) over the messages delivered at all.
    pub last_p50: Option<Duration>,
    pub last_p99: Option<Duration>,
    /// Over the idle window: frames and bytes sent per live node per second.
    pub idle_frames: f64,
    pub idle_bytes: f64,
    /// Nodes up at the end.
    pub alive: usize,
}

impl Report {
    /// The column names of [`Report::row`].
    pub const HEADER: &'static str = "scenario                 nodes  msgs   expected   missed  reliab    RMR  LDH  last-p50  last-p99  idle-fr/s  idle-B/s";

    /// Deliveries made / expected (1 when none were expected).
    pub fn reliability(&self) -> f64 {
        match self.expected {
            0 => 1.0,
            e => self.delivered as f64 / e as f64,
        }
    }

    /// The report as one row under [`Report::HEADER`].
    pub fn row(&self) -> String {
        let ms =
            |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{}ms", d.as_millis()));
        format!(
            "{:<24} {:>6} {:>5} {:>10} {:>8} {:>7.4} {:>6.3} {:>4} {:>9} {:>9} {:>10.2} {:>9.1}",
            self.name,
            self.nodes,
            self.messages,
            self.expected,
            self.missed,
            self.reliability(),
            self.rmr,
            self.ldh,
            ms(self.last_p50),
            ms(self.last_p99),
            self.idle_frames,
            self.idle_bytes,
        )
    }
}

/// Payload frames a node received, duplicates included.
fn payload_frames(s: &Stats) -> u64 {
    s.payload_frames
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Join,
    Heal,
    Partition,
    Kill(usize),
    Leave(usize),
    Churn(bool),
    /// Node `.0` sends its message of round `.1`.
    Send(u32, u32),
    Idle,
}

/// Every action of `sc` with its time, in the order they run.
fn script(sc: &Scenario, senders: &[usize]) -> Vec<(Duration, Action)> {
    let mut s = Vec::new();
    s.extend((1..sc.nodes).map(|i| (sc.join_every * i as u32, Action::Join)));
    let k = senders.len() as u32;
    for (n, &i) in senders.iter().enumerate() {
        let offset = sc.interval * n as u32 / k.max(1);
        for m in 0..sc.messages as u32 {
            s.push((
                sc.first_message() + sc.interval * m + offset,
                Action::Send(i as u32, m),
            ));
        }
    }
    for (f, fault) in sc.faults.iter().enumerate() {
        match *fault {
            Fault::Kill { at, .. } => s.push((at, Action::Kill(f))),
            Fault::Leave { at, .. } => s.push((at, Action::Leave(f))),
            Fault::Partition { at, heal } => {
                s.push((at, Action::Partition));
                s.extend(heal.map(|h| (h, Action::Heal)));
            }
            Fault::Churn {
                percent,
                from,
                to,
                graceful,
            } => {
                let per_min = (sc.nodes as f64 * percent / 100.0).max(1.0);
                let every = Duration::from_secs_f64(60.0 / per_min);
                let mut t = from;
                while t < to {
                    s.push((t, Action::Churn(graceful)));
                    t += every;
                }
            }
        }
    }
    s.push((sc.run - sc.idle, Action::Idle));
    // Same-time actions in the order of `Action`'s kinds.
    s.sort_by_key(|&(t, a)| (t, a));
    s
}

/// `n` distinct nodes of `0..nodes`, drawn with `rng`.
fn pick(rng: &mut fastrand::Rng, mut pool: Vec<usize>, n: usize) -> Vec<usize> {
    let n = n.min(pool.len());
    for i in 0..n {
        let j = rng.usize(i..pool.len());
        pool.swap(i, j);
    }
    pool.truncate(n);
    pool
}

/// Runs `sc` on a virtual clock starting at `start` (any instant: the
/// simulator never reads the clock); see [`run_scenario_with`].
pub fn run_scenario(sc: &Scenario, start: Instant) -> Report {
    run_scenario_with(sc, start, |_| {})
}

/// Runs `sc`, calling `at_idle` as its idle window starts (to measure
/// memory there).
pub fn run_scenario_with(sc: &Scenario, start: Instant, mut at_idle: impl FnMut(&Sim)) -> Report {
    let t0 = start;
    let mut sim = Sim::new(sc.seed, t0).lean();
    // Every node the scenario starts with (churn and restarts add more).
    sim.reserve(sc.nodes);
    let (lo, hi) = sc.rtt;
    sim.set_latency(Latency::PerLink {
        lo: lo / 2,
        hi: hi / 2,
    });
    sim.set_loss(Loss {
        rate: sc.loss,
        rto: sc.rto,
    });
    let peers = sc.peers;
    let tune = move |c: &mut Config| {
        c.period = None;
        if let Some(p) = peers {
            c.max_peers = p;
        }
    };
    let mut rng = fastrand::Rng::with_seed(sc.seed ^ 0x5343_454e);
    let senders = match sc.senders {
        Senders::All => (0..sc.nodes).collect(),
        _ => pick(&mut rng, (0..sc.nodes).collect(), sc.sender_count()),
    };
    sim.add(&[], tune);
    let mut idle_from = (Traffic::default(), 0);
    // Payload frames and deliveries when the warm-up rounds were over.
    let mut warm: Option<(u64, u64)> = None;
    for (at, action) in script(sc, &senders) {
        sim.run_for((t0 + at).saturating_duration_since(sim.now));
        let live = |sim: &Sim| {
            (1..sim.nodes.len())
                .filter(|&i| sim.nodes[i].up)
                .collect::<Vec<_>>()
        };
        match action {
            Action::Join => {
                sim.add(&[0], tune);
            }
            Action::Send(i, round) => {
                let i = i as usize;
                if round == sc.warmup as u32 && warm.is_none() {
                    warm = Some(counted(&sim));
                }
                if sim.nodes[i].up {
                    let now = sim.now;
                    let text = sim
                        .tally
                        .as_mut()
                        .map(|t| t.send(i, now))
                        .unwrap_or_default();
                    sim.type_line(i, &text);
                }
            }
            Action::Kill(f) | Action::Leave(f) => {
                let (Fault::Kill { percent, .. } | Fault::Leave { percent, .. }) = sc.faults[f]
                else {
                    unreachable!("kill and leave actions come from kill and leave faults")
                };
                let live = live(&sim);
                let n = (live.len() as f64 * percent / 100.0).round() as usize;
                for i in pick(&mut rng, live, n) {
                    match action {
                        Action::Kill(_) => sim.kill(i),
                        _ => sim.shutdown(i),
                    }
                }
            }
            Action::Churn(graceful) => {
                if let Some(&i) = pick(&mut rng, live(&sim), 1).first() {
                    if graceful {
                        sim.shutdown(i)
                    } else {
                        sim.kill(i)
                    }
                }
                sim.add(&[0], tune);
            }
            Action::Partition => {
                let n = sim.nodes.len();
                let (a, b): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| i < n / 2);
                sim.partition(&[&a, &b]);
            }
            Action::Heal => sim.heal(),
            Action::Idle => {
                at_idle(&sim);
                idle_from = (sim.traffic(), sim.nodes.iter().filter(|n| n.up).count());
            }
        }
    }
    sim.run_for((t0 + sc.run).saturating_duration_since(sim.now));
    report(sc, &sim, idle_from, warm.unwrap_or_else(|| counted(&sim)))
}

/// Payload frames received by every node, and deliveries, so far.
fn counted(sim: &Sim) -> (u64, u64) {
    let frames = sim
        .nodes
        .iter()
        .map(|n| payload_frames(&n.node.stats()))
        .sum();
    let deliveries = sim.tally.as_ref().map_or(0, |t| t.deliveries());
    (frames, deliveries)
}

fn report(
    sc: &Scenario,
    sim: &Sim,
    (idle_from, idle_nodes): (Traffic, usize),
    (warm_frames, warm_deliveries): (u64, u64),
) -> Report {
    let tally = sim.tally.as_ref().expect("a lean sim has a tally");
    let mut alive = vec![0u64; sim.nodes.len().div_ceil(64)];
    for (j, n) in sim.nodes.iter().enumerate() {
        if n.up {
            alive[j / 64] |= 1 << (j % 64);
        }
    }
    let (mut expected, mut delivered) = (0, 0);
    let mut lasts = Vec::new();
    let mut mask = Vec::with_capacity(alive.len());
    let from = sim.nodes[0].started + sc.measure.unwrap_or_default();
    for m in tally.sent.iter().filter(|m| m.at >= from) {
        // Nodes are added in time order: those there at its sending are a prefix.
        let k = sim.nodes.partition_point(|n| n.started <= m.at);
        mask.clear();
        mask.extend_from_slice(&alive[..k.div_ceil(64)]);
        if k % 64 != 0 {
            *mask.last_mut().expect("k > 0: the origin was there") &= (1u64 << (k % 64)) - 1;
        }
        let o = m.origin as usize;
        let origin_counted = (mask[o / 64] >> (o % 64)) & 1;
        expected += mask.iter().map(|w| w.count_ones() as u64).sum::<u64>() - origin_counted;
        delivered += m.count_in(&mask);
        lasts.extend(m.last.map(|l| l - m.at));
    }
    lasts.sort();
    let rank = |q: f64| -> Option<Duration> {
        let n = lasts.len();
        (n > 0).then(|| lasts[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
    };
    let deliveries = tally.deliveries();
    let payload_frames = sim
        .nodes
        .iter()
        .map(|n| payload_frames(&n.node.stats()))
        .sum();
    let idle = sim.traffic();
    let per = (idle_nodes.max(1) as f64) * sc.idle.as_secs_f64().max(1e-9);
    Report {
        name: sc.name.clone(),
        nodes: sc.nodes,
        messages: tally.sent.len(),
        expected,
        delivered,
        missed: expected - delivered,
        deliveries,
        duplicates: tally.duplicates,
        payload_frames,
        // After the warm-up rounds: the first messages build the tree.
        rmr: match deliveries - warm_deliveries {
            0 => 0.0,
            d => (payload_frames - warm_frames) as f64 / d as f64 - 1.0,
        },
        ldh: tally.max_hops().unwrap_or(0),
        last_p50: rank(0.5),
        last_p99: rank(0.99),
        idle_frames: (idle.frames - idle_from.frames) as f64 / per,
        idle_bytes: (idle.bytes - idle_from.bytes) as f64 / per,
        alive: sim.nodes.iter().filter(|n| n.up).count(),
    }
}
