//! Prints the record layer's micro-benchmarks:
//! `cargo run --release --example record_bench [SECONDS_PER_FIGURE]`.

use std::time::Duration;

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let f = rumor::record::bench::measure(Duration::from_secs_f64(secs));
    println!(
        "handshakes/s (both ends, 1-key rings)        {:>12.0}",
        f.handshakes_per_sec
    );
    println!(
        "handshakes/s (both ends, 16-key ring, last)  {:>12.0}",
        f.handshakes_full_ring_per_sec
    );
    println!(
        "wrong-key first messages refused/s (16 keys) {:>12.0}",
        f.refusals_per_sec
    );
    println!(
        "64-byte msgs sealed+opened/s (64 KiB batch)  {:>12.0}",
        f.small_msgs_per_sec
    );
    println!(
        "64-byte msgs sealed+opened, MB/s of frames   {:>12.1}",
        f.small_mb_per_sec
    );
    println!(
        "16 KiB msgs sealed+opened, MB/s of frames    {:>12.1}",
        f.large_mb_per_sec
    );
}
