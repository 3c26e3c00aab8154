//! The record layer (`rumor::record`): arbitrary bytes into a responder's
//! and an initiator's handshake and into `Session::open` never panic, stay
//! within their caps and never authenticate; frames sealed in arbitrary
//! batches open to the same bytes in the same order when fed in arbitrary
//! pieces; a genuine handshake or record with a byte altered never passes.
//! The first byte picks the check (`src/record_props.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_fuzz::record_props;

fuzz_target!(|data: &[u8]| {
    record_props::check_record(data);
});
