//! The core sending its own messages to text hosts, driven by hand
//! (docs/PROTOCOL.md, "Sending to a text host"): one connection per
//! message, failures and drops, a dialed text host, and `--exit-on-eof`.

#[path = "support/core_text.rs"]
mod core_text;

use std::io;
use std::time::{Duration, Instant};

use core_text::*;
use rumor::capture::{Capture, Out};
use rumor::node::{Config, DiagKind, Node, Reason};
use rumor::text::REPLY;
use rumor::wire::Frame;
use rumor::wire::text::TextFrame;

#[test]
fn our_messages_go_to_text_hosts_one_connection_each_listed_by_address() {
    let (mut n, t0) = node(|_| {});
    let mut t = t0;
    let p = peer(&mut n, t0, 5, 7001, true);
    learn(&mut n, "127.0.0.1:1248", &mut t);
    learn(&mut n, "10.0.0.9:80", &mut t);
    Capture::of(&mut n);
    n.handle_stdin(b"hi there\n", t);
    let outs = Capture::of(&mut n);
    assert_eq!(
        logs(&outs),
        ["Sending message [hi there] to [\"10.0.0.9:80\", \"127.0.0.1:1248\", \"127.0.0.1:7001\"]"]
    );
    let d = dials(&outs);
    assert_eq!(d.len(), 2);
    let (good, bad) = if d[0].1 == a("127.0.0.1:1248") {
        (d[0].0, d[1].0)
    } else {
        (d[1].0, d[0].0)
    };
    n.handle_connected(good, t);
    assert_eq!(
        Capture::of(&mut n),
        [Out::Send(good, b"7000:hi there".to_vec())]
    );
    assert!(!n.handle_read(good, REPLY, t));
    let outs = Capture::of(&mut n);
    assert!(outs.contains(&Out::Close(good)));
    // Proven: announced to the TEXT peer.
    let host = Frame::Text(TextFrame::TextHost {
        ttl: 0,
        addr: a("127.0.0.1:1248"),
    });
    assert_eq!(sent_to(&outs, p), [host]);
    // Nothing listens at the other: dropped at its first failure.
    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    n.handle_closed(bad, Reason::io(&refused), t);
    assert_eq!(
        diags(&Capture::of(&mut n), DiagKind::TextHost),
        [
            "dropped the text host \"10.0.0.9:80\": the first message to it failed (last: cannot connect: connection refused)"
        ]
    );
    assert_eq!(n.text_hosts(), [a("127.0.0.1:1248")]);
    // Two lines: one connection at a time to a host.
    n.handle_stdin(b"one\ntwo\n", t);
    let d = dials(&Capture::of(&mut n));
    assert_eq!(d.len(), 1);
    n.handle_connected(d[0].0, t);
    assert!(!n.handle_read(d[0].0, REPLY, t));
    let d2 = dials(&Capture::of(&mut n));
    assert_eq!(d2.len(), 1, "the second line's delivery starts now");
    n.handle_connected(d2[0].0, t);
    assert_eq!(
        Capture::of(&mut n),
        [Out::Send(d2[0].0, b"7000:two".to_vec())]
    );
}

#[test]
fn a_proven_host_is_dropped_after_three_failures_and_a_long_text_never_goes() {
    let (mut n, t0) = node(|_| {});
    let mut t = t0;
    learn(&mut n, "127.0.0.1:1248", &mut t);
    n.handle_stdin(b"x\n", t);
    let d = dials(&Capture::of(&mut n))[0].0;
    n.handle_connected(d, t);
    assert!(!n.handle_read(d, REPLY, t));
    Capture::of(&mut n);
    // Too long for a text host: not sent to it, and said.
    n.handle_stdin(&[b'z'; 5000], t);
    n.handle_stdin(b"\n", t);
    let outs = Capture::of(&mut n);
    assert!(dials(&outs).is_empty());
    assert_eq!(
        diags(&outs, DiagKind::TextHost),
        [
            "message of 5000 bytes not sent to text hosts (1 known): a text message of 5005 bytes is over the 4096-byte limit of text hosts"
        ]
    );
    for i in 0..3 {
        n.handle_stdin(b"again\n", t);
        let d = dials(&Capture::of(&mut n))[0].0;
        n.handle_connected(d, t);
        Capture::of(&mut n);
        // No reply in time.
        t += Duration::from_secs(3);
        n.handle_timeout(t);
        let outs = Capture::of(&mut n);
        assert!(outs.contains(&Out::Close(d)));
        let dropped = diags(&outs, DiagKind::TextHost);
        if i < 2 {
            assert!(dropped.is_empty(), "{dropped:?}");
        } else {
            assert_eq!(
                dropped,
                [
                    "dropped the text host \"127.0.0.1:1248\": 3 messages in a row to it failed (last: no reply in time)"
                ]
            );
        }
    }
    assert!(n.text_hosts().is_empty());
}

#[test]
fn a_dialed_peer_that_answers_message_received_is_a_text_host_from_then_on() {
    let t0 = Instant::now();
    let mut cfg = Config::new(a("127.0.0.1:7000"));
    cfg.period = None;
    cfg.bootstrap = vec![a("127.0.0.1:1248")];
    let mut n = Node::new(cfg, 1, t0);
    n.handle_start(t0);
    let d = dials(&Capture::of(&mut n));
    assert_eq!(d.len(), 1);
    let c = d[0].0;
    n.handle_connected(c, t0);
    let outs = Capture::of(&mut n);
    assert!(matches!(sent_to(&outs, c)[..], [Frame::Hello(_)]));
    assert!(!n.joined());
    assert!(n.handle_read(c, b"Message ", t0), "a prefix waits");
    assert!(!n.handle_read(c, b"received", t0));
    let outs = Capture::of(&mut n);
    assert!(outs.contains(&Out::Close(c)));
    assert_eq!(
        diags(&outs, DiagKind::TextHost),
        [
            "\"127.0.0.1:1248\" is a text host (it answered our hello with \"Message received\"); sending it text messages from now on"
        ]
    );
    assert!(n.joined(), "there is no rumor network to join");
    assert!(!n.knows(a("127.0.0.1:1248")));
    assert_eq!(n.text_hosts(), [a("127.0.0.1:1248")]);
    // Never dialed as a rumor peer again; our lines go to it as text.
    n.handle_timeout(t0 + Duration::from_secs(30));
    assert!(dials(&Capture::of(&mut n)).is_empty());
    n.handle_stdin(b"hello old node\n", t0 + Duration::from_secs(30));
    let outs = Capture::of(&mut n);
    assert_eq!(
        logs(&outs),
        ["Sending message [hello old node] to [\"127.0.0.1:1248\"]"]
    );
    let d = dials(&outs);
    n.handle_connected(d[0].0, t0);
    assert_eq!(
        Capture::of(&mut n),
        [Out::Send(d[0].0, b"7000:hello old node".to_vec())]
    );
}

#[test]
fn a_notifier_waits_for_its_lines_to_reach_text_hosts() {
    for answer in [true, false] {
        let t0 = Instant::now();
        let mut cfg = Config::new(a("127.0.0.1:7000"));
        cfg.period = None;
        cfg.exit_on_eof = true;
        cfg.bootstrap = vec![a("127.0.0.1:1248")];
        let mut n = Node::new(cfg, 1, t0);
        n.handle_start(t0);
        let c = dials(&Capture::of(&mut n))[0].0;
        n.handle_connected(c, t0);
        assert!(!n.handle_read(c, REPLY, t0));
        Capture::of(&mut n);
        n.handle_stdin(b"deploy done\n", t0);
        n.handle_stdin_closed(t0);
        let d = dials(&Capture::of(&mut n));
        assert_eq!(d.len(), 1, "the line's delivery goes on");
        assert!(n.departed().is_none(), "waiting for the text host");
        if answer {
            n.handle_connected(d[0].0, t0);
            assert_eq!(
                Capture::of(&mut n),
                [Out::Send(d[0].0, b"7000:deploy done".to_vec())]
            );
            assert!(!n.handle_read(d[0].0, REPLY, t0));
            let o = n.departed().expect("departed").clone();
            assert!(o.complete() && o.confirmed == 1, "{o:?}");
        } else {
            let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
            n.handle_closed(d[0].0, Reason::io(&refused), t0);
            let o = n.departed().expect("departed").clone();
            assert_eq!(o.unconfirmed, [a("127.0.0.1:1248")]);
            assert!(!o.complete());
        }
    }
}

#[test]
fn a_departure_gives_up_on_a_silent_text_host_at_the_leave_timeout() {
    let (mut n, t0) = node(|c| c.exit_on_eof = true);
    let mut t = t0;
    learn(&mut n, "10.0.0.9:80", &mut t);
    n.handle_stdin(b"bye\n", t);
    n.handle_stdin_closed(t);
    let d = dials(&Capture::of(&mut n))[0].0;
    n.handle_connected(d, t);
    Capture::of(&mut n);
    // The delivery's own deadline (3 s) comes before the 5 s leave timeout.
    n.handle_timeout(t + Duration::from_secs(3));
    let o = n.departed().expect("departed").clone();
    assert_eq!(o.unconfirmed, [a("10.0.0.9:80")]);
    assert!(Capture::of(&mut n).contains(&Out::Close(d)));
    assert_eq!(n.conn_count(), 0);
}
