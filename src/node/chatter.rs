//! The random messages a node sends every period, and the period's rhythm.

use std::time::{Duration, Instant};

const WORDS_A: &[&str] = &[
    "amber", "brave", "calm", "dusty", "eager", "fuzzy", "gentle", "hollow", "icy", "jolly",
    "keen", "lucky", "misty", "noble", "odd", "proud", "quiet", "rapid", "shy", "tidy", "urban",
    "vivid", "witty", "young", "zesty",
];
const WORDS_B: &[&str] = &[
    "otter", "falcon", "maple", "river", "comet", "badger", "lantern", "meadow", "pebble",
    "harbor", "thistle", "walrus", "canyon", "ember", "willow", "kettle", "orchid", "quartz",
    "raven", "sparrow", "tundra", "violet", "yak", "zephyr", "bison",
];

/// A message such as `misty walrus 417`.
pub fn random_message(rng: &mut fastrand::Rng) -> String {
    let a = WORDS_A[rng.usize(..WORDS_A.len())];
    let b = WORDS_B[rng.usize(..WORDS_B.len())];
    let n = rng.u32(100..1000);
    format!("{a} {b} {n}")
}

/// When the next random message is due: on the start's rhythm, skipping
/// what a stall missed.
#[derive(Debug)]
pub struct Period {
    every: Option<Duration>,
    next: Option<Instant>,
}

impl Period {
    pub fn new(every: Option<Duration>) -> Self {
        Period { every, next: None }
    }

    /// The first deadline, if there is a period at all.
    pub fn start(&mut self, now: Instant) -> Option<Instant> {
        self.next = self.every.map(|p| now + p);
        self.next
    }

    /// The period's timer fired: the next deadline, if it was due.
    pub fn fire(&mut self, now: Instant) -> Option<Instant> {
        let (Some(p), Some(at)) = (self.every, self.next) else {
            return None;
        };
        let mut next = at + p;
        if next <= now {
            next = now + p;
        }
        self.next = Some(next);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_rhythm_and_skips_a_stall() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut p = Period::new(Some(s));
        assert_eq!(p.start(t0), Some(t0 + s));
        assert_eq!(p.fire(t0 + s + Duration::from_millis(30)), Some(t0 + 2 * s));
        assert_eq!(p.fire(t0 + 10 * s), Some(t0 + 11 * s));
        assert_eq!(Period::new(None).start(t0), None);
    }

    #[test]
    fn messages_are_two_words_and_a_number() {
        let mut rng = fastrand::Rng::with_seed(1);
        let m = random_message(&mut rng);
        let parts: Vec<&str> = m.split(' ').collect();
        assert_eq!(parts.len(), 3);
        assert!((100..1000).contains(&parts[2].parse::<u32>().unwrap()));
    }
}
