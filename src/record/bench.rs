//! Micro-benchmarks of the record layer, both ends in one process, for
//! `rumor-bench` (or `cargo run --release --example record_bench`). They
//! read the clock: this is a harness, not the core.
//!
//! Rates are per second of this thread's CPU time, not of the wall clock,
//! so a machine shared with other work gives the same figures; both ends'
//! work is counted (a node doing one end does about half).

use std::time::Duration;

use super::{Handshake, Session, Step};
use crate::keyring::{Key, KeyRing, MAX_KEYS};
use crate::wire;

/// What [`measure`] found.
#[derive(Clone, Copy, Debug)]
pub struct Figures {
    /// Whole handshakes (both ends' work) per second, one-key rings.
    pub handshakes_per_sec: f64,
    /// The same with the acceptor's ring full ([`MAX_KEYS`]) and the
    /// dialer's key its last: the worst case of a rotation.
    pub handshakes_full_ring_per_sec: f64,
    /// First messages with a wrong key an acceptor with a full ring refuses
    /// per second: the CPU cost of a flood of handshakes.
    pub refusals_per_sec: f64,
    /// 64-byte messages (as MESSAGE frames) sealed in 64 KiB batches and
    /// opened, per second.
    pub small_msgs_per_sec: f64,
    /// The same in MB/s (10^6 bytes of frames a second).
    pub small_mb_per_sec: f64,
    /// 16 KiB messages sealed and opened in 256 KiB batches, MB/s of frames.
    pub large_mb_per_sec: f64,
}

fn ring_of(first: u8, n: usize) -> KeyRing {
    KeyRing::new(
        (0..n)
            .map(|i| Key([first.wrapping_add(i as u8); 32]))
            .collect(),
    )
    .expect("distinct keys within the cap")
}

fn entropy(n: u64) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..8].copy_from_slice(&n.to_le_bytes());
    e
}

/// One whole handshake; the two sessions.
fn handshake(dial: &KeyRing, accept: &KeyRing, n: u64) -> (Session, Session) {
    let (mut i, first) = Handshake::initiator(dial, entropy(2 * n));
    let (mut r, pre) = Handshake::responder(accept, entropy(2 * n + 1));
    let Ok(Step::Done {
        session: rs, reply, ..
    }) = r.read(&first)
    else {
        panic!("the benchmark's handshake failed");
    };
    let wire = [&pre[..], &reply[..]].concat();
    let Ok(Step::Done { session: is, .. }) = i.read(&wire) else {
        panic!("the benchmark's handshake failed");
    };
    (*is, *rs)
}

/// This thread's CPU time.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass and nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time since `start`, in seconds.
fn since(start: Duration) -> f64 {
    (cpu_time() - start).as_secs_f64()
}

/// Runs `f` in rounds until `budget` of CPU time is spent; runs per second.
fn rate(budget: Duration, mut f: impl FnMut(u64)) -> f64 {
    let start = cpu_time();
    let mut n = 0u64;
    while n == 0 || cpu_time() - start < budget {
        f(n);
        n += 1;
    }
    n as f64 / since(start)
}

/// Frames of `payload`-byte messages filling about `batch` bytes.
fn batch_of(payload: usize, batch: usize) -> (Vec<u8>, u64) {
    let body = vec![b'x'; payload];
    let mut frames = Vec::with_capacity(batch + payload + 64);
    let mut n = 0u64;
    while frames.len() + payload + wire::MESSAGE_OVERHEAD <= batch.max(payload + 14) {
        wire::encode_message(&mut frames, n, 0, &body);
        n += 1;
    }
    (frames, n)
}

/// Seal batch after batch on one end, open on the other: (msgs/s, MB/s).
fn throughput(budget: Duration, payload: usize, batch: usize) -> (f64, f64) {
    let ring = ring_of(1, 1);
    let (mut tx, mut rx) = handshake(&ring, &ring, 0);
    let (frames, per_batch) = batch_of(payload, batch);
    let mut sealed = Vec::with_capacity(frames.len() + 64);
    let mut plain = Vec::with_capacity(frames.len());
    let start = cpu_time();
    let mut batches = 0u64;
    while batches == 0 || cpu_time() - start < budget {
        sealed.clear();
        plain.clear();
        tx.seal(&frames, &mut sealed).expect("seal");
        rx.open(&sealed, &mut plain).expect("open");
        assert_eq!(plain.len(), frames.len());
        batches += 1;
    }
    let secs = since(start);
    let msgs = (batches * per_batch) as f64 / secs;
    let mb = (batches as f64 * frames.len() as f64) / secs / 1e6;
    (msgs, mb)
}

/// Measures each figure for about `budget`.
pub fn measure(budget: Duration) -> Figures {
    let one = ring_of(1, 1);
    let handshakes_per_sec = rate(budget, |n| {
        std::hint::black_box(handshake(&one, &one, n));
    });
    let full = ring_of(1, MAX_KEYS);
    let last = ring_of(1 + MAX_KEYS as u8 - 1, 1);
    let handshakes_full_ring_per_sec = rate(budget, |n| {
        std::hint::black_box(handshake(&last, &full, n));
    });
    let stranger = ring_of(200, 1);
    let (_, bogus) = Handshake::initiator(&stranger, entropy(7));
    let refusals_per_sec = rate(budget, |n| {
        let (mut r, _) = Handshake::responder(&full, entropy(n));
        assert!(r.read(&bogus).is_err());
    });
    let (small_msgs_per_sec, small_mb_per_sec) = throughput(budget, 64, 64 * 1024);
    let (_, large_mb_per_sec) = throughput(budget, 16 * 1024, 256 * 1024);
    Figures {
        handshakes_per_sec,
        handshakes_full_ring_per_sec,
        refusals_per_sec,
        small_msgs_per_sec,
        small_mb_per_sec,
        large_mb_per_sec,
    }
}
