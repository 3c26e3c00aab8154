//! Partitions on the simulator's virtual clock: splits held for hours heal,
//! a bootstrap cut off comes back, a node whose bootstrap is down for hours
//! joins when it appears, and a node that left is never retried. The
//! real-time versions on several hosts are in tests/multihost/.

use std::time::Duration;
use std::time::Instant;

use rumor::sim::Sim;

const HOUR: Duration = Duration::from_secs(3600);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn quiet(c: &mut rumor::node::Config) {
    c.period = None;
}

/// Whether nodes `group` are each connected to every other in `group` and
/// to nobody else.
fn mesh_of(sim: &Sim, group: &[usize]) -> bool {
    group.iter().all(|&i| {
        let mut want: Vec<_> = group
            .iter()
            .filter(|&&j| j != i)
            .map(|&j| sim.nodes[j].addr)
            .collect();
        want.sort();
        sim.nodes[i].node.peer_addrs() == want
    })
}

/// Each node of `group` types a line; every other node of `group` prints it
/// once, from the right sender.
fn everyone_hears_everyone(sim: &mut Sim, group: &[usize], tag: &str) {
    for &i in group {
        sim.type_line(i, &format!("{tag} from {i}"));
    }
    sim.run_for(Duration::from_millis(50));
    for &i in group {
        for &j in group.iter().filter(|&&j| j != i) {
            let want = format!(
                "Received message [{tag} from {j}] from \"{}\"",
                sim.nodes[j].addr
            );
            let n = sim.nodes[i].log.iter().filter(|l| **l == want).count();
            assert_eq!(n, 1, "node {i} for {want}: {:?}", sim.nodes[i].log);
        }
    }
}

/// `n` nodes all bootstrapping off node 0, in a full mesh.
fn mesh(seed: u64, n: usize) -> Sim {
    let mut sim = Sim::new(seed, Instant::now());
    sim.add(&[], quiet);
    for _ in 1..n {
        sim.add(&[0], quiet);
    }
    assert!(sim.run_until(secs(5), |s| s.full_mesh()));
    sim
}

#[test]
fn halves_split_for_two_hours_reform_one_network_within_a_minute_of_the_heal() {
    let mut sim = mesh(21, 8);
    let (a, b) = ([0, 1, 2, 3], [4, 5, 6, 7]);
    sim.partition(&[&a, &b]);
    // Keepalives find the cut in 3 s; each half carries on as a mesh.
    assert!(sim.run_until(secs(10), |s| mesh_of(s, &a) && mesh_of(s, &b)));
    let dials_before = sim.dials;
    sim.run_for(2 * HOUR);
    assert!(mesh_of(&sim, &a) && mesh_of(&sim, &b));
    everyone_hears_everyone(&mut sim, &a, "during");
    // Each of the 32 cross pairs is dialed from both ends at most once per
    // 15 s after the quick retries: the cost of waiting is bounded.
    let dials = sim.dials - dials_before;
    let bound = 2 * 16 * (2 * 3600 / 15 + 10);
    assert!(dials <= bound, "{dials} dials in two hours (bound {bound})");
    assert!(
        dials >= 2 * 16 * (2 * 3600 / 30),
        "{dials}: they kept trying"
    );
    sim.heal();
    let healed = sim.now;
    assert!(sim.run_until(secs(60), |s| s.full_mesh()));
    assert!(sim.now - healed <= secs(30), "{:?}", sim.now - healed);
    everyone_hears_everyone(&mut sim, &[0, 1, 2, 3, 4, 5, 6, 7], "after");
}

#[test]
fn a_split_that_comes_and_goes_many_times_always_heals() {
    let mut sim = mesh(22, 6);
    for round in 0..12u64 {
        // Held anywhere from a minute to about three hours.
        let held = secs(60 + round * round * 80);
        sim.partition(&[&[0, 1, 2], &[3, 4, 5]]);
        sim.run_for(held);
        sim.heal();
        assert!(
            sim.run_until(secs(60), |s| s.full_mesh()),
            "round {round}: held {held:?}"
        );
    }
    everyone_hears_everyone(&mut sim, &[0, 1, 2, 3, 4, 5], "end");
}

#[test]
fn a_bootstrap_cut_off_for_five_minutes_is_back_in_every_view_within_a_minute() {
    let mut sim = mesh(23, 6);
    sim.isolate(0);
    let rest = [1, 2, 3, 4, 5];
    assert!(sim.run_until(secs(10), |s| mesh_of(s, &rest) && mesh_of(s, &[0])));
    sim.run_for(secs(300));
    sim.heal();
    assert!(sim.run_until(secs(60), |s| s.full_mesh()));
    everyone_hears_everyone(&mut sim, &[0, 1, 2, 3, 4, 5], "back");
    // The bootstrap saw the departures and the returns on stdout.
    let back = sim.nodes[0]
        .log
        .iter()
        .filter(|l| l.starts_with("Connected to the peer at"))
        .count();
    assert_eq!(back, 5 + 5, "{:?}", sim.nodes[0].log);
}

#[test]
fn the_bootstrap_cut_off_for_hours_comes_back_too() {
    let mut sim = mesh(24, 4);
    sim.isolate(0);
    sim.run_for(5 * HOUR);
    sim.heal();
    assert!(sim.run_until(secs(60), |s| s.full_mesh()));
}

#[test]
fn a_node_whose_only_bootstrap_is_down_for_three_hours_joins_when_it_comes_up() {
    let mut sim = Sim::new(25, Instant::now());
    let boot = Sim::addr_of(0);
    sim.add_at(Sim::addr_of(1), vec![boot], quiet);
    sim.run_for(3 * HOUR);
    // Every try said so on stderr, and they came at most 30 s apart.
    let tries = sim.nodes[0]
        .diag
        .iter()
        .filter(|l| l.contains("cannot reach 127.0.0.1:9000"))
        .count();
    assert!(tries >= 3 * 3600 / 30, "{tries} tries");
    sim.add_at(boot, vec![], quiet);
    assert!(sim.run_until(secs(31), |s| s.full_mesh()));
    sim.run_for(Duration::from_millis(5));
    assert!(
        sim.nodes[0]
            .log
            .contains(&"Connected to the peers at [\"127.0.0.1:9000\"]".into()),
        "{:?}",
        sim.nodes[0].log
    );
}

#[test]
fn a_member_that_left_with_goodbye_is_never_retried() {
    let mut sim = mesh(26, 4);
    sim.shutdown(3);
    sim.run_for(Duration::from_millis(5));
    // A silent loss for comparison: node 2 is cut off, not gone.
    sim.isolate(2);
    let dials = sim.dials;
    sim.run_for(HOUR);
    for n in &sim.nodes[..2] {
        assert!(!n.node.knows(Sim::addr_of(3)), "the leaver is forgotten");
        assert!(n.node.knows(Sim::addr_of(2)), "the cut-off member is kept");
        assert!(n.diag.iter().all(|l| !l.contains("9003")), "{:?}", n.diag);
    }
    // Only nodes 0, 1 and 2 dial each other across the cut.
    let bound = 2 * 2 * (3600 / 15 + 10);
    assert!(sim.dials - dials <= bound, "{} dials", sim.dials - dials);
    sim.heal();
    assert!(sim.run_until(secs(60), |s| mesh_of(s, &[0, 1, 2])));
}

#[test]
fn a_newcomer_in_one_half_is_known_to_the_other_after_the_heal() {
    let mut sim = mesh(27, 4);
    sim.partition(&[&[0, 1], &[2, 3]]);
    sim.run_for(secs(600));
    // Joins the half with node 2 only: the other half never saw it.
    let n = sim.add(&[2], quiet);
    sim.partition(&[&[0, 1], &[2, 3, n]]);
    assert!(sim.run_until(secs(10), |s| mesh_of(s, &[2, 3, n])));
    sim.run_for(HOUR);
    sim.heal();
    assert!(sim.run_until(secs(60), |s| s.full_mesh()));
    everyone_hears_everyone(&mut sim, &[0, 1, 2, 3, n], "all");
}
