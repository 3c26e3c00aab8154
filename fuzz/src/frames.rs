//! Well-formed frames from fuzz input, written by hand against
//! [`arbitrary::Unstructured`] so the main crate needs no `Arbitrary` derives.
//!
//! "Well-formed" means a value `decode` can return: a hello's version is not
//! 0, a peer list has at most [`MAX_PEER_ENTRIES`] entries with IPv6
//! addresses that carry no flow info or scope id, a payload is at most
//! [`MAX_PAYLOAD`] bytes, and a goodbye reason uses the named variant for
//! codes 0 and 1 (`Other(0)` is not a value the decoder produces).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::{Result, Unstructured};
use rumor::wire::{
    FLAG_ADVERTISED, Frame, GoodbyeReason, Hello, MAX_PAYLOAD, MAX_PEER_ENTRIES, PeerEntry,
};

/// A frame that owns its payload, so it can outlive the fuzz input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedFrame {
    Hello(Hello),
    Peers(Vec<PeerEntry>),
    Message { id: u64, ttl: u8, payload: Vec<u8> },
    Keepalive,
    Goodbye(GoodbyeReason),
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
        }
    }
}

/// The reason the decoder gives for a goodbye code.
pub fn goodbye_reason(code: u8) -> GoodbyeReason {
    match code {
        0 => GoodbyeReason::Shutdown,
        1 => GoodbyeReason::Duplicate,
        c => GoodbyeReason::Other(c),
    }
}

pub fn peer_entry(u: &mut Unstructured<'_>) -> Result<PeerEntry> {
    let node_id = u.arbitrary()?;
    let ip = if u.arbitrary::<bool>()? {
        IpAddr::V6(Ipv6Addr::from(u.arbitrary::<[u8; 16]>()?))
    } else {
        IpAddr::V4(Ipv4Addr::from(u.arbitrary::<[u8; 4]>()?))
    };
    Ok(PeerEntry {
        node_id,
        addr: SocketAddr::new(ip, u.arbitrary()?),
    })
}

/// One well-formed frame. A marker byte of 0xff makes a peer list or a
/// payload as large as allowed, its contents repeated from a short sample,
/// so the limits are reached without inputs of 64 KiB.
pub fn frame(u: &mut Unstructured<'_>) -> Result<OwnedFrame> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => {
            let (version, flags, node_id, listen_port) = (
                u.int_in_range(1..=u8::MAX)?,
                u.arbitrary::<u8>()?,
                u.arbitrary()?,
                u.arbitrary()?,
            );
            // The flag says whether the address follows, as the decoder
            // reads it.
            let advertised = match flags & FLAG_ADVERTISED {
                0 => None,
                _ => Some(peer_entry(u)?.addr),
            };
            OwnedFrame::Hello(Hello {
                version,
                flags,
                node_id,
                listen_port,
                advertised,
            })
        }
        1 => {
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
            OwnedFrame::Peers(entries)
        }
        2 => {
            let id = u.arbitrary()?;
            let ttl = u.arbitrary()?;
            let fill = u.arbitrary::<u8>()? == 0xff;
            let n = u.arbitrary_len::<u8>()?.min(MAX_PAYLOAD);
            let mut payload = u.bytes(n)?.to_vec();
            if fill {
                if payload.is_empty() {
                    payload.push(u.arbitrary()?);
                }
                let sample = payload.clone();
                payload = sample.iter().copied().cycle().take(MAX_PAYLOAD).collect();
            }
            OwnedFrame::Message { id, ttl, payload }
        }
        3 => OwnedFrame::Keepalive,
        _ => OwnedFrame::Goodbye(goodbye_reason(u.arbitrary()?)),
    })
}
