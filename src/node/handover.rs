//! A duplicate's goodbye that overtakes the hello it was decided by.
//!
//! Two nodes dialed each other, and our dial was held up (a lost SYN), so
//! the peer's dial became our established connection first. When our
//! dial reaches the peer, the duplicate rule keeps it there (the smaller
//! id dialed it): the peer answers it with its hello and winds its own
//! dial down with GOODBYE(duplicate). A lost batch can hold the hello
//! back, so the goodbye comes first, on our established connection. The
//! connection the peer kept is not gone: it is our dial, waiting for that
//! hello. So the established one stays the peer's link (*disowned*) until
//! the hello comes, and the duplicate rule then hands the peer over to
//! the dial as for any duplicate (`peering.rs`, nothing printed); only if
//! the dial ends before its hello is the peer lost, for the dial's
//! reason. The state is one flag on the disowned connection, which the
//! peer no longer writes to and closes at its retiring deadline, so its
//! own silence deadline or that close ends it within seconds.

use std::net::SocketAddr;
use std::time::Instant;

use super::Node;
use super::conn::State;
use super::conns::ConnId;
use super::reason::Reason;

impl Node {
    /// GOODBYE(duplicate) on the established `conn`. True if our dial to
    /// its peer awaits the peer's hello: `conn` is disowned and stays
    /// open, its peer still in the active view; false if the peer kept a
    /// connection we do not have.
    pub(super) fn wait_for_dial(&mut self, conn: ConnId) -> bool {
        let Some(p) = self.conns.get(conn).and_then(|c| c.peer()) else {
            return false;
        };
        if self.answer_due(p.listen).is_none() {
            return false;
        }
        if let Some(c) = self.conns.get_mut(conn) {
            c.disown();
        }
        true
    }

    /// Our dial to `addr` ended in its handshake, for `why`: if it was
    /// the connection a disowned peer's link waited for, the peer is lost
    /// now, for the same reason.
    pub(super) fn dial_ended(&mut self, addr: SocketAddr, why: Reason, now: Instant) {
        if why == Reason::Shutdown || self.leaving {
            return;
        }
        let Some(link) = self.peers.conn_of(addr) else {
            return;
        };
        let waiting = self
            .conns
            .get(link)
            .is_some_and(|c| c.is_disowned() && c.state() == State::Active);
        if waiting && self.answer_due(addr).is_none() {
            self.close(link, now, why);
        }
    }

    /// Our dial to `addr` whose hello is sent (with a key: once its
    /// session is made) and whose answer is due: the only connection a
    /// peer can have kept besides the established one (one it dialed is
    /// judged as soon as its hello comes, before ours goes out).
    fn answer_due(&self, addr: SocketAddr) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|(_, c)| {
                c.is_outbound()
                    && c.state() == State::Handshaking
                    && c.text_role().is_none()
                    && c.remote() == addr
                    && c.key.as_ref().is_none_or(|k| k.has_session())
            })
            .map(|(id, _)| id)
    }
}
