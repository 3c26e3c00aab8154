//! Writes the committed seed corpus: `cargo run --example seeds` in `fuzz/`.
//!
//! `corpus/{decode,stream,roundtrip}/seed-*` are frames of every type (and a
//! few streams and broken frames); `corpus/node/seed-*` are node scripts
//! (see `src/node_driver.rs`) that carry the same frames from fake peers.
//! `corpus/record/seed-*` drive the record layer's checks
//! (`src/record_props.rs`: the first byte picks the check).
//! Each seed is run through its checks here first, and each node script must
//! reach what its name promises.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use rumor::record::PREAMBLE;
use rumor::wire::text::TextFrame;
use rumor::wire::{Frame, GoodbyeReason, Hello, MAX_PAYLOAD, PeerEntry, VERSION};
use rumor_fuzz::node_driver::{self, Header, Script};
use rumor_fuzz::{props, record_props};

#[path = "seeds/v2.rs"]
mod v2;

pub fn enc(f: &Frame<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    f.encode(&mut v);
    v
}

pub fn entry(node_id: u64, addr: &str) -> PeerEntry {
    PeerEntry {
        node_id,
        addr: addr.parse::<SocketAddr>().expect("a socket address"),
    }
}

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let hello = Frame::Hello(Hello {
        version: VERSION,
        flags: 0,
        node_id: 0x0123_4567_89ab_cdef,
        listen_port: 7001,
        advertised: None,
    });
    let long = vec![b'x'; 300];
    let mut v = vec![
        ("hello", enc(&hello)),
        (
            "hello-v2-flags",
            enc(&Frame::Hello(Hello {
                version: 2,
                flags: 0x80,
                node_id: u64::MAX,
                listen_port: u16::MAX,
                advertised: None,
            })),
        ),
        (
            "hello-advertised",
            enc(&Frame::Hello(Hello {
                version: VERSION,
                flags: 0,
                node_id: 0x0123_4567_89ab_cdef,
                listen_port: 7001,
                advertised: Some("[2001:db8::7]:9".parse().unwrap()),
            })),
        ),
        ("peers-empty", enc(&Frame::Peers(vec![]))),
        (
            "peers-v4",
            enc(&Frame::Peers(vec![
                entry(7, "127.0.0.1:7001"),
                entry(8, "192.0.2.1:7000"),
            ])),
        ),
        (
            "peers-v6",
            enc(&Frame::Peers(vec![
                entry(9, "[::1]:7002"),
                entry(10, "[2001:db8::1]:7000"),
                entry(11, "10.1.2.3:65535"),
            ])),
        ),
        (
            "message",
            enc(&Frame::Message {
                id: 42,
                ttl: 0,
                payload: b"hello world",
            }),
        ),
        (
            "message-empty",
            enc(&Frame::Message {
                id: 1,
                ttl: 3,
                payload: b"",
            }),
        ),
        (
            "message-binary",
            enc(&Frame::Message {
                id: u64::MAX,
                ttl: 255,
                payload: b"\0\n\r\x1b[31m\xff\xfe caf\xc3\xa9",
            }),
        ),
        (
            "message-300",
            enc(&Frame::Message {
                id: 300,
                ttl: 0,
                payload: &long,
            }),
        ),
        ("keepalive", enc(&Frame::Keepalive)),
        (
            "goodbye-shutdown",
            enc(&Frame::Goodbye(GoodbyeReason::Shutdown)),
        ),
        (
            "goodbye-duplicate",
            enc(&Frame::Goodbye(GoodbyeReason::Duplicate)),
        ),
        (
            "goodbye-other",
            enc(&Frame::Goodbye(GoodbyeReason::Other(77))),
        ),
        (
            "text",
            enc(&Frame::Text(TextFrame::Text {
                ttl: 0,
                origin: "127.0.0.1:1248".parse().expect("an address"),
                text: b"hello from an old node",
            })),
        ),
        (
            "text-host-v6",
            enc(&Frame::Text(TextFrame::TextHost {
                ttl: 0,
                addr: "[2001:db8::7]:1248".parse().expect("an address"),
            })),
        ),
    ];
    v.extend(v2::frames());
    let all: Vec<u8> = v.iter().flat_map(|(_, b)| b.clone()).collect();
    let hello_bytes = enc(&hello);
    v.push(("stream-all", all.clone()));
    v.push((
        "stream-partial",
        [&all[..], &hello_bytes[..hello_bytes.len() - 3]].concat(),
    ));
    // Broken frames, each after a good one, so a reader yields one frame
    // and then the error.
    let after = |bad: &[u8]| [&enc(&Frame::Keepalive)[..], bad].concat();
    v.push(("bad-empty", after(&[0, 0, 0, 0])));
    let too_large = (MAX_PAYLOAD as u32 + 11).to_be_bytes();
    v.push(("bad-too-large", after(&too_large)));
    v.push(("bad-type", after(&[0, 0, 0, 1, 99])));
    v.push((
        "bad-magic",
        after(&[&[0, 0, 0, 17, 1][..], b"JUNK", &[1; 12]].concat()),
    ));
    v.push((
        "bad-version",
        after(&[&[0, 0, 0, 17, 1][..], b"RUMR", &[0; 12]].concat()),
    ));
    v.push((
        "bad-family",
        after(&[&[0, 0, 0, 18, 2, 0, 1][..], &[0; 8], &[5], &[0; 6]].concat()),
    ));
    v.push(("bad-count", after(&[0, 0, 0, 3, 2, 0xff, 0xff])));
    v.push(("bad-keepalive-len", after(&[0, 0, 0, 2, 4, 0])));
    v.push(("bad-ihave-len", after(&[0, 0, 0, 3, 9, 0, 0])));
    v.push(("bad-prune-len", after(&[0, 0, 0, 2, 11, 0])));
    v.push((
        "bad-graft-len",
        after(&[0, 0, 0, 12, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ));
    v.push(("bad-type-15", after(&[0, 0, 0, 1, 15])));
    v.push((
        "bad-gossip-family",
        after(&[&[0, 0, 0, 15, 8][..], &[0; 13], &[5]].concat()),
    ));
    v
}

/// Node scripts and a check of what each must reach.
pub type Check = fn(&node_driver::Summary) -> bool;

fn scripts() -> Vec<(&'static str, Vec<u8>, Check)> {
    let mut v: Vec<(&'static str, Vec<u8>, Check)> = Vec::new();

    // An inbound peer: handshake, every frame type, then it leaves.
    let mut s = Script::new(Header::default());
    s.accept(0)
        .hello(0, 5, 2)
        .written(0)
        .keepalive(0)
        .message(0, b"hello from 5")
        .peers(0, &[(6, 4), (7, 6)])
        .raw(0, &[0, 0, 0, 1, 4])
        .written(0)
        .time(3)
        .keepalive(0)
        .time(0)
        .goodbye(0, 0);
    v.push(("inbound", s.bytes, |s| {
        s.max_peers_seen == 1 && s.messages_received == 1
    }));

    // Joining through a bootstrap peer that welcomes us with a list of two.
    let mut s = Script::new(Header {
        bootstrap: &[2],
        period: 2,
        ..Header::default()
    });
    s.connected(0)
        .hello(0, 7, 2)
        .peers(0, &[(8, 3), (9, 4)])
        .connected(0)
        .connected(0)
        .hello(1, 8, 0)
        .hello(2, 9, 0)
        .written(0)
        .written(1)
        .written(2)
        .time(0)
        .time(3)
        .keepalive(0)
        .keepalive(1)
        .message(2, b"welcome")
        .time(3)
        .closed(1, 0)
        .time(0)
        .time(0);
    // Version 2: the welcome's peers go to the passive view; they are dialed
    // (the view has room) but the script answers only the first.
    v.push(("join", s.bytes, |s| s.max_peers_seen >= 1 && s.dials >= 3));

    // The same peer both dials in and is dialed: one connection retires.
    let mut s = Script::new(Header {
        bootstrap: &[4],
        ..Header::default()
    });
    s.connected(0)
        .accept(3)
        .hello(1, 1, 0)
        .hello(0, 1, 0)
        .goodbye(0, 1)
        .goodbye(1, 1)
        .time(0)
        .time(4);
    v.push(("duplicate", s.bytes, |s| s.max_peers_seen == 1));

    // Lines typed on stdin go to the peers; an overlong one does not.
    let mut s = Script::new(Header {
        max_line_shift: 2,
        period: 1,
        ..Header::default()
    });
    s.accept(1)
        .hello(0, 3, 3)
        .accept(5)
        .hello(1, 4, 2)
        .stdin(b"first line\nsecond")
        .stdin(b" half\r\n")
        .stdin(&[b'y'; 40])
        .stdin(b"\n\xff\xfe bad utf-8\n")
        .written(0)
        .time(2)
        .time(2)
        .stdin(b"no newline")
        .stdin_closed();
    v.push(("stdin", s.bytes, |s| s.messages_sent >= 6));

    // A slow peer: tiny queue cap, many lines, never written.
    let mut s = Script::new(Header {
        max_unsent: 30,
        max_line_shift: 7,
        ..Header::default()
    });
    s.accept(0).hello(0, 9, 2);
    for _ in 0..6 {
        s.stdin(&[b'z'; 30]).stdin(b"\n").keepalive(0).time(3);
    }
    s.time(0).time(0);
    v.push(("slow", s.bytes, |s| s.messages_sent >= 1));

    // A long quiet connection: the peer sends keepalives, time goes by,
    // writes are reported only now and then.
    let mut s = Script::new(Header {
        max_unsent: 100,
        period: 3,
        ..Header::default()
    });
    s.accept(0).hello(0, 10, 2);
    for i in 0..30 {
        s.keepalive(0).time(3);
        if i % 10 == 9 {
            s.written(0);
        }
    }
    v.push(("idle", s.bytes, |s| {
        s.max_peers_seen == 1 && s.frames_sent >= 10
    }));

    // More peers and handshakes than the caps allow.
    let mut s = Script::new(Header {
        max_peers: 1,
        max_pending: 2,
        max_known: 2,
        ..Header::default()
    });
    s.accept(0)
        .accept(1)
        .accept(2)
        .accept(3)
        .hello(0, 11, 2)
        .hello(1, 12, 3)
        .peers(0, &[(13, 4), (14, 5), (15, 6), (16, 7)])
        .time(4);
    v.push(("caps", s.bytes, |s| s.max_peers_seen == 1));

    // Dialing ourselves, a hello without a port, bad bytes, bad addresses.
    let mut s = Script::new(Header {
        bootstrap: &[0, 1, 3],
        ..Header::default()
    });
    s.connected(0)
        .hello(0, 0, 0)
        .accept(0)
        .hello(0, 20, 1)
        .accept(4)
        .raw(0, b"GET / HTTP/1.1\r\n\r\n")
        // A text message (not a rumor byte first) ends at a pause.
        .time(2)
        .accept(2)
        .hello(0, 21, 2)
        .peers(
            0,
            &[
                (22, 8),
                (23, 9),
                (24, 10),
                (25, 11),
                (26, 12),
                (27, 13),
                (0, 2),
            ],
        )
        .peers(0, &[(28, 14), (29, 15), (30, 16), (31, 17)])
        .time(5)
        .time(0);
    v.push(("hostile", s.bytes, |s| s.max_peers_seen == 1));

    // Two peers, then a clean shutdown with goodbyes.
    let mut s = Script::new(Header::default());
    s.accept(0)
        .hello(0, 40, 2)
        .accept(3)
        .hello(1, 41, 0)
        .accept(4)
        .shutdown()
        .accept(1)
        .stdin(b"after\n")
        .time(5);
    v.push(("shutdown", s.bytes, |s| s.max_peers_seen == 2));

    // Silence: handshake and keepalive timeouts, then redials with backoff.
    let mut s = Script::new(Header {
        bootstrap: &[2, 7],
        v6: true,
        ..Header::default()
    });
    s.connected(0).hello(0, 50, 0).accept(2).time(0).time(0);
    for _ in 0..12 {
        s.time(0).closed(0, 1).connected(0);
    }
    v.push(("timeouts", s.bytes, |s| s.dials >= 4));

    // Text hosts: a text message from an inbound connection (answered,
    // printed, its host learned), a TEXT peer, our line delivered to the
    // host and answered, frames 6 and 7 from the peer, junk and a refused
    // delivery.
    let mut s = Script::new(Header::default());
    s.accept(0)
        .text(0, 2, b"hello from an old node")
        .time(2)
        .accept(3)
        .hello_text(0, 5, 3)
        .written(0)
        .stdin(b"a line\n")
        .connected(0)
        .reply(1, 16)
        .text_frame(0, 4, Some(b"relayed"))
        .text_frame(0, 5, None)
        .accept(1)
        .text(1, 1, b"port zero")
        .accept(2)
        .raw(1, b"\xff\xfe junk")
        .time(2)
        .stdin(b"another\n")
        .closed(1, 1)
        .closed(1, 1)
        .time(0);
    v.push(("text-inbound", s.bytes, |s| {
        s.messages_received >= 2 && s.max_text_hosts_seen >= 2 && s.text_sends >= 2
    }));

    // Dialing a text host: it answers our hello with `Message received`.
    let mut s = Script::new(Header {
        bootstrap: &[2],
        period: 1,
        ..Header::default()
    });
    s.connected(0)
        .reply(0, 16)
        .time(2)
        .connected(0)
        .reply(0, 9)
        .reply(0, 16)
        .time(2)
        .connected(0)
        .reply(0, 9)
        .reply(0, 7)
        .time(2)
        .time(5)
        .time(0);
    v.push(("text-dialed", s.bytes, |s| {
        s.max_text_hosts_seen == 1 && s.text_sends >= 1
    }));
    v.extend(v2::scripts());
    v
}

/// Inputs of the `record` target: the check's number, then its bytes.
fn record_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let hello = enc(&Frame::Hello(Hello {
        version: VERSION,
        flags: 0,
        node_id: 7,
        listen_port: 7001,
        advertised: None,
    }));
    let cat = |parts: &[&[u8]]| parts.concat();
    vec![
        // 0: at a responder (ring size, split-size count, bytes).
        (
            "responder-forged",
            cat(&[&[0, 2, 0], &PREAMBLE, &[0x55; 48]]),
        ),
        ("responder-version", cat(&[&[0, 0, 0], b"RUMK\x02"])),
        ("responder-unkeyed", cat(&[&[0, 15, 2, 1, 3], &hello])),
        ("responder-text", cat(&[&[0, 0, 0], b"7001:hello there"])),
        (
            "responder-text-reply",
            cat(&[&[0, 0, 0], b"Message received"]),
        ),
        (
            "responder-http",
            cat(&[&[0, 0, 0], b"GET / HTTP/1.1\r\n\r\n"]),
        ),
        // 1: at an initiator, after the responder's preamble.
        (
            "initiator-accept-forged",
            cat(&[&[1, 0, 0, 0], &[0xaa; 48]]),
        ),
        ("initiator-refused", vec![1, 0, 0, 1]),
        ("initiator-status", vec![1, 0, 0, 7, 1, 2]),
        // 2: at Session::open after 0-3 genuine records.
        ("open-junk", cat(&[&[2, 3], &[0, 40], &[0x11; 40]])),
        ("open-short", vec![2, 1, 0, 15]),
        ("open-huge-len", cat(&[&[2, 0, 0xff, 0xff], &[0; 300]])),
        // 3: round trip (ring size, key, frames, then per frame: size,
        // fill, end-of-batch; then piece sizes).
        (
            "roundtrip-small",
            vec![
                3, 3, 2, 5, 64, 1, 0, 64, 2, 1, 0, 3, 0, 10, 4, 1, 200, 5, 1, 1, 7, 0xc3,
            ],
        ),
        (
            "roundtrip-large",
            vec![
                3, 15, 15, 3, 0xff, 9, 0, 0xbf, 8, 1, 0xff, 7, 1, 0xff, 0x41, 3, 0,
            ],
        ),
        // 4: one byte altered (what, offset, mask, record sizes).
        ("altered-first", vec![4, 0, 0, 20, 0x01]),
        ("altered-preamble", vec![4, 0, 0, 2, 0x80]),
        ("altered-reply", vec![4, 1, 0, 30, 0x40]),
        ("altered-status", vec![4, 1, 0, 5, 0x01]),
        ("altered-record-len", vec![4, 2, 0, 0, 0x80, 10, 20, 30, 40]),
        (
            "altered-record-body",
            vec![4, 2, 0, 50, 0x04, 10, 20, 30, 40],
        ),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("create the corpus dir");
    fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut n = 0;
    for (name, bytes) in frames() {
        props::check_all(&bytes, 512);
        for target in ["decode", "stream", "roundtrip"] {
            write(&root.join(target), name, &bytes);
            n += 1;
        }
    }
    for (name, bytes, check) in scripts() {
        let summary = node_driver::run(&bytes);
        assert!(check(&summary), "script {name} fell short: {summary:?}");
        props::check_all(&bytes, 512);
        write(&root.join("node"), name, &bytes);
        n += 1;
    }
    for (name, bytes) in record_seeds() {
        record_props::check_record(&bytes);
        write(&root.join("record"), name, &bytes);
        n += 1;
    }
    println!("wrote {n} seeds under {}", root.display());
}
