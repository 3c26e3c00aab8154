//! The wire protocol: length-prefixed binary frames.
//!
//! Every frame is `len: u32 (big-endian) | type: u8 | body`, where `len`
//! counts the type byte and the body. The byte layout of each body is in
//! `docs/PROTOCOL.md`.
//!
//! [`decode`] is a total function: for any input it returns a frame and the
//! number of bytes it used, [`Status::Partial`] when more bytes are needed, or
//! a typed [`DecodeError`]. It never panics, never reads past its input, and
//! allocates only for a peer list, whose entry count it checks against the
//! frame's actual length first. A declared length over [`MAX_FRAME_LEN`] is
//! rejected as soon as the four length bytes are in, before any body arrives.
//!
//! [`FrameReader`] is the per-connection read buffer: it takes bytes as they
//! come off a socket, split anywhere, and yields the same frames as if the
//! stream had arrived whole, holding at most one unfinished frame.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub mod overlay;
pub mod text;

/// The four bytes every hello starts with.
pub const MAGIC: [u8; 4] = *b"RUMR";
/// The protocol version this build speaks.
pub const VERSION: u8 = 2;
/// Largest message payload, in bytes.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// Bytes of a message frame beyond its payload: length, type, id, ttl.
pub const MESSAGE_OVERHEAD: usize = 4 + 1 + 8 + 1;
/// Largest value of a frame's length field (type byte plus body): a
/// GOSSIP frame with an IPv6 origin and the largest payload.
pub const MAX_FRAME_LEN: usize = overlay::GOSSIP_OVERHEAD_V6 - 4 + MAX_PAYLOAD;
/// Most entries one peer list frame may carry.
pub const MAX_PEER_ENTRIES: usize = 1024;
/// Hello flag: an advertised address (the one peers should dial and print)
/// follows the listening port. Set exactly when [`Hello::advertised`] is.
pub const FLAG_ADVERTISED: u8 = 0x04;

const T_HELLO: u8 = 1;
const T_PEERS: u8 = 2;
const T_MESSAGE: u8 = 3;
const T_KEEPALIVE: u8 = 4;
const T_GOODBYE: u8 = 5;

const HELLO_BODY: usize = 4 + 1 + 1 + 8 + 2;

/// A random identifier each node picks at start.
pub type NodeId = u64;

/// The handshake: the first frame each side sends on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    pub version: u8,
    /// Reserved for later use (for example a network key); 0 today.
    pub flags: u8,
    pub node_id: NodeId,
    /// The port the sender listens on. Its IP is the connection's.
    pub listen_port: u16,
    /// The address the sender asks to be dialed at and known by
    /// (`--advertise`), when it is not its socket's. Sent with
    /// [`FLAG_ADVERTISED`]; how far a receiver believes it is the
    /// handshake's rule (docs/PROTOCOL.md).
    pub advertised: Option<SocketAddr>,
}

/// One entry of a peer list: a peer's node id and listening address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerEntry {
    pub node_id: NodeId,
    pub addr: SocketAddr,
}

/// Why a node says goodbye.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoodbyeReason {
    /// The node is shutting down.
    Shutdown,
    /// This connection duplicates another between the same two nodes; the
    /// other one is kept.
    Duplicate,
    /// HyParView DISCONNECT: the sender's active view took another peer in
    /// our place. We keep its address in our passive view.
    Replaced,
    /// The sender's active view is full: a low-priority neighbor request
    /// (or a join walk's late answer) is refused.
    Full,
    /// The sender speaks another protocol version (its hello says which).
    Version,
    /// Any other code, kept as is so a newer peer's reasons round-trip.
    Other(u8),
}

impl GoodbyeReason {
    fn code(self) -> u8 {
        match self {
            GoodbyeReason::Shutdown => 0,
            GoodbyeReason::Duplicate => 1,
            GoodbyeReason::Replaced => 2,
            GoodbyeReason::Full => 3,
            GoodbyeReason::Version => 4,
            GoodbyeReason::Other(c) => c,
        }
    }
    fn from_code(c: u8) -> Self {
        match c {
            0 => GoodbyeReason::Shutdown,
            1 => GoodbyeReason::Duplicate,
            2 => GoodbyeReason::Replaced,
            3 => GoodbyeReason::Full,
            4 => GoodbyeReason::Version,
            c => GoodbyeReason::Other(c),
        }
    }
}

/// A decoded frame. A message borrows its payload from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Hello(Hello),
    Peers(Vec<PeerEntry>),
    Message {
        /// Random id chosen by the origin (room for relaying and dedup).
        id: u64,
        /// Hops this message may still be relayed; 0 today.
        ttl: u8,
        payload: &'a [u8],
    },
    Keepalive,
    Goodbye(GoodbyeReason),
    /// TEXT (6) or TEXT_HOST (7): text hosts, see [`text`].
    Text(text::TextFrame<'a>),
    /// Types 8 to 14, version 2: the overlay and its broadcast tree, see
    /// [`overlay`].
    Overlay(overlay::Overlay<'a>),
}

/// httparse-style result of a decode that did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status<T> {
    Complete(T),
    /// More bytes are needed; nothing was consumed.
    Partial,
}

/// Why bytes are not a valid frame. Any of these ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The length field is 0: there is not even a type byte.
    EmptyFrame,
    /// The length field is over [`MAX_FRAME_LEN`].
    TooLarge(u32),
    /// A type byte this version does not know.
    UnknownType(u8),
    /// The body's length does not fit its type.
    BadLength { frame_type: u8, len: u32 },
    /// A hello that does not start with [`MAGIC`].
    BadMagic,
    /// A hello with version 0.
    BadVersion(u8),
    /// A peer entry whose address family is not 4 or 6.
    BadFamily(u8),
    /// A peer list with more than [`MAX_PEER_ENTRIES`] entries.
    TooManyPeers(u16),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::EmptyFrame => write!(f, "empty frame"),
            DecodeError::TooLarge(n) => {
                write!(
                    f,
                    "frame of {n} bytes is over the {MAX_FRAME_LEN}-byte limit"
                )
            }
            DecodeError::UnknownType(t) => write!(f, "unknown frame type {t}"),
            DecodeError::BadLength { frame_type, len } => {
                write!(f, "frame type {frame_type} cannot be {len} bytes long")
            }
            DecodeError::BadMagic => write!(f, "not a rumor handshake (bad magic)"),
            DecodeError::BadVersion(v) => write!(f, "unsupported protocol version {v}"),
            DecodeError::BadFamily(x) => write!(f, "unknown address family {x}"),
            DecodeError::TooManyPeers(n) => {
                write!(
                    f,
                    "peer list of {n} entries is over the {MAX_PEER_ENTRIES} limit"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Reads the length prefix: `Ok(None)` when fewer than four bytes are in.
fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(head) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*head);
    if len == 0 {
        return Err(DecodeError::EmptyFrame);
    }
    if len as usize > MAX_FRAME_LEN {
        return Err(DecodeError::TooLarge(len));
    }
    Ok(Some(len as usize))
}

/// Decodes one frame from the start of `buf`.
///
/// Returns the frame and how many bytes it took, `Partial` when `buf` holds
/// only part of a frame, or the reason the bytes are not a frame. Whether a
/// prefix of a stream is an error never depends on how it was split: the
/// length is checked with its four bytes, the rest once the whole frame is in.
pub fn decode(buf: &[u8]) -> Result<Status<(Frame<'_>, usize)>, DecodeError> {
    let Some(len) = frame_len(buf)? else {
        return Ok(Status::Partial);
    };
    let Some(frame) = buf.get(4..4 + len) else {
        return Ok(Status::Partial);
    };
    let (&ty, body) = frame.split_first().ok_or(DecodeError::EmptyFrame)?;
    let bad_len = || DecodeError::BadLength {
        frame_type: ty,
        len: len as u32,
    };
    let frame = match ty {
        T_HELLO => {
            let (b, ext) = body.split_first_chunk::<HELLO_BODY>().ok_or_else(bad_len)?;
            if b[..4] != MAGIC {
                return Err(DecodeError::BadMagic);
            }
            if b[4] == 0 {
                return Err(DecodeError::BadVersion(0));
            }
            let advertised = match (b[5] & FLAG_ADVERTISED != 0, ext) {
                (false, []) => None,
                (true, ext) => match decode_addr(ext) {
                    Ok((addr, [])) => Some(addr),
                    Ok(_) | Err(PeersError::Length) => return Err(bad_len()),
                    Err(PeersError::Other(e)) => return Err(e),
                },
                (false, _) => return Err(bad_len()),
            };
            Frame::Hello(Hello {
                version: b[4],
                flags: b[5],
                node_id: u64::from_be_bytes(b[6..14].try_into().unwrap_or_default()),
                listen_port: u16::from_be_bytes([b[14], b[15]]),
                advertised,
            })
        }
        T_PEERS => Frame::Peers(decode_peers(body).map_err(|e| match e {
            PeersError::Length => bad_len(),
            PeersError::Other(e) => e,
        })?),
        T_MESSAGE => {
            let (head, payload) = body.split_first_chunk::<9>().ok_or_else(bad_len)?;
            Frame::Message {
                id: u64::from_be_bytes(head[..8].try_into().unwrap_or_default()),
                ttl: head[8],
                payload,
            }
        }
        T_KEEPALIVE if body.is_empty() => Frame::Keepalive,
        T_GOODBYE => match body {
            [code] => Frame::Goodbye(GoodbyeReason::from_code(*code)),
            _ => return Err(bad_len()),
        },
        T_KEEPALIVE => return Err(bad_len()),
        text::T_TEXT | text::T_TEXT_HOST => {
            Frame::Text(text::decode_text_body(ty, body, len as u32)?)
        }
        ty if overlay::is_overlay(ty) => {
            Frame::Overlay(overlay::decode_overlay_body(ty, body, len as u32)?)
        }
        other => return Err(DecodeError::UnknownType(other)),
    };
    Ok(Status::Complete((frame, 4 + len)))
}

enum PeersError {
    Length,
    Other(DecodeError),
}

fn decode_peers(body: &[u8]) -> Result<Vec<PeerEntry>, PeersError> {
    let (count, mut rest) = body.split_first_chunk::<2>().ok_or(PeersError::Length)?;
    let count = u16::from_be_bytes(*count);
    if count as usize > MAX_PEER_ENTRIES {
        return Err(PeersError::Other(DecodeError::TooManyPeers(count)));
    }
    // The smallest entry is 15 bytes: this bounds the allocation by the
    // frame's real size, not by what the count claims.
    if (count as usize) * 15 > rest.len() {
        return Err(PeersError::Length);
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (id, r) = rest.split_first_chunk::<8>().ok_or(PeersError::Length)?;
        let (addr, r) = decode_addr(r)?;
        out.push(PeerEntry {
            node_id: u64::from_be_bytes(*id),
            addr,
        });
        rest = r;
    }
    if !rest.is_empty() {
        return Err(PeersError::Length);
    }
    Ok(out)
}

/// Reads `family: u8 (4 or 6) | ip (4 or 16 bytes) | port: u16`.
fn decode_addr(r: &[u8]) -> Result<(SocketAddr, &[u8]), PeersError> {
    let (&family, r) = r.split_first().ok_or(PeersError::Length)?;
    let (ip, r): (IpAddr, &[u8]) = match family {
        4 => {
            let (ip, r) = r.split_first_chunk::<4>().ok_or(PeersError::Length)?;
            (Ipv4Addr::from(*ip).into(), r)
        }
        6 => {
            let (ip, r) = r.split_first_chunk::<16>().ok_or(PeersError::Length)?;
            (Ipv6Addr::from(*ip).into(), r)
        }
        f => return Err(PeersError::Other(DecodeError::BadFamily(f))),
    };
    let (port, r) = r.split_first_chunk::<2>().ok_or(PeersError::Length)?;
    Ok((SocketAddr::new(ip, u16::from_be_bytes(*port)), r))
}

/// Writes an address as [`decode_addr`] reads it.
fn encode_addr(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Starts a frame of type `ty` in `out`; returns where its length goes.
fn begin(out: &mut Vec<u8>, ty: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, ty]);
    at
}

/// Fills in the length of the frame begun at `at`.
fn finish(out: &mut [u8], at: usize) {
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Appends a message frame to `out`. The payload must be at most
/// [`MAX_PAYLOAD`] bytes (callers check; a longer one is cut to fit so the
/// frame is always decodable).
pub fn encode_message(out: &mut Vec<u8>, id: u64, ttl: u8, payload: &[u8]) {
    let payload = &payload[..payload.len().min(MAX_PAYLOAD)];
    let len = (MESSAGE_OVERHEAD - 4 + payload.len()) as u32;
    out.reserve(MESSAGE_OVERHEAD + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.push(T_MESSAGE);
    out.extend_from_slice(&id.to_be_bytes());
    out.push(ttl);
    out.extend_from_slice(payload);
}

/// Appends a peer list frame of at most [`MAX_PEER_ENTRIES`] entries (any
/// beyond are left out) to `out`.
pub fn encode_peers<'e>(out: &mut Vec<u8>, entries: impl IntoIterator<Item = &'e PeerEntry>) {
    encode_peer_list(out, T_PEERS, entries);
}

/// A frame of type `ty` whose body is a peer list (PEERS, SHUFFLE,
/// SHUFFLE_REPLY).
fn encode_peer_list<'e>(
    out: &mut Vec<u8>,
    ty: u8,
    entries: impl IntoIterator<Item = &'e PeerEntry>,
) {
    let at = begin(out, ty);
    let count_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let mut count: u16 = 0;
    for e in entries.into_iter().take(MAX_PEER_ENTRIES) {
        out.extend_from_slice(&e.node_id.to_be_bytes());
        encode_addr(out, e.addr);
        count += 1;
    }
    out[count_at..count_at + 2].copy_from_slice(&count.to_be_bytes());
    finish(out, at);
}

impl Frame<'_> {
    /// Appends this frame's bytes to `out`. For every frame [`decode`]
    /// returns, encoding it gives back exactly the bytes it was decoded from.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Hello(h) => {
                let at = begin(out, T_HELLO);
                out.extend_from_slice(&MAGIC);
                out.push(h.version);
                // The flag says whether the address follows: it is set
                // from the field, so the frame is always decodable.
                let flags = match h.advertised {
                    Some(_) => h.flags | FLAG_ADVERTISED,
                    None => h.flags & !FLAG_ADVERTISED,
                };
                out.push(flags);
                out.extend_from_slice(&h.node_id.to_be_bytes());
                out.extend_from_slice(&h.listen_port.to_be_bytes());
                if let Some(a) = h.advertised {
                    encode_addr(out, a);
                }
                finish(out, at);
            }
            Frame::Peers(entries) => encode_peers(out, entries),
            Frame::Message { id, ttl, payload } => encode_message(out, *id, *ttl, payload),
            Frame::Keepalive => {
                let at = begin(out, T_KEEPALIVE);
                finish(out, at);
            }
            Frame::Goodbye(r) => {
                let at = begin(out, T_GOODBYE);
                out.push(r.code());
                finish(out, at);
            }
            Frame::Text(t) => t.encode(out),
            Frame::Overlay(o) => o.encode(out),
        }
    }
}

/// A connection's read buffer.
///
/// Bytes go in as they arrive, split at any point; frames come out in order.
/// Complete frames are decoded straight from the caller's slice, so only an
/// unfinished frame is ever copied and held: the buffer never holds more than
/// `4 + MAX_FRAME_LEN` bytes, and holds nothing (no allocation) between
/// frames. After an error the reader is poisoned and returns it again.
#[derive(Debug, Default)]
pub struct FrameReader {
    partial: Vec<u8>,
    failed: Option<DecodeError>,
}

/// Most bytes a [`FrameReader`] ever buffers.
pub const READER_CAP: usize = 4 + MAX_FRAME_LEN;

impl FrameReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held of an unfinished frame.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Allocated capacity, for memory accounting.
    pub fn capacity(&self) -> usize {
        self.partial.capacity()
    }

    /// Feeds `data`, calling `on_frame` for each frame it completes. Stops
    /// early when `on_frame` returns `false` and returns `Ok(false)` then;
    /// the remaining bytes are dropped, as the caller is closing the stream.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut on_frame: impl FnMut(Frame<'_>) -> bool,
    ) -> Result<bool, DecodeError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if !self.partial.is_empty() {
            // Top up the unfinished frame with just the bytes it lacks.
            let want = match frame_len(&self.partial) {
                Ok(Some(len)) => 4 + len,
                Ok(None) => 4,
                Err(e) => return Err(self.fail(e)),
            };
            let take = (want - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < want {
                return Ok(true);
            }
            if want == 4 {
                // The length just became known; go round again for the body.
                return self.feed(data, on_frame);
            }
            let buf = std::mem::take(&mut self.partial);
            let go_on = match decode(&buf) {
                Ok(Status::Complete((frame, _))) => on_frame(frame),
                Ok(Status::Partial) => unreachable_partial(),
                Err(e) => return Err(self.fail(e)),
            };
            if !go_on {
                return Ok(false);
            }
        }
        loop {
            match decode(data) {
                Ok(Status::Complete((frame, used))) => {
                    if !on_frame(frame) {
                        return Ok(false);
                    }
                    data = &data[used..];
                }
                Ok(Status::Partial) => {
                    if !data.is_empty() {
                        self.partial = data.to_vec();
                    }
                    return Ok(true);
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.failed = Some(e);
        self.partial = Vec::new();
        e
    }
}

/// `decode` never answers `Partial` for a buffer holding `4 + len` bytes;
/// kept as a function so the reader stays total without a panic path.
fn unreachable_partial() -> bool {
    debug_assert!(false, "decode returned Partial on a whole frame");
    false
}

#[cfg(test)]
mod tests;
