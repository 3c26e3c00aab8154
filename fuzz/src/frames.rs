//! Well-formed frames from fuzz input, written by hand against
//! [`arbitrary::Unstructured`] so the main crate needs no `Arbitrary` derives.
//!
//! "Well-formed" means a value `decode` can return: a hello's version is not
//! 0 (any other, so versions 1, 2 and later all occur, with any flags: JOIN,
//! LOW, TEXT, ADVERTISED), a peer list (PEERS, SHUFFLE, SHUFFLE_REPLY) has
//! at most [`MAX_PEER_ENTRIES`] entries with IPv6 addresses that carry no
//! flow info or scope id, a payload (MESSAGE, GOSSIP) is at most
//! [`MAX_PAYLOAD`] bytes, a TEXT at most [`MAX_TEXT`], an IHAVE at most
//! [`MAX_IHAVE`] entries, and a goodbye reason uses the named variant for
//! codes 0 to 4 (`Other(0)` is not a value the decoder produces).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::{Result, Unstructured};
use rumor::wire::overlay::{self, MAX_IHAVE, MsgId, Overlay};
use rumor::wire::text::{MAX_TEXT, TextFrame};
use rumor::wire::{
    self, FLAG_ADVERTISED, Frame, GoodbyeReason, Hello, MAX_PAYLOAD, MAX_PEER_ENTRIES, PeerEntry,
    Status,
};

/// A frame that owns its payload, so it can outlive the fuzz input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedFrame {
    Hello(Hello),
    Peers(Vec<PeerEntry>),
    Message {
        id: u64,
        ttl: u8,
        payload: Vec<u8>,
    },
    Keepalive,
    Goodbye(GoodbyeReason),
    Text {
        ttl: u8,
        origin: SocketAddr,
        text: Vec<u8>,
    },
    TextHost {
        ttl: u8,
        addr: SocketAddr,
    },
    Gossip {
        id: MsgId,
        hops: u8,
        origin: SocketAddr,
        payload: Vec<u8>,
    },
    /// The entries, and the whole encoded frame: an `Announced` can only
    /// be had from the decoder, so [`OwnedFrame::as_frame`] decodes it.
    IHave {
        entries: Vec<(MsgId, u8)>,
        wire: Vec<u8>,
    },
    Graft(MsgId),
    Prune,
    ForwardJoin {
        ttl: u8,
        node_id: u64,
        addr: SocketAddr,
    },
    Shuffle(Vec<PeerEntry>),
    ShuffleReply(Vec<PeerEntry>),
}

impl OwnedFrame {
    pub fn as_frame(&self) -> Frame<'_> {
        match self {
            OwnedFrame::Hello(h) => Frame::Hello(*h),
            OwnedFrame::Peers(p) => Frame::Peers(p.clone()),
            OwnedFrame::Message { id, ttl, payload } => Frame::Message {
                id: *id,
                ttl: *ttl,
                payload,
            },
            OwnedFrame::Keepalive => Frame::Keepalive,
            OwnedFrame::Goodbye(r) => Frame::Goodbye(*r),
            OwnedFrame::Text { ttl, origin, text } => Frame::Text(TextFrame::Text {
                ttl: *ttl,
                origin: *origin,
                text,
            }),
            OwnedFrame::TextHost { ttl, addr } => Frame::Text(TextFrame::TextHost {
                ttl: *ttl,
                addr: *addr,
            }),
            OwnedFrame::Gossip {
                id,
                hops,
                origin,
                payload,
            } => Frame::Overlay(Overlay::Gossip {
                id: *id,
                hops: *hops,
                origin: *origin,
                payload,
            }),
            OwnedFrame::IHave { wire, .. } => match wire::decode(wire) {
                Ok(Status::Complete((f @ Frame::Overlay(Overlay::IHave(_)), n)))
                    if n == wire.len() =>
                {
                    f
                }
                other => panic!("an encoded IHAVE does not decode as one: {other:?}"),
            },
            OwnedFrame::Graft(id) => Frame::Overlay(Overlay::Graft(*id)),
            OwnedFrame::Prune => Frame::Overlay(Overlay::Prune),
            OwnedFrame::ForwardJoin { ttl, node_id, addr } => {
                Frame::Overlay(Overlay::ForwardJoin {
                    ttl: *ttl,
                    node_id: *node_id,
                    addr: *addr,
                })
            }
            OwnedFrame::Shuffle(p) => Frame::Overlay(Overlay::Shuffle(p.clone())),
            OwnedFrame::ShuffleReply(p) => Frame::Overlay(Overlay::ShuffleReply(p.clone())),
        }
    }
}

/// The reason the decoder gives for a goodbye code.
pub use crate::node_driver::goodbye as goodbye_reason;

/// An IPv4 or IPv6 socket address.
pub fn addr(u: &mut Unstructured<'_>) -> Result<SocketAddr> {
    let ip = if u.arbitrary::<bool>()? {
        IpAddr::V6(Ipv6Addr::from(u.arbitrary::<[u8; 16]>()?))
    } else {
        IpAddr::V4(Ipv4Addr::from(u.arbitrary::<[u8; 4]>()?))
    };
    Ok(SocketAddr::new(ip, u.arbitrary()?))
}

pub fn peer_entry(u: &mut Unstructured<'_>) -> Result<PeerEntry> {
    Ok(PeerEntry {
        node_id: u.arbitrary()?,
        addr: addr(u)?,
    })
}

pub fn msg_id(u: &mut Unstructured<'_>) -> Result<MsgId> {
    Ok(MsgId {
        origin: u.arbitrary()?,
        seq: u.arbitrary()?,
    })
}

/// A peer list; a marker byte of 0xff fills it to [`MAX_PEER_ENTRIES`].
fn peer_list(u: &mut Unstructured<'_>) -> Result<Vec<PeerEntry>> {
    let fill = u.arbitrary::<u8>()? == 0xff;
    let n = u.arbitrary_len::<[u8; 15]>()?.min(MAX_PEER_ENTRIES);
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        entries.push(peer_entry(u)?);
    }
    if fill {
        let sample = if entries.is_empty() {
            vec![peer_entry(u)?]
        } else {
            entries.clone()
        };
        let mut cycle = sample.iter().cycle();
        while entries.len() < MAX_PEER_ENTRIES {
            entries.extend(cycle.next().copied());
        }
    }
    Ok(entries)
}

/// Payload bytes up to `max`; a marker byte of 0xff makes it exactly `max`
/// long, repeated from a short sample.
fn payload(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<u8>> {
    let fill = u.arbitrary::<u8>()? == 0xff;
    let n = u.arbitrary_len::<u8>()?.min(max);
    let mut payload = u.bytes(n)?.to_vec();
    if fill {
        if payload.is_empty() {
            payload.push(u.arbitrary()?);
        }
        let sample = payload.clone();
        payload = sample.iter().copied().cycle().take(max).collect();
    }
    Ok(payload)
}

/// Number of frame kinds [`frame`] picks from.
pub const KINDS: u8 = 16;

/// One well-formed frame. A marker byte of 0xff makes a peer list or a
/// payload as large as allowed, its contents repeated from a short sample,
/// so the limits are reached without inputs of 64 KiB.
pub fn frame(u: &mut Unstructured<'_>) -> Result<OwnedFrame> {
    Ok(match u.int_in_range(0..=KINDS - 1)? {
        0 => {
            // Mostly this build's version and the v2 intent flags; any
            // version but 0 and any flags otherwise.
            let version = match u.arbitrary::<u8>()? {
                v @ 0xf0.. => (v & 0x0f).max(1),
                v @ 0xe0.. => v,
                _ => wire::VERSION,
            };
            let flags = match u.arbitrary::<u8>()? {
                f if f & 0x80 != 0 => f,
                f => [0, overlay::FLAG_JOIN, overlay::FLAG_LOW][usize::from(f % 3)] | (f & 0x06),
            };
            let (node_id, listen_port) = (u.arbitrary()?, u.arbitrary()?);
            // The flag says whether the address follows, as the decoder
            // reads it.
            let advertised = match flags & FLAG_ADVERTISED {
                0 => None,
                _ => Some(addr(u)?),
            };
            OwnedFrame::Hello(Hello {
                version,
                flags,
                node_id,
                listen_port,
                advertised,
            })
        }
        1 => OwnedFrame::Peers(peer_list(u)?),
        2 => OwnedFrame::Message {
            id: u.arbitrary()?,
            ttl: u.arbitrary()?,
            payload: payload(u, MAX_PAYLOAD)?,
        },
        3 => OwnedFrame::Keepalive,
        4 => OwnedFrame::Goodbye(goodbye_reason(u.arbitrary()?)),
        5 => OwnedFrame::Text {
            ttl: u.arbitrary()?,
            origin: addr(u)?,
            text: payload(u, MAX_TEXT)?,
        },
        6 => OwnedFrame::TextHost {
            ttl: u.arbitrary()?,
            addr: addr(u)?,
        },
        7 | 8 => OwnedFrame::Gossip {
            id: msg_id(u)?,
            hops: u.arbitrary()?,
            origin: addr(u)?,
            payload: payload(u, MAX_PAYLOAD)?,
        },
        9 => {
            let n = u.int_in_range(0..=MAX_IHAVE)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push((msg_id(u)?, u.arbitrary()?));
            }
            let mut wire = Vec::new();
            overlay::encode_ihave(&mut wire, entries.iter().copied());
            OwnedFrame::IHave { entries, wire }
        }
        10 => OwnedFrame::Graft(msg_id(u)?),
        11 => OwnedFrame::Prune,
        12 => OwnedFrame::ForwardJoin {
            ttl: u.arbitrary()?,
            node_id: u.arbitrary()?,
            addr: addr(u)?,
        },
        13 => OwnedFrame::Shuffle(peer_list(u)?),
        14 => OwnedFrame::ShuffleReply(peer_list(u)?),
        _ => OwnedFrame::Goodbye(goodbye_reason(u.int_in_range(0..=4)?)),
    })
}
