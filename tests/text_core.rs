//! The core's text-host rules driven by hand, one input at a time
//! (docs/PROTOCOL.md, "Text hosts"): what a text message gets, where it
//! goes, how our messages reach text hosts, and the caps.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rumor::capture::{Capture, Out};
use rumor::node::{Config, ConnId, DiagKind, Node, Reason};
use rumor::text::REPLY;
use rumor::wire::text::{FLAG_TEXT, TextFrame};
use rumor::wire::{self, Frame, Hello};

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn node(tweak: impl FnOnce(&mut Config)) -> (Node, Instant) {
    let t0 = Instant::now();
    let mut cfg = Config::new(a("127.0.0.1:7000"));
    cfg.period = None;
    tweak(&mut cfg);
    let mut n = Node::new(cfg, 1, t0);
    n.handle_start(t0);
    Capture::of(&mut n);
    (n, t0)
}

fn frames(bytes: &[u8]) -> Vec<Frame<'_>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Ok(wire::Status::Complete((f, n))) = wire::decode(rest) {
        out.push(f);
        rest = &rest[n..];
    }
    assert!(rest.is_empty(), "not frames: {bytes:?}");
    out
}

fn feed_frame(n: &mut Node, c: ConnId, f: &Frame<'_>, now: Instant) -> bool {
    let mut bytes = Vec::new();
    f.encode(&mut bytes);
    n.handle_read(c, &bytes, now)
}

/// An established inbound peer listening on `port`, its hello with the
/// TEXT flag if `text`.
fn peer(n: &mut Node, t: Instant, id: u64, port: u16, text: bool) -> ConnId {
    let c = n
        .handle_accepted(SocketAddr::from(([127, 0, 0, 1], 50_000 + port)), t)
        .unwrap();
    let hello = Frame::Hello(Hello {
        version: wire::VERSION,
        flags: if text { FLAG_TEXT } else { 0 },
        node_id: id,
        listen_port: port,
    });
    assert!(feed_frame(n, c, &hello, t));
    Capture::of(n);
    c
}

/// The frames sent on `c` among `outs`.
fn sent_to(outs: &[Out], c: ConnId) -> Vec<Frame<'_>> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Send(to, b) if *to == c => Some(frames(b)),
            _ => None,
        })
        .flatten()
        .collect()
}

fn logs(outs: &[Out]) -> Vec<&str> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Log(l) => Some(l.as_str()),
            _ => None,
        })
        .collect()
}

fn diags(outs: &[Out], kind: DiagKind) -> Vec<&str> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Diag(k, l) if *k == kind => Some(l.as_str()),
            _ => None,
        })
        .collect()
}

/// A text message `bytes` from `remote` at `t`, ended by the pause (the
/// clock moves on past it): the outputs.
fn text_message(n: &mut Node, remote: &str, bytes: &[u8], t: &mut Instant) -> (ConnId, Vec<Out>) {
    let c = n.handle_accepted(a(remote), *t).unwrap();
    assert!(n.handle_read(c, bytes, *t));
    assert_eq!(Capture::of(n), vec![], "nothing before the pause");
    *t += ms(100);
    n.handle_timeout(*t);
    *t += ms(1);
    (c, Capture::of(n))
}

#[test]
fn a_text_message_is_answered_printed_once_passed_on_and_its_host_learned() {
    let (mut n, t0) = node(|_| {});
    let mut t = t0;
    let p = peer(&mut n, t0, 5, 7001, true);
    let q = peer(&mut n, t0, 6, 7002, false);
    let (c, outs) = text_message(&mut n, "10.0.0.5:40000", b"1248:hello \xffold", &mut t);
    assert_eq!(outs.first(), Some(&Out::Send(c, REPLY.to_vec())));
    assert_eq!(outs.last(), Some(&Out::Close(c)));
    assert_eq!(
        logs(&outs),
        ["Received message [hello \u{fffd}old] from \"10.0.0.5:1248\""]
    );
    let relay = Frame::Text(TextFrame::Text {
        ttl: 0,
        origin: a("10.0.0.5:1248"),
        text: b"hello \xffold",
    });
    assert_eq!(sent_to(&outs, p), std::slice::from_ref(&relay));
    assert!(
        sent_to(&outs, q).is_empty(),
        "a peer without TEXT gets none"
    );
    assert_eq!(n.text_hosts(), [a("10.0.0.5:1248")]);
    // The same text from the same host, from a peer: printed once only.
    assert!(feed_frame(&mut n, p, &relay, t + ms(200)));
    assert!(logs(&Capture::of(&mut n)).is_empty());
    let other = Frame::Text(TextFrame::Text {
        ttl: 0,
        origin: a("10.0.0.5:1248"),
        text: b"another",
    });
    assert!(feed_frame(&mut n, p, &other, t + ms(200)));
    assert_eq!(
        logs(&Capture::of(&mut n)),
        ["Received message [another] from \"10.0.0.5:1248\""]
    );
    // After the window the same text prints again.
    let later = t + Duration::from_secs(11);
    assert!(feed_frame(&mut n, p, &relay, later));
    assert_eq!(logs(&Capture::of(&mut n)).len(), 1);
}

#[test]
fn junk_gets_no_reply_and_its_reason() {
    let cases: [(&[u8], &str); 6] = [
        (b"hello", "no ':' after a port number"),
        (b":x", "no port number before ':'"),
        (b"+80:x", "the port before ':' is not a decimal number"),
        (b"0:x", "port 0"),
        (b"65536:x", "port 65536 is over 65535"),
        (b"1234567:x", "the port has 7 digits, over 5"),
    ];
    for (bytes, reason) in cases {
        let (mut n, t0) = node(|_| {});
        let (c, outs) = text_message(&mut n, "10.0.0.5:40000", bytes, &mut t0.clone());
        let want = format!("closed connection with 10.0.0.5:40000: invalid text message: {reason}");
        assert_eq!(outs, [Out::Diag(DiagKind::PeerFault, want), Out::Close(c)]);
        assert!(n.text_hosts().is_empty());
    }
}

#[test]
fn a_message_ends_at_4096_bytes_and_no_more_is_read() {
    let (mut n, t0) = node(|_| {});
    let c = n.handle_accepted(a("127.0.0.1:40000"), t0).unwrap();
    let mut chunk = b"4343:".to_vec();
    chunk.resize(64 * 1024, b'y');
    assert!(!n.handle_read(c, &chunk, t0), "closed at 4,096 bytes");
    let outs = Capture::of(&mut n);
    assert_eq!(outs.first(), Some(&Out::Send(c, REPLY.to_vec())));
    let text = "y".repeat(4096 - 5);
    assert_eq!(
        logs(&outs),
        [format!("Received message [{text}] from \"127.0.0.1:4343\"")]
    );
    assert_eq!(outs.last(), Some(&Out::Close(c)));
    assert!(!n.handle_read(c, &chunk, t0));
    assert_eq!(n.conn_count(), 0);
}

#[test]
fn silent_and_trickling_connections_are_closed_at_the_deadline_and_said() {
    let (mut n, t0) = node(|_| {});
    let silent = n.handle_accepted(a("10.0.0.1:1"), t0).unwrap();
    let slow = n.handle_accepted(a("10.0.0.2:2"), t0).unwrap();
    let mut t = t0;
    while t < t0 + Duration::from_secs(3) {
        if n.conn_count() == 2 {
            assert!(n.handle_read(slow, b"7", t));
        }
        t += ms(50);
        n.handle_timeout(t);
    }
    let outs = Capture::of(&mut n);
    assert!(outs.contains(&Out::Close(silent)) && outs.contains(&Out::Close(slow)));
    assert!(!outs.iter().any(|o| matches!(o, Out::Send(..))));
    let said = diags(&outs, DiagKind::PeerFault);
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said.contains(&"closed connection with 10.0.0.1:1: it sent nothing in 3s"));
    assert!(
        said.contains(&"closed connection with 10.0.0.2:2: no whole text message in 3s (60 bytes)"),
        "{said:?}"
    );
}

/// Learns the text host `host` (on probation) through a message.
fn learn(n: &mut Node, host: &str, t: &mut Instant) {
    let h = a(host);
    let remote = SocketAddr::new(h.ip(), 40000);
    let msg = format!("{}:hi", h.port());
    text_message(n, &remote.to_string(), msg.as_bytes(), t);
    assert!(n.text_hosts().contains(&h));
}

fn dials(outs: &[Out]) -> Vec<(ConnId, SocketAddr)> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Dial(c, a) => Some((*c, *a)),
            _ => None,
        })
        .collect()
}

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
fn announced_hosts_are_learned_welcomed_to_newcomers_and_never_echoed() {
    let (mut n, t0) = node(|_| {});
    let p = peer(&mut n, t0, 5, 7001, true);
    let f = Frame::Text(TextFrame::TextHost {
        ttl: 0,
        addr: a("10.1.1.1:1248"),
    });
    assert!(feed_frame(&mut n, p, &f, t0));
    let outs = Capture::of(&mut n);
    assert!(sent_to(&outs, p).is_empty(), "not announced back");
    assert_eq!(n.text_hosts(), [a("10.1.1.1:1248")]);
    // Bogus announcements are skipped.
    for bad in [
        "0.0.0.0:1248",
        "10.1.1.2:0",
        "224.0.0.1:1248",
        "127.0.0.1:7000",
    ] {
        let f = Frame::Text(TextFrame::TextHost {
            ttl: 0,
            addr: a(bad),
        });
        assert!(feed_frame(&mut n, p, &f, t0));
    }
    assert_eq!(n.text_hosts(), [a("10.1.1.1:1248")]);
    // A newcomer that takes TEXT frames learns it in its welcome; one
    // that does not gets none.
    let c = n.handle_accepted(a("127.0.0.1:50003"), t0).unwrap();
    let hello = |flags, id, port| {
        Frame::Hello(Hello {
            version: wire::VERSION,
            flags,
            node_id: id,
            listen_port: port,
        })
    };
    assert!(feed_frame(&mut n, c, &hello(FLAG_TEXT, 6, 7003), t0));
    let outs = Capture::of(&mut n);
    let got = sent_to(&outs, c);
    assert!(got.contains(&f_host("10.1.1.1:1248")), "{got:?}");
    let c = n.handle_accepted(a("127.0.0.1:50004"), t0).unwrap();
    assert!(feed_frame(&mut n, c, &hello(0, 7, 7004), t0));
    let outs = Capture::of(&mut n);
    let got = sent_to(&outs, c);
    assert!(!got.iter().any(|f| matches!(f, Frame::Text(_))), "{got:?}");
}

fn f_host(s: &str) -> Frame<'static> {
    Frame::Text(TextFrame::TextHost { ttl: 0, addr: a(s) })
}

#[test]
fn the_table_is_capped_and_rumor_nodes_are_never_text_hosts() {
    let (mut n, t0) = node(|c| c.max_text_hosts = 2);
    let mut t = t0;
    let p = peer(&mut n, t0, 5, 7001, true);
    // A message claiming a rumor peer's or our own address: printed, not
    // learned.
    for port in [7001, 7000] {
        let msg = format!("{port}:mimic");
        let (_, outs) = text_message(&mut n, "127.0.0.1:40000", msg.as_bytes(), &mut t);
        assert_eq!(logs(&outs).len(), 1);
    }
    assert!(n.text_hosts().is_empty());
    // Unproven hosts give way to newer ones at the cap.
    learn(&mut n, "10.0.0.1:1", &mut t);
    learn(&mut n, "10.0.0.2:2", &mut t);
    learn(&mut n, "10.0.0.3:3", &mut t);
    assert_eq!(n.text_hosts(), [a("10.0.0.2:2"), a("10.0.0.3:3")]);
    // Proven hosts do not: a newcomer is not remembered, said once.
    for h in ["10.0.0.4:4", "10.0.0.5:5"] {
        let f = Frame::Text(TextFrame::TextHost { ttl: 0, addr: a(h) });
        assert!(feed_frame(&mut n, p, &f, t));
    }
    assert_eq!(n.text_hosts(), [a("10.0.0.4:4"), a("10.0.0.5:5")]);
    Capture::of(&mut n);
    learn_refused(&mut n, "10.0.0.6:6", &mut t);
    let said = diags(
        &learn_refused(&mut n, "10.0.0.7:7", &mut t),
        DiagKind::TextHost,
    )
    .len();
    assert_eq!(said, 0, "said once");
}

/// A message from a host the full table does not take: its outputs.
fn learn_refused(n: &mut Node, host: &str, t: &mut Instant) -> Vec<Out> {
    let h = a(host);
    let remote = SocketAddr::new(h.ip(), 40000);
    let msg = format!("{}:hi", h.port());
    let (_, outs) = text_message(n, &remote.to_string(), msg.as_bytes(), t);
    assert!(!n.text_hosts().contains(&h));
    if host.ends_with(":6") {
        assert_eq!(
            diags(&outs, DiagKind::TextHost),
            [format!(
                "not remembering the text host \"{host}\": 2 text hosts are known and all answer"
            )]
        );
    }
    outs
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

#[test]
fn a_text_message_ended_by_its_senders_close_is_taken_but_an_evicted_one_is_not() {
    let (mut n, t0) = node(|c| c.max_pending = 1);
    let c = n.handle_accepted(a("10.0.0.5:40000"), t0).unwrap();
    assert!(n.handle_read(c, b"1248:bye", t0));
    n.handle_closed(c, Reason::Eof, t0);
    let outs = Capture::of(&mut n);
    assert_eq!(
        logs(&outs),
        ["Received message [bye] from \"10.0.0.5:1248\""]
    );
    assert!(
        !outs
            .iter()
            .any(|o| matches!(o, Out::Send(..) | Out::Close(_)))
    );
    // At the handshake cap the oldest is closed for a newcomer, unread.
    let old = n.handle_accepted(a("10.0.0.6:40000"), t0).unwrap();
    assert!(n.handle_read(old, b"1248:half a mess", t0));
    let new = n.handle_accepted(a("10.0.0.7:40000"), t0).unwrap();
    let outs = Capture::of(&mut n);
    assert_eq!(outs, [Out::Close(old)]);
    assert!(n.handle_read(new, b"0", t0));
    assert_eq!(n.conn_count(), 1);
}
