//! `rumor-sim`'s scenarios: the file format's errors, a small scenario run
//! through `run_scenario`, and the binary's output the same for the same
//! seed, byte for byte.

use std::process::Command;
use std::time::{Duration, Instant};

use rumor::sim::scenario::{Fault, Senders, parse};
use rumor::sim::{Scenario, run_scenario};

fn err(text: &str) -> (usize, String) {
    let e = parse(text).expect_err(text);
    (e.line, e.msg)
}

#[test]
fn a_file_parses_with_its_defaults_and_every_setting() {
    let text = "\
# defaults first
links 20ms..40ms
join 2ms

scenario a   # a comment
nodes 50
senders all
run 40s
scenario b
nodes 200
peers 8
senders 5%
messages 3
interval 500ms
start 5s
loss 0.02 rto 300ms
kill 20% at 6s
leave 10% at 7s
churn 10%/min from 6s to 8s leave
partition halves at 6s heal at 8s
idle 5s
seed 9
run 20s
";
    let s = parse(text).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0].name.as_str(), s[0].nodes, s[0].senders),
        ("a", 50, Senders::All)
    );
    assert_eq!(
        s[0].rtt,
        (Duration::from_millis(20), Duration::from_millis(40))
    );
    assert_eq!(s[0].join_every, Duration::from_millis(2));
    let b = &s[1];
    assert_eq!(
        (b.peers, b.sender_count(), b.messages, b.seed),
        (Some(8), 10, 3, 9)
    );
    assert_eq!((b.loss, b.rto), (0.02, Duration::from_millis(300)));
    assert_eq!(b.first_message(), Duration::from_secs(5));
    assert_eq!(b.faults.len(), 4);
    assert!(matches!(b.faults[2], Fault::Churn { graceful: true, .. }));
    assert_eq!(
        b.faults[3],
        Fault::Partition {
            at: Duration::from_secs(6),
            heal: Some(Duration::from_secs(8))
        }
    );
}

#[test]
fn each_bad_line_is_named_with_what_is_wrong() {
    let s = "scenario x\nnodes 10\n";
    let cases: &[(&str, usize, &str)] = &[
        ("nodes 10\n", 1, "no `scenario NAME` line"),
        ("scenario x\nnodes ten\n", 2, "bad node count \"ten\""),
        ("scenario x\nnodes 0\n", 2, "nodes must be 1 to"),
        ("scenario x\nbogus 1\n", 2, "unknown setting \"bogus\""),
        ("scenario x\nrun soon\n", 2, "bad duration \"soon\""),
        ("scenario x\nlinks 50ms..10ms\n", 2, "runs backwards"),
        ("scenario x\nloss 1.5\n", 2, "loss must be"),
        ("scenario x\nloss 0.1 rtt 1s\n", 2, "expected `… rto …`"),
        ("scenario x\nkill 20 at 5s\n", 2, "expected a percentage"),
        ("scenario x\nkill 120% at 5s\n", 2, "not in (0%, 100%]"),
        ("scenario x\nkill 20%\n", 2, "expected `… at …`"),
        (
            "scenario x\nchurn 10% from 1s to 2s\n",
            2,
            "a rate like 10%/min",
        ),
        (
            "scenario x\nchurn 10%/min from 2s to 1s\n",
            2,
            "end after it starts",
        ),
        (
            "scenario x\npartition thirds at 1s\n",
            2,
            "expected `halves at …`",
        ),
        (
            "scenario x\npartition halves at 5s heal at 4s\n",
            2,
            "heal after",
        ),
        (
            "scenario x\nnodes 5\nsenders 6\n",
            1,
            "6 senders but 5 nodes",
        ),
        ("scenario x\nscenario x\n", 2, "a second scenario named"),
        ("scenario x y\n", 1, "expected `scenario NAME`"),
        ("scenario x\nnodes 1 2\n", 2, "nodes takes one value"),
        (
            "scenario x\nrun 20s\nidle 30s\n",
            1,
            "idle 30s must be shorter",
        ),
        (
            "scenario x\nrun 20s\nstart 15s\n",
            1,
            "after the idle window starts",
        ),
        (
            "scenario x\nrun 40s\nkill 10% at 35s\n",
            1,
            "falls in the idle window",
        ),
    ];
    for &(text, line, want) in cases {
        let (l, msg) = err(text);
        assert_eq!(l, line, "{text:?}: {msg}");
        assert!(msg.contains(want), "{text:?}: {msg:?} lacks {want:?}");
    }
    assert!(parse(s).is_ok());
}

/// A small scenario: every message reaches every node, once.
fn small() -> Scenario {
    let mut sc = Scenario::new("small");
    sc.nodes = 12;
    sc.senders = Senders::Count(3);
    sc.messages = 4;
    sc.run = Duration::from_secs(20);
    sc
}

#[test]
fn run_scenario_counts_every_delivery_of_a_quiet_network() {
    let sc = small();
    let r = run_scenario(&sc, Instant::now());
    assert_eq!(r.messages, 12);
    assert_eq!(r.expected, 12 * 11);
    assert_eq!((r.missed, r.delivered, r.duplicates), (0, 12 * 11, 0));
    assert_eq!(r.deliveries, r.delivered);
    assert!(r.payload_frames >= r.deliveries);
    let (p50, p99) = (r.last_p50.unwrap(), r.last_p99.unwrap());
    // One-way delays are 5-25 ms: no message can be done sooner.
    assert!(p50 >= Duration::from_millis(5) && p50 <= p99, "{r:?}");
    assert!(
        r.idle_frames > 0.0 && r.idle_bytes > r.idle_frames,
        "keepalives: {r:?}"
    );
    assert_eq!(r.alive, 12);
    assert_eq!(
        run_scenario(&sc, Instant::now()),
        r,
        "the same seed, the same report"
    );
}

#[test]
fn killed_nodes_are_not_expected_and_their_messages_are_not_sent() {
    let mut sc = small();
    sc.senders = Senders::All;
    sc.messages = 1;
    sc.start = Some(Duration::from_secs(2));
    sc.faults.push(Fault::Kill {
        percent: 50.0,
        at: Duration::from_millis(2500),
    });
    let r = run_scenario(&sc, Instant::now());
    // Spread over a second from 2 s: those after 2.5 s from a dead sender
    // are not sent.
    assert!(r.messages < 12 && r.messages >= 6, "{r:?}");
    assert_eq!(r.alive, 12 - 6);
    assert!(r.expected < r.messages as u64 * 11, "{r:?}");
    assert_eq!(r.missed, 0, "{r:?}");
}

const FILE: &str = "\
links 10ms..50ms
idle 1s
scenario tiny
nodes 10
senders 2
messages 3
run 15s
scenario tiny-lossy
nodes 10
loss 0.05
senders all
messages 1
kill 20% at 12s
start 11s
idle 2s
run 15s
";

/// rumor-sim as a user starts it: it starts itself again with glibc's
/// huge pages asked for.
fn rumor_sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rumor-sim"))
        .args(args)
        .env_remove("GLIBC_TUNABLES")
        .output()
        .expect("rumor-sim runs")
}

#[test]
fn the_same_seed_gives_byte_identical_output_and_another_seed_differs() {
    let dir = std::env::temp_dir().join(format!("rumor-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.txt");
    std::fs::write(&path, FILE).unwrap();
    let p = path.to_str().unwrap();
    let a = rumor_sim(&[p, "--stable", "--seed", "5"]);
    let b = rumor_sim(&[p, "--stable", "--seed", "5"]);
    let c = rumor_sim(&[p, "--stable", "--seed", "6"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let out = String::from_utf8(a.stdout.clone()).unwrap();
    assert_eq!(out.lines().count(), 3, "a header and a row each: {out}");
    assert!(out.lines().nth(1).unwrap().starts_with("tiny "), "{out}");
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(a.stdout, c.stdout, "the seed changes the run");
    // With GLIBC_TUNABLES set (here empty) it does not start itself again:
    // the same rows.
    let plain = Command::new(env!("CARGO_BIN_EXE_rumor-sim"))
        .args([p, "--stable", "--seed", "5"])
        .env("GLIBC_TUNABLES", "")
        .output()
        .expect("rumor-sim runs");
    assert_eq!(plain.stdout, a.stdout);
    let m = rumor_sim(&[p, "--only", "tiny"]);
    let out = String::from_utf8(m.stdout).unwrap();
    assert!(
        out.lines().next().unwrap().ends_with("heap-KB/node"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_file_gets_one_line_naming_its_line_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("rumor-sim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.txt");
    std::fs::write(&path, "scenario x\nnodes 10\nkill 20% at\n").unwrap();
    let p = path.to_str().unwrap();
    for (args, want) in [
        (vec![p], format!("rumor-sim: {p}:3: expected `… at …`\n")),
        (
            vec![p, "--only", "y"],
            format!("rumor-sim: {p}:3: expected `… at …`\n"),
        ),
        (vec!["/nonexistent/x.txt"], String::new()),
    ] {
        let o = rumor_sim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        if !want.is_empty() {
            assert_eq!(err, want);
        }
        assert!(o.stdout.is_empty());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
