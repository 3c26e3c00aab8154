//! A well-formed frame (or a few) built from the input (`src/frames.rs`:
//! every frame type of version 2, GOSSIP with IPv4 and IPv6 origins and
//! payloads up to `MAX_PAYLOAD`, IHAVE with 0 to 64 entries, GRAFT, PRUNE,
//! FORWARD_JOIN, SHUFFLE and SHUFFLE_REPLY with peer lists, hellos of any
//! version and flags, every goodbye code) encodes, then decodes to an equal
//! value consuming exactly its bytes; every strict prefix of it is
//! `Partial`; encoding appends to what the buffer already holds without
//! touching it; a stream of the frames decodes and reads back in order,
//! whole and cut at points the input picks.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use rumor::wire::overlay::Overlay;
use rumor::wire::{self, Frame, READER_CAP, Status};
use rumor_fuzz::frames::{self, OwnedFrame};
use rumor_fuzz::props;

/// Strict prefixes checked of a frame: all of them up to this size, else
/// the first and last of them and some in between.
const EVERY_PREFIX_UPTO: usize = 4096;

fn prefixes(len: usize) -> Vec<usize> {
    if len <= EVERY_PREFIX_UPTO {
        return (0..len).collect();
    }
    let mut cuts: Vec<usize> = (0..64).chain(len - 64..len).collect();
    cuts.extend((1..64).map(|i| i * len / 64));
    cuts
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let junk = u.int_in_range(0..=7usize).unwrap_or(0);
    let mut list = Vec::new();
    while let Ok(f) = frames::frame(&mut u) {
        list.push(f);
        if list.len() == 8 || u.is_empty() {
            break;
        }
    }
    let mut stream = Vec::new();
    for f in &list {
        let frame = f.as_frame();
        let mut out = vec![0xa5; junk];
        frame.encode(&mut out);
        assert!(
            out[..junk].iter().all(|&b| b == 0xa5),
            "encode wrote before its start"
        );
        let bytes = &out[junk..];
        assert!(bytes.len() <= READER_CAP, "{} bytes encoded", bytes.len());
        assert_eq!(
            wire::decode(bytes),
            Ok(Status::Complete((frame.clone(), bytes.len()))),
            "{f:?} does not round-trip"
        );
        for cut in prefixes(bytes.len()) {
            assert_eq!(
                wire::decode(&bytes[..cut]),
                Ok(Status::Partial),
                "{f:?} cut to {cut} of {} bytes is not Partial",
                bytes.len()
            );
        }
        // What the decoder hands out is what was generated, field by field
        // where the frame borrows.
        match (f, &frame) {
            (OwnedFrame::IHave { entries, .. }, Frame::Overlay(Overlay::IHave(a))) => {
                assert_eq!(a.len(), entries.len(), "IHAVE entry count");
                assert!(a.iter().eq(entries.iter().copied()), "IHAVE entries");
            }
            (OwnedFrame::IHave { .. }, other) => panic!("an IHAVE became {other:?}"),
            _ => {}
        }
        stream.extend_from_slice(bytes);
    }
    // The frames in a row: decoded in order, read back in order, all used.
    let (got, end) = props::check_decode_all(&stream);
    assert_eq!(end, Ok(0), "the stream of frames does not end cleanly");
    assert_eq!(got.len(), list.len());
    let (read, end) = props::feed_reader([&stream[..]]);
    assert_eq!(end, Ok(0));
    assert_eq!(read, got);
    // And cut where the rest of the input says.
    let cuts: Vec<usize> = u
        .bytes(u.len().min(16))
        .unwrap_or_default()
        .chunks(2)
        .map(|c| usize::from(c[0]) << 8 | usize::from(*c.get(1).unwrap_or(&0)))
        .map(|c| {
            if stream.is_empty() {
                0
            } else {
                c % stream.len()
            }
        })
        .collect();
    props::check_stream(&stream, &props::split_at(&stream, &cuts));
});
