//! The core's rules for text messages driven by hand, one input at a time
//! (docs/PROTOCOL.md, "Text hosts"): what a text message gets, where it
//! goes, TEXT and TEXT_HOST frames, and the caps. Our messages to text
//! hosts are `tests/text_delivery.rs`.

#[path = "support/core_text.rs"]
mod core_text;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use core_text::*;
use rumor::capture::{Capture, Out};
use rumor::node::{DiagKind, Node, Reason};
use rumor::text::REPLY;
use rumor::wire::text::{FLAG_TEXT, TextFrame};
use rumor::wire::{self, Frame, Hello};

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
            advertised: None,
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

fn f_host(s: &str) -> Frame<'static> {
    Frame::Text(TextFrame::TextHost { ttl: 0, addr: a(s) })
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
