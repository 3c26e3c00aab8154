//! The node's outputs, taken and checked as they come, and the node's
//! invariants, checked after every step.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use rumor::format;
use rumor::node::order::OrderConfig;
use rumor::node::plumtree::PlumtreeConfig;
use rumor::node::{ConnId, Event};
use rumor::text;
use rumor::wire::{self, Frame, GoodbyeReason, MAGIC, READER_CAP, Status};

use super::{Driver, FakeConn, canonical, is_undialable};

/// One output, owned; a printed message kept whole for the ledger.
#[derive(Debug)]
enum Out {
    Send(ConnId, Vec<u8>),
    Dial(ConnId, SocketAddr),
    Close(ConnId),
    Received {
        text: Vec<u8>,
        from: SocketAddr,
        hops: u8,
    },
    Log(String),
    Diag(String),
}

#[derive(Debug, Default)]
struct Grab {
    outs: Vec<Out>,
}

impl rumor::node::Driver for Grab {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        self.outs.push(Out::Send(conn, bytes.to_vec()));
    }
    fn dial(&mut self, conn: ConnId, addr: SocketAddr) {
        self.outs.push(Out::Dial(conn, addr));
    }
    fn close(&mut self, conn: ConnId) {
        self.outs.push(Out::Close(conn));
    }
    fn event(&mut self, _at: Duration, event: Event<'_>) {
        let line = format::body(&event);
        self.outs.push(match event {
            Event::Diag { text, .. } => Out::Diag(text.to_string()),
            Event::Received { text, from, hops } => {
                // The line as printed must be one line too.
                assert!(!line.contains(['\n', '\r']), "output line {line:?}");
                Out::Received {
                    text: text.to_vec(),
                    from,
                    hops,
                }
            }
            _ => Out::Log(line),
        });
    }
}

/// How long the time has passed since the last input, when no periodic
/// message can start anything by itself: then the tables must empty out.
fn now_idle(d: &Driver) -> Option<Duration> {
    d.cfg
        .period
        .is_none()
        .then(|| d.now.saturating_duration_since(d.last_input))
}

impl Driver {
    /// Takes every output and checks it.
    pub(super) fn drain(&mut self) {
        let own = canonical(self.own);
        let mut closed: HashSet<ConnId> = HashSet::new();
        let mut dials = Vec::new();
        let mut grab = Grab::default();
        self.node.drain(&mut grab);
        let received_before = self.received;
        for out in grab.outs {
            if self.trace {
                eprintln!("    {out:?}");
            }
            match out {
                Out::Send(conn, bytes) => {
                    assert!(!closed.contains(&conn), "Send to {conn:?} after its Close");
                    assert!(!bytes.is_empty(), "empty Send");
                    if self.keyed {
                        self.keyed_send(&bytes);
                    } else if self.is_text_send(conn, &bytes) {
                        self.summary.text_sends += 1;
                        if let Some(fc) = self.conns.get_mut(&conn) {
                            fc.text = true;
                        }
                    } else {
                        let mut at = 0;
                        while at < bytes.len() {
                            match wire::decode(&bytes[at..]) {
                                Ok(Status::Complete((f, n))) => {
                                    self.sent_frame(&f);
                                    at += n;
                                }
                                other => panic!("Send of bytes that are not frames: {other:?}"),
                            }
                        }
                    }
                    self.summary.frames_sent += 1;
                    // A Send to a conn the driver has just reported closed
                    // is dropped, as a real driver has no socket for it.
                    if let Some(fc) = self.conns.get_mut(&conn) {
                        fc.queued += bytes.len();
                    }
                }
                Out::Dial(conn, addr) => {
                    assert!(!self.shut_down, "Dial {addr} after shutdown");
                    assert!(
                        canonical(addr) != own,
                        "Dial of the node's own address {addr}"
                    );
                    assert!(!is_undialable(addr), "Dial of {addr}");
                    dials.push(conn);
                }
                Out::Close(conn) => {
                    assert!(
                        self.conns.contains_key(&conn),
                        "Close of {conn:?}, which is not open"
                    );
                    closed.insert(conn);
                    self.forget(conn);
                }
                Out::Received { text, from, hops } => {
                    self.received += 1;
                    assert!(!self.keyed, "printed {text:?} from {from} with a key");
                    if self.ledger.printed(&text, from, hops) {
                        self.summary.gossip_printed += 1;
                    }
                }
                Out::Log(line) | Out::Diag(line) => {
                    assert!(
                        !line.contains(['\n', '\r']),
                        "output line {line:?} is not one line"
                    );
                }
            }
        }
        let printed = self.node.stats().messages_received;
        assert_eq!(
            printed - self.printed_count,
            self.received - received_before,
            "messages_received does not count the Received lines"
        );
        self.printed_count = printed;
        for conn in dials {
            if closed.contains(&conn) {
                continue;
            }
            assert!(!self.conns.contains_key(&conn), "{conn:?} handed out twice");
            self.summary.dials += 1;
            self.conns.insert(conn, FakeConn::new(false));
            self.order.push(conn);
        }
    }

    /// The node's invariants, after every step.
    pub(super) fn check(&mut self) {
        let cfg = &self.cfg;
        let node = &self.node;
        if self.trace {
            eprintln!(
                "    peers {:?}, conns {}, known {}",
                node.peer_addrs(),
                node.conn_count(),
                node.known_count()
            );
        }
        let peers = node.peer_count();
        self.summary.max_peers_seen = self.summary.max_peers_seen.max(peers);
        assert!(
            peers <= cfg.max_peers,
            "{peers} peers over {}",
            cfg.max_peers
        );
        let conns = node.conn_count();
        assert!(
            conns <= cfg.max_peers + cfg.max_pending,
            "{conns} conns over {} + {}",
            cfg.max_peers,
            cfg.max_pending
        );
        assert_eq!(
            conns,
            self.conns.len(),
            "the node counts {conns} conns, the driver has {}",
            self.conns.len()
        );
        let known = node.known_count();
        assert!(
            known <= cfg.max_known,
            "{known} known over {}",
            cfg.max_known
        );
        let addrs = node.peer_addrs();
        assert_eq!(addrs.len(), peers);
        let own = canonical(self.own);
        assert!(
            !addrs.iter().any(|&a| canonical(a) == own),
            "the node lists itself as a peer: {addrs:?}"
        );
        let total: usize = self.conns.values().map(|fc| fc.queued).sum();
        assert_eq!(
            node.unsent_total(),
            total,
            "the node's total queue differs from the sum"
        );
        // Over the budget only peers with empty queues get a message, and
        // control frames always go: one message and the control allowance
        // per connection past it at most.
        // A text connection gets at most one message of its own protocol.
        let texts = self.conns.values().filter(|fc| fc.text).count();
        let slack = self.conns.len() * (cfg.max_line + 14 + self.allowance)
            + texts * text::MAX_TEXT_MESSAGE;
        assert!(
            total <= cfg.max_unsent_total + slack,
            "{total} bytes queued in all; the budget is {} (+{slack})",
            cfg.max_unsent_total
        );
        for (&id, fc) in &self.conns {
            let unsent = node.unsent(id);
            assert_eq!(
                unsent,
                Some(fc.queued),
                "{id:?}: the node's unsent count differs from what it sent"
            );
            let extra = if fc.text { text::MAX_TEXT_MESSAGE } else { 0 };
            assert!(
                fc.queued <= cfg.max_unsent + self.allowance + extra,
                "{id:?} has {} bytes queued; the cap is {} (+{})",
                fc.queued,
                cfg.max_unsent,
                self.allowance + extra
            );
        }
        let hosts = node.text_hosts();
        self.summary.max_text_hosts_seen = self.summary.max_text_hosts_seen.max(hosts.len());
        assert!(
            hosts.len() <= cfg.max_text_hosts,
            "{} text hosts over {}",
            hosts.len(),
            cfg.max_text_hosts
        );
        for h in &hosts {
            assert!(!is_undialable(*h), "text host {h}");
            assert!(canonical(*h) != own, "the node is its own text host");
            assert!(!addrs.contains(h), "text host {h} is also a peer");
        }
        for &id in &self.order {
            let held = node.buffered(id).unwrap_or(0);
            assert!(held <= READER_CAP, "{id:?} buffers {held} bytes");
        }
        if self.keyed {
            assert_eq!(peers, 0, "a raw peer got past the key handshake");
            assert!(hosts.is_empty(), "a text host with a key");
        }
        if self.shut_down {
            assert_eq!(conns, 0, "conns left after shutdown");
            assert!(!node.wants_stdin(), "wants stdin after shutdown");
        }
        self.check_tree(now_idle(self));
        self.ledger.check(&self.node);
    }
    /// A frame the node sent (unkeyed), for the summary.
    fn sent_frame(&mut self, f: &Frame<'_>) {
        match f {
            Frame::Overlay(_) => self.summary.overlay_sent += 1,
            Frame::Goodbye(GoodbyeReason::Replaced) => self.summary.replaced += 1,
            _ => {}
        }
    }

    /// Keyed: every Send is a key handshake message, never a plaintext
    /// frame and never a payload a raw peer sent.
    fn keyed_send(&mut self, bytes: &[u8]) {
        assert!(
            !bytes.windows(MAGIC.len()).any(|w| w == MAGIC),
            "a plaintext hello before the key handshake: {bytes:02x?}"
        );
        assert!(
            !self.ledger.leaked(bytes),
            "a raw peer's GOSSIP relayed with a key"
        );
    }

    /// The broadcast tree's and the order's tables: within their caps, the
    /// tree's neighbors exactly the active view, and, once nothing has come
    /// in for their age, empty.
    fn check_tree(&mut self, idle: Option<Duration>) {
        let node = &self.node;
        let (tc, oc) = (PlumtreeConfig::default(), OrderConfig::default());
        let tree = node.tree();
        let missing = tree.missing_len();
        let (cached, cached_bytes) = tree.cache_len();
        self.summary.max_missing_seen = self.summary.max_missing_seen.max(missing);
        self.summary.max_cached_seen = self.summary.max_cached_seen.max(cached);
        assert!(missing <= tc.missing_cap, "{missing} missing ids");
        assert!(cached <= tc.cache_max_msgs, "{cached} cached payloads");
        assert!(
            cached_bytes <= tc.cache_max_bytes,
            "{cached_bytes} cached bytes"
        );
        let (origins, held, held_bytes) = node.order().len();
        assert!(origins <= oc.max_origins, "{origins} origins");
        assert!(held <= origins * oc.max_held_per_origin, "{held} held");
        assert!(held_bytes <= oc.max_held_bytes, "{held_bytes} held bytes");
        let eager: HashSet<SocketAddr> = tree.eager().collect();
        let lazy: HashSet<SocketAddr> = tree.lazy().collect();
        let addrs = node.peer_addrs();
        let peers: HashSet<SocketAddr> = addrs.iter().copied().collect();
        // The tree knows its neighbors by listening address: two peers at
        // one address would be one neighbor to it.
        assert_eq!(
            peers.len(),
            addrs.len(),
            "two peers at one listening address: {addrs:?}"
        );
        assert!(
            eager.is_disjoint(&lazy),
            "eager and lazy: {eager:?} {lazy:?}"
        );
        let neighbors: HashSet<SocketAddr> = eager.union(&lazy).copied().collect();
        assert_eq!(
            neighbors, peers,
            "the tree's neighbors are not the active view"
        );
        let Some(idle) = idle else {
            return;
        };
        if idle >= tc.missing_age {
            assert_eq!(
                missing, 0,
                "ids still missing {idle:?} after the last input"
            );
        }
        if idle >= tc.cache_age {
            assert_eq!(
                cached, 0,
                "payloads still cached {idle:?} after the last input"
            );
        }
        if idle >= oc.gap_wait.max(self.cfg.gap_wait) {
            assert_eq!(held, 0, "messages still held {idle:?} after the last input");
        }
    }
}
