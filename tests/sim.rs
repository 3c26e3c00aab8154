//! The sans-IO core driven in memory: many nodes, a virtual clock, a seeded
//! RNG. Every run is identical, so these assert exact outcomes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rumor::sim::{Latency, Loss, Sim};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn period(p: Option<u64>) -> impl Fn(&mut rumor::node::Config) + Copy {
    move |c| c.period = p.map(Duration::from_millis)
}

/// Like [`period`], with an active view of `max` peers.
fn view(p: Option<u64>, max: usize) -> impl Fn(&mut rumor::node::Config) + Copy {
    move |c| {
        c.period = p.map(Duration::from_millis);
        c.max_peers = max;
    }
}

/// Every (sender, receiver, text) a `Sending` line promises, as a multiset,
/// must equal every (sender, receiver, text) a `Received` line shows.
fn check_exactly_once(sim: &Sim) -> usize {
    let mut promised: HashMap<(String, String, String), i64> = HashMap::new();
    for n in &sim.nodes {
        let me = format!("\"{}\"", n.addr);
        for line in &n.log {
            if let Some(rest) = line.strip_prefix("Sending message [") {
                let (text, to) = rest.rsplit_once("] to [").unwrap();
                let to = to.strip_suffix(']').unwrap();
                for peer in to.split(", ").filter(|p| !p.is_empty()) {
                    *promised
                        .entry((me.clone(), peer.to_string(), text.to_string()))
                        .or_default() += 1;
                }
            }
            if let Some(rest) = line.strip_prefix("Received message [") {
                let (text, from) = rest.rsplit_once("] from ").unwrap();
                *promised
                    .entry((from.to_string(), me.clone(), text.to_string()))
                    .or_default() -= 1;
            }
        }
    }
    let wrong: Vec<_> = promised.iter().filter(|(_, n)| **n != 0).collect();
    assert!(wrong.is_empty(), "sent and received differ: {wrong:?}");
    promised.len()
}

/// Three nodes joined through the first, each tuned by `tune`; returns
/// once they form a full mesh.
fn three_node_mesh(sim: &mut Sim, tune: impl Fn(&mut rumor::node::Config) + Copy) {
    for i in 0..3 {
        let boot: &[usize] = if i == 0 { &[] } else { &[0] };
        sim.add(boot, tune);
    }
    assert!(sim.run_until(secs(1), |s| s.full_mesh()));
}

#[test]
fn third_node_joins_through_the_first_and_the_mesh_is_full_at_once() {
    let mut sim = Sim::new(1, Instant::now());
    sim.add(&[], period(Some(5000)));
    sim.add(&[0], period(Some(6000)));
    assert!(sim.run_until(Duration::from_millis(50), |s| s.full_mesh()));
    sim.add(&[0], period(Some(7000)));
    let start = sim.now;
    assert!(sim.run_until(Duration::from_millis(50), |s| s.full_mesh()));
    // Join, welcome list, dial and handshake: a few 200 µs latencies. An
    // acceptor's hello waits for the dialer's first byte (it may be a text
    // host's), which made this 1.2 ms from 1 ms.
    assert_eq!(sim.now - start, Duration::from_micros(1200));
    assert_eq!(
        sim.nodes[2].log[..2],
        [
            "My address is \"127.0.0.1:9002\"",
            "Connected to the peers at [\"127.0.0.1:9000\", \"127.0.0.1:9001\"]"
        ]
    );
    assert_eq!(
        sim.nodes[1].log[1],
        "Connected to the peers at [\"127.0.0.1:9000\"]"
    );
    assert!(
        sim.nodes[0]
            .log
            .contains(&"Connected to the peer at \"127.0.0.1:9002\"".into())
    );
    sim.run_for(secs(30));
    let pairs = check_exactly_once(&sim);
    // Six ordered pairs, each with five distinct messages in 30 s (the
    // periods are 5, 6 and 7 s: 6 + 5 + 4 sends to two peers each).
    assert_eq!(pairs, 30, "distinct (sender, receiver, text) deliveries");
    for n in &sim.nodes {
        assert_eq!(n.node.conn_count(), 2, "exactly one connection per pair");
    }
}

#[test]
fn twenty_nodes_joining_one_hub_form_a_full_mesh_when_the_view_holds_them() {
    let mut sim = Sim::new(2, Instant::now());
    sim.add(&[], view(Some(1000), 19));
    for _ in 1..20 {
        sim.add(&[0], view(Some(1000), 19));
    }
    assert!(sim.run_until(Duration::from_millis(100), |s| s.full_mesh()));
    sim.run_for(secs(5));
    assert!(sim.full_mesh());
    for n in &sim.nodes {
        assert_eq!(n.node.conn_count(), 19, "{}", n.addr);
    }
    check_exactly_once(&sim);
}

#[test]
fn joining_through_any_member_reaches_everyone() {
    let mut sim = Sim::new(3, Instant::now());
    sim.add(&[], period(None));
    sim.add(&[0], period(None));
    sim.add(&[1], period(None));
    sim.add(&[2], period(None));
    assert!(sim.run_until(Duration::from_millis(50), |s| s.full_mesh()));
}

#[test]
fn nodes_dialing_each_other_at_once_keep_exactly_one_connection() {
    let mut sim = Sim::new(4, Instant::now());
    let a = Sim::addr_of(0);
    let b = Sim::addr_of(1);
    sim.add_at(a, vec![b], period(Some(700)));
    sim.add_at(b, vec![a], period(Some(900)));
    sim.add(&[0], period(Some(800)));
    assert!(sim.run_until(secs(5), |s| s.full_mesh()));
    sim.run_for(secs(20));
    for n in &sim.nodes {
        assert_eq!(n.node.conn_count(), 2, "{}: {:?}", n.addr, n.log);
    }
    check_exactly_once(&sim);
}

#[test]
fn a_duplicates_goodbye_ahead_of_the_hello_it_answers_loses_no_peer() {
    // Seed 817: node 1's dial to node 3 loses its SYN (1 s late), so node
    // 3's dial to node 1 becomes their link at 0.705 s. At 1.0046 s node
    // 1's dial arrives; node 3 keeps it (the smaller id dialed it) and
    // says GOODBYE(duplicate) on the link, which reaches node 1 while node
    // 3's hello on the dial is 200 ms late (a lost batch). The link was
    // taken for lost ("it kept another connection that is gone") and the
    // pair reconnected at 1.2046 s; now it stays node 1's link to node 3
    // until that hello hands the peer over.
    let mut sim = Sim::new(817, Instant::now());
    sim.set_latency(Latency::PerLink {
        lo: Duration::from_micros(100),
        hi: Duration::from_millis(2),
    });
    sim.set_loss(Loss {
        rate: 0.05,
        rto: Duration::from_millis(200),
    });
    for i in 0..4 {
        let boot: &[usize] = if i == 0 { &[] } else { &[0] };
        sim.add(boot, period(None));
    }
    // Between the goodbye and the hello: both connections open, the
    // peer still in the active view.
    sim.run_for(Duration::from_millis(1100));
    assert!(
        !sim.nodes[1]
            .log
            .iter()
            .any(|l| l.starts_with("Disconnected")),
        "{:?}",
        sim.nodes[1].log
    );
    let n1 = &sim.nodes[1].node;
    assert_eq!(
        (n1.peer_count(), n1.conn_count()),
        (3, 4),
        "the race this test is about did not happen: {:?}",
        sim.nodes[1].log
    );
    sim.run_for(Duration::from_millis(3900));
    for (i, n) in sim.nodes.iter().enumerate() {
        assert!(
            !n.log.iter().any(|l| l.starts_with("Disconnected")),
            "node {i}: {:?}",
            n.log
        );
        assert_eq!(n.node.conn_count(), 3, "node {i}: one connection per pair");
    }
    assert!(sim.full_mesh());
    sim.type_line(1, "after the race");
    sim.run_for(secs(2));
    for i in [0, 2, 3] {
        let got: Vec<_> = received(&sim, i)
            .into_iter()
            .filter(|(t, _)| t == "after the race")
            .collect();
        assert_eq!(got.len(), 1, "node {i}: {:?}", sim.nodes[i].log);
    }
    check_exactly_once(&sim);
}

#[test]
fn stdin_lines_reach_every_peer_once() {
    let mut sim = Sim::new(5, Instant::now());
    sim.add(&[], period(None));
    sim.add(&[0], period(None));
    sim.add(&[0], period(None));
    assert!(sim.run_until(secs(1), |s| s.full_mesh()));
    sim.type_line(1, "hello from one");
    sim.type_line(2, "tab\there \u{1b}[31m");
    sim.run_for(secs(1));
    assert!(
        sim.nodes[0]
            .log
            .contains(&"Received message [hello from one] from \"127.0.0.1:9001\"".into())
    );
    assert!(
        sim.nodes[2]
            .log
            .contains(&"Received message [hello from one] from \"127.0.0.1:9001\"".into())
    );
    // Control characters are escaped, never printed raw.
    let escaped = "Received message [tab\\there \\u{1b}[31m] from \"127.0.0.1:9002\"";
    assert!(
        sim.nodes[0].log.contains(&escaped.into()),
        "{:?}",
        sim.nodes[0].log
    );
    assert_eq!(check_exactly_once(&sim), 4);
}

#[test]
fn a_peer_dying_silently_is_dropped_by_keepalive_and_the_rest_carry_on() {
    let mut sim = Sim::new(6, Instant::now());
    three_node_mesh(&mut sim, period(Some(1000)));
    sim.kill(0);
    let killed_at = sim.now;
    let gone = "Disconnected from the peer at \"127.0.0.1:9000\" (silent too long)";
    assert!(sim.run_until(secs(10), |s| {
        s.nodes[1..].iter().all(|n| n.log.iter().any(|l| l == gone))
    }));
    let took = sim.now - killed_at;
    // The keepalive timeout (3 s) after the last frame it heard, seen on
    // the wheel's 1 ms ticks: exactly this on the simulator's clock.
    assert_eq!(
        took,
        Duration::from_micros(2_999_800),
        "detected after {took:?}"
    );
    // The two survivors keep exchanging.
    let before = sim.nodes[1].node.stats().messages_received;
    sim.run_for(secs(5));
    // One random message a second from the other survivor.
    assert_eq!(sim.nodes[1].node.stats().messages_received - before, 5);
    assert_eq!(sim.nodes[1].node.peer_addrs(), vec![Sim::addr_of(2)]);
}

#[test]
fn a_killed_bootstrap_node_restarted_is_heard_again() {
    let mut sim = Sim::new(7, Instant::now());
    three_node_mesh(&mut sim, period(Some(1000)));
    sim.kill(0);
    sim.run_for(secs(5));
    sim.add_at(Sim::addr_of(0), vec![], period(Some(1000)));
    assert!(
        sim.run_until(secs(15), |s| s.full_mesh()),
        "{:?}",
        sim.nodes[1].log
    );
    sim.run_for(secs(5));
    let heard = "from \"127.0.0.1:9000\"";
    let n = sim.nodes[1]
        .log
        .iter()
        .rev()
        .take_while(|l| !l.starts_with("Connected"))
        .filter(|l| l.ends_with(heard))
        .count();
    // Its 1 s period, over the 5 s after the mesh re-formed.
    assert_eq!(n, 5, "{:?}", sim.nodes[1].log);
}

#[test]
fn an_unreachable_bootstrap_is_retried_with_backoff_until_it_appears() {
    let mut sim = Sim::new(8, Instant::now());
    sim.add_at(Sim::addr_of(1), vec![Sim::addr_of(0)], period(None));
    sim.run_for(secs(20));
    let tries = sim.nodes[0]
        .diag
        .iter()
        .filter(|l| l.contains("cannot reach 127.0.0.1:9000"))
        .count();
    // 250ms doubling up to 10s, jittered over the upper half of each step
    // (so between 4 and 8 tries in 20s); this seed's draws give 7.
    assert_eq!(tries, 7, "{:?}", sim.nodes[0].diag);
    sim.add_at(Sim::addr_of(0), vec![], period(None));
    assert!(sim.run_until(secs(11), |s| s.full_mesh()));
    sim.run_for(Duration::from_millis(5));
    assert!(
        sim.nodes[0]
            .log
            .contains(&"Connected to the peers at [\"127.0.0.1:9000\"]".into())
    );
}

#[test]
fn shutdown_says_goodbye_and_is_not_redialed() {
    let mut sim = Sim::new(9, Instant::now());
    three_node_mesh(&mut sim, period(None));
    sim.shutdown(2);
    sim.run_for(Duration::from_millis(1));
    for n in &sim.nodes[..2] {
        assert_eq!(
            n.log.last().unwrap(),
            "Disconnected from the peer at \"127.0.0.1:9002\" (it left)"
        );
    }
    sim.run_for(secs(30));
    for n in &sim.nodes[..2] {
        assert!(n.diag.iter().all(|l| !l.contains("9002")), "{:?}", n.diag);
        assert_eq!(n.node.known_count(), 1);
    }
}

#[test]
fn an_overlong_stdin_line_is_refused_and_the_next_one_still_goes() {
    let mut sim = Sim::new(10, Instant::now());
    sim.add(&[], period(None));
    sim.add(&[0], |c| {
        c.period = None;
        c.max_line = 10;
    });
    assert!(sim.run_until(secs(1), |s| s.full_mesh()));
    sim.type_line(1, "this line is far too long");
    sim.type_line(1, "short");
    sim.run_for(secs(1));
    assert_eq!(
        sim.nodes[1].diag,
        ["stdin line of 25 bytes is over the 10-byte limit; not sent"]
    );
    assert!(
        sim.nodes[0]
            .log
            .contains(&"Received message [short] from \"127.0.0.1:9001\"".into())
    );
}

#[test]
fn a_newcomer_to_a_fifty_node_mesh_is_connected_to_all_within_a_few_round_trips() {
    let mut sim = Sim::new(11, Instant::now());
    sim.add(&[], view(None, 50));
    for _ in 1..50 {
        sim.add(&[0], view(None, 50));
        assert!(sim.run_until(secs(2), |s| s.full_mesh()));
    }
    sim.add(&[0], view(None, 50));
    let start = sim.now;
    let sent_before = sim.deliveries;
    assert!(sim.run_until(secs(2), |s| s.full_mesh()));
    // Frames for the join grow with the mesh, not with its square: 249 =
    // the welcome, a FORWARD_JOIN to each of the 48 other members, 48
    // hellos each way as each of them dials the newcomer (they all have
    // room), each side's peer list on each new link, and a shuffle sample.
    let frames = sim.deliveries - sent_before;
    assert_eq!(frames, 249, "frames for one join");
    // JOIN, FORWARD_JOIN, the walk's dial and its handshake: a few 200 µs
    // latencies, all walks at once.
    let took = sim.now - start;
    assert_eq!(took.as_micros(), 1200, "{took:?}");
    assert!(sim.nodes.iter().all(|n| n.node.conn_count() == 50));
}

/// Whether node `i` is done joining and reading stdin, and a line it types
/// reaches every peer once.
fn reads_stdin_and_is_heard(sim: &mut Sim, i: usize, line: &str) {
    assert!(
        sim.nodes[i].node.wants_stdin(),
        "node {i} still joining, stdin not read: {:?} {:?}",
        sim.nodes[i].log,
        sim.nodes[i].diag
    );
    sim.type_line(i, line);
    sim.run_for(Duration::from_millis(50));
    let want = format!("Received message [{line}] from \"{}\"", sim.nodes[i].addr);
    for (j, n) in sim.nodes.iter().enumerate() {
        if j != i && n.up {
            assert_eq!(n.log.iter().filter(|l| **l == want).count(), 1, "{j}");
        }
    }
}

#[test]
fn two_nodes_bootstrapping_off_each_other_both_finish_joining() {
    // The duplicate connection is resolved, and the survivor's welcome may
    // arrive on the connection the other node dialed: it still counts.
    let mut sim = Sim::new(4, Instant::now());
    let (a, b) = (Sim::addr_of(0), Sim::addr_of(1));
    sim.add_at(a, vec![b], period(None));
    sim.add_at(b, vec![a], period(None));
    assert!(sim.run_until(secs(5), |s| s.full_mesh()));
    assert!(sim.run_until(secs(5), |s| s.nodes.iter().all(|n| n.node.wants_stdin())));
    for (i, other) in [(0, b), (1, a)] {
        let line = format!("Connected to the peers at [\"{other}\"]");
        assert!(sim.nodes[i].log.contains(&line), "{:?}", sim.nodes[i].log);
    }
    reads_stdin_and_is_heard(&mut sim, 0, "from a");
    reads_stdin_and_is_heard(&mut sim, 1, "from b");
}

#[test]
fn a_node_whose_bootstrap_is_down_finishes_joining_when_a_peer_joins_it() {
    let mut sim = Sim::new(7, Instant::now());
    sim.add_at(Sim::addr_of(0), vec![Sim::addr_of(5)], period(None));
    sim.run_for(Duration::from_millis(100));
    assert!(!sim.nodes[0].node.wants_stdin(), "joining: stdin waits");
    sim.add(&[0], period(None));
    assert!(sim.run_until(secs(5), |s| s.full_mesh()));
    assert!(sim.run_until(secs(5), |s| s.nodes[0].node.wants_stdin()));
    reads_stdin_and_is_heard(&mut sim, 0, "the first node speaks");
}

#[test]
fn a_notifier_sends_its_lines_says_goodbye_and_every_peer_confirms() {
    let mut sim = Sim::new(12, Instant::now());
    three_node_mesh(&mut sim, period(None));
    let n = sim.add(&[1], |c| {
        c.period = None;
        c.exit_on_eof = true;
    });
    // Lines piped in at once; stdin ends before the join is done.
    sim.type_line(n, "deploy done");
    sim.type_line(n, "all green");
    sim.close_stdin(n);
    assert!(sim.nodes[n].node.departed().is_none(), "waits for its join");
    assert!(sim.run_until(secs(2), |s| s.nodes[n].node.departed().is_some()));
    let o = sim.nodes[n].node.departed().unwrap().clone();
    assert_eq!(
        (o.confirmed, o.unconfirmed.len(), o.lines_dropped),
        (3, 0, 0)
    );
    assert!(o.complete());
    sim.kill(n);
    sim.run_for(secs(10));
    let me = format!("\"{}\"", Sim::addr_of(n));
    for peer in &sim.nodes[..3] {
        for text in ["deploy done", "all green"] {
            let line = format!("Received message [{text}] from {me}");
            assert_eq!(
                peer.log.iter().filter(|l| **l == line).count(),
                1,
                "{:?}",
                peer.log
            );
        }
        let left = format!("Disconnected from the peer at {me} (it left)");
        assert!(peer.log.contains(&left), "{:?}", peer.log);
        // A member that left with a goodbye is not redialed.
        assert!(!peer.node.knows(Sim::addr_of(n)));
    }
    // The notifier prints no disconnection of its own: it is the one leaving.
    assert!(
        !sim.nodes[n]
            .log
            .iter()
            .any(|l| l.starts_with("Disconnected"))
    );
}

#[test]
fn a_notifier_names_a_peer_that_never_confirmed() {
    let mut sim = Sim::new(13, Instant::now());
    sim.add(&[], period(None));
    sim.add(&[0], period(None));
    assert!(sim.run_until(secs(1), |s| s.full_mesh()));
    let n = sim.add(&[0], |c| {
        c.period = None;
        c.exit_on_eof = true;
    });
    assert!(sim.run_until(secs(1), |s| s.full_mesh()));
    // Node 1 freezes: it neither reads nor closes.
    sim.kill(1);
    sim.type_line(n, "hello");
    sim.close_stdin(n);
    let start = sim.now;
    assert!(sim.run_until(secs(10), |s| s.nodes[n].node.departed().is_some()));
    let o = sim.nodes[n].node.departed().unwrap().clone();
    assert_eq!(o.confirmed, 1);
    assert_eq!(o.unconfirmed, vec![Sim::addr_of(1)]);
    assert!(!o.complete());
    // Silent for 3 s (the keepalive timeout, seen at the wheel's 1 ms
    // resolution) ends the wait before the 5 s leave timeout does.
    assert_eq!(sim.now - start, Duration::from_micros(3_000_800));
}

#[test]
fn a_notifier_whose_bootstrap_is_down_gives_up_after_the_join_timeout() {
    let mut sim = Sim::new(14, Instant::now());
    let n = sim.add_at(Sim::addr_of(5), vec![Sim::addr_of(0)], |c| {
        c.period = None;
        c.exit_on_eof = true;
    });
    sim.type_line(n, "nobody hears this");
    sim.close_stdin(n);
    assert!(sim.run_until(secs(30), |s| s.nodes[n].node.departed().is_some()));
    assert_eq!(sim.now.duration_since(sim.nodes[n].started), secs(10));
    let o = sim.nodes[n].node.departed().unwrap();
    assert_eq!((o.confirmed, o.lines_dropped), (0, 1));
    assert!(
        sim.nodes[n]
            .diag
            .iter()
            .any(|d| d.contains("did not finish in 10s"))
    );
    assert!(
        sim.nodes[n]
            .diag
            .iter()
            .any(|d| d == "no peers connected; line not sent")
    );
}

/// Every node's `Received` lines, as (text, from) pairs.
fn received(sim: &Sim, i: usize) -> Vec<(String, String)> {
    sim.nodes[i]
        .log
        .iter()
        .filter_map(|l| l.strip_prefix("Received message ["))
        .map(|r| {
            let (t, f) = r.rsplit_once("] from ").unwrap();
            (t.to_string(), f.to_string())
        })
        .collect()
}

#[test]
fn forty_nodes_with_views_of_four_relay_every_line_to_everyone_once_in_order() {
    let mut sim = Sim::new(21, Instant::now());
    sim.add(&[], view(None, 4));
    for _ in 1..40 {
        sim.add(&[0], view(None, 4));
        sim.run_for(Duration::from_millis(20));
    }
    sim.run_for(secs(2));
    for (i, n) in sim.nodes.iter().enumerate() {
        let p = n.node.peer_count();
        assert!((1..=4).contains(&p), "node {i} has {p} peers");
    }
    // Lines from the first, the newest and a middle node, three each.
    for &w in &[0usize, 39, 17] {
        for k in 0..3 {
            sim.type_line(w, &format!("line {k} of {w}"));
        }
    }
    sim.run_for(secs(2));
    for i in 0..40 {
        let got = received(&sim, i);
        for &w in &[0usize, 39, 17] {
            if w == i {
                continue;
            }
            let from = format!("\"{}\"", sim.nodes[w].addr);
            let texts: Vec<&str> = got
                .iter()
                .filter(|(_, f)| *f == from)
                .map(|(t, _)| t.as_str())
                .collect();
            let want: Vec<String> = (0..3).map(|k| format!("line {k} of {w}")).collect();
            assert_eq!(
                texts, want,
                "node {i}, lines of node {w}: {:?}",
                sim.nodes[i].diag
            );
        }
    }
    // The writer's own line names just its active view.
    let sending = sim.nodes[39]
        .log
        .iter()
        .find(|l| l.starts_with("Sending message [line 0 of 39]"))
        .unwrap();
    assert_eq!(
        sending.matches("127.0.0.1").count(),
        sim.nodes[39].node.peer_count()
    );
}

#[test]
fn relays_that_run_ahead_of_a_slow_direct_link_wait_for_it_and_nothing_is_skipped() {
    // Node 2's link to the writer, node 0, is slow; node 1 relays what
    // node 0 writes to it within a millisecond. A gap waited for only
    // 50 ms (less than a GRAFT's 120) would be given up at once if node 2
    // held node 1's copies that are ahead of node 0's own.
    let mut sim = Sim::new(5, Instant::now());
    let tune = |c: &mut rumor::node::Config| {
        c.period = None;
        c.gap_wait = Duration::from_millis(50);
    };
    three_node_mesh(&mut sim, tune);
    // The first message prunes the relay link 1 -> 2 (the direct copy
    // comes first while the link is fast).
    sim.type_line(0, "warm");
    sim.run_for(secs(1));
    sim.set_link_delay(0, 2, secs(1));
    let lines: Vec<String> = (0..30).map(|k| format!("line {k}")).collect();
    for l in &lines {
        sim.type_line(0, l);
        sim.run_for(Duration::from_millis(20));
    }
    sim.run_for(secs(5));
    let from = format!("\"{}\"", sim.nodes[0].addr);
    for i in [1, 2] {
        let texts: Vec<String> = received(&sim, i)
            .into_iter()
            .filter(|(_, f)| *f == from)
            .map(|(t, _)| t)
            .collect();
        let want: Vec<String> = std::iter::once("warm".to_string())
            .chain(lines.iter().cloned())
            .collect();
        assert_eq!(texts, want, "node {i}: {:?}", sim.nodes[i].diag);
        assert!(
            !sim.nodes[i].diag.iter().any(|d| d.contains("skipped")),
            "node {i} skipped a gap: {:?}",
            sim.nodes[i].diag
        );
    }
    assert!(
        sim.nodes[2].node.stats().relays_ahead > 0,
        "node 1's copies never ran ahead: the test shows nothing: {:?} {:?}",
        sim.nodes[2].node.stats(),
        sim.nodes[1].node.stats()
    );
    check_exactly_once(&sim);
}

#[test]
fn a_stream_of_messages_leaves_no_pile_of_stale_timers() {
    // Each message sets an IHAVE flush, nearer than the payload cache's
    // age (30 s out); once it fires, the timer already set for the cache
    // serves again, so the wheel holds a few timers a node, not one per
    // message for 30 s.
    let mut sim = Sim::new(11, Instant::now());
    for i in 0..30 {
        let boot: &[usize] = if i == 0 { &[] } else { &[0] };
        sim.add(boot, view(None, 4));
    }
    sim.run_for(secs(5));
    for m in 0..100 {
        sim.type_line(m % 3, &format!("line {m}"));
        sim.run_for(Duration::from_millis(100));
    }
    let most = sim.nodes.iter().map(|n| n.node.timers_waiting()).max();
    // 9 here; one per message for 30 s was 105.
    assert!(most.is_some_and(|m| m <= 16), "{most:?} timers");
    for n in &sim.nodes {
        let got = n
            .log
            .iter()
            .filter(|l| l.starts_with("Received message [line "))
            .count();
        let own = n
            .log
            .iter()
            .filter(|l| l.starts_with("Sending message [line "))
            .count();
        assert_eq!(got + own, 100, "{}", n.addr);
    }
}

#[test]
fn nodes_keep_no_output_buffers_between_inputs_the_simulator_lends_them() {
    use rumor::node::output::Outputs;
    let mut sim = Sim::new(21, Instant::now());
    sim.add(&[], view(Some(200), 4));
    for _ in 1..20 {
        sim.add(&[0], view(Some(200), 4));
    }
    sim.run_for(secs(3));
    sim.type_line(7, "a line");
    sim.run_for(secs(1));
    let got = sim
        .nodes
        .iter()
        .filter(|n| n.log.iter().any(|l| l.contains("[a line]")));
    assert_eq!(got.count(), 20, "every node printed the line");
    for (i, n) in sim.nodes.iter_mut().enumerate() {
        // Between inputs every node's outputs are drained: it trades, and
        // what it held has no heap memory (the buffers were lent).
        let mut o = Outputs::default();
        assert!(n.node.swap_outputs(&mut o), "node {i} has outputs pending");
        assert!(!o.holds_memory(), "node {i} kept output buffers");
    }
    // A node with outputs not yet polled refuses to trade them.
    let now = sim.now;
    sim.nodes[3].node.handle_shutdown(now);
    let mut o = Outputs::default();
    assert!(!sim.nodes[3].node.swap_outputs(&mut o));
    assert!(sim.nodes[3].node.poll_output().is_some());
}

#[test]
fn prefetch_hints_change_nothing_a_run_prints_or_sends() {
    let run = |prefetch: bool| {
        let mut sim = Sim::new(33, Instant::now());
        sim.set_prefetch(prefetch);
        sim.set_latency(Latency::PerLink {
            lo: Duration::from_millis(5),
            hi: Duration::from_millis(25),
        });
        sim.add(&[], view(Some(300), 4));
        for _ in 1..60 {
            sim.add(&[0], view(Some(300), 4));
            sim.run_for(Duration::from_millis(1));
        }
        sim.run_for(secs(3));
        sim.type_line(41, "typed");
        sim.kill(12);
        sim.run_for(secs(4));
        let lines: Vec<(Vec<String>, Vec<String>)> = sim
            .nodes
            .iter()
            .map(|n| (n.log.clone(), n.diag.clone()))
            .collect();
        (lines, sim.traffic(), sim.deliveries, sim.dials)
    };
    let (with, without) = (run(true), run(false));
    assert!(with.1.frames > 10_000, "a busy run: {:?}", with.1);
    let printed = with
        .0
        .iter()
        .filter(|(log, _)| log.iter().any(|l| l.contains("[typed]")));
    assert_eq!(
        printed.count(),
        59,
        "the typed line reached every live node"
    );
    assert_eq!(with, without);
}
