//! Arbitrary bytes into `wire::decode`: never panics, never consumes more
//! than it was given, and every frame it decodes re-encodes to exactly the
//! bytes it consumed. The whole input is decoded frame after frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_fuzz::props;

fuzz_target!(|data: &[u8]| {
    let _ = props::check_decode_all(data);
});
