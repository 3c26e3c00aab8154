//! The input as a byte stream, fed to a `FrameReader` whole and in pieces:
//! the same frames in the same order either way, the same error wherever it
//! was split, and never more than `READER_CAP` bytes held.
//!
//! The whole input is the stream (so a seed of frames is a stream of frames);
//! the piece sizes are read from the input's last bytes, backwards.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_fuzz::props;

fuzz_target!(|data: &[u8]| {
    let mut sizes = data.iter().rev();
    let mut chunks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // Mostly small pieces, sometimes large ones, a few empty ones.
        let Some(&b) = sizes.next() else {
            chunks.push(rest);
            break;
        };
        let n = match b {
            0 => 0,
            b @ 1..=0xbf => usize::from(b & 0x1f) + 1,
            b => usize::from(b & 0x3f) * 1024 + 1,
        };
        let (a, b) = rest.split_at(n.min(rest.len()));
        chunks.push(a);
        rest = b;
    }
    props::check_stream(data, &chunks);
    // Byte by byte, where that is cheap enough.
    if data.len() <= 4096 {
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        props::check_stream(data, &bytes);
    }
});
