//! The retry rule (docs/PROTOCOL.md, "Healing"): which addresses are tried
//! again after a failure, and when. Quick retries first, doubling from
//! `min` to `max`; after `attempts` of them an address never connected is
//! given up on, while a bootstrap address (while the node has no peer) and
//! a member (an address that was once an established peer and did not
//! leave with GOODBYE) are retried every `heal`, forever, so a partition of
//! any length heals. Every delay is drawn from the upper half of its step.

use std::time::Duration;

/// The retry rule's numbers.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
    /// Quick retries (doubling from `min` to `max`): after them an address
    /// never connected is forgotten, and a member or bootstrap address is
    /// retried every `heal`.
    pub attempts: u32,
    /// The retry interval of a member or bootstrap address after its quick
    /// retries: each try is drawn from the upper half of it (jitter).
    pub heal: Duration,
}

/// What an address is, as far as retrying it goes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Standing {
    pub bootstrap: bool,
    /// Was an established peer and has not left.
    pub member: bool,
    /// Worth dialing again at all (a peer, or named by a peer list).
    pub wanted: bool,
}

impl Backoff {
    /// Whether an address that has now failed `failures` times is tried
    /// again.
    pub fn keeps(&self, s: Standing, failures: u32, have_peers: bool) -> bool {
        (s.bootstrap && !have_peers)
            || (s.member && s.wanted)
            || (s.wanted && failures <= self.attempts)
    }

    /// How long to wait after the `failures`-th failure, jitter drawn from
    /// `rng`.
    pub fn delay(&self, failures: u32, rng: &mut fastrand::Rng) -> Duration {
        let base = if failures > self.attempts {
            self.heal.max(self.max)
        } else {
            let exp = failures.saturating_sub(1).min(16);
            self.min.saturating_mul(1 << exp).min(self.max)
        };
        base / 2 + base.mul_f64(rng.f64() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        min: Duration::from_millis(250),
        max: Duration::from_secs(10),
        attempts: 8,
        heal: Duration::from_secs(30),
    };

    #[test]
    fn quick_retries_double_then_the_heal_interval_holds_forever() {
        let mut rng = fastrand::Rng::with_seed(1);
        let steps = [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000];
        for (i, step) in steps.iter().enumerate() {
            let d = B.delay(i as u32 + 1, &mut rng).as_millis();
            assert!((step / 2..*step).contains(&d), "try {}: {d} ms", i + 1);
        }
        for f in [9, 10, 1000, u32::MAX] {
            let d = B.delay(f, &mut rng).as_secs_f64();
            assert!((15.0..30.0).contains(&d), "failure {f}: {d} s");
        }
    }

    #[test]
    fn who_is_kept() {
        let learned = Standing {
            wanted: true,
            ..Standing::default()
        };
        let member = Standing {
            member: true,
            ..learned
        };
        let boot = Standing {
            bootstrap: true,
            ..Standing::default()
        };
        assert!(B.keeps(learned, 8, true) && !B.keeps(learned, 9, true));
        assert!(B.keeps(member, u32::MAX, true));
        assert!(B.keeps(boot, u32::MAX, false) && !B.keeps(boot, 1, true));
        // A member that left with GOODBYE is no longer wanted.
        let left = Standing {
            wanted: false,
            ..member
        };
        assert!(!B.keeps(left, 1, true));
    }
}
