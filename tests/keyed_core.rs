//! The keyed core driven by hand and on the simulator: one record run per
//! connection per drain, queue counts credited only for bytes really
//! written, nothing framed before the handshake, seeded runs repeat.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rumor::capture::{Capture, Out};
use rumor::keyring::{Key, KeyRing};
use rumor::node::{Config, ConnId, Node};
use rumor::record::{PREAMBLE, RECORD_OVERHEAD};
use rumor::sim::Sim;

fn ring(b: u8) -> KeyRing {
    KeyRing::new(vec![Key([b; 32])]).unwrap()
}

fn keyed(port: u16, key: u8, boot: Option<u16>, now: Instant) -> Node {
    let mut cfg = Config::new(SocketAddr::from(([127, 0, 0, 1], port)));
    cfg.period = None;
    cfg.key = Some(ring(key));
    if let Some(b) = boot {
        cfg.bootstrap = vec![SocketAddr::from(([127, 0, 0, 1], b))];
    }
    let mut n = Node::new(cfg, port as u64, now);
    n.handle_start(now);
    n
}

fn sends(outs: &[Out], to: ConnId) -> Vec<Vec<u8>> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Send(c, b) if *c == to => Some(b.clone()),
            _ => None,
        })
        .collect()
}

/// A dialer `b` and an acceptor `a`, connected by hand: returns both ends'
/// connection ids once the handshake is through and both are peers.
fn pair(a: &mut Node, b: &mut Node, now: Instant) -> (ConnId, ConnId) {
    let _ = Capture::of(a);
    let dial = Capture::of(b)
        .into_iter()
        .find_map(|o| match o {
            Out::Dial(c, _) => Some(c),
            _ => None,
        })
        .expect("b dials its bootstrap");
    a.give_entropy([1; 32]);
    let ca = a.handle_accepted(b.config().listen, now).unwrap();
    b.give_entropy([2; 32]);
    b.handle_connected(dial, now);
    // Pump bytes both ways until quiet, reporting every write.
    for _ in 0..8 {
        pump(a, b, ca, dial, now);
        pump(b, a, dial, ca, now);
    }
    assert_eq!((a.peer_count(), b.peer_count()), (1, 1));
    (ca, dial)
}

/// `from`'s sends on `cf`, written and read by `to` on `ct`.
fn pump(from: &mut Node, to: &mut Node, cf: ConnId, ct: ConnId, now: Instant) {
    let outs = Capture::of(from);
    for s in sends(&outs, cf) {
        from.handle_written(cf, s.len());
        to.handle_read(ct, &s, now);
    }
}

#[test]
fn a_drain_seals_a_connections_frames_into_one_record_and_credits_honestly() {
    let now = Instant::now();
    let mut a = keyed(1000, 9, None, now);
    let mut b = keyed(1001, 9, Some(1000), now);
    let (ca, cb) = pair(&mut a, &mut b, now);
    // Three lines in one input: three frames, one record.
    a.handle_stdin(b"one\ntwo\nthree\n", now);
    let outs = Capture::of(&mut a);
    let records = sends(&outs, ca);
    assert_eq!(records.len(), 1, "{outs:?}");
    let record = &records[0];
    // The queue counts plaintext: the three frames, one record's overhead.
    let queued = a.unsent(ca).unwrap();
    assert!(queued > "onetwothree".len());
    assert_eq!(record.len(), queued + RECORD_OVERHEAD);
    // The record written but for its last byte: some plaintext is still
    // counted unsent.
    a.handle_written(ca, record.len() - 1);
    assert!(a.unsent(ca).unwrap() >= 1, "credited before written");
    a.handle_written(ca, 1);
    assert_eq!(a.unsent(ca), Some(0));
    // The peer opens it into the three lines.
    b.handle_read(cb, record, now);
    let got: Vec<String> = Capture::of(&mut b)
        .into_iter()
        .filter_map(|o| match o {
            Out::Log(l) if l.starts_with("Received") => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
}

#[test]
fn nothing_from_a_connection_is_framed_before_its_handshake() {
    let now = Instant::now();
    let mut a = keyed(1000, 9, None, now);
    let _ = Capture::of(&mut a);
    a.give_entropy([1; 32]);
    let c = a
        .handle_accepted(SocketAddr::from(([127, 0, 0, 1], 5000)), now)
        .unwrap();
    let first = sends(&Capture::of(&mut a), c);
    assert_eq!(first.len(), 1);
    assert!(
        first[0].starts_with(&PREAMBLE),
        "a hello went out in the clear"
    );
    // A plain hello is an unkeyed peer: closed, nothing printed.
    let hello = rumor::harness::frame_bytes(&rumor::harness::hello(7, 5000));
    assert!(!a.handle_read(c, &hello, now));
    let outs = Capture::of(&mut a);
    assert!(outs.iter().any(|o| matches!(o, Out::Close(x) if *x == c)));
    assert!(!outs.iter().any(|o| matches!(o, Out::Log(_))), "{outs:?}");
    assert!(
        outs.iter()
            .any(|o| matches!(o, Out::Diag(_, t) if t.contains("without a network key")))
    );
    // No entropy from the driver: refused, never keyed with made-up bytes.
    let c2 = a.handle_accepted(SocketAddr::from(([127, 0, 0, 1], 5001)), now);
    let outs = Capture::of(&mut a);
    if let Some(c2) = c2 {
        assert!(outs.iter().any(|o| matches!(o, Out::Close(x) if *x == c2)));
        assert!(sends(&outs, c2).is_empty());
    }
}

fn keyed_sim(seed: u64) -> Vec<Vec<String>> {
    let mut sim = Sim::new(seed, Instant::now());
    for i in 0..3 {
        let boot: &[usize] = if i == 0 { &[] } else { &[0] };
        sim.add(boot, |c| {
            c.key = Some(ring(4));
            c.period = Some(Duration::from_millis(300));
        });
    }
    assert!(sim.run_until(Duration::from_secs(2), |s| s.full_mesh()));
    sim.run_for(Duration::from_secs(2));
    sim.nodes.iter().map(|n| n.log.clone()).collect()
}

#[test]
fn a_keyed_simulated_mesh_delivers_and_repeats_exactly() {
    let logs = keyed_sim(3);
    assert_eq!(logs, keyed_sim(3), "same seed, same run");
    for log in &logs {
        let got = log
            .iter()
            .filter(|l| l.starts_with("Received message"))
            .count();
        assert!(got >= 8, "{log:?}");
    }
}

fn ring_of(keys: &[u8]) -> KeyRing {
    KeyRing::new(keys.iter().map(|&b| Key([b; 32])).collect()).unwrap()
}

/// Reloads node `i` of `sim` with the ring of `keys` and runs 10 s.
fn reload(sim: &mut Sim, i: usize, keys: &[u8]) {
    let now = sim.now;
    sim.nodes[i].node.handle_rekey(ring_of(keys), now);
    sim.flush(i);
    sim.run_for(Duration::from_secs(10));
}

fn lines_with(lines: &[String], part: &str) -> usize {
    lines.iter().filter(|l| l.contains(part)).count()
}

/// The acceptor-side case: `b` dialed `a` under key 1; both move to
/// [2, 1]; then only `a` drops key 1. Returns whether `a`'s id is the
/// smaller, after checking that the ends converged on key 2.
fn acceptor_rekeys(seed: u64) -> bool {
    let mut sim = Sim::new(seed, Instant::now());
    for boot in [&[][..], &[0]] {
        sim.add(boot, |c| {
            c.key = Some(ring(1));
            c.period = Some(Duration::from_millis(300));
        });
    }
    assert!(sim.run_until(Duration::from_secs(2), |s| s.full_mesh()));
    reload(&mut sim, 0, &[2, 1]);
    reload(&mut sim, 1, &[2, 1]);
    let received = |sim: &Sim, i: usize| lines_with(&sim.nodes[i].log, "Received message");
    let before = (received(&sim, 0), received(&sim, 1));
    // Only the acceptor removes key 1; the dialer does not reload.
    reload(&mut sim, 0, &[2]);
    assert_eq!(lines_with(&sim.nodes[0].diag, "; 1 connections"), 1);
    let smaller = sim.nodes[0].node.id() < sim.nodes[1].node.id();
    let (a_lost, b_lost) = (
        lines_with(&sim.nodes[0].log, "Disconnected"),
        lines_with(&sim.nodes[1].log, "Disconnected"),
    );
    if smaller {
        // Its dial replaced the dialer's session: nobody was lost.
        assert_eq!((a_lost, b_lost), (0, 0), "{:?}", sim.nodes[0].log);
    } else {
        // Only the dialer could replace it; it did not, so the session was
        // closed once its grace was over, and the dialer came back with
        // its primary key.
        assert_eq!((a_lost, b_lost), (1, 1), "{:?}", sim.nodes[0].log);
        assert_eq!(
            lines_with(
                &sim.nodes[0].log,
                "(made with a key no longer in the key ring)"
            ),
            1
        );
    }
    assert!(sim.full_mesh(), "{:?}", sim.nodes[0].log);
    assert!(received(&sim, 0) > before.0 + 10 && received(&sim, 1) > before.1 + 10);
    // Both ends are on key 2: the dialer dropping key 1 finds nothing stale.
    reload(&mut sim, 1, &[2]);
    assert_eq!(
        lines_with(&sim.nodes[1].diag, "; 0 connections"),
        2,
        "smaller {smaller}: {:?} {:?}",
        sim.nodes[1].diag,
        sim.nodes[1].log
    );
    assert!(sim.full_mesh());
    smaller
}

#[test]
fn an_acceptor_dropping_a_key_replaces_or_closes_the_sessions_made_with_it() {
    let orders: Vec<bool> = (1..=6).map(acceptor_rekeys).collect();
    // The seeds cover both orders of the two node ids.
    assert!(
        orders.contains(&true) && orders.contains(&false),
        "{orders:?}"
    );
}

#[test]
fn a_removed_key_admits_nothing_after_the_grace_even_with_no_current_key_in_common() {
    let mut sim = Sim::new(5, Instant::now());
    for boot in [&[][..], &[0]] {
        sim.add(boot, |c| {
            c.key = Some(ring(1));
            c.period = Some(Duration::from_millis(300));
        });
    }
    assert!(sim.run_until(Duration::from_secs(2), |s| s.full_mesh()));
    // `a` moves to a key `b` never had: the session under key 1 is closed
    // at the end of its grace and `b`'s redials are refused.
    reload(&mut sim, 0, &[3]);
    assert_eq!(sim.nodes[0].node.peer_count(), 0, "{:?}", sim.nodes[0].log);
    assert_eq!(sim.nodes[1].node.peer_count(), 0);
    let closed = "(made with a key no longer in the key ring)";
    assert_eq!(lines_with(&sim.nodes[0].log, closed), 1);
    let heard = lines_with(&sim.nodes[0].log, "Received message");
    sim.run_for(Duration::from_secs(5));
    assert_eq!(lines_with(&sim.nodes[0].log, "Received message"), heard);
    assert!(lines_with(&sim.nodes[0].diag, "not in our key ring") > 0);
}
