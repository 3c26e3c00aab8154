//! Frames 8 to 14, protocol version 2: the partial-view overlay (HyParView:
//! FORWARD_JOIN, SHUFFLE, SHUFFLE_REPLY) and the broadcast tree (Plumtree:
//! GOSSIP, IHAVE, GRAFT, PRUNE).
//!
//! Layouts are in `docs/PROTOCOL.md`, "Version 2". They are
//! [`Frame::Overlay`](super::Frame::Overlay): [`super::decode`] takes types
//! 8 to 14 through [`decode_overlay_body`]. A version-1 node closes a
//! connection that sends one with `protocol error: unknown frame type`, but
//! none ever gets that far: version 1 and 2 refuse each other at the hello.

use std::net::SocketAddr;

use super::{
    DecodeError, PeerEntry, PeersError, begin, decode_addr, decode_peers, encode_addr,
    encode_peer_list, finish,
};

/// A message written by `origin`: the relayed broadcast.
pub const T_GOSSIP: u8 = 8;
/// Message ids the sender has, for the receiver to ask for (GRAFT).
pub const T_IHAVE: u8 = 9;
/// "Send me this message, and make our link a tree link."
pub const T_GRAFT: u8 = 10;
/// "Our link is not a tree link any more": the receiver sends IHAVE only.
pub const T_PRUNE: u8 = 11;
/// A newcomer's join, walking the overlay.
pub const T_FORWARD_JOIN: u8 = 12;
/// Some addresses of the sender's views, for the receiver's passive view.
pub const T_SHUFFLE: u8 = 13;
/// The answer to a SHUFFLE: some addresses of the receiver's passive view.
pub const T_SHUFFLE_REPLY: u8 = 14;

/// Hello flag: the dialer joins the network through the receiver (HyParView
/// JOIN). The receiver takes it even when its active view is full.
pub const FLAG_JOIN: u8 = 0x08;
/// Hello flag: a low-priority neighbor request. The receiver takes it only
/// with room in its active view, else answers GOODBYE "full". A dial with
/// neither this nor [`FLAG_JOIN`] is a forced one (the end of a join walk,
/// or a node whose active view is empty): always taken.
pub const FLAG_LOW: u8 = 0x10;

/// Most entries one IHAVE frame carries.
pub const MAX_IHAVE: usize = 64;
/// Bytes of one IHAVE entry: origin (8), seq (4), hops (1).
const IHAVE_ENTRY: usize = 13;
/// Bytes of a GOSSIP frame beyond its payload with an IPv4 origin: length
/// (4), type (1), origin (8), seq (4), hops (1), address (7).
pub const GOSSIP_OVERHEAD_V4: usize = 4 + 1 + 8 + 4 + 1 + 7;
/// The same with an IPv6 origin (address 19 bytes).
pub const GOSSIP_OVERHEAD_V6: usize = GOSSIP_OVERHEAD_V4 + 12;

/// A message's id: its origin's node id and the origin's sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgId {
    pub origin: u64,
    pub seq: u32,
}

/// An IHAVE's entries, borrowed from the frame (no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announced<'a>(&'a [u8]);

impl<'a> Announced<'a> {
    /// Each entry: the id and the hop count the sender would relay it at.
    pub fn iter(&self) -> impl Iterator<Item = (MsgId, u8)> + 'a {
        self.0.chunks_exact(IHAVE_ENTRY).map(|e| {
            let mut o = [0u8; 8];
            o.copy_from_slice(&e[..8]);
            let mut s = [0u8; 4];
            s.copy_from_slice(&e[8..12]);
            (
                MsgId {
                    origin: u64::from_be_bytes(o),
                    seq: u32::from_be_bytes(s),
                },
                e[12],
            )
        })
    }

    pub fn len(&self) -> usize {
        self.0.len() / IHAVE_ENTRY
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A version-2 overlay frame. Payloads and IHAVE entries borrow from the
/// input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overlay<'a> {
    Gossip {
        id: MsgId,
        /// Relays so far: 0 from the origin itself.
        hops: u8,
        /// The origin's listening address, printed as the message's sender.
        origin: SocketAddr,
        payload: &'a [u8],
    },
    IHave(Announced<'a>),
    Graft(MsgId),
    Prune,
    ForwardJoin {
        /// Steps the walk may still take.
        ttl: u8,
        node_id: u64,
        addr: SocketAddr,
    },
    Shuffle(Vec<PeerEntry>),
    ShuffleReply(Vec<PeerEntry>),
}

/// Appends a GOSSIP frame. A payload over [`super::MAX_PAYLOAD`] is cut to
/// fit (callers check), so the frame always decodes.
pub fn encode_gossip(out: &mut Vec<u8>, id: MsgId, hops: u8, origin: SocketAddr, payload: &[u8]) {
    let payload = &payload[..payload.len().min(super::MAX_PAYLOAD)];
    out.reserve(GOSSIP_OVERHEAD_V6 + payload.len());
    let at = begin(out, T_GOSSIP);
    out.extend_from_slice(&id.origin.to_be_bytes());
    out.extend_from_slice(&id.seq.to_be_bytes());
    out.push(hops);
    encode_addr(out, origin);
    out.extend_from_slice(payload);
    finish(out, at);
}

/// Appends an IHAVE frame of at most [`MAX_IHAVE`] entries (any beyond are
/// left out).
pub fn encode_ihave(out: &mut Vec<u8>, entries: impl IntoIterator<Item = (MsgId, u8)>) {
    let at = begin(out, T_IHAVE);
    for (id, hops) in entries.into_iter().take(MAX_IHAVE) {
        out.extend_from_slice(&id.origin.to_be_bytes());
        out.extend_from_slice(&id.seq.to_be_bytes());
        out.push(hops);
    }
    finish(out, at);
}

impl Overlay<'_> {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Overlay::Gossip {
                id,
                hops,
                origin,
                payload,
            } => encode_gossip(out, *id, *hops, *origin, payload),
            Overlay::IHave(a) => encode_ihave(out, a.iter()),
            Overlay::Graft(id) => {
                let at = begin(out, T_GRAFT);
                out.extend_from_slice(&id.origin.to_be_bytes());
                out.extend_from_slice(&id.seq.to_be_bytes());
                finish(out, at);
            }
            Overlay::Prune => {
                let at = begin(out, T_PRUNE);
                finish(out, at);
            }
            Overlay::ForwardJoin { ttl, node_id, addr } => {
                let at = begin(out, T_FORWARD_JOIN);
                out.push(*ttl);
                out.extend_from_slice(&node_id.to_be_bytes());
                encode_addr(out, *addr);
                finish(out, at);
            }
            Overlay::Shuffle(e) => encode_peer_list(out, T_SHUFFLE, e),
            Overlay::ShuffleReply(e) => encode_peer_list(out, T_SHUFFLE_REPLY, e),
        }
    }
}

/// Whether `ty` is one of this file's frame types.
pub fn is_overlay(ty: u8) -> bool {
    (T_GOSSIP..=T_SHUFFLE_REPLY).contains(&ty)
}

/// Decodes the body of a frame of type `ty` (8 to 14) whose length field is
/// `len`.
pub fn decode_overlay_body(ty: u8, body: &[u8], len: u32) -> Result<Overlay<'_>, DecodeError> {
    let bad_len = DecodeError::BadLength {
        frame_type: ty,
        len,
    };
    let addr_err = |e| match e {
        PeersError::Length => bad_len,
        PeersError::Other(e) => e,
    };
    let id_of = |b: &[u8; 12]| MsgId {
        origin: u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        seq: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
    };
    Ok(match ty {
        T_GOSSIP => {
            let (head, rest) = body.split_first_chunk::<13>().ok_or(bad_len)?;
            let (id, hops) = head.split_at(12);
            let id = id_of(id.try_into().map_err(|_| bad_len)?);
            let (origin, payload) = decode_addr(rest).map_err(addr_err)?;
            Overlay::Gossip {
                id,
                hops: hops[0],
                origin,
                payload,
            }
        }
        T_IHAVE => {
            if !body.len().is_multiple_of(IHAVE_ENTRY) || body.len() > MAX_IHAVE * IHAVE_ENTRY {
                return Err(bad_len);
            }
            Overlay::IHave(Announced(body))
        }
        T_GRAFT => match body.first_chunk::<12>() {
            Some(b) if body.len() == 12 => Overlay::Graft(id_of(b)),
            _ => return Err(bad_len),
        },
        T_PRUNE if body.is_empty() => Overlay::Prune,
        T_FORWARD_JOIN => {
            let (head, rest) = body.split_first_chunk::<9>().ok_or(bad_len)?;
            let (addr, rest) = decode_addr(rest).map_err(addr_err)?;
            if !rest.is_empty() {
                return Err(bad_len);
            }
            let mut id = [0u8; 8];
            id.copy_from_slice(&head[1..]);
            Overlay::ForwardJoin {
                ttl: head[0],
                node_id: u64::from_be_bytes(id),
                addr,
            }
        }
        T_SHUFFLE => Overlay::Shuffle(decode_peers(body).map_err(addr_err)?),
        T_SHUFFLE_REPLY => Overlay::ShuffleReply(decode_peers(body).map_err(addr_err)?),
        T_PRUNE => return Err(bad_len),
        other => return Err(DecodeError::UnknownType(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Frame, Status, decode};
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn samples() -> Vec<Overlay<'static>> {
        let id = MsgId {
            origin: 0x0102_0304_0506_0708,
            seq: 9,
        };
        vec![
            Overlay::Gossip {
                id,
                hops: 3,
                origin: a("10.0.0.1:7000"),
                payload: b"hello",
            },
            Overlay::Gossip {
                id,
                hops: 0,
                origin: a("[::1]:1"),
                payload: b"",
            },
            Overlay::IHave(Announced(&[0; 26])),
            Overlay::IHave(Announced(&[])),
            Overlay::Graft(id),
            Overlay::Prune,
            Overlay::ForwardJoin {
                ttl: 6,
                node_id: 7,
                addr: a("127.0.0.1:9"),
            },
            Overlay::Shuffle(vec![PeerEntry {
                node_id: 1,
                addr: a("127.0.0.2:3"),
            }]),
            Overlay::ShuffleReply(vec![]),
        ]
    }

    #[test]
    fn round_trip_and_every_prefix_is_partial() {
        for f in samples() {
            let mut out = Vec::new();
            Frame::Overlay(f.clone()).encode(&mut out);
            let (got, used) = match decode(&out) {
                Ok(Status::Complete(x)) => x,
                other => panic!("{f:?}: {other:?}"),
            };
            assert_eq!((got, used), (Frame::Overlay(f.clone()), out.len()));
            for cut in 0..out.len() {
                assert_eq!(decode(&out[..cut]), Ok(Status::Partial), "{f:?} cut {cut}");
            }
        }
    }

    #[test]
    fn gossip_overhead_is_25_bytes_with_an_ipv4_origin() {
        let mut out = Vec::new();
        let id = MsgId { origin: 1, seq: 2 };
        encode_gossip(&mut out, id, 0, a("1.2.3.4:5"), b"xyz");
        assert_eq!(out.len(), GOSSIP_OVERHEAD_V4 + 3);
        const { assert!(GOSSIP_OVERHEAD_V4 <= 32) };
        assert_eq!(&out[..5], &[0, 0, 0, 24, T_GOSSIP]);
    }

    #[test]
    fn ihave_entries_read_back_and_the_batch_is_capped() {
        let ids: Vec<(MsgId, u8)> = (0..100)
            .map(|i| {
                (
                    MsgId {
                        origin: i,
                        seq: i as u32 * 3,
                    },
                    i as u8,
                )
            })
            .collect();
        let mut out = Vec::new();
        encode_ihave(&mut out, ids.iter().copied());
        let Ok(Status::Complete((Frame::Overlay(Overlay::IHave(got)), _))) = decode(&out) else {
            panic!("not an ihave");
        };
        assert_eq!(got.len(), MAX_IHAVE);
        assert!(got.iter().eq(ids[..MAX_IHAVE].iter().copied()));
    }

    #[test]
    fn rejections() {
        let bad = |ty: u8, body: &[u8]| {
            let mut f = ((body.len() + 1) as u32).to_be_bytes().to_vec();
            f.push(ty);
            f.extend_from_slice(body);
            decode(&f).map(|st| match st {
                Status::Complete((_, n)) => Some(n),
                Status::Partial => None,
            })
        };
        let len_err = |ty: u8, n: usize| {
            Err(DecodeError::BadLength {
                frame_type: ty,
                len: n as u32 + 1,
            })
        };
        assert_eq!(bad(T_PRUNE, &[0]), len_err(T_PRUNE, 1));
        assert_eq!(bad(T_GRAFT, &[0; 11]), len_err(T_GRAFT, 11));
        assert_eq!(bad(T_GRAFT, &[0; 13]), len_err(T_GRAFT, 13));
        assert_eq!(bad(T_IHAVE, &[0; 14]), len_err(T_IHAVE, 14));
        assert_eq!(bad(T_IHAVE, &[0; 13 * 65]), len_err(T_IHAVE, 13 * 65));
        assert_eq!(bad(T_GOSSIP, &[0; 12]), len_err(T_GOSSIP, 12));
        let mut g = vec![0u8; 13];
        g.push(5);
        assert_eq!(bad(T_GOSSIP, &g), Err(DecodeError::BadFamily(5)));
        let mut fj = vec![0u8; 9];
        fj.extend_from_slice(&[4, 1, 2, 3, 4, 0, 9, 0]);
        assert_eq!(bad(T_FORWARD_JOIN, &fj), len_err(T_FORWARD_JOIN, fj.len()));
        assert_eq!(bad(15, &[]), Err(DecodeError::UnknownType(15)));
    }
}
