//! How the node is known: the address it prints and peers dial
//! ([`Config::name`]: `--advertise`, else the listening address), what it
//! says at start when that cannot be one address, and its listening
//! address remembered as its own when it advertises another.
//!
//! [`Config::name`]: super::Config::name

use std::time::Instant;

use super::Node;
use super::event::DiagKind;

impl Node {
    /// At start: a node bound to every interface with no `--advertise` has
    /// no one name; each peer knows it by the IP it reached it at (its
    /// hello has the v1 layout, so the peer takes the connection's source
    /// IP). Says so on stderr. A node advertising another address than
    /// the one it listens on never dials the latter either.
    pub(super) fn note_name(&mut self, now: Instant) {
        let listen = self.cfg.listen;
        if self.cfg.advertise.is_some_and(|a| a != listen) && !listen.ip().is_unspecified() {
            self.book.remember_self(listen);
        }
        if listen.ip().is_unspecified() && self.cfg.advertise.is_none() {
            let port = listen.port();
            self.diag(
                now,
                DiagKind::Config,
                format_args!(
                    "listening on every interface ({listen}): each peer knows this node by the IP it reaches it at, port {port}; --advertise HOST:PORT names one address for all"
                ),
            );
        }
    }
}
