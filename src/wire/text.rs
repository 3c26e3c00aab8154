//! Frames 6 (TEXT) and 7 (TEXT_HOST): text hosts in the rumor protocol.
//!
//! Layouts are in `docs/PROTOCOL.md`, "Text hosts". A node sends these only
//! to a peer whose hello set [`FLAG_TEXT`]; a node without it (every v1
//! build) ignores the flag and never gets one, and if it did, it would
//! close that connection with `protocol error: unknown frame type 6`.
//!
//! They are [`Frame::Text`](super::Frame::Text): [`super::decode`] takes
//! types 6 and 7 through [`decode_text_body`]; [`decode_text`] decodes them
//! alone (the `text` fuzz target's properties use it).

use std::net::SocketAddr;

use super::{DecodeError, PeersError, Status, begin, decode_addr, encode_addr, finish, frame_len};

/// Hello flag: the sender understands TEXT and TEXT_HOST frames.
pub const FLAG_TEXT: u8 = 0x02;
/// Frame type of a text host's message, passed on by the node it reached.
pub const T_TEXT: u8 = 6;
/// Frame type of a text host announcement.
pub const T_TEXT_HOST: u8 = 7;
/// Longest text in a TEXT frame: a text host's message is at most 4,096
/// bytes, `PORT:` included, and the shortest header is `1:`.
pub const MAX_TEXT: usize = 4096 - 2;

/// A frame about text hosts. A text borrows its bytes from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextFrame<'a> {
    /// A text host's message. `origin` is the text host: the IP of the
    /// connection that brought it, with the message's port. Every node
    /// prints it as `Received message [TEXT] from "ORIGIN"`.
    Text {
        /// Hops it may still be relayed; 0 (full mesh, no relay).
        ttl: u8,
        origin: SocketAddr,
        text: &'a [u8],
    },
    /// A text host the sender delivered to: every receiver adds it to its
    /// text hosts and sends it its own messages.
    TextHost { ttl: u8, addr: SocketAddr },
}

impl TextFrame<'_> {
    /// Appends this frame to `out`. A text over [`MAX_TEXT`] bytes is cut to
    /// fit (callers check), so the frame always decodes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            TextFrame::Text { ttl, origin, text } => {
                let at = begin(out, T_TEXT);
                out.push(ttl);
                encode_addr(out, origin);
                out.extend_from_slice(&text[..text.len().min(MAX_TEXT)]);
                finish(out, at);
            }
            TextFrame::TextHost { ttl, addr } => {
                let at = begin(out, T_TEXT_HOST);
                out.push(ttl);
                encode_addr(out, addr);
                finish(out, at);
            }
        }
    }
}

/// Decodes the body of a frame of type `ty` (6 or 7) whose length field is
/// `len`; any other type is [`DecodeError::UnknownType`].
pub fn decode_text_body(ty: u8, body: &[u8], len: u32) -> Result<TextFrame<'_>, DecodeError> {
    let bad_len = DecodeError::BadLength {
        frame_type: ty,
        len,
    };
    if ty != T_TEXT && ty != T_TEXT_HOST {
        return Err(DecodeError::UnknownType(ty));
    }
    let (&ttl, rest) = body.split_first().ok_or(bad_len)?;
    let (addr, rest) = decode_addr(rest).map_err(|e| match e {
        PeersError::Length => bad_len,
        PeersError::Other(e) => e,
    })?;
    match ty {
        T_TEXT if rest.len() <= MAX_TEXT => Ok(TextFrame::Text {
            ttl,
            origin: addr,
            text: rest,
        }),
        T_TEXT_HOST if rest.is_empty() => Ok(TextFrame::TextHost { ttl, addr }),
        _ => Err(bad_len),
    }
}

/// Decodes one whole TEXT or TEXT_HOST frame from the start of `buf`, like
/// [`super::decode`] does (which gives the same frame as `Frame::Text`).
pub fn decode_text(buf: &[u8]) -> Result<Status<(TextFrame<'_>, usize)>, DecodeError> {
    let Some(len) = frame_len(buf)? else {
        return Ok(Status::Partial);
    };
    let Some(frame) = buf.get(4..4 + len) else {
        return Ok(Status::Partial);
    };
    let (&ty, body) = frame.split_first().ok_or(DecodeError::EmptyFrame)?;
    let f = decode_text_body(ty, body, len as u32)?;
    Ok(Status::Complete((f, 4 + len)))
}

#[cfg(test)]
mod tests {
    use super::super::{MAX_FRAME_LEN, decode};
    use super::*;

    fn enc(f: &TextFrame<'_>) -> Vec<u8> {
        let mut v = Vec::new();
        f.encode(&mut v);
        v
    }

    fn samples() -> Vec<TextFrame<'static>> {
        let long: &'static [u8] = Box::leak(vec![0xffu8; MAX_TEXT].into_boxed_slice());
        vec![
            TextFrame::Text {
                ttl: 0,
                origin: "127.0.0.1:1248".parse().unwrap(),
                text: b"hello from the old node",
            },
            TextFrame::Text {
                ttl: 2,
                origin: "[::1]:9".parse().unwrap(),
                text: b"",
            },
            TextFrame::Text {
                ttl: 0,
                origin: "10.1.2.3:65535".parse().unwrap(),
                text: long,
            },
            TextFrame::TextHost {
                ttl: 0,
                addr: "192.168.0.7:1248".parse().unwrap(),
            },
            TextFrame::TextHost {
                ttl: 1,
                addr: "[2001:db8::1]:80".parse().unwrap(),
            },
        ]
    }

    #[test]
    fn text_frames_round_trip_and_every_prefix_is_partial() {
        for f in samples() {
            let bytes = enc(&f);
            assert!(bytes.len() <= 4 + MAX_FRAME_LEN);
            assert_eq!(decode_text(&bytes), Ok(Status::Complete((f, bytes.len()))));
            for cut in 0..bytes.len() {
                assert_eq!(decode_text(&bytes[..cut]), Ok(Status::Partial), "{cut}");
            }
        }
    }

    #[test]
    fn byte_layouts() {
        let text = TextFrame::Text {
            ttl: 0,
            origin: "127.0.0.1:1248".parse().unwrap(),
            text: b"hi",
        };
        assert_eq!(
            enc(&text),
            [0, 0, 0, 11, 6, 0, 4, 127, 0, 0, 1, 0x04, 0xe0, b'h', b'i']
        );
        let host = TextFrame::TextHost {
            ttl: 0,
            addr: "127.0.0.1:1248".parse().unwrap(),
        };
        assert_eq!(enc(&host), [0, 0, 0, 9, 7, 0, 4, 127, 0, 0, 1, 0x04, 0xe0]);
    }

    #[test]
    fn decode_gives_them_as_frame_text_and_a_v1_decoder_would_refuse_them() {
        for f in samples() {
            let bytes = enc(&f);
            let ty = bytes[4];
            let whole = Ok(Status::Complete((
                super::super::Frame::Text(f),
                bytes.len(),
            )));
            assert_eq!(decode(&bytes), whole);
            // What a v1 node (no types 6 and 7) says if one reached it.
            assert_eq!(
                DecodeError::UnknownType(ty).to_string(),
                format!("unknown frame type {ty}")
            );
        }
        assert_eq!(decode(&[0, 0, 0, 1, 15]), Err(DecodeError::UnknownType(15)));
    }

    #[test]
    fn the_flag_is_its_own_bit_and_a_v1_hello_carries_it_unharmed() {
        use super::super::overlay::{FLAG_JOIN, FLAG_LOW};
        use super::super::{Frame, Hello, VERSION};
        assert_eq!(FLAG_TEXT & (FLAG_JOIN | FLAG_LOW), 0);
        let h = Frame::Hello(Hello {
            version: VERSION,
            flags: FLAG_TEXT | FLAG_JOIN,
            node_id: 1,
            listen_port: 2,
            advertised: None,
        });
        let mut v = Vec::new();
        h.encode(&mut v);
        assert_eq!(decode(&v), Ok(Status::Complete((h, v.len()))));
    }

    #[test]
    fn rejections() {
        let cases: Vec<(Vec<u8>, DecodeError)> = vec![
            (vec![0, 0, 0, 1, T_TEXT], bad(T_TEXT, 1)),
            (vec![0, 0, 0, 2, T_TEXT_HOST, 0], bad(T_TEXT_HOST, 2)),
            (
                vec![0, 0, 0, 9, T_TEXT, 0, 5, 0, 0, 0, 0, 0, 0],
                DecodeError::BadFamily(5),
            ),
            (
                vec![0, 0, 0, 8, T_TEXT, 0, 4, 1, 2, 3, 4, 0],
                bad(T_TEXT, 8),
            ),
            // A text host entry with bytes after it.
            (
                vec![0, 0, 0, 10, T_TEXT_HOST, 0, 4, 1, 2, 3, 4, 0, 1, 9],
                bad(T_TEXT_HOST, 10),
            ),
            (vec![0, 0, 0, 1, 3], DecodeError::UnknownType(3)),
            (vec![0, 0, 0, 0], DecodeError::EmptyFrame),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode_text(&bytes), Err(want), "{bytes:?}");
        }
        // One byte of text over MAX_TEXT.
        let mut v = Vec::new();
        TextFrame::Text {
            ttl: 0,
            origin: "1.2.3.4:5".parse().unwrap(),
            text: &[b'x'; MAX_TEXT],
        }
        .encode(&mut v);
        v.push(b'x');
        let len = (v.len() - 4) as u32;
        v[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(decode_text(&v), Err(bad(T_TEXT, len)));
    }

    fn bad(frame_type: u8, len: u32) -> DecodeError {
        DecodeError::BadLength { frame_type, len }
    }

    #[test]
    fn a_longer_text_is_cut_to_fit() {
        let mut v = Vec::new();
        TextFrame::Text {
            ttl: 0,
            origin: "1.2.3.4:5".parse().unwrap(),
            text: &[b'x'; MAX_TEXT + 100],
        }
        .encode(&mut v);
        match decode_text(&v) {
            Ok(Status::Complete((TextFrame::Text { text, .. }, n))) => {
                assert_eq!(text.len(), MAX_TEXT);
                assert_eq!(n, v.len());
            }
            other => panic!("{other:?}"),
        }
    }
}
