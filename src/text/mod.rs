//! The plain-text protocol of the older node, sans-IO.
//!
//! The older program (its README is quoted in issue 14) sends each message
//! on a new TCP connection: it writes `LISTENPORT:MESSAGE` (no newline, no
//! length), reads the reply [`REPLY`] and closes. It reads at most
//! [`MAX_TEXT_MESSAGE`] bytes of a connection, speaks IPv4 only and learns a
//! host only when that host sends to it.
//!
//! Everything here is pure: no sockets, no clock (`now` comes in), no
//! printing. One concept per module:
//!
//! - this file: the constants, [`sniff`] (is an inbound connection rumor or
//!   text?) and [`sniff_dialed`] (did a peer we dialed answer our hello as
//!   a text host?);
//! - [`reader`]: [`TextReader`], one inbound text message, its pause and
//!   its deadline, and [`parse_message`];
//! - [`delivery`]: [`Delivery`], sending one message to one text host;
//! - [`hosts`]: [`TextHosts`], the capped table of known text hosts;
//! - [`dedup`]: [`Dedup`], printing each text host's text once per node.
//!
//! The byte-level rules are in `docs/PROTOCOL.md`, "Text hosts".

pub mod dedup;
pub mod delivery;
pub mod hosts;
pub mod reader;

pub use dedup::Dedup;
pub use delivery::{Delivery, DeliveryError, Failure, Step};
pub use hosts::{Drop, Learn, Learned, TextHosts};
pub use reader::{End, Invalid, TextConfig, TextEvent, TextReader, parse_message};

use std::net::SocketAddr;

use crate::wire;

/// What a text host replies to every message, and what rumor replies to a
/// valid one: 16 bytes, no newline.
pub const REPLY: &[u8; 16] = b"Message received";

/// The most bytes the older program reads from one connection (one `read`
/// into a 4,096-byte buffer), so the longest text message, `PORT:` included.
pub const MAX_TEXT_MESSAGE: usize = 4096;

/// The most digits a port may have in a `PORT:` header (65535).
pub const MAX_PORT_DIGITS: usize = 5;

// The sniff rule relies on every rumor frame starting with a zero byte.
const _: () = assert!(wire::MAX_FRAME_LEN < 1 << 24);
// A TEXT frame carries any text a text host can send (`1:` and the rest).
const _: () = assert!(wire::text::MAX_TEXT == MAX_TEXT_MESSAGE - 2);

/// What the first bytes of an inbound connection are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniff {
    /// Not one byte yet.
    NeedMore,
    /// A rumor frame stream: hand every byte, this one included, to a
    /// `FrameReader`.
    Rumor,
    /// Not rumor: hand every byte, this one included, to a [`TextReader`],
    /// which accepts `PORT:TEXT` or says precisely why it is not.
    Text,
}

/// Decides what an inbound connection speaks from its first byte.
///
/// Total and exact, and it never needs more than one byte: a rumor stream
/// starts with a frame length below 2^24 (`MAX_FRAME_LEN` is 65,546), so its
/// first byte is always `0x00`; a text message starts with a port's ASCII
/// digits (`0x30..=0x39`). `0x00` means rumor. Any other byte can never
/// start a valid rumor stream, so it goes to the text reader: a valid text
/// message is accepted, anything else (`hello`, `abc:x`, binary junk) is
/// refused there with a reason worded for a text sender, rather than as a
/// rumor frame of a billion bytes.
pub fn sniff(first: &[u8]) -> Sniff {
    match first.first() {
        None => Sniff::NeedMore,
        Some(0) => Sniff::Rumor,
        Some(_) => Sniff::Text,
    }
}

/// What the first bytes from a peer we dialed (and sent a hello to) are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialed {
    /// Too few bytes to tell: they are a proper prefix of [`REPLY`].
    NeedMore,
    /// A rumor stream (or junk the `FrameReader` will refuse).
    Rumor,
    /// Exactly [`REPLY`]: a text host that took our hello for a message.
    /// Bytes after the 16 are ignored (the older program closes).
    TextHost,
}

/// Decides whether a dialed peer answered our hello as a rumor node or as a
/// text host. Needs at most 16 bytes: `0x00` is rumor at once; bytes that
/// are a prefix of [`REPLY`] wait for the rest; a full [`REPLY`] is a text
/// host; anything else is left to the `FrameReader` (which refuses it).
pub fn sniff_dialed(first: &[u8]) -> Dialed {
    let n = first.len().min(REPLY.len());
    if first.first() == Some(&0) || first[..n] != REPLY[..n] {
        Dialed::Rumor
    } else if n < REPLY.len() {
        Dialed::NeedMore
    } else {
        Dialed::TextHost
    }
}

/// `addr` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
/// dual-stack listener sees) turned into plain IPv4, so one text host has
/// one name on every node.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Number of decimal digits of `port`.
pub fn port_digits(port: u16) -> usize {
    match port {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    }
}

/// Bytes of the text message `LISTEN_PORT:TEXT` on the wire.
pub fn message_len(listen_port: u16, text_len: usize) -> usize {
    port_digits(listen_port) + 1 + text_len
}

/// Whether a text of `text_len` bytes can go to a text host from a node
/// listening on `listen_port`: the older program reads at most 4,096 bytes,
/// `PORT:` included, so a longer one would reach it cut. The core checks
/// this and says on stderr that the text hosts were left out.
pub fn fits(listen_port: u16, text_len: usize) -> bool {
    message_len(listen_port, text_len) <= MAX_TEXT_MESSAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_needs_one_byte_and_is_total() {
        assert_eq!(sniff(b""), Sniff::NeedMore);
        for b in 0..=255u8 {
            let want = if b == 0 { Sniff::Rumor } else { Sniff::Text };
            assert_eq!(sniff(&[b]), want, "{b}");
            assert_eq!(sniff(&[b, 0, 0, 0, 9]), want, "{b}");
        }
    }

    #[test]
    fn every_rumor_frame_sniffs_as_rumor_and_every_text_message_as_text() {
        let mut hello = Vec::new();
        wire::Frame::Hello(wire::Hello {
            version: wire::VERSION,
            flags: 0,
            node_id: u64::MAX,
            listen_port: 65535,
            advertised: None,
        })
        .encode(&mut hello);
        let mut big = Vec::new();
        wire::encode_message(&mut big, u64::MAX, 255, &[0xff; wire::MAX_PAYLOAD]);
        for f in [&hello, &big] {
            assert_eq!(sniff(f), Sniff::Rumor);
        }
        for m in [&b"1:x"[..], b"8080:hello", b"65535:", b"0:x"] {
            assert_eq!(sniff(m), Sniff::Text);
        }
    }

    #[test]
    fn a_dialed_text_host_is_known_by_its_sixteen_byte_reply() {
        assert_eq!(sniff_dialed(b""), Dialed::NeedMore);
        for n in 1..16 {
            assert_eq!(sniff_dialed(&REPLY[..n]), Dialed::NeedMore, "{n}");
        }
        assert_eq!(sniff_dialed(REPLY), Dialed::TextHost);
        assert_eq!(sniff_dialed(b"Message receivedXX"), Dialed::TextHost);
        assert_eq!(sniff_dialed(b"Message rejected"), Dialed::Rumor);
        assert_eq!(sniff_dialed(b"X"), Dialed::Rumor);
        assert_eq!(sniff_dialed(&[0, 0, 0, 17, 1]), Dialed::Rumor);
    }

    #[test]
    fn mapped_addresses_are_named_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:1248".parse().unwrap();
        assert_eq!(canonical(mapped), "10.0.0.1:1248".parse().unwrap());
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        assert_eq!(canonical(v6), v6);
    }

    #[test]
    fn the_4096_byte_limit_counts_the_port_header() {
        assert_eq!(port_digits(1), 1);
        assert_eq!(port_digits(10), 2);
        assert_eq!(port_digits(8080), 4);
        assert_eq!(port_digits(65535), 5);
        assert!(fits(8080, 4096 - 5));
        assert!(!fits(8080, 4096 - 4));
        assert!(fits(1, 4094));
        assert!(!fits(65535, 4091));
        assert_eq!(message_len(65535, 4090), 4096);
    }
}
