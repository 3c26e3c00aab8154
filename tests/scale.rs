//! 50 real processes with `--max-peers 4`, all joining through the first:
//! a line from the newest node and a line from the first reach all 50,
//! each exactly once (issue 11, part 7). Each node keeps at most 4 peers,
//! so most lines arrive relayed, and each `Received` line must still name
//! the node that wrote it.
//!
//! Every wait is on a line the nodes print, with a deadline; none sleeps.
//!
//! `RUMOR_SCALE_MAX_PEERS` (a number, or `none` to pass no `--max-peers`)
//! changes the cap, for checking this harness against a core without
//! relaying; unset, the test asserts the requirement.

use std::time::Duration;

use rumor::harness::swarm::{Sent, Spec, Stderr, Swarm};

const NODES: usize = 50;

/// The deadline of each wait (a node's address, its join, a delivery):
/// generous for a loaded machine, and a passing wait returns at once.
const WAIT: Duration = Duration::from_secs(30);

fn max_peers_args() -> Vec<String> {
    match std::env::var("RUMOR_SCALE_MAX_PEERS").ok().as_deref() {
        None | Some("") => vec!["--max-peers".into(), "4".into()],
        Some("none") => {
            eprintln!("scale: RUMOR_SCALE_MAX_PEERS=none, no --max-peers");
            Vec::new()
        }
        Some(n) => {
            eprintln!("scale: RUMOR_SCALE_MAX_PEERS={n}, not the issue's 4");
            vec!["--max-peers".into(), n.into()]
        }
    }
}

/// Waits for `sent` at every other node; panics naming the nodes it missed.
fn reach_all(swarm: &Swarm, sent: &Sent) {
    let at = swarm.deliveries(sent, WAIT);
    let missed: Vec<String> = (0..swarm.len())
        .filter(|&j| j != sent.from && at[j].is_none())
        .map(|j| {
            format!(
                "node {j} {}: {}",
                swarm.members[j].name(),
                swarm.members[j].tails()
            )
        })
        .collect();
    assert!(
        missed.is_empty(),
        "{:?} from node {} did not reach {} of {} nodes within {WAIT:?}:\n{}",
        sent.text,
        sent.from,
        missed.len(),
        swarm.len() - 1,
        missed.join("\n")
    );
}

/// Each node other than the writer printed `sent` exactly once, naming
/// the writer; the writer printed no `Received` line for it.
fn exactly_once(swarm: &Swarm, sent: &Sent) {
    let writer = swarm.members[sent.from].name();
    for j in 0..swarm.len() {
        let got = swarm.received(j, &sent.text);
        let want = if j == sent.from {
            Vec::new()
        } else {
            vec![writer.clone()]
        };
        assert_eq!(
            got,
            want,
            "node {j} {}: the `Received` lines for {:?} (written by node {} {writer})",
            swarm.members[j].name(),
            sent.text,
            sent.from
        );
    }
}

#[test]
fn a_line_from_the_newest_and_from_the_first_reach_all_fifty_once() {
    let spec = Spec {
        bin: env!("CARGO_BIN_EXE_rumor").into(),
        nodes: NODES,
        args: max_peers_args(),
        window: 8,
        pace: Duration::ZERO,
        stderr: Stderr::Collect,
        limit: WAIT,
    };
    let mut swarm = Swarm::start(&spec).unwrap_or_else(|e| panic!("starting {NODES} nodes: {e}"));
    let newest = swarm.len() - 1;
    let from_newest = swarm.type_line(newest, "from the newest").unwrap();
    reach_all(&swarm, &from_newest);
    let from_first = swarm.type_line(0, "from the first").unwrap();
    reach_all(&swarm, &from_first);
    // Duplicates are counted once a later line from each writer has
    // reached everyone: a duplicate printed after that would also break
    // the order in which a node prints one origin's lines.
    let after_newest = swarm.type_line(newest, "after the newest").unwrap();
    let after_first = swarm.type_line(0, "after the first").unwrap();
    reach_all(&swarm, &after_newest);
    reach_all(&swarm, &after_first);
    for sent in [&from_newest, &from_first, &after_newest, &after_first] {
        exactly_once(&swarm, sent);
    }
}
