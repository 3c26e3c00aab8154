use super::*;

fn addr() -> SocketAddr {
    "127.0.0.1:9000".parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn m(origin: u64, seq: u32) -> MsgId {
    MsgId { origin, seq }
}

/// What came out, flattened: `D(origin, seq)` or `S(origin, first, last)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    D(u64, u32),
    S(u64, u32, u32),
}
use Out::{D, S};

#[derive(Default)]
struct Sink(Vec<Out>);

impl Sink {
    fn emit(&mut self) -> impl FnMut(Ordered<'_>) + '_ {
        |o| {
            self.0.push(match o {
                Ordered::Deliver(d) => {
                    assert_eq!(d.payload, payload(d.id));
                    D(d.id.origin, d.id.seq)
                }
                Ordered::Skip(s) => S(s.origin, s.first, s.last),
            })
        }
    }

    fn take(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.0)
    }
}

/// Each message's payload names it, so a delivery can be checked.
fn payload(id: MsgId) -> Vec<u8> {
    format!("{}:{}", id.origin, id.seq).into_bytes()
}

fn accept(s: &mut Sequencer, id: MsgId, now: Instant, sink: &mut Sink) -> bool {
    s.accept(id, addr(), 1, &payload(id), now, &mut sink.emit())
}

fn with(cfg: OrderConfig) -> (Sequencer, Sink, Instant) {
    (Sequencer::new(cfg), Sink::default(), Instant::now())
}

#[test]
fn in_order_messages_are_delivered_at_once_and_a_copy_is_seen() {
    let (mut s, mut k, t0) = with(OrderConfig::default());
    assert!(!s.is_seen(m(1, 0)));
    for seq in 0..3 {
        assert!(accept(&mut s, m(1, seq), t0, &mut k));
    }
    assert_eq!(k.take(), [D(1, 0), D(1, 1), D(1, 2)]);
    assert!(s.is_seen(m(1, 2)) && !s.is_seen(m(1, 3)) && !s.is_seen(m(2, 0)));
    assert!(!accept(&mut s, m(1, 1), t0, &mut k));
    assert!(k.take().is_empty());
    assert_eq!(s.counters().duplicates, 1);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(600)));
}

#[test]
fn the_first_message_of_an_origin_starts_it_and_earlier_ones_are_dropped() {
    // Earlier ones count as seen, but for the last LATE of them, which a
    // relayed copy of a later message may have overtaken: those are
    // delivered (late, once) if they come within gap_wait.
    let (mut s, mut k, t0) = with(OrderConfig::default());
    let late = t0 + OrderConfig::default().gap_wait;
    assert!(accept(&mut s, m(100, 100), t0, &mut k));
    assert!(s.is_seen(m(100, 0)) && s.is_seen(m(100, 35)));
    assert!(!s.is_seen(m(100, 99)) && !s.is_seen(m(100, 36)));
    assert!(!accept(&mut s, m(100, 35), t0, &mut k));
    assert!(accept(&mut s, m(100, 99), t0, &mut k));
    assert!(s.is_seen(m(100, 99)));
    assert!(!accept(&mut s, m(100, 99), t0, &mut k), "once");
    // Too late: refused, and seen from then on.
    assert!(!accept(&mut s, m(100, 98), late, &mut k));
    assert!(s.is_seen(m(100, 98)));
    assert!(accept(&mut s, m(100, 101), late, &mut k));
    assert_eq!(k.take(), [D(100, 100), D(100, 99), D(100, 101)]);
    assert_eq!(s.counters().late_starts, 1);
}

#[test]
fn a_later_message_is_held_until_the_gap_fills() {
    let (mut s, mut k, t0) = with(OrderConfig::default());
    accept(&mut s, m(1, 0), t0, &mut k);
    accept(&mut s, m(1, 3), t0, &mut k);
    accept(&mut s, m(1, 2), t0, &mut k);
    assert_eq!(k.take(), [D(1, 0)]);
    assert!(s.is_seen(m(1, 3)) && !s.is_seen(m(1, 1)));
    // A held message is seen: its copy is refused.
    assert!(!accept(&mut s, m(1, 3), t0, &mut k));
    assert_eq!(s.len(), (1, 2, 6));
    accept(&mut s, m(1, 1), t0 + ms(10), &mut k);
    assert_eq!(k.take(), [D(1, 1), D(1, 2), D(1, 3)]);
    assert_eq!(s.len(), (1, 0, 0));
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + ms(10) + Duration::from_secs(600))
    );
}

#[test]
fn a_gap_is_waited_for_then_skipped_and_each_following_gap_has_its_own_wait() {
    let (mut s, mut k, t0) = with(OrderConfig::default());
    accept(&mut s, m(1, 0), t0, &mut k);
    accept(&mut s, m(1, 3), t0 + ms(100), &mut k);
    accept(&mut s, m(1, 5), t0 + ms(1000), &mut k);
    k.take();
    let due = t0 + ms(2100);
    assert_eq!(s.poll_timeout(), Some(due));
    s.handle_timeout(due - ms(1), &mut k.emit());
    assert!(k.take().is_empty());
    s.handle_timeout(due, &mut k.emit());
    assert_eq!(k.take(), [S(1, 1, 2), D(1, 3)]);
    // The gap before 5 is visible since 5 arrived: due 2 s after that.
    assert_eq!(s.poll_timeout(), Some(t0 + ms(3000)));
    s.handle_timeout(t0 + ms(3000), &mut k.emit());
    assert_eq!(k.take(), [S(1, 4, 4), D(1, 5)]);
    // A skipped message that turns up late is seen, never printed.
    assert!(!accept(&mut s, m(1, 1), t0 + ms(3001), &mut k));
    assert_eq!(s.counters().skipped, 3);
    assert_eq!(s.counters().skipped_at_cap, 0);
}

#[test]
fn one_timeout_skips_every_gap_that_is_due() {
    let (mut s, mut k, t0) = with(OrderConfig::default());
    accept(&mut s, m(1, 0), t0, &mut k);
    accept(&mut s, m(1, 4), t0, &mut k);
    accept(&mut s, m(1, 2), t0, &mut k);
    accept(&mut s, m(2, 7), t0, &mut k);
    accept(&mut s, m(2, 9), t0, &mut k);
    k.take();
    s.handle_timeout(t0 + Duration::from_secs(2), &mut k.emit());
    let mut got = k.take();
    got.sort_by_key(|o| match *o {
        D(o, _) | S(o, _, _) => o,
    });
    assert_eq!(
        got,
        [
            S(1, 1, 1),
            D(1, 2),
            S(1, 3, 3),
            D(1, 4),
            S(2, 8, 8),
            D(2, 9)
        ]
    );
}

#[test]
fn over_the_held_cap_of_one_origin_its_first_gap_is_skipped_at_once() {
    let (mut s, mut k, t0) = with(OrderConfig {
        max_held_per_origin: 3,
        ..OrderConfig::default()
    });
    accept(&mut s, m(1, 0), t0, &mut k);
    for seq in [2, 4, 6] {
        accept(&mut s, m(1, seq), t0, &mut k);
    }
    assert_eq!(k.take(), [D(1, 0)]);
    accept(&mut s, m(1, 8), t0, &mut k);
    assert_eq!(k.take(), [S(1, 1, 1), D(1, 2)]);
    assert_eq!(s.len(), (1, 3, 9));
    assert_eq!(s.counters().skipped_at_cap, 1);
}

#[test]
fn over_the_held_bytes_the_oldest_gap_of_all_is_skipped_at_once() {
    let (mut s, mut k, t0) = with(OrderConfig {
        max_held_bytes: 8,
        ..OrderConfig::default()
    });
    accept(&mut s, m(1, 0), t0, &mut k);
    accept(&mut s, m(1, 2), t0, &mut k); // "1:2", 3 bytes
    accept(&mut s, m(22, 0), t0 + ms(5), &mut k);
    accept(&mut s, m(22, 2), t0 + ms(5), &mut k); // 4 bytes: 7 held
    assert_eq!(k.take(), [D(1, 0), D(22, 0)]);
    accept(&mut s, m(22, 3), t0 + ms(6), &mut k); // 11 held: over
    assert_eq!(k.take(), [S(1, 1, 1), D(1, 2)]);
    assert_eq!(s.len(), (2, 2, 8));
    // 22's gap is the older one: a message of 1 over the budget skips it.
    accept(&mut s, m(1, 9), t0 + ms(7), &mut k);
    assert_eq!(k.take(), [S(22, 1, 1), D(22, 2), D(22, 3)]);
    assert_eq!(s.len(), (2, 1, 3));
    // A payload larger than the whole budget is delivered at once (here
    // `D` carries the payload's length, not its seq).
    let mut got = Vec::new();
    let big = [b'x'; 9];
    s.accept(m(22, 5), addr(), 1, &big, t0 + ms(8), &mut |o| {
        got.push(match o {
            Ordered::Deliver(d) => D(d.id.origin, d.payload.len() as u32),
            Ordered::Skip(s) => S(s.origin, s.first, s.last),
        })
    });
    assert_eq!(got, [S(1, 3, 8), D(1, 3), S(22, 4, 4), D(22, 9)]);
    assert_eq!(s.len(), (2, 0, 0));
}

#[test]
fn at_the_origin_cap_the_one_heard_from_longest_ago_is_forgotten_after_its_held() {
    let (mut s, mut k, t0) = with(OrderConfig {
        max_origins: 2,
        ..OrderConfig::default()
    });
    accept(&mut s, m(1, 0), t0, &mut k);
    accept(&mut s, m(2, 0), t0 + ms(1), &mut k);
    accept(&mut s, m(1, 2), t0 + ms(2), &mut k);
    // 2 is heard from longest ago now (1 sent since): 3 replaces 2.
    accept(&mut s, m(3, 0), t0 + ms(3), &mut k);
    assert!(!s.is_seen(m(2, 0)), "forgotten: a replay would print again");
    assert!(s.is_seen(m(1, 0)) && s.is_seen(m(3, 0)));
    // 1 goes next; what it held is delivered first, its gap said.
    accept(&mut s, m(4, 0), t0 + ms(4), &mut k);
    assert_eq!(
        k.take(),
        [D(1, 0), D(2, 0), D(3, 0), S(1, 1, 1), D(1, 2), D(4, 0)]
    );
    assert_eq!((s.len(), s.counters().origins_evicted), ((2, 0, 0), 2));
}

#[test]
fn an_idle_origin_is_forgotten_and_the_table_gives_its_memory_back() {
    let (mut s, mut k, t0) = with(OrderConfig::default());
    let empty = s.memory();
    assert_eq!(empty, size_of::<Sequencer>());
    assert!(empty < 512, "{empty} bytes");
    accept(&mut s, m(1, 0), t0, &mut k);
    accept(&mut s, m(2, 0), t0 + Duration::from_secs(300), &mut k);
    assert!(s.memory() > empty);
    let idle = t0 + Duration::from_secs(600);
    assert_eq!(s.poll_timeout(), Some(idle));
    s.handle_timeout(idle, &mut k.emit());
    assert!(!s.is_seen(m(1, 0)) && s.is_seen(m(2, 0)));
    s.handle_timeout(idle + Duration::from_secs(300), &mut k.emit());
    assert!(s.is_empty());
    assert_eq!((s.memory(), s.poll_timeout()), (empty, None));
    assert_eq!(s.counters().origins_expired, 2);
}

#[test]
fn the_end_of_the_sequence_space_neither_wraps_nor_panics() {
    let (mut s, mut k, t0) = with(OrderConfig::default());
    accept(&mut s, m(1, u32::MAX - 2), t0, &mut k);
    accept(&mut s, m(1, u32::MAX), t0, &mut k);
    s.handle_timeout(t0 + Duration::from_secs(2), &mut k.emit());
    let max = u32::MAX;
    assert_eq!(k.take(), [D(1, max - 2), S(1, max - 1, max - 1), D(1, max)]);
    for seq in [0, 1, max - 1, max] {
        assert!(!accept(&mut s, m(1, seq), t0, &mut k), "{seq}");
    }
    assert!(s.is_seen(m(1, 0)));
    assert!(k.take().is_empty());
}

/// Any arrival order of 1..=n (seq 0 first, which starts the origin),
/// within `gap_wait`: every message once, in order, nothing skipped.
#[test]
fn any_permutation_within_the_gap_wait_is_delivered_once_in_order() {
    for seed in 0..100 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let n = rng.u32(1..=200);
        let origins = rng.u64(1..=3);
        let (mut s, mut k, t0) = with(OrderConfig::default());
        let mut arrivals: Vec<MsgId> = Vec::new();
        for o in 0..origins {
            accept(&mut s, m(o, 0), t0, &mut k);
            arrivals.extend((1..=n).map(|seq| m(o, seq)));
        }
        rng.shuffle(&mut arrivals);
        // Some copies arrive too, anywhere.
        let copies: Vec<MsgId> = (0..n / 4)
            .map(|_| arrivals[rng.usize(..arrivals.len())])
            .collect();
        for c in copies {
            arrivals.insert(rng.usize(..=arrivals.len()), c);
        }
        for (i, id) in arrivals.iter().enumerate() {
            accept(&mut s, *id, t0 + ms(i as u64 % 1999), &mut k);
            s.handle_timeout(t0 + ms(i as u64 % 1999), &mut k.emit());
        }
        let got = k.take();
        for o in 0..origins {
            let mine: Vec<Out> = got
                .iter()
                .copied()
                .filter(|x| matches!(x, D(p, _) | S(p, _, _) if *p == o))
                .collect();
            let want: Vec<Out> = (0..=n).map(|seq| D(o, seq)).collect();
            assert_eq!(mine, want, "seed {seed}, origin {o}");
        }
        assert_eq!(s.len(), (origins as usize, 0, 0), "seed {seed}");
    }
}

/// With some messages lost and the rest in any order: each delivered at
/// most once, in increasing order, and every seq is delivered or skipped.
#[test]
fn with_losses_every_seq_is_delivered_once_or_skipped_in_order() {
    for seed in 0..100 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let n = rng.u32(1..=600);
        let (mut s, mut k, t0) = with(OrderConfig {
            max_held_per_origin: 64,
            ..OrderConfig::default()
        });
        accept(&mut s, m(1, 0), t0, &mut k);
        let mut arrivals: Vec<u32> = (1..=n).filter(|_| rng.u8(..10) != 0).collect();
        // Shuffled within windows of 50, as a network reorders.
        for w in arrivals.chunks_mut(50) {
            rng.shuffle(w);
        }
        let last = arrivals.iter().copied().max().unwrap_or(0);
        let mut now = t0;
        for seq in arrivals {
            now += ms(rng.u64(0..40));
            accept(&mut s, m(1, seq), now, &mut k);
            s.handle_timeout(now, &mut k.emit());
        }
        s.handle_timeout(now + Duration::from_secs(2), &mut k.emit());
        let mut next = 0;
        for out in k.take() {
            match out {
                D(1, seq) => {
                    assert_eq!(seq, next, "seed {seed}");
                    next += 1;
                }
                S(1, first, last) => {
                    assert!(first == next && last >= first, "seed {seed}: {out:?}");
                    next = last + 1;
                }
                o => panic!("{o:?}"),
            }
        }
        // A loss at the very end is invisible: nothing follows it.
        assert_eq!(next, last + 1, "seed {seed}");
    }
}
