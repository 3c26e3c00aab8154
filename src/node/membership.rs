//! The join: from the first dial to the bootstrap until the welcome list's
//! peers are connected (or given up on), after which the node prints
//! `Connected to the peers at [...]` once and reads stdin.

use crate::vecmap::VecSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Why the join is being checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Something changed: end the join if it is complete.
    Progress,
    /// The fallback deadline passed: end it if there is any peer at all.
    Deadline,
}

/// What the node must do after a step of the join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing.
    Wait,
    /// Set the fallback deadline now.
    ArmDeadline,
}

#[derive(Debug)]
struct Join {
    /// Addresses from the welcome list not yet connected or given up on.
    awaiting: VecSet<SocketAddr>,
    /// A first peer list has come from an established peer (the
    /// bootstrap, or any peer that reached us first).
    welcomed: bool,
    /// The fallback deadline is set: the join ends `handshake_timeout`
    /// after the first peer is established, welcome or not.
    deadline_set: bool,
    /// The last new peer or welcome: the join settles `join_settle` after.
    last: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Membership {
    join: Option<Join>,
}

impl Membership {
    /// A node with bootstrap peers starts joining; one without is the first.
    pub fn start(&mut self, joining: bool) {
        self.join = joining.then(|| Join {
            awaiting: VecSet::new(),
            welcomed: false,
            deadline_set: false,
            last: None,
        });
    }

    pub fn joining(&self) -> bool {
        self.join.is_some()
    }

    /// Still waiting for the first welcome list.
    pub fn awaiting_welcome(&self) -> bool {
        self.join.as_ref().is_some_and(|j| !j.welcomed)
    }

    /// Joining through nobody but ourselves: we are the first node.
    pub fn abandon(&mut self) {
        self.join = None;
    }

    /// A peer was established at `addr`.
    pub fn established(&mut self, addr: SocketAddr) -> Step {
        let Some(j) = &mut self.join else {
            return Step::Wait;
        };
        j.awaiting.remove(&addr);
        if j.deadline_set {
            return Step::Wait;
        }
        j.deadline_set = true;
        Step::ArmDeadline
    }

    /// The welcome list names `addr`: the join waits for it.
    pub fn expect(&mut self, addr: SocketAddr) {
        if let Some(j) = &mut self.join {
            j.awaiting.add(addr);
        }
    }

    /// The first welcome list is in (its entries given to [`Self::expect`]).
    pub fn welcomed(&mut self) {
        if let Some(j) = &mut self.join {
            j.welcomed = true;
        }
    }

    /// `addr` will not become a peer (its dial failed or it left). True if
    /// the join was waiting for it.
    pub fn gave_up(&mut self, addr: SocketAddr) -> bool {
        self.join
            .as_mut()
            .is_some_and(|j| j.awaiting.remove(&addr).is_some())
    }

    /// Something happened at `now`: the settle deadline counts from here.
    pub fn progress(&mut self, now: Instant) {
        if let Some(j) = &mut self.join {
            j.last = Some(now);
        }
    }

    /// Whether `settle` has passed since the last progress.
    pub fn quiet(&self, now: Instant, settle: Duration) -> bool {
        self.join
            .as_ref()
            .is_some_and(|j| j.last.is_none_or(|t| now >= t + settle))
    }

    /// Ends the join if it is done; true when it just ended.
    pub fn finish(&mut self, check: Check, have_peers: bool) -> bool {
        let Some(j) = &self.join else { return false };
        let deadline = check == Check::Deadline;
        let welcomed = j.welcomed || (deadline && have_peers);
        if !welcomed || (!j.awaiting.is_empty() && !deadline) {
            return false;
        }
        self.join = None;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn the_join_waits_for_every_listed_peer() {
        let mut m = Membership::default();
        m.start(true);
        assert_eq!(m.established(a(1)), Step::ArmDeadline);
        m.expect(a(2));
        m.expect(a(3));
        m.welcomed();
        assert!(!m.finish(Check::Progress, true));
        assert_eq!(m.established(a(2)), Step::Wait);
        assert!(m.gave_up(a(3)));
        assert!(m.finish(Check::Progress, true));
        assert!(!m.joining());
    }

    #[test]
    fn the_deadline_ends_a_join_with_a_peer_but_no_welcome() {
        let mut m = Membership::default();
        m.start(true);
        assert!(!m.finish(Check::Deadline, false), "no peer yet");
        m.established(a(1));
        assert!(!m.finish(Check::Progress, true));
        assert!(m.finish(Check::Deadline, true));
    }

    #[test]
    fn a_first_node_is_not_joining() {
        let mut m = Membership::default();
        m.start(false);
        assert!(!m.joining() && !m.finish(Check::Deadline, true));
    }
}
