//! Gates of the partial-view overlay, run on the simulator of the real
//! core (`rumor::sim`): 1,000 nodes, every one joining through node 0,
//! 10–50 ms links. Deterministic: the same seed, the same report.

use std::time::{Duration, Instant};

use rumor::sim::scenario::{Fault, Senders};
use rumor::sim::{Report, Scenario, run_scenario};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// 1,000 nodes joining 1 ms apart; messages start at 11 s, the overlay
/// settled.
fn thousand(name: &str) -> Scenario {
    let mut sc = Scenario::new(name);
    sc.nodes = 1000;
    sc.start = Some(secs(11));
    sc
}

fn run(sc: &Scenario) -> Report {
    let r = run_scenario(sc, Instant::now());
    eprintln!("{r:?}");
    r
}

#[test]
fn one_sender_at_a_thousand_nodes_reaches_all_once_along_a_tree() {
    let mut sc = thousand("one-sender");
    sc.senders = Senders::Count(1);
    sc.messages = 10;
    sc.run = secs(35);
    let r = run(&sc);
    assert_eq!(r.expected, 999 * 10);
    assert_eq!(r.missed, 0, "{r:?}");
    // After the first message (which builds the tree), payloads travel
    // the tree's links only.
    assert!(r.rmr <= 0.1, "RMR {}", r.rmr);
    assert!(r.ldh <= 10, "LDH {}", r.ldh);
}

#[test]
fn after_a_fifth_of_the_nodes_die_at_once_every_survivor_gets_every_later_message() {
    let mut sc = thousand("kill-20pc");
    sc.senders = Senders::Count(5);
    sc.messages = 12;
    sc.faults = vec![Fault::Kill {
        percent: 20.0,
        at: secs(16),
    }];
    // Repair: a dead peer is noticed by its keepalive timeout (3 s) at
    // the latest; until then IHAVE and GRAFT route around it. Messages
    // from 2 s after the kill on count.
    sc.measure = Some(secs(18));
    sc.run = secs(40);
    let r = run(&sc);
    assert_eq!(r.alive, 1000 - 200);
    assert!(r.expected >= 799 * 5 * 4, "{r:?}");
    assert_eq!(r.missed, 0, "{r:?}");
}

#[test]
fn halves_cut_apart_for_ten_seconds_are_one_overlay_again_after_the_heal() {
    let mut sc = thousand("partition");
    sc.senders = Senders::Count(5);
    sc.messages = 20;
    sc.faults = vec![Fault::Partition {
        at: secs(14),
        heal: Some(secs(24)),
    }];
    // Messages from 3 s after the heal on reach both halves.
    sc.measure = Some(secs(27));
    sc.run = secs(45);
    let r = run(&sc);
    assert!(r.expected >= 999 * 5 * 3, "{r:?}");
    assert_eq!(r.missed, 0, "{r:?}");
}
