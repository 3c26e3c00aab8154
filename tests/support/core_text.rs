//! Driving one `Node` by hand for the text-host tests
//! (`tests/text_core.rs`, `tests/text_delivery.rs`): a node, peers, text
//! messages, and reading its outputs.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rumor::capture::{Capture, Out};
use rumor::node::{Config, ConnId, DiagKind, Node};
use rumor::wire::text::FLAG_TEXT;
use rumor::wire::{self, Frame, Hello};

pub fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn node(tweak: impl FnOnce(&mut Config)) -> (Node, Instant) {
    let t0 = Instant::now();
    let mut cfg = Config::new(a("127.0.0.1:7000"));
    cfg.period = None;
    tweak(&mut cfg);
    let mut n = Node::new(cfg, 1, t0);
    n.handle_start(t0);
    Capture::of(&mut n);
    (n, t0)
}

pub fn frames(bytes: &[u8]) -> Vec<Frame<'_>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Ok(wire::Status::Complete((f, n))) = wire::decode(rest) {
        out.push(f);
        rest = &rest[n..];
    }
    assert!(rest.is_empty(), "not frames: {bytes:?}");
    out
}

pub fn feed_frame(n: &mut Node, c: ConnId, f: &Frame<'_>, now: Instant) -> bool {
    let mut bytes = Vec::new();
    f.encode(&mut bytes);
    n.handle_read(c, &bytes, now)
}

/// An established inbound peer listening on `port`, its hello with the
/// TEXT flag if `text`.
pub fn peer(n: &mut Node, t: Instant, id: u64, port: u16, text: bool) -> ConnId {
    let c = n
        .handle_accepted(SocketAddr::from(([127, 0, 0, 1], 50_000 + port)), t)
        .unwrap();
    let hello = Frame::Hello(Hello {
        version: wire::VERSION,
        flags: if text { FLAG_TEXT } else { 0 },
        node_id: id,
        listen_port: port,
        advertised: None,
    });
    assert!(feed_frame(n, c, &hello, t));
    Capture::of(n);
    c
}

/// The frames sent on `c` among `outs`.
pub fn sent_to(outs: &[Out], c: ConnId) -> Vec<Frame<'_>> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Send(to, b) if *to == c => Some(frames(b)),
            _ => None,
        })
        .flatten()
        .collect()
}

pub fn logs(outs: &[Out]) -> Vec<&str> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Log(l) => Some(l.as_str()),
            _ => None,
        })
        .collect()
}

pub fn diags(outs: &[Out], kind: DiagKind) -> Vec<&str> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Diag(k, l) if *k == kind => Some(l.as_str()),
            _ => None,
        })
        .collect()
}

/// A text message `bytes` from `remote` at `t`, ended by the pause (the
/// clock moves on past it): the outputs.
pub fn text_message(
    n: &mut Node,
    remote: &str,
    bytes: &[u8],
    t: &mut Instant,
) -> (ConnId, Vec<Out>) {
    let c = n.handle_accepted(a(remote), *t).unwrap();
    assert!(n.handle_read(c, bytes, *t));
    assert_eq!(Capture::of(n), vec![], "nothing before the pause");
    *t += ms(100);
    n.handle_timeout(*t);
    *t += ms(1);
    (c, Capture::of(n))
}

/// Learns the text host `host` (on probation) through a message.
pub fn learn(n: &mut Node, host: &str, t: &mut Instant) {
    let h = a(host);
    let remote = SocketAddr::new(h.ip(), 40000);
    let msg = format!("{}:hi", h.port());
    text_message(n, &remote.to_string(), msg.as_bytes(), t);
    assert!(n.text_hosts().contains(&h));
}

pub fn dials(outs: &[Out]) -> Vec<(ConnId, SocketAddr)> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Dial(c, a) => Some((*c, *a)),
            _ => None,
        })
        .collect()
}
