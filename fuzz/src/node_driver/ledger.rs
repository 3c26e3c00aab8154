//! The broadcast's rules as the driver sees them: every GOSSIP a raw peer
//! sent, and every line the node printed for one.
//!
//! A GOSSIP payload from the driver starts with [`TAG`], the message's
//! origin id and its seq, so a printed line names the message it is (the
//! driver keeps other texts from starting with the tag). The checks:
//! - a printed GOSSIP message is one a peer sent: the same id, with the
//!   same text, origin address and hop count as one of its copies (an
//!   unspecified origin address is named by the relay's IP, same port);
//! - never a message of the node's own id;
//! - per origin, the printed seqs are strictly increasing, but for up to
//!   64 before the origin's first, each printed at most once (so each id is
//!   printed once) for as long as the node remembers the origin: the node
//!   may forget an origin (idle for `origin_idle`, or at `max_origins`),
//!   and only then, counted in the order's counters, may it start again;
//! - a printed id is seen (`Sequencer::is_seen`) while its origin is
//!   remembered.

use std::collections::HashMap;
use std::net::SocketAddr;

use rumor::node::Node;
use rumor::wire::overlay::MsgId;

/// The first bytes of every GOSSIP payload the driver sends.
pub const TAG: [u8; 2] = [0x01, b'G'];
/// Tag, origin id, seq.
const HEAD: usize = TAG.len() + 8 + 4;

/// `bytes` as the payload of message `id`.
pub fn tagged(id: MsgId, bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEAD + bytes.len());
    v.extend_from_slice(&TAG);
    v.extend_from_slice(&id.origin.to_be_bytes());
    v.extend_from_slice(&id.seq.to_be_bytes());
    v.extend_from_slice(bytes);
    v
}

/// The message id a printed text names, if it is a GOSSIP payload.
fn id_of(text: &[u8]) -> Option<MsgId> {
    let head = text.get(..HEAD)?;
    if head[..2] != TAG {
        return None;
    }
    let mut o = [0u8; 8];
    o.copy_from_slice(&head[2..10]);
    let mut s = [0u8; 4];
    s.copy_from_slice(&head[10..14]);
    Some(MsgId {
        origin: u64::from_be_bytes(o),
        seq: u32::from_be_bytes(s),
    })
}

/// One copy of a message a peer sent.
#[derive(Debug, PartialEq, Eq)]
struct Copy {
    origin: SocketAddr,
    hops: u8,
    payload: Vec<u8>,
}

#[derive(Debug)]
pub struct Ledger {
    own: u64,
    offered: HashMap<MsgId, Vec<Copy>>,
    /// Per origin remembered by the node: the last seq printed.
    last: HashMap<u64, u32>,
    /// Per origin: the first seq printed, and the earlier ones printed
    /// late (the order's window of 64 before an origin's first).
    first: HashMap<u64, u32>,
    early: std::collections::HashSet<MsgId>,
    /// The order's forgotten-origin count at the last check.
    forgotten: u64,
}

impl Ledger {
    pub fn new(own: u64) -> Self {
        Ledger {
            own,
            offered: HashMap::new(),
            last: HashMap::new(),
            first: HashMap::new(),
            early: std::collections::HashSet::new(),
            forgotten: 0,
        }
    }

    /// A GOSSIP frame is about to be handed to the node.
    pub fn offered(&mut self, id: MsgId, origin: SocketAddr, hops: u8, payload: &[u8]) {
        let copies = self.offered.entry(id).or_default();
        let copy = Copy {
            origin,
            hops,
            payload: payload.to_vec(),
        };
        if !copies.contains(&copy) {
            copies.push(copy);
        }
    }

    /// A `Received` event: true if it was a GOSSIP message (checked), false
    /// for any other kind (a MESSAGE frame, a text host's text).
    pub fn printed(&mut self, text: &[u8], from: SocketAddr, hops: u8) -> bool {
        let Some(id) = id_of(text) else {
            return false;
        };
        assert_ne!(id.origin, self.own, "printed a message of our own id");
        let copies = self.offered.get(&id);
        assert!(
            copies.is_some(),
            "printed {id:?}, which no peer sent (text {text:?})"
        );
        // An unspecified origin address is named by its relay's IP.
        let named = |c: &Copy| match c.origin.ip().is_unspecified() {
            true => c.origin.port() == from.port() && !from.ip().is_unspecified(),
            false => c.origin == from,
        };
        let matches = |c: &Copy| named(c) && c.hops == hops && c.payload == text;
        assert!(
            copies.is_some_and(|c| c.iter().any(matches)),
            "printed {id:?} from {from} at {hops} hops, not as any copy sent: {copies:?}"
        );
        let first = *self.first.entry(id.origin).or_insert(id.seq);
        if id.seq < first {
            // Late, before the origin's first: within the window, once.
            assert!(
                first - id.seq <= 64 && self.early.insert(id),
                "printed seq {} of origin {:#x} before its first, {first}, twice or too early",
                id.seq,
                id.origin
            );
            return true;
        }
        if let Some(&last) = self.last.get(&id.origin) {
            assert!(
                id.seq > last,
                "printed seq {} of origin {:#x} after seq {last}",
                id.seq,
                id.origin
            );
        }
        self.last.insert(id.origin, id.seq);
        true
    }

    /// After every step: origins the node forgot are forgotten here too,
    /// and only as many as its counters say it forgot.
    pub fn check(&mut self, node: &Node) {
        let order = node.order();
        let gone: Vec<u64> = self
            .last
            .iter()
            .filter(|&(&origin, &seq)| !order.is_seen(MsgId { origin, seq }))
            .map(|(&o, _)| o)
            .collect();
        let c = order.counters();
        let forgotten = c.origins_evicted + c.origins_expired;
        assert!(
            gone.len() as u64 <= forgotten - self.forgotten,
            "{} printed origins no longer seen, {} forgotten",
            gone.len(),
            forgotten - self.forgotten
        );
        self.forgotten = forgotten;
        for o in gone {
            self.last.remove(&o);
            self.first.remove(&o);
            self.early.retain(|id| id.origin != o);
        }
    }

    /// Whether `bytes` hold the payload of a GOSSIP a peer sent.
    pub fn leaked(&self, bytes: &[u8]) -> bool {
        self.offered
            .values()
            .flatten()
            .any(|c| bytes.windows(c.payload.len()).any(|w| w == c.payload))
    }
}
