//! Seeds of version 2's frames and node scripts (the overlay and the
//! broadcast tree), for `seeds.rs`.

use rumor::record::PREAMBLE;
use rumor::wire::overlay::{self, FLAG_JOIN, FLAG_LOW, MsgId, Overlay};
use rumor::wire::{Frame, GoodbyeReason, Hello, VERSION};
use rumor_fuzz::node_driver::{Header, Script};

use super::{Check, enc, entry};

/// Version 2's frames: the overlay and the broadcast tree, the new hello
/// flags and goodbye reasons.
pub fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let id = MsgId {
        origin: 0x0102_0304_0506_0708,
        seq: 9,
    };
    let hello = |version, flags| {
        enc(&Frame::Hello(Hello {
            version,
            flags,
            node_id: 0x0123_4567_89ab_cdef,
            listen_port: 7001,
            advertised: None,
        }))
    };
    let ihave = |n: u32| {
        let mut v = Vec::new();
        overlay::encode_ihave(
            &mut v,
            (0..n).map(|i| (MsgId { origin: 5, seq: i }, i as u8)),
        );
        v
    };
    let ov = |o: Overlay<'_>| enc(&Frame::Overlay(o));
    vec![
        ("hello-join", hello(VERSION, FLAG_JOIN)),
        ("hello-low-text", hello(VERSION, FLAG_LOW | 0x02)),
        ("hello-v1", hello(1, 0)),
        ("hello-v3", hello(3, FLAG_JOIN)),
        (
            "goodbye-replaced",
            enc(&Frame::Goodbye(GoodbyeReason::Replaced)),
        ),
        ("goodbye-full", enc(&Frame::Goodbye(GoodbyeReason::Full))),
        (
            "goodbye-version",
            enc(&Frame::Goodbye(GoodbyeReason::Version)),
        ),
        (
            "gossip-v4",
            ov(Overlay::Gossip {
                id,
                hops: 0,
                origin: "127.0.0.1:7001".parse().expect("an address"),
                payload: b"hello over the tree",
            }),
        ),
        (
            "gossip-v6",
            ov(Overlay::Gossip {
                id: MsgId {
                    origin: u64::MAX,
                    seq: u32::MAX,
                },
                hops: 255,
                origin: "[2001:db8::1]:7000".parse().expect("an address"),
                payload: b"",
            }),
        ),
        ("ihave-empty", ihave(0)),
        ("ihave-3", ihave(3)),
        ("ihave-64", ihave(64)),
        ("graft", ov(Overlay::Graft(id))),
        ("prune", ov(Overlay::Prune)),
        (
            "forward-join",
            ov(Overlay::ForwardJoin {
                ttl: 6,
                node_id: 77,
                addr: "127.0.0.1:7002".parse().expect("an address"),
            }),
        ),
        (
            "shuffle",
            ov(Overlay::Shuffle(vec![
                entry(7, "127.0.0.1:7001"),
                entry(8, "[::1]:7002"),
            ])),
        ),
        ("shuffle-reply-empty", ov(Overlay::ShuffleReply(vec![]))),
    ]
}

/// Version 2: the broadcast tree and the overlay from raw peers.
pub fn scripts() -> Vec<(&'static str, Vec<u8>, Check)> {
    let mut v: Vec<(&'static str, Vec<u8>, Check)> = Vec::new();

    // Two peers; origin 9's messages out of order, a duplicate, a gap
    // waited for then skipped, a late one, IHAVEs grafted, a PRUNE.
    let mut s = Script::new(Header::default());
    s.accept(0)
        .hello(0, 5, 2)
        .accept(3)
        .hello(1, 6, 3)
        .written(0)
        .written(1)
        .gossip(0, 9, 1, 0, 4, b"first")
        .gossip(1, 9, 1, 1, 4, b"first")
        .gossip(0, 9, 3, 0, 4, b"third")
        .gossip(1, 9, 2, 1, 4, b"second")
        .gossip(0, 9, 6, 0, 4, b"sixth")
        .time(3)
        .keepalive(0)
        .keepalive(1)
        .time(3)
        .keepalive(0)
        .keepalive(1)
        .gossip(0, 9, 4, 0, 4, b"too late")
        .ihave(1, &[(9, 7, 1), (10, 1, 2), (0, 3, 0)])
        .time(0)
        .time(0)
        .time(0)
        .gossip(1, 10, 1, 2, 5, b"grafted")
        .graft(0, 9, 1)
        .prune(1)
        .stdin(b"my own line\n")
        .time(0)
        .written(0)
        .written(1)
        .time(5);
    v.push(("gossip", s.bytes, |s| {
        s.gossip_printed >= 3 && s.overlay_sent >= 3
    }));

    // A full active view of 2: JOIN hellos make room (GOODBYE replaced),
    // LOW ones are refused (GOODBYE full), walks and shuffles pass through.
    let mut s = Script::new(Header {
        max_peers: 2,
        max_passive: 2,
        ..Header::default()
    });
    s.accept(0)
        .hello_v(0, 11, 2, 2, FLAG_JOIN)
        .accept(1)
        .hello_v(1, 12, 3, 2, FLAG_JOIN)
        .accept(2)
        .hello_v(2, 13, 0, 2, FLAG_JOIN)
        .accept(3)
        .hello_v(3, 14, 2, 2, FLAG_LOW)
        .forward_join(0, 6, 20, 5)
        .forward_join(1, 0, 21, 6)
        .shuffle(0, false, &[(22, 4), (23, 6), (24, 7)])
        .shuffle(1, true, &[(25, 5)])
        .time(4)
        .time(5)
        .goodbye(0, 2)
        .goodbye(0, 3)
        .time(5);
    v.push(("views", s.bytes, |s| {
        s.replaced >= 1 && s.max_peers_seen == 2 && s.overlay_sent >= 2
    }));

    // Hellos of version 1 and 3 are refused with GOODBYE version; a dial
    // answered with GOODBYE full or version before its hello.
    let mut s = Script::new(Header {
        bootstrap: &[2, 3],
        ..Header::default()
    });
    s.accept(0)
        .hello_v(2, 30, 2, 1, 0)
        .accept(1)
        .hello_v(2, 31, 2, 3, FLAG_JOIN)
        .connected(0)
        .goodbye(0, 3)
        .connected(0)
        .goodbye(0, 4)
        .time(3)
        .time(0);
    v.push(("versions", s.bytes, |s| {
        s.frames_sent >= 2 && s.max_peers_seen == 0
    }));

    // With a network key: raw peers' hellos and gossip never get through.
    let mut s = Script::new(Header {
        keyed: true,
        bootstrap: &[2],
        ..Header::default()
    });
    s.accept(0)
        .hello(1, 5, 2)
        .gossip(1, 9, 1, 0, 4, b"forged")
        .connected(0)
        .raw(0, &PREAMBLE)
        .accept(2)
        .raw(2, &[0x55; 40])
        .stdin(b"nobody to send to\n")
        .time(4)
        .time(0);
    v.push(("keyed", s.bytes, |s| {
        s.max_peers_seen == 0 && s.messages_received == 0 && s.frames_sent >= 1
    }));
    v
}
