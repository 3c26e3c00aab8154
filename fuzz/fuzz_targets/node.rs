//! A script of inputs (connections, frames from fake peers, garbage bytes,
//! a fake clock, stdin, shutdown) driven into `rumor::node::Node`, with its
//! invariants checked after every step. See `src/node_driver.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rumor_fuzz::node_driver::run(data);
});
