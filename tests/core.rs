//! The core driven by hand, one input at a time, to pin down single rules.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rumor::format::{self, Format, Style};
use rumor::node::{Config, ConnId, Driver, Event, Level, Node, Reason};
use rumor::wire::overlay::Overlay;
use rumor::wire::{self, Frame, GoodbyeReason, Hello, PeerEntry};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Everything the node wants done, as owned values.
#[derive(Debug, PartialEq)]
enum Out {
    Send(ConnId, Vec<u8>),
    Dial(ConnId, SocketAddr),
    Close(ConnId),
    Log(String),
    Diag(String),
}

/// Keeps each output, with log lines formatted as the binary prints them
/// (timestamp included) and diagnostics as their stderr line.
struct Record(Format, Vec<Out>);

impl Driver for Record {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        self.1.push(Out::Send(conn, bytes.to_vec()));
    }
    fn dial(&mut self, conn: ConnId, addr: SocketAddr) {
        self.1.push(Out::Dial(conn, addr));
    }
    fn close(&mut self, conn: ConnId) {
        self.1.push(Out::Close(conn));
    }
    fn event(&mut self, at: Duration, event: Event<'_>) {
        self.1.push(match event {
            // What stderr shows by default (no -v).
            Event::Diag { kind, .. } if kind.level() > Level::Notice => return,
            Event::Diag { text, .. } => Out::Diag(format::diag_line(text)),
            e => {
                let mut line = Vec::new();
                self.0.line(&mut line, at, &e);
                Out::Log(String::from_utf8(line).unwrap())
            }
        });
    }
}

fn drain(n: &mut Node) -> Vec<Out> {
    let mut r = Record(Format::new(Style::Text), Vec::new());
    n.drain(&mut r);
    r.1
}

/// Frames in as bytes, the way a driver hands them to the core.
trait FeedFrame {
    fn feed_frame(&mut self, c: ConnId, f: Frame<'_>, now: Instant) -> bool;
}

impl FeedFrame for Node {
    fn feed_frame(&mut self, c: ConnId, f: Frame<'_>, now: Instant) -> bool {
        let mut bytes = Vec::new();
        f.encode(&mut bytes);
        self.handle_read(c, &bytes, now)
    }
}

fn frames(bytes: &[u8]) -> Vec<Frame<'_>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match wire::decode(rest).unwrap() {
            wire::Status::Complete((f, n)) => {
                out.push(f);
                rest = &rest[n..];
            }
            wire::Status::Partial => panic!("partial frame in output"),
        }
    }
    out
}

fn hello(id: u64, port: u16) -> Frame<'static> {
    Frame::Hello(Hello {
        version: wire::VERSION,
        flags: 0,
        node_id: id,
        listen_port: port,
        advertised: None,
    })
}

/// A node at 127.0.0.1:7000 with one established inbound peer (id 5,
/// listening on 7001). Returns the node, the peer's connection and t0.
fn node_with_peer() -> (Node, ConnId, Instant) {
    let t0 = Instant::now();
    let mut cfg = Config::new(addr("127.0.0.1:7000"));
    cfg.period = None;
    let mut n = Node::new(cfg, 1, t0);
    n.handle_start(t0);
    let c = n.handle_accepted(addr("127.0.0.1:50000"), t0).unwrap();
    assert!(n.feed_frame(c, hello(5, 7001), t0));
    drain(&mut n);
    assert_eq!(n.peer_addrs(), vec![addr("127.0.0.1:7001")]);
    (n, c, t0)
}

#[test]
fn accepted_peer_gets_hello_then_welcome_and_is_named_by_ip_and_hello_port() {
    let t0 = Instant::now();
    let mut n = Node::new(Config::new(addr("127.0.0.1:7000")), 1, t0);
    n.handle_start(t0);
    assert_eq!(
        drain(&mut n),
        vec![Out::Log(
            "00:00:00 - My address is \"127.0.0.1:7000\"\n".into()
        )]
    );
    // Our hello waits for the first byte: it might be a text host's.
    let c = n.handle_accepted(addr("127.0.0.1:50000"), t0).unwrap();
    assert_eq!(drain(&mut n), vec![]);
    assert!(n.feed_frame(c, hello(5, 7001), t0));
    let out = drain(&mut n);
    assert_eq!(out.len(), 3, "{out:?}");
    let Out::Send(to, bytes) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(*to, c);
    assert!(matches!(
        frames(bytes)[..],
        [Frame::Hello(Hello {
            listen_port: 7000,
            flags: wire::text::FLAG_TEXT,
            ..
        })]
    ));
    let Out::Send(_, bytes) = &out[1] else {
        panic!()
    };
    assert_eq!(frames(bytes), vec![Frame::Peers(vec![])]);
    assert_eq!(
        out[2],
        Out::Log("00:00:00 - Connected to the peer at \"127.0.0.1:7001\"\n".into())
    );
}

#[test]
fn a_peer_list_never_makes_the_node_dial_itself_or_bogus_addresses() {
    let (mut n, c, t0) = node_with_peer();
    let my_id = n.id();
    let entry = |id: u64, a: &str| PeerEntry {
        node_id: id,
        addr: addr(a),
    };
    let list = vec![
        entry(9, "127.0.0.1:7000"),     // our own address
        entry(my_id, "127.0.0.1:7999"), // our own id
        entry(9, "0.0.0.0:7002"),       // unspecified
        entry(9, "[::]:7002"),
        entry(9, "[::ffff:0.0.0.0]:7002"), // unspecified, IPv4-mapped
        entry(9, "127.0.0.1:0"),           // port 0
        entry(9, "224.0.0.1:7002"),        // multicast
        entry(9, "[ff02::1]:7002"),
        entry(9, "255.255.255.255:7002"), // broadcast
        entry(5, "127.0.0.1:7001"),       // the peer we have
        entry(8, "127.0.0.1:7003"),       // the one good entry
        entry(8, "127.0.0.1:7003"),       // the same again
    ];
    assert!(n.feed_frame(c, Frame::Peers(list), t0));
    assert_eq!(dials(drain(&mut n)), vec![addr("127.0.0.1:7003")]);
}

/// The addresses dialed in `out`, in order.
fn dials(out: Vec<Out>) -> Vec<SocketAddr> {
    out.into_iter()
        .filter_map(|o| match o {
            Out::Dial(_, a) => Some(a),
            _ => None,
        })
        .collect()
}

fn entry(id: u64, port: u16) -> PeerEntry {
    PeerEntry {
        node_id: id,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

/// A node at 127.0.0.1:7000 with no random messages and `tweak` applied.
fn node_with(tweak: impl FnOnce(&mut Config)) -> (Node, Instant) {
    let t0 = Instant::now();
    let mut cfg = Config::new(addr("127.0.0.1:7000"));
    cfg.period = None;
    tweak(&mut cfg);
    let mut n = Node::new(cfg, 1, t0);
    n.handle_start(t0);
    drain(&mut n);
    (n, t0)
}

/// Accepts a peer from `127.0.0.1:remote` that says hello as `id`,
/// listening on `port`. Returns its connection and whether it was taken.
fn accept_peer(n: &mut Node, remote: u16, id: u64, port: u16, t0: Instant) -> (ConnId, bool) {
    let from = SocketAddr::from(([127, 0, 0, 1], remote));
    let c = n.handle_accepted(from, t0).expect("a handshake slot");
    let ok = n.feed_frame(c, hello(id, port), t0);
    (c, ok)
}

/// A hello with the given HyParView intent flags.
fn hello_as(id: u64, port: u16, flags: u8) -> Frame<'static> {
    Frame::Hello(Hello {
        version: wire::VERSION,
        flags,
        node_id: id,
        listen_port: port,
        advertised: None,
    })
}

#[test]
fn a_full_active_view_refuses_a_neighbor_request_and_makes_room_for_a_forced_one() {
    let (mut n, t0) = node_with(|c| c.max_peers = 2);
    let (_c1, ok1) = accept_peer(&mut n, 50001, 11, 7001, t0);
    let (c2, ok2) = accept_peer(&mut n, 50002, 12, 7002, t0);
    assert!(ok1 && ok2);
    drain(&mut n);
    assert_eq!(n.peer_count(), 2);
    // A low-priority neighbor request gets GOODBYE "full" and no hello;
    // nothing is printed.
    let from = SocketAddr::from(([127, 0, 0, 1], 50003));
    let c3 = n.handle_accepted(from, t0).unwrap();
    assert!(!n.feed_frame(c3, hello_as(13, 7003, wire::overlay::FLAG_LOW), t0));
    let out = drain(&mut n);
    let sent: Vec<Frame<'_>> = out
        .iter()
        .filter_map(|o| match o {
            Out::Send(c, b) if *c == c3 => Some(frames(b)),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(sent, vec![Frame::Goodbye(GoodbyeReason::Full)]);
    // It waits for the dialer to close (closing at once could reset the
    // connection before the goodbye is read).
    assert!(!out.contains(&Out::Close(c3)), "{out:?}");
    assert!(!out.iter().any(|o| matches!(o, Out::Log(_))), "{out:?}");
    assert_eq!((n.peer_count(), n.conn_count()), (2, 3));
    n.handle_closed(c3, Reason::Eof, t0);
    assert!(!drain(&mut n).iter().any(|o| matches!(o, Out::Log(_))));
    assert_eq!((n.peer_count(), n.conn_count()), (2, 2));
    // A peer list does not make it dial past the limit either.
    assert!(n.feed_frame(c2, Frame::Peers(vec![entry(14, 7004)]), t0));
    assert_eq!(dials(drain(&mut n)), vec![]);
    // A forced one (no flag: the end of a join walk) is taken, and a
    // random peer is replaced: GOODBYE "replaced", and it is printed.
    let (_c4, ok) = accept_peer(&mut n, 50005, 15, 7005, t0);
    assert!(ok);
    let out = drain(&mut n);
    assert_eq!(n.peer_count(), 2);
    assert!(n.peer_addrs().contains(&addr("127.0.0.1:7005")));
    let gone = out
        .iter()
        .find_map(|o| match o {
            Out::Log(l) if l.contains("Disconnected") => Some(l.clone()),
            _ => None,
        })
        .expect("a peer replaced");
    assert!(gone.contains("replaced by another peer"), "{gone}");
    assert!(
        out.iter()
            .any(|o| matches!(o, Out::Send(_, b) if frames(b) == vec![Frame::Goodbye(GoodbyeReason::Replaced)])),
        "{out:?}"
    );
    assert!(n.knows(addr("127.0.0.1:7001")) && n.knows(addr("127.0.0.1:7002")));
}

#[test]
fn known_addresses_stop_at_their_cap_and_a_new_peer_takes_a_stale_ones_place() {
    let (mut n, t0) = node_with(|c| c.max_known = 4);
    let (c, ok) = accept_peer(&mut n, 50001, 11, 7001, t0);
    assert!(ok);
    drain(&mut n);
    assert_eq!(n.known_count(), 1);
    // Ten new addresses: three fit beside the peer's own, the rest are
    // ignored, and only the ones remembered are dialed.
    let list: Vec<PeerEntry> = (0..10).map(|i| entry(20 + i, 7100 + i as u16)).collect();
    assert!(n.feed_frame(c, Frame::Peers(list), t0));
    let out = drain(&mut n);
    let ids: Vec<ConnId> = out
        .iter()
        .filter_map(|o| match o {
            Out::Dial(id, _) => Some(*id),
            _ => None,
        })
        .collect();
    let mut dialed = dials(out);
    dialed.sort();
    assert_eq!(
        dialed,
        (7100..7103)
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect::<Vec<_>>()
    );
    assert_eq!(n.known_count(), 4);
    // Those dials fail; a new inbound peer still gets in, in place of an
    // address nobody is connected to, and the count stays at the cap.
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    for id in ids {
        n.handle_closed(id, Reason::io(&refused), t0);
    }
    drain(&mut n);
    assert_eq!(n.known_count(), 4);
    let (_, ok) = accept_peer(&mut n, 50002, 12, 7002, t0);
    assert!(ok);
    drain(&mut n);
    assert_eq!(n.peer_count(), 2);
    assert_eq!(n.known_count(), 4);
    assert!(n.knows(addr("127.0.0.1:7002")));
    assert!(n.knows(addr("127.0.0.1:7001")), "a connected peer is kept");
}

#[test]
fn entries_past_the_list_take_cap_are_ignored() {
    let (mut n, t0) = node_with(|c| c.max_list_take = 3);
    let (c, ok) = accept_peer(&mut n, 50001, 11, 7001, t0);
    assert!(ok);
    drain(&mut n);
    let list: Vec<PeerEntry> = (0..10).map(|i| entry(20 + i, 7100 + i as u16)).collect();
    assert!(n.feed_frame(c, Frame::Peers(list), t0));
    assert_eq!(dials(drain(&mut n)).len(), 3);
    assert_eq!(n.known_count(), 4);
}

#[test]
fn a_hello_with_our_own_id_is_a_self_connection_and_never_redialed() {
    let t0 = Instant::now();
    let mut cfg = Config::new(addr("0.0.0.0:7000"));
    cfg.bootstrap = vec![addr("127.0.0.1:7000")]; // ourselves, by another name
    let mut n = Node::new(cfg, 1, t0);
    let my_id = n.id();
    n.handle_start(t0);
    let out = drain(&mut n);
    let Some(Out::Dial(c, a)) = out.iter().find(|o| matches!(o, Out::Dial(..))) else {
        panic!("{out:?}")
    };
    assert_eq!(*a, addr("127.0.0.1:7000"));
    n.handle_connected(*c, t0);
    assert!(!n.feed_frame(*c, hello(my_id, 7000), t0));
    assert!(drain(&mut n).contains(&Out::Close(*c)));
    assert!(n.is_self_addr(addr("127.0.0.1:7000")));
    assert_eq!(n.peer_count(), 0);
    // Joining through nobody but itself, it is a first node: stdin is read.
    assert!(n.wants_stdin());
    // Time passes: nothing is dialed again.
    for s in 1..60 {
        n.handle_timeout(t0 + Duration::from_secs(s));
        assert!(!drain(&mut n).iter().any(|o| matches!(o, Out::Dial(..))));
    }
}

#[test]
fn frames_out_of_order_close_only_that_connection() {
    let (mut n, good, t0) = node_with_peer();
    // A message before the hello.
    let bad = n.handle_accepted(addr("127.0.0.1:50001"), t0).unwrap();
    drain(&mut n);
    let msg = Frame::Message {
        id: 1,
        ttl: 0,
        payload: b"sneaky",
    };
    assert!(!n.feed_frame(bad, msg.clone(), t0));
    let out = drain(&mut n);
    assert!(out.contains(&Out::Close(bad)));
    assert!(out.iter().any(|o| matches!(o, Out::Diag(d)
        if d == "rumor: closed connection with 127.0.0.1:50001: protocol error: message before the handshake\n")));
    assert!(
        !out.iter()
            .any(|o| matches!(o, Out::Log(l) if l.contains("sneaky")))
    );
    // A second hello from an established peer.
    assert!(!n.feed_frame(good, hello(5, 7001), t0));
    let out = drain(&mut n);
    assert!(out.contains(&Out::Close(good)));
    assert!(out.contains(&Out::Log(
        "00:00:00 - Disconnected from the peer at \"127.0.0.1:7001\" (protocol error: hello after the handshake)\n".into()
    )));
    assert_eq!(n.conn_count(), 0);
}

#[test]
fn bytes_that_are_not_a_frame_close_the_peer_with_its_reason() {
    let (mut n, c, t0) = node_with_peer();
    assert!(!n.handle_read(c, &[0, 0, 0, 1, 99], t0));
    let out = drain(&mut n);
    assert!(out.contains(&Out::Close(c)), "{out:?}");
    assert!(out.contains(&Out::Diag(
        "rumor: closed connection to \"127.0.0.1:7001\": protocol error: unknown frame type 99\n".into()
    )), "{out:?}");
    assert_eq!(n.peer_count(), 0);
}

#[test]
fn hours_keep_counting_past_a_day() {
    let (mut n, c, t0) = node_with_peer();
    let later = t0 + Duration::from_secs(25 * 3600 + 61);
    let msg = Frame::Message {
        id: 1,
        ttl: 0,
        payload: b"late",
    };
    assert!(n.feed_frame(c, msg, later));
    assert_eq!(
        drain(&mut n),
        vec![Out::Log(
            "25:01:01 - Received message [late] from \"127.0.0.1:7001\"\n".into()
        )]
    );
}

#[test]
fn received_text_is_escaped_and_invalid_utf8_replaced() {
    let (mut n, c, t0) = node_with_peer();
    let payload = b"a\nb\x1b[2J\xff\xfe c";
    assert!(n.feed_frame(
        c,
        Frame::Message {
            id: 1,
            ttl: 0,
            payload
        },
        t0
    ));
    assert_eq!(
        drain(&mut n),
        vec![Out::Log("00:00:00 - Received message [a\\nb\\u{1b}[2J\u{fffd}\u{fffd} c] from \"127.0.0.1:7001\"\n".into())]
    );
}

#[test]
fn stdin_that_is_not_utf8_is_sent_with_replacement_characters() {
    let (mut n, c, t0) = node_with_peer();
    n.handle_stdin(b"caf\xe9\n", t0);
    let out = drain(&mut n);
    let Some(Out::Send(to, bytes)) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(*to, c);
    let [Frame::Overlay(Overlay::Gossip { payload, hops, .. })] = frames(bytes)[..] else {
        panic!()
    };
    assert_eq!((payload, hops), ("caf\u{fffd}".as_bytes(), 0));
}

#[test]
fn goodbye_ends_the_peer_without_a_redial() {
    let (mut n, c, t0) = node_with_peer();
    assert!(!n.feed_frame(c, Frame::Goodbye(GoodbyeReason::Shutdown), t0));
    let out = drain(&mut n);
    assert!(out.contains(&Out::Log(
        "00:00:00 - Disconnected from the peer at \"127.0.0.1:7001\" (it left)\n".into()
    )));
    for s in 1..30 {
        n.handle_timeout(t0 + Duration::from_secs(s));
        assert!(!drain(&mut n).iter().any(|o| matches!(o, Out::Dial(..))));
    }
}

#[test]
fn a_silent_peer_is_dropped_and_redialed_with_growing_gaps() {
    let (mut n, _c, t0) = node_with_peer();
    let mut dials = Vec::new();
    let mut t = t0;
    let end = t0 + Duration::from_secs(30);
    while let Some(next) = n.poll_timeout().filter(|&d| d <= end) {
        t = next;
        n.handle_timeout(t);
        for o in drain(&mut n) {
            if let Out::Dial(c, _) = o {
                dials.push(t - t0);
                let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
                n.handle_closed(c, Reason::io(&e), t);
                drain(&mut n);
            }
        }
    }
    assert!(t <= end);
    // Dropped after 3 s of silence, then redialed with doubling gaps.
    assert!(dials.len() >= 4, "{dials:?}");
    assert!(dials[0] >= Duration::from_secs(3), "{dials:?}");
    let gaps: Vec<Duration> = dials.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
}

#[test]
fn many_peers_that_stop_reading_cannot_add_up_past_the_total_budget() {
    let t0 = Instant::now();
    let mut cfg = Config::new(addr("127.0.0.1:7000"));
    cfg.period = None;
    cfg.max_unsent = 10_000;
    cfg.max_unsent_total = 25_000;
    let mut n = Node::new(cfg, 1, t0);
    n.handle_start(t0);
    let mut conns = Vec::new();
    for i in 0..8u16 {
        let c = n
            .handle_accepted(SocketAddr::from(([127, 0, 0, 1], 50_000 + i)), t0)
            .unwrap();
        assert!(n.feed_frame(c, hello(100 + i as u64, 7001 + i), t0));
        conns.push(c);
    }
    // Peer 0 reads everything; the other seven never read a byte.
    for o in drain(&mut n) {
        if let Out::Send(c, bytes) = o
            && c == conns[0]
        {
            n.handle_written(c, bytes.len());
        }
    }
    let line = format!("{}\n", "x".repeat(100));
    let mut lines_in = 0;
    for _ in 0..2_000 {
        if !n.wants_stdin() {
            break;
        }
        n.handle_stdin(line.as_bytes(), t0);
        lines_in += 1;
        for o in drain(&mut n) {
            if let Out::Send(c, bytes) = o
                && c == conns[0]
            {
                n.handle_written(c, bytes.len());
            }
        }
        let held: usize = conns.iter().map(|&c| n.unsent(c).unwrap()).sum();
        assert_eq!(held, n.unsent_total());
        // The budget plus at most one message for each peer that had an
        // empty queue when it went over.
        assert!(held <= 25_000 + 8 * 114, "{held}");
    }
    // stdin stopped being read before anything was lost for the reader,
    // and the reader got every line that was read.
    assert!(!n.wants_stdin());
    assert!(lines_in < 2_000);
    assert_eq!(n.unsent(conns[0]), Some(0));
}

#[test]
fn a_join_with_a_peer_but_no_welcome_settles_when_no_more_peers_come() {
    // The bootstrap never answers; a peer that sends no list connects, a
    // second one 300 ms later: the join settles 500 ms after the last.
    let (mut n, t0) = node_with(|c| c.bootstrap = vec![addr("127.0.0.1:7999")]);
    assert!(!n.wants_stdin(), "joining: stdin waits");
    let (c, ok) = accept_peer(&mut n, 50001, 11, 7001, t0);
    assert!(ok);
    drain(&mut n);
    assert!(!n.wants_stdin());
    let t1 = t0 + Duration::from_millis(300);
    n.handle_timeout(t1);
    let (_, ok) = accept_peer(&mut n, 50002, 12, 7002, t1);
    assert!(ok);
    assert!(n.feed_frame(c, Frame::Keepalive, t1));
    n.handle_timeout(t0 + Duration::from_millis(799));
    assert!(!n.wants_stdin());
    n.handle_timeout(t0 + Duration::from_millis(800));
    let out = drain(&mut n);
    assert!(
        out.contains(&Out::Log(
            "00:00:00 - Connected to the peers at [\"127.0.0.1:7001\", \"127.0.0.1:7002\"]\n"
                .into()
        )),
        "{out:?}"
    );
    assert!(n.wants_stdin());
}

#[test]
fn a_hello_reusing_a_connected_peers_id_from_elsewhere_is_refused() {
    // Node ids are public: every welcome lists them.
    let (mut a, b, t0) = node_with_peer();
    let evil = a.handle_accepted(addr("10.9.9.9:40000"), t0).unwrap();
    drain(&mut a);
    assert!(!a.feed_frame(evil, hello(5, 6666), t0));
    let out = drain(&mut a);
    assert!(out.contains(&Out::Close(evil)), "{out:?}");
    assert!(
        out.contains(&Out::Diag(
            "rumor: closed connection with 10.9.9.9:40000: its node id is connected at 127.0.0.1:7001\n"
                .into()
        )),
        "{out:?}"
    );
    assert!(
        !out.iter()
            .any(|o| matches!(o, Out::Send(c, _) | Out::Close(c) if *c == b))
    );
    assert!(!out.iter().any(|o| matches!(o, Out::Log(_))), "{out:?}");
    assert_eq!(a.peer_addrs(), vec![addr("127.0.0.1:7001")]);
    // B is still served.
    assert!(a.feed_frame(b, Frame::Keepalive, t0));
}

#[test]
fn a_goodbye_duplicate_on_the_connection_we_kept_is_a_loss_and_redialed() {
    // The peer kept a connection we do not have (the two ends disagreed):
    // losing the one we have must not lose the peer for good.
    let (mut n, to_b, t0) = node_with_peer();
    let (_, ok) = accept_peer(&mut n, 50009, 9, 7009, t0);
    assert!(ok);
    drain(&mut n);
    assert!(!n.feed_frame(to_b, Frame::Goodbye(GoodbyeReason::Duplicate), t0));
    let out = drain(&mut n);
    assert!(
        out.iter().any(|o| matches!(o, Out::Log(l) if l.contains("Disconnected from the peer at \"127.0.0.1:7001\""))),
        "{out:?}"
    );
    let mut redialed = false;
    for ms in (100..5000).step_by(100) {
        n.handle_timeout(t0 + Duration::from_millis(ms));
        redialed |= dials(drain(&mut n)).contains(&addr("127.0.0.1:7001"));
    }
    assert!(redialed);
}

/// Our dial to B (127.0.0.1:7001) has sent its hello when B's own dial
/// to us is accepted and becomes the peer; then B, having kept our dial
/// (its node id is the larger), says GOODBYE(duplicate) on its own.
/// Returns the node, our dial, B's connection and t0.
fn goodbye_ahead_of_the_hello() -> (Node, ConnId, ConnId, Instant) {
    let (mut n, t0) = node_with(|_| {});
    let b_id = u64::MAX;
    assert!(n.id() < b_id);
    let (c, _) = accept_peer(&mut n, 50009, 9, 7009, t0);
    drain(&mut n);
    assert!(n.feed_frame(c, Frame::Peers(vec![entry(b_id, 7001)]), t0));
    let dial = drain(&mut n)
        .into_iter()
        .find_map(|o| match o {
            Out::Dial(d, a) if a == addr("127.0.0.1:7001") => Some(d),
            _ => None,
        })
        .expect("a dial to B");
    n.handle_connected(dial, t0);
    let (b, ok) = accept_peer(&mut n, 50001, b_id, 7001, t0);
    assert!(ok);
    drain(&mut n);
    assert!(n.feed_frame(b, Frame::Goodbye(GoodbyeReason::Duplicate), t0));
    let out = drain(&mut n);
    assert!(
        !out.iter().any(|o| matches!(o, Out::Log(_) | Out::Close(_))),
        "{out:?}"
    );
    assert_eq!(
        n.peer_addrs(),
        vec![addr("127.0.0.1:7001"), addr("127.0.0.1:7009")]
    );
    (n, dial, b, t0)
}

#[test]
fn a_duplicates_goodbye_ahead_of_our_dials_answer_hands_the_peer_over_silently() {
    let (mut n, dial, b, t0) = goodbye_ahead_of_the_hello();
    // B's link still carries what we send meanwhile.
    n.handle_stdin(b"meanwhile\n", t0);
    let out = drain(&mut n);
    assert!(
        out.iter().any(|o| matches!(o, Out::Send(c, _) if *c == b)),
        "{out:?}"
    );
    // B's hello on our dial: the duplicate rule hands B over, silently.
    assert!(n.feed_frame(dial, hello(u64::MAX, 7001), t0));
    let out = drain(&mut n);
    assert!(!out.iter().any(|o| matches!(o, Out::Log(_))), "{out:?}");
    // B's connection is wound down as the duplicate it is.
    let goodbye = Frame::Goodbye(GoodbyeReason::Duplicate);
    let retired = out.iter().any(|o| match o {
        Out::Send(c, bytes) => *c == b && frames(bytes).contains(&goodbye),
        _ => false,
    });
    assert!(retired, "{out:?}");
    assert_eq!(
        n.peer_addrs(),
        vec![addr("127.0.0.1:7001"), addr("127.0.0.1:7009")]
    );
    n.handle_closed(b, Reason::Eof, t0);
    assert!(!drain(&mut n).iter().any(|o| matches!(o, Out::Log(_))));
    assert_eq!(n.conn_count(), 2);
}

#[test]
fn a_duplicates_goodbye_ahead_of_a_dial_that_then_fails_loses_the_peer_for_the_dials_reason() {
    let (mut n, dial, b, t0) = goodbye_ahead_of_the_hello();
    n.handle_closed(dial, Reason::Eof, t0);
    let out = drain(&mut n);
    assert!(out.contains(&Out::Close(b)), "{out:?}");
    assert!(
        out.contains(&Out::Log(
            "00:00:00 - Disconnected from the peer at \"127.0.0.1:7001\" (connection closed)\n"
                .into()
        )),
        "{out:?}"
    );
    assert_eq!(n.peer_addrs(), vec![addr("127.0.0.1:7009")]);
    let mut redialed = false;
    for ms in (100..5000).step_by(100) {
        n.handle_timeout(t0 + Duration::from_millis(ms));
        redialed |= dials(drain(&mut n)).contains(&addr("127.0.0.1:7001"));
    }
    assert!(redialed);
}

#[test]
fn a_node_listed_under_two_addresses_is_dialed_once_and_both_ends_agree() {
    use std::collections::{HashMap, VecDeque};
    let t0 = Instant::now();
    // B listens on every interface: reachable as 127.0.0.1 and 127.0.0.2.
    let mut bcfg = Config::new(addr("0.0.0.0:7001"));
    bcfg.period = None;
    let mut b = Node::new(bcfg, 2, t0);
    b.handle_start(t0);
    drain(&mut b);
    let bid = b.id();
    let (mut a, _) = node_with(|_| {});
    let (c, _) = accept_peer(&mut a, 50011, 11, 7011, t0);
    let (d, _) = accept_peer(&mut a, 50012, 12, 7012, t0);
    drain(&mut a);
    // Two peers name B by two addresses before either dial is done.
    let e = |ip: [u8; 4]| PeerEntry {
        node_id: bid,
        addr: SocketAddr::from((ip, 7001)),
    };
    assert!(a.feed_frame(c, Frame::Peers(vec![e([127, 0, 0, 1])]), t0));
    assert!(a.feed_frame(d, Frame::Peers(vec![e([127, 0, 0, 2])]), t0));
    let ds: Vec<ConnId> = drain(&mut a)
        .into_iter()
        .filter_map(|o| match o {
            Out::Dial(c, _) => Some(c),
            _ => None,
        })
        .collect();
    let [a1] = ds[..] else { panic!("{ds:?}") };
    // Wire the one connection between the two cores and let them talk.
    let b1 = b.handle_accepted(addr("127.0.0.1:50001"), t0).unwrap();
    a.handle_connected(a1, t0);
    let a2b: HashMap<ConnId, ConnId> = [(a1, b1)].into();
    let b2a: HashMap<ConnId, ConnId> = [(b1, a1)].into();
    let mut q: VecDeque<(bool, Out)> = VecDeque::new();
    q.extend(drain(&mut b).into_iter().map(|o| (false, o)));
    q.extend(drain(&mut a).into_iter().map(|o| (true, o)));
    while let Some((from_a, o)) = q.pop_front() {
        let (map, to) = if from_a {
            (&a2b, &mut b)
        } else {
            (&b2a, &mut a)
        };
        match o {
            Out::Send(c, bytes) => {
                if let Some(&theirs) = map.get(&c) {
                    for f in frames(&bytes) {
                        if !to.feed_frame(theirs, f, t0) {
                            break;
                        }
                    }
                }
            }
            Out::Close(c) => {
                if let Some(&theirs) = map.get(&c) {
                    to.handle_closed(theirs, Reason::Eof, t0);
                }
            }
            _ => {}
        }
        q.extend(drain(&mut a).into_iter().map(|o| (true, o)));
        q.extend(drain(&mut b).into_iter().map(|o| (false, o)));
    }
    assert!(a.peer_addrs().iter().any(|p| p.port() == 7001));
    assert!(b.peer_addrs().contains(&addr("127.0.0.1:7000")));
    // Later, the other address's turn comes: B is connected, so it is not
    // dialed.
    for ms in (100..3000).step_by(100) {
        a.handle_timeout(t0 + Duration::from_millis(ms));
        assert_eq!(dials(drain(&mut a)), vec![]);
    }
}

/// The core alone, deterministically: a peer list of bogus, self and
/// duplicate entries yields dials to good addresses only, once each, as
/// many as the active view has room for; the rest wait in the passive
/// view (capped), and joins still find handshake slots.
#[test]
fn the_core_dials_only_valid_peer_list_entries_and_leaves_room_for_joins() {
    let now = Instant::now();
    let me: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let mut node = Node::new(Config::new(me), 1, now);
    node.handle_start(now);
    drain(&mut node);
    let peer: SocketAddr = "127.0.0.1:7001".parse().unwrap();
    let conn = node.handle_accepted(peer, now).unwrap();
    node.feed_frame(conn, hello(42, 7001), now);
    drain(&mut node);
    let at = |s: &str| -> SocketAddr { s.parse().unwrap() };
    let entry = |node_id: u64, addr: SocketAddr| PeerEntry { node_id, addr };
    let mut list = vec![
        entry(1, me),
        entry(2, at("0.0.0.0:7002")),
        entry(3, at("[::]:7002")),
        entry(4, at("127.0.0.1:0")),
        entry(5, at("224.0.0.1:7002")),
        entry(6, at("255.255.255.255:7002")),
        entry(7, at("[ff02::1]:7002")),
        entry(node.id(), at("127.0.0.1:7003")),
        entry(42, at("127.0.0.1:7004")),
        entry(8, at("127.0.0.1:7005")),
        entry(9, at("127.0.0.1:7005")),
    ];
    list.extend((0..200).map(|i| {
        entry(
            100 + i,
            SocketAddr::new([127, 0, 1, 1].into(), 8000 + i as u16),
        )
    }));
    node.feed_frame(conn, Frame::Peers(list), now);
    let dials = dials(drain(&mut node));
    let room = node.config().max_peers - 1;
    assert_eq!(dials.len(), room, "{dials:?}");
    let good = |a: &SocketAddr| *a == at("127.0.0.1:7005") || a.ip() == at("127.0.1.1:1").ip();
    assert!(dials.iter().all(good), "{dials:?}");
    let mut once = dials.clone();
    once.sort();
    once.dedup();
    assert_eq!(once.len(), dials.len());
    let passive = node.config().max_passive;
    assert!(
        node.known_count() <= passive + 1 + room,
        "{}",
        node.known_count()
    );
    // The rest wait; an inbound join still finds room.
    let cap = node.config().max_pending / 2;
    for i in 0..cap {
        let c = node.handle_accepted(SocketAddr::new([127, 0, 2, 1].into(), 9000 + i as u16), now);
        assert!(c.is_some());
    }
    assert_eq!(node.stats().peers_refused, 0);
    // Later, more of the list is dialed, never a bad or repeated address.
    let later = now + Duration::from_secs(1);
    node.handle_timeout(later);
    for o in drain(&mut node) {
        if let Out::Dial(_, addr) = o {
            assert!(
                !dials.contains(&addr) && addr.ip() == at("127.0.1.1:1").ip(),
                "{addr}"
            );
        }
    }
}
