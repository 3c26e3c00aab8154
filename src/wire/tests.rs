//! The codec's unit tests (kept out of wire.rs so the codec reads alone).
use super::*;

fn enc(f: &Frame<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    f.encode(&mut v);
    v
}

fn samples() -> Vec<Frame<'static>> {
    vec![
        Frame::Hello(Hello {
            version: VERSION,
            flags: 0,
            node_id: 0xdead_beef_0123_4567,
            listen_port: 8080,
            advertised: None,
        }),
        Frame::Hello(Hello {
            version: VERSION,
            flags: overlay::FLAG_JOIN | FLAG_ADVERTISED,
            node_id: 3,
            listen_port: 8080,
            advertised: Some("198.51.100.7:9000".parse().unwrap()),
        }),
        Frame::Hello(Hello {
            version: 2,
            flags: FLAG_ADVERTISED,
            node_id: 4,
            listen_port: 1,
            advertised: Some("[2001:db8::1]:443".parse().unwrap()),
        }),
        Frame::Peers(vec![]),
        Frame::Peers(vec![
            PeerEntry {
                node_id: 7,
                addr: "127.0.0.1:8081".parse().unwrap(),
            },
            PeerEntry {
                node_id: u64::MAX,
                addr: "[::1]:9".parse().unwrap(),
            },
        ]),
        Frame::Message {
            id: 42,
            ttl: 0,
            payload: b"hello world",
        },
        Frame::Message {
            id: 1,
            ttl: 3,
            payload: b"",
        },
        Frame::Keepalive,
        Frame::Goodbye(GoodbyeReason::Shutdown),
        Frame::Goodbye(GoodbyeReason::Duplicate),
        Frame::Goodbye(GoodbyeReason::Other(77)),
    ]
}

#[test]
fn every_frame_round_trips_and_every_prefix_is_partial() {
    for f in samples() {
        let bytes = enc(&f);
        assert_eq!(
            decode(&bytes),
            Ok(Status::Complete((f.clone(), bytes.len())))
        );
        for cut in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..cut]),
                Ok(Status::Partial),
                "{f:?} cut {cut}"
            );
        }
    }
}

#[test]
fn a_hello_without_an_advertised_address_is_the_v1_layout() {
    let h = |advertised| {
        enc(&Frame::Hello(Hello {
            version: VERSION,
            flags: FLAG_ADVERTISED,
            node_id: 9,
            listen_port: 7,
            advertised,
        }))
    };
    let v1 = h(None);
    assert_eq!(v1.len(), 4 + 1 + HELLO_BODY);
    assert_eq!(v1[10], 0, "no flag without the address");
    let v4 = h(Some("10.77.0.1:7000".parse().unwrap()));
    assert_eq!(v4.len(), v1.len() + 7);
    assert_eq!(v4[10], FLAG_ADVERTISED);
}

#[test]
fn message_overhead_is_fourteen_bytes() {
    let mut v = Vec::new();
    encode_message(&mut v, 1, 0, &[b'x'; 64]);
    assert_eq!(v.len(), 64 + MESSAGE_OVERHEAD);
    assert_eq!(MESSAGE_OVERHEAD, 14);
}

#[test]
fn largest_payload_fits_and_longer_is_cut() {
    let big = vec![7u8; MAX_PAYLOAD + 10];
    let mut v = Vec::new();
    encode_message(&mut v, 1, 0, &big);
    match decode(&v) {
        Ok(Status::Complete((Frame::Message { payload, .. }, n))) => {
            assert_eq!(payload.len(), MAX_PAYLOAD);
            assert_eq!(n, v.len());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejections() {
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (vec![0, 0, 0, 0], DecodeError::EmptyFrame),
        (
            vec![0xff, 0xff, 0xff, 0xff],
            DecodeError::TooLarge(u32::MAX),
        ),
        (
            ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec(),
            DecodeError::TooLarge(MAX_FRAME_LEN as u32 + 1),
        ),
        (vec![0, 0, 0, 1, 99], DecodeError::UnknownType(99)),
        (
            vec![0, 0, 0, 2, T_KEEPALIVE, 0],
            DecodeError::BadLength {
                frame_type: T_KEEPALIVE,
                len: 2,
            },
        ),
        (
            vec![0, 0, 0, 1, T_GOODBYE],
            DecodeError::BadLength {
                frame_type: T_GOODBYE,
                len: 1,
            },
        ),
        (
            [&[0, 0, 0, 17, T_HELLO][..], b"JUNK", &[1; 12]].concat(),
            DecodeError::BadMagic,
        ),
        (
            [&[0, 0, 0, 17, T_HELLO][..], b"RUMR", &[0; 12]].concat(),
            DecodeError::BadVersion(0),
        ),
        // The advertised-address flag without the address, an address
        // without the flag, a short address, a trailing byte, a bad family.
        (
            [
                &[0, 0, 0, 17, T_HELLO][..],
                b"RUMR",
                &[1, FLAG_ADVERTISED],
                &[7; 10],
            ]
            .concat(),
            DecodeError::BadLength {
                frame_type: T_HELLO,
                len: 17,
            },
        ),
        (
            [
                &[0, 0, 0, 24, T_HELLO][..],
                b"RUMR",
                &[1, 0],
                &[7; 10],
                &[4, 10, 0, 0, 1, 0, 80],
            ]
            .concat(),
            DecodeError::BadLength {
                frame_type: T_HELLO,
                len: 24,
            },
        ),
        (
            [
                &[0, 0, 0, 23, T_HELLO][..],
                b"RUMR",
                &[1, FLAG_ADVERTISED],
                &[7; 10],
                &[4, 10, 0, 0, 1, 0],
            ]
            .concat(),
            DecodeError::BadLength {
                frame_type: T_HELLO,
                len: 23,
            },
        ),
        (
            [
                &[0, 0, 0, 25, T_HELLO][..],
                b"RUMR",
                &[1, FLAG_ADVERTISED],
                &[7; 10],
                &[4, 10, 0, 0, 1, 0, 80, 0],
            ]
            .concat(),
            DecodeError::BadLength {
                frame_type: T_HELLO,
                len: 25,
            },
        ),
        (
            [
                &[0, 0, 0, 24, T_HELLO][..],
                b"RUMR",
                &[1, FLAG_ADVERTISED],
                &[7; 10],
                &[9, 10, 0, 0, 1, 0, 80],
            ]
            .concat(),
            DecodeError::BadFamily(9),
        ),
        (
            vec![0, 0, 0, 5, T_MESSAGE, 1, 2, 3, 4],
            DecodeError::BadLength {
                frame_type: T_MESSAGE,
                len: 5,
            },
        ),
        // A peer list claiming 1000 entries in 3 bytes: refused before
        // any allocation is sized by the claim.
        (
            vec![0, 0, 0, 3, T_PEERS, 0x03, 0xe8],
            DecodeError::BadLength {
                frame_type: T_PEERS,
                len: 3,
            },
        ),
        (
            vec![0, 0, 0, 3, T_PEERS, 0xff, 0xff],
            DecodeError::TooManyPeers(0xffff),
        ),
        (
            [&[0, 0, 0, 18, T_PEERS, 0, 1][..], &[0; 8], &[5], &[0; 6]].concat(),
            DecodeError::BadFamily(5),
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(decode(&bytes), Err(want), "{bytes:?}");
        // And the reader reports the same, whole or byte by byte.
        assert_eq!(FrameReader::new().feed(&bytes, |_| true), Err(want));
        let mut r = FrameReader::new();
        let got = bytes.iter().find_map(|b| r.feed(&[*b], |_| true).err());
        assert_eq!(got, Some(want));
    }
}

#[test]
fn reader_yields_the_same_frames_however_the_stream_is_split() {
    let stream: Vec<u8> = samples().iter().flat_map(enc).collect();
    let whole = {
        let mut out = Vec::new();
        FrameReader::new()
            .feed(&stream, |f| {
                out.push(enc(&f));
                true
            })
            .unwrap();
        out
    };
    assert_eq!(whole.len(), samples().len());
    for step in 1..=17 {
        let mut r = FrameReader::new();
        let mut out = Vec::new();
        for chunk in stream.chunks(step) {
            r.feed(chunk, |f| {
                out.push(enc(&f));
                true
            })
            .unwrap();
            assert!(r.buffered() <= READER_CAP);
        }
        assert_eq!(out, whole, "step {step}");
        assert_eq!(r.buffered(), 0);
    }
}

#[test]
fn reader_stops_when_asked() {
    let stream: Vec<u8> = samples().iter().flat_map(enc).collect();
    let mut n = 0;
    let r = FrameReader::new().feed(&stream, |_| {
        n += 1;
        n < 2
    });
    assert_eq!(r, Ok(false));
    assert_eq!(n, 2);
}
