//! What a connection's first bytes say it is: a keyed rumor node, an
//! unkeyed one, a host of the older text protocol, or garbage. Decided as
//! soon as the bytes allow, from at most [`SNIFF_MAX`] of them.

use super::{MAGIC, PREAMBLE, VERSION};
use crate::wire;

/// Most bytes looked at before deciding.
pub(super) const SNIFF_MAX: usize = 16;

/// The reply of a text host (see the text protocol's issue): a keyed
/// dialer that reaches one reads this.
const TEXT_REPLY: &[u8; 16] = b"Message received";
/// Most digits of a text message's port before its `:`.
const MAX_PORT_DIGITS: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sniff {
    /// Too few bytes to tell yet.
    Wait,
    /// The first [`PREAMBLE`] bytes are ours: a keyed rumor node.
    Keyed,
    /// A plain rumor HELLO frame: length, type 1, `"RUMR"`.
    Unkeyed,
    /// ASCII digits then `:` (a text message), or `Message received`.
    TextHost,
    /// Our magic with another version.
    Version(u8),
    Garbage,
}

/// Whether `buf` (at least one byte, the start of the stream) could still
/// become `sig` (`None` for a wildcard byte).
fn prefix_of(buf: &[u8], sig: &[Option<u8>]) -> bool {
    buf.iter().zip(sig).all(|(b, s)| s.is_none_or(|s| s == *b))
}

pub(super) fn sniff(buf: &[u8]) -> Sniff {
    let Some(&first) = buf.first() else {
        return Sniff::Wait;
    };
    match first {
        b'R' => {
            let n = buf.len().min(MAGIC.len());
            if buf[..n] != MAGIC[..n] {
                Sniff::Garbage
            } else if buf.len() < PREAMBLE.len() {
                Sniff::Wait
            } else if buf[4] == VERSION {
                Sniff::Keyed
            } else {
                Sniff::Version(buf[4])
            }
        }
        0 => {
            // HELLO: a length whose first byte is 0 (every frame length is
            // under 2^24), type 1, the magic.
            let m = wire::MAGIC;
            let sig = [
                Some(0),
                None,
                None,
                None,
                Some(1),
                Some(m[0]),
                Some(m[1]),
                Some(m[2]),
                Some(m[3]),
            ];
            if !prefix_of(buf, &sig) {
                Sniff::Garbage
            } else if buf.len() < sig.len() {
                Sniff::Wait
            } else {
                Sniff::Unkeyed
            }
        }
        b'0'..=b'9' => {
            for (i, &b) in buf.iter().enumerate().take(MAX_PORT_DIGITS + 1) {
                match b {
                    b'0'..=b'9' if i < MAX_PORT_DIGITS => {}
                    b':' => return Sniff::TextHost,
                    _ => return Sniff::Garbage,
                }
            }
            Sniff::Wait
        }
        b'M' => {
            let n = buf.len().min(TEXT_REPLY.len());
            if buf[..n] != TEXT_REPLY[..n] {
                Sniff::Garbage
            } else if n < TEXT_REPLY.len() {
                Sniff::Wait
            } else {
                Sniff::TextHost
            }
        }
        _ => Sniff::Garbage,
    }
}

/// Whether a connection's first bytes are a keyed rumor node's: for an
/// unkeyed node, whose frame reader sees them as an oversized length
/// (`"RUMK"` is 1,381,322,059), to say "the peer uses a network key".
pub fn looks_keyed(first: &[u8]) -> bool {
    first.starts_with(&MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Frame, Hello};

    /// Every prefix of `bytes` waits, or already says `want`; the whole
    /// says `want`.
    fn says(bytes: &[u8], want: Sniff) {
        for n in 0..bytes.len() {
            let s = sniff(&bytes[..n]);
            assert!(s == Sniff::Wait || s == want, "{:?}: {s:?}", &bytes[..n]);
        }
        assert_eq!(sniff(bytes), want, "{bytes:?}");
        assert!(bytes.len() <= SNIFF_MAX || sniff(&bytes[..SNIFF_MAX]) == want);
    }

    #[test]
    fn tells_each_kind_of_peer() {
        says(&PREAMBLE, Sniff::Keyed);
        says(b"RUMK\x02", Sniff::Version(2));
        let mut hello = Vec::new();
        Frame::Hello(Hello {
            version: 1,
            flags: 0,
            node_id: 7,
            listen_port: 7001,
            advertised: None,
        })
        .encode(&mut hello);
        says(&hello, Sniff::Unkeyed);
        says(b"7001:hello", Sniff::TextHost);
        says(b"1:", Sniff::TextHost);
        says(b"Message received", Sniff::TextHost);
        for garbage in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"RUMR",
            b"RX",
            b"\x00\x00\x00\x05\x04",
            b"\x00\x00\x00\x11\x01JUNK",
            b"123456:",
            b"12a:",
            b":7001",
            b"Messages",
            b"\xff",
        ] {
            says(garbage, Sniff::Garbage);
        }
        assert_eq!(sniff(b""), Sniff::Wait);
        assert_eq!(sniff(b"RUM"), Sniff::Wait);
        assert_eq!(sniff(b"12345"), Sniff::Wait);
    }

    #[test]
    fn an_unkeyed_node_can_tell_a_keyed_one() {
        assert!(looks_keyed(&PREAMBLE));
        assert!(!looks_keyed(b"RUM"));
        assert_eq!(u32::from_be_bytes(MAGIC), 1_381_322_059);
        assert!(u32::from_be_bytes(MAGIC) as usize > wire::MAX_FRAME_LEN);
    }
}
