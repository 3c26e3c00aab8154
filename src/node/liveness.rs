//! Deadlines of one connection: the handshake, a duplicate's wind-down,
//! keepalives out, silence in, and the slow-peer rule.
//!
//! A connection has one live timer. Traffic moves its timestamps, never
//! the timer: the timer fires at the earliest deadline it was armed for,
//! then the connection is checked and re-armed for its next one.

use std::time::{Duration, Instant};

use super::reason::Reason;

/// The phase a deadline depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Connecting or in the handshake, since this instant.
    Handshake(Instant),
    /// A duplicate being wound down, since this instant.
    Retiring(Instant),
    /// An established peer; `congested_since` is its queue's.
    Active { congested_since: Option<Instant> },
}

/// The timeouts that apply to a connection.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub handshake: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    pub slow: Duration,
}

/// What a due check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Close it for this reason (`Slow`'s count is filled in by the caller).
    Close(Reason),
    /// Nothing heard is wrong, but it is time to send a keepalive.
    Keepalive,
    Fine,
}

/// One timer that traffic never moves: set for the earliest deadline it
/// is asked for; a firing is stale unless it is that one.
#[derive(Debug, Default)]
pub struct OneTimer {
    /// The earliest timer pending; later ones are stale.
    armed_at: Option<Instant>,
}

impl OneTimer {
    /// Whether a timer must be set for `at`: only when none is pending
    /// for an earlier time. Records it.
    pub fn arm(&mut self, at: Instant) -> bool {
        if self.armed_at.is_none_or(|t| at < t) {
            self.armed_at = Some(at);
            return true;
        }
        false
    }

    /// A timer fired at `now`: false if it is stale (an earlier one is
    /// still due or has re-armed since).
    pub fn fire(&mut self, now: Instant) -> bool {
        if self.armed_at.is_none_or(|t| t > now) {
            return false;
        }
        self.armed_at = None;
        true
    }
}

#[derive(Debug)]
pub struct Liveness {
    last_rx: Instant,
    last_tx: Instant,
    timer: OneTimer,
}

impl Liveness {
    pub fn new(now: Instant) -> Self {
        Liveness {
            last_rx: now,
            last_tx: now,
            timer: OneTimer::default(),
        }
    }

    pub fn heard(&mut self, now: Instant) {
        self.last_rx = now;
    }

    pub fn sent(&mut self, now: Instant) {
        self.last_tx = now;
    }

    /// The connection's next deadline in `stage`.
    pub fn deadline(&self, stage: Stage, t: &Timeouts) -> Instant {
        match stage {
            Stage::Handshake(since) => since + t.handshake,
            Stage::Retiring(since) => since + t.keepalive_timeout,
            Stage::Active { congested_since } => {
                let mut at =
                    (self.last_rx + t.keepalive_timeout).min(self.last_tx + t.keepalive_interval);
                if let Some(s) = congested_since {
                    at = at.min(s + t.slow);
                }
                at
            }
        }
    }

    /// Whether a timer must be set for `at` (see [`OneTimer::arm`]).
    pub fn arm(&mut self, at: Instant) -> bool {
        self.timer.arm(at)
    }

    /// A timer fired at `now`: false if it is stale.
    pub fn fire(&mut self, now: Instant) -> bool {
        self.timer.fire(now)
    }

    /// What is due at `now` in `stage`.
    pub fn check(&self, stage: Stage, t: &Timeouts, now: Instant) -> Check {
        match stage {
            Stage::Handshake(since) if now >= since + t.handshake => {
                Check::Close(Reason::HandshakeTimeout)
            }
            Stage::Retiring(since) if now >= since + t.keepalive_timeout => {
                Check::Close(Reason::Duplicate)
            }
            Stage::Active { .. } if now >= self.last_rx + t.keepalive_timeout => {
                Check::Close(Reason::Silent)
            }
            Stage::Active {
                congested_since: Some(s),
            } if now >= s + t.slow => Check::Close(Reason::Slow { dropped: 0 }),
            Stage::Active { .. } if now >= self.last_tx + t.keepalive_interval => Check::Keepalive,
            _ => Check::Fine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Timeouts {
        Timeouts {
            handshake: Duration::from_secs(3),
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(3),
            slow: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_quiet_peer_gets_keepalives_then_is_dropped() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut l = Liveness::new(t0);
        let st = Stage::Active {
            congested_since: None,
        };
        assert_eq!(l.deadline(st, &t()), t0 + s);
        assert_eq!(l.check(st, &t(), t0 + s), Check::Keepalive);
        l.sent(t0 + s);
        assert_eq!(l.check(st, &t(), t0 + s), Check::Fine);
        assert_eq!(l.check(st, &t(), t0 + 3 * s), Check::Close(Reason::Silent));
        l.heard(t0 + 3 * s);
        assert_eq!(l.check(st, &t(), t0 + 3 * s), Check::Keepalive);
    }

    #[test]
    fn handshake_retire_and_slow_deadlines() {
        let t0 = Instant::now();
        let l = Liveness::new(t0);
        let s = Duration::from_secs(1);
        let hs = Stage::Handshake(t0);
        assert_eq!(l.check(hs, &t(), t0 + 2 * s), Check::Fine);
        assert_eq!(
            l.check(hs, &t(), t0 + 3 * s),
            Check::Close(Reason::HandshakeTimeout)
        );
        let r = Stage::Retiring(t0);
        assert_eq!(
            l.check(r, &t(), t0 + 3 * s),
            Check::Close(Reason::Duplicate)
        );
        let mut l = Liveness::new(t0);
        let slow = Stage::Active {
            congested_since: Some(t0),
        };
        for i in 1..5 {
            l.heard(t0 + i * s);
            l.sent(t0 + i * s);
        }
        assert_eq!(l.deadline(slow, &t()), t0 + 5 * s);
        assert_eq!(
            l.check(slow, &t(), t0 + 5 * s),
            Check::Close(Reason::Slow { dropped: 0 })
        );
    }

    #[test]
    fn one_live_timer() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut l = Liveness::new(t0);
        assert!(l.arm(t0 + 2 * s));
        assert!(!l.arm(t0 + 3 * s), "a later deadline waits for the timer");
        assert!(l.arm(t0 + s), "an earlier one sets a new timer");
        assert!(!l.fire(t0), "not due yet");
        assert!(l.fire(t0 + s));
        assert!(!l.fire(t0 + 2 * s), "the older timer is stale");
    }
}
