//! Arbitrary bytes into the text protocol: the sniff rules, the `PORT:`
//! parser, the message reader fed in pieces with time passing, a delivery
//! reading a reply, and the TEXT / TEXT_HOST frame codec (see
//! `src/text_props.rs` for what each must hold).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_fuzz::text_props;

fuzz_target!(|data: &[u8]| {
    text_props::check_text(data);
});
