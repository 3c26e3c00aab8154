//! A well-formed frame (or a few) built from the input encodes, then decodes
//! to an equal value consuming every byte; encoding appends to what the
//! buffer already holds without touching it; a stream of the frames decodes
//! and reads back in order.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use rumor::wire::{self, READER_CAP, Status};
use rumor_fuzz::{frames, props};

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
        stream.extend_from_slice(bytes);
    }
    // The frames in a row: decoded in order, read back in order, all used.
    let (got, end) = props::check_decode_all(&stream);
    assert_eq!(end, Ok(0), "the stream of frames does not end cleanly");
    assert_eq!(got.len(), list.len());
    let (read, end) = props::feed_reader([&stream[..]]);
    assert_eq!(end, Ok(0));
    assert_eq!(read, got);
});
