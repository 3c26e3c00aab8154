//! `--exit-on-eof` in the node: when stdin has ended and the join is over,
//! goodbye to every peer, then wait for each to close (bounded); the join
//! itself is bounded too, so a notifier always ends.

use std::time::Instant;

use super::conn::{State, TextRole};
use super::conns::ConnId;
use super::event::DiagKind;
use super::reason::Reason;
use super::{Node, Timer};
use crate::wire::{Frame, GoodbyeReason};

impl Node {
    /// Departs if stdin has ended and the join is over.
    pub(super) fn maybe_depart(&mut self, now: Instant) {
        if self.departure.armed() && self.stdin_ended && !self.members.joining() {
            self.depart(now);
        }
    }

    fn depart(&mut self, now: Instant) {
        self.leaving = true;
        let mut waiting = Vec::new();
        let ids: Vec<ConnId> = self.conns.iter().map(|(id, _)| id).collect();
        for id in ids {
            let peer = self
                .conns
                .get(id)
                .filter(|c| c.state() == State::Active)
                .and_then(|c| c.peer());
            let delivery =
                self.conns.get(id).and_then(|c| c.text_role()) == Some(TextRole::Delivery);
            match peer {
                Some(p) => {
                    self.send_frame(id, &Frame::Goodbye(GoodbyeReason::Shutdown), now);
                    waiting.push((id, p.listen));
                }
                // Our lines on their way to text hosts are waited for.
                None if delivery => {}
                None => self.close(id, now, Reason::Shutdown),
            }
        }
        let texts = self.texts.hosts.busy();
        if !waiting.is_empty() || !texts.is_empty() {
            self.wheel
                .insert(now + self.cfg.leave_timeout, Timer::Leave);
        }
        self.departure
            .begin(waiting, texts, self.stats.lines_dropped);
    }

    /// The join took too long: read stdin anyway.
    pub(super) fn join_limit(&mut self, now: Instant) {
        if !self.members.joining() {
            return;
        }
        self.members.abandon();
        let t = self.cfg.join_timeout;
        let n = self.peers.len();
        self.diag(
            now,
            DiagKind::JoinTimeout,
            format_args!(
                "the join did not finish in {}s; sending to the {n} peers connected so far",
                t.as_secs()
            ),
        );
        self.maybe_depart(now);
    }

    /// The wait for peers to close is over: the rest are unconfirmed.
    pub(super) fn leave_timeout(&mut self, now: Instant) {
        for id in self.departure.waiting() {
            self.close(id, now, Reason::Shutdown);
        }
        let deliveries: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.text_role() == Some(TextRole::Delivery))
            .map(|(id, _)| id)
            .collect();
        for id in deliveries {
            self.close(id, now, Reason::Shutdown);
        }
        for addr in self.departure.texts_waiting() {
            self.departure.text_done(addr, false);
        }
    }
}
