//! Advertised addresses in the core: what a node's hello says, what it
//! prints, and how far a receiver believes another node's claim. The real
//! binaries on several hosts are in tests/multihost/.

use std::net::SocketAddr;
use std::time::Instant;

use rumor::capture::{Capture, Out};
use rumor::node::{Config, ConnId, Node};
use rumor::wire::{self, FLAG_ADVERTISED, Frame, Hello};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn node(listen: &str, advertise: Option<&str>) -> (Node, Vec<Out>, Instant) {
    let t0 = Instant::now();
    let mut cfg = Config::new(addr(listen));
    cfg.period = None;
    cfg.advertise = advertise.map(addr);
    let mut n = Node::new(cfg, 1, t0);
    n.handle_start(t0);
    let out = Capture::of(&mut n);
    (n, out, t0)
}

fn hello(id: u64, port: u16, advertised: Option<&str>) -> Vec<u8> {
    let mut v = Vec::new();
    Frame::Hello(Hello {
        version: wire::VERSION,
        flags: 0,
        node_id: id,
        listen_port: port,
        advertised: advertised.map(addr),
    })
    .encode(&mut v);
    v
}

/// A connection accepted from `from` (our hello waits for its first byte).
fn accept(n: &mut Node, from: &str, t0: Instant) -> ConnId {
    let c = n.handle_accepted(addr(from), t0).unwrap();
    assert_eq!(Capture::of(n), []);
    c
}

/// The first frame sent on `c` (our hello) and its length in bytes.
fn first_frame(out: &[Out], c: ConnId) -> (Hello, usize) {
    let bytes = out
        .iter()
        .find_map(|o| match o {
            Out::Send(to, b) if *to == c => Some(b),
            _ => None,
        })
        .unwrap_or_else(|| panic!("nothing sent on {c:?}: {out:?}"));
    match wire::decode(bytes) {
        Ok(wire::Status::Complete((Frame::Hello(h), n))) => (h, n),
        other => panic!("{other:?}"),
    }
}

fn logs(out: &[Out]) -> Vec<&str> {
    out.iter()
        .filter_map(|o| match o {
            Out::Log(l) => Some(l.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_node_advertising_another_address_prints_it_and_its_hello_carries_it() {
    let (mut n, out, t0) = node("0.0.0.0:7000", Some("192.0.2.7:9000"));
    assert_eq!(logs(&out), ["My address is \"192.0.2.7:9000\""]);
    assert!(out.iter().all(|o| !matches!(o, Out::Diag(..))), "{out:?}");
    let c = accept(&mut n, "192.0.2.1:40000", t0);
    assert!(n.handle_read(c, &hello(5, 7000, None), t0));
    let (h, _) = first_frame(&Capture::of(&mut n), c);
    assert_eq!(h.advertised, Some(addr("192.0.2.7:9000")));
    assert_eq!(h.flags & FLAG_ADVERTISED, FLAG_ADVERTISED);
    assert_eq!(h.listen_port, 7000);
    assert_eq!(n.view(t0).addr, addr("192.0.2.7:9000"));
    assert!(n.is_self_addr(addr("192.0.2.7:9000")));
}

#[test]
fn a_node_known_by_its_socket_address_sends_the_v1_hello() {
    // No --advertise, or one equal to the bound address.
    for adv in [None, Some("127.0.0.1:7000")] {
        let (mut n, out, t0) = node("127.0.0.1:7000", adv);
        assert_eq!(logs(&out), ["My address is \"127.0.0.1:7000\""]);
        let c = accept(&mut n, "127.0.0.1:40000", t0);
        assert!(n.handle_read(c, &hello(5, 7001, None), t0));
        let (h, len) = first_frame(&Capture::of(&mut n), c);
        assert_eq!(len, 4 + 1 + 16, "the 16-byte v1 hello body");
        assert_eq!((h.flags & FLAG_ADVERTISED, h.advertised), (0, None));
    }
}

#[test]
fn a_node_on_every_interface_says_how_it_will_be_known() {
    let (_, out, _) = node("0.0.0.0:7000", None);
    assert_eq!(logs(&out), ["My address is \"0.0.0.0:7000\""]);
    let diags: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            Out::Diag(_, t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        diags,
        [
            "listening on every interface (0.0.0.0:7000): each peer knows this node by the IP it reaches it at, port 7000; --advertise HOST:PORT names one address for all"
        ]
    );
}

#[test]
fn an_inbound_peer_is_named_by_its_advertised_address_only_from_its_own_ip() {
    let (mut n, _, t0) = node("10.77.0.1:7000", None);
    // A forwarded port on the peer's own IP: that is its name.
    let c = accept(&mut n, "10.77.0.2:40000", t0);
    assert!(n.handle_read(c, &hello(5, 7000, Some("10.77.0.2:9000")), t0));
    let out = Capture::of(&mut n);
    assert_eq!(logs(&out), ["Connected to the peer at \"10.77.0.2:9000\""]);
    // A claim of another host's address: named by its own IP instead.
    let c = accept(&mut n, "10.77.0.9:40000", t0);
    assert!(n.handle_read(c, &hello(6, 7000, Some("10.77.0.3:7000")), t0));
    let out = Capture::of(&mut n);
    assert_eq!(logs(&out), ["Connected to the peer at \"10.77.0.9:7000\""]);
    assert_eq!(
        n.peer_addrs(),
        [addr("10.77.0.2:9000"), addr("10.77.0.9:7000")]
    );
}

#[test]
fn a_forged_hello_with_a_peers_id_and_address_neither_displaces_nor_impersonates_it() {
    let (mut n, _, t0) = node("10.77.0.1:7000", None);
    // The honest peer, id 5, connected from its own IP: 10.77.0.3:7000.
    let honest = addr("10.77.0.3:7000");
    let c = accept(&mut n, "10.77.0.3:40000", t0);
    assert!(n.handle_read(c, &hello(5, 7000, None), t0));
    Capture::of(&mut n);
    assert_eq!(n.peer_addrs(), [honest]);
    // A forger elsewhere claims both its id and its address.
    let f = accept(&mut n, "10.77.0.9:40000", t0);
    assert!(!n.handle_read(f, &hello(5, 7000, Some("10.77.0.3:7000")), t0));
    let out = Capture::of(&mut n);
    assert!(out.contains(&Out::Close(f)), "{out:?}");
    assert!(logs(&out).is_empty(), "{out:?}");
    assert_eq!(n.peer_addrs(), [honest], "the honest peer stays");
    // With a fresh id it is a peer, but under its own IP, never the
    // honest peer's name.
    let f = accept(&mut n, "10.77.0.9:40001", t0);
    assert!(n.handle_read(f, &hello(77, 7000, Some("10.77.0.3:7000")), t0));
    let out = Capture::of(&mut n);
    assert_eq!(logs(&out), ["Connected to the peer at \"10.77.0.9:7000\""]);
}

#[test]
fn a_hello_claiming_our_own_advertised_address_is_refused() {
    let (mut n, _, t0) = node("0.0.0.0:7000", Some("10.77.0.1:7000"));
    let c = accept(&mut n, "10.77.0.1:40000", t0);
    assert!(!n.handle_read(c, &hello(9, 7000, None), t0));
    assert_eq!(n.peer_count(), 0);
}

#[test]
fn an_advertised_address_that_cannot_be_dialed_is_a_usage_error() {
    for bad in [
        "0.0.0.0:7000",
        "[::]:7000",
        "127.0.0.1:0",
        "127.0.0.1",
        "no-such-host.invalid:80",
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_rumor"))
            .args(["--port", "0", "--advertise", bad])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad}: {err}");
        assert!(o.stdout.is_empty(), "{bad}");
        assert!(
            err.starts_with("error: ") && err.contains("--advertise"),
            "{bad}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
