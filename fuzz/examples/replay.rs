//! Runs node scripts through the driver: `cargo run --example replay FILE...`.
//! With `RUMOR_FUZZ_TRACE=1`, prints every op, output and the node's counts.

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("a readable file");
        let summary = rumor_fuzz::node_driver::run(&bytes);
        println!("{path}: {summary:?}");
    }
}
