//! Scratch probe (not committed): 1000 nodes through node 0, one sender.
use std::time::{Duration, Instant};
use rumor::sim::Sim;
fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(1000);
    let t = Instant::now();
    let mut sim = Sim::new(7, Instant::now());
    let tune = |c: &mut rumor::node::Config| c.period = None;
    sim.add(&[], tune);
    for _ in 1..n {
        sim.add(&[0], tune);
        sim.run_for(Duration::from_millis(5));
    }
    sim.run_for(Duration::from_secs(20));
    let degs: Vec<usize> = sim.nodes.iter().map(|x| x.node.peer_count()).collect();
    let mut hist = [0usize; 10];
    for d in &degs { hist[(*d).min(9)] += 1; }
    println!("joined in {:?} wall; degree histogram {:?}", t.elapsed(), hist);
    let before: u64 = sim.nodes.iter().map(|x| x.node.stats().payload_frames).sum();
    for k in 0..20 {
        sim.type_line(5, &format!("m{k}"));
        sim.run_for(Duration::from_millis(100));
    }
    sim.run_for(Duration::from_secs(3));
    let after: u64 = sim.nodes.iter().map(|x| x.node.stats().payload_frames).sum();
    let mut missed = 0; let mut ldh = 0; let mut dup = 0;
    for (i, x) in sim.nodes.iter().enumerate() {
        if i == 5 { continue; }
        for k in 0..20 {
            let want = format!("Received message [m{k}] from \"{}\"", sim.nodes[5].addr);
            let c = x.log.iter().filter(|l| **l == want).count();
            if c == 0 { missed += 1; } else if c > 1 { dup += 1; }
        }
        let _ = &mut ldh;
    }
    let deliveries = (n as u64 - 1) * 20 - missed as u64;
    println!("missed {missed} dup {dup} payload frames {} RMR {:.3} wall {:?}", after - before, (after - before) as f64 / deliveries as f64 - 1.0, t.elapsed());
    let diag: usize = sim.nodes.iter().map(|x| x.diag.len()).sum();
    println!("diag lines {diag}; e.g. {:?}", sim.nodes.iter().flat_map(|x| x.diag.iter()).take(5).collect::<Vec<_>>());
}
