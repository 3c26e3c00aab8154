//! A reloaded key ring and the sessions made with a key it lost.
//!
//! On a reload ([`Node::handle_rekey`]) every session whose key is no
//! longer in the ring is *stale*. Both ends of it act, so that they
//! converge on a current key whichever of them reloads:
//!
//! - **A session we dialed** is dialed again at once with the primary key;
//!   the same node dialed both, so the duplicate rule keeps the new one at
//!   both ends and the peer is not lost.
//! - **A session we accepted** is dialed again at once too when our node id
//!   is the smaller: the duplicate rule keeps the connection dialed by the
//!   smaller id, so ours replaces theirs at both ends, again without a loss.
//!   With the larger id a dial of ours would lose to theirs; only the
//!   dialer can replace it (it does so when it reloads, as every node does
//!   in a rotation).
//! - **Whatever is still stale after [`STALE_GRACE`]** handshake timeouts
//!   (no redial replaced it: the dialer did not reload, or the peer holds
//!   no current key) is closed at its next record, unread, with
//!   [`Reason::Rekeyed`]: a removed key admits nothing for longer than
//!   that. The peer is then lost and redialed with a current key, which
//!   the other end accepts if it holds one. A live peer sends a record at
//!   least every keepalive interval, so no timer of its own is needed; a
//!   silent one is dropped by its keepalive deadline anyway.

use std::net::SocketAddr;
use std::time::Instant;

use super::super::Node;
use super::super::conn::{Conn, State};
use super::super::conns::ConnId;
use super::super::event::DiagKind;
use super::super::handshake::Intent;
use super::super::reason::Reason;
use crate::keyring::KeyRing;

/// How many handshake timeouts a stale session may outlive its reload: time
/// for a redial from either end (each takes at most one) to replace it.
pub const STALE_GRACE: u32 = 2;

impl Node {
    /// A new key ring (SIGHUP reloaded the key file). New connections use
    /// its primary key; peers may use any of its keys. Sessions made with a
    /// key no longer in the ring are replaced or closed as the module docs
    /// say.
    pub fn handle_rekey(&mut self, ring: KeyRing, now: Instant) {
        if self.cfg.key.is_none() || self.leaving {
            return;
        }
        let me = self.id;
        let mut stale: Vec<(ConnId, Option<SocketAddr>)> = Vec::new();
        for (id, c) in self.conns.iter() {
            if c.key.as_ref().is_none_or(|k| k.key_in(&ring).is_some()) {
                continue;
            }
            // Whom to dial again: a peer we dialed, or one that dialed us
            // when the duplicate rule favours our dial.
            let redial = c
                .peer()
                .filter(|p| c.is_outbound() || me < p.id)
                .map(|p| p.listen);
            stale.push((id, redial));
        }
        self.cfg.key = Some(ring);
        let n = stale.len();
        self.diag(
            now,
            DiagKind::Config,
            format_args!("key ring reloaded; {n} connections to re-establish with a current key"),
        );
        for (id, redial) in stale {
            let state = self.conns.get(id).map(|c| c.state());
            match (state, redial) {
                (Some(State::Active | State::Retiring), _) => {
                    if let Some(k) = self.conns.get_mut(id).and_then(|c| c.key.as_mut()) {
                        k.stale_since.get_or_insert(now);
                    }
                    if let (Some(State::Active), Some(addr)) = (state, redial) {
                        self.redial_replacing(addr, now);
                    }
                }
                _ => self.close(id, now, Reason::Rekeyed),
            }
        }
    }

    /// Whether `id`'s stale session has outlived [`STALE_GRACE`]: if so it
    /// is closed (a retiring duplicate is left to its wind-down).
    pub(super) fn stale_expired(&mut self, id: ConnId, now: Instant) -> bool {
        let grace = self.cfg.handshake_timeout * STALE_GRACE;
        let Some(c) = self.conns.get(id) else {
            return true;
        };
        let since = c.key.as_ref().and_then(|k| k.stale_since);
        let expired = since.is_some_and(|t| now.saturating_duration_since(t) >= grace);
        if !expired || c.state() != State::Active {
            return false;
        }
        self.close(id, now, Reason::Rekeyed);
        true
    }

    /// Dials `addr` again though a connection to it stands: the hello
    /// makes the new one replace the old.
    fn redial_replacing(&mut self, addr: SocketAddr, now: Instant) {
        if self.conns.len() >= self.cfg.conn_cap() {
            return;
        }
        let id = self.conns.insert(Conn::dial(addr, Intent::Forced, now));
        self.out.dial(id, addr);
        self.arm(id, now);
        self.diag(
            now,
            DiagKind::Dial,
            format_args!("dialing {addr} again with the current key"),
        );
    }
}
